package labkit

import (
	"encoding/json"
	"fmt"
	"hash/fnv"
	"math"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// SVG builds a small standalone SVG document. Every text and attribute value
// is escaped, so labels can hold any string. The output is one line.
type SVG struct {
	W, H int
	b    strings.Builder
	// shape, when set, is written as the root's data-shape attribute: a
	// digest of what the picture shows, equal for pictures that look the
	// same however their axes are scaled, so a page can show such pictures
	// once.
	shape string
}

// NewSVG starts a w×h document with a white background.
func NewSVG(w, h int) *SVG {
	s := &SVG{W: w, H: h}
	s.Rect(0, 0, float64(w), float64(h), "#ffffff", "")
	return s
}

// Palette is the colour sequence charts use for series, owners and states.
var Palette = []string{"#4e79a7", "#f28e2b", "#e15759", "#76b7b2", "#59a14f", "#edc948", "#b07aa1", "#ff9da7", "#9c755f", "#bab0ac"}

func attr(v string) string {
	var b strings.Builder
	for _, r := range v {
		switch r {
		case '&':
			b.WriteString("&amp;")
		case '<':
			b.WriteString("&lt;")
		case '>':
			b.WriteString("&gt;")
		case '"':
			b.WriteString("&quot;")
		case '\'':
			b.WriteString("&apos;")
		case '\n', '\r', '\t':
			b.WriteString(" ")
		default:
			if r < 0x20 || r == 0xFFFE || r == 0xFFFF || (r >= 0xD800 && r <= 0xDFFF) {
				b.WriteRune('\uFFFD')
				continue
			}
			b.WriteRune(r)
		}
	}
	return b.String()
}

func num(f float64) string {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		f = 0
	}
	return strconv.FormatFloat(math.Round(f*100)/100, 'f', -1, 64)
}

// Rect draws a filled rectangle; a non-empty title shows as a tooltip.
func (s *SVG) Rect(x, y, w, h float64, fill, title string) {
	fmt.Fprintf(&s.b, `<rect x="%s" y="%s" width="%s" height="%s" fill="%s"`, num(x), num(y), num(math.Max(w, 0)), num(math.Max(h, 0)), attr(fill))
	s.close("rect", title)
}

// Line draws a line segment.
func (s *SVG) Line(x1, y1, x2, y2 float64, stroke string, width float64) {
	fmt.Fprintf(&s.b, `<line x1="%s" y1="%s" x2="%s" y2="%s" stroke="%s" stroke-width="%s"/>`, num(x1), num(y1), num(x2), num(y2), attr(stroke), num(width))
}

// Circle draws a circle; fill or stroke may be "none".
func (s *SVG) Circle(cx, cy, r float64, fill, stroke, title string) {
	fmt.Fprintf(&s.b, `<circle cx="%s" cy="%s" r="%s" fill="%s" stroke="%s"`, num(cx), num(cy), num(r), attr(fill), attr(stroke))
	s.close("circle", title)
}

// Polyline draws connected segments through points.
func (s *SVG) Polyline(points []Point, stroke string, width float64) {
	var pts []string
	for _, p := range points {
		pts = append(pts, num(p.X)+","+num(p.Y))
	}
	fmt.Fprintf(&s.b, `<polyline points="%s" fill="none" stroke="%s" stroke-width="%s"/>`, strings.Join(pts, " "), attr(stroke), num(width))
}

// Path draws an SVG path with the given d attribute.
func (s *SVG) Path(d, fill, stroke string, width float64, title string) {
	fmt.Fprintf(&s.b, `<path d="%s" fill="%s" stroke="%s" stroke-width="%s"`, attr(d), attr(fill), attr(stroke), num(width))
	s.close("path", title)
}

// Text writes text at (x, y); anchor is "start", "middle" or "end".
func (s *SVG) Text(x, y float64, size float64, anchor, text string) {
	s.text(x, y, size, anchor, text, "", "")
}

// text writes text with an optional tooltip (the full text of a cut label)
// and font style.
func (s *SVG) text(x, y float64, size float64, anchor, text, title, style string) {
	fmt.Fprintf(&s.b, `<text x="%s" y="%s" font-size="%s" text-anchor="%s" font-family="sans-serif" fill="#222"`,
		num(x), num(y), num(size), attr(anchor))
	if style != "" {
		fmt.Fprintf(&s.b, ` font-style="%s"`, attr(style))
	}
	s.b.WriteString(">")
	if title != "" {
		fmt.Fprintf(&s.b, "<title>%s</title>", attr(title))
	}
	fmt.Fprintf(&s.b, "%s</text>", attr(text))
}

