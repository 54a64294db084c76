package content

import (
	"strings"

	"github.com/yuin/goldmark/ast"
	"github.com/yuin/goldmark/text"
)

// PlainText returns the words of a Markdown document without markup, for
// search: headings, paragraphs, list items and code, one block per line.
// Diagrams, rings and quizzes are left out.
func PlainText(md []byte) string {
	return docText(markdown.Parser().Parse(text.NewReader(md)), md)
}

func docText(doc ast.Node, src []byte) string {
	var b strings.Builder
	_ = ast.Walk(doc, func(n ast.Node, entering bool) (ast.WalkStatus, error) {
		switch n := n.(type) {
		case *ast.FencedCodeBlock:
			if entering {
				if lang := string(n.Language(src)); lang != "diagram" && lang != "ring" && lang != "quiz" {
					b.WriteString(blockText(n, src))
					b.WriteByte('\n')
				}
			}
			return ast.WalkSkipChildren, nil
		case *ast.CodeBlock:
			if entering {
				b.WriteString(blockCodeText(n, src))
				b.WriteByte('\n')
			}
			return ast.WalkSkipChildren, nil
		case *ast.Text:
			if entering {
				b.Write(n.Segment.Value(src))
				if n.SoftLineBreak() || n.HardLineBreak() {
					b.WriteByte(' ')
				}
			}
		case *ast.String:
			if entering {
				b.Write(n.Value)
			}
		case *ast.RawHTML, *ast.HTMLBlock:
			return ast.WalkSkipChildren, nil
		default:
			if !entering && n.Type() == ast.TypeBlock && n.Kind() != ast.KindDocument {
				b.WriteByte('\n')
			}
		}
		return ast.WalkContinue, nil
	})
	return strings.TrimSpace(b.String())
}

func blockCodeText(n *ast.CodeBlock, src []byte) string {
	var b strings.Builder
	for i := 0; i < n.Lines().Len(); i++ {
		line := n.Lines().At(i)
		b.Write(line.Value(src))
	}
	return b.String()
}

// Links returns the destinations of the links in a Markdown document, as
// written, so a check can verify links in lab READMEs too.
func Links(md []byte) []string {
	var out []string
	_ = ast.Walk(markdown.Parser().Parse(text.NewReader(md)), func(n ast.Node, entering bool) (ast.WalkStatus, error) {
		if l, ok := n.(*ast.Link); ok && entering {
			out = append(out, string(l.Destination))
		}
		return ast.WalkContinue, nil
	})
	return out
}
