// Package grader turns a learner's submission into a faultline.Result: it
// assembles the grading tree, compiles and runs the lab's visible and hidden
// tests against the learner's package in a throwaway container (through
// package sandbox; a tree graded before runs its kept test binaries, see
// keep.go), scores the test2json events (package testjson) and names
// the verdict. It also holds the queue Worker and the lab Check used by
// `faultline labs check`.
//
// Scoring under limits: when a run hits a limit (time, memory, output,
// processes, disk), tests that reported a pass before it keep their points
// and every other test scores zero; Status names the limit and Message says
// so in plain words.
package grader

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"runtime"
	"strconv"
	"strings"
	"time"

	"github.com/faultline-dev/faultline"
	"github.com/faultline-dev/faultline/sandbox"
	"github.com/faultline-dev/faultline/testjson"
)

// Exit codes of the grading script for failures before any learner code runs.
const (
	exitUnpack      = 90 // the tree could not be unpacked: the grader's fault
	exitBuildLab    = 91 // the learner's package (with visible tests) did not compile
	exitBuildHidden = 92 // the hidden tests did not compile against the learner's package
	exitGate        = 93 // the engine closed stdin before letting the tests run: the grader's fault
)

// gateLine is the line the grading script prints once both test binaries
// are built, before any learner code runs: the engine then lowers the
// container's CPU limit from the build's to the lab's (sandbox.RunSpec.Gate)
// and lets the script go on.
const gateLine = "##faultline built"

// Defaults of Options.
const (
	DefaultBuildTime   = 60 * time.Second
	DefaultTmpfsMB     = 256
	DefaultOutputLimit = 1 << 20
	// DefaultBuildCacheMB bounds the test binaries kept (Options.BuildCacheDir).
	DefaultBuildCacheMB = 2048
)

// Options configure a Grader. Zero values mean the defaults.
type Options struct {
	// Warm lists standard-library import paths to pre-compile into the lab
	// image (passed to sandbox.Engine.LabImage).
	Warm []string
	// Runtime is the runtime for grading containers ("" = the backend's
	// default, e.g. "runsc" for gVisor on Docker).
	Runtime string
	// BuildTime is the wall time allowed for compiling, on top of the lab's
	// time limit for running tests (default DefaultBuildTime). Compiling runs
	// no learner code, so it does not count against the learner's limit.
	BuildTime time.Duration
	// TmpfsMB is the size of the container's writable /tmp (default 256).
	TmpfsMB int64
	// BuildCPUs is the CPU limit while the tests are compiled, which runs
	// no learner code (default: the machine's CPUs). The engine lowers it to
	// the lab's limit before the tests run; where the backend cannot change
	// a running container's limit (gVisor, Kubernetes) compiling runs at the
	// lab's limit too.
	BuildCPUs float64
	// BuildCacheDir, when set, is a folder where the grader keeps the test
	// binaries of the trees it compiles (keep.go), so that a grade of files
	// it has graded before compiles nothing. Only for an engine whose
	// backend hands output over byte for byte (Docker, not Kubernetes).
	BuildCacheDir string
	// BuildCacheMB bounds what BuildCacheDir holds (default
	// DefaultBuildCacheMB); the least recently used go first.
	BuildCacheMB int64
	// Logger receives one line per grade; nil discards.
	Logger *slog.Logger
}

// engine is the part of *sandbox.Engine the Grader uses.
type engine interface {
	LabImage(ctx context.Context, warm []string) (string, error)
	Run(ctx context.Context, spec sandbox.RunSpec) (*sandbox.RunResult, error)
}

// Grader grades submissions in throwaway containers. It implements
// faultline.Grader and is safe for concurrent use.
type Grader struct {
	eng  engine
	opt  Options
	log  *slog.Logger
	bins *binStore // kept test binaries (nil: none kept)
}

var _ faultline.Grader = (*Grader)(nil)

// New returns a Grader that runs containers through e.
func New(e *sandbox.Engine, opt Options) *Grader {
	return newGrader(e, opt)
}

