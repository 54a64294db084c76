package web

import (
	"fmt"
	"math"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/faultline-dev/faultline"
	"github.com/faultline-dev/faultline/web/views"
)

// The trace explorer draws a failing run as a space-time diagram, on the
// server, as inline SVG built from escaped text only: one lane per node
// (time runs down), one row per event, messages as arrows from the row
// that sent them to the row that delivered them (or to a cross where they
// were dropped), partitions as shaded stretches of the lanes they cut off,
// crashes as crosses with the lane greyed until the node restarts, and the
// broken property as a red bar at the end. Each row carries what held at
// that moment (nodes down or cut off, messages in flight), so a cursor can
// step through the run without a script (links) or with one (trace.js).

// traceWindow is how many events the diagram shows at once.
const traceWindow = 100

// Diagram geometry.
const (
	tdTimeW  = 78  // the time column on the left
	tdHeadH  = 34  // lane names
	tdRowH   = 22  // one event
	tdLabelW = 420 // the event text on the right
	tdTailH  = 40  // the broken property's bar
)

// traceOptions are the explorer's controls, from the query string.
type traceOptions struct {
	from int             // first event of the window
	at   int             // the cursor: the event stepped to
	hide map[string]bool // kinds left out
}

// traceKinds are the kinds the explorer can hide, in the order offered.
var traceKinds = []string{"timer", "note", "op", "fault"}

// msgRef is a message number in a detail: "#17 Put{...}", "#17 lost".
var msgRef = regexp.MustCompile(`^#(\d+)\b`)

// partitionGroups are the braces of a partition's detail:
// "partition {n1 n2} | {n3 n4 n5}".
var partitionGroups = regexp.MustCompile(`\{([^{}]*)\}`)

// tdEvent is one event of the window with where it is drawn.
type tdEvent struct {
	i   int // index in the trace
	row int // row in the diagram
	e   faultline.TraceEvent
	msg int // message number, 0 when none
}

