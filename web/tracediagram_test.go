package web

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/PuerkitoBio/goquery"

	"github.com/faultline-dev/faultline"
)

// synthTrace is a small run with every kind the diagram marks.
func synthTrace() *faultline.RunTrace {
	ms := func(n int) time.Duration { return time.Duration(n) * time.Millisecond }
	return &faultline.RunTrace{
		Test: "TestX/seed=5", Seed: 5, Property: "no <acked> write is lost", At: ms(20), Total: 15,
		Nodes: []string{"c1", "n1", "n2<b>"},
		Events: []faultline.TraceEvent{
			{At: ms(0), Kind: "op", Node: "c1", Detail: "Put(k)"},
			{At: ms(1), Kind: "send", Node: "c1", Peer: "n1", Detail: "#1 Put{k}"},
			{At: ms(2), Kind: "deliver", Node: "c1", Peer: "n1", Detail: "#1"},
			{At: ms(3), Kind: "send", Node: "n1", Peer: "n2<b>", Detail: "#2 Replicate"},
			{At: ms(3), Kind: "late", Node: "n1", Peer: "n2<b>", Detail: "#2 +5ms"},
			{At: ms(4), Kind: "partition", Detail: "partition {n1} | {n2<b> c1}"},
			{At: ms(5), Kind: "send", Node: "n1", Peer: "c1", Detail: "#3 Ack"},
			{At: ms(6), Kind: "drop", Node: "n1", Peer: "c1", Detail: "#3 cut off"},
			{At: ms(8), Kind: "deliver", Node: "n1", Peer: "n2<b>", Detail: "#2"},
			{At: ms(9), Kind: "heal"},
			{At: ms(10), Kind: "crash", Node: "n1"},
			{At: ms(12), Kind: "timer", Node: "n2<b>", Detail: "retry"},
			{At: ms(14), Kind: "restart", Node: "n1"},
			{At: ms(15), Kind: "fault", Detail: "disk loses unsynced writes"},
			{At: ms(16), Kind: "send", Node: "c1", Peer: "n2<b>", Detail: "#4 Get{k}"},
		},
	}
}

