package labkit_test

import (
	"encoding/xml"
	"errors"
	"io"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/faultline-dev/faultline/labs/labkit"
)

// wellFormed parses doc as XML and returns its character data.
func wellFormed(t *testing.T, doc string) string {
	t.Helper()
	d := xml.NewDecoder(strings.NewReader(doc))
	var text strings.Builder
	root := ""
	for {
		tok, err := d.Token()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("SVG is not well-formed XML: %v\n%s", err, doc)
		}
		switch tok := tok.(type) {
		case xml.StartElement:
			if root == "" {
				root = tok.Name.Local
			}
		case xml.CharData:
			text.Write(tok)
		}
	}
	if root != "svg" {
		t.Fatalf("root element is %q", root)
	}
	return text.String()
}

const nasty = `<script>alert("x")</script> & 'q' ]]>`

func TestChartsAreWellFormedAndEscaped(t *testing.T) {
	docs := map[string]string{
		"line": labkit.LineChart{
			Title: nasty, XLabel: "time (s)", YLabel: "req/s",
			Series: []labkit.Series{{Name: nasty, Points: []labkit.Point{{0, 1}, {1, 5}, {2, 3}}}, {Name: "empty"}},
			Steps:  true,
		}.SVG(),
		"empty line": labkit.LineChart{Title: "nothing"}.SVG(),
		"timeline": labkit.Timeline{Title: "breaker", Lanes: []labkit.Lane{
			{Name: nasty, Spans: []labkit.Span{{From: 0, To: time.Second, State: "closed"}, {From: time.Second, To: 2 * time.Second, State: nasty}}},
		}}.SVG(),
		"ring": labkit.Ring{Title: nasty,
			Tokens: []labkit.RingNode{{Pos: 0.1, Node: "a"}, {Pos: 0.5, Node: nasty}, {Pos: 0.8, Node: "a"}},
			Keys:   []labkit.RingKey{{Pos: 0.3, Label: nasty, Owner: nasty}},
		}.SVG(),
		"ring of one": labkit.Ring{Title: "one", Tokens: []labkit.RingNode{{Pos: 0.2, Node: "a"}}}.SVG(),
	}
	for name, doc := range docs {
		text := wellFormed(t, doc)
		if strings.Contains(doc, "<script") {
			t.Errorf("%s: raw markup from a label reached the SVG", name)
		}
		if strings.Contains(doc, "\n") {
			t.Errorf("%s: SVG spans lines", name)
		}
		if strings.Contains(doc, "NaN") || strings.Contains(doc, "Inf") {
			t.Errorf("%s: non-finite coordinate", name)
		}
		if name != "empty line" && name != "ring of one" && !strings.Contains(text, nasty) {
			t.Errorf("%s: label text not preserved through escaping", name)
		}
	}
}

func TestAttachRoundTrip(t *testing.T) {
	tb := &fakeTB{name: "TestRing"}
	svg := labkit.Ring{Title: "ring <1>", Tokens: []labkit.RingNode{{Pos: 0.1, Node: "a"}, {Pos: 0.6, Node: "b"}}}.SVG()
	labkit.Attach(tb, "ring.svg", svg)
	labkit.Attach(tb, "../etc/passwd", svg)
	labkit.Attach(tb, "big.svg", strings.Repeat("x", labkit.MaxAttachmentBytes+1))
	// Simulate go test's log indentation.
	out := "=== RUN   TestRing\n"
	for _, l := range tb.logs {
		out += "    x_test.go:1: " + strings.ReplaceAll(l, "\n", "\n        ") + "\n"
	}
	atts := labkit.ParseAttachments(out)
	if len(atts) != 1 || atts[0].Name != "ring.svg" || atts[0].SVG != svg {
		t.Fatalf("ParseAttachments = %+v\nfrom %s", atts, out)
	}
	if !strings.Contains(out, "not allowed") || !strings.Contains(out, "over the") {
		t.Fatalf("bad name or size not reported:\n%s", out)
	}
	if got := labkit.ParseAttachments("--- labkit:svg name=a.svg\n<svg/>\n"); len(got) != 0 {
		t.Fatalf("unterminated attachment returned: %v", got)
	}
}

func TestSVGBuilderEscapesAttributes(t *testing.T) {
	s := labkit.NewSVG(10, 10)
	s.Rect(0, 0, 5, 5, `red" onload="x`, `t"<>`)
	s.Path(`M 0 0 L 5 5`, "none", "#000", 1, "")
	s.Line(0, 0, 1, 1, "#000", 1)
	s.Circle(1, 1, 1, "none", "#000", "")
	s.Polyline([]labkit.Point{{0, 0}, {1, 1}}, "#000", 1)
	s.Text(1, 1, 10, "start", "a\nb")
	doc := s.String()
	wellFormed(t, doc)
	if strings.Contains(doc, `" onload="`) {
		t.Fatalf("attribute injection: %s", doc)
	}
}

