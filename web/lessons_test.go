package web

import (
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"

	"github.com/PuerkitoBio/goquery"

	"github.com/faultline-dev/faultline"
	"github.com/faultline-dev/faultline/course"
)

func TestLessonPages(t *testing.T) {
	e := MustEnv(t)
	u := e.MustUser("Lea Learner", faultline.RoleLearner)
	b := e.MustLogin(u)
	cc := e.srv.d.Content
	type page struct{ path, slug string }
	var tests []page
	for _, m := range cc.Modules() {
		for _, l := range m.Lessons {
			tests = append(tests, page{"/lessons/" + l.Slug, l.Slug})
		}
	}
	for _, l := range cc.Cases() {
		tests = append(tests, page{"/cases/" + l.Slug, l.Slug})
	}
	if len(tests) < 3 {
		t.Fatalf("only %d lessons and cases in the catalog", len(tests))
	}
	for _, tc := range tests {
		t.Run(tc.slug, func(t *testing.T) {
			l, err := cc.Lesson(tc.slug)
			if err != nil {
				t.Fatal(err)
			}
			res := b.get(tc.path)
			if res.status != http.StatusOK {
				t.Fatalf("status %d", res.status)
			}
			d := res.doc()
			if got := strings.TrimSpace(d.Find("h1").First().Text()); got != l.Title {
				t.Errorf("h1 %q, want %q", got, l.Title)
			}
			if res.testid("lesson-body").Children().Length() == 0 {
				t.Error("empty body")
			}
			prev, next := cc.Neighbours(tc.slug)
			for _, pn := range []struct {
				id string
				l  *faultline.Lesson
			}{{"prev", prev}, {"next", next}} {
				sel := res.testid(pn.id)
				if pn.l == nil {
					if sel.Length() != 0 {
						t.Errorf("%s link without a neighbour", pn.id)
					}
					continue
				}
				if href, _ := sel.Attr("href"); href != lessonURL(pn.l) || !strings.Contains(sel.Text(), pn.l.Title) {
					t.Errorf("%s link %q %q, want %s", pn.id, href, sel.Text(), lessonURL(pn.l))
				}
			}
			for _, slug := range l.Labs {
				if d.Find(`[data-testid="lab-card"][data-slug="`+slug+`"]`).Length() != 1 {
					t.Errorf("lab %s not offered", slug)
				}
			}
		})
	}
	// At least one page of the spine has both neighbours, so prev/next are exercised.
	prev, next := cc.Neighbours("circuit-breakers")
	if prev == nil || next == nil {
		t.Errorf("circuit-breakers has prev %v next %v; want both", prev, next)
	}
}

func TestLessonWrongPrefixRedirects(t *testing.T) {
	e := MustEnv(t)
	b := e.MustLogin(e.MustUser("Lea Learner", faultline.RoleLearner))
	if res := b.get("/cases/circuit-breakers"); res.status != http.StatusMovedPermanently || res.header.Get("Location") != "/lessons/circuit-breakers" {
		t.Errorf("case URL for a lesson: %d %q", res.status, res.header.Get("Location"))
	}
	if res := b.get("/lessons/dynamo"); res.status != http.StatusMovedPermanently || res.header.Get("Location") != "/cases/dynamo" {
		t.Errorf("lesson URL for a case: %d %q", res.status, res.header.Get("Location"))
	}
}

func TestMarkRead(t *testing.T) {
	e := MustEnv(t)
	b := e.MustLogin(e.MustUser("Lea Learner", faultline.RoleLearner))
	res := b.get("/lessons/circuit-breakers")
	if res.testid("mark-read").Length() != 1 || res.testid("read-mark").Length() != 0 {
		t.Fatal("unread lesson: want a mark-read button and no mark")
	}
	res = b.post("/lessons/circuit-breakers/read", nil)
	// The plain form comes back to the same place on the page, which now
	// confirms it.
	if res.status != http.StatusSeeOther || res.header.Get("Location") != "/lessons/circuit-breakers?read=1#read-state" {
		t.Fatalf("mark read: %d %q", res.status, res.header.Get("Location"))
	}
	back := b.get("/lessons/circuit-breakers?read=1")
	if back.testid("read-confirmed").Length() != 1 || back.doc().Find("#read-state [data-testid=read-confirmed]").Length() != 1 {
		t.Errorf("after marking, the page does not confirm it at the read-state anchor")
	}
	if res := b.get("/lessons/circuit-breakers"); res.testid("read-mark").Length() != 1 || res.testid("mark-read").Length() != 0 || res.testid("read-confirmed").Length() != 0 {
		t.Error("read lesson not shown as read (or confirmed again on a later visit)")
	}
	res = b.get("/lessons")
	marked := res.doc().Find(`[data-testid="outline-item"][data-slug="circuit-breakers"] [data-testid="read-mark"]`).Length()
	other := res.doc().Find(`[data-testid="outline-item"][data-slug="partial-failure"] [data-testid="read-mark"]`).Length()
	if marked != 1 || other != 0 {
		t.Errorf("outline marks: circuit-breakers %d, partial-failure %d", marked, other)
	}
	if res := b.post("/lessons/nope/read", nil); res.status != http.StatusNotFound {
		t.Errorf("unknown lesson: %d", res.status)
	}
	// The page's script asks for JSON and confirms in place.
	req := httptest.NewRequest(http.MethodPost, "/lessons/partial-failure/read", nil)
	req.Header.Set("Accept", "application/json")
	req.Header.Set("Sec-Fetch-Site", "same-origin")
	if res := b.do(req); res.status != http.StatusOK || !strings.Contains(res.body, `"read":true`) {
		t.Errorf("mark read asking for JSON: %d %s", res.status, res.body)
	}
}

