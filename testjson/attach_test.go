package testjson

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/faultline-dev/faultline"
	"github.com/faultline-dev/faultline/labs/labkit"
)

// logTB records what labkit.Attach logs, as go test would print it.
type logTB struct {
	testing.TB
	out strings.Builder
}

func (r *logTB) Helper() {}
func (r *logTB) Log(args ...any) {
	// go test prints "    file.go:NN: " then the text, continuation lines
	// indented by eight spaces.
	text := fmt.Sprint(args...)
	r.out.WriteString("    svg.go:392: " + strings.ReplaceAll(text, "\n", "\n        ") + "\n")
}
func (r *logTB) Logf(format string, args ...any) { r.Log(fmt.Sprintf(format, args...)) }

const pic = `<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"><rect width="10" height="10"/></svg>`

func attached(t *testing.T, name, svg string) string {
	t.Helper()
	r := &logTB{TB: t}
	labkit.Attach(r, name, svg)
	if r.out.Len() == 0 {
		t.Fatalf("labkit.Attach(%q) printed nothing", name)
	}
	return r.out.String()
}

func lift(keep bool, pieces ...string) (string, []faultline.Attachment) {
	var out strings.Builder
	l := &lifter{emit: func(s string) { out.WriteString(s) }, keep: keep}
	for _, p := range pieces {
		l.Write(p)
	}
	l.Close()
	return out.String(), l.found
}