// polyline draws connected segments, dashed when dash is set (e.g. "6 4").
func (s *SVG) polyline(points []Point, stroke string, width float64, dash string) {
	var pts []string
	for _, p := range points {
		pts = append(pts, num(p.X)+","+num(p.Y))
	}
	fmt.Fprintf(&s.b, `<polyline points="%s" fill="none" stroke="%s" stroke-width="%s"`, strings.Join(pts, " "), attr(stroke), num(width))
	if dash != "" {
		fmt.Fprintf(&s.b, ` stroke-dasharray="%s"`, attr(dash))
	}
	s.b.WriteString("/>")
}

// rectStyled draws a rectangle with an outline and an opacity (1: opaque).
func (s *SVG) rectStyled(x, y, w, h float64, fill, stroke, dash string, opacity float64, title string) {
	fmt.Fprintf(&s.b, `<rect x="%s" y="%s" width="%s" height="%s" fill="%s"`, num(x), num(y), num(math.Max(w, 0)), num(math.Max(h, 0)), attr(fill))
	if stroke != "" {
		fmt.Fprintf(&s.b, ` stroke="%s" stroke-width="1"`, attr(stroke))
	}
	if dash != "" {
		fmt.Fprintf(&s.b, ` stroke-dasharray="%s"`, attr(dash))
	}
	if opacity < 1 {
		fmt.Fprintf(&s.b, ` fill-opacity="%s"`, num(opacity))
	}
	s.close("rect", title)
}

func (s *SVG) close(tag, title string) {
	if title == "" {
		s.b.WriteString("/>")
		return
	}
	fmt.Fprintf(&s.b, "><title>%s</title></%s>", attr(title), tag)
}

// String returns the complete document.
func (s *SVG) String() string {
	shape := ""
	if s.shape != "" {
		shape = ` data-shape="` + attr(s.shape) + `"`
	}
	return fmt.Sprintf(`<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d"%s>%s</svg>`, s.W, s.H, s.W, s.H, shape, s.b.String())
}

// digest is a short hex digest of a picture's description, for data-shape.
func digest(parts ...string) string {
	h := fnv.New64a()
	for _, p := range parts {
		h.Write([]byte(p))
		h.Write([]byte{0})
	}
	return fmt.Sprintf("%016x", h.Sum64())
}

// textWidth estimates the width of text in a sans-serif font of size px:
// wide enough for most labels, so that labels are cut before they spill.
func textWidth(text string, size float64) float64 {
	w := 0.0
	for _, r := range text {
		switch {
		case r == ' ' || r == '.' || r == ',' || r == ':' || r == 'i' || r == 'l' || r == 'j' || r == '|' || r == '\'':
			w += 0.3
		case r >= 'A' && r <= 'Z', r == 'm', r == 'w', r == 'M', r == 'W':
			w += 0.72
		case r > 0x2E80: // CJK and the like: full width
			w += 1
		default:
			w += 0.58
		}
	}
	return w * size
}

// fit cuts text with an ellipsis to fit width at size px; ok is false when
// it had to cut.
func fit(text string, size, width float64) (string, bool) {
	if textWidth(text, size) <= width {
		return text, true
	}
	r := []rune(text)
	for len(r) > 0 && textWidth(string(r)+"…", size) > width {
		r = r[:len(r)-1]
	}
	return string(r) + "…", false
}

// label writes text cut to width, with the full text as its tooltip when cut.
func (s *SVG) label(x, y, size float64, anchor, text, style string, width float64) {
	t, whole := fit(text, size, width)
	title := ""
	if !whole {
		title = text
	}
	s.text(x, y, size, anchor, t, title, style)
}

// niceStep is a round step (1, 2 or 5 times a power of ten) that cuts span
// into about n intervals.
func niceStep(span float64, n int) float64 {
	if span <= 0 || math.IsNaN(span) || math.IsInf(span, 0) {
		return 1
	}
	raw := span / float64(max(n, 1))
	mag := math.Pow(10, math.Floor(math.Log10(raw)))
	for _, m := range []float64{1, 2, 5, 10} {
		if m*mag >= raw {
			return m * mag
		}
	}
	return 10 * mag
}