// traceDiagram lays out the events of rt that o selects and returns the
// page's diagram: the SVG and the rows' texts and states.
func traceDiagram(rt *faultline.RunTrace, o traceOptions) views.TraceDiagram {
	d := views.TraceDiagram{Total: len(rt.Events), RunTotal: rt.Total}
	// The events shown: the window, less the hidden kinds.
	lo, hi := o.from, min(o.from+traceWindow, len(rt.Events))
	var evs []tdEvent
	for i := lo; i < hi; i++ {
		e := rt.Events[i]
		if o.hide[e.Kind] {
			continue
		}
		te := tdEvent{i: i, row: len(evs), e: e}
		if m := msgRef.FindStringSubmatch(e.Detail); m != nil {
			te.msg, _ = strconv.Atoi(m[1])
		}
		evs = append(evs, te)
	}
	d.From, d.To = lo, hi
	lanes := traceLanes(rt)
	laneX := map[string]float64{}
	laneW := 96.0
	if n := len(lanes); n > 0 {
		laneW = min(112, max(56, 560/float64(n)))
	}
	for i, n := range lanes {
		laneX[n] = tdTimeW + laneW*(float64(i)+0.5)
	}
	lanesR := tdTimeW + laneW*float64(len(lanes))
	width := int(lanesR) + 12 + tdLabelW
	last := tdHeadH + len(evs)*tdRowH
	height := last + tdTailH + 8
	rowY := func(r int) float64 { return float64(tdHeadH + r*tdRowH + tdRowH/2) }

	var b strings.Builder
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" class="trace-svg" viewBox="0 0 %d %d" width="%d" height="%d" role="img" aria-labelledby="trace-title" data-testid="trace-svg" font-family="system-ui, sans-serif" font-size="12">`,
		width, height, width, height)
	fmt.Fprintf(&b, `<title id="trace-title">Space-time diagram of %s: %d events from %s to %s</title>`, esc(rt.Test), len(evs),
		traceTime(firstAt(evs)), traceTime(lastAt(evs)))

	// State along the lanes: crashed and cut-off stretches, by row.
	down, cut := laneStretches(evs, lanes)
	for _, n := range lanes {
		x := laneX[n]
		for _, s := range cut[n] {
			fmt.Fprintf(&b, `<rect class="td-cut" x="%s" y="%s" width="%s" height="%s" data-testid="trace-cut" data-lane="%s"><title>%s cut off by a partition</title></rect>`,
				f1(x-laneW/2+4), f1(rowY(s[0])), f1(laneW-8), f1(rowY(s[1])-rowY(s[0])), esc(n), esc(n))
		}
		fmt.Fprintf(&b, `<line class="td-lane" x1="%s" y1="%d" x2="%s" y2="%d" data-testid="trace-lane" data-lane="%s"/>`, f1(x), tdHeadH, f1(x), last, esc(n))
		for _, s := range down[n] {
			fmt.Fprintf(&b, `<line class="td-down" x1="%s" y1="%s" x2="%s" y2="%s"><title>%s down</title></line>`, f1(x), f1(rowY(s[0])), f1(x), f1(rowY(s[1])), esc(n))
		}
		name, whole := fitText(n, laneW-6, 12)
		fmt.Fprintf(&b, `<text class="td-name" x="%s" y="%d" text-anchor="middle">%s`, f1(x), tdHeadH-12, esc(name))
		if !whole {
			fmt.Fprintf(&b, `<title>%s</title>`, esc(n))
		}
		b.WriteString(`</text>`)
	}

	// Messages: from the send's row to the delivery's row, or to a cross
	// where the network dropped it.
	type end struct {
		row  int
		kind string // deliver, drop
		why  string
	}
	ends := map[string][]end{} // by "from>to#n"
	for _, te := range evs {
		if te.msg != 0 && (te.e.Kind == "deliver" || te.e.Kind == "drop") {
			k := fmt.Sprintf("%s>%s#%d", te.e.Node, te.e.Peer, te.msg)
			ends[k] = append(ends[k], end{te.row, te.e.Kind, te.e.Detail})
		}
	}
	late := map[int]bool{}
	dup := map[int]bool{}
	for _, te := range evs {
		switch te.e.Kind {
		case "late":
			late[te.msg] = true
		case "dup":
			dup[te.msg] = true
		}
	}
	for _, te := range evs {
		if te.e.Kind != "send" || te.msg == 0 {
			continue
		}
		x1, ok1 := laneX[te.e.Node]
		x2, ok2 := laneX[te.e.Peer]
		if !ok1 || !ok2 {
			continue
		}
		y1 := rowY(te.row)
		k := fmt.Sprintf("%s>%s#%d", te.e.Node, te.e.Peer, te.msg)
		var got []end
		for _, en := range ends[k] {
			if en.row >= te.row {
				got = append(got, en)
			}
		}
		cls := "td-msg"
		if late[te.msg] {
			cls += " td-late"
		}
		title := fmt.Sprintf("#%d %s → %s: %s", te.msg, te.e.Node, te.e.Peer, strings.TrimSpace(strings.TrimPrefix(te.e.Detail, fmt.Sprintf("#%d", te.msg))))
		if len(got) == 0 { // still on its way when the window ends
			y2 := float64(last)
			fmt.Fprintf(&b, `<g class="%s td-inflight" data-testid="trace-msg" data-msg="%d" data-from="%s" data-to="%s" data-state="in flight"><title>%s (in flight)</title><line x1="%s" y1="%s" x2="%s" y2="%s"/></g>`,
				cls, te.msg, esc(te.e.Node), esc(te.e.Peer), esc(title), f1(x1), f1(y1), f1(x1+(x2-x1)*0.8), f1(y2))
			continue
		}
		for _, en := range got {
			y2 := rowY(en.row)
			if en.row == te.row {
				y2 += tdRowH * 0.45
			}
			if en.kind == "drop" {
				xm, ym := x1+(x2-x1)*0.6, y1+(y2-y1)*0.6
				if en.row == te.row {
					ym = y2
				}
				fmt.Fprintf(&b, `<g class="%s td-dropped" data-testid="trace-msg" data-msg="%d" data-from="%s" data-to="%s" data-state="dropped"><title>%s — dropped: %s</title><line x1="%s" y1="%s" x2="%s" y2="%s"/>%s</g>`,
					cls, te.msg, esc(te.e.Node), esc(te.e.Peer), esc(title), esc(en.why), f1(x1), f1(y1), f1(xm), f1(ym), cross(xm, ym, 5, "td-x", "trace-drop"))
				continue
			}
			state := "delivered"
			if dup[te.msg] {
				state = "delivered twice"
			}
			fmt.Fprintf(&b, `<g class="%s" data-testid="trace-msg" data-msg="%d" data-from="%s" data-to="%s" data-state="%s"><title>%s (%s)</title><line x1="%s" y1="%s" x2="%s" y2="%s"/>%s</g>`,
				cls, te.msg, esc(te.e.Node), esc(te.e.Peer), state, esc(title), state, f1(x1), f1(y1), f1(x2), f1(y2), arrowHead(x1, y1, x2, y2))
		}
	}

	// The rows: a mark on the lane, the time, the text, and what held then.
	states := rowStates(evs, lanes)
	for _, te := range evs {
		y := rowY(te.row)
		e := te.e
		cursor := te.i == o.at
		cls := "td-ev td-k-" + e.Kind // not td-<kind>: those classes style the marks
		if te.i > o.at {
			cls += " td-future"
		}
		if cursor {
			cls += " td-cursor"
		}
		fmt.Fprintf(&b, `<g class="%s" id="ev-%d" data-testid="trace-event" data-i="%d" data-kind="%s" data-node="%s" data-peer="%s" data-state="%s">`,
			cls, te.i, te.i, esc(e.Kind), esc(e.Node), esc(e.Peer), esc(states[te.row]))
		fmt.Fprintf(&b, `<rect class="td-hit" x="0" y="%s" width="%d" height="%d"/>`, f1(y-tdRowH/2), width, tdRowH)
		fmt.Fprintf(&b, `<text class="td-time" x="%d" y="%s" text-anchor="end">%s</text>`, tdTimeW-8, f1(y+4), traceTime(e.At))
		x, on := laneX[e.Node]
		switch e.Kind {
		case "crash":
			if on {
				b.WriteString(cross(x, y, 7, "td-crash", "trace-crash"))
			}
		case "restart":
			if on {
				fmt.Fprintf(&b, `<circle class="td-restart" cx="%s" cy="%s" r="6" data-testid="trace-restart"/>`, f1(x), f1(y))
			}
		case "partition", "heal":
			fmt.Fprintf(&b, `<line class="td-%s-line" x1="%d" y1="%s" x2="%s" y2="%s" data-testid="trace-%s"/>`, e.Kind, tdTimeW, f1(y), f1(lanesR), f1(y), e.Kind)
		case "fault":
			fmt.Fprintf(&b, `<line class="td-fault-line" x1="%d" y1="%s" x2="%s" y2="%s" data-testid="trace-fault"/>`, tdTimeW, f1(y), f1(lanesR), f1(y))
		case "timer":
			if on {
				fmt.Fprintf(&b, `<circle class="td-timer" cx="%s" cy="%s" r="3.5"/>`, f1(x), f1(y))
			}
		case "op":
			if on {
				fmt.Fprintf(&b, `<rect class="td-op" x="%s" y="%s" width="12" height="12" rx="2"/>`, f1(x-6), f1(y-6))
			}
		case "send", "deliver":
			if on {
				fmt.Fprintf(&b, `<circle class="td-dot" cx="%s" cy="%s" r="3"/>`, f1(x), f1(y))
			}
		case "drop":
			// drawn with its message
		}
		text, whole := fitText(traceEventText(e), tdLabelW-8, 12)
		fmt.Fprintf(&b, `<text class="td-label" x="%s" y="%s">%s`, f1(lanesR+12), f1(y+4), esc(text))
		if !whole {
			fmt.Fprintf(&b, `<title>%s</title>`, esc(traceEventText(e)))
		}
		b.WriteString(`</text></g>`)
		d.Rows = append(d.Rows, views.TraceRow{Index: te.i, Time: traceTime(e.At), Kind: e.Kind, Text: traceEventText(e), State: states[te.row], Cursor: cursor})
	}

	// The broken property, where the run ended.
	if hi == len(rt.Events) {
		y := float64(last + 6)
		fmt.Fprintf(&b, `<g class="td-broken" data-testid="trace-broken"><rect x="%d" y="%s" width="%s" height="%d" rx="4"/>`, tdTimeW-70, f1(y), f1(lanesR-tdTimeW+70), tdTailH-12)
		text, _ := fitText("broke at "+traceTime(rt.At)+": "+rt.Property, float64(width)-20, 13)
		fmt.Fprintf(&b, `<text x="%d" y="%s" font-weight="700">%s</text></g>`, tdTimeW-62, f1(y+18), esc(text))
	}
	b.WriteString(`</svg>`)
	d.SVG = b.String()
	d.Lanes = lanes
	return d
}

