// Package testjson scores the JSON event stream of `go test -json` (or of a test
// binary run through test2json) against a lab's list of graded tests.
//
// The rules are deliberately strict, because the stream carries output of
// learner code: a test earns its points only if it reported "pass" and never
// "fail" (a forged pass cannot mask a real failure), a test that never
// reported anything scores zero, and lines that are not JSON events are kept
// as plain output, never interpreted.
package testjson

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/faultline-dev/faultline"
)

// Package names the grader passes to `test2json -p`. Score only lets an event
// from one of these packages count for tests of the matching visibility, so a
// pass forged inside the visible binary cannot score a hidden test.
const (
	PackageVisible = "visible"
	PackageHidden  = "hidden"
)

// Output caps.
const (
	MaxTestOutput = 8 << 10  // bytes of output kept per test
	MaxRunOutput  = 64 << 10 // bytes of the run's output tail kept in Result.Output
	maxLine       = 1 << 20  // longest line read as one event; longer lines are cut
)

// Event is one test2json event.
type Event struct {
	Action      string  `json:"Action"`
	Package     string  `json:"Package,omitempty"`
	Test        string  `json:"Test,omitempty"`
	Elapsed     float64 `json:"Elapsed,omitempty"`
	Output      string  `json:"Output,omitempty"`
	FailedBuild string  `json:"FailedBuild,omitempty"`
}

// Message texts for tests that did not pass.
const (
	MsgNeverFinished = "The test never finished: the run crashed, exited early or hit a limit before it reported a result."
	MsgSkipped       = "The test was skipped."
	MsgFailed        = "The test failed."
)

type testState struct {
	sawPass, sawFail, sawSkip bool
	failedSub                 string // the first failing subtest's path, as its fail event named it
	out                       capped
	lift                      *lifter // in front of out
}

// Score reads `go test -json` / test2json events from r and returns a Result
// with Status StatusGraded and one TestResult per entry of tests, in that
// order. A test earns its points only if it (or rather its top-level test
// function) reported "pass" and never "fail"; a failing subtest fails its
// parent. Tests that never reported are TestNone with zero points. Each test's
// output is kept up to MaxTestOutput bytes and the tail of all output of the
// run (plain text, reconstructed from output events and non-JSON lines) up to
// MaxRunOutput bytes in Result.Output. Score never fails: a read error simply
// ends the stream.
func Score(r io.Reader, tests []faultline.LabTest) *faultline.Result {
	hiddenOf := make(map[string]bool, len(tests))
	states := make(map[string]*testState, len(tests))
	for _, t := range tests {
		hiddenOf[t.Name] = t.Hidden
		st := &testState{out: capped{max: MaxTestOutput}}
		st.lift = &lifter{emit: st.out.WriteString, keep: true}
		states[t.Name] = st
	}
	tail := &tailBuf{max: MaxRunOutput}
	// The run's output names pictures but does not keep them: they are kept
	// once, with their test.
	tailLift := &lifter{emit: tail.WriteString}

	br := bufio.NewReaderSize(r, 64<<10)
	for {
		line, err := readLine(br)
		if len(line) > 0 {
			handleLine(line, states, hiddenOf, tailLift)
		}
		if err != nil {
			break
		}
	}

	tailLift.Close()
	res := &faultline.Result{Status: faultline.StatusGraded, Output: tail.String()}
	for _, t := range tests {
		st := states[t.Name]
		st.lift.Close()
		tr := faultline.TestResult{Name: t.Name, Hidden: t.Hidden, MaxScore: t.Points, Output: st.out.String(), Attachments: st.lift.found}
		switch {
		case st.sawFail:
			tr.Status = faultline.TestFail
			tr.Message = FailureMessage(tr.Output)
			tr.FailedRun, tr.Seed = failedRun(t.Name, st.failedSub, tr.Output)
		case st.sawPass:
			tr.Status = faultline.TestPass
			tr.Score = t.Points
		case st.sawSkip:
			tr.Status = faultline.TestSkip
			tr.Message = MsgSkipped
		default:
			tr.Status = faultline.TestNone
			tr.Message = MsgNeverFinished
		}
		res.Score += tr.Score
		res.MaxScore += tr.MaxScore
		res.Tests = append(res.Tests, tr)
	}
	capAttachments(res.Tests)
	return res
}

