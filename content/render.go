package content

import (
	"bytes"
	"fmt"
	"html"
	"regexp"
	"strings"
	"sync"

	chromahtml "github.com/alecthomas/chroma/v2/formatters/html"
	"github.com/alecthomas/chroma/v2/styles"
	"github.com/microcosm-cc/bluemonday"
	"github.com/yuin/goldmark"
	highlighting "github.com/yuin/goldmark-highlighting/v2"
	"github.com/yuin/goldmark/ast"
	"github.com/yuin/goldmark/extension"
	"github.com/yuin/goldmark/parser"
	"github.com/yuin/goldmark/renderer"
	gmhtml "github.com/yuin/goldmark/renderer/html"
	"github.com/yuin/goldmark/text"
	"github.com/yuin/goldmark/util"
)

// Highlighting styles: light by default, dark under prefers-color-scheme: dark.
const (
	lightStyle = "github"
	darkStyle  = "github-dark"
)

// chromaOptions make chroma emit CSS classes, never inline styles: the
// Content-Security-Policy forbids inline styles.
var chromaOptions = []chromahtml.Option{chromahtml.WithClasses(true)}

// markdown is the shared goldmark instance; goldmark is safe for concurrent use.
var markdown = goldmark.New(
	goldmark.WithExtensions(
		extension.GFM, // tables, strikethrough, task lists, autolinks
	),
	goldmark.WithParserOptions(parser.WithAutoHeadingID()),
	goldmark.WithRendererOptions(
		// Raw HTML is passed through to the sanitizer, which is the one gate
		// for what reaches the page (so authors may use <details>, <kbd>, ...).
		gmhtml.WithUnsafe(),
		// Fenced code: highlighting, and `diagram` blocks as figures.
		renderer.WithNodeRenderers(util.Prioritized(&codeBlockRenderer{}, 100)),
	),
)

// sanitizer is the bluemonday policy every rendered body goes through.
var sanitizer = newPolicy()

var classNames = regexp.MustCompile(`^[a-zA-Z0-9_ -]+$`)

func newPolicy() *bluemonday.Policy {
	p := bluemonday.UGCPolicy()
	// Highlighted code (chroma classes), language classes and diagram figures.
	p.AllowAttrs("class").Matching(classNames).OnElements("span", "pre", "code", "figure", "div")
	// renderDoc marks every <pre> and <table> focusable so keyboard users
	// can scroll it.
	p.AllowAttrs("tabindex").Matching(regexp.MustCompile(`^0$`)).OnElements("pre", "table")
	// Heading anchors.
	p.AllowAttrs("id").Matching(regexp.MustCompile(`^[a-zA-Z0-9_-]+$`)).OnElements("h1", "h2", "h3", "h4", "h5", "h6")
	// GFM task lists: read-only checkboxes.
	p.AllowAttrs("type").Matching(regexp.MustCompile(`^checkbox$`)).OnElements("input")
	p.AllowAttrs("checked", "disabled").Matching(regexp.MustCompile(`^(|checked|disabled)$`)).OnElements("input")
	p.AllowElements("kbd")
	// Diagram images load lazily; their src is checked by the policy's URL rules.
	p.AllowAttrs("loading").Matching(regexp.MustCompile(`^lazy$`)).OnElements("img")
	// Alt text is any caption (the policy escapes it on output).
	p.AllowAttrs("alt").Matching(regexp.MustCompile(`^[^\x00-\x1f<>]*$`)).OnElements("img")
	// Our own links stay plain; links off the site get nofollow noreferrer.
	p.RequireNoFollowOnLinks(false)
	p.RequireNoFollowOnFullyQualifiedLinks(true)
	p.RequireNoReferrerOnFullyQualifiedLinks(true)
	return p
}

// Render turns Markdown into sanitized HTML: GitHub-flavoured Markdown with
// heading ids, class-based syntax highlighting and `diagram` figures, passed
// through a bluemonday policy so no script or event handler survives.
// Diagrams are rendered to SVG files served under DiagramPrefix; a diagram
// that cannot be drawn is an error, as are errors of the renderer itself.
func Render(md []byte) (string, error) {
	doc := markdown.Parser().Parse(text.NewReader(md))
	return renderDoc(md, doc)
}

// renderDoc renders a parsed document and sanitizes the result.
func renderDoc(src []byte, doc ast.Node) (string, error) {
	var buf bytes.Buffer
	if err := markdown.Renderer().Render(&buf, src, doc); err != nil {
		return "", fmt.Errorf("render markdown: %w", err)
	}
	// Code and tables may scroll sideways (the stylesheet lets a wide table
	// scroll inside the text column): every <pre> and <table> is focusable
	// so keyboard users can scroll it (the sanitizer keeps tabindex="0" on
	// those two only).
	out := preTag.ReplaceAllString(buf.String(), `<pre tabindex="0"$1>`)
	out = tableTag.ReplaceAllString(out, `<table tabindex="0"$1>`)
	return sanitizer.Sanitize(out), nil
}

// preTag and tableTag are the start tags of a <pre> and a <table> element.
var (
	preTag   = regexp.MustCompile(`<pre(\s[^>]*)?>`)
	tableTag = regexp.MustCompile(`<table(\s[^>]*)?>`)
)