// ticks returns round values from lo to hi (inclusive) about n apart, and
// the step between them.
func ticks(lo, hi float64, n int) ([]float64, float64) {
	step := niceStep(hi-lo, n)
	var out []float64
	for v := math.Ceil(lo/step-1e-9) * step; v <= hi+step*1e-9; v += step {
		out = append(out, math.Round(v/step)*step)
		if len(out) > 50 {
			break
		}
	}
	return out, step
}

// tickText formats a tick value with at most as many decimals as its step
// needs, so that no two ticks read the same.
func tickText(v, step float64) string {
	dec := 0
	if step < 1 {
		dec = int(math.Ceil(-math.Log10(step) - 1e-9))
	}
	if math.Abs(v) < step/1e6 {
		v = 0
	}
	p := math.Pow(10, float64(dec))
	return strconv.FormatFloat(math.Round(v*p)/p, 'f', -1, 64)
}

// timeTicks returns round virtual times from 0 to end, about n apart, with
// their labels in one unit picked from the step (s, ms or µs) and with as
// many decimals as the step needs: "0s 1s 2s", "0ms 250ms 500ms".
func timeTicks(end time.Duration, n int) ([]time.Duration, []string) {
	unit, name := float64(time.Second), "s"
	switch {
	case end < time.Millisecond:
		unit, name = float64(time.Microsecond), "µs"
	case end < time.Second:
		unit, name = float64(time.Millisecond), "ms"
	}
	vals, step := ticks(0, float64(end)/unit, n)
	out := make([]time.Duration, len(vals))
	labels := make([]string, len(vals))
	for i, v := range vals {
		out[i] = time.Duration(v * unit)
		labels[i] = tickText(v, step) + name
	}
	return out, labels
}

// legendItem is one entry of a legend: a swatch and its text.
type legendItem struct {
	color, text, dash string
	opacity           float64
}

// legend draws items in rows from (x, y), wrapping at width, and returns
// the height it took.
func (s *SVG) legend(items []legendItem, x, y, width float64) float64 {
	const size, row = 12.0, 18.0
	lx, ly := x, y
	for _, it := range items {
		w := 18 + math.Min(textWidth(it.text, size), width-18) + 16
		if lx > x && lx+w > x+width {
			lx, ly = x, ly+row
		}
		op := it.opacity
		if op == 0 {
			op = 1
		}
		if it.dash != "" {
			s.polyline([]Point{{lx, ly - 4}, {lx + 12, ly - 4}}, it.color, 3, it.dash)
		} else {
			s.rectStyled(lx, ly-10, 12, 12, it.color, "", "", op, "")
		}
		s.label(lx+16, ly, size, "start", it.text, "", width-18)
		lx += w
	}
	if len(items) == 0 {
		return 0
	}
	return ly - y + row
}

// isExpected reports whether a lane or series is the expected reference for
// the one drawn before it: its name is "expected" or starts with it.
func isExpected(name string) bool {
	return strings.HasPrefix(strings.ToLower(strings.TrimSpace(name)), "expected")
}

// Point is an (x, y) pair of data or drawing coordinates.
type Point struct{ X, Y float64 }

// Series is one named line of a LineChart.
type Series struct {
	Name   string
	Points []Point
}

// LineChart describes a chart of values over time (or any x), such as the
// request rate a limiter let through.
type LineChart struct {
	Title, XLabel, YLabel string
	Series                []Series
	// Steps draws each series as a step function (value holds until the
	// next point), right for counters and states.
	Steps bool
}

const (
	chartW, chartH = 640, 320
	padL, padR     = 64.0, 24.0
	padT           = 50.0
	padAxis        = 40.0 // below the plot: tick labels and the x label
)

