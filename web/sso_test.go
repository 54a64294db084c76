package web

import (
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/faultline-dev/faultline"
	"github.com/faultline-dev/faultline/sso"
	"github.com/faultline-dev/faultline/sso/oidctest"
)

// withSSO gives the portal single sign-on through the provider.
func withSSO(t *testing.T, idp *oidctest.Provider) webOption {
	return func(e *env, d *Deps) {
		db := e.db
		svc, err := sso.New(sso.Config{Issuer: idp.URL, ClientID: "faultline", ClientSecret: "s3cret", RedirectURL: d.BaseURL + "/sso/callback", Name: "Example U"}, db, db)
		if err != nil {
			t.Fatal(err)
		}
		d.SSO, d.Identities = svc, db
	}
}

// followIdP sends the portal's redirect to the provider and returns the
// callback path the provider sends the browser back to.
func followIdP(t *testing.T, res *response) string {
	t.Helper()
	if res.status != http.StatusFound {
		t.Fatalf("sso login: %d\n%s", res.status, res.body)
	}
	c := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	r, err := c.Get(res.header.Get("Location"))
	if err != nil {
		t.Fatal(err)
	}
	r.Body.Close()
	back, err := url.Parse(r.Header.Get("Location"))
	if err != nil || r.StatusCode != http.StatusFound || back.Host != "portal.test" {
		t.Fatalf("the provider answered %d, sending the browser to %q", r.StatusCode, r.Header.Get("Location"))
	}
	return back.RequestURI()
}

// TestSSOSignInThroughTheBrowser: the sign-in page offers the provider;
// the round trip signs a new person in and lands on next; the answer is
// refused in another browser (the state cookie binds it) and when the
// provider reports an error; a signed-in user links the provider on
// /settings/sign-in.
func TestSSOSignInThroughTheBrowser(t *testing.T) {
	idp := oidctest.Start(t, "faultline", "s3cret", "http://portal.test/sso/callback")
	e := MustInstEnv(t, withSSO(t, idp))
	t.Cleanup(func() {
		if v := idp.Violations(); len(v) > 0 {
			t.Errorf("protocol violations: %v", v)
		}
	})
	b := e.browser()
	login := b.get("/login?next=/labs")
	btn := login.testid("sso-login")
	if href, _ := btn.Attr("href"); btn.Length() != 1 || !strings.Contains(btn.Text(), "Example U") || href != "/sso/login?next=%2Flabs" {
		t.Fatalf("sign-in page SSO button: %q %q", btn.Text(), href)
	}
	idp.SignIn(oidctest.Person{Subject: "p-1", Email: "pat@example.edu", Name: "Pat Doe"})
	cb := followIdP(t, b.get("/sso/login?next=/labs"))

	// The same answer in another browser (no state cookie) is refused.
	if res := e.browser().get(cb); res.status != http.StatusForbidden {
		t.Fatalf("callback in another browser: %d, want 403", res.status)
	}
	res := b.get(cb)
	if res.status != http.StatusSeeOther || res.header.Get("Location") != "/labs" {
		t.Fatalf("callback: %d to %q\n%s", res.status, res.header.Get("Location"), res.body)
	}
	if who := b.get("/lessons").testid("whoami").Text(); !strings.Contains(who, "Pat Doe") || !strings.Contains(who, "learner") {
		t.Fatalf("signed in as %q", who)
	}
	if res := b.get(cb); res.status == http.StatusSeeOther {
		t.Fatal("the callback worked twice")
	}
	if res := e.browser().get("/sso/callback?error=access_denied&error_description=User+said+no%0D%0AX"); res.status != http.StatusForbidden ||
		!strings.Contains(res.body, "User said no") {
		t.Fatalf("provider error: %d", res.status)
	}

	// Linking from the settings page.
	lin := e.MustUser("Lin Learner", faultline.RoleLearner)
	lb := e.MustLogin(lin)
	page := lb.get("/settings/sign-in")
	if page.status != http.StatusOK || page.testid("sso-link").Length() != 1 || page.testid("no-identities").Length() != 1 {
		t.Fatalf("settings page: %d", page.status)
	}
	idp.SignIn(oidctest.Person{Subject: "lin-at-idp", Email: "someone-else@example.edu", Name: "Lin"})
	cb = followIdP(t, lb.get("/sso/login?link=1"))
	if res := lb.get(cb); res.status != http.StatusSeeOther || res.header.Get("Location") != "/settings/sign-in" {
		t.Fatalf("link callback: %d %q", res.status, res.header.Get("Location"))
	}
	if n := lb.get("/settings/sign-in").testid("identity").Length(); n != 1 {
		t.Fatalf("%d linked identities after linking", n)
	}
	fresh := e.browser()
	if res := fresh.get(followIdP(t, fresh.get("/sso/login"))); res.status != http.StatusSeeOther {
		t.Fatalf("sign-in after linking: %d", res.status)
	}
	if who := fresh.get("/lessons").testid("whoami").Text(); !strings.Contains(who, "Lin Learner") {
		t.Fatalf("sign-in after linking is %q, want Lin's own account", who)
	}
	if res := e.browser().get("/settings/sign-in"); res.status != http.StatusSeeOther {
		t.Fatalf("visitor on /settings/sign-in: %d", res.status)
	}
}

func TestSSONotConfigured(t *testing.T) {
	e := MustEnv(t)
	b := e.browser()
	if res := b.get("/login"); res.testid("sso-login").Length() != 0 {
		t.Fatal("a sign-in button without SSO")
	}
	for _, p := range []string{"/sso/login", "/sso/callback?state=x&code=y"} {
		if res := b.get(p); res.status != http.StatusNotFound {
			t.Errorf("%s: %d", p, res.status)
		}
	}
}
