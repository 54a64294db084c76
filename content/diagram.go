package content

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"

	"github.com/bep/goat"
)

// Diagrams are ```diagram blocks of ASCII art in the goat dialect (lines
// drawn with - | + / \, arrow heads < > ^ v, * and o for points, everything
// else is text). Each is rendered once, at load, to a standalone SVG file with
// its own light and dark colours, and the page shows it as an <img>: the
// Content-Security-Policy forbids inline styles and the sanitizer strips
// <svg>, so the drawing cannot be inlined.

// DiagramPrefix is where the portal serves rendered diagrams; a page refers to
// DiagramPrefix + name, where name is what Diagram accepts.
const DiagramPrefix = "/diagrams/"

// diagramStore holds every SVG rendered by this process, by name. Names are
// content hashes, so one store can serve every catalog and README loaded.
var diagramStore sync.Map // name → []byte

// Diagram returns the rendered SVG with the name (e.g. "3f2a….svg") and
// whether there is one.
func Diagram(name string) ([]byte, bool) {
	v, ok := diagramStore.Load(name)
	if !ok {
		return nil, false
	}
	return v.([]byte), true
}

// diagramColours are the SVG's own styles: the drawing uses currentColor, so
// setting color on the root recolours it. Hollow circles are filled with the
// page background. The portal serves diagrams with a policy that allows this
// style element (and nothing else).
const diagramColours = `<style>
svg { color: #1d1f23; }
circle[fill="#fff"] { fill: #fbfaf7; }
@media (prefers-color-scheme: dark) {
  svg { color: #e7e5e0; }
  circle[fill="#fff"] { fill: #15171a; }
}
</style>
`

// renderedDiagram is a diagram rendered and stored.
type renderedDiagram struct {
	name          string // file name under DiagramPrefix
	width, height int
}

// renderDiagramSVG renders goat ASCII art to a standalone SVG document, stores
// it under its content hash and returns its name and size. It fails for an
// empty drawing, tabs (which make columns ambiguous), and output that is not
// well-formed XML.
func renderDiagramSVG(src string) (d renderedDiagram, err error) {
	if strings.TrimSpace(src) == "" {
		return d, errors.New("the diagram is empty")
	}
	for i, line := range strings.Split(src, "\n") {
		if strings.ContainsRune(line, '\t') {
			return d, fmt.Errorf("line %d of the diagram has a tab; draw with spaces so columns line up", i+1)
		}
	}
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("the diagram cannot be drawn: %v", p)
		}
	}()
	svg := goat.BuildSVG(strings.NewReader(src))
	var b bytes.Buffer
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" version="1.1" width="%d" height="%d" viewBox="0 0 %d %d" font-family="ui-monospace,Menlo,Consolas,monospace" font-size="14">`+"\n",
		svg.Width, svg.Height, svg.Width, svg.Height)
	b.WriteString(diagramColours)
	b.WriteString(svg.Body)
	b.WriteString("</svg>\n")
	if err := wellFormed(b.Bytes()); err != nil {
		return d, fmt.Errorf("the diagram renders to invalid SVG: %w", err)
	}
	sum := sha256.Sum256(b.Bytes())
	d = renderedDiagram{name: hex.EncodeToString(sum[:])[:20] + ".svg", width: svg.Width, height: svg.Height}
	diagramStore.LoadOrStore(d.name, b.Bytes())
	return d, nil
}

// wellFormed reports whether b is one well-formed XML element.
func wellFormed(b []byte) error {
	dec := xml.NewDecoder(bytes.NewReader(b))
	depth, roots := 0, 0
	for {
		tok, err := dec.Token()
		if err == io.EOF {
			break
		} else if err != nil {
			return err
		}
		switch tok.(type) {
		case xml.StartElement:
			if depth == 0 {
				roots++
			}
			depth++
		case xml.EndElement:
			depth--
		}
	}
	if roots != 1 || depth != 0 {
		return fmt.Errorf("want one root element, got %d", roots)
	}
	return nil
}
