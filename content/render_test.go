package content_test

import (
	"bytes"
	"encoding/xml"
	"io"
	"strings"
	"testing"

	"github.com/PuerkitoBio/goquery"
	"github.com/faultline-dev/faultline/content"
)

// MustRender renders md and parses the result as an HTML document.
func MustRender(tb testing.TB, md string) (string, *goquery.Document) {
	tb.Helper()
	html, err := content.Render([]byte(md))
	if err != nil {
		tb.Fatalf("Render: %v", err)
	}
	doc, err := goquery.NewDocumentFromReader(strings.NewReader(html))
	if err != nil {
		tb.Fatalf("parse rendered HTML: %v", err)
	}
	return html, doc
}

func TestRenderRemovesScriptsAndHandlers(t *testing.T) {
	md := "# Hi\n\n" +
		"<script>alert('inline')</script>\n\n" +
		"Some <b onclick=\"steal()\">bold</b> text and <a href=\"/x\" onmouseover=\"steal()\">a link</a>.\n\n" +
		"<img src=\"/pic.png\" onerror=\"steal()\">\n\n" +
		"<div onclick=\"steal()\"><script src=\"https://evil.example/x.js\"></script>block</div>\n\n" +
		"[click](javascript:alert(1)) and <a href=\"javascript:alert(2)\">raw</a>\n\n" +
		"<iframe src=\"https://evil.example\"></iframe><style>body{display:none}</style>\n"
	html, doc := MustRender(t, md)

	if n := doc.Find("script, iframe, style").Length(); n != 0 {
		t.Errorf("found %d script/iframe/style elements in:\n%s", n, html)
	}
	doc.Find("*").Each(func(_ int, s *goquery.Selection) {
		for _, a := range s.Nodes[0].Attr {
			if strings.HasPrefix(strings.ToLower(a.Key), "on") {
				t.Errorf("<%s> kept event handler %s=%q", goquery.NodeName(s), a.Key, a.Val)
			}
			if strings.Contains(strings.ToLower(a.Val), "javascript:") {
				t.Errorf("<%s> kept %s=%q", goquery.NodeName(s), a.Key, a.Val)
			}
		}
	})
	for _, bad := range []string{"steal()", "alert(", "evil.example"} {
		if strings.Contains(html, bad) {
			t.Errorf("output contains %q:\n%s", bad, html)
		}
	}
	// The harmless parts survive.
	if got := doc.Find("b").Text(); got != "bold" {
		t.Errorf("<b> text = %q, want %q", got, "bold")
	}
	if got, _ := doc.Find(`a[href="/x"]`).Attr("href"); got != "/x" {
		t.Errorf("safe link lost; output:\n%s", html)
	}
}

func TestRenderHighlightsGoWithClasses(t *testing.T) {
	md := "Code:\n\n```go\npackage main\n\nfunc main() {\n\tprintln(\"hi\")\n}\n```\n"
	html, doc := MustRender(t, md)

	pre := doc.Find("pre.chroma")
	if pre.Length() != 1 {
		t.Fatalf("want one pre.chroma, got %d in:\n%s", pre.Length(), html)
	}
	// chroma's Go lexer marks `func` as KeywordDeclaration (class kd) and the
	// string literal as LiteralString... (class s).
	if got := pre.Find("span.kd").First().Text(); got != "func" {
		t.Errorf("span.kd = %q, want %q; output:\n%s", got, "func", html)
	}
	if pre.Find("span.s").Length() == 0 {
		t.Errorf("no span.s for the string literal; output:\n%s", html)
	}
	if n := doc.Find("[style]").Length(); n != 0 {
		t.Errorf("%d elements have a style attribute (the CSP forbids inline styles):\n%s", n, html)
	}
	if !strings.Contains(pre.Text(), `println("hi")`) {
		t.Errorf("code text lost: %q", pre.Text())
	}
}

func TestRenderHeadingIDs(t *testing.T) {
	_, doc := MustRender(t, "## The problem\n\nText.\n\n### Trade-offs and failure modes\n")
	for sel, want := range map[string]string{"h2": "the-problem", "h3": "trade-offs-and-failure-modes"} {
		if got, _ := doc.Find(sel).Attr("id"); got != want {
			t.Errorf("%s id = %q, want %q", sel, got, want)
		}
	}
}

