package web

import (
	"bytes"
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/PuerkitoBio/goquery"

	"github.com/faultline-dev/faultline"
	"github.com/faultline-dev/faultline/course"
	"github.com/faultline-dev/faultline/web/views"
)

// wholeCohortPage renders the cohort page the way it is made without the
// dashboard cache: every row and the member list rendered from what
// course.CohortPage reads now.
func wholeCohortPage(t *testing.T, s *Server, viewer *faultline.User, cohortID int64, query string) string {
	t.Helper()
	ctx := context.Background()
	p, err := s.c.CohortPage(ctx, viewer, cohortID, 0)
	if err != nil {
		t.Fatal(err)
	}
	inbox, err := s.c.UnreadNotifications(ctx, viewer)
	if err != nil {
		t.Fatal(err)
	}
	r := &http.Request{URL: &url.URL{Path: cohortURL(cohortID), RawQuery: query}}
	c := p.Cohort
	m := views.CohortPage{
		Page:      views.Page{Title: c.Name, User: viewer, Assets: s.assets.urls, Nav: "cohorts", Inbox: inbox},
		Name:      c.Name,
		InviteURL: strings.TrimRight(s.d.BaseURL, "/") + "/join/" + url.PathEscape(c.InviteCode),
		Live:      liveURL(c.ID), Regrades: regradesURL(c.ID),
		Progress:     s.progressView(r, c.ID, p.Matrix),
		Invite:       s.inviteView(c),
		Roster:       s.rosterView(viewer, c, p.Members, p.Taught),
		Conversation: conversationPanel(c.ID, p.Conversation),
	}
	var b bytes.Buffer
	if err := views.Cohort(m).Render(ctx, &b); err != nil {
		t.Fatal(err)
	}
	return b.String()
}

// The cohort page served from the dashboard cache is byte for byte the
// page made whole, for every viewer (their actions and move targets
// differ) and every order, the first time (filling the cache) and after,
// plain and gzipped (its rows and member list kept deflated).
func TestDashboardFromCacheIsTheWholePage(t *testing.T) {
	d := MustDash(t)
	// The owner teaches another cohort too: a move target in the list.
	d.e.MustCohort("Summer", d.owner)
	queries := []string{"", "sort=name&dir=desc", "sort=total&dir=desc", "sort=total", "sort=lab:" + d.lab0.Slug + "&dir=desc", "sort=lab:" + d.lab1.Slug}
	for _, viewer := range []*faultline.User{d.owner, d.coInst, d.admin} {
		b := d.e.MustLogin(viewer)
		for round := 0; round < 2; round++ {
			for _, q := range queries {
				path := cohortURL(d.cohort.ID)
				if q != "" {
					path += "?" + q
				}
				res := b.get(path)
				if res.status != http.StatusOK {
					t.Fatalf("%s %s: %d", viewer.Name, path, res.status)
				}
				want := wholeCohortPage(t, d.e.srv, viewer, d.cohort.ID, q)
				if res.body != want {
					t.Fatalf("%s %s (round %d): the page (%d bytes) differs from the page made whole (%d bytes)", viewer.Name, path, round, len(res.body), len(want))
				}
				b.header.Set("Accept-Encoding", "gzip, deflate, br")
				gz := b.get(path)
				b.header.Del("Accept-Encoding")
				if gz.status != http.StatusOK || gz.header.Get("Content-Encoding") != "gzip" {
					t.Fatalf("%s %s gzipped: %d, Content-Encoding %q", viewer.Name, path, gz.status, gz.header.Get("Content-Encoding"))
				}
				if got := gunzip(t, []byte(gz.body)); got != want {
					t.Fatalf("%s %s (round %d): the gunzipped page (%d bytes) differs from the page made whole (%d bytes)", viewer.Name, path, round, len(got), len(want))
				}
			}
		}
	}
	if d.e.srv.dashboards.held(d.cohort.ID) == 0 {
		t.Fatal("the dashboard was never kept")
	}
}

