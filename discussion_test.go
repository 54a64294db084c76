package faultline_test

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/faultline-dev/faultline"
)

func TestPlacesRoundTrip(t *testing.T) {
	for _, p := range []faultline.Place{
		{Kind: faultline.PlaceCohort},
		{Kind: faultline.PlaceLesson, Slug: "partial-failure"},
		{Kind: faultline.PlaceCase, Slug: "dynamo"},
		{Kind: faultline.PlaceLab, Slug: "circuit-breaker"},
	} {
		got, err := faultline.ParsePlace(p.String())
		if err != nil || got != p {
			t.Errorf("ParsePlace(%q) = %+v, %v; want %+v", p.String(), got, err, p)
		}
	}
	for _, bad := range []string{"lab:", "lab:../x", "lab:Circuit", "group:1", "lesson:a b", "cohort:x"} {
		if _, err := faultline.ParsePlace(bad); faultline.ErrorCode(err) != faultline.EINVALID {
			t.Errorf("ParsePlace(%q) = %v, want EINVALID", bad, err)
		}
	}
}

func TestAuthorForHidesAnonymousFromClassmatesOnly(t *testing.T) {
	cases := []struct {
		anon, staff, self bool
		want              string
	}{
		{false, false, false, "Lin"},
		{true, false, false, faultline.Anonymous},
		{true, true, false, "Lin"},
		{true, false, true, "Lin"},
	}
	for _, c := range cases {
		if got, revealed := faultline.AuthorFor("Lin", c.anon, c.staff, c.self); got != c.want || revealed != (c.want == "Lin") {
			t.Errorf("AuthorFor(anon=%v staff=%v self=%v) = %q, %v; want %q", c.anon, c.staff, c.self, got, revealed, c.want)
		}
	}
}

func TestCheckPostAndTitle(t *testing.T) {
	if b, err := faultline.CheckPost("  hello\r\nworld  "); err != nil || b != "hello\nworld" {
		t.Errorf("CheckPost = %q, %v", b, err)
	}
	for _, bad := range []string{"", "   ", strings.Repeat("x", faultline.MaxPostBody+1), "\xff"} {
		if _, err := faultline.CheckPost(bad); faultline.ErrorCode(err) != faultline.EINVALID {
			t.Errorf("CheckPost(%.20q) = %v, want EINVALID", bad, err)
		}
	}
	if tt, err := faultline.CheckTitle(" Why\n does  it flap? "); err != nil || tt != "Why does it flap?" {
		t.Errorf("CheckTitle = %q, %v", tt, err)
	}
	if _, err := faultline.CheckTitle(strings.Repeat("é", faultline.MaxTitle+1)); faultline.ErrorCode(err) != faultline.EINVALID {
		t.Errorf("an over-long title passed: %v", err)
	}
}

func TestCodeBlocks(t *testing.T) {
	md := "Here is my code:\n\n```go\nfunc f() {\n\treturn\n}\n```\n\nand\n\n~~~~\nx := 1\n~~~~\n\n    indented()\n    more()\n\ntext\n\n```\nunclosed\n"
	got := faultline.CodeBlocks(md)
	want := []string{"func f() {\n\treturn\n}", "x := 1", "    indented()\n    more()", "unclosed"}
	if !slices.Equal(got, want) {
		t.Fatalf("CodeBlocks = %q, want %q", got, want)
	}
	if got := faultline.CodeBlocks("no code here, just `inline` words"); len(got) != 0 {
		t.Errorf("inline code counted as a block: %q", got)
	}
	// A shorter fence inside a longer one does not close it.
	if got := faultline.CodeBlocks("````\n```\ninner\n```\n````\n"); len(got) != 1 || got[0] != "```\ninner\n```" {
		t.Errorf("nested fences = %q", got)
	}
}

func TestExtensionMovesEveryDueDateRule(t *testing.T) {
	set := &faultline.LabSettings{Lab: "saga", DueAt: due, Late: faultline.LatePolicy{Mode: faultline.LateRefuse},
		MaxSubmissions: 3, Visibility: faultline.TestsAfterDue}
	p := faultline.PolicyFor("saga", []*faultline.LabSettings{set})
	if got := p.WithExtension(nil); got != p {
		t.Fatalf("no extension changed the policy: %+v", got)
	}
	later := due.Add(48 * time.Hour)
	e := p.WithExtension(&faultline.Extension{DueAt: later})
	if !e.Extended || !e.DueAt.Equal(later) || e.Late.Mode != faultline.LateRefuse || e.MaxSubmissions != 3 {
		t.Fatalf("due date only: %+v", e)
	}
	afterDue := due.Add(time.Hour)
	// Between the cohort's due date and the learner's: they may still
	// submit, on time, and do not see hidden tests yet (classmates do).
	if err := e.Admit(afterDue, faultline.SubmissionCount{}); err != nil {
		t.Errorf("an extended learner is refused before their own due date: %v", err)
	}
	if err := p.Admit(afterDue, faultline.SubmissionCount{}); faultline.ErrorCode(err) != faultline.EFORBIDDEN {
		t.Errorf("the cohort's policy admits late work under refuse: %v", err)
	}
	if sc := e.Score(faultline.Attempt{At: afterDue, Graded: true, Score: 10, MaxScore: 10}); sc.Score != 10 || sc.Late != 0 {
		t.Errorf("an attempt before the extended due date scored %+v, want on time", sc)
	}
	if !p.ShowHiddenTests(afterDue) || e.ShowHiddenTests(afterDue) {
		t.Error("hidden tests: shown to the cohort after its due date, never to the extended learner before theirs")
	}
	if !e.ShowHiddenTests(later) {
		t.Error("hidden tests stay hidden after the extended due date")
	}
	ten := 10
	e = p.WithExtension(&faultline.Extension{DueAt: later, Late: &faultline.LatePolicy{Mode: faultline.LatePenalty, PercentPerDay: 10, CapPercent: 20}, MaxSubmissions: &ten})
	if e.Late.Mode != faultline.LatePenalty || e.MaxSubmissions != 10 {
		t.Fatalf("full extension: %+v", e)
	}
	if err := e.Admit(later.Add(time.Hour), faultline.SubmissionCount{Total: 5}); err != nil {
		t.Errorf("past the cohort's limit of 3 but within the extension's 10: %v", err)
	}
}

func TestHeldAddsAdjustments(t *testing.T) {
	p := faultline.LabPolicy{Lab: "saga"}
	atts := []faultline.Attempt{{SubmissionID: 1, At: due, Graded: true, Score: 6, MaxScore: 10}}
	adj := []faultline.Adjustment{{Points: 3}, {Points: -1}}
	if h := p.Held(atts, adj); h.Score != 8 || h.Adjustment != 2 || h.Best.Score != 6 {
		t.Fatalf("held = %+v, want 8 with +2", h)
	}
	if h := p.Held(atts, []faultline.Adjustment{{Points: 20}}); h.Score != 10 {
		t.Errorf("adjusted past the maximum: %d", h.Score)
	}
	if h := p.Held(nil, adj); h.Has {
		t.Errorf("an adjustment without an attempt holds a score: %+v", h)
	}
}