// traceLanes orders a trace's nodes: the servers as they first appear, then
// the clients (the nodes that invoke operations).
func traceLanes(rt *faultline.RunTrace) []string {
	client := map[string]bool{}
	for _, e := range rt.Events {
		if e.Kind == "op" && e.Node != "" {
			client[e.Node] = true
		}
	}
	var servers, clients []string
	for _, n := range rt.Nodes {
		if client[n] {
			clients = append(clients, n)
		} else {
			servers = append(servers, n)
		}
	}
	return append(servers, clients...)
}

// laneStretches returns, per lane, the rows (from, to) it was down (from a
// crash to its restart) and cut off (from a partition to the heal).
func laneStretches(evs []tdEvent, lanes []string) (down, cut map[string][][2]int) {
	down, cut = map[string][][2]int{}, map[string][][2]int{}
	crashedAt := map[string]int{}
	cutAt := map[string]int{}
	end := len(evs)
	for _, te := range evs {
		e := te.e
		switch e.Kind {
		case "crash":
			if _, ok := crashedAt[e.Node]; !ok {
				crashedAt[e.Node] = te.row
			}
		case "restart":
			if from, ok := crashedAt[e.Node]; ok {
				down[e.Node] = append(down[e.Node], [2]int{from, te.row})
				delete(crashedAt, e.Node)
			}
		case "partition":
			for _, n := range partitioned(e) {
				if _, ok := cutAt[n]; !ok {
					cutAt[n] = te.row
				}
			}
		case "heal":
			healed := lanes
			if e.Node != "" { // one link restored
				healed = []string{e.Node, e.Peer}
			}
			for _, n := range healed {
				if from, ok := cutAt[n]; ok {
					cut[n] = append(cut[n], [2]int{from, te.row})
					delete(cutAt, n)
				}
			}
		}
	}
	for n, from := range crashedAt {
		down[n] = append(down[n], [2]int{from, end})
	}
	for n, from := range cutAt {
		cut[n] = append(cut[n], [2]int{from, end})
	}
	return down, cut
}