// A dashboard shown once (and so kept) shows every later change that
// concerns it: a new grade, a deadline with a late rule, an extension, an
// adjustment, a new member, a renamed learner, a new question.
func TestDashboardNeverShowsStaleData(t *testing.T) {
	d := MustDash(t)
	e := d.e
	ctx := context.Background()
	b := e.MustLogin(d.owner)
	path := cohortURL(d.cohort.ID)
	view := func() *response {
		t.Helper()
		res := b.get(path)
		if res.status != http.StatusOK {
			t.Fatalf("cohort page: %d", res.status)
		}
		want := wholeCohortPage(t, e.srv, d.owner, d.cohort.ID, "")
		if res.body != want {
			t.Fatal("the page differs from the page made whole")
		}
		b.header.Set("Accept-Encoding", "gzip")
		defer b.header.Del("Accept-Encoding")
		if gz := b.get(path); gunzip(t, []byte(gz.body)) != want {
			t.Fatal("the gzipped page differs from the page made whole")
		}
		return res
	}
	cellText := func(res *response, name string, lab int) string {
		var text string
		res.testid("matrix-row").Each(func(_ int, s *goquery.Selection) {
			if strings.HasPrefix(strings.TrimSpace(s.Find("th").Text()), name) {
				text = strings.TrimSpace(s.Find(`[data-testid="matrix-cell"]`).Eq(lab).Find("a").Text())
			}
		})
		return text
	}
	view()

	// A new grade: Carol's first graded work on lab 0.
	e.MustSubmission(d.carol, d.lab0.Slug)
	e.MustComplete(&faultline.Result{Status: faultline.StatusGraded, Score: 2, MaxScore: d.max0})
	if got := cellText(view(), "Carol", 0); got != scoreOf(2, d.max0) {
		t.Fatalf("after a new grade Carol's lab 0 shows %q, want %s", got, scoreOf(2, d.max0))
	}

	// A deadline before Bob's lab 1 work, late work refused: it counts 0.
	bobsWork := e.clock.Now()
	e.clock.Add(time.Hour)
	if err := e.db.SetLabSettings(ctx, &faultline.LabSettings{CohortID: d.cohort.ID, Lab: d.lab1.Slug, DueAt: bobsWork.Add(-time.Hour),
		Late: faultline.LatePolicy{Mode: faultline.LateRefuse}}); err != nil {
		t.Fatal(err)
	}
	if got := cellText(view(), "Bob", 1); got != scoreOf(0, d.max1) {
		t.Fatalf("after a deadline Bob's lab 1 shows %q, want %s", got, scoreOf(0, d.max1))
	}
	// An extension past it: his work counts again.
	if _, err := e.course.GrantExtension(ctx, d.owner, d.cohort.ID, d.bob.ID, faultline.Extension{Lab: d.lab1.Slug, DueAt: bobsWork.Add(time.Hour), Reason: "ill"}); err != nil {
		t.Fatal(err)
	}
	if got := cellText(view(), "Bob", 1); got != scoreOf(d.max1, d.max1) {
		t.Fatalf("after an extension Bob's lab 1 shows %q, want %s", got, scoreOf(d.max1, d.max1))
	}

	// An adjustment of Carol's lab 0 (no deadline there).
	if err := e.db.AddAdjustment(ctx, &faultline.Adjustment{UserID: d.carol.ID, Lab: d.lab0.Slug, Points: 2, Reason: "fair", CreatedBy: d.owner.ID}); err != nil {
		t.Fatal(err)
	}
	if got := cellText(view(), "Carol", 0); got != scoreOf(4, d.max0) {
		t.Fatalf("after an adjustment Carol's lab 0 shows %q, want %s", got, scoreOf(4, d.max0))
	}

	// A new member, and a renamed one.
	dora := e.MustUser("Dora New", faultline.RoleLearner)
	if err := e.db.AddMember(ctx, d.cohort.ID, dora.ID, faultline.MemberLearner); err != nil {
		t.Fatal(err)
	}
	res := view()
	if got := rowNames(res); len(got) != 4 || got[3] != "Dora" {
		t.Fatalf("after a new member the rows are %v", got)
	}
	if res.doc().Find(`[data-testid="member"][data-email="`+dora.Email+`"]`).Length() != 1 {
		t.Fatal("the new member is not in the member list")
	}
	if err := e.db.SetUserName(ctx, d.alice.ID, "Alicia"); err != nil {
		t.Fatal(err)
	}
	if got := rowNames(view()); got[0] != "Alicia" {
		t.Fatalf("after a rename the rows are %v", got)
	}

	// A question in the cohort: the conversation figures count it.
	unanswered := func(res *response) string { return res.testid("unanswered-count").Text() }
	before := unanswered(view())
	if _, err := e.course.StartThread(ctx, d.alice, d.cohort.ID, course.NewThread{Place: faultline.Place{Kind: faultline.PlaceCohort},
		Kind: faultline.ThreadQuestion, Title: "Is lab 1 due Friday?", Body: "Asking."}); err != nil {
		t.Fatal(err)
	}
	if after := unanswered(view()); after == before || after != "1" {
		t.Fatalf("unanswered questions %q before a new question, %q after", before, after)
	}
}

// A page whose own text holds one of the markers the gzip answer is cut
// at (here the viewer's name, shown in the layout) is answered whole, and
// right.
func TestDashboardGzipWithAMarkerInThePage(t *testing.T) {
	d := MustDash(t)
	if err := d.e.db.SetUserName(context.Background(), d.owner.ID, "Olga "+dashRowsMark+dashRosterMark); err != nil {
		t.Fatal(err)
	}
	owner, err := d.e.db.FindUserByID(context.Background(), d.owner.ID)
	if err != nil {
		t.Fatal(err)
	}
	b := d.e.MustLogin(owner)
	b.header.Set("Accept-Encoding", "gzip")
	res := b.get(cohortURL(d.cohort.ID))
	got := res.body
	if res.header.Get("Content-Encoding") == "gzip" {
		got = gunzip(t, []byte(res.body))
	}
	if want := wholeCohortPage(t, d.e.srv, owner, d.cohort.ID, ""); res.status != http.StatusOK || got != want {
		t.Fatalf("status %d; the page (%d bytes) differs from the page made whole (%d bytes)", res.status, len(got), len(want))
	}
}
