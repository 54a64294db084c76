package web

import (
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/PuerkitoBio/goquery"

	"github.com/faultline-dev/faultline"
)

func TestCreateCohortAndDashboard(t *testing.T) {
	e := MustEnv(t)
	inst := e.MustUser("Ian Instructor", faultline.RoleInstructor)
	b := e.MustLogin(inst)

	res := b.post("/cohorts", url.Values{"name": {"   "}})
	if res.status != http.StatusUnprocessableEntity || !strings.Contains(res.testid("form-error").Text(), "name") {
		t.Fatalf("empty name: %d %q", res.status, res.testid("form-error").Text())
	}
	long := strings.Repeat("n", 101)
	if res := b.post("/cohorts", url.Values{"name": {long}}); res.status != 422 {
		t.Fatalf("long name: %d", res.status)
	} else if v, _ := res.doc().Find("input[name=name]").Attr("value"); v != long {
		t.Error("name not kept")
	}

	res = b.post("/cohorts", url.Values{"name": {"Spring <b>2026</b>"}})
	if res.status != http.StatusSeeOther {
		t.Fatalf("create: %d", res.status)
	}
	loc := res.header.Get("Location")
	res = b.get(loc)
	if res.status != http.StatusOK {
		t.Fatalf("dashboard: %d", res.status)
	}
	if strings.Contains(res.body, "<b>2026</b>") {
		t.Error("cohort name not escaped")
	}
	invite, _ := res.testid("invite-link").Attr("value")
	code, ok := strings.CutPrefix(invite, "http://portal.test/join/")
	if !ok || len(code) < 22 {
		t.Fatalf("invite link %q: want BaseURL/join/<16+ random bytes>", invite)
	}
	if res := b.get("/cohorts"); !strings.Contains(res.testid("cohorts").Text(), "Spring <b>2026</b>") {
		t.Error("cohort not listed")
	}

	// Two learners join through the link; one submits twice.
	alice := e.browser()
	if res := alice.post("/join/"+code, url.Values{"name": {"Alice"}, "email": {"alice@example.com"}, "password": {"0123456789"}, "confirm": {"0123456789"}}); res.status != 303 {
		t.Fatalf("join: %d", res.status)
	}
	e.browser().post("/join/"+code, url.Values{"name": {"Bob"}, "email": {"bob@example.com"}, "password": {"0123456789"}, "confirm": {"0123456789"}})
	alice.post("/labs/"+labSlug+"/submissions", nil)
	alice.post("/labs/"+labSlug+"/submissions", nil)
	lab := e.mustLab(labSlug)
	max := lab.MaxScore()
	first := e.MustComplete(&faultline.Result{Status: faultline.StatusGraded, Score: max - 1, MaxScore: max})
	e.MustComplete(&faultline.Result{Status: faultline.StatusGraded, Score: 1, MaxScore: max})

	res = b.get(loc)
	if n := res.testid("matrix-row").Length(); n != 2 {
		t.Fatalf("%d matrix rows, want 2 learners", n)
	}
	if n := res.testid("member").Length(); n != 3 {
		t.Errorf("%d members, want instructor + 2", n)
	}
	labs := e.srv.d.Labs.All()
	col := -1
	for i, l := range labs {
		if l.Slug == labSlug {
			col = i
		}
	}
	var aliceRow, bobRow = -1, -1
	res.testid("matrix-row").Each(func(i int, s *goquery.Selection) {
		if strings.Contains(s.Find("th").Text(), "Alice") {
			aliceRow = i
		} else {
			bobRow = i
		}
	})
	cells := res.testid("matrix-row").Eq(aliceRow).Find(`[data-testid="matrix-cell"]`)
	if cells.Length() != len(labs) {
		t.Fatalf("%d cells, want %d", cells.Length(), len(labs))
	}
	cell := cells.Eq(col)
	// The cell links to Alice's submissions for the lab, which list the best one.
	if a := cell.Find("a"); a.Text() != scoreOf(max-1, max) || !strings.HasSuffix(a.AttrOr("href", ""), "/labs/"+labSlug) {
		t.Errorf("alice's cell %q -> %q, want %s -> her submissions for %s", a.Text(), a.AttrOr("href", ""), scoreOf(max-1, max), labSlug)
	} else if subs := b.get(a.AttrOr("href", "")); subs.doc().Find(`a[href="`+submissionURL(first)+`"]`).Length() != 1 {
		t.Errorf("alice's submissions page (%d) does not link best submission %d", subs.status, first)
	}
	if !strings.Contains(cell.Text(), "2×") {
		t.Errorf("attempts not shown: %q", cell.Text())
	}
	if res.testid("matrix-row").Eq(bobRow).Find("a").Length() != 0 {
		t.Error("bob has no submissions but a link")
	}
	// A submission still in the queue shows as pending, without a link.
	bobBrowser := e.browser()
	bobBrowser.post("/login", url.Values{"email": {"bob@example.com"}, "password": {"0123456789"}})
	if res := bobBrowser.post("/labs/"+labSlug+"/submissions", nil); res.status != http.StatusSeeOther {
		t.Fatalf("bob submits: %d", res.status)
	}
	res = b.get(loc)
	bobCell := res.testid("matrix-row").Eq(bobRow).Find(`[data-testid="matrix-cell"]`).Eq(col)
	if bobCell.Find(`[data-state="pending"]`).Length() != 1 || bobCell.Find("a").Length() != 0 {
		t.Errorf("bob's queued submission shows as %q", bobCell.Text())
	}
	// The instructor can open the best submission through the cell.
	if res := b.get(submissionURL(first)); res.status != 200 || !strings.Contains(res.body, "Alice") {
		t.Errorf("instructor opening the cell: %d", res.status)
	}
}

func scoreOf(score, max int) string { return fmt.Sprintf("%d/%d", score, max) }
