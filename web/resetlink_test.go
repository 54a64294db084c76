package web

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/faultline-dev/faultline"
)

// TestIssuedResetLink: an instructor makes a one-time reset link for a
// learner of their cohort, without email; the learner sets a new password
// through it once, their old sign-ins end; the link is never logged. The
// roster offers the action only where the rule allows it, and the rule
// holds against a forged request: no link for a co-instructor or an account
// that can do more than a learner's, except by an administrator; none for
// another cohort's learners.
func TestIssuedResetLink(t *testing.T) {
	e := MustEnv(t)
	ctx := context.Background()
	admin := e.MustUser("Ada Admin", faultline.RoleAdmin)
	inst := e.MustUser("Ian Instructor", faultline.RoleInstructor)
	other := e.MustUser("Oda Other", faultline.RoleInstructor)
	lin := e.MustUser("Lin Learner", faultline.RoleLearner)
	co := e.MustUser("Cai Coteacher", faultline.RoleLearner)
	boss := e.MustUser("Bea Boss", faultline.RoleInstructor) // learns in the cohort, but may teach elsewhere
	max := e.MustUser("Max Mate", faultline.RoleLearner)
	c := e.MustCohort("Spring", inst, lin, co, boss, max)
	e.MustCohort("Autumn", other)
	if err := e.db.AddMember(ctx, c.ID, co.ID, faultline.MemberCoInstructor); err != nil {
		t.Fatal(err)
	}
	teacher := e.MustLogin(inst)
	linOld := e.MustLogin(lin)
	action := func(u *faultline.User) string {
		return cohortURL(c.ID) + "/members/" + itoa64(u.ID) + "/reset-link"
	}

	page := teacher.get(cohortURL(c.ID))
	offered := map[string]bool{}
	page.testid("member").Each(func(_ int, s *goqSel) {
		offered[s.AttrOr("data-email", "")] = s.Find(`[data-testid="member-reset-link"]`).Length() == 1
	})
	if !offered[lin.Email] || offered[co.Email] || offered[boss.Email] || offered[inst.Email] {
		t.Errorf("reset links offered: %v; want only the learner's", offered)
	}

	res := teacher.post(action(lin), nil)
	if res.status != http.StatusOK {
		t.Fatalf("issue: %d\n%s", res.status, res.testid("error-message").Text())
	}
	link := res.testid("reset-link").AttrOr("value", "")
	if !strings.HasPrefix(link, "http://portal.test/password/reset?token=") || res.header.Get("Cache-Control") != "no-store" {
		t.Fatalf("reset link %q (Cache-Control %q)", link, res.header.Get("Cache-Control"))
	}
	token := strings.TrimPrefix(link, "http://portal.test/password/reset?token=")
	if strings.Contains(e.logs.String(), token) {
		t.Error("the reset link's token is in the log")
	}

	// The learner uses it: no email on this portal, the form still opens.
	visitor := e.browser()
	u, _ := url.Parse(link)
	if form := visitor.get(u.RequestURI()); form.status != http.StatusOK {
		t.Fatalf("the issued link's form: %d", form.status)
	}
	const next = "a fresh passphrase"
	if r := visitor.post("/password/reset", url.Values{"token": {token}, "password": {next}, "confirm": {next}}); r.status != http.StatusSeeOther {
		t.Fatalf("reset through the issued link: %d", r.status)
	}
	if r := linOld.get("/account"); r.status != http.StatusSeeOther {
		t.Errorf("the learner's old sign-in survived the reset: %d", r.status)
	}
	if r := e.browser().post("/login", url.Values{"email": {lin.Email}, "password": {next}}); r.status != http.StatusSeeOther {
		t.Errorf("the new password does not sign in: %d", r.status)
	}
	if r := e.browser().post("/password/reset", url.Values{"token": {token}, "password": {"again and again"}, "confirm": {"again and again"}}); r.status != http.StatusNotFound {
		t.Errorf("the issued link works twice: %d", r.status)
	}

	// Forged requests past the roster's buttons.
	for name, c := range map[string]struct {
		b      *browser
		target *faultline.User
		status int
	}{
		"teacher for the co-instructor":        {teacher, co, http.StatusForbidden},
		"teacher for an instructor account":    {teacher, boss, http.StatusForbidden},
		"teacher for themselves":               {teacher, inst, http.StatusForbidden},
		"another cohort's instructor":          {e.MustLogin(other), lin, http.StatusNotFound},
		"a classmate":                          {e.MustLogin(max), lin, http.StatusNotFound},
		"the co-instructor for the instructor": {e.MustLogin(co), inst, http.StatusForbidden},
	} {
		if r := c.b.post(action(c.target), nil); r.status != c.status || r.testid("reset-link").Length() != 0 {
			t.Errorf("%s: %d, want %d with no link", name, r.status, c.status)
		}
	}
	// An administrator may, for a co-instructor too.
	if r := e.MustLogin(admin).post(action(co), nil); r.status != http.StatusOK || r.testid("reset-link").Length() != 1 {
		t.Errorf("admin for the co-instructor: %d", r.status)
	}
}