func TestRateSeriesAndSpans(t *testing.T) {
	ms := time.Millisecond
	s := labkit.RateSeries("allowed", []time.Duration{0, 100 * ms, 900 * ms, 2500 * ms}, time.Second)
	want := []labkit.Point{{0, 3}, {1, 0}, {2, 1}}
	if len(s.Points) != 3 || s.Points[0] != want[0] || s.Points[1] != want[1] || s.Points[2] != want[2] {
		t.Fatalf("RateSeries = %v", s.Points)
	}
	spans := labkit.SpansFromChanges([]labkit.Change{{0, "closed"}, {time.Second, "open"}, {time.Second, "half-open"}, {3 * time.Second, "closed"}}, 4*time.Second)
	if len(spans) != 3 || spans[1] != (labkit.Span{From: time.Second, To: 3 * time.Second, State: "half-open"}) || spans[2].To != 4*time.Second {
		t.Fatalf("SpansFromChanges = %v", spans)
	}
}

// svgTexts returns the text elements of doc with their x, anchor, text and
// tooltip, and the root's width and data-shape.
type svgText struct {
	X, Y          float64
	Anchor, Text  string
	Title, Italic string
}

func parseSVG(t *testing.T, doc string) (texts []svgText, width float64, shape string) {
	t.Helper()
	d := xml.NewDecoder(strings.NewReader(doc))
	var cur *svgText
	inTitle := false
	for {
		tok, err := d.Token()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("SVG is not well-formed XML: %v", err)
		}
		switch tok := tok.(type) {
		case xml.StartElement:
			a := map[string]string{}
			for _, at := range tok.Attr {
				a[at.Name.Local] = at.Value
			}
			switch tok.Name.Local {
			case "svg":
				width, _ = strconv.ParseFloat(a["width"], 64)
				shape = a["data-shape"]
			case "text":
				x, _ := strconv.ParseFloat(a["x"], 64)
				y, _ := strconv.ParseFloat(a["y"], 64)
				cur = &svgText{X: x, Y: y, Anchor: a["text-anchor"], Italic: a["font-style"]}
			case "title":
				inTitle = true
			}
		case xml.CharData:
			if cur != nil && inTitle {
				cur.Title += string(tok)
			} else if cur != nil {
				cur.Text += string(tok)
			}
		case xml.EndElement:
			switch tok.Name.Local {
			case "title":
				inTitle = false
			case "text":
				texts = append(texts, *cur)
				cur = nil
			}
		}
	}
	return texts, width, shape
}

func labels(texts []svgText) []string {
	var out []string
	for _, x := range texts {
		out = append(out, x.Text)
	}
	return out
}

// The time axis reads in round steps of one unit, never the same label
// twice: a 4 ms run once read "0s 0s 1ms 1ms 1ms".
func TestTimelineAxisIsReadable(t *testing.T) {
	ms := time.Millisecond
	for _, c := range []struct {
		end  time.Duration
		want []string
	}{
		{4 * ms, []string{"0ms", "1ms", "2ms", "3ms", "4ms"}},
		{4204 * ms, []string{"0s", "1s", "2s", "3s", "4s"}},
		{2500 * time.Microsecond, []string{"0ms", "0.5ms", "1ms", "1.5ms", "2ms", "2.5ms"}},
		{700 * time.Microsecond, []string{"0µs", "200µs", "400µs", "600µs"}},
		{90 * time.Second, []string{"0s", "20s", "40s", "60s", "80s"}},
	} {
		doc := labkit.Timeline{Title: "t", Lanes: []labkit.Lane{{Name: "n1", Spans: []labkit.Span{{From: 0, To: c.end, State: "up"}}}}}.SVG()
		texts, _, _ := parseSVG(t, doc)
		var got []string
		for _, x := range texts {
			if strings.HasSuffix(x.Text, "s") && x.Anchor == "middle" && x.Text != "t" {
				got = append(got, x.Text)
			}
		}
		if strings.Join(got, " ") != strings.Join(c.want, " ") {
			t.Errorf("run of %s: axis %q, want %q", c.end, got, c.want)
		}
	}
}

func TestLineChartTicksAreRound(t *testing.T) {
	doc := labkit.LineChart{Title: "rate", XLabel: "virtual time (s)", YLabel: "requests/s",
		Series: []labkit.Series{{Name: "admitted", Points: []labkit.Point{{0, 3}, {4.204, 17}}}}}.SVG()
	texts, _, _ := parseSVG(t, doc)
	got := strings.Join(labels(texts), " ")
	for _, want := range []string{"0 1 2 3 4", "0 5 10 15 20"} {
		if !strings.Contains(got, want) {
			t.Errorf("chart labels %q lack the round ticks %q", got, want)
		}
	}
	if strings.Contains(got, "1.051") {
		t.Errorf("chart ticks are not round: %q", got)
	}
}

