package grader_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"log/slog"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/faultline-dev/faultline"
	"github.com/faultline-dev/faultline/grader"
	"github.com/faultline-dev/faultline/sandbox"
	"github.com/faultline-dev/faultline/sandbox/backend"
)

// noCacheTest is a visible test the lab in TestGradeSharedBuildCache adds:
// it passes only where the shared build cache is neither visible nor
// writable, that is, in a run container.
const noCacheTest = `package adder

import (
	"os"
	"path/filepath"
	"testing"
)

func TestNoSharedCache(t *testing.T) {
	for _, dir := range []string{"` + sandbox.BuildCacheMount + `", "` + sandbox.ImageGocache + `", os.Getenv("GOCACHE")} {
		if _, err := os.Stat(filepath.Join(dir, "faultline-seeded")); err == nil {
			t.Errorf("%s holds the shared build cache", dir)
		}
		if err := os.WriteFile(filepath.Join(dir, "planted-a"), []byte("x"), 0o644); err == nil {
			t.Errorf("%s is writable", dir)
		}
	}
}
`

// cacheState is what a trusted container sees in a build-cache volume.
type cacheState struct {
	seeded  bool
	planted bool
	actions int // action entries (*-a) in the volume
	image   int // action entries in the image's own cache
	bins    int // trees' test binaries kept
}

func inspectCache(t *testing.T, eng *sandbox.Engine, image, vol string) cacheState {
	t.Helper()
	c := sandbox.BuildCacheMount
	out := inCache(t, eng, image, vol, "test -e "+c+"/faultline-seeded && echo seeded; "+
		"find "+c+" -name 'planted*' | grep -q . && echo planted; "+
		"echo actions $(find "+c+" -type f -name '*-a' | wc -l); "+
		"echo image $(find "+sandbox.ImageGocache+" -type f -name '*-a' | wc -l); "+
		"echo bins $(ls "+c+"/faultline-bins 2>/dev/null | wc -l)")
	var st cacheState
	for _, line := range strings.Split(out, "\n") {
		f := strings.Fields(line)
		switch {
		case len(f) == 1 && f[0] == "seeded":
			st.seeded = true
		case len(f) == 1 && f[0] == "planted":
			st.planted = true
		case len(f) == 2 && f[0] == "actions":
			st.actions, _ = strconv.Atoi(f[1])
		case len(f) == 2 && f[0] == "image":
			st.image, _ = strconv.Atoi(f[1])
		case len(f) == 2 && f[0] == "bins":
			st.bins, _ = strconv.Atoi(f[1])
		}
	}
	return st
}

// inCache runs script in a trusted container of image with the volume
// mounted at sandbox.BuildCacheMount, and returns its output; it fails the
// test unless the script exits 0.
func inCache(t *testing.T, eng *sandbox.Engine, image, vol, script string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	out, err := eng.Run(ctx, sandbox.RunSpec{
		Image:   image,
		Cmd:     []string{"/bin/sh", "-c", script},
		Volumes: []backend.Volume{{Name: vol, Path: sandbox.BuildCacheMount}},
		Limits:  faultline.Limits{Time: 30 * time.Second},
	})
	if err != nil || out.ExitCode != 0 {
		t.Fatalf("in the cache volume, %q: %v %+v", script, err, out)
	}
	return string(out.Output)
}

