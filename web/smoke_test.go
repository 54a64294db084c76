package web

import (
	"net/http"
	"testing"

	"github.com/faultline-dev/faultline"
)

func TestSmokePages(t *testing.T) {
	e := MustEnv(t)
	admin := e.MustUser("Ada Admin", faultline.RoleAdmin)
	learner := e.MustUser("Lea Learner", faultline.RoleLearner)
	c := e.MustCohort("Spring", admin, learner)
	e.MustSubmission(learner, "circuit-breaker")
	b := e.MustLogin(admin)
	for _, p := range []string{"/", "/lessons", "/lessons/circuit-breakers", "/cases/dynamo", "/labs", "/labs/circuit-breaker", "/cohorts", cohortURL(c.ID), "/submissions/1"} {
		res := b.get(p)
		if res.status != http.StatusOK {
			t.Errorf("GET %s: %d\n%s\nlogs:\n%s", p, res.status, res.body, e.logs)
		}
	}
}