// An expected lane sits under the lane it is the reference for, drawn apart,
// and where they disagree the picture says so.
func TestTimelineShowsExpectedAgainstActual(t *testing.T) {
	s := time.Second
	lanes := []labkit.Lane{
		{Name: "breaker", Spans: []labkit.Span{{0, 2 * s, "closed"}, {2 * s, 4 * s, "open"}}},
		{Name: "expected", Spans: []labkit.Span{{0, 1 * s, "closed"}, {1 * s, 4 * s, "open"}}},
	}
	doc := labkit.Timeline{Title: "breaker", Lanes: lanes}.SVG()
	texts, _, _ := parseSVG(t, doc)
	italic := false
	for _, x := range texts {
		italic = italic || (x.Text == "expected" && x.Italic == "italic")
	}
	if !italic {
		t.Error("the expected lane's label is not set apart")
	}
	if !strings.Contains(doc, "breaker differs from expected from 1.000000s to 2.000000s: closed, expected open") {
		t.Errorf("the disagreement is not marked:\n%s", doc)
	}
	if !strings.Contains(strings.Join(labels(texts), "|"), "differs from expected") {
		t.Error("the legend does not explain the red band")
	}
	same := labkit.Timeline{Title: "breaker", Lanes: []labkit.Lane{lanes[0], {Name: "expected", Spans: lanes[0].Spans}}}.SVG()
	if strings.Contains(same, "differs from expected") {
		t.Error("a lane that matches its expected lane is marked as differing")
	}
}

func TestLineChartDrawsExpectedDashed(t *testing.T) {
	doc := labkit.LineChart{Title: "rate", Series: []labkit.Series{
		{Name: "admitted", Points: []labkit.Point{{0, 1}, {1, 2}}},
		{Name: "expected", Points: []labkit.Point{{0, 1}, {1, 1}}},
	}}.SVG()
	if strings.Count(doc, `stroke-dasharray="6 4"`) != 2 { // the line and its legend swatch
		t.Errorf("the expected series is not dashed:\n%s", doc)
	}
	if strings.Index(doc, `stroke-dasharray="6 4"`) > strings.Index(doc, `stroke="`+labkit.Palette[0]+`"`) {
		t.Error("the expected series is drawn over the actual one")
	}
}

// A chart none of whose series has a point says so, rather than showing
// empty axes that look like a plot of nothing happening.
func TestLineChartWithoutPointsSaysSo(t *testing.T) {
	doc := labkit.LineChart{Title: "reads", Series: []labkit.Series{{Name: "r"}, {Name: "f1"}}}.SVG()
	if !strings.Contains(doc, ">nothing was recorded</text>") {
		t.Errorf("an empty chart does not say it is empty:\n%s", doc)
	}
	doc = labkit.LineChart{Title: "reads", Series: []labkit.Series{{Name: "r", Points: []labkit.Point{{0, 0}, {1, 0}}}}}.SVG()
	if strings.Contains(doc, "nothing was recorded") {
		t.Errorf("a chart with points says nothing was recorded:\n%s", doc)
	}
}

// Pictures that show the same thing at another scale carry the same
// data-shape, so a page can show them once; different ones differ.
func TestPicturesOfTheSameShapeShareADigest(t *testing.T) {
	s := time.Second
	one := func(end time.Duration, state string) string {
		return labkit.Timeline{Title: "breaker", Lanes: []labkit.Lane{{Name: "breaker", Spans: []labkit.Span{{0, end, state}}}}}.SVG()
	}
	_, _, a := parseSVG(t, one(2*s, "closed"))
	_, _, b := parseSVG(t, one(7*s, "closed"))
	_, _, c := parseSVG(t, one(2*s, "open"))
	if a == "" || a != b {
		t.Errorf("a breaker closed all along for 2 s and for 7 s: shapes %q and %q, want equal", a, b)
	}
	if a == c {
		t.Error("closed all along and open all along share a shape")
	}
}

// Long lane names, titles and legend entries are cut to fit, with the full
// text as a tooltip; nothing is written past the picture's right edge.
func TestLongLabelsStayInside(t *testing.T) {
	long := strings.Repeat("TestHalfOpenLimitsConcurrentTrials", 3)
	doc := labkit.Timeline{Title: long, Lanes: []labkit.Lane{
		{Name: long, Spans: []labkit.Span{{0, time.Second, long + " one"}, {time.Second, 2 * time.Second, long + " two"}}},
	}}.SVG()
	texts, width, _ := parseSVG(t, doc)
	cut := 0
	for _, x := range texts {
		if strings.HasSuffix(x.Text, "…") {
			cut++
			if !strings.HasPrefix(long+" one"+long+" two", strings.TrimSuffix(x.Text, "…")[:10]) || x.Title == "" {
				t.Errorf("cut label %q has no tooltip with the whole text", x.Text)
			}
		}
		if x.X < 0 || x.X > width {
			t.Errorf("label %q at x=%v outside a picture %v wide", x.Text, x.X, width)
		}
		if x.Anchor == "start" && x.X+float64(len([]rune(x.Text)))*4 > width {
			t.Errorf("label %q starting at %v runs past the right edge %v", x.Text, x.X, width)
		}
	}
	if cut < 3 {
		t.Errorf("%d labels cut; the title, the lane name and the legend entries are all too long", cut)
	}
}