func TestHome(t *testing.T) {
	e := MustEnv(t)
	if res := e.browser().get("/"); res.testid("intro").Length() != 1 || res.testid("sign-in").Length() != 1 || res.testid("outline").Length() != 0 {
		t.Error("visitor home: want the intro and a sign-in link, no outline")
	}
	inst := e.MustUser("Ian Instructor", faultline.RoleInstructor)
	u := e.MustUser("Lea Learner", faultline.RoleLearner)
	e.MustCohort("Spring", inst, u)
	res := e.MustLogin(u).get("/")
	if res.testid("course-summary").Length() != 1 || res.testid("home-lab").Length() != len(e.srv.d.Labs.All()) {
		t.Error("signed-in home: want the course summary and every lab")
	}
	if got := res.testid("my-cohorts").Text(); !strings.Contains(got, "Spring") {
		t.Errorf("my cohorts %q", got)
	}
	if res.testid("my-cohorts").Find("a").Length() != 0 {
		t.Error("a learner gets a link to the cohort dashboard")
	}
}

// A learner's lesson page shows, from its one read of the database, the
// threads of their cohort at the lesson that they may see (not a
// classmate's private question, not another cohort's) and their unread
// notifications in the header; both follow new posts.
func TestLessonPageShowsItsDiscussionsAndInbox(t *testing.T) {
	w := mustTalkWorld(t)
	const path = "/lessons/circuit-breakers"
	at := faultline.Place{Kind: faultline.PlaceLesson, Slug: "circuit-breakers"}
	w.mustThread(w.bob, w.spring, course.NewThread{Place: at, Kind: faultline.ThreadQuestion, Title: "Why half-open?"})
	w.mustThread(w.cara, w.spring, course.NewThread{Place: at, Kind: faultline.ThreadQuestion, Title: "Cara's private one", Private: true})
	w.mustThread(w.eve, w.autumn, course.NewThread{Place: at, Kind: faultline.ThreadQuestion, Title: "Autumn's question"})
	b := w.e.MustLogin(w.ann)

	titles := func(r *response) []string {
		var out []string
		r.doc().Find(`[data-testid="place-discussions"] [data-testid="thread-row"] a`).Each(func(_ int, s *goquery.Selection) {
			out = append(out, strings.TrimSpace(s.Text()))
		})
		return out
	}
	unread := func(r *response) string { return strings.TrimSpace(r.testid("inbox-count").First().Text()) }

	r := b.get(path)
	if r.status != http.StatusOK {
		t.Fatalf("lesson: %d", r.status)
	}
	if got := strings.Join(titles(r), " | "); !strings.Contains(got, "Why half-open?") || strings.Contains(got, "Cara") || strings.Contains(got, "Autumn") {
		t.Fatalf("threads on the lesson page: %q, want Bob's question only", got)
	}
	before := unread(r)
	// An announcement notifies every learner of the cohort.
	w.mustThread(w.inst, w.spring, course.NewThread{Place: at, Kind: faultline.ThreadAnnouncement, Title: "Quiz on Friday", Body: "Read the breaker lesson."})
	r = b.get(path)
	if got := strings.Join(titles(r), " | "); !strings.Contains(got, "Quiz on Friday") || !strings.Contains(got, "Why half-open?") {
		t.Fatalf("threads after the announcement: %q", got)
	}
	n, err := w.e.course.UnreadNotifications(t.Context(), w.ann)
	if err != nil {
		t.Fatal(err)
	}
	if after := unread(r); after == before || after != strconv.Itoa(n) {
		t.Fatalf("inbox count on the lesson page: %q before the announcement, %q after, want %d", before, after, n)
	}
}