// partitioned names the nodes a partition event cuts off: every node of
// its groups, or the two ends of a one-way cut.
func partitioned(e faultline.TraceEvent) []string {
	if e.Node != "" {
		return []string{e.Node, e.Peer}
	}
	var out []string
	for _, g := range partitionGroups.FindAllStringSubmatch(e.Detail, -1) {
		out = append(out, strings.Fields(g[1])...)
	}
	return out
}

// rowStates says, for each row, what held right after its event: the nodes
// down and cut off, and the messages in flight.
func rowStates(evs []tdEvent, lanes []string) []string {
	downNow, cutNow := map[string]bool{}, map[string]bool{}
	flight := map[int]string{} // message number → "n1→n2"
	out := make([]string, len(evs))
	for _, te := range evs {
		e := te.e
		switch e.Kind {
		case "crash":
			downNow[e.Node] = true
		case "restart":
			delete(downNow, e.Node)
		case "partition":
			for _, n := range partitioned(e) {
				cutNow[n] = true
			}
		case "heal":
			if e.Node != "" {
				delete(cutNow, e.Node)
				delete(cutNow, e.Peer)
			} else {
				clear(cutNow)
			}
		case "send":
			if te.msg != 0 {
				flight[te.msg] = e.Node + "→" + e.Peer
			}
		case "deliver", "drop":
			delete(flight, te.msg)
		}
		var parts []string
		if n := sortedKeys(downNow); len(n) > 0 {
			parts = append(parts, "down: "+strings.Join(n, ", "))
		}
		if n := sortedKeys(cutNow); len(n) > 0 {
			parts = append(parts, "cut off: "+strings.Join(n, ", "))
		}
		if len(flight) > 0 {
			ids := make([]int, 0, len(flight))
			for id := range flight {
				ids = append(ids, id)
			}
			slices.Sort(ids)
			var fl []string
			for _, id := range ids[:min(len(ids), 8)] {
				fl = append(fl, fmt.Sprintf("#%d %s", id, flight[id]))
			}
			if len(ids) > 8 {
				fl = append(fl, fmt.Sprintf("and %d more", len(ids)-8))
			}
			parts = append(parts, "in flight: "+strings.Join(fl, ", "))
		}
		if len(parts) == 0 {
			parts = append(parts, "every node up, nothing in flight")
		}
		out[te.row] = strings.Join(parts, "; ")
	}
	return out
}

