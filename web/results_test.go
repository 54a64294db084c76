package web

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/PuerkitoBio/goquery"

	"github.com/faultline-dev/faultline"
	"github.com/faultline-dev/faultline/labs/labkit"
)

// breakerPicture is what a test attaches for a breaker that stayed closed
// until end: the same shape whatever end is.
func breakerPicture(end time.Duration) string {
	return labkit.Timeline{Title: "breaker", Lanes: []labkit.Lane{{Name: "breaker", Spans: []labkit.Span{{From: 0, To: end, State: "closed"}}}}}.SVG()
}

// Each failing test shows its own pictures and Replay button; a picture that
// shows what another test's already shows is named, not drawn again.
func TestResultEvidenceBesideItsTest(t *testing.T) {
	e := MustEnv(t)
	u := e.MustUser("Lea Learner", faultline.RoleLearner)
	sub := e.MustSubmission(u, labSlug)
	report := func(test string) string {
		return "PROPERTY BROKEN: the breaker opens\n        Seed: 7\n        Reproduce: LABKIT_SEED=7 go test -count=1 -run '^" + test + "$/^seed=7$' ./...\n"
	}
	open := labkit.Timeline{Title: "breaker", Lanes: []labkit.Lane{{Name: "breaker", Spans: []labkit.Span{{From: 0, To: time.Second, State: "open"}}}}}.SVG()
	e.MustComplete(&faultline.Result{Status: faultline.StatusGraded, Score: 1, MaxScore: 4, Tests: []faultline.TestResult{
		{Name: "TestPasses", Status: faultline.TestPass, Score: 1, MaxScore: 1},
		{Name: "TestOpens", Status: faultline.TestFail, MaxScore: 1, Output: report("TestOpens"), FailedRun: "TestOpens/seed=7", Seed: 7,
			Attachments: []faultline.Attachment{{Name: "breaker.svg", SVG: breakerPicture(2 * time.Second)}}},
		{Name: "TestReopens", Status: faultline.TestFail, MaxScore: 1,
			Attachments: []faultline.Attachment{{Name: "breaker.svg", SVG: breakerPicture(9 * time.Second)}}},
		{Name: "TestStaysOpen", Status: faultline.TestFail, MaxScore: 1,
			Attachments: []faultline.Attachment{{Name: "breaker.svg", SVG: open}}},
	}})
	res := e.MustLogin(u).get(submissionURL(sub.ID))
	if res.status != http.StatusOK {
		t.Fatalf("status %d", res.status)
	}
	d := res.doc()
	row := func(name string) *goquery.Selection {
		return d.Find(`[data-testid="test-row"]`).FilterFunction(func(_ int, s *goquery.Selection) bool {
			return s.Find(`[data-testid="test-name"]`).Text() == name
		})
	}
	if r := row("TestOpens"); r.Find(`[data-testid="picture"] img`).Length() != 1 || r.Find(`[data-testid="replay"][data-test="TestOpens"]`).Length() != 1 {
		t.Errorf("TestOpens: %d pictures, %d replay buttons in its row", r.Find(`[data-testid="picture"]`).Length(), r.Find(`[data-testid="replay"]`).Length())
	}
	if r := row("TestReopens"); r.Find(`[data-testid="picture"]`).Length() != 0 || !strings.Contains(r.Find(`[data-testid="same-picture"]`).Text(), "TestOpens") {
		t.Errorf("TestReopens repeats a picture of the same shape: %d pictures, note %q", r.Find(`[data-testid="picture"]`).Length(), r.Find(`[data-testid="same-picture"]`).Text())
	}
	if r := row("TestStaysOpen"); r.Find(`[data-testid="picture"]`).Length() != 1 || r.Find(`[data-testid="replay"]`).Length() != 0 {
		t.Errorf("TestStaysOpen: %d pictures (want its own), %d replay buttons (no seed: want none)", r.Find(`[data-testid="picture"]`).Length(), r.Find(`[data-testid="replay"]`).Length())
	}
	if res.testid("what-next").Length() != 0 {
		t.Error("what next offered without full marks")
	}
}

// After full marks the learner is pointed at the next lab they have not
// finished and the lessons the lab practises; an instructor looking at it
// is not.
func TestWhatNextAfterFullMarks(t *testing.T) {
	e := MustEnv(t)
	inst := e.MustUser("Ian Instructor", faultline.RoleInstructor)
	u := e.MustUser("Lea Learner", faultline.RoleLearner)
	e.MustCohort("Spring", inst, u)
	sub := e.MustSubmission(u, labSlug)
	e.MustComplete(&faultline.Result{Status: faultline.StatusGraded, Score: 2, MaxScore: 2, Tests: []faultline.TestResult{
		{Name: "TestA", Status: faultline.TestPass, Score: 2, MaxScore: 2},
	}})
	res := e.MustLogin(u).get(submissionURL(sub.ID))
	next := res.testid("next-lab")
	all := e.srv.d.Labs.All()
	var want *faultline.Lab
	for i, l := range all {
		if l.Slug == labSlug {
			want = all[(i+1)%len(all)]
		}
	}
	if next.Length() != 1 || next.AttrOr("href", "") != labURL(want.Slug) {
		t.Errorf("next lab link %q, want %s", next.AttrOr("href", ""), labURL(want.Slug))
	}
	if got := res.testid("next-lessons").Find("a").Length(); got != len(e.srv.lessonsOfLab(labSlug)) || got == 0 {
		t.Errorf("%d lessons offered, the lab practises %d", got, len(e.srv.lessonsOfLab(labSlug)))
	}
	// The live result the page swaps in says it too.
	if ev := e.MustLogin(u).get(submissionURL(sub.ID) + "/events"); !strings.Contains(ev.body, `data-testid="what-next"`) || !strings.Contains(ev.body, labURL(want.Slug)) {
		t.Errorf("the result event lacks what next:\n%.600s", ev.body)
	}
	if e.MustLogin(inst).get(submissionURL(sub.ID)).testid("what-next").Length() != 0 {
		t.Error("an instructor viewing the learner's full marks is told what to do next")
	}
}
