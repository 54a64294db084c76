package web

import (
	"context"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/faultline-dev/faultline"
	"github.com/faultline-dev/faultline/mail"
	"github.com/faultline-dev/faultline/recovery"
)

// withMail gives the portal password resets by email through the real
// recovery service, notifier and the store's outbox.
func withMail() webOption {
	return func(e *env, d *Deps) {
		n := mail.NewNotifier(e.db, mail.Site{Name: "Faultline", BaseURL: d.BaseURL}, nil)
		d.Recovery = &recovery.Service{Users: e.db, Resets: e.db, Notifier: n, BaseURL: d.BaseURL, BcryptCost: bcrypt.MinCost, Now: e.clock.Now}
	}
}

var resetLinkRE = regexp.MustCompile(`http://portal\.test/password/reset\?token=[A-Za-z0-9_-]+`)

// lastResetLink returns the link in the newest queued mail.
func (e *env) lastResetLink(id int64) string {
	e.t.Helper()
	m, err := e.db.FindMail(context.Background(), id)
	if err != nil {
		e.t.Fatal(err)
	}
	link := resetLinkRE.FindString(m.Text)
	if link == "" || !strings.Contains(m.HTML, link) {
		e.t.Fatalf("mail %d has no reset link in both parts:\n%s", id, m.Text)
	}
	return link
}

// TestPasswordResetByEmail: the sign-in page links to the form; the form
// answers the same for unknown and known addresses but only a known one
// gets mail; the link shows the form once, a bad confirmation is re-asked,
// a good one sets the password, ends the old sessions and signs in; the
// link does not work twice and never reaches the logs.
func TestPasswordResetByEmail(t *testing.T) {
	e := MustInstEnv(t, withMail())
	lin := e.MustUser("Lin Learner", faultline.RoleLearner)
	old := e.MustLogin(lin)
	visitor := e.browser()
	if res := visitor.get("/login"); res.testid("forgot-link").Length() != 1 {
		t.Fatal("the sign-in page has no forgotten-password link")
	}
	res := visitor.post("/password/forgot", url.Values{"email": {"nobody@example.com"}})
	if res.status != http.StatusOK || res.testid("reset-sent").Length() != 1 {
		t.Fatalf("unknown address: %d", res.status)
	}
	if st, _ := e.db.MailStats(context.Background()); st.Pending != 0 {
		t.Fatalf("mail queued for an unknown address: %+v", st)
	}
	res = visitor.post("/password/forgot", url.Values{"email": {"  LIN.LEARNER@example.com "}})
	if res.status != http.StatusOK || res.testid("reset-sent").Length() != 1 {
		t.Fatalf("known address: %d", res.status)
	}
	link := e.lastResetLink(1)
	u, _ := url.Parse(link)

	form := visitor.get(u.RequestURI())
	if form.status != http.StatusOK || form.testid("reset-form").Length() != 1 || !strings.Contains(form.body, lin.Email) {
		t.Fatalf("reset form: %d\n%s", form.status, form.body)
	}
	token := u.Query().Get("token")
	bad := visitor.post("/password/reset", url.Values{"token": {token}, "password": {"new password 1"}, "confirm": {"new password 2"}})
	if bad.status != http.StatusUnprocessableEntity || bad.testid("form-error").Length() != 1 {
		t.Fatalf("mismatched confirmation: %d", bad.status)
	}
	ok := visitor.post("/password/reset", url.Values{"token": {token}, "password": {"new password 1"}, "confirm": {"new password 1"}})
	if ok.status != http.StatusSeeOther {
		t.Fatalf("reset: %d\n%s", ok.status, ok.body)
	}
	if who := visitor.get("/lessons").testid("whoami").Text(); !strings.Contains(who, "Lin") {
		t.Fatalf("after the reset the visitor is signed in as %q", who)
	}
	if res := old.get("/lessons"); res.status != http.StatusSeeOther {
		t.Fatalf("a session from before the reset still works: %d", res.status)
	}
	if res := e.browser().post("/login", url.Values{"email": {lin.Email}, "password": {testPassword}}); res.status != http.StatusUnauthorized {
		t.Fatalf("the old password still works: %d", res.status)
	}
	if res := e.browser().post("/login", url.Values{"email": {lin.Email}, "password": {"new password 1"}}); res.status != http.StatusSeeOther {
		t.Fatalf("the new password does not work: %d", res.status)
	}
	if res := e.browser().get(u.RequestURI()); res.status != http.StatusNotFound {
		t.Fatalf("the link works twice: %d", res.status)
	}
	if res := e.browser().post("/password/reset", url.Values{"token": {token}, "password": {"x password 9"}, "confirm": {"x password 9"}}); res.status != http.StatusNotFound {
		t.Fatalf("the token sets a password twice: %d", res.status)
	}
	if strings.Contains(e.logs.String(), token) {
		t.Fatal("the reset token reached the log")
	}

	// Three requests an hour per address; the fourth is refused.
	for i := 0; i < 2; i++ {
		visitor.post("/password/forgot", url.Values{"email": {lin.Email}})
	}
	if res := visitor.post("/password/forgot", url.Values{"email": {lin.Email}}); res.status != http.StatusTooManyRequests {
		t.Fatalf("fourth request within the hour: %d, want 429", res.status)
	}
	e.clock.Add(time.Hour)
	if res := visitor.post("/password/forgot", url.Values{"email": {lin.Email}}); res.status != http.StatusOK {
		t.Fatalf("a request an hour later: %d", res.status)
	}
	if res := visitor.post("/password/forgot", url.Values{"email": {"not-an-address"}}); res.status != http.StatusUnprocessableEntity {
		t.Fatalf("bad address: %d", res.status)
	}
}