// SVG renders the chart. Axes carry round ticks; a series named
// "expected..." is drawn dashed under the others, as the reference they are
// measured against; the legend wraps below the plot.
func (c LineChart) SVG() string {
	minX, maxX, minY, maxY := math.Inf(1), math.Inf(-1), 0.0, math.Inf(-1)
	for _, se := range c.Series {
		for _, p := range se.Points {
			minX, maxX = math.Min(minX, p.X), math.Max(maxX, p.X)
			minY, maxY = math.Min(minY, p.Y), math.Max(maxY, p.Y)
		}
	}
	empty := math.IsInf(minX, 1) // no series has a point
	if empty {
		minX, maxX, maxY = 0, 1, 1
	}
	if maxX == minX {
		maxX = minX + 1
	}
	if maxY <= minY {
		maxY = minY + 1
	}
	yStep := niceStep(maxY-minY, 4)
	minY, maxY = math.Floor(minY/yStep)*yStep, math.Ceil(maxY/yStep)*yStep // the axis ends on a tick
	yTicks, yStep := ticks(minY, maxY, 4)
	xTicks, xStep := ticks(minX, maxX, 5)
	plotW := float64(chartW) - padL - padR

	// The legend sits below the plot; measure it first to size the picture.
	var items []legendItem
	for i, se := range c.Series {
		it := legendItem{color: Palette[i%len(Palette)], text: se.Name}
		if isExpected(se.Name) {
			it.color, it.dash = "#555", "6 4"
		}
		items = append(items, it)
	}
	probe := NewSVG(chartW, chartH)
	legendH := probe.legend(items, padL, 0, plotW)
	plotH := float64(chartH) - padT - padAxis - 8
	s := NewSVG(chartW, int(padT+plotH+padAxis+legendH+12))
	s.label(chartW/2, 22, 15, "middle", c.Title, "", chartW-16)

	px := func(x float64) float64 { return padL + (x-minX)/(maxX-minX)*plotW }
	py := func(y float64) float64 { return padT + plotH - (y-minY)/(maxY-minY)*plotH }
	for _, y := range yTicks {
		s.Line(padL, py(y), padL+plotW, py(y), "#eee", 1)
		s.Text(padL-6, py(y)+4, 11, "end", tickText(y, yStep))
	}
	for _, x := range xTicks {
		s.Line(px(x), padT+plotH, px(x), padT+plotH+4, "#444", 1)
		s.Text(px(x), padT+plotH+16, 11, "middle", tickText(x, xStep))
	}
	s.Line(padL, padT+plotH, padL+plotW, padT+plotH, "#444", 1)
	s.Line(padL, padT, padL, padT+plotH, "#444", 1)
	s.label(padL+plotW/2, padT+plotH+33, 12, "middle", c.XLabel, "", plotW)
	s.label(padL-6, padT-12, 12, "start", c.YLabel, "", float64(chartW)-padL)

	shape := []string{"line", c.Title}
	draw := func(i int, se Series) {
		color, dash, width := Palette[i%len(Palette)], "", 2.0
		if isExpected(se.Name) {
			color, dash, width = "#555", "6 4", 3
		}
		var pts []Point
		for j, p := range se.Points {
			if c.Steps && j > 0 {
				pts = append(pts, Point{px(p.X), py(se.Points[j-1].Y)})
			}
			pts = append(pts, Point{px(p.X), py(p.Y)})
		}
		s.polyline(pts, color, width, dash)
		shape = append(shape, se.Name)
		for _, p := range se.Points {
			shape = append(shape, num((p.X-minX)/(maxX-minX)*100)+","+num((p.Y-minY)/(maxY-minY)*100))
		}
	}
	for i, se := range c.Series { // the reference first, underneath
		if isExpected(se.Name) {
			draw(i, se)
		}
	}
	for i, se := range c.Series {
		if !isExpected(se.Name) {
			draw(i, se)
		}
	}
	if empty {
		s.Text(padL+plotW/2, padT+plotH/2, 13, "middle", "nothing was recorded")
		shape = append(shape, "empty")
	}
	s.legend(items, padL, padT+plotH+padAxis+14, plotW)
	s.shape = digest(shape...)
	return s.String()
}

// Span is a stretch of time a lane spent in one state.
type Span struct {
	From, To time.Duration
	State    string
}

// Lane is one row of a Timeline, e.g. one node or one breaker.
type Lane struct {
	Name  string
	Spans []Span
}

// Timeline describes states over time, one lane per thing: a circuit
// breaker's closed/open/half-open, or which nodes were up, cut off or
// crashed.
type Timeline struct {
	Title string
	Lanes []Lane
	// Colors maps states to colours; states without one take the palette
	// in order of first appearance.
	Colors map[string]string
}

