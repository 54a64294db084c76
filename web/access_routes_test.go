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
)

// TestEveryTeacherRouteRefusesOutsiders walks the router, so an instructor
// route added later is covered without being listed here: every route under
// /cohorts/{id} answers 404 to the cohort's own learners and to instructors
// of other cohorts (as for a cohort that does not exist), a learner who
// co-teaches another cohort included, every /admin route
// to non-admins, and visitors are sent to sign in. The cohort's instructor
// and a co-instructor whose account is a learner's get the pages, which
// shows the addresses tried are real ones, not 404s for a wrong address.
func TestEveryTeacherRouteRefusesOutsiders(t *testing.T) {
	ctx := context.Background()
	e := MustEnv(t)
	admin := e.MustUser("Ada Admin", faultline.RoleAdmin)
	inst := e.MustUser("Ian Instructor", faultline.RoleInstructor)
	otherInst := e.MustUser("Olga Otherinst", faultline.RoleInstructor)
	carl := e.MustUser("Carl Coinst", faultline.RoleLearner) // a learner account made co-instructor
	alice := e.MustUser("Alice Learner", faultline.RoleLearner)
	dan := e.MustUser("Dan Learner", faultline.RoleLearner)
	bob := e.MustUser("Bob Learner", faultline.RoleLearner)
	// Tess learns in Spring and is a co-instructor of Autumn: she passes
	// the "teaches somewhere" gate, so only the per-cohort check stops her.
	tess := e.MustUser("Tess Teachingassistant", faultline.RoleLearner)
	cohort := e.MustCohort("Spring", inst, alice, dan, tess)
	if err := e.db.AddMember(ctx, cohort.ID, carl.ID, faultline.MemberCoInstructor); err != nil {
		t.Fatal(err)
	}
	autumn := e.MustCohort("Autumn", otherInst, bob)
	if err := e.db.AddMember(ctx, autumn.ID, tess.ID, faultline.MemberCoInstructor); err != nil {
		t.Fatal(err)
	}
	const lab = "circuit-breaker"
	aliceSub := e.MustSubmission(alice, lab)
	e.MustComplete(&faultline.Result{Status: faultline.StatusGraded, Score: 1, MaxScore: 2})
	danSub := e.MustSubmission(dan, lab)
	e.MustComplete(&faultline.Result{Status: faultline.StatusGraded, Score: 2, MaxScore: 2})
	job := &faultline.RegradeJob{CohortID: cohort.ID, Lab: lab, CreatedBy: inst.ID}
	if err := e.db.CreateRegradeJob(ctx, job); err != nil {
		t.Fatal(err)
	}

	params := map[string]string{
		"id": strconv.FormatInt(cohort.ID, 10), "slug": lab,
		"uid": strconv.FormatInt(alice.ID, 10), "user": strconv.FormatInt(alice.ID, 10),
		"job": strconv.FormatInt(job.ID, 10), "sid": strconv.FormatInt(aliceSub.ID, 10),
		"case": "dynamo", "rid": "1",
	}
	query := map[string]string{
		"/cohorts/{id}/labs/{slug}/compare": "?a=" + strconv.FormatInt(aliceSub.ID, 10) + "&b=" + strconv.FormatInt(danSub.ID, 10),
	}
	type route struct{ method, pattern, path string }
	var routes []route
	err := chi.Walk(e.srv.router, func(method, pattern string, _ http.Handler, _ ...func(http.Handler) http.Handler) error {
		if !strings.HasPrefix(pattern, "/cohorts/{id}") && !strings.HasPrefix(pattern, "/admin/") {
			return nil
		}
		path := pattern
		for strings.Contains(path, "{") {
			i, j := strings.Index(path, "{"), strings.Index(path, "}")
			v, ok := params[path[i+1:j]]
			if !ok {
				t.Fatalf("route %s has a parameter this test does not know; add it to params", pattern)
			}
			path = path[:i] + v + path[j+1:]
		}
		routes = append(routes, route{method, pattern, path + query[pattern]})
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(routes) < 20 {
		t.Fatalf("found only %d instructor routes; the walk is broken", len(routes))
	}

	browsers := map[string]*browser{
		"instructor": e.MustLogin(inst), "co-instructor": e.MustLogin(carl), "admin": e.MustLogin(admin),
		"learner": e.MustLogin(alice), "learner teaching elsewhere": e.MustLogin(tess),
		"other instructor": e.MustLogin(otherInst), "visitor": e.browser(),
	}
	do := func(b *browser, rt route) *response {
		if rt.method == http.MethodPost {
			return b.post(rt.path, url.Values{})
		}
		return b.get(rt.path)
	}
	for _, rt := range routes {
		admin := strings.HasPrefix(rt.pattern, "/admin/")
		outsiders := []string{"learner", "learner teaching elsewhere", "other instructor"}
		if admin {
			outsiders = append(outsiders, "instructor", "co-instructor")
		}
		for _, who := range outsiders {
			t.Run(who+" "+rt.method+" "+rt.pattern, func(t *testing.T) {
				res := do(browsers[who], rt)
				if res.status != http.StatusNotFound {
					t.Fatalf("status %d, want 404", res.status)
				}
				// Dan is a learner none of these viewers may see; the
				// other instructor does not even know the cohort's name.
				if strings.Contains(res.body, "Dan Learner") || who == "other instructor" && strings.Contains(res.body, "Spring") {
					t.Error("the 404 page leaks the cohort or its learners")
				}
			})
		}
		t.Run("visitor "+rt.method+" "+rt.pattern, func(t *testing.T) {
			res := do(browsers["visitor"], rt)
			if want := map[string]int{http.MethodGet: http.StatusSeeOther, http.MethodPost: http.StatusUnauthorized}[rt.method]; res.status != want {
				t.Fatalf("status %d, want %d", res.status, want)
			}
		})
		if rt.method != http.MethodGet {
			continue // the insiders' POSTs would change what the other cases see
		}
		insiders := []string{"instructor", "co-instructor"}
		if admin {
			insiders = []string{"admin"}
		}
		for _, who := range insiders {
			t.Run(who+" GET "+rt.pattern, func(t *testing.T) {
				if res := do(browsers[who], rt); res.status != http.StatusOK {
					t.Fatalf("status %d, want 200", res.status)
				}
			})
		}
	}

	// A co-instructor with a learner account teaches the cohort but may not
	// create cohorts of their own.
	if res := browsers["co-instructor"].post("/cohorts", url.Values{"name": {"Mine"}}); res.status != http.StatusNotFound {
		t.Errorf("co-instructor with a learner account POST /cohorts: %d, want 404", res.status)
	}
	if res := browsers["co-instructor"].get("/cohorts"); res.status != http.StatusOK || res.testid("create-cohort").Length() != 0 || res.testid("cohort").Length() != 1 {
		t.Errorf("co-instructor's /cohorts: status %d, %d create buttons, %d cohorts; want 200, none, 1",
			res.status, res.testid("create-cohort").Length(), res.testid("cohort").Length())
	}
}