func newGrader(e engine, opt Options) *Grader {
	if opt.BuildTime <= 0 {
		opt.BuildTime = DefaultBuildTime
	}
	if opt.TmpfsMB <= 0 {
		opt.TmpfsMB = DefaultTmpfsMB
	}
	if opt.BuildCPUs <= 0 {
		opt.BuildCPUs = float64(runtime.NumCPU())
	}
	if opt.BuildCacheMB <= 0 {
		opt.BuildCacheMB = DefaultBuildCacheMB
	}
	log := opt.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	g := &Grader{eng: e, opt: opt, log: log}
	if opt.BuildCacheDir != "" {
		bins, err := openBinStore(opt.BuildCacheDir, opt.BuildCacheMB<<20)
		if err != nil {
			// Grading works without it, compiling every time.
			log.Warn("grading will keep no test binaries", "err", err)
		}
		g.bins = bins
	}
	return g
}

// Limits returns the lab's limits with DefaultGradeLimits filling zero fields.
func Limits(lab *faultline.Lab) faultline.Limits {
	l := lab.Limits
	d := faultline.DefaultGradeLimits
	if l.Time <= 0 {
		l.Time = d.Time
	}
	if l.MemoryMB <= 0 {
		l.MemoryMB = d.MemoryMB
	}
	if l.CPUs <= 0 {
		l.CPUs = d.CPUs
	}
	if l.Pids <= 0 {
		l.Pids = d.Pids
	}
	return l
}

// Grade grades files against lab in one fresh container and returns the
// Result. Bad submissions (paths, caps), build failures and limits are
// verdicts in the Result, never errors. An error means grading could not run
// (EUNAVAILABLE when the container engine is down, or an internal error such
// as a failed image build or a malformed lab); the caller should retry later.
func (g *Grader) Grade(ctx context.Context, lab *faultline.Lab, files []faultline.File) (*faultline.Result, error) {
	start := time.Now()
	res, err := g.grade(ctx, lab, files, nil)
	if err != nil {
		g.log.Warn("grade failed", "lab", lab.Slug, "err", err)
		return nil, err
	}
	res.Lab = lab.Slug
	res.Duration = time.Since(start)
	g.log.Info("graded", "lab", lab.Slug, "status", res.Status, "score", res.Score, "max", res.MaxScore, "took", res.Duration.Round(time.Millisecond))
	return res, nil
}

func (g *Grader) grade(ctx context.Context, lab *faultline.Lab, files []faultline.File, rp *faultline.Repro) (*faultline.Result, error) {
	src, err := learnerSources(files)
	if err != nil {
		r := notRun(lab, faultline.StatusBuildFailed, "Your submission was not graded: "+faultline.ErrorMessage(err), "Not run: the submission was refused.")
		return r, nil
	}
	tree, err := buildTree(lab, src)
	if err != nil {
		return nil, err
	}
	image := lab.Image
	if image == "" {
		if image, err = g.eng.LabImage(ctx, g.opt.Warm); err != nil {
			return nil, fmt.Errorf("grade lab %q: %w", lab.Slug, err)
		}
	}
	lim := Limits(lab)
	budget := testBudget(lim)
	runLim := lim
	runLim.Time = g.opt.BuildTime + time.Duration(budget)*time.Second + 5*time.Second
	env := []string{traceEnv}
	if rp != nil {
		env = append(env, reproEnv(*rp)...)
	}
	key, keep := "", 0
	if g.bins != nil {
		key, keep = binariesKey(image, tree), keepLimit
		if bins, ok := g.bins.get(key); ok {
			res, err := g.gradeKept(ctx, lab, src, image, bins, env, rp != nil)
			if !errors.Is(err, errKeptBroken) {
				return res, err
			}
			g.log.Warn("kept test binaries dropped", "lab", lab.Slug, "key", key, "err", err)
			g.bins.drop(key)
		}
	}
	spec := g.runSpec(image, gradeScript, env, runLim, fmt.Sprintf("%d %d %d\n", len(tree), budget, keep), tree, rp != nil)
	spec.Gate = gateLine
	spec.BlobLimit = keepLimit // the same for every grade, so containers started ahead serve any
	spec.BuildCPUs = g.opt.BuildCPUs
	out, err := g.eng.Run(ctx, spec)
	if err != nil {
		return nil, fmt.Errorf("grade lab %q: run container: %w", lab.Slug, err)
	}
	if (out.ExitCode == exitUnpack || out.ExitCode == exitGate) && !out.TimedOut && !out.OOMKilled && !out.OutputExceeded {
		return nil, fmt.Errorf("grade lab %q: the grading container stopped before the tests ran (exit %d): %s", lab.Slug, out.ExitCode, tail(out.Output, 2000))
	}
	if key != "" && out.Blob != nil && out.ExitCode != exitBuildLab && out.ExitCode != exitBuildHidden {
		// Handed over after a successful build, before the gate.
		if err := g.bins.put(key, out.Blob); err != nil {
			g.log.Warn("keep test binaries", "lab", lab.Slug, "err", err)
		}
	}
	res := verdict(lab, lim, g.opt.TmpfsMB, out)
	res.Flags = append(res.Flags, scanFlags(src)...)
	return res, nil
}