func TestRenderDiagramFigure(t *testing.T) {
	src := "+--------+     +---------+\n| client | --> | breaker |\n+--------+     +---------+\n    ^               |\n    +---- error <---+\n"
	html, doc := MustRender(t, "Before.\n\n```diagram The request path & back\n"+src+"```\n\nAfter.\n")

	fig := doc.Find("figure.diagram")
	if fig.Length() != 1 {
		t.Fatalf("want one figure.diagram, got %d in:\n%s", fig.Length(), html)
	}
	if n := fig.Find("pre, svg, .chroma").Length(); n != 0 {
		t.Errorf("diagram left %d pre/svg/highlight elements:\n%s", n, html)
	}
	img := fig.Find("img")
	src2, _ := img.Attr("src")
	name, ok := strings.CutPrefix(src2, content.DiagramPrefix)
	if !ok || !strings.HasSuffix(name, ".svg") {
		t.Fatalf("img src = %q, want %s<hash>.svg", src2, content.DiagramPrefix)
	}
	if alt, _ := img.Attr("alt"); alt != "The request path & back" {
		t.Errorf("alt = %q", alt)
	}
	if got := fig.Find("figcaption").Text(); got != "The request path & back" {
		t.Errorf("figcaption = %q", got)
	}
	svg, ok := content.Diagram(name)
	if !ok {
		t.Fatalf("Diagram(%q) not stored", name)
	}
	MustWellFormedSVG(t, svg)
	for _, want := range []string{"<path", "<polygon", ">c</text>", "prefers-color-scheme: dark"} {
		if !strings.Contains(string(svg), want) {
			t.Errorf("SVG lacks %q:\n%s", want, svg)
		}
	}
	// The same drawing renders to the same name.
	html2, _ := MustRender(t, "```diagram\n"+src+"```\n")
	if !strings.Contains(html2, name) {
		t.Errorf("same diagram, different file: %s", html2)
	}
	if _, ok := content.Diagram("0000.svg"); ok {
		t.Error("Diagram of an unknown name reported found")
	}
}

// MustWellFormedSVG fails unless b is one well-formed <svg> element.
func MustWellFormedSVG(tb testing.TB, b []byte) {
	tb.Helper()
	dec := xml.NewDecoder(bytes.NewReader(b))
	var root string
	for {
		tok, err := dec.Token()
		if err == io.EOF {
			break
		} else if err != nil {
			tb.Fatalf("SVG is not well-formed XML: %v\n%s", err, b)
		}
		if se, ok := tok.(xml.StartElement); ok && root == "" {
			root = se.Name.Space + " " + se.Name.Local
		}
	}
	if root != "http://www.w3.org/2000/svg svg" {
		tb.Fatalf("root element = %q, want svg in the SVG namespace", root)
	}
}

func TestRenderDiagramErrors(t *testing.T) {
	for name, src := range map[string]string{
		"empty": "   \n",
		"tabs":  "a\t--> b\n",
	} {
		if _, err := content.Render([]byte("```diagram\n" + src + "```\n")); err == nil {
			t.Errorf("%s: Render succeeded", name)
		}
	}
}

func TestRenderQuizLeavesNoAnswers(t *testing.T) {
	html, doc := MustRender(t, "Text.\n\n```quiz\n- question: Q?\n  choices: [yes, no]\n  answer: 1\n  explain: SECRET-EXPLANATION\n```\n")
	if strings.Contains(html, "SECRET") || strings.Contains(html, "answer") {
		t.Errorf("quiz source leaked into the page:\n%s", html)
	}
	if doc.Find("div.quiz-slot").Length() != 1 {
		t.Errorf("no quiz slot in:\n%s", html)
	}
}

func TestPlainText(t *testing.T) {
	got := content.PlainText([]byte("## Title\n\nSome *emphasis* and `code`.\n\n```diagram\n+--+\n```\n\n```go\nfunc f() {}\n```\n"))
	for _, want := range []string{"Title", "Some emphasis and code.", "func f() {}"} {
		if !strings.Contains(got, want) {
			t.Errorf("PlainText lacks %q:\n%s", want, got)
		}
	}
	if strings.Contains(got, "+--+") || strings.Contains(got, "*") {
		t.Errorf("PlainText kept a diagram or markup:\n%s", got)
	}
}

