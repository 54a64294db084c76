package web

import (
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/faultline-dev/faultline"
)

// TestWhoSeesWhat checks every protected page against every kind of viewer:
// others' submissions and foreign cohorts answer 404, like missing ones.
func TestWhoSeesWhat(t *testing.T) {
	e := MustEnv(t)
	admin := e.MustUser("Ada Admin", faultline.RoleAdmin)
	inst := e.MustUser("Ian Instructor", faultline.RoleInstructor)
	otherInst := e.MustUser("Olga Otherinst", faultline.RoleInstructor)
	alice := e.MustUser("Alice Learner", faultline.RoleLearner)
	bob := e.MustUser("Bob Learner", faultline.RoleLearner)
	cohort := e.MustCohort("Spring", inst, alice)
	otherCohort := e.MustCohort("Autumn", otherInst, bob)
	sub := e.MustSubmission(alice, "circuit-breaker")
	// Finished, so the event stream ends by itself after the result.
	e.MustComplete(&faultline.Result{Status: faultline.StatusGraded, Score: 1, MaxScore: 2})

	subURL := submissionURL(sub.ID)
	cohortPage := cohortURL(cohort.ID)
	browsers := map[string]*browser{
		"admin": e.MustLogin(admin), "instructor": e.MustLogin(inst), "other instructor": e.MustLogin(otherInst),
		"owner": e.MustLogin(alice), "other learner": e.MustLogin(bob), "visitor": e.browser(),
	}
	tests := []struct {
		viewer string
		path   string
		want   int
	}{
		{"owner", subURL, 200},
		{"owner", subURL + "/events", 200},
		{"other learner", subURL, 404},
		{"other learner", subURL + "/events", 404},
		{"instructor", subURL, 200},
		{"other instructor", subURL, 404},
		{"other instructor", subURL + "/events", 404},
		{"admin", subURL, 200},
		{"visitor", subURL, 303},
		{"owner", "/submissions/999999", 404},
		{"owner", "/submissions/abc", 404},

		{"owner", cohortPage, 404},
		{"other learner", cohortPage, 404},
		{"instructor", cohortPage, 200},
		{"other instructor", cohortPage, 404},
		{"admin", cohortPage, 200},
		{"admin", "/cohorts/999999", 404},
		{"instructor", "/cohorts/999999", 404},
		{"instructor", cohortURL(otherCohort.ID), 404},
		{"visitor", cohortPage, 303},

		{"owner", "/cohorts", 404},
		{"instructor", "/cohorts", 200},
		{"visitor", "/lessons", 303},
		{"visitor", "/labs/circuit-breaker", 303},
		{"visitor", "/", 200},
		{"owner", "/labs/no-such-lab", 404},
		{"owner", "/lessons/no-such-lesson", 404},
		{"owner", "/no/such/page", 404},
	}
	for _, tc := range tests {
		t.Run(tc.viewer+" "+tc.path, func(t *testing.T) {
			res := browsers[tc.viewer].get(tc.path)
			if res.status != tc.want {
				t.Fatalf("status %d, want %d", res.status, tc.want)
			}
			if tc.want == 404 && (strings.Contains(res.body, "Spring") || strings.Contains(res.body, "package x")) {
				t.Error("a 404 page leaks the cohort or submission")
			}
		})
	}

	// The instructor sees the owner's name; the matrix lists only the cohort's learners.
	res := browsers["instructor"].get(cohortPage)
	if got := res.testid("matrix-row").Length(); got != 1 {
		t.Errorf("matrix rows %d, want 1", got)
	}
	if strings.Contains(res.testid("matrix").Text(), "Bob") {
		t.Error("the matrix shows a learner of another cohort")
	}

	// Learners may not create cohorts either.
	if res := browsers["owner"].post("/cohorts", url.Values{"name": {"Mine"}}); res.status != http.StatusNotFound {
		t.Errorf("learner POST /cohorts: %d, want 404", res.status)
	}
}
