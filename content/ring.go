package content

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"html"
	"math"
	"sort"
	"strconv"
	"strings"
)

// Rings are ```ring blocks: a hash ring drawn as a circle, which ASCII art
// cannot do well. Each line places one thing on the ring, at an angle in
// degrees clockwise from the top (0 up to 360):
//
//	node 40 A          a node's point: a filled dot, labelled outside
//	down 110 B         a node that is down: a cross
//	new 150 D          a node that has just joined: a hollow dot
//	key 90 k1          a key: a small hollow dot, with an arrow inside the
//	                   ring to the next node clockwise of any kind (its
//	                   owner), so the picture cannot contradict the rule
//	arc 110 150 moves  a stretch of the ring drawn thick, labelled outside
//	top 0 = 2^64       a tick at the top with a label
//	center text        a line of text in the middle (several allowed)
//
// Blank lines and lines starting with # are ignored. The words after
// "ring" in the info string are the caption, as for diagrams.

// ringItem is one line of a ring block.
type ringItem struct {
	kind   string // node, down, new, key, arc, top, center
	angle  float64
	angle2 float64 // end of an arc
	label  string
}

// parseRing parses the lines of a ```ring block.
func parseRing(src string) ([]ringItem, error) {
	var items []ringItem
	nodes := 0
	for i, line := range strings.Split(src, "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		kind, rest, _ := strings.Cut(line, " ")
		rest = strings.TrimSpace(rest)
		bad := func(format string, args ...any) error {
			return fmt.Errorf("line %d of the ring: %s", i+1, fmt.Sprintf(format, args...))
		}
		angle := func(s string) (float64, error) {
			a, err := strconv.ParseFloat(s, 64)
			if err != nil || a < 0 || a >= 360 {
				return 0, bad("%q is not an angle in degrees from 0 up to 360", s)
			}
			return a, nil
		}
		it := ringItem{kind: kind}
		switch kind {
		case "node", "down", "new", "key":
			a, label, _ := strings.Cut(rest, " ")
			var err error
			if it.angle, err = angle(a); err != nil {
				return nil, err
			}
			if it.label = strings.TrimSpace(label); it.label == "" {
				return nil, bad("%s needs an angle and a label", kind)
			}
			if kind != "key" {
				nodes++
			}
		case "arc":
			f := strings.SplitN(rest, " ", 3)
			if len(f) < 2 {
				return nil, bad("arc needs a start angle, an end angle and an optional label")
			}
			var err error
			if it.angle, err = angle(f[0]); err != nil {
				return nil, err
			}
			if it.angle2, err = angle(f[1]); err != nil {
				return nil, err
			}
			if len(f) == 3 {
				it.label = strings.TrimSpace(f[2])
			}
		case "top", "center":
			if rest == "" {
				return nil, bad("%s needs a label", kind)
			}
			it.label = rest
		default:
			return nil, bad("unknown %q (known: node, down, new, key, arc, top, center)", kind)
		}
		items = append(items, it)
	}
	if nodes == 0 {
		return nil, errors.New("the ring has no node (a line such as: node 40 A)")
	}
	return items, nil
}

// Ring geometry, in SVG pixels.
const (
	ringRadius   = 96
	ringFontSize = 13
	ringCharW    = 7.9 // width of one character of the monospace font
)

