package labkit_test

import (
	"encoding/xml"
	"errors"
	"io"
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