func handleLine(line []byte, states map[string]*testState, hiddenOf map[string]bool, tail *lifter) {
	trimmed := bytes.TrimSpace(line)
	var ev Event
	if len(trimmed) == 0 || trimmed[0] != '{' || json.Unmarshal(trimmed, &ev) != nil || ev.Action == "" {
		// Not an event: plain output (e.g. a build log or a crash message).
		tail.Write(string(line))
		return
	}
	top := ev.Test
	if i := strings.IndexByte(top, '/'); i >= 0 {
		top = top[:i]
	}
	var st *testState
	if top != "" {
		if s, ok := states[top]; ok && packageMatches(ev.Package, hiddenOf[top]) {
			st = s
		}
	}
	switch ev.Action {
	case "output", "build-output", "bench":
		tail.Write(ev.Output)
		if st != nil {
			st.lift.Write(ev.Output)
		}
	case "pass":
		// Only the top-level test's own pass counts; subtest passes do not
		// make the parent pass.
		if st != nil && ev.Test == top {
			st.sawPass = true
		}
	case "fail":
		if st != nil {
			st.sawFail = true
			if ev.Test != top && st.failedSub == "" {
				st.failedSub = ev.Test // subtests report before their parents: the innermost first
			}
		}
	case "skip":
		if st != nil && ev.Test == top {
			st.sawSkip = true
		}
	}
}

// failedRun names the run a replay of a failing test repeats: the failing
// subtest's path from the test events (the test itself when no subtest
// failed) and the labkit seed of that run, from a "seed=N" subtest name or
// else the failure report. It returns "" and 0 when no seed is known (there
// is then nothing to replay). The path comes from the events only; nothing
// the test printed decides which tests a replay runs (see
// course.Service.Replay, which also quotes every part).
func failedRun(name, sub, output string) (string, int64) {
	run := name
	if sub != "" {
		run = sub
	}
	parts := strings.Split(run, "/")
	if last := parts[len(parts)-1]; len(parts) > 1 && strings.HasPrefix(last, "seed=") {
		if n, err := strconv.ParseInt(strings.TrimPrefix(last, "seed="), 10, 64); err == nil {
			return run, n
		}
	}
	if rp, ok := faultline.ParseRepro(output); ok {
		return run, rp.Seed
	}
	return "", 0
}

// packageMatches reports whether an event of package pkg may count for a test
// with the given visibility.
func packageMatches(pkg string, hidden bool) bool {
	switch pkg {
	case PackageVisible:
		return !hidden
	case PackageHidden:
		return hidden
	}
	return true
}

// FailureMessage picks the first failure lines (the t.Error/t.Fatal text, or a
// panic) from a test's output, trimmed to a few lines.
func FailureMessage(out string) string {
	if msg := propertyMessage(out); msg != "" {
		return msg
	}
	var located, other []string
	for _, l := range strings.Split(out, "\n") {
		s := strings.TrimSpace(l)
		if s == "" || isFraming(s) || isEmptyLocated(s) || strings.HasPrefix(s, "[picture ") {
			continue
		}
		if isLocated(s) {
			located = append(located, s)
		} else {
			other = append(other, s)
		}
	}
	pick := located
	if len(pick) == 0 {
		pick = other
	}
	if len(pick) == 0 {
		return MsgFailed
	}
	if len(pick) > 3 {
		pick = pick[:3]
	}
	msg := strings.Join(pick, "\n")
	if len(msg) > 500 {
		msg = truncateUTF8(msg, 500) + "…"
	}
	return msg
}