// runSpec is a grading container's run: script with env at lim, its stdin
// the line head and then body. It is started ahead (sandbox/prestart.go)
// unless it is a replay, whose own environment would rarely be asked for
// again. No lab label: containers started ahead serve every lab.
func (g *Grader) runSpec(image, script string, env []string, lim faultline.Limits, head string, body []byte, replay bool) sandbox.RunSpec {
	return sandbox.RunSpec{
		Image:       image,
		Cmd:         []string{"/bin/sh", "-c", script},
		Env:         env,
		Labels:      map[string]string{sandbox.LabelKind: sandbox.KindGrade},
		Limits:      lim,
		WorkDir:     "/tmp",
		Stdin:       io.MultiReader(strings.NewReader(head), bytes.NewReader(body)),
		Prestart:    !replay,
		OutputLimit: DefaultOutputLimit,
		TmpfsMB:     g.opt.TmpfsMB,
		Runtime:     g.opt.Runtime,
	}
}

// testBudget is the time the tests may run, in whole seconds (at least 1).
func testBudget(lim faultline.Limits) int {
	return max(int((lim.Time+time.Second-1)/time.Second), 1)
}

// gradeScript is the busybox sh program run in the grading container. Its
// stdin is a line "<tree size> <budget seconds> <keep bytes>", the tree as a
// tar archive of that many bytes, and, once the engine lets the tests run
// (the gate), one more newline.
//
// It unpacks the tree, joins its lab and hidden modules in a workspace and
// compiles both test binaries with one go command (the learner's package is
// compiled once, the two links run side by side) against the image's
// read-only pre-warmed GOCACHE (the go command reads it and skips storing
// what it cannot write; GODEBUG=goindex=0 in the image keeps it from failing
// on its package index). On failure it prints the compiler's output and exits
// with exitBuildLab, or exitBuildHidden when the visible tests' binary was
// built and only the hidden one was not, before any learner code runs. When
// keep is above 0 and a tar archive of the binaries is no larger, it hands
// the archive over as a blob (sandbox.RunSpec.BlobLimit), the first thing it
// writes (keep.go). It then deletes the sources, prints the gate line and waits for the engine's
// newline (the engine lowers the CPU limit first), and runs each binary
// through test2json within the shared budget. After each binary it prints a
// trailer line "##faultline exit <visible|hidden> <code>" (outside
// test2json, so learner output cannot produce one at the start of a line).
//
// test2json parses unmarked "--- PASS" lines as results until it has seen its
// first ^V-marked framing line, and learner init code prints before the
// testing package does; so each binary's stream is primed with one marked
// line, after which only the testing package's own framing counts.
//
// Learner code runs inside both binaries, so the script defends the steps
// between them: the hidden binary's SHA-256 is taken right after compiling
// (before any learner code runs) and checked before it runs (rewritten by
// the visible binary, it is not run: "##faultline tampered"; the visible
// binary runs first, when no learner code has run yet); every process but the
// script is killed after each binary (kill -9 -1 spares the caller and init),
// so nothing the learner started survives into the next step; and a watchdog
// kills everything a few seconds past the budget, so leftovers (a fork bomb,
// a child holding the output pipe) cannot hold the run until the container's
// own wall-time limit.
//
// The script is the same for every lab, so containers started ahead of their
// job serve any lab.
var gradeScript = `set -u
umask 022
mkdir -p /tmp/g /tmp/bin /tmp/run || exit ` + strconv.Itoa(exitUnpack) + `
read -r size budget keep || { echo "faultline: no grading tree came"; exit ` + strconv.Itoa(exitUnpack) + `; }
cd /tmp/g && head -c "$size" | tar -xf - || { echo "faultline: could not unpack the grading tree"; exit ` + strconv.Itoa(exitUnpack) + `; }
` + buildBinaries + `
if [ "$keep" -gt 0 ] && tar -cf /tmp/bins.tar -C /tmp/bin . 2>/dev/null && n=$(wc -c </tmp/bins.tar) && [ "$n" -le "$keep" ]; then
  echo "##blob $n"; cat /tmp/bins.tar
fi
cd /tmp/run && rm -rf /tmp/g /tmp/build.log /tmp/gopath /tmp/bins.tar
` + sumBinaries + `
echo "` + gateLine + `"
read -r _ || { echo "faultline: the engine did not let the tests run"; exit ` + strconv.Itoa(exitGate) + `; }
` + runBinaries

