package content

import (
	"sort"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Search is an in-memory full-text index over the course and the labs. The
// corpus is small (tens of pages), read-only and loaded at start, so a
// process-local index built once beats a database table that would have to
// be kept in step with the content folder: no schema, nothing to re-sync when
// an instructor swaps --content-dir, and every query is a scan of a few
// hundred kilobytes.

// SearchDoc is one searchable page.
type SearchDoc struct {
	Kind    string // "lesson", "case" or "lab"
	Slug    string
	Title   string
	Summary string
	URL     string
	Text    string // body as plain text
}

// SnippetPart is a piece of a snippet; Match parts are query hits. Render
// the text escaped and mark the hits.
type SnippetPart struct {
	Text  string
	Match bool
}

// SearchHit is one result.
type SearchHit struct {
	Doc     *SearchDoc
	Snippet []SnippetPart
	score   float64
}

// Index is a search index; safe for concurrent use after NewIndex.
type Index struct {
	docs []*indexedDoc
}

type indexedDoc struct {
	doc                  *SearchDoc
	title, summary, body []token
}

// token is a lower-cased word and where it is in the source text.
type token struct {
	word       string
	start, end int
}

// NewIndex indexes docs.
func NewIndex(docs []SearchDoc) *Index {
	ix := &Index{}
	for i := range docs {
		d := &docs[i]
		ix.docs = append(ix.docs, &indexedDoc{doc: d, title: tokenize(d.Title), summary: tokenize(d.Summary), body: tokenize(d.Text)})
	}
	return ix
}

// maxQueryTerms bounds the work one query can ask for.
const maxQueryTerms = 8

// Search returns up to limit pages containing every word of q (the last
// word also as a prefix, so "consist" finds "consistent"), best first: hits
// in titles weigh most, then summaries, then the body.
func (ix *Index) Search(q string, limit int) []SearchHit {
	terms := tokenize(q)
	if len(terms) == 0 {
		return nil
	}
	if len(terms) > maxQueryTerms {
		terms = terms[:maxQueryTerms]
	}
	var hits []SearchHit
	for _, d := range ix.docs {
		score := 0.0
		all := true
		for i, t := range terms {
			prefix := i == len(terms)-1
			n := 5*count(d.title, t.word, prefix) + 2*count(d.summary, t.word, prefix) + count(d.body, t.word, prefix)
			if n == 0 {
				all = false
				break
			}
			score += float64(n)
		}
		if !all {
			continue
		}
		// Favour dense hits over long pages.
		score /= 1 + float64(len(d.body))/2000
		hits = append(hits, SearchHit{Doc: d.doc, Snippet: snippet(d, terms), score: score})
	}
	sort.SliceStable(hits, func(i, j int) bool { return hits[i].score > hits[j].score })
	if limit > 0 && len(hits) > limit {
		hits = hits[:limit]
	}
	return hits
}

func matches(w, term string, prefix bool) bool {
	if prefix {
		return strings.HasPrefix(w, term)
	}
	return w == term
}

func count(toks []token, term string, prefix bool) int {
	n := 0
	for _, t := range toks {
		if matches(t.word, term, prefix) {
			n++
		}
	}
	return n
}

// snippetWords is roughly how many words a snippet shows.
const snippetWords = 28

// snippet returns the body around the first hit with the hits marked, or
// the summary if the body has none.
func snippet(d *indexedDoc, terms []token) []SnippetPart {
	text, toks := d.doc.Text, d.body
	first := -1
	for i, t := range toks {
		if isHit(t.word, terms) {
			first = i
			break
		}
	}
	if first < 0 {
		text, toks = d.doc.Summary, d.summary
		first = 0
		if len(toks) == 0 {
			return nil
		}
	}
	from := max(0, first-snippetWords/3)
	to := min(len(toks), from+snippetWords)
	var parts []SnippetPart
	add := func(s string, match bool) {
		if s == "" {
			return
		}
		if n := len(parts); n > 0 && parts[n-1].Match == match {
			parts[n-1].Text += s
			return
		}
		parts = append(parts, SnippetPart{Text: s, Match: match})
	}
	pos := toks[from].start
	if from > 0 {
		add("… ", false)
	} else {
		pos = 0 // keep what comes before the first word
	}
	for _, t := range toks[from:to] {
		if gap := text[pos:t.start]; gap != "" {
			add(spaced(gap), false)
		}
		add(text[t.start:t.end], isHit(t.word, terms))
		pos = t.end
	}
	if to < len(toks) {
		add(" …", false)
	} else if rest := strings.TrimSpace(text[pos:]); rest != "" {
		add(rest, false)
	}
	return parts
}

// spaced collapses a gap between words but keeps a single space at either end.
func spaced(gap string) string {
	s := strings.Join(strings.Fields(gap), " ")
	r, _ := utf8.DecodeRuneInString(gap)
	if unicode.IsSpace(r) {
		s = " " + s
	}
	r, _ = utf8.DecodeLastRuneInString(gap)
	if unicode.IsSpace(r) && s != " " {
		s += " "
	}
	return s
}

func isHit(w string, terms []token) bool {
	for i, t := range terms {
		if matches(w, t.word, i == len(terms)-1) {
			return true
		}
	}
	return false
}

// tokenize splits s into lower-case words of letters and digits.
func tokenize(s string) []token {
	var out []token
	start := -1
	for i, r := range s {
		word := unicode.IsLetter(r) || unicode.IsDigit(r)
		switch {
		case word && start < 0:
			start = i
		case !word && start >= 0:
			out = append(out, token{word: strings.ToLower(s[start:i]), start: start, end: i})
			start = -1
		}
	}
	if start >= 0 {
		out = append(out, token{word: strings.ToLower(s[start:]), start: start, end: len(s)})
	}
	return out
}
