package grader

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"strconv"
	"time"

	"github.com/faultline-dev/faultline"
)

// Kept test binaries. With Options.BuildCacheDir the grader keeps the test
// binaries of every tree it compiles (binStore), so a grade of files it has
// graded before (a resubmission of unchanged files, a regrade after a change
// of points or limits, a replay) compiles nothing: a run container gets the
// kept binaries on its stdin and runs them at the lab's limits.
//
// The binaries come from the grading container itself, as the first thing
// it writes (sandbox.RunSpec.BlobLimit): compiling runs no code of the
// module it builds (no cgo, -vet=off), so when the archive is written no
// learner code has run in the container yet, and nothing that runs later
// can change what was handed over. They are kept on the grader's machine,
// never where a container can write, under the SHA-256 of the image, the
// build step and the tree.

// keepLimit bounds the test binaries of one tree that are kept; a larger
// archive is graded as usual and not kept.
const keepLimit = 64 << 20

// binariesKey names the test binaries of tree built in image: the SHA-256
// of the image (its tag names its content), the build step and the tree (a
// deterministic tar archive).
func binariesKey(image string, tree []byte) string {
	h := sha256.New()
	io.WriteString(h, image)
	h.Write([]byte{0})
	io.WriteString(h, buildBinaries)
	h.Write([]byte{0})
	h.Write(tree)
	return hex.EncodeToString(h.Sum(nil))
}

// errKeptBroken is a kept archive the run container could not unpack.
var errKeptBroken = errors.New("the kept test binaries could not be unpacked")

// gradeKept runs the kept test binaries bins in a run container.
func (g *Grader) gradeKept(ctx context.Context, lab *faultline.Lab, src []faultline.File, image string, bins []byte, env []string, replay bool) (*faultline.Result, error) {
	lim := Limits(lab)
	budget := testBudget(lim)
	runLim := lim
	runLim.Time = time.Duration(budget)*time.Second + 5*time.Second
	out, err := g.eng.Run(ctx, g.runSpec(image, runScript, env, runLim, fmt.Sprintf("%d %d\n", len(bins), budget), bins, replay))
	if err != nil {
		return nil, fmt.Errorf("grade lab %q: run container: %w", lab.Slug, err)
	}
	if out.ExitCode == exitUnpack && !out.TimedOut && !out.OOMKilled && !out.OutputExceeded {
		return nil, fmt.Errorf("grade lab %q: %w (exit %d): %s", lab.Slug, errKeptBroken, out.ExitCode, tail(out.Output, 2000))
	}
	res := verdict(lab, lim, g.opt.TmpfsMB, out)
	res.Flags = append(res.Flags, scanFlags(src)...)
	return res, nil
}

// runScript is the busybox sh program of a run container: its stdin is a
// line "<archive size> <budget seconds>" and a tar archive of test binaries
// as the grading script hands them over. It unpacks them, notes the hidden
// binary's sum before any learner code runs, prints the gate line (for
// verdict: the tests got to run; nothing waits on it here) and runs them as
// gradeScript does after its gate.
var runScript = `set -u
umask 022
mkdir -p /tmp/bin /tmp/run || exit ` + strconv.Itoa(exitUnpack) + `
read -r size budget || { echo "faultline: no test binaries came"; exit ` + strconv.Itoa(exitUnpack) + `; }
cd /tmp/bin && head -c "$size" | tar -xf - || { echo "faultline: could not unpack the test binaries"; exit ` + strconv.Itoa(exitUnpack) + `; }
cd /tmp/run
` + sumBinaries + `
echo "` + gateLine + `"
` + runBinaries
