package content_test

import (
	"strings"
	"testing"

	"github.com/faultline-dev/faultline/content"
)

func snippetText(h content.SearchHit) (text string, marks []string) {
	var b strings.Builder
	for _, p := range h.Snippet {
		b.WriteString(p.Text)
		if p.Match {
			marks = append(marks, p.Text)
		}
	}
	return b.String(), marks
}

func TestSearch(t *testing.T) {
	long := strings.Repeat("filler words here ", 40)
	ix := content.NewIndex([]content.SearchDoc{
		{Kind: "lesson", Slug: "quorums", Title: "Replication and quorums", Summary: "R + W > N.", Text: long + "A quorum read overlaps a quorum write. " + long},
		{Kind: "lesson", Slug: "hashing", Title: "Consistent hashing", Summary: "Rings.", Text: "Virtual nodes even out a quorum of keys."},
		{Kind: "lab", Slug: "breaker", Title: "Circuit breaker", Summary: "Fail fast.", Text: "Implement <Breaker> & friends."},
	})
	hits := ix.Search("quorum", 10)
	if len(hits) != 2 || hits[0].Doc.Slug != "quorums" {
		t.Fatalf("quorum: %d hits, first %v", len(hits), hits)
	}
	text, marks := snippetText(hits[0])
	if !strings.Contains(text, "A quorum read overlaps a quorum write.") || len(marks) != 2 || marks[0] != "quorum" {
		t.Errorf("snippet %q marks %q", text, marks)
	}
	if !strings.HasPrefix(text, "… ") || !strings.HasSuffix(text, " …") || len(strings.Fields(text)) > 35 {
		t.Errorf("snippet not trimmed around the hit: %q", text)
	}
	// Every word must match; the last may be a prefix.
	if hits := ix.Search("virtual consist", 10); len(hits) != 1 || hits[0].Doc.Slug != "hashing" {
		t.Errorf("prefix search: %v", hits)
	}
	if hits := ix.Search("virtual zebra", 10); len(hits) != 0 {
		t.Errorf("AND search matched %v", hits)
	}
	if hits := ix.Search("consist virtual", 10); len(hits) != 0 {
		t.Errorf("a prefix matched in a non-final word: %v", hits)
	}
	// Case and punctuation do not matter; text is returned as written, for
	// the view to escape.
	hits = ix.Search("BREAKER!", 10)
	if len(hits) != 1 {
		t.Fatalf("BREAKER!: %v", hits)
	}
	if text, marks := snippetText(hits[0]); text != "Implement <Breaker> & friends." || len(marks) != 1 || marks[0] != "Breaker" {
		t.Errorf("snippet %q marks %q", text, marks)
	}
	if hits := ix.Search("  --- ", 10); hits != nil {
		t.Errorf("empty query: %v", hits)
	}
	if hits := ix.Search("quorum", 1); len(hits) != 1 {
		t.Errorf("limit: %d hits", len(hits))
	}
	// A title hit that is absent from the body gets the summary as snippet.
	if hits := ix.Search("replication", 10); len(hits) != 1 {
		t.Errorf("title search: %v", hits)
	} else if text, _ := snippetText(hits[0]); text != "R + W > N." {
		t.Errorf("summary snippet %q", text)
	}
}