func sortedKeys(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

// traceEventText says an event in words, as the trace's text does.
func traceEventText(e faultline.TraceEvent) string {
	var b strings.Builder
	b.WriteString(e.Kind)
	switch {
	case e.Node != "" && e.Peer != "":
		fmt.Fprintf(&b, " %s → %s", e.Node, e.Peer)
	case e.Node != "":
		b.WriteString(" " + e.Node)
	}
	if e.Detail != "" {
		b.WriteString("  " + e.Detail)
	}
	return b.String()
}

// traceTime formats a virtual time as the trace does, in seconds.
func traceTime(d time.Duration) string {
	return strconv.FormatFloat(d.Seconds(), 'f', 6, 64) + "s"
}

func firstAt(evs []tdEvent) time.Duration {
	if len(evs) == 0 {
		return 0
	}
	return evs[0].e.At
}

func lastAt(evs []tdEvent) time.Duration {
	if len(evs) == 0 {
		return 0
	}
	return evs[len(evs)-1].e.At
}

// cross draws an ✕ centred on (x, y).
func cross(x, y, r float64, class, testid string) string {
	return fmt.Sprintf(`<path class="%s" d="M%s %sL%s %sM%s %sL%s %s" data-testid="%s"/>`, class,
		f1(x-r), f1(y-r), f1(x+r), f1(y+r), f1(x-r), f1(y+r), f1(x+r), f1(y-r), testid)
}

// arrowHead draws a filled head at (x2, y2) of a line from (x1, y1).
func arrowHead(x1, y1, x2, y2 float64) string {
	dx, dy := x2-x1, y2-y1
	l := max(1, math.Hypot(dx, dy))
	ux, uy := dx/l, dy/l
	const size = 7
	bx, by := x2-ux*size, y2-uy*size
	px, py := -uy*size*0.45, ux*size*0.45
	return fmt.Sprintf(`<path class="td-head" d="M%s %sL%s %sL%s %sZ"/>`, f1(x2), f1(y2), f1(bx+px), f1(by+py), f1(bx-px), f1(by-py))
}

func f1(v float64) string { return strconv.FormatFloat(v, 'f', 1, 64) }

// fitText cuts text with an ellipsis to fit width at size px; whole is
// false when it had to cut.
func fitText(text string, width, size float64) (string, bool) {
	if textWidth(text, size) <= width {
		return text, true
	}
	r := []rune(text)
	for len(r) > 0 && textWidth(string(r)+"…", size) > width {
		r = r[:len(r)-1]
	}
	return string(r) + "…", false
}
