package web

import (
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"

	"github.com/faultline-dev/faultline"
)

func TestAccountName(t *testing.T) {
	e := MustEnv(t)
	u := e.MustUser("Lea Learner", faultline.RoleLearner)
	b := e.MustLogin(u)
	res := b.get("/account")
	if res.status != http.StatusOK || res.doc().Find(`#name input[name="name"]`).AttrOr("value", "") != "Lea Learner" {
		t.Fatalf("account page: %d, name field %q", res.status, res.doc().Find(`#name input[name="name"]`).AttrOr("value", ""))
	}
	if res.testid("tokens-link").Length() != 0 {
		t.Error("a learner is offered API tokens")
	}

	// A refused name keeps what was typed and says why; nothing changes.
	long := strings.Repeat("x", 101)
	res = b.post("/account/name", url.Values{"name": {long}})
	if res.status != http.StatusUnprocessableEntity || res.testid("form-error").Length() != 1 ||
		res.doc().Find(`#name input[name="name"]`).AttrOr("value", "") != long {
		t.Fatalf("overlong name: %d, error %q", res.status, res.testid("form-error").Text())
	}
	if res := b.post("/account/name", url.Values{"name": {"   "}}); res.status != http.StatusUnprocessableEntity {
		t.Errorf("blank name: %d", res.status)
	}
	if got, _ := e.db.FindUserByID(t.Context(), u.ID); got.Name != "Lea Learner" {
		t.Fatalf("a refused rename changed the name to %q", got.Name)
	}

	res = b.post("/account/name", url.Values{"name": {"  Lea Lovelace "}})
	if res.status != http.StatusSeeOther || res.header.Get("Location") != "/account?saved=name#name" {
		t.Fatalf("rename: %d %q", res.status, res.header.Get("Location"))
	}
	if got, _ := e.db.FindUserByID(t.Context(), u.ID); got.Name != "Lea Lovelace" {
		t.Fatalf("stored name %q", got.Name)
	}
	res = b.get("/account?saved=name")
	if res.testid("name-saved").Length() != 1 || !strings.Contains(res.testid("whoami").Text(), "Lea Lovelace") {
		t.Errorf("after renaming: notice %d, footer %q", res.testid("name-saved").Length(), res.testid("whoami").Text())
	}
}

func TestAccountPassword(t *testing.T) {
	e := MustEnv(t)
	u := e.MustUser("Ian Instructor", faultline.RoleInstructor)
	b := e.MustLogin(u)
	other := e.MustLogin(u) // a second sign-in, ended by the change
	if res := b.get("/account"); res.testid("tokens-link").Length() != 1 {
		t.Error("an instructor's account page has no link to the API tokens")
	}
	const next = "a brand new passphrase"
	for name, c := range map[string]struct {
		form url.Values
		msg  string
	}{
		"wrong current": {url.Values{"current": {"not it at all"}, "password": {next}, "confirm": {next}}, "current password is wrong"},
		"mismatch":      {url.Values{"current": {testPassword}, "password": {next}, "confirm": {next + "!"}}, ""},
		"too short":     {url.Values{"current": {testPassword}, "password": {"short"}, "confirm": {"short"}}, ""},
	} {
		res := b.post("/account/password", c.form)
		if res.status != http.StatusUnprocessableEntity || res.testid("form-error").Length() != 1 || !strings.Contains(res.testid("form-error").Text(), c.msg) {
			t.Errorf("%s: %d %q", name, res.status, res.testid("form-error").Text())
		}
		if strings.Contains(res.body, next) || strings.Contains(res.body, testPassword) {
			t.Errorf("%s: a password is echoed back", name)
		}
	}
	res := b.post("/account/password", url.Values{"current": {testPassword}, "password": {next}, "confirm": {next}})
	if res.status != http.StatusSeeOther || res.header.Get("Location") != "/account?saved=password#password" {
		t.Fatalf("change password: %d %q\n%s", res.status, res.header.Get("Location"), res.testid("form-error").Text())
	}
	if res := b.get("/account?saved=password"); res.status != http.StatusOK || res.testid("password-changed").Length() != 1 {
		t.Errorf("the session that changed it: %d, confirmation %d", res.status, res.testid("password-changed").Length())
	}
	if res := other.get("/account"); res.status != http.StatusSeeOther {
		t.Errorf("another sign-in survived the change: %d", res.status)
	}
	if res := e.browser().post("/login", url.Values{"email": {u.Email}, "password": {testPassword}}); res.status == http.StatusSeeOther {
		t.Error("the old password still signs in")
	}
	if res := e.browser().post("/login", url.Values{"email": {u.Email}, "password": {next}}); res.status != http.StatusSeeOther {
		t.Errorf("the new password does not sign in: %d", res.status)
	}
}

func TestCasesIndex(t *testing.T) {
	e := MustEnv(t)
	b := e.MustLogin(e.MustUser("Lea Learner", faultline.RoleLearner))
	cases := e.srv.d.Content.Cases()
	if len(cases) == 0 {
		t.Fatal("no case studies in the catalog")
	}
	b.post("/lessons/"+cases[0].Slug+"/read", nil)
	res := b.get("/cases")
	if res.status != http.StatusOK {
		t.Fatalf("/cases: %d", res.status)
	}
	items := res.testid("cases").Find(`[data-testid="outline-item"]`)
	if items.Length() != len(cases) {
		t.Errorf("/cases lists %d items, the catalog has %d case studies", items.Length(), len(cases))
	}
	if got := strings.Join(strings.Fields(res.testid("module-progress").First().Text()), " "); !strings.HasPrefix(got, "1/"+strconv.Itoa(len(cases))+" read") {
		t.Errorf("case progress %q", got)
	}
	if res.doc().Find(`nav[aria-label="Main"] a[href="/cases"][aria-current="page"]`).Length() != 1 {
		t.Error("the nav does not link /cases as the current page")
	}
	if c := b.get("/cases/" + cases[0].Slug); c.doc().Find(`nav[aria-label="Main"] a[href="/cases"][aria-current="page"]`).Length() != 1 {
		t.Error("a case study page does not mark Case studies in the nav")
	}
}