// buildBinaries compiles both test binaries from the tree in /tmp/g into
// /tmp/bin (visible.test, when the lab has visible tests, and hidden.test);
// on failure it prints the compiler's output and exits with exitBuildLab or
// exitBuildHidden.
var buildBinaries = `printf 'go %s\n\nuse (\n\t./lab\n\t./hidden\n)\n' "$(sed -n 's/^go //p' lab/go.mod)" >go.work
if ! GOFLAGS= GOWORK=/tmp/g/go.work go test -c -vet=off -ldflags="-s -w" -o /tmp/bin/ ./lab ./hidden >/tmp/build.log 2>&1; then
  cat /tmp/build.log
  for f in /tmp/bin/*.test; do
    if [ -e "$f" ] && [ "$f" != /tmp/bin/hidden.test ]; then exit ` + strconv.Itoa(exitBuildHidden) + `; fi
  done
  exit ` + strconv.Itoa(exitBuildLab) + `
fi
for f in /tmp/bin/*.test; do
  if [ -e "$f" ] && [ "$f" != /tmp/bin/hidden.test ]; then mv "$f" /tmp/bin/visible.test; fi
done`

// sumBinaries notes which test binaries /tmp/bin holds and the hidden
// one's SHA-256, before any learner code has run.
const sumBinaries = `have_visible=""; sum_hidden=""
if [ -e /tmp/bin/visible.test ]; then have_visible=1; fi
if [ -e /tmp/bin/hidden.test ]; then sum_hidden=$(sha256sum </tmp/bin/hidden.test); fi`

// runBinaries runs the test binaries sumBinaries noted, from /tmp/run,
// within $budget seconds (see gradeScript).
var runBinaries = `set -o pipefail
if [ -n "${FL_RUN:-}" ]; then set -- -test.run="$FL_RUN"; else set --; fi
t0=$(date +%s)
for p in visible hidden; do
  if [ "$p" = visible ]; then [ -n "$have_visible" ] || continue; else [ -n "$sum_hidden" ] || continue; fi
  left=$((budget - ($(date +%s) - t0)))
  if [ "$left" -lt 1 ]; then echo "##faultline skipped $p"; continue; fi
  if [ "$p" = hidden ] && [ "$(sha256sum </tmp/bin/hidden.test 2>/dev/null)" != "$sum_hidden" ]; then echo "##faultline tampered $p"; continue; fi
  ( sleep $((left + 3)); echo "##faultline watchdog"; kill -9 -1; kill -9 -1; kill -9 -1 ) &
  { printf '\026=== NAME  \n'; /tmp/bin/$p.test -test.v=test2json -test.count=1 -test.paniconexit0 -test.timeout=${left}s "$@" </dev/null 2>&1; } | test2json -t -p $p
  echo "##faultline exit $p $?"
  kill -9 -1 2>/dev/null; kill -9 -1 2>/dev/null; kill -9 -1 2>/dev/null
  wait 2>/dev/null
done
exit 0
`

// tidyBuildLog makes the go command's output from building both test
// binaries at once read like the builds of the two folders it used to be:
// files are named relative to their package's folder ("./kv.go:3:1", not
// "lab/kv.go:3:1"), a package's errors reported again for its test variant
// ("# p [p.test]" after "# p") are not repeated, and, with labFailed, the
// hidden tests' errors are left out (they did not get to build against a
// learner package that does not compile with its visible tests).
func tidyBuildLog(out []byte, labFailed bool) []byte {
	type block struct {
		head string
		body []string
	}
	var blocks []block
	for _, line := range strings.SplitAfter(string(out), "\n") {
		if line == "" {
			continue
		}
		for _, dir := range []string{"lab/", "hidden/"} {
			if rest, ok := strings.CutPrefix(line, dir); ok {
				line = "./" + rest
				break
			}
		}
		if strings.HasPrefix(line, "# ") {
			blocks = append(blocks, block{head: line})
			continue
		}
		if len(blocks) == 0 {
			blocks = append(blocks, block{})
		}
		blocks[len(blocks)-1].body = append(blocks[len(blocks)-1].body, line)
	}
	seen := map[string]bool{}
	var b strings.Builder
	for _, bl := range blocks {
		if labFailed && strings.HasPrefix(bl.head, "# "+HiddenModule) {
			continue
		}
		body := strings.Join(bl.body, "")
		if bl.head != "" && body != "" && seen[body] {
			continue
		}
		seen[body] = true
		b.WriteString(bl.head)
		b.WriteString(body)
	}
	return []byte(b.String())
}