// codeBlockRenderer renders fenced code blocks: `diagram` blocks as figures,
// everything else through goldmark-highlighting.
type codeBlockRenderer struct {
	highlight renderer.NodeRendererFunc
	inner     renderer.NodeRenderer
}

// SetOption passes renderer options (such as unsafe) to the highlighter.
func (r *codeBlockRenderer) SetOption(name renderer.OptionName, value any) {
	r.init()
	if s, ok := r.inner.(renderer.SetOptioner); ok {
		s.SetOption(name, value)
	}
}

func (r *codeBlockRenderer) init() {
	if r.inner == nil {
		r.inner = highlighting.NewHTMLRenderer(
			highlighting.WithStyle(lightStyle),
			highlighting.WithFormatOptions(chromaOptions...),
		)
	}
}

// RegisterFuncs implements renderer.NodeRenderer.
func (r *codeBlockRenderer) RegisterFuncs(reg renderer.NodeRendererFuncRegisterer) {
	r.init()
	var c captureFuncs
	r.inner.RegisterFuncs(&c)
	r.highlight = c.fencedCode
	reg.Register(ast.KindFencedCodeBlock, r.renderFencedCode)
}

func (r *codeBlockRenderer) renderFencedCode(w util.BufWriter, src []byte, node ast.Node, entering bool) (ast.WalkStatus, error) {
	n := node.(*ast.FencedCodeBlock)
	switch string(n.Language(src)) {
	case "diagram", "ring":
		if !entering {
			return ast.WalkSkipChildren, nil
		}
		lang := string(n.Language(src))
		fig, err := diagramFigure(lang, blockText(n, src), blockCaption(n, src, lang))
		if err != nil {
			return ast.WalkStop, err
		}
		_, err = w.WriteString(fig)
		return ast.WalkSkipChildren, err
	case "quiz":
		// The quiz is rendered by the page, from Lesson.Quiz, where this
		// marker was: never its answers in the body.
		if entering {
			_, err := w.WriteString(quizSlot)
			return ast.WalkSkipChildren, err
		}
		return ast.WalkSkipChildren, nil
	}
	return r.highlight(w, src, node, entering)
}

// quizSlot marks where a ```quiz block was; Load splits the body there.
const quizSlot = `<div class="quiz-slot"></div>`

// blockText returns the content lines of a fenced block.
func blockText(n *ast.FencedCodeBlock, src []byte) string {
	var body bytes.Buffer
	for i := 0; i < n.Lines().Len(); i++ {
		line := n.Lines().At(i)
		body.Write(line.Value(src))
	}
	return body.String()
}

// blockCaption returns the info string after the language word.
func blockCaption(n *ast.FencedCodeBlock, src []byte, lang string) string {
	if n.Info == nil {
		return ""
	}
	info := string(n.Info.Segment.Value(src))
	return strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(info), lang))
}

// captureFuncs records the fenced-code function a node renderer registers.
type captureFuncs struct{ fencedCode renderer.NodeRendererFunc }

func (c *captureFuncs) Register(kind ast.NodeKind, f renderer.NodeRendererFunc) {
	if kind == ast.KindFencedCodeBlock {
		c.fencedCode = f
	}
}

// diagramFigure renders the source of a ```diagram or ```ring block (lang) to
// an SVG file and returns the figure that shows it, with the caption (if
// any) as alt text and figcaption.
func diagramFigure(lang, src, caption string) (string, error) {
	render := renderDiagramSVG
	if lang == "ring" {
		render = renderRingSVG
	}
	d, err := render(src)
	if err != nil {
		return "", err
	}
	alt := caption
	if alt == "" {
		alt = "Diagram"
	}
	var b strings.Builder
	fmt.Fprintf(&b, `<figure class="diagram"><img src="%s%s" alt="%s" width="%d" height="%d" loading="lazy">`,
		DiagramPrefix, d.name, html.EscapeString(alt), d.width, d.height)
	if caption != "" {
		b.WriteString("<figcaption>")
		b.WriteString(html.EscapeString(caption))
		b.WriteString("</figcaption>")
	}
	b.WriteString("</figure>\n")
	return b.String(), nil
}

// HighlightCSS returns the stylesheet for highlighted code: chroma's classes in
// a light style, and a dark style inside @media (prefers-color-scheme: dark).
// Serve it as a static file; the Content-Security-Policy forbids inline styles.
func HighlightCSS() string { return highlightCSS() }

var highlightCSS = sync.OnceValue(func() string {
	f := chromahtml.New(chromaOptions...)
	var b strings.Builder
	b.WriteString("/* Syntax highlighting (chroma " + lightStyle + " / " + darkStyle + "). Generated by content.HighlightCSS. */\n")
	if err := f.WriteCSS(&b, styles.Get(lightStyle)); err != nil {
		panic(fmt.Sprintf("write chroma css %q: %v", lightStyle, err)) // writes to a strings.Builder cannot fail
	}
	b.WriteString("@media (prefers-color-scheme: dark) {\n")
	var dark strings.Builder
	if err := f.WriteCSS(&dark, styles.Get(darkStyle)); err != nil {
		panic(fmt.Sprintf("write chroma css %q: %v", darkStyle, err))
	}
	for _, line := range strings.Split(strings.TrimRight(dark.String(), "\n"), "\n") {
		b.WriteString("  " + line + "\n")
	}
	b.WriteString("}\n")
	return b.String()
})
