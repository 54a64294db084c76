package web

import (
	"fmt"
	"net/http"
	"strings"
	"unicode/utf8"

	"github.com/go-chi/chi/v5"

	"github.com/faultline-dev/faultline"
	"github.com/faultline-dev/faultline/content"
	"github.com/faultline-dev/faultline/labs"
	"github.com/faultline-dev/faultline/web/views"
)

// maxQuery bounds a search query, in bytes.
const maxQuery = 200

// searchLimit is how many results a search shows.
const searchLimit = 30

// newSearchIndex indexes every lesson, case study and lab (title, summary,
// body text, lab README).
func newSearchIndex(cc *content.Catalog, lc *labs.Catalog) *content.Index {
	var docs []content.SearchDoc
	for _, l := range append(cc.Lessons(), cc.Cases()...) {
		docs = append(docs, content.SearchDoc{Kind: l.Kind, Slug: l.Slug, Title: l.Title, Summary: l.Summary, URL: lessonURL(l), Text: l.Text})
	}
	for _, lab := range lc.All() {
		docs = append(docs, content.SearchDoc{Kind: "lab", Slug: lab.Slug, Title: lab.Title, Summary: lab.Summary,
			URL: labURL(lab.Slug), Text: lab.Pattern + "\n" + content.PlainText([]byte(lab.README))})
	}
	return content.NewIndex(docs)
}

var kindNames = map[string]string{"lesson": "Lesson", "case": "Case study", "lab": "Lab"}

// serveSearch is /search?q=: full-text search over the course and the labs.
// Snippets are plain text pieces; the view escapes them and marks the hits.
func (s *Server) serveSearch(w http.ResponseWriter, r *http.Request) error {
	q := strings.TrimSpace(r.URL.Query().Get("q"))
	if len(q) > maxQuery || !utf8.ValidString(q) {
		return faultline.Errorf(faultline.EINVALID, "Search for at most %d characters of text.", maxQuery)
	}
	m := views.SearchPage{Page: s.page(r, "Search", "search"), Query: q, Searched: q != ""}
	if q != "" {
		m.Title = "Search: " + q
		for _, h := range s.search.Search(q, searchLimit) {
			res := views.SearchResult{Kind: kindNames[h.Doc.Kind], Title: h.Doc.Title, URL: h.Doc.URL}
			for _, p := range h.Snippet {
				res.Snippet = append(res.Snippet, views.SnippetPart{Text: p.Text, Match: p.Match})
			}
			m.Results = append(m.Results, res)
		}
		hits, err := s.discussionHits(r, q) // discuss.go
		if err != nil {
			return err
		}
		m.Results = append(m.Results, hits...)
	}
	return s.render(w, r, http.StatusOK, views.Search(m))
}

// diagramPolicy is the Content-Security-Policy of a served diagram: nothing
// may load, and only the SVG's own <style> applies.
const diagramPolicy = "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'self'"

// serveDiagram serves /diagrams/{name}: an SVG rendered from a ```diagram
// block at load. Names are content hashes, so the file never changes.
func (s *Server) serveDiagram(w http.ResponseWriter, r *http.Request) error {
	name := chi.URLParam(r, "name")
	svg, ok := content.Diagram(name)
	if !ok {
		return faultline.Errorf(faultline.ENOTFOUND, "There is no such diagram.")
	}
	h := w.Header()
	h.Set("Content-Type", "image/svg+xml")
	h.Set("Content-Security-Policy", diagramPolicy)
	h.Set("Cache-Control", "private, max-age=31536000, immutable")
	h.Set("Content-Length", fmt.Sprint(len(svg)))
	if r.Method == http.MethodHead {
		return nil
	}
	_, _ = w.Write(svg)
	return nil
}