// Limit messages, formatted with the limit.
const (
	msgTime    = "Your code ran past the %s time limit; tests that had not finished score zero."
	msgMemory  = "Your code used more than the %d MiB memory limit and was stopped; tests that had not finished score zero."
	msgOutput  = "Your code printed more than %d KiB of output and was stopped; tests that had not finished score zero."
	msgProcess = "Your code started too many processes or threads (the limit is %d); tests that had not finished score zero."
	msgDisk    = "Your code wrote more than the %d MiB of disk space allowed; tests that had not finished score zero."
)

// trailer is what the grading script reported about one test binary.
type trailer struct {
	ran      bool
	exitCode int
	skipped  bool
}

// script is what the grading script said about the run, outside test2json.
type script struct {
	built    bool               // both binaries compiled
	watchdog bool               // the watchdog killed leftover processes
	tampered []string           // binaries modified before they ran
	bins     map[string]trailer // by package name
}

// splitTrailers separates the script's own "##faultline" lines from the
// test2json stream. The last trailer per binary wins.
func splitTrailers(out []byte) (events []byte, sc script) {
	sc.bins = map[string]trailer{}
	var b bytes.Buffer
	for _, line := range bytes.SplitAfter(out, []byte("\n")) {
		s := strings.TrimRight(string(line), "\r\n")
		if !strings.HasPrefix(s, "##faultline ") {
			b.Write(line)
			continue
		}
		f := strings.Fields(s)
		switch {
		case len(f) == 2 && f[1] == "built":
			sc.built = true
		case len(f) == 2 && f[1] == "watchdog":
			sc.watchdog = true
		case len(f) == 4 && f[1] == "exit":
			if code, err := strconv.Atoi(f[3]); err == nil {
				sc.bins[f[2]] = trailer{ran: true, exitCode: code}
			}
		case len(f) == 3 && f[1] == "skipped":
			sc.bins[f[2]] = trailer{skipped: true}
		case len(f) == 3 && f[1] == "tampered":
			sc.tampered = append(sc.tampered, f[2])
		}
	}
	return b.Bytes(), sc
}

// verdict turns a finished container run into a Result.
func verdict(lab *faultline.Lab, lim faultline.Limits, tmpfsMB int64, out *sandbox.RunResult) *faultline.Result {
	events, sc := splitTrailers(out.Output)
	limitStatus, limitMsg := limitVerdict(lim, tmpfsMB, out, events, sc)

	if !sc.built {
		// The script stopped before running any learner code.
		if limitStatus != "" {
			r := notRun(lab, limitStatus, "Compiling your code hit a limit: "+limitMsg, "Not run: compiling hit a limit.")
			r.Output = tail(out.Output, testjson.MaxRunOutput)
			return r
		}
		msg := "Your code did not compile."
		if out.ExitCode == exitBuildHidden {
			msg = "Your code compiles, but the grader's tests could not be built against it: check that you kept the exported API the README describes."
		} else if out.ExitCode != exitBuildLab {
			msg = fmt.Sprintf("Your code could not be built (exit status %d).", out.ExitCode)
		}
		r := notRun(lab, faultline.StatusBuildFailed, msg, "Not run: the code did not compile.")
		r.Output = tail(tidyBuildLog(out.Output, out.ExitCode == exitBuildLab), testjson.MaxRunOutput)
		return r
	}

	res := testjson.Score(bytes.NewReader(events), lab.Tests)
	for _, p := range sc.tampered {
		res.Flags = append(res.Flags, fmt.Sprintf("the %s test binary was modified while tests ran; its tests were not run", p))
	}
	passed := 0
	for _, t := range res.Tests {
		if t.Status == faultline.TestPass {
			passed++
		}
	}
	if limitStatus != "" {
		res.Status = limitStatus
		res.Message = limitMsg
		for i := range res.Tests {
			if res.Tests[i].Status == faultline.TestNone {
				res.Tests[i].Message = "Not finished: " + lowerFirst(limitMsg)
			}
		}
		return res
	}
	res.Message = fmt.Sprintf("%d of %d tests passed; score %d of %d.", passed, len(res.Tests), res.Score, res.MaxScore)
	return res
}