func TestRenderGFM(t *testing.T) {
	md := "| a | b |\n|---|---|\n| 1 | 2 |\n\n~~gone~~\n\n- [x] done\n- [ ] todo\n\nSee https://example.com/docs.\n"
	html, doc := MustRender(t, md)
	if n := doc.Find("table td").Length(); n != 2 {
		t.Errorf("table cells = %d, want 2", n)
	}
	if got := doc.Find("del").Text(); got != "gone" {
		t.Errorf("strikethrough = %q, want %q", got, "gone")
	}
	if n := doc.Find(`input[type="checkbox"][disabled]`).Length(); n != 2 {
		t.Errorf("task-list checkboxes = %d, want 2 in:\n%s", n, html)
	}
	if n := doc.Find(`input[checked]`).Length(); n != 1 {
		t.Errorf("checked boxes = %d, want 1", n)
	}
	if n := doc.Find(`a[href="https://example.com/docs"]`).Length(); n != 1 {
		t.Errorf("autolink missing in:\n%s", html)
	}
}

func TestHighlightCSS(t *testing.T) {
	css := content.HighlightCSS()
	light, dark, ok := strings.Cut(css, "@media (prefers-color-scheme: dark) {")
	if !ok {
		t.Fatalf("no dark-mode media query in:\n%s", css)
	}
	for name, part := range map[string]string{"light": light, "dark": dark} {
		for _, sel := range []string{".chroma {", ".chroma .kd {", ".chroma .s {"} {
			if !strings.Contains(part, sel) {
				t.Errorf("%s CSS lacks %q", name, sel)
			}
		}
	}
	rule := func(s string) string { // the declarations of `.chroma .kd`
		_, after, _ := strings.Cut(s, ".chroma .kd {")
		decl, _, _ := strings.Cut(after, "}")
		return decl
	}
	if rule(light) == rule(dark) {
		t.Errorf("light and dark keyword colours are the same: %q", rule(light))
	}
}

func TestRenderLinks(t *testing.T) {
	_, doc := MustRender(t, "[in](/lessons/x) and [out](https://example.com/)\n")
	if rel, _ := doc.Find(`a[href="/lessons/x"]`).Attr("rel"); rel != "" {
		t.Errorf("internal link rel = %q, want none", rel)
	}
	rel, _ := doc.Find(`a[href="https://example.com/"]`).Attr("rel")
	if !strings.Contains(rel, "nofollow") || !strings.Contains(rel, "noreferrer") {
		t.Errorf("external link rel = %q, want nofollow noreferrer", rel)
	}
}

// Code may scroll sideways, so every block of it is focusable for keyboard
// users: highlighted, plain fenced and indented code alike, once each.
func TestRenderCodeIsFocusable(t *testing.T) {
	out, err := content.Render([]byte("```go\npackage x\n```\n\n```\nplain text\n```\n\n    indented\n\n<pre class=\"x\">raw</pre>\n"))
	if err != nil {
		t.Fatal(err)
	}
	if pres, focusable := strings.Count(out, "<pre"), strings.Count(out, `<pre tabindex="0"`); pres != 4 || focusable != 4 {
		t.Errorf("%d of %d <pre> focusable, want 4 of 4:\n%s", focusable, pres, out)
	}
	if strings.Count(out, "tabindex") != 4 {
		t.Errorf("tabindex repeated:\n%s", out)
	}
}

// A wide table scrolls inside the text column (the stylesheet makes tables
// blocks that scroll), so every table is focusable for keyboard users too,
// once, whether Markdown or raw HTML made it; tabindex stays refused on
// anything else.
func TestRenderTablesAreFocusable(t *testing.T) {
	out, err := content.Render([]byte("| a | b |\n|---|---|\n| 1 | 2 |\n\n<table class=\"x\"><tr><td>raw</td></tr></table>\n\n<div tabindex=\"0\">no</div>\n"))
	if err != nil {
		t.Fatal(err)
	}
	if tables, focusable := strings.Count(out, "<table"), strings.Count(out, `<table tabindex="0"`); tables != 2 || focusable != 2 {
		t.Errorf("%d of %d <table> focusable, want 2 of 2:\n%s", focusable, tables, out)
	}
	if strings.Count(out, "tabindex") != 2 {
		t.Errorf("tabindex on something else or repeated:\n%s", out)
	}
}