// TestPasswordResetNeedsMail: without email there is no reset link or form.
func TestPasswordResetNeedsMail(t *testing.T) {
	e := MustEnv(t)
	b := e.browser()
	if res := b.get("/login"); res.testid("forgot-link").Length() != 0 {
		t.Fatal("the sign-in page offers a reset this portal cannot send")
	}
	for _, p := range []string{"/password/forgot", "/password/reset?token=x"} {
		if res := b.get(p); res.status != http.StatusNotFound {
			t.Errorf("GET %s: %d, want 404", p, res.status)
		}
	}
	if res := b.post("/password/forgot", url.Values{"email": {"a@example.com"}}); res.status != http.StatusNotFound {
		t.Errorf("POST /password/forgot: %d, want 404", res.status)
	}
}

// TestSSOOnlySignIn: in SSO-only mode the sign-in page shows no password
// form, a learner's correct password is refused, and an administrator
// signs in with a password through /login?password=1.
func TestSSOOnlySignIn(t *testing.T) {
	e := MustInstEnv(t, withMail(), func(_ *env, d *Deps) { d.SSOOnly = true })
	admin := e.MustUser("Ada Admin", faultline.RoleAdmin)
	lin := e.MustUser("Lin Learner", faultline.RoleLearner)
	b := e.browser()
	page := b.get("/login")
	if page.testid("auth-form").Length() != 0 || page.testid("password-login").Length() != 1 || page.testid("forgot-link").Length() != 0 {
		t.Fatalf("SSO-only sign-in page: %d password forms, %d admin links, %d reset links; want 0, 1, 0",
			page.testid("auth-form").Length(), page.testid("password-login").Length(), page.testid("forgot-link").Length())
	}
	if res := b.get("/login?password=1"); res.testid("auth-form").Length() != 1 {
		t.Fatal("/login?password=1 shows no password form")
	}
	if res := b.post("/login", url.Values{"email": {lin.Email}, "password": {testPassword}}); res.status != http.StatusForbidden {
		t.Fatalf("learner password sign-in in SSO-only mode: %d, want 403", res.status)
	}
	if res := b.post("/login", url.Values{"email": {admin.Email}, "password": {testPassword}}); res.status != http.StatusSeeOther {
		t.Fatalf("admin password sign-in in SSO-only mode: %d, want 303", res.status)
	}
	if res := e.browser().get("/password/forgot"); res.status != http.StatusNotFound {
		t.Fatalf("password reset in SSO-only mode: %d, want 404", res.status)
	}
	// Invites make no password accounts: the visitor signs in first.
	c := e.MustCohort("Spring", admin)
	join := e.browser().get("/join/" + c.InviteCode)
	if join.status != http.StatusOK || join.testid("auth-form").Length() != 0 {
		t.Fatalf("invite page in SSO-only mode: %d with %d password forms", join.status, join.testid("auth-form").Length())
	}
	if res := e.browser().post("/join/"+c.InviteCode, url.Values{"name": {"Eve"}, "email": {"eve@example.com"}, "password": {testPassword}, "confirm": {testPassword}}); res.status != http.StatusForbidden {
		t.Fatalf("password sign-up through an invite in SSO-only mode: %d, want 403", res.status)
	}
	if res := e.MustLogin(admin).get("/join/" + c.InviteCode); res.testid("join-as-me").Length() != 1 {
		t.Fatal("a signed-in user cannot join through the invite in SSO-only mode")
	}
}