// TestGradeSharedBuildCache grades on Docker, where the engine keeps a
// build-cache volume per image: a grade fills it, a second grade of the same
// files compiles nothing anew and runs the binaries kept for them, learner
// code never sees it, and NoBuildCache leaves it alone. The Engine has a cache scope of its own, so it has a
// volume of its own, which the test removes.
func TestGradeSharedBuildCache(t *testing.T) {
	MustGrader(t)
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	eng := sandbox.New(dockerB, log)
	b := make([]byte, 4)
	rand.Read(b)
	eng.SetCacheScope("cachetest-" + hex.EncodeToString(b))
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	image, err := eng.LabImage(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	vol, err := eng.BuildCacheVolume(ctx, image)
	if err != nil || vol == "" {
		t.Fatalf("BuildCacheVolume = %q, %v; want a volume on Docker", vol, err)
	}
	t.Cleanup(func() {
		eng.Close() // removes pre-started containers that mount the volume
		if err := dockerB.RemoveVolume(context.Background(), vol); err != nil {
			t.Errorf("remove the test's volume: %v", err)
		}
	})
	if again, err := eng.BuildCacheVolume(ctx, image); err != nil || again != vol {
		t.Errorf("BuildCacheVolume again = %q, %v; want %q", again, err, vol)
	}
	if st := inspectCache(t, eng, image, vol); st.seeded || st.actions != 0 {
		t.Fatalf("new volume: %+v, want empty", st)
	}

	lab := adderLab()
	lab.Visible = append(lab.Visible, faultline.File{Path: "nocache_test.go", Content: []byte(noCacheTest)})
	lab.Tests = append(lab.Tests, faultline.LabTest{Name: "TestNoSharedCache", Points: 1})
	g := grader.New(eng, grader.Options{})
	full := func(what string, g *grader.Grader, files []faultline.File) {
		t.Helper()
		r := MustGrade(t, g, lab, files)
		if r.Status != faultline.StatusGraded || r.Score != r.MaxScore {
			t.Fatalf("%s: %s %d/%d %q, want full marks: %v\n%s", what, r.Status, r.Score, r.MaxScore, r.Message, brief(r), lastN(r.Output, 3000))
		}
	}

	full("first grade", g, lab.Solution)
	first := inspectCache(t, eng, image, vol)
	if !first.seeded || first.planted || first.actions <= first.image || first.bins != 1 {
		t.Fatalf("after a grade: %+v; want the image's %d entries copied and more added, the tree's binaries kept, nothing planted", first, first.image)
	}

	full("same files again", g, lab.Solution)
	second := inspectCache(t, eng, image, vol)
	if second.planted || second.actions != first.actions || second.bins != 1 {
		t.Errorf("after grading the same files again: %+v (was %+v); want nothing compiled or kept anew", second, first)
	}

	// The kept binaries are what a grade of the same tree runs: swapped
	// for the starter's (the newest), the solution scores as the starter.
	starter := MustGrade(t, g, lab, lab.Starter)
	if starter.Score >= starter.MaxScore {
		t.Fatalf("starter scored %d/%d", starter.Score, starter.MaxScore)
	}
	inCache(t, eng, image, vol, "cd "+sandbox.BuildCacheMount+"/faultline-bins && set -- $(ls -t) && [ $# -eq 2 ] && cp \"$1\" \"$2\"")
	if r := MustGrade(t, g, lab, lab.Solution); r.Score != starter.Score {
		t.Errorf("solution with the starter's kept binaries scored %d, want the starter's %d", r.Score, starter.Score)
	}
	inCache(t, eng, image, vol, "rm -r "+sandbox.BuildCacheMount+"/faultline-bins")
	full("solution after clearing the kept binaries", g, lab.Solution)
	second = inspectCache(t, eng, image, vol)

	changed := []faultline.File{{Path: "adder.go", Content: []byte(solutionSrc + "\n// Changed so it compiles anew.\nconst changed = 1\n")}}
	full("without the cache", grader.New(eng, grader.Options{NoBuildCache: true}), changed)
	if st := inspectCache(t, eng, image, vol); st != second {
		t.Errorf("NoBuildCache grade changed the cache: %+v, was %+v", st, second)
	}
	full("changed files with the cache", g, changed)
	if st := inspectCache(t, eng, image, vol); st.actions <= second.actions || st.bins != second.bins+1 {
		t.Errorf("changed files graded with the cache: %+v, was %+v; want entries and binaries added", st, second)
	}
}