func diagramDoc(t *testing.T, svg string) *goquery.Document {
	t.Helper()
	d, err := goquery.NewDocumentFromReader(strings.NewReader("<html><body>" + svg + "</body></html>"))
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// The diagram marks each kind of event where it happened, says what held
// at each row, and escapes every text of the run.
func TestTraceDiagramMarksTheRun(t *testing.T) {
	rt := synthTrace()
	dg := traceDiagram(rt, traceOptions{at: 7, hide: map[string]bool{}})
	if strings.Contains(dg.SVG, "<b>") || strings.Contains(dg.SVG, "<acked>") {
		t.Fatalf("unescaped text in the SVG:\n%s", dg.SVG)
	}
	d := diagramDoc(t, dg.SVG)
	if got := fmt.Sprint(dg.Lanes); got != "[n1 n2<b> c1]" {
		t.Errorf("lanes %s, want the servers then the client", got)
	}
	msgs := map[string]string{}
	d.Find(`[data-testid="trace-msg"]`).Each(func(_ int, s *goquery.Selection) {
		msgs[s.AttrOr("data-msg", "")] = s.AttrOr("data-state", "") + "/" + s.AttrOr("class", "")
	})
	for n, want := range map[string]string{"1": "delivered/td-msg", "2": "delivered/td-msg td-late", "3": "dropped/td-msg td-dropped", "4": "in flight/td-msg td-inflight"} {
		if msgs[n] != want {
			t.Errorf("message #%s: %q, want %q", n, msgs[n], want)
		}
	}
	if n := d.Find(`[data-testid="trace-drop"]`).Length(); n != 1 {
		t.Errorf("%d drop crosses, want 1", n)
	}
	for id, want := range map[string]int{"trace-crash": 1, "trace-restart": 1, "trace-partition": 1, "trace-heal": 1, "trace-fault": 1, "trace-event": 15, "trace-broken": 1} {
		if n := d.Find(`[data-testid="` + id + `"]`).Length(); n != want {
			t.Errorf("%d %s, want %d", n, id, want)
		}
	}
	// Every node of the partition's groups is shaded from the partition
	// (row 5) to the heal (row 9).
	cut := map[string]bool{}
	d.Find(`[data-testid="trace-cut"]`).Each(func(_ int, s *goquery.Selection) { cut[s.AttrOr("data-lane", "")] = true })
	if len(cut) != 3 {
		t.Errorf("cut-off lanes %v, want all three", cut)
	}
	// What held at each row.
	for i, want := range map[int]string{
		3:  "in flight: #2 n1→n2<b>",
		6:  "cut off: c1, n1, n2<b>; in flight: #2 n1→n2<b>, #3 n1→c1",
		10: "down: n1",
		12: "every node up, nothing in flight",
		14: "in flight: #4 c1→n2<b>",
	} {
		if dg.Rows[i].State != want {
			t.Errorf("row %d holds %q, want %q", i, dg.Rows[i].State, want)
		}
	}
	// The cursor and what comes after it.
	if !dg.Rows[7].Cursor || d.Find(`#ev-7.td-cursor`).Length() != 1 || d.Find(`.td-future`).Length() != 7 {
		t.Errorf("cursor at 7: %d future rows", d.Find(`.td-future`).Length())
	}
	if got := d.Find(`[data-testid="trace-broken"]`).Text(); !strings.Contains(got, "0.020000s") || !strings.Contains(got, "no <acked> write is lost") {
		t.Errorf("broken property bar %q", got)
	}
}

// A window before the end has no broken-property bar; hidden kinds leave
// no row; a window that starts after a send leaves the delivery unpaired
// rather than drawn from nowhere.
func TestTraceDiagramWindowsAndHiding(t *testing.T) {
	rt := synthTrace()
	dg := traceDiagram(rt, traceOptions{from: 0, at: 0, hide: map[string]bool{"timer": true, "fault": true}})
	d := diagramDoc(t, dg.SVG)
	if d.Find(`[data-kind="timer"], [data-kind="fault"]`).Length() != 0 || d.Find(`[data-testid="trace-event"]`).Length() != 13 {
		t.Errorf("hidden kinds left in: %d rows", d.Find(`[data-testid="trace-event"]`).Length())
	}
	dg = traceDiagram(rt, traceOptions{from: 2, at: 2, hide: map[string]bool{}})
	d = diagramDoc(t, dg.SVG)
	if d.Find(`[data-msg="1"]`).Length() != 0 || d.Find(`[data-testid="trace-event"]`).First().AttrOr("data-i", "") != "2" {
		t.Errorf("a window from event 2 draws message #1 (sent before it) or starts elsewhere")
	}
	many := &faultline.RunTrace{Test: "TestY", Nodes: []string{"a", "b"}, Property: "p"}
	for i := range traceWindow + 10 {
		many.Events = append(many.Events, faultline.TraceEvent{At: time.Duration(i), Kind: "timer", Node: "a"})
	}
	dg = traceDiagram(many, traceOptions{from: 0, at: 0, hide: map[string]bool{}})
	d = diagramDoc(t, dg.SVG)
	if d.Find(`[data-testid="trace-event"]`).Length() != traceWindow || d.Find(`[data-testid="trace-broken"]`).Length() != 0 || dg.To != traceWindow {
		t.Errorf("first window: %d rows, %d broken bars, to %d", d.Find(`[data-testid="trace-event"]`).Length(), d.Find(`[data-testid="trace-broken"]`).Length(), dg.To)
	}
	dg = traceDiagram(many, traceOptions{from: traceWindow, at: traceWindow, hide: map[string]bool{}})
	if d = diagramDoc(t, dg.SVG); d.Find(`[data-testid="trace-broken"]`).Length() != 1 || len(dg.Rows) != 10 {
		t.Errorf("last window: %d rows, %d broken bars", len(dg.Rows), d.Find(`[data-testid="trace-broken"]`).Length())
	}
}

// A row's group is classed by kind apart from the marks' classes, so the
// style of a mark (a crash's red stroke, a timer's fill) never paints the
// whole row.
func TestTraceRowsDoNotTakeTheirMarksStyle(t *testing.T) {
	d := diagramDoc(t, traceDiagram(synthTrace(), traceOptions{at: 3, hide: map[string]bool{}}).SVG)
	marks := []string{"td-crash", "td-restart", "td-timer", "td-op", "td-x", "td-dot", "td-msg", "td-head"}
	d.Find(`[data-testid="trace-event"]`).Each(func(_ int, s *goquery.Selection) {
		for _, c := range strings.Fields(s.AttrOr("class", "")) {
			for _, m := range marks {
				if c == m {
					t.Errorf("event %s row is classed %s, a mark's style", s.AttrOr("data-i", ""), c)
				}
			}
		}
	})
}
