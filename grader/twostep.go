package grader

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/faultline-dev/faultline"
	"github.com/faultline-dev/faultline/sandbox"
	"github.com/faultline-dev/faultline/sandbox/backend"
)

// Grading in two containers. Where the engine keeps a shared build cache
// for the lab image (sandbox.Engine.BuildCacheVolume), a grade is two
// throwaway containers: a build container, the only one the cache is
// mounted in, compiles both test binaries with the machine's CPUs and
// writes them to its output as a tar archive, and a run container without
// the cache gets them on its stdin and runs them at the lab's limits. No
// learner code runs where the cache is writable, so one learner's grade
// cannot plant a compiled package another's would use; and a package built
// for one grade (labkit, the hidden tests, an unchanged learner package) is
// found by the next.

// buildCache returns the image's shared build-cache volume, or "" to grade
// in one container.
func (g *Grader) buildCache(ctx context.Context, image string) (string, error) {
	ce, ok := g.eng.(cacheEngine)
	if !ok || g.opt.NoBuildCache {
		return "", nil
	}
	return ce.BuildCacheVolume(ctx, image)
}

// gradeTwoStep grades tree in a build container with the cache volume and a
// run container without it.
func (g *Grader) gradeTwoStep(ctx context.Context, lab *faultline.Lab, src []faultline.File, tree []byte, image, cache string, env []string, replay bool) (*faultline.Result, error) {
	lim := Limits(lab)
	buildLim := lim
	buildLim.Time = g.opt.BuildTime
	// BuildCPUs, no more than the machine has (0 when unknown: the lab's).
	buildLim.CPUs = max(lim.CPUs, min(g.opt.BuildCPUs, g.eng.(cacheEngine).MachineCPUs(ctx)))
	built, err := g.eng.Run(ctx, sandbox.RunSpec{
		Image: image,
		Cmd:   []string{"/bin/sh", "-c", buildScript},
		Env: []string{"GOCACHE=" + sandbox.BuildCacheMount, "FL_CACHE_MB=" + strconv.FormatInt(g.opt.BuildCacheMB, 10),
			"FL_KEEP_BINS=" + strconv.FormatInt(max(g.opt.BuildCacheMB/32, 4), 10)},
		Labels:      map[string]string{sandbox.LabelKind: sandbox.KindGrade},
		Limits:      buildLim,
		WorkDir:     "/tmp",
		Stdin:       io.MultiReader(strings.NewReader(fmt.Sprintf("%d %s\n", len(tree), binariesKey(tree))), bytes.NewReader(tree)),
		Volumes:     []backend.Volume{{Name: cache, Path: sandbox.BuildCacheMount}},
		Prestart:    true,
		OutputLimit: binariesLimit,
		TmpfsMB:     g.opt.TmpfsMB,
		Runtime:     g.opt.Runtime,
	})
	if err != nil {
		return nil, fmt.Errorf("grade lab %q: build container: %w", lab.Slug, err)
	}
	switch {
	case built.TimedOut || built.OOMKilled || built.OutputExceeded:
		// Compiling ran out of time or memory, or made binaries past
		// binariesLimit: the learner's code is what was compiled.
		r := verdict(lab, lim, g.opt.TmpfsMB, &sandbox.RunResult{ExitCode: built.ExitCode, TimedOut: built.TimedOut, OOMKilled: built.OOMKilled, OutputExceeded: built.OutputExceeded, Output: nil})
		r.Message = buildLimitMessage(built)
		return r, nil
	case built.ExitCode == exitBuildLab || built.ExitCode == exitBuildHidden:
		res := verdict(lab, lim, g.opt.TmpfsMB, built)
		res.Flags = append(res.Flags, scanFlags(src)...)
		return res, nil
	case built.ExitCode != 0:
		return nil, fmt.Errorf("grade lab %q: the build container failed (exit %d): %s", lab.Slug, built.ExitCode, tail(built.Output, 2000))
	}

	budget := int((lim.Time + time.Second - 1) / time.Second)
	if budget < 1 {
		budget = 1
	}
	runLim := lim
	runLim.Time = time.Duration(budget)*time.Second + 5*time.Second
	bins := built.Output
	out, err := g.eng.Run(ctx, sandbox.RunSpec{
		Image:       image,
		Cmd:         []string{"/bin/sh", "-c", runScript},
		Env:         env,
		Labels:      map[string]string{sandbox.LabelKind: sandbox.KindGrade},
		Limits:      runLim,
		WorkDir:     "/tmp",
		Stdin:       io.MultiReader(strings.NewReader(fmt.Sprintf("%d %d\n", len(bins), budget)), bytes.NewReader(bins)),
		Prestart:    !replay,
		OutputLimit: DefaultOutputLimit,
		TmpfsMB:     g.opt.TmpfsMB,
		Runtime:     g.opt.Runtime,
	})
	if err != nil {
		return nil, fmt.Errorf("grade lab %q: run container: %w", lab.Slug, err)
	}
	if out.ExitCode == exitUnpack && !out.TimedOut && !out.OOMKilled && !out.OutputExceeded {
		return nil, fmt.Errorf("grade lab %q: the run container stopped before the tests ran (exit %d): %s", lab.Slug, out.ExitCode, tail(out.Output, 2000))
	}
	g.log.Debug("grade steps", "lab", lab.Slug, "build", built.Duration, "binaries", len(bins), "run", out.Duration)
	res := verdict(lab, lim, g.opt.TmpfsMB, out)
	res.Flags = append(res.Flags, scanFlags(src)...)
	return res, nil
}