// renderRingSVG renders a ring block to a standalone SVG document, stores it
// like a diagram and returns its name and size.
func renderRingSVG(src string) (renderedDiagram, error) {
	items, err := parseRing(src)
	if err != nil {
		return renderedDiagram{}, err
	}
	var body bytes.Buffer
	var box bounds
	pt := func(angle, r float64) (float64, float64) {
		rad := angle * math.Pi / 180
		return r * math.Sin(rad), -r * math.Cos(rad)
	}
	// label writes text outside (or inside, for negative offsets) the ring at
	// an angle, anchored away from the circle.
	label := func(angle, r float64, text string, bold bool) {
		x, y := pt(angle, r)
		s, c := math.Sin(angle*math.Pi/180), math.Cos(angle*math.Pi/180)
		anchor, w := "middle", float64(len([]rune(text)))*ringCharW
		left := x - w/2
		switch {
		case s > 0.25:
			anchor, left = "start", x
		case s < -0.25:
			anchor, left = "end", x-w
		}
		baseline := y + ringFontSize*0.35
		if c < -0.6 { // below the centre: hang the text under the point
			baseline = y + ringFontSize*0.9
		} else if c > 0.6 {
			baseline = y - ringFontSize*0.2
		}
		weight := ""
		if bold {
			weight = ` font-weight="bold"`
		}
		fmt.Fprintf(&body, `<text x="%.1f" y="%.1f" text-anchor="%s"%s fill="currentColor">%s</text>`+"\n", x, baseline, anchor, weight, html.EscapeString(text))
		box.add(left, baseline-ringFontSize)
		box.add(left+w, baseline+4)
	}
	box.add(-ringRadius, -ringRadius)
	box.add(ringRadius, ringRadius)
	fmt.Fprintf(&body, `<circle cx="0" cy="0" r="%d" fill="none" stroke="currentColor" stroke-width="1.5"></circle>`+"\n", ringRadius)

	// Owners: the first node clockwise from each key, whatever its state.
	var owners []ringItem
	for _, it := range items {
		if it.kind == "node" || it.kind == "down" || it.kind == "new" {
			owners = append(owners, it)
		}
	}
	sort.Slice(owners, func(i, j int) bool { return owners[i].angle < owners[j].angle })
	ownerOf := func(a float64) ringItem {
		for _, o := range owners {
			if o.angle >= a {
				return o
			}
		}
		return owners[0]
	}

	var centre []string
	for _, it := range items {
		switch it.kind {
		case "arc":
			end := it.angle2
			if end <= it.angle {
				end += 360
			}
			x1, y1 := pt(it.angle, ringRadius)
			x2, y2 := pt(end, ringRadius)
			large := 0
			if end-it.angle > 180 {
				large = 1
			}
			fmt.Fprintf(&body, `<path d="M %.1f,%.1f A %d,%d 0 %d,1 %.1f,%.1f" fill="none" stroke="currentColor" stroke-width="5" stroke-opacity="0.45"></path>`+"\n",
				x1, y1, ringRadius, ringRadius, large, x2, y2)
			if it.label != "" {
				label(math.Mod((it.angle+end)/2, 360), ringRadius+16, it.label, false)
			}
		case "top":
			fmt.Fprintf(&body, `<line x1="0" y1="%d" x2="0" y2="%d" stroke="currentColor" stroke-width="1.5"></line>`+"\n", -ringRadius-5, -ringRadius+5)
			label(0, ringRadius+9, it.label, false)
		case "center":
			centre = append(centre, it.label)
		}
	}
	for _, it := range items {
		x, y := pt(it.angle, ringRadius)
		switch it.kind {
		case "node":
			fmt.Fprintf(&body, `<circle cx="%.1f" cy="%.1f" r="6" fill="currentColor"></circle>`+"\n", x, y)
			label(it.angle, ringRadius+12, it.label, true)
		case "new":
			fmt.Fprintf(&body, `<circle cx="%.1f" cy="%.1f" r="6" fill="#fff" stroke="currentColor" stroke-width="2"></circle>`+"\n", x, y)
			label(it.angle, ringRadius+12, it.label, true)
		case "down":
			fmt.Fprintf(&body, `<path d="M %.1f,%.1f l 10,10 m 0,-10 l -10,10" stroke="currentColor" stroke-width="2.5"></path>`+"\n", x-5, y-5)
			label(it.angle, ringRadius+12, it.label, true)
		case "key":
			fmt.Fprintf(&body, `<circle cx="%.1f" cy="%.1f" r="4" fill="#fff" stroke="currentColor" stroke-width="1.5"></circle>`+"\n", x, y)
			label(it.angle, ringRadius+10, it.label, false)
			o := ownerOf(it.angle)
			end := o.angle
			if end < it.angle {
				end += 360
			}
			if end-it.angle < 8 {
				continue // too close to draw an arrow
			}
			r := float64(ringRadius - 14)
			x1, y1 := pt(it.angle+2, r)
			x2, y2 := pt(end-4, r)
			large := 0
			if end-it.angle > 186 {
				large = 1
			}
			fmt.Fprintf(&body, `<path d="M %.1f,%.1f A %.0f,%.0f 0 %d,1 %.1f,%.1f" fill="none" stroke="currentColor" stroke-dasharray="3 3"></path>`+"\n", x1, y1, r, r, large, x2, y2)
			// An arrow head pointing clockwise (along the tangent).
			rad := (end - 4) * math.Pi / 180
			tx, ty := math.Cos(rad), math.Sin(rad) // clockwise tangent
			nx, ny := -ty, tx
			fmt.Fprintf(&body, `<path d="M %.1f,%.1f L %.1f,%.1f L %.1f,%.1f z" fill="currentColor"></path>`+"\n",
				x2+tx*6, y2+ty*6, x2-tx*2+nx*4, y2-ty*2+ny*4, x2-tx*2-nx*4, y2-ty*2-ny*4)
		}
	}
	for i, line := range centre {
		y := (float64(i)-float64(len(centre)-1)/2)*(ringFontSize+4) + ringFontSize*0.35
		fmt.Fprintf(&body, `<text x="0" y="%.1f" text-anchor="middle" fill="currentColor">%s</text>`+"\n", y, html.EscapeString(line))
	}

	const pad = 8
	minX, minY := math.Floor(box.minX)-pad, math.Floor(box.minY)-pad
	w, h := int(math.Ceil(box.maxX-minX))+pad, int(math.Ceil(box.maxY-minY))+pad
	var b bytes.Buffer
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" version="1.1" width="%d" height="%d" viewBox="%.0f %.0f %d %d" font-family="ui-monospace,Menlo,Consolas,monospace" font-size="%d">`+"\n",
		w, h, minX, minY, w, h, ringFontSize)
	b.WriteString(diagramColours)
	b.Write(body.Bytes())
	b.WriteString("</svg>\n")
	if err := wellFormed(b.Bytes()); err != nil {
		return renderedDiagram{}, fmt.Errorf("the ring renders to invalid SVG: %w", err)
	}
	sum := sha256.Sum256(b.Bytes())
	d := renderedDiagram{name: hex.EncodeToString(sum[:])[:20] + ".svg", width: w, height: h}
	diagramStore.LoadOrStore(d.name, b.Bytes())
	return d, nil
}

// bounds is a bounding box.
type bounds struct {
	minX, minY, maxX, maxY float64
	set                    bool
}

func (b *bounds) add(x, y float64) {
	if !b.set {
		b.minX, b.maxX, b.minY, b.maxY, b.set = x, x, y, y, true
		return
	}
	b.minX, b.maxX = min(b.minX, x), max(b.maxX, x)
	b.minY, b.maxY = min(b.minY, y), max(b.maxY, y)
}