// propertyMessage is the headline of a labkit failure report, when out has
// one: the property that broke, what happened (up to two lines) and the seed.
func propertyMessage(out string) string {
	lines := strings.Split(out, "\n")
	for i, l := range lines {
		s := strings.TrimSpace(l)
		if !strings.HasPrefix(s, "PROPERTY BROKEN:") {
			continue
		}
		pick := []string{s}
		for _, d := range lines[i+1:] {
			d = strings.TrimSpace(d)
			if d == "" || len(pick) == 3 {
				break
			}
			pick = append(pick, d)
		}
		for _, d := range lines[i+1:] {
			if d = strings.TrimSpace(d); strings.HasPrefix(d, "Seed: ") {
				pick = append(pick, d)
				break
			}
		}
		msg := strings.Join(pick, "\n")
		if len(msg) > 500 {
			msg = truncateUTF8(msg, 500) + "…"
		}
		return msg
	}
	return ""
}

// isEmptyLocated reports a bare "file_test.go:12:" prefix, what t.Log prints
// before a message that starts on the next line.
func isEmptyLocated(s string) bool {
	return strings.HasSuffix(s, ":") && isLocated(s+" ") && strings.Count(s, ":") == 2
}

func isFraming(s string) bool {
	for _, p := range []string{"=== RUN", "=== PAUSE", "=== CONT", "=== NAME", "--- PASS", "--- FAIL", "--- SKIP"} {
		if strings.HasPrefix(s, p) {
			return true
		}
	}
	return s == "PASS" || s == "FAIL"
}

// isLocated reports whether s starts like "file_test.go:12: ...", the shape of
// t.Error output.
func isLocated(s string) bool {
	i := strings.Index(s, ".go:")
	if i <= 0 || strings.ContainsAny(s[:i], " \t") {
		return false
	}
	rest := s[i+len(".go:"):]
	n := 0
	for n < len(rest) && rest[n] >= '0' && rest[n] <= '9' {
		n++
	}
	return n > 0 && n < len(rest) && rest[n] == ':'
}

// readLine returns the next line including its newline; lines longer than
// maxLine are cut and the rest of them discarded.
func readLine(br *bufio.Reader) ([]byte, error) {
	var line []byte
	for {
		chunk, err := br.ReadSlice('\n')
		if len(line)+len(chunk) <= maxLine {
			line = append(line, chunk...)
		} else if len(line) < maxLine {
			line = append(line, chunk[:maxLine-len(line)]...)
		}
		if errors.Is(err, bufio.ErrBufferFull) {
			continue
		}
		return line, err
	}
}

// capped keeps the head of what is written, up to max bytes.
type capped struct {
	max       int
	b         strings.Builder
	truncated bool
}

func (c *capped) WriteString(s string) {
	if room := c.max - c.b.Len(); room < len(s) {
		c.truncated = true
		s = truncateUTF8(s, max(room, 0))
	}
	c.b.WriteString(s)
}

func (c *capped) String() string {
	if c.truncated {
		return c.b.String() + fmt.Sprintf("\n… (output cut at %d KiB)\n", c.max>>10)
	}
	return c.b.String()
}

// tailBuf keeps the last max bytes written.
type tailBuf struct {
	max int
	b   []byte
	cut bool
}

func (t *tailBuf) Write(p []byte) {
	t.b = append(t.b, p...)
	if len(t.b) > 2*t.max {
		t.b = append(t.b[:0], t.b[len(t.b)-t.max:]...)
		t.cut = true
	}
}

func (t *tailBuf) WriteString(s string) { t.Write([]byte(s)) }

func (t *tailBuf) String() string {
	b := t.b
	if len(b) > t.max {
		b = b[len(b)-t.max:]
		t.cut = true
	}
	// Do not start in the middle of a UTF-8 sequence.
	for len(b) > 0 && !utf8.RuneStart(b[0]) {
		b = b[1:]
	}
	s := strings.ToValidUTF8(string(b), "\uFFFD")
	if t.cut {
		return "… (earlier output cut)\n" + s
	}
	return s
}

func truncateUTF8(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}