// binariesKey names the test binaries of tree in the cache: the SHA-256 of
// the build step and the tree (a tree is a deterministic tar; the volume is
// the image's, so the toolchain and labkit are fixed).
func binariesKey(tree []byte) string {
	h := sha256.New()
	io.WriteString(h, buildBinaries)
	h.Write([]byte{0})
	h.Write(tree)
	return hex.EncodeToString(h.Sum(nil))
}

// buildLimitMessage says which limit compiling hit.
func buildLimitMessage(r *sandbox.RunResult) string {
	switch {
	case r.OOMKilled:
		return "Your submission was not graded: compiling it ran out of memory. Look for very large constants, literals or embedded files."
	case r.OutputExceeded:
		return fmt.Sprintf("Your submission was not graded: its test binaries came to more than %d MiB. Look for very large embedded files or literals.", binariesLimit>>20)
	}
	return "Your submission was not graded: compiling it took longer than the grader allows. Look for very large generated code or constants."
}

// buildScript is the busybox sh program of a build container. Its stdin is
// a line "<tree size> <key>" (binariesKey) and the tree as a tar archive of
// that many bytes; GOCACHE is the shared cache volume, FL_CACHE_MB its size
// bound and FL_KEEP_BINS how many trees' binaries it keeps.
//
// When the cache holds the binaries of that key (a tree graded before: a
// resubmission, a regrade), it hands them over without compiling; otherwise
// it fills a new cache from the image's read-only one (a copy a concurrent
// build finds half made is only misses: the go command checks an entry's
// size), compiles as gradeScript does, and stores the archive under the key
// (written aside and renamed, so a reader never sees part of one; a failed
// store only loses the saving), keeping the FL_KEEP_BINS most recently used. About one build in sixteen measures
// the cache and, past the bound, deletes entries unused for an hour (the go
// command marks an entry used at most hourly, and a deleted entry is a
// miss). On success its only output is a tar archive of the binaries
// (visible.test, when the lab has visible tests, and hidden.test) and it
// exits 0; a failed build prints the compiler's output and exits with
// exitBuildLab or exitBuildHidden. Its stderr goes nowhere, so nothing else
// mixes into the archive.
var buildScript = `set -u
umask 022
exec 2>/dev/null
mkdir -p /tmp/g /tmp/bin || exit ` + strconv.Itoa(exitUnpack) + `
read -r size key || { echo "faultline: no grading tree came"; exit ` + strconv.Itoa(exitUnpack) + `; }
bins="$GOCACHE/faultline-bins"
if [ -f "$bins/$key.tar" ] && touch "$bins/$key.tar" && cat "$bins/$key.tar"; then exit 0; fi
cd /tmp/g && head -c "$size" | tar -xf - || { echo "faultline: could not unpack the grading tree"; exit ` + strconv.Itoa(exitUnpack) + `; }
if [ ! -e "$GOCACHE/faultline-seeded" ]; then cp -R ` + sandbox.ImageGocache + `/. "$GOCACHE/" && : >"$GOCACHE/faultline-seeded"; fi
if [ $((RANDOM % 16)) -eq 0 ] && [ "$(du -sm "$GOCACHE" | cut -f1)" -gt "$FL_CACHE_MB" ]; then
  find "$GOCACHE" -type f -name '*-[ad]' -mmin +60 -delete
  find "$bins" -type f -name '.tmp.*' -mmin +10 -delete
fi
` + buildBinaries + `
tar -cf /tmp/bins.tar -C /tmp/bin . || { echo "faultline: could not pack the test binaries"; exit ` + strconv.Itoa(exitUnpack) + `; }
if mkdir -p "$bins" && cp /tmp/bins.tar "$bins/.tmp.$$" && mv -f "$bins/.tmp.$$" "$bins/$key.tar"; then
  ls -1t "$bins" | tail -n +$((FL_KEEP_BINS + 1)) | while read -r f; do rm -f "$bins/$f"; done
else
  rm -f "$bins/.tmp.$$"
fi
exec cat /tmp/bins.tar
`

// runScript is the busybox sh program of a run container: its stdin is a
// line "<archive size> <budget seconds>" and the build container's tar
// archive of test binaries. It unpacks them, notes the hidden binary's sum
// before any learner code runs, prints the gate line (for verdict: the
// tests got to run; nothing waits on it here) and runs them as gradeScript
// does after its gate.
var runScript = `set -u
umask 022
mkdir -p /tmp/bin /tmp/run || exit ` + strconv.Itoa(exitUnpack) + `
read -r size budget || { echo "faultline: no test binaries came"; exit ` + strconv.Itoa(exitUnpack) + `; }
cd /tmp/bin && head -c "$size" | tar -xf - || { echo "faultline: could not unpack the test binaries"; exit ` + strconv.Itoa(exitUnpack) + `; }
cd /tmp/run
` + sumBinaries + `
echo "` + gateLine + `"
` + runBinaries
