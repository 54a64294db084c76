package web

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/faultline-dev/faultline"
	"github.com/faultline-dev/faultline/course"
)

func setupForm(token string) url.Values {
	return url.Values{"token": {token}, "name": {"Root Admin"}, "email": {"Root@Example.com"},
		"password": {"0123456789ab"}, "confirm": {"0123456789ab"}}
}

func TestSetupCreatesTheFirstAdminOnce(t *testing.T) {
	e := MustEnv(t, withSetupToken("s3cret-token"))
	b := e.browser()

	if res := b.get("/setup?token=s3cret-token"); res.status != http.StatusOK || res.testid("auth-form").Length() != 1 {
		t.Fatalf("GET /setup: %d, form %d", res.status, res.testid("auth-form").Length())
	}
	if res := b.get("/setup?token=wrong"); res.status != http.StatusForbidden {
		t.Fatalf("GET /setup with a wrong token: %d, want 403", res.status)
	}
	if res := b.post("/setup", setupForm("wrong")); res.status != http.StatusForbidden {
		t.Fatalf("POST /setup with a wrong token: %d, want 403", res.status)
	}
	if n, _ := e.db.CountUsers(context.Background()); n != 0 {
		t.Fatalf("a wrong token created %d users", n)
	}

	res := b.post("/setup", setupForm("s3cret-token"))
	if res.status != http.StatusSeeOther || res.header.Get("Location") != "/" {
		t.Fatalf("POST /setup: %d %q\n%s", res.status, res.header.Get("Location"), res.body)
	}
	u, err := e.db.FindUserByEmail(context.Background(), "root@example.com")
	if err != nil {
		t.Fatalf("admin not created: %v", err)
	}
	if u.Role != faultline.RoleAdmin {
		t.Errorf("role %q, want admin", u.Role)
	}
	if cost, err := bcrypt.Cost([]byte(u.PasswordHash)); err != nil || cost != bcrypt.MinCost {
		t.Errorf("password hash cost %d (%v), want bcrypt with the configured cost %d", cost, err, bcrypt.MinCost)
	}
	// Signed in straight away.
	if got := b.get("/").testid("whoami").Text(); !strings.Contains(got, "Root Admin") {
		t.Errorf("after setup the page says %q, want signed in as Root Admin", got)
	}

	// A second attempt, even with the right token, is refused.
	other := e.browser()
	form := setupForm("s3cret-token")
	form.Set("email", "mallory@example.com")
	if res := other.post("/setup", form); res.status != http.StatusNotFound {
		t.Fatalf("second POST /setup: %d, want 404", res.status)
	}
	if res := other.get("/setup?token=s3cret-token"); res.status != http.StatusNotFound {
		t.Fatalf("GET /setup after setup: %d, want 404", res.status)
	}
	if n, _ := e.db.CountUsers(context.Background()); n != 1 {
		t.Fatalf("%d users after a refused second setup, want 1", n)
	}
}

func TestSetupDisabledWithoutToken(t *testing.T) {
	e := MustEnv(t)
	b := e.browser()
	if res := b.post("/setup", setupForm("")); res.status != http.StatusNotFound {
		t.Fatalf("POST /setup without a configured token: %d, want 404", res.status)
	}
	if n, _ := e.db.CountUsers(context.Background()); n != 0 {
		t.Fatalf("created %d users", n)
	}
}

func TestSetupValidationKeepsInput(t *testing.T) {
	e := MustEnv(t, withSetupToken("tok"))
	form := setupForm("tok")
	form.Set("confirm", "something else")
	res := e.browser().post("/setup", form)
	if res.status != http.StatusUnprocessableEntity {
		t.Fatalf("status %d, want 422", res.status)
	}
	d := res.doc()
	if v, _ := d.Find(`input[name=email]`).Attr("value"); v != "root@example.com" {
		t.Errorf("email kept as %q", v)
	}
	if v, _ := d.Find(`input[name=token]`).Attr("value"); v != "tok" {
		t.Errorf("token kept as %q", v)
	}
	if !strings.Contains(res.testid("form-error").Text(), "do not match") {
		t.Errorf("message %q", res.testid("form-error").Text())
	}
}