// limitVerdict names the limit a run hit, if any, with its message.
func limitVerdict(lim faultline.Limits, tmpfsMB int64, out *sandbox.RunResult, events []byte, sc script) (faultline.ResultStatus, string) {
	timeMsg := fmt.Sprintf(msgTime, lim.Time)
	tr := sc.bins
	switch {
	case out.TimedOut, sc.watchdog:
		return faultline.StatusTimeLimit, timeMsg
	case out.OOMKilled:
		return faultline.StatusMemoryLimit, fmt.Sprintf(msgMemory, lim.MemoryMB)
	}
	crashed := false // a binary ended abnormally
	for _, p := range []string{testjson.PackageVisible, testjson.PackageHidden} {
		t := tr[p]
		if t.skipped {
			return faultline.StatusTimeLimit, timeMsg
		}
		if t.ran && t.exitCode == 137 {
			// SIGKILL: nothing in the container kills it but the OOM killer
			// (the watchdog announces itself and is handled above).
			return faultline.StatusMemoryLimit, fmt.Sprintf(msgMemory, lim.MemoryMB)
		}
		if t.ran && t.exitCode != 0 && t.exitCode != 1 {
			crashed = true
		}
	}
	text := plainText(events)
	if strings.Contains(text, "panic: test timed out after") {
		return faultline.StatusTimeLimit, timeMsg
	}
	// A crash that ran out of threads or memory often prints a huge
	// traceback; name the cause rather than the flood it caused.
	if crashed || anyFailed(tr) || out.OutputExceeded {
		switch {
		case containsAny(text, "fatal error: runtime: out of memory", "runtime: out of memory", "cannot allocate memory"):
			return faultline.StatusMemoryLimit, fmt.Sprintf(msgMemory, lim.MemoryMB)
		case containsAny(text, "failed to create new OS thread", "newosproc", "pthread_create failed", "resource temporarily unavailable"):
			return faultline.StatusProcessLimit, fmt.Sprintf(msgProcess, lim.Pids)
		case containsAny(text, "no space left on device", "disk quota exceeded"):
			return faultline.StatusDiskLimit, fmt.Sprintf(msgDisk, tmpfsMB)
		}
	}
	if out.OutputExceeded {
		return faultline.StatusOutputLimit, fmt.Sprintf(msgOutput, DefaultOutputLimit>>10)
	}
	return "", ""
}

func anyFailed(tr map[string]trailer) bool {
	for _, t := range tr {
		if t.ran && t.exitCode != 0 {
			return true
		}
	}
	return false
}

// plainText returns the run's output with test2json's JSON decoded back to
// text, so patterns can be matched on what the programs printed.
func plainText(events []byte) string {
	r := testjson.Score(bytes.NewReader(events), nil)
	// Score keeps only the tail; crash messages are at the end, which is
	// what matters. Also match in the raw stream for anything cut.
	return r.Output + "\n" + string(events)
}

func containsAny(s string, subs ...string) bool {
	for _, sub := range subs {
		if strings.Contains(s, sub) {
			return true
		}
	}
	return false
}

// notRun returns a Result where no test ran.
func notRun(lab *faultline.Lab, status faultline.ResultStatus, msg, testMsg string) *faultline.Result {
	r := &faultline.Result{Lab: lab.Slug, Status: status, Message: msg}
	for _, t := range lab.Tests {
		r.MaxScore += t.Points
		r.Tests = append(r.Tests, faultline.TestResult{
			Name: t.Name, Hidden: t.Hidden, Status: faultline.TestNone, MaxScore: t.Points, Message: testMsg,
		})
	}
	return r
}

// tail returns the last n bytes of b as valid UTF-8 text.
func tail(b []byte, n int) string {
	if len(b) > n {
		b = b[len(b)-n:]
	}
	return strings.ToValidUTF8(string(b), "\uFFFD")
}

func lowerFirst(s string) string {
	if s == "" {
		return s
	}
	return strings.ToLower(s[:1]) + s[1:]
}
