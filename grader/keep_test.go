package grader_test

import (
	"archive/tar"
	"bytes"
	"io"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/faultline-dev/faultline"
	"github.com/faultline-dev/faultline/grader"
)

// keptArchives lists the archives kept in dir, the least recently used
// first.
func keptArchives(t *testing.T, dir string) []string {
	t.Helper()
	names, err := filepath.Glob(filepath.Join(dir, "*.tar"))
	if err != nil {
		t.Fatal(err)
	}
	mtime := func(p string) time.Time {
		info, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		return info.ModTime()
	}
	slices.SortFunc(names, func(a, b string) int { return mtime(a).Compare(mtime(b)) })
	return names
}

// archiveNames lists the files of a kept tar archive larger than 1 MiB,
// sorted.
func archiveNames(t *testing.T, path string) []string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	r := tar.NewReader(bytes.NewReader(b))
	for {
		h, err := r.Next()
		if err == io.EOF {
			slices.Sort(names)
			return names
		}
		if err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		if h.Typeflag == tar.TypeReg && h.Size > 1<<20 {
			names = append(names, filepath.Base(h.Name))
		}
	}
}

// forgedBlob is learner code that prints a blob header and bytes as soon as
// a test binary starts: it runs long after the grading container handed
// its binaries over, so it must change nothing that is kept.
const forgedBlob = `

func init() { print("##blob 4\nfake\n"); println("##blob 4"); println("fake") }
`

// TestGradeKeepsBinaries grades on Docker with a build cache folder: a grade
// keeps its tree's test binaries there, a grade of the same files runs them
// without compiling (swapped for the starter's, the solution scores as the
// starter), a kept archive that cannot be unpacked is dropped and the tree
// compiled again, and learner code that prints a blob changes nothing kept.
func TestGradeKeepsBinaries(t *testing.T) {
	MustGrader(t)
	dir := t.TempDir()
	lab := adderLab()
	g := grader.New(engine, grader.Options{BuildCacheDir: dir})
	full := func(what string, g *grader.Grader, files []faultline.File) {
		t.Helper()
		r := MustGrade(t, g, lab, files)
		if r.Status != faultline.StatusGraded || r.Score != r.MaxScore {
			t.Fatalf("%s: %s %d/%d %q, want full marks: %v\n%s", what, r.Status, r.Score, r.MaxScore, r.Message, brief(r), lastN(r.Output, 3000))
		}
	}
	solution := []faultline.File{{Path: "adder.go", Content: []byte(solutionSrc + forgedBlob)}}

	full("first grade", g, solution)
	kept := keptArchives(t, dir)
	if len(kept) != 1 {
		t.Fatalf("after a grade %d archives kept, want 1", len(kept))
	}
	bothBinaries := []string{"hidden.test", "visible.test"}
	if names := archiveNames(t, kept[0]); !slices.Equal(names, bothBinaries) {
		t.Fatalf("kept archive holds %q, want both test binaries", names)
	}
	first, _ := os.ReadFile(kept[0])

	full("same files again", g, solution)
	if again := keptArchives(t, dir); len(again) != 1 {
		t.Errorf("after the same files again %d archives kept, want 1", len(again))
	}
	if b, _ := os.ReadFile(kept[0]); !bytes.Equal(b, first) {
		t.Error("grading the same files again changed the kept archive")
	}

	starter := MustGrade(t, g, lab, lab.Starter)
	if starter.Score >= starter.MaxScore {
		t.Fatalf("starter scored %d/%d", starter.Score, starter.MaxScore)
	}
	kept = keptArchives(t, dir) // the solution's, then the starter's
	if len(kept) != 2 {
		t.Fatalf("after the starter %q kept, want 2", kept)
	}
	starterBins, err := os.ReadFile(kept[1])
	if err != nil {
		t.Fatal(err)
	}

	// The kept binaries are what a grade of the same tree runs: swapped for
	// the starter's, the solution scores as the starter. A new Grader reads
	// the folder afresh, as after a restart.
	if err := os.WriteFile(kept[0], starterBins, 0o600); err != nil {
		t.Fatal(err)
	}
	if r := MustGrade(t, grader.New(engine, grader.Options{BuildCacheDir: dir}), lab, solution); r.Score != starter.Score {
		t.Errorf("solution with the starter's kept binaries scored %d, want the starter's %d", r.Score, starter.Score)
	}

	// An archive that cannot be unpacked is dropped and the tree compiled
	// and kept again.
	if err := os.WriteFile(kept[0], bytes.Repeat([]byte("x"), len(starterBins)), 0o600); err != nil {
		t.Fatal(err)
	}
	full("solution with a broken kept archive", grader.New(engine, grader.Options{BuildCacheDir: dir}), solution)
	if names := archiveNames(t, kept[0]); !slices.Equal(names, bothBinaries) {
		t.Errorf("after a broken archive the kept one holds %q, want both test binaries again", names)
	}
	full("solution kept again", grader.New(engine, grader.Options{BuildCacheDir: dir}), solution)
}