func TestLoginLogoutAndRotation(t *testing.T) {
	e := MustEnv(t)
	u := e.MustUser("Lea Learner", faultline.RoleLearner)
	b := e.browser()

	// Signed out: protected pages redirect to the sign-in page with next.
	res := b.get("/labs")
	if res.status != http.StatusSeeOther || res.header.Get("Location") != "/login?next=%2Flabs" {
		t.Fatalf("GET /labs signed out: %d %q", res.status, res.header.Get("Location"))
	}

	// A stale cookie from before the login must not survive it (rotation).
	b.cookies[sessionCookie] = &http.Cookie{Name: sessionCookie, Value: "attacker-fixed-value"}
	first := e.MustLogin(u)
	firstToken := first.cookies[sessionCookie].Value

	res = first.post("/login", url.Values{"email": {u.Email}, "password": {testPassword}, "next": {"/labs"}})
	if res.status != http.StatusSeeOther || res.header.Get("Location") != "/labs" {
		t.Fatalf("re-login: %d %q", res.status, res.header.Get("Location"))
	}
	second := first.cookies[sessionCookie]
	if second.Value == firstToken {
		t.Fatal("the session token was not rotated at login")
	}
	if !second.HttpOnly || second.SameSite != http.SameSiteLaxMode || second.Path != "/" {
		t.Errorf("cookie flags: HttpOnly=%v SameSite=%v Path=%q", second.HttpOnly, second.SameSite, second.Path)
	}
	if _, _, err := e.db.FindSession(context.Background(), course.SessionID(firstToken)); faultline.ErrorCode(err) != faultline.ENOTFOUND {
		t.Errorf("old session still valid after rotation: %v", err)
	}
	// Stored hashed: the raw token is not a session ID.
	if _, _, err := e.db.FindSession(context.Background(), second.Value); faultline.ErrorCode(err) != faultline.ENOTFOUND {
		t.Errorf("session stored under the raw cookie token: %v", err)
	}
	old := e.browser()
	old.cookies[sessionCookie] = &http.Cookie{Name: sessionCookie, Value: firstToken}
	if res := old.get("/labs"); res.status != http.StatusSeeOther {
		t.Errorf("old cookie still signs in: %d", res.status)
	}

	if res := first.get("/labs"); res.status != http.StatusOK {
		t.Fatalf("GET /labs signed in: %d", res.status)
	}
	res = first.post("/logout", nil)
	if res.status != http.StatusSeeOther {
		t.Fatalf("logout: %d", res.status)
	}
	if _, _, err := e.db.FindSession(context.Background(), course.SessionID(second.Value)); faultline.ErrorCode(err) != faultline.ENOTFOUND {
		t.Errorf("session survives logout: %v", err)
	}
	replay := e.browser()
	replay.cookies[sessionCookie] = second
	if res := replay.get("/labs"); res.status != http.StatusSeeOther {
		t.Errorf("cookie still works after logout: %d", res.status)
	}
}

func TestSecureCookieFlag(t *testing.T) {
	e := MustEnv(t, func(d *envDeps) { d.SecureCookies = true })
	u := e.MustUser("Sam Secure", faultline.RoleLearner)
	if c := e.MustLogin(u).cookies[sessionCookie]; !c.Secure {
		t.Error("SecureCookies set, cookie not Secure")
	}
}

func TestLoginFailures(t *testing.T) {
	e := MustEnv(t)
	u := e.MustUser("Lea Learner", faultline.RoleLearner)
	tests := []struct {
		name, email, password string
	}{
		{"wrong password", u.Email, "not the password"},
		{"unknown email", "nobody@example.com", testPassword},
		{"empty", "", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			b := e.browser()
			res := b.post("/login", url.Values{"email": {tc.email}, "password": {tc.password}})
			if res.status != http.StatusUnauthorized {
				t.Fatalf("status %d, want 401", res.status)
			}
			if _, ok := b.cookies[sessionCookie]; ok {
				t.Error("a failed login set a session cookie")
			}
			if msg := res.testid("form-error").Text(); !strings.Contains(msg, "email or password is wrong") {
				t.Errorf("message %q", msg)
			}
			if v, _ := res.doc().Find(`input[name=email]`).Attr("value"); v != strings.ToLower(tc.email) {
				t.Errorf("email not kept: %q", v)
			}
			if strings.Contains(res.body, tc.password) && tc.password != "" {
				t.Error("the password was echoed back")
			}
		})
	}
}

func TestLoginThrottle(t *testing.T) {
	e := MustEnv(t)
	u := e.MustUser("Lea Learner", faultline.RoleLearner)
	b := e.browser()
	bad := url.Values{"email": {u.Email}, "password": {"wrong password"}}
	for i := range 5 {
		if res := b.post("/login", bad); res.status != http.StatusUnauthorized {
			t.Fatalf("failure %d: status %d, want 401", i+1, res.status)
		}
	}
	good := url.Values{"email": {u.Email}, "password": {testPassword}}
	res := b.post("/login", good)
	if res.status != http.StatusTooManyRequests {
		t.Fatalf("after 5 failures the right password gives %d, want 429", res.status)
	}
	if !strings.Contains(res.testid("form-error").Text(), "Too many") {
		t.Errorf("message %q", res.testid("form-error").Text())
	}
	// Another account from the same address is not blocked.
	other := e.MustUser("Otto Other", faultline.RoleLearner)
	if res := b.post("/login", url.Values{"email": {other.Email}, "password": {testPassword}}); res.status != http.StatusSeeOther {
		t.Errorf("other account: %d, want 303", res.status)
	}
	// After the window the account may sign in again.
	e.clock.Add(5*time.Minute + time.Second)
	if res := e.browser().post("/login", good); res.status != http.StatusSeeOther {
		t.Errorf("after the window: %d, want 303", res.status)
	}
}