// SVG renders the timeline. A lane named "expected..." is the reference
// for the lane above it: drawn paler with a dashed outline, and wherever
// the two disagree a red band between them says so ("differs from
// expected"). The time axis has round ticks in one unit; the legend wraps.
func (t Timeline) SVG() string {
	const laneH, top, right, size = 26.0, 40.0, 24.0, 12.0
	var end time.Duration
	var states []string
	seen := map[string]bool{}
	longest := 0.0
	for _, l := range t.Lanes {
		longest = math.Max(longest, textWidth(l.Name, size))
		for _, sp := range l.Spans {
			end = max(end, sp.To)
			if !seen[sp.State] {
				seen[sp.State] = true
				states = append(states, sp.State)
			}
		}
	}
	if end <= 0 {
		end = time.Second
	}
	color := func(state string) string {
		if c, ok := t.Colors[state]; ok {
			return c
		}
		for i, st := range states {
			if st == state {
				return Palette[i%len(Palette)]
			}
		}
		return "#999"
	}
	left := math.Min(math.Max(longest+16, 60), 200)
	width := chartW - left - right
	px := func(d time.Duration) float64 { return left + float64(d)/float64(end)*width }

	// Where each expected lane and the lane above it disagree.
	type mismatch struct {
		lane      int // the actual lane; lane+1 is its expected lane
		from, to  time.Duration
		got, want string
	}
	var diffs []mismatch
	for i := 1; i < len(t.Lanes); i++ {
		if !isExpected(t.Lanes[i].Name) || isExpected(t.Lanes[i-1].Name) {
			continue
		}
		for _, d := range disagreements(t.Lanes[i-1].Spans, t.Lanes[i].Spans) {
			diffs = append(diffs, mismatch{i - 1, d.From, d.To, d.got, d.want})
		}
	}
	var items []legendItem
	for _, st := range states {
		items = append(items, legendItem{color: color(st), text: st})
	}
	if len(diffs) > 0 {
		items = append(items, legendItem{color: "#c0392b", text: "differs from expected"})
	}
	probe := NewSVG(chartW, 10)
	legendH := probe.legend(items, left, 0, width)
	lanesH := laneH * float64(len(t.Lanes))
	s := NewSVG(chartW, int(top+lanesH+36+legendH+8))
	s.label(chartW/2, 22, 15, "middle", t.Title, "", chartW-16)

	shape := []string{"timeline", t.Title}
	for i, l := range t.Lanes {
		y := top + float64(i)*laneH
		exp := isExpected(l.Name) && i > 0 && !isExpected(t.Lanes[i-1].Name)
		style, opacity, stroke, dash := "", 1.0, "", ""
		if exp {
			style, opacity, stroke, dash = "italic", 0.5, "#555", "4 3"
		}
		s.label(left-8, y+laneH/2+4, size, "end", l.Name, style, left-12)
		shape = append(shape, l.Name)
		for _, sp := range l.Spans {
			s.rectStyled(px(sp.From), y+3, px(sp.To)-px(sp.From), laneH-6, color(sp.State), stroke, dash, opacity,
				fmt.Sprintf("%s: %s from %s to %s", l.Name, sp.State, fmtDur(sp.From), fmtDur(sp.To)))
			shape = append(shape, sp.State, num(float64(sp.From)/float64(end)*100), num(float64(sp.To)/float64(end)*100))
		}
	}
	for _, d := range diffs {
		y := top + float64(d.lane+1)*laneH // the line between the lane and its expected lane
		s.rectStyled(px(d.from), y-3, math.Max(px(d.to)-px(d.from), 2), 6, "#c0392b", "", "", 1,
			fmt.Sprintf("%s differs from expected from %s to %s: %s, expected %s", t.Lanes[d.lane].Name, fmtDur(d.from), fmtDur(d.to), d.got, d.want))
	}
	axisY := top + lanesH + 4
	s.Line(left, axisY, left+width, axisY, "#444", 1)
	at, labels := timeTicks(end, 5)
	for i, d := range at {
		s.Line(px(d), axisY, px(d), axisY+4, "#444", 1)
		s.Text(px(d), axisY+16, 11, "middle", labels[i])
	}
	s.legend(items, left, axisY+36, width)
	s.shape = digest(shape...)
	return s.String()
}