// TestMarkersMatchLabkit lifts what the real labkit.Attach prints.
func TestMarkersMatchLabkit(t *testing.T) {
	text := "=== RUN   TestRing\n" + attached(t, "ring.svg", pic) + "    ring_test.go:40: lost keys\n"
	out, found := lift(true, text)
	if len(found) != 1 || found[0].Name != "ring.svg" || found[0].SVG != pic {
		t.Fatalf("found %+v, want ring.svg with the picture", found)
	}
	if strings.Contains(out, "<svg") || strings.Contains(out, "labkit:") {
		t.Errorf("picture left in the output:\n%s", out)
	}
	for _, want := range []string{"=== RUN   TestRing\n", "[picture ring.svg: shown with the result]\n", "lost keys\n"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
}

// TestLiftSplitAnywhere: test2json cuts long lines into several events, so
// the text may arrive in any pieces; the result must not depend on where.
func TestLiftSplitAnywhere(t *testing.T) {
	text := "before\n" + attached(t, "a.svg", pic) + "middle line\n" + attached(t, "b.svg", strings.Replace(pic, "10", "20", 1)) + "after, no newline"
	wantOut, wantFound := lift(true, text)
	if len(wantFound) != 2 {
		t.Fatalf("whole text: found %d pictures, want 2", len(wantFound))
	}
	for i := 1; i < len(text); i++ {
		for _, j := range []int{i, i + (len(text)-i)/2} {
			out, found := lift(true, text[:i], text[i:j], text[j:])
			if out != wantOut || len(found) != 2 || found[0] != wantFound[0] || found[1] != wantFound[1] {
				t.Fatalf("split at %d and %d: got output %q and %d pictures; want %q and 2", i, j, out, len(found), wantOut)
			}
		}
	}
	if !strings.HasSuffix(wantOut, "after, no newline") || !strings.HasPrefix(wantOut, "before\n") {
		t.Errorf("text around the pictures changed: %q", wantOut)
	}
}

func TestLiftRefusals(t *testing.T) {
	t.Run("not kept in the run output", func(t *testing.T) {
		out, found := lift(false, attached(t, "a.svg", pic))
		if len(found) != 0 || !strings.HasSuffix(out, "\n[picture a.svg]\n") || strings.Contains(out, "<svg") {
			t.Errorf("got %q and %d pictures; want the name only", out, len(found))
		}
	})
	t.Run("at most MaxTestAttachments", func(t *testing.T) {
		var text string
		for i := range faultline.MaxTestAttachments + 2 {
			text += attached(t, fmt.Sprintf("p%d.svg", i), pic)
		}
		out, found := lift(true, text)
		if len(found) != faultline.MaxTestAttachments {
			t.Errorf("kept %d pictures, want %d", len(found), faultline.MaxTestAttachments)
		}
		if strings.Count(out, "left out") != 2 {
			t.Errorf("output should say two were left out:\n%s", out)
		}
	})
	t.Run("not an SVG", func(t *testing.T) {
		out, found := lift(true, "--- labkit:svg name=x.svg\n<script>alert(1)</script>\n--- labkit:end\n")
		if len(found) != 0 || !strings.Contains(out, "not an SVG") {
			t.Errorf("got %q and %d pictures", out, len(found))
		}
	})
	t.Run("bad name is plain text", func(t *testing.T) {
		in := "--- labkit:svg name=../../etc/passwd.svg\n" + pic + "\n--- labkit:end\n"
		out, found := lift(true, in)
		if len(found) != 0 || out != in {
			t.Errorf("got %q and %d pictures; want the text untouched", out, len(found))
		}
	})
	t.Run("too big", func(t *testing.T) {
		big := "<svg>" + strings.Repeat("x", faultline.MaxAttachmentBytes) + "</svg>"
		out, found := lift(true, "--- labkit:svg name=big.svg\n", big[:5000], big[5000:]+"\n--- labkit:end\nnext\n")
		if len(found) != 0 || !strings.Contains(out, "big.svg left out: over") || !strings.HasSuffix(out, "next\n") {
			t.Errorf("got %.200q and %d pictures", out, len(found))
		}
	})
	t.Run("never ended", func(t *testing.T) {
		out, found := lift(true, "x\n--- labkit:svg name=a.svg\n<svg>")
		if len(found) != 0 || out != "x\n[picture a.svg left out: it never ended]\n" {
			t.Errorf("got %q and %d pictures", out, len(found))
		}
	})
	t.Run("long plain lines pass through", func(t *testing.T) {
		long := strings.Repeat("y", 100<<10)
		out, _ := lift(true, long[:10], long[10:], "\n")
		if out != long+"\n" {
			t.Errorf("long line changed (%d bytes out, %d in)", len(out), len(long)+1)
		}
	})
}

// TestScoreLiftsAttachments runs the lifting through Score with test2json
// events: the picture lands on its test, not in any output.
func TestScoreLiftsAttachments(t *testing.T) {
	var events strings.Builder
	emit := func(action, test, output string) {
		b, _ := json.Marshal(Event{Action: action, Package: PackageHidden, Test: test, Output: output})
		events.Write(append(b, '\n'))
	}
	emit("run", "TestRing", "")
	emit("output", "TestRing", "=== RUN   TestRing\n")
	text := attached(t, "ring.svg", pic)
	for len(text) > 0 { // in 40-byte events, as if cut by test2json
		n := min(40, len(text))
		emit("output", "TestRing", text[:n])
		text = text[n:]
	}
	emit("output", "TestRing", "    ring_test.go:9: PROPERTY BROKEN: keys moved\n")
	emit("fail", "TestRing", "")
	r := Score(strings.NewReader(events.String()), []faultline.LabTest{{Name: "TestRing", Points: 2, Hidden: true}})
	tr := r.Tests[0]
	if len(tr.Attachments) != 1 || tr.Attachments[0].SVG != pic {
		t.Fatalf("attachments %+v, want ring.svg", tr.Attachments)
	}
	if strings.Contains(tr.Output, "<svg") || strings.Contains(r.Output, "<svg") {
		t.Errorf("SVG left in output: test %q, run %q", tr.Output, r.Output)
	}
	if !strings.Contains(tr.Message, "PROPERTY BROKEN") {
		t.Errorf("Message = %q, want the failure line", tr.Message)
	}
}

func TestCapAttachments(t *testing.T) {
	big := strings.Repeat("x", faultline.MaxAttachmentBytes)
	var tests []faultline.TestResult
	for i := range 3 {
		tr := faultline.TestResult{Name: fmt.Sprint("T", i)}
		for j := range 2 {
			tr.Attachments = append(tr.Attachments, faultline.Attachment{Name: fmt.Sprintf("%d.svg", j), SVG: big})
		}
		tests = append(tests, tr)
	}
	capAttachments(tests)
	total := 0
	for _, tr := range tests {
		for _, a := range tr.Attachments {
			total += len(a.SVG)
		}
	}
	if total > faultline.MaxResultAttachments {
		t.Errorf("kept %d bytes of pictures, cap %d", total, faultline.MaxResultAttachments)
	}
	if len(tests[0].Attachments) != 2 || len(tests[2].Attachments) != 0 || !strings.Contains(tests[2].Output, "capped") {
		t.Errorf("want the last tests' pictures dropped first with a note: %d, %d, %q", len(tests[0].Attachments), len(tests[2].Attachments), tests[2].Output)
	}
}