func TestLoginNextIsLocalOnly(t *testing.T) {
	e := MustEnv(t)
	u := e.MustUser("Lea Learner", faultline.RoleLearner)
	for _, next := range []string{"https://evil.example/", "//evil.example/x", "/\\evil.example", "javascript:alert(1)"} {
		res := e.browser().post("/login", url.Values{"email": {u.Email}, "password": {testPassword}, "next": {next}})
		if loc := res.header.Get("Location"); res.status != http.StatusSeeOther || loc != "/" {
			t.Errorf("next=%q: %d %q, want 303 to /", next, res.status, loc)
		}
	}
}

func joinForm(password, confirm string) url.Values {
	return url.Values{"name": {"Jo Joiner"}, "email": {"jo@example.com"}, "password": {password}, "confirm": {confirm}}
}

func TestJoin(t *testing.T) {
	e := MustEnv(t)
	inst := e.MustUser("Ian Instructor", faultline.RoleInstructor)
	c := e.MustCohort("Spring", inst)

	t.Run("bad code", func(t *testing.T) {
		b := e.browser()
		if res := b.get("/join/not-a-code"); res.status != http.StatusNotFound {
			t.Errorf("GET: %d, want 404", res.status)
		}
		if res := b.post("/join/not-a-code", joinForm("0123456789", "0123456789")); res.status != http.StatusNotFound {
			t.Errorf("POST: %d, want 404", res.status)
		}
	})

	tests := []struct {
		name              string
		password, confirm string
		want              string
	}{
		{"short password", "short", "short", "at least 10 characters"},
		{"mismatch", "0123456789", "0123456789x", "do not match"},
		{"too long", strings.Repeat("x", 73), strings.Repeat("x", 73), "at most 72"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			res := e.browser().post("/join/"+c.InviteCode, joinForm(tc.password, tc.confirm))
			if res.status != http.StatusUnprocessableEntity {
				t.Fatalf("status %d, want 422", res.status)
			}
			d := res.doc()
			if v, _ := d.Find(`input[name=name]`).Attr("value"); v != "Jo Joiner" {
				t.Errorf("name kept as %q", v)
			}
			if v, _ := d.Find(`input[name=email]`).Attr("value"); v != "jo@example.com" {
				t.Errorf("email kept as %q", v)
			}
			if v, ok := d.Find(`input[name=password]`).Attr("value"); ok && v != "" {
				t.Errorf("password echoed: %q", v)
			}
			if msg := res.testid("form-error").Text(); !strings.Contains(msg, tc.want) {
				t.Errorf("message %q, want %q", msg, tc.want)
			}
			if _, err := e.db.FindUserByEmail(context.Background(), "jo@example.com"); faultline.ErrorCode(err) != faultline.ENOTFOUND {
				t.Errorf("an account was created: %v", err)
			}
		})
	}

	t.Run("ok", func(t *testing.T) {
		b := e.browser()
		if res := b.get("/join/" + c.InviteCode); res.status != http.StatusOK || !strings.Contains(res.body, "Spring") {
			t.Fatalf("GET: %d", res.status)
		}
		res := b.post("/join/"+c.InviteCode, joinForm("0123456789", "0123456789"))
		if res.status != http.StatusSeeOther {
			t.Fatalf("POST: %d\n%s", res.status, res.body)
		}
		u, err := e.db.FindUserByEmail(context.Background(), "jo@example.com")
		if err != nil {
			t.Fatal(err)
		}
		if u.Role != faultline.RoleLearner {
			t.Errorf("role %q", u.Role)
		}
		if role, err := e.db.MemberRole(context.Background(), c.ID, u.ID); err != nil || role != faultline.MemberLearner {
			t.Errorf("membership %q %v", role, err)
		}
		if !strings.Contains(b.get("/").testid("whoami").Text(), "Jo Joiner") {
			t.Error("not signed in after joining")
		}
		// Same email again: conflict, form kept.
		res = e.browser().post("/join/"+c.InviteCode, joinForm("0123456789", "0123456789"))
		if res.status != http.StatusConflict || !strings.Contains(res.testid("form-error").Text(), "exists already") {
			t.Errorf("duplicate email: %d %q", res.status, res.testid("form-error").Text())
		}
	})

	t.Run("signed-in user joins another cohort", func(t *testing.T) {
		other := e.MustCohort("Autumn", inst)
		u := e.MustUser("Lou Learner", faultline.RoleLearner)
		b := e.MustLogin(u)
		if res := b.get("/join/" + other.InviteCode); res.testid("join-as-me").Length() != 1 {
			t.Fatalf("no join-as-me button")
		}
		if res := b.post("/join/"+other.InviteCode, nil); res.status != http.StatusSeeOther {
			t.Fatalf("POST: %d", res.status)
		}
		if role, err := e.db.MemberRole(context.Background(), other.ID, u.ID); err != nil || role != faultline.MemberLearner {
			t.Errorf("membership %q %v", role, err)
		}
		// The instructor opening their own invite keeps their role.
		ib := e.MustLogin(inst)
		ib.post("/join/"+other.InviteCode, nil)
		if role, _ := e.db.MemberRole(context.Background(), other.ID, inst.ID); role != faultline.MemberInstructor {
			t.Errorf("instructor demoted to %q", role)
		}
	})
}
