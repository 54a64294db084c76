package web

import (
	"context"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"

	"github.com/go-chi/chi/v5"

	"github.com/faultline-dev/faultline"
	"github.com/faultline-dev/faultline/course"
)

// conversationPrefixes are where the conversation's routes outside
// /cohorts/{id} live (those are walked by TestEveryTeacherRouteRefusesOutsiders).
var conversationPrefixes = []string{"/discuss", "/inbox", "/settings/notifications", "/submissions/{id}/comments",
	"/submissions/{id}/regrade-requests", "/labs/{slug}/share-terminal"}

// TestEveryConversationRouteChecksWhoAsks walks the router, so a route
// added later under the conversation's prefixes is covered without being
// listed here. For every route: a visitor is sent to sign in; a learner of
// another cohort and another cohort's instructor get 404, as for a cohort
// that does not exist. Routes about one thread or post are tried on three
// threads: a group's (where the other group gets 404), a private question
// (where a classmate gets 404) and a public one. Routes about a submission
// refuse classmates; routes about a notification refuse everyone but its
// owner. The insiders' GETs answer 200, which shows the addresses tried are
// real ones.
func TestEveryConversationRouteChecksWhoAsks(t *testing.T) {
	ctx := context.Background()
	w := mustTalkWorld(t)
	e := w.e
	sub := w.mustFailingRun(w.ann)
	public := w.mustThread(w.ann, w.spring, course.NewThread{Title: "Public question", Run: &course.RunRef{SubmissionID: sub, Test: 0}})
	private := w.mustThread(w.bob, w.spring, course.NewThread{Title: "Private question", Private: true})
	group, err := e.course.StartPrompt(ctx, w.ann, w.spring.ID, "dynamo", 1, 0)
	if err != nil {
		t.Fatal(err)
	}
	groupPost := w.mustReply(w.ann, w.spring, group.ID, 0, "Our group thinks so.", false)
	comment, err := e.course.AddComment(ctx, w.inst, sub, "", 0, 0, "Look at the threshold.")
	if err != nil {
		t.Fatal(err)
	}
	ns, err := e.db.Notifications(ctx, w.ann.ID, 0, false)
	if err != nil || len(ns) == 0 {
		t.Fatalf("Ann has no notification to open: %v", err)
	}

	// One set of parameters per target thread: its ID, a post of it, and
	// who may see it (insider) or not (outsider, besides other cohorts).
	type target struct {
		name, insider, outsider string
		thread, post            int64
	}
	targets := []target{
		{"group thread", "ann", "cara", group.ID, groupPost.Post.ID},
		{"private thread", "bob", "ann", private.Thread.ID, private.Post.ID},
		{"public thread", "ann", "", public.Thread.ID, public.Post.ID},
	}
	browsers := map[string]*browser{
		"ann": e.MustLogin(w.ann), "bob": e.MustLogin(w.bob), "cara": e.MustLogin(w.cara), "inst": e.MustLogin(w.inst),
		"eve": e.MustLogin(w.eve), "olga": e.MustLogin(w.otherInst), "visitor": e.browser(),
	}
	type route struct{ method, pattern string }
	var routes []route
	err = chi.Walk(e.srv.router, func(method, pattern string, _ http.Handler, _ ...func(http.Handler) http.Handler) error {
		for _, p := range conversationPrefixes {
			if strings.HasPrefix(pattern, p) {
				routes = append(routes, route{method, pattern})
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(routes) < 25 {
		t.Fatalf("found only %d conversation routes; the walk is broken", len(routes))
	}
	fill := func(pattern string, tg target) string {
		params := map[string]string{
			"cid": strconv.FormatInt(w.spring.ID, 10), "tid": strconv.FormatInt(tg.thread, 10), "pid": strconv.FormatInt(tg.post, 10),
			"case": "dynamo", "n": "1", "name": "timeline.svg", "id": strconv.FormatInt(sub, 10),
			"comment": strconv.FormatInt(comment.ID, 10), "nid": strconv.FormatInt(ns[0].ID, 10), "slug": labSlug,
		}
		path := pattern
		for strings.Contains(path, "{") {
			i, j := strings.Index(path, "{"), strings.Index(path, "}")
			v, ok := params[path[i+1:j]]
			if !ok {
				t.Fatalf("route %s has a parameter this test does not know; add it", pattern)
			}
			path = path[:i] + v + path[j+1:]
		}
		if strings.HasSuffix(pattern, "/run/{n}/{name}") {
			path = strings.Replace(path, "/run/1/", "/run/0/", 1)
		}
		return path
	}
	do := func(who string, method, path string) *response {
		if method == http.MethodPost {
			return browsers[who].post(path, url.Values{"body": {"x"}})
		}
		return browsers[who].get(path)
	}
	for _, rt := range routes {
		aboutThread := strings.Contains(rt.pattern, "{tid}") || strings.Contains(rt.pattern, "{pid}")
		inCohort := strings.HasPrefix(rt.pattern, "/discuss/{cid}")
		tgs := []target{targets[2]}
		if aboutThread {
			tgs = targets
		}
		for _, tg := range tgs {
			if strings.Contains(rt.pattern, "/run/") && tg.name != "public thread" {
				continue // only the public question has a run attached
			}
			path := fill(rt.pattern, tg)
			name := rt.method + " " + rt.pattern + " (" + tg.name + ")"
			t.Run("visitor "+name, func(t *testing.T) {
				want := map[string]int{http.MethodGet: http.StatusSeeOther, http.MethodPost: http.StatusUnauthorized}[rt.method]
				if res := do("visitor", rt.method, path); res.status != want {
					t.Fatalf("status %d, want %d", res.status, want)
				}
			})
			var outsiders []string
			switch {
			case inCohort:
				outsiders = []string{"eve", "olga"}
				if aboutThread && tg.outsider != "" {
					outsiders = append(outsiders, tg.outsider)
				}
			case strings.HasPrefix(rt.pattern, "/submissions/"):
				outsiders = []string{"eve", "olga", "bob"}
			case strings.HasPrefix(rt.pattern, "/inbox/{nid}"):
				outsiders = []string{"bob", "inst"}
			}
			for _, who := range outsiders {
				t.Run(who+" "+name, func(t *testing.T) {
					res := do(who, rt.method, path)
					if res.status != http.StatusNotFound {
						t.Fatalf("status %d, want 404\n%.500s", res.status, res.body)
					}
					if strings.Contains(res.body, "Spring") && (who == "eve" || who == "olga") {
						t.Error("the 404 page names the cohort")
					}
					for _, secret := range []string{"Our group thinks", "Private question", "Why does it flap"} {
						if strings.Contains(res.body, secret) {
							t.Errorf("the 404 page leaks %q", secret)
						}
					}
				})
			}
			if rt.method != http.MethodGet || strings.HasSuffix(rt.pattern, "/events") {
				continue
			}
			insider := "ann"
			if aboutThread {
				insider = tg.insider
			}
			for _, who := range []string{insider, "inst"} {
				if strings.HasSuffix(rt.pattern, "/edit") && who == "inst" {
					continue // only the author edits
				}
				t.Run(who+" "+name, func(t *testing.T) {
					res := do(who, rt.method, path)
					if rt.pattern == "/discuss" && res.status == http.StatusSeeOther {
						return // one cohort: straight to its discussions
					}
					if res.status != http.StatusOK {
						t.Fatalf("status %d, want 200\n%.800s", res.status, res.body)
					}
				})
			}
		}
	}

	// The event streams answer their insiders and refuse outsiders before
	// streaming anything.
	for _, tg := range targets {
		path := course.ThreadURL(w.spring.ID, tg.thread) + "/events?v=0"
		if res := browsers[tg.insider].get(path); res.status != http.StatusOK || !strings.Contains(res.body, "event: posts") {
			t.Errorf("%s's stream of the %s: %d\n%.300s", tg.insider, tg.name, res.status, res.body)
		}
		for _, who := range []string{"eve", "olga", tg.outsider} {
			if who == "" {
				continue
			}
			if res := browsers[who].get(path); res.status != http.StatusNotFound || strings.Contains(res.body, "event:") {
				t.Errorf("%s's stream of the %s: %d, want 404 without events", who, tg.name, res.status)
			}
		}
	}
	_ = faultline.ENOTFOUND
}
