package web

import (
	"context"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"

	"github.com/faultline-dev/faultline"
)

// TestRegradeAndLiveAccess checks every regrade and live-view route against
// every kind of viewer: learners, instructors of other cohorts and foreign
// objects reached through one's own cohort answer 404 (like missing pages),
// visitors are sent to sign in (303) or refused (401 for a POST), and none of
// the refused POSTs changes anything.
func TestRegradeAndLiveAccess(t *testing.T) {
	ctx := context.Background()
	e := MustEnv(t)
	_, lc := MustCatalogs(t)
	admin := e.MustUser("Ada Admin", faultline.RoleAdmin)
	inst := e.MustUser("Ian Instructor", faultline.RoleInstructor)
	coInst := e.MustUser("Cora Coinst", faultline.RoleInstructor)
	otherInst := e.MustUser("Olga Otherinst", faultline.RoleInstructor)
	alice := e.MustUser("Alice Learner", faultline.RoleLearner)
	bob := e.MustUser("Bob Learner", faultline.RoleLearner)
	cohort := e.MustCohort("Spring", inst, alice)
	if err := e.db.AddMember(ctx, cohort.ID, coInst.ID, faultline.MemberCoInstructor); err != nil {
		t.Fatal(err)
	}
	other := e.MustCohort("Autumn", otherInst, bob)

	const lab = "circuit-breaker"
	aliceSub := e.MustSubmission(alice, lab)
	e.MustComplete(&faultline.Result{Status: faultline.StatusGraded, Score: 1, MaxScore: 2})
	bobSub := e.MustSubmission(bob, lab)
	e.MustComplete(&faultline.Result{Status: faultline.StatusGraded, Score: 2, MaxScore: 2})
	job := &faultline.RegradeJob{CohortID: cohort.ID, Lab: lab, CreatedBy: inst.ID}
	if err := e.db.CreateRegradeJob(ctx, job); err != nil {
		t.Fatal(err)
	}
	otherJob := &faultline.RegradeJob{CohortID: other.ID, Lab: lab, CreatedBy: otherInst.ID}
	if err := e.db.CreateRegradeJob(ctx, otherJob); err != nil {
		t.Fatal(err)
	}
	l, err := lc.Lab(lab)
	if err != nil {
		t.Fatal(err)
	}
	for _, u := range []*faultline.User{alice, bob} {
		if _, err := e.sb.Start(ctx, u.ID, l, nil, nil); err != nil {
			t.Fatal(err)
		}
		if err := e.db.UpsertSandbox(ctx, &faultline.Sandbox{UserID: u.ID, Lab: lab, State: faultline.SandboxRunning}); err != nil {
			t.Fatal(err)
		}
	}

	browsers := map[string]*browser{
		"admin": e.MustLogin(admin), "instructor": e.MustLogin(inst), "co-instructor": e.MustLogin(coInst),
		"other instructor": e.MustLogin(otherInst), "learner": e.MustLogin(alice), "other learner": e.MustLogin(bob),
		"visitor": e.browser(),
	}
	c := cohortURL(cohort.ID)
	jobURL := regradeJobURL(cohort.ID, job.ID)
	id := func(n int64) string { return strconv.FormatInt(n, 10) }
	stopAlice := url.Values{"user": {id(alice.ID)}, "lab": {lab}}
	stopBob := url.Values{"user": {id(bob.ID)}, "lab": {lab}}

	type req struct {
		method, path string
		form         url.Values
	}
	routes := []req{
		{"GET", c + "/regrades", nil},
		{"GET", jobURL, nil},
		{"GET", jobURL + "/progress", nil},
		{"POST", jobURL + "/cancel", url.Values{}},
		{"POST", c + "/labs/" + lab + "/regrade", url.Values{}},
		{"POST", c + "/submissions/" + id(aliceSub.ID) + "/regrade", url.Values{}},
		{"GET", c + "/live", nil},
		{"GET", c + "/live/panel", nil},
		{"POST", c + "/live/stop", stopAlice},
	}
	adminRoutes := []req{
		{"GET", "/admin/live", nil},
		{"GET", "/admin/live/panel", nil},
		{"POST", "/admin/live/stop", stopAlice},
	}
	do := func(viewer string, q req) *response {
		t.Helper()
		if q.method == "POST" {
			return browsers[viewer].post(q.path, q.form)
		}
		return browsers[viewer].get(q.path)
	}
	refused := func(viewer string, q req) int {
		switch {
		case viewer != "visitor":
			return http.StatusNotFound
		case q.method == "POST":
			return http.StatusUnauthorized
		}
		return http.StatusSeeOther
	}

	type tc struct {
		viewer string
		q      req
		want   int
	}
	var tests []tc
	for _, q := range routes {
		for _, v := range []string{"learner", "other learner", "other instructor", "visitor"} {
			tests = append(tests, tc{v, q, refused(v, q)})
		}
	}
	for _, q := range adminRoutes {
		for _, v := range []string{"instructor", "co-instructor", "other instructor", "learner", "visitor"} {
			tests = append(tests, tc{v, q, refused(v, q)})
		}
	}
	// Foreign or missing objects reached through a cohort one teaches.
	tests = append(tests,
		tc{"instructor", req{"GET", regradeJobURL(cohort.ID, otherJob.ID), nil}, 404},
		tc{"instructor", req{"GET", regradeJobURL(cohort.ID, otherJob.ID) + "/progress", nil}, 404},
		tc{"instructor", req{"POST", regradeJobURL(cohort.ID, otherJob.ID) + "/cancel", url.Values{}}, 404},
		tc{"instructor", req{"GET", regradeJobURL(cohort.ID, 999999), nil}, 404},
		tc{"instructor", req{"GET", c + "/regrades/abc", nil}, 404},
		tc{"instructor", req{"POST", c + "/submissions/" + id(bobSub.ID) + "/regrade", url.Values{}}, 404},
		tc{"instructor", req{"POST", c + "/submissions/999999/regrade", url.Values{}}, 404},
		tc{"instructor", req{"POST", c + "/labs/no-such-lab/regrade", url.Values{}}, 404},
		tc{"instructor", req{"POST", c + "/live/stop", stopBob}, 404},
		tc{"instructor", req{"POST", c + "/live/stop", url.Values{"user": {id(inst.ID)}, "lab": {lab}}}, 404},
		tc{"instructor", req{"GET", "/cohorts/999999/live", nil}, 404},
		tc{"instructor", req{"GET", cohortURL(other.ID) + "/live", nil}, 404},
		tc{"instructor", req{"GET", cohortURL(other.ID) + "/regrades", nil}, 404},
		tc{"admin", req{"GET", regradeJobURL(cohort.ID, otherJob.ID), nil}, 404},
	)
	for _, tc := range tests {
		t.Run(tc.viewer+" "+tc.q.method+" "+tc.q.path, func(t *testing.T) {
			res := do(tc.viewer, tc.q)
			if res.status != tc.want {
				t.Fatalf("status %d, want %d", res.status, tc.want)
			}
			if tc.want == 404 && (strings.Contains(res.body, "Spring") ||
				(tc.viewer != "learner" && strings.Contains(res.body, "Alice Learner"))) {
				t.Error("a 404 page leaks the cohort or a learner")
			}
		})
	}

	// Nothing the refused requests asked for happened.
	jobs, err := e.db.ListRegradeJobs(ctx, cohort.ID)
	if err != nil || len(jobs) != 1 || jobs[0].State != faultline.RegradeRunning {
		t.Fatalf("after refused requests the cohort's jobs are %+v, %v; want the one running job", jobs, err)
	}
	for _, u := range []*faultline.User{alice, bob} {
		if _, err := e.sb.Find(ctx, u.ID, lab); err != nil {
			t.Fatalf("after refused requests the sandbox of %s is gone: %v", u.Name, err)
		}
	}
	if e.kicks.Load() != 0 {
		t.Fatalf("refused requests kicked the grader %d times", e.kicks.Load())
	}

	// The cohort's teachers (and admins) get in; every GET renders.
	for _, v := range []string{"instructor", "co-instructor", "admin"} {
		for _, q := range routes {
			if q.method != "GET" {
				continue
			}
			if res := do(v, q); res.status != http.StatusOK {
				t.Errorf("%s GET %s: status %d, want 200", v, q.path, res.status)
			}
		}
	}
	for _, q := range adminRoutes {
		if q.method == "GET" {
			if res := do("admin", q); res.status != http.StatusOK {
				t.Errorf("admin GET %s: status %d, want 200", q.path, res.status)
			}
		}
	}
	// And their POSTs answer with a redirect.
	for _, q := range routes {
		if q.method != "POST" {
			continue
		}
		if res := do("co-instructor", q); res.status != http.StatusSeeOther {
			t.Errorf("co-instructor POST %s: status %d, want 303\n%s", q.path, res.status, res.body)
		}
	}
	if res := do("admin", req{"POST", "/admin/live/stop", stopBob}); res.status != http.StatusSeeOther {
		t.Errorf("admin POST /admin/live/stop: status %d, want 303", res.status)
	}
	if _, err := e.sb.Find(ctx, bob.ID, lab); faultline.ErrorCode(err) != faultline.ENOTFOUND {
		t.Errorf("the admin's stop left bob's sandbox: %v", err)
	}
}
