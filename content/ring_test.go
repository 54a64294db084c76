package content_test

import (
	"encoding/xml"
	"fmt"
	"math"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/faultline-dev/faultline"
	"github.com/faultline-dev/faultline/content"
)

// ringSVG renders a ```ring block and returns the stored SVG.
func ringSVG(t *testing.T, src, caption string) string {
	t.Helper()
	html, doc := MustRender(t, "```ring "+caption+"\n"+src+"```\n")
	img := doc.Find("figure.diagram img")
	if img.Length() != 1 {
		t.Fatalf("want one figure with an image, got:\n%s", html)
	}
	if alt, _ := img.Attr("alt"); alt != caption {
		t.Errorf("alt = %q, want %q", alt, caption)
	}
	src2, _ := img.Attr("src")
	svg, ok := content.Diagram(strings.TrimPrefix(src2, content.DiagramPrefix))
	if !ok {
		t.Fatalf("ring %q not stored", src2)
	}
	MustWellFormedSVG(t, svg)
	return string(svg)
}

// arrowPath matches a key's dashed arrow and captures where it ends.
var arrowPath = regexp.MustCompile(`<path d="M [-\d.]+,[-\d.]+ A [\d.]+,[\d.]+ 0 \d,1 ([-\d.]+),([-\d.]+)" fill="none" stroke="currentColor" stroke-dasharray`)

func TestRenderRing(t *testing.T) {
	svg := ringSVG(t, "top 0 = 2^64\nnode 40 A\nnode 150 B\ndown 250 C\nnew 215 D\n# a comment\n\nkey 90 k1\nkey 200 k2\nkey 320 k3\narc 150 200 moves <here>\ncenter the ring\n", "Keys & nodes")
	count := func(re string) int { return len(regexp.MustCompile(re).FindAllString(svg, -1)) }
	if n := count(`<circle [^>]*r="6" fill="currentColor"`); n != 2 {
		t.Errorf("%d filled node dots, want 2 (A, B)", n)
	}
	if n := count(`<circle [^>]*r="6" fill="#fff"`); n != 1 {
		t.Errorf("%d hollow node dots, want 1 (D, joining)", n)
	}
	if n := count(`<circle [^>]*r="4" fill="#fff"`); n != 3 {
		t.Errorf("%d key dots, want 3", n)
	}
	for _, want := range []string{">0 = 2^64</text>", ">A</text>", ">k3</text>", ">moves &lt;here&gt;</text>", ">the ring</text>", "stroke-width=\"5\"", "prefers-color-scheme: dark"} {
		if !strings.Contains(svg, want) {
			t.Errorf("SVG lacks %q", want)
		}
	}
	// Each key's arrow ends just before the next node clockwise, whatever
	// its state: k1 (90) at B (150), k2 (200) at D (215, just joined), k3
	// (320) wrapping past the top to A (40).
	var ends []float64
	for _, m := range arrowPath.FindAllStringSubmatch(svg, -1) {
		x, _ := strconv.ParseFloat(m[1], 64)
		y, _ := strconv.ParseFloat(m[2], 64)
		ends = append(ends, math.Mod(math.Atan2(x, -y)*180/math.Pi+360, 360))
	}
	want := []float64{146, 211, 36}
	if len(ends) != len(want) {
		t.Fatalf("%d arrows (%v), want %d", len(ends), ends, len(want))
	}
	for i := range want {
		if math.Abs(ends[i]-want[i]) > 0.5 {
			t.Errorf("arrow %d ends at %.1f degrees, want %.0f (just before its owner)", i+1, ends[i], want[i])
		}
	}
	// The view box holds every label: nothing is drawn outside it.
	var root struct {
		ViewBox string `xml:"viewBox,attr"`
	}
	if err := xml.Unmarshal([]byte(svg), &root); err != nil {
		t.Fatal(err)
	}
	var minX, minY, w, h float64
	if _, err := fmt.Sscan(root.ViewBox, &minX, &minY, &w, &h); err != nil || -minX < 96+12+8 || w < 2*96 {
		t.Errorf("viewBox %q does not hold the ring and its labels", root.ViewBox)
	}
}

func TestRingErrors(t *testing.T) {
	tests := []struct{ src, want string }{
		{"key 10 k\n", "the ring has no node"},
		{"node 10 A\nspoke 20 B\n", `line 2 of the ring: unknown "spoke"`},
		{"node 360 A\n", `line 1 of the ring: "360" is not an angle`},
		{"node -5 A\n", `"-5" is not an angle`},
		{"node 10\n", "line 1 of the ring: node needs an angle and a label"},
		{"node 10 A\narc 20\n", "line 2 of the ring: arc needs a start angle"},
		{"node 10 A\ncenter\n", "line 2 of the ring: center needs a label"},
	}
	for _, tt := range tests {
		_, err := content.Render([]byte("```ring\n" + tt.src + "```\n"))
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("ring %q: err = %v, want %q", tt.src, err, tt.want)
		}
	}
	// At load, the problem names the page and line.
	fsys := validFS()
	fsys["lessons/e-ring.md"] = &fstest.MapFile{Data: []byte("---\ntitle: T\nslug: e-ring\nmodule: Foundations\norder: 3\nsummary: s\n---\n\n```ring\nnode 400 A\n```\n\n" + testQuiz)}
	_, err := content.Load(fsys)
	if msg := faultline.ErrorMessage(err); !strings.Contains(msg, `lessons/e-ring.md:10: ring: line 1 of the ring: "400" is not an angle`) {
		t.Errorf("Load: %v", msg)
	}
}