// disagreement is a stretch of time when a lane's state is not the
// expected lane's.
type disagreement struct {
	From, To  time.Duration
	got, want string
}

// disagreements returns the stretches where got and want (spans in time
// order) name different states, or where only one of them says anything.
func disagreements(got, want []Span) []disagreement {
	cuts := map[time.Duration]bool{}
	for _, sp := range append(append([]Span(nil), got...), want...) {
		cuts[sp.From], cuts[sp.To] = true, true
	}
	var times []time.Duration
	for t := range cuts {
		times = append(times, t)
	}
	slices.Sort(times)
	at := func(spans []Span, t time.Duration) string {
		for _, sp := range spans {
			if sp.From <= t && t < sp.To {
				return sp.State
			}
		}
		return "nothing"
	}
	var out []disagreement
	for i := 0; i+1 < len(times); i++ {
		g, w := at(got, times[i]), at(want, times[i])
		if g == w {
			continue
		}
		if n := len(out); n > 0 && out[n-1].To == times[i] && out[n-1].got == g && out[n-1].want == w {
			out[n-1].To = times[i+1]
			continue
		}
		out = append(out, disagreement{times[i], times[i+1], g, w})
	}
	return out
}

// RingNode is a node's token on a consistent-hashing ring, at Pos in [0, 1).
type RingNode struct {
	Pos  float64
	Node string
}

// RingKey is a key placed on the ring, with the node that owns it.
type RingKey struct {
	Pos   float64
	Label string
	Owner string
}

// Ring describes ring ownership: each token owns the arc from the previous
// token (exclusive) clockwise up to itself (inclusive).
type Ring struct {
	Title  string
	Tokens []RingNode
	Keys   []RingKey
}

// SVG renders the ring.
func (r Ring) SVG() string {
	const size, cx, cy, rad = 420, 210.0, 225.0, 150.0
	s := NewSVG(size+180, size+30)
	s.label(float64(size+180)/2, 22, 15, "middle", r.Title, "", size+160)
	owners := map[string]string{}
	var names []string
	for _, t := range r.Tokens {
		if _, ok := owners[t.Node]; !ok {
			owners[t.Node] = Palette[len(owners)%len(Palette)]
			names = append(names, t.Node)
		}
	}
	at := func(pos, rr float64) (float64, float64) {
		a := 2*math.Pi*pos - math.Pi/2
		return cx + rr*math.Cos(a), cy + rr*math.Sin(a)
	}
	toks := append([]RingNode(nil), r.Tokens...)
	sortRing(toks)
	s.Circle(cx, cy, rad, "none", "#ddd", "")
	for i, t := range toks {
		prev := toks[(i+len(toks)-1)%len(toks)].Pos
		span := t.Pos - prev
		if span <= 0 {
			span += 1
		}
		x1, y1 := at(prev, rad)
		x2, y2 := at(t.Pos, rad)
		large := 0
		if span > 0.5 {
			large = 1
		}
		if len(toks) == 1 {
			s.Circle(cx, cy, rad, "none", owners[t.Node], t.Node)
			continue
		}
		s.Path(fmt.Sprintf("M %s %s A %s %s 0 %d 1 %s %s", num(x1), num(y1), num(rad), num(rad), large, num(x2), num(y2)),
			"none", owners[t.Node], 14, fmt.Sprintf("%s owns (%.4f, %.4f]", t.Node, prev, t.Pos))
	}
	for _, t := range toks {
		x, y := at(t.Pos, rad)
		s.Circle(x, y, 5, "#fff", "#222", fmt.Sprintf("%s token at %.4f", t.Node, t.Pos))
	}
	for _, k := range r.Keys {
		x, y := at(k.Pos, rad-24)
		c := owners[k.Owner]
		if c == "" {
			c = "#999"
		}
		s.Circle(x, y, 4, c, "none", fmt.Sprintf("%s at %.4f owned by %s", k.Label, k.Pos, k.Owner))
		lx, ly := at(k.Pos, rad-40)
		s.Text(lx, ly+4, 10, "middle", k.Label)
	}
	for i, n := range names {
		y := 50 + float64(i)*18
		s.Rect(size, y-10, 12, 12, owners[n], "")
		s.label(size+18, y, 12, "start", n, "", 156)
	}
	return s.String()
}

func sortRing(t []RingNode) {
	for i := 1; i < len(t); i++ {
		for j := i; j > 0 && (t[j].Pos < t[j-1].Pos || (t[j].Pos == t[j-1].Pos && t[j].Node < t[j-1].Node)); j-- {
			t[j], t[j-1] = t[j-1], t[j]
		}
	}
}

// Attachment markers: Attach prints an SVG between these lines in the test
// output, and ParseAttachments finds it there.
const (
	svgBegin = "--- labkit:svg name="
	svgEnd   = "--- labkit:end"
)

// MaxAttachmentBytes is the largest SVG Attach will print.
const MaxAttachmentBytes = 256 << 10

var attachName = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,63}\.svg$`)

// Attach logs an SVG picture with the test's output, framed by marker lines
// so the grader can show it with the result:
//
//	--- labkit:svg name=ring.svg
//	<svg ...>...</svg>
//	--- labkit:end
//
// name must look like "ring.svg" (letters, digits, '.', '_', '-'). A bad
// name or an oversized picture is logged as a note instead.
func Attach(tb testing.TB, name, svg string) {
	tb.Helper()
	if !attachName.MatchString(name) {
		tb.Logf("labkit: attachment name %q is not allowed (want something like ring.svg)", name)
		return
	}
	if len(svg) > MaxAttachmentBytes {
		tb.Logf("labkit: attachment %s is %d bytes, over the %d limit", name, len(svg), MaxAttachmentBytes)
		return
	}
	svg = strings.NewReplacer("\r\n", " ", "\n", " ", "\r", " ").Replace(svg)
	tb.Log("\n" + svgBegin + name + "\n" + svg + "\n" + svgEnd)
}

// Attachment is an SVG found in test output.
type Attachment struct {
	Name string
	SVG  string
}

// ParseAttachments returns the SVGs that Attach printed into output (plain
// or test2json Output text joined together), in order. Lines may carry the
// indentation go test adds to logs.
func ParseAttachments(output string) []Attachment {
	var out []Attachment
	var cur *Attachment
	var body []string
	for _, line := range strings.Split(output, "\n") {
		l := strings.TrimSpace(line)
		switch {
		case cur == nil && strings.HasPrefix(l, svgBegin):
			name := strings.TrimPrefix(l, svgBegin)
			if attachName.MatchString(name) {
				cur, body = &Attachment{Name: name}, nil
			}
		case cur != nil && l == svgEnd:
			cur.SVG = strings.Join(body, "\n")
			out = append(out, *cur)
			cur = nil
		case cur != nil:
			body = append(body, l)
		}
	}
	return out
}

// RateSeries turns event times into a rate-over-time series: the number of
// events in each window, per second, plotted at the window's start (in
// seconds). Use it to chart what a rate limiter let through.
func RateSeries(name string, at []time.Duration, window time.Duration) Series {
	if window <= 0 {
		window = time.Second
	}
	counts := map[int64]int{}
	var last int64
	for _, t := range at {
		b := int64(t / window)
		counts[b]++
		last = max(last, b)
	}
	s := Series{Name: name}
	if len(at) == 0 {
		return s
	}
	for b := int64(0); b <= last; b++ {
		s.Points = append(s.Points, Point{
			X: (time.Duration(b) * window).Seconds(),
			Y: float64(counts[b]) / window.Seconds(),
		})
	}
	return s
}

// Change is a state something entered at a time, e.g. a breaker opening.
type Change struct {
	At    time.Duration
	State string
}

// SpansFromChanges turns state changes (in time order) into Timeline spans,
// the last one lasting until end.
func SpansFromChanges(changes []Change, end time.Duration) []Span {
	var spans []Span
	for i, c := range changes {
		to := end
		if i+1 < len(changes) {
			to = changes[i+1].At
		}
		if to > c.At {
			spans = append(spans, Span{From: c.At, To: to, State: c.State})
		}
	}
	return spans
}

// ---- Run traces ----
//
// When a property breaks (Failf), a run graded by Faultline also attaches
// its trace as JSON between marker lines, for the trace explorer to draw as
// a space-time diagram:
//
//	--- labkit:trace name=trace.json
//	{"v":1,"test":"TestX/seed=42","seed":42,"property":"...","detail":"...","at":1250000,"total":812,
//	 "nodes":["n1","n2","c1"],"events":[[1250000,"deliver",0,1,"#17"], ...]}
//	--- labkit:end
//
// Times are virtual microseconds; an event is [at, kind, node, peer,
// detail] with node and peer indexes into nodes (-1: none). A delivery's
// detail is just its message number (the send names the message). Only the
// last events of the run that fit in MaxTraceBytes are kept, and a test
// binary attaches at most maxProcessTraces traces, one per top-level test
// (the first failing run, the one Replay runs again), so that traces never
// crowd the output out. It happens only when TraceEnv is set (the grader
// sets it; a learner's own `go test` prints no JSON).

// TraceEnv, set to any value, makes failing runs attach their trace.
const TraceEnv = "LABKIT_TRACE"

// MaxTraceBytes is the most a trace attachment takes of the test output.
const MaxTraceBytes = 48 << 10

const (
	traceBegin       = "--- labkit:trace name="
	maxProcessTraces = 3
)

var traced struct {
	sync.Mutex
	n     int
	tests map[string]bool
}

// attachTrace attaches the run's trace to tb's output, if TraceEnv is set
// and this is the first failure of its top-level test within the limits.
func (s *Sim) attachTrace(tb testing.TB, property, detail string) {
	if os.Getenv(TraceEnv) == "" {
		return
	}
	name := tb.Name()
	top, _, _ := strings.Cut(name, "/")
	traced.Lock()
	if traced.tests == nil {
		traced.tests = map[string]bool{}
	}
	if traced.n >= maxProcessTraces || traced.tests[top] {
		traced.Unlock()
		return
	}
	traced.n++
	traced.tests[top] = true
	traced.Unlock()
	doc := encodeTrace(name, s.seed, property, detail, s.Elapsed(), s.trace.Total(), s.trace.Events(), MaxTraceBytes)
	tb.Log("\n" + traceBegin + "trace.json\n" + doc + "\n" + svgEnd)
}

// encodeTrace writes a run's trace as one line of JSON of at most max
// bytes, keeping the last events that fit.
func encodeTrace(test string, seed int64, property, detail string, at time.Duration, total int, events []TraceEvent, limit int) string {
	cut := func(s string, n int) string {
		if r := []rune(s); len(r) > n {
			return string(r[:n-1]) + "…"
		}
		return s
	}
	property, detail = cut(property, 300), cut(detail, 2000)
	head := map[string]any{
		"v": 1, "test": test, "seed": seed, "property": property, "detail": detail,
		"at": at.Microseconds(), "total": total,
	}
	detailOf := func(e TraceEvent) string {
		d := e.Detail
		if e.Kind == KindDeliver {
			d, _, _ = strings.Cut(d, " ") // "#17": the send names the message
		}
		return cut(d, 200)
	}
	// The last events that fit: each costs its encoding with node indexes
	// of up to three digits; the head and the node names take their share
	// first (a generous estimate).
	budget := limit - 600 - 2*len(property) - 2*len(detail) // escaping may double them
	start, size := len(events), 0
	names := map[string]bool{}
	for start > 0 {
		e := events[start-1]
		b, _ := json.Marshal([]any{e.At.Microseconds(), e.Kind, 999, 999, detailOf(e)})
		n := len(b) + 1
		for _, name := range []string{e.Node, e.Peer} {
			if name != "" && !names[name] {
				n += len(name) + 4
			}
		}
		if size+n > budget {
			break
		}
		size += n
		names[e.Node], names[e.Peer] = true, true
		start--
	}
	window := events[start:]
	index := map[string]int{}
	nodes := []string{}
	node := func(n string) int {
		if n == "" {
			return -1
		}
		if i, ok := index[n]; ok {
			return i
		}
		index[n] = len(nodes)
		nodes = append(nodes, n)
		return index[n]
	}
	enc := make([]json.RawMessage, 0, len(window))
	for _, e := range window {
		b, _ := json.Marshal([]any{e.At.Microseconds(), e.Kind, node(e.Node), node(e.Peer), detailOf(e)})
		enc = append(enc, b)
	}
	head["nodes"] = nodes
	head["events"] = enc
	doc, _ := json.Marshal(head)
	return string(doc)
}
