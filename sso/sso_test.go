package sso_test

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"net/http"
	"net/url"
	"path/filepath"
	"testing"
	"time"

	"github.com/faultline-dev/faultline"
	"github.com/faultline-dev/faultline/sso"
	"github.com/faultline-dev/faultline/sso/oidctest"
	"github.com/faultline-dev/faultline/store"
)

const redirectURI = "https://portal.test/sso/callback"

type fixture struct {
	t   *testing.T
	db  *store.DB
	idp *oidctest.Provider
	svc *sso.Service
}

func MustFixture(t *testing.T) *fixture {
	t.Helper()
	db, err := store.Open(filepath.Join(t.TempDir(), "f.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	idp := oidctest.Start(t, "faultline", "client-secret-1", redirectURI)
	svc, err := sso.New(sso.Config{Issuer: idp.URL, ClientID: "faultline", ClientSecret: "client-secret-1", RedirectURL: redirectURI, Name: "Example U"}, db, db)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if v := idp.Violations(); len(v) > 0 {
			t.Errorf("the client broke the protocol: %v", v)
		}
	})
	return &fixture{t: t, db: db, idp: idp, svc: svc}
}

// authorize starts a sign-in and follows the provider's redirect back,
// returning the state and code the callback would get.
func (f *fixture) authorize(next string, link int64) (state, code string) {
	f.t.Helper()
	to, state, err := f.svc.Start(context.Background(), next, link)
	if err != nil {
		f.t.Fatal(err)
	}
	c := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	res, err := c.Get(to)
	if err != nil {
		f.t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusFound {
		f.t.Fatalf("authorize: %d (violations %v)", res.StatusCode, f.idp.Violations())
	}
	back, _ := url.Parse(res.Header.Get("Location"))
	if back.Scheme+"://"+back.Host+back.Path != redirectURI || back.Query().Get("state") != state {
		f.t.Fatalf("the provider sent the browser to %s", back)
	}
	return state, back.Query().Get("code")
}

// TestSignInCreatesAndFindsTheAccount: the first sign-in creates a learner
// account without a password, linked to (issuer, subject); the next finds
// the same account even when the provider reports another email.
func TestSignInCreatesAndFindsTheAccount(t *testing.T) {
	f := MustFixture(t)
	ctx := context.Background()
	f.idp.SignIn(oidctest.Person{Subject: "u-123", Email: "Ada@Example.edu", EmailVerified: true, Name: "Ada Lovelace"})
	state, code := f.authorize("/labs/saga", 0)
	u, next, err := f.svc.Complete(ctx, state, code)
	if err != nil {
		t.Fatal(err)
	}
	if next != "/labs/saga" || u.Email != "ada@example.edu" || u.Name != "Ada Lovelace" || u.Role != faultline.RoleLearner || u.PasswordHash != faultline.NoPassword {
		t.Fatalf("first sign-in: next %q user %+v", next, u)
	}
	id, linked, err := f.db.FindIdentity(ctx, faultline.IdentityOIDC, f.idp.URL, "u-123")
	if err != nil || linked.ID != u.ID || id.Email != "ada@example.edu" {
		t.Fatalf("identity: %+v %+v %v", id, linked, err)
	}
	f.idp.SignIn(oidctest.Person{Subject: "u-123", Email: "ada.l@example.edu", Name: "Ada L."})
	state, code = f.authorize("/", 0)
	again, _, err := f.svc.Complete(ctx, state, code)
	if err != nil || again.ID != u.ID {
		t.Fatalf("second sign-in: %+v, %v; want user %d", again, err, u.ID)
	}
	if n, _ := f.db.CountUsers(ctx); n != 1 {
		t.Fatalf("%d accounts after two sign-ins of one person", n)
	}
	// The state and code work once.
	if _, _, err := f.svc.Complete(ctx, state, code); faultline.ErrorCode(err) != faultline.EUNAUTHORIZED {
		t.Fatalf("state used twice: %v", err)
	}
	if _, _, err := f.svc.Complete(ctx, "made-up-state", code); faultline.ErrorCode(err) != faultline.EUNAUTHORIZED {
		t.Fatalf("unknown state: %v", err)
	}
}

// TestNoLinkByEmail: a sign-in whose email belongs to an existing account
// is refused and links nothing; the account's owner links it by signing in
// to Faultline first.
func TestNoLinkByEmail(t *testing.T) {
	f := MustFixture(t)
	ctx := context.Background()
	owner := &faultline.User{Email: "bob@example.edu", Name: "Bob", Role: faultline.RoleInstructor, PasswordHash: "$2a$10$x"}
	if err := f.db.CreateUser(ctx, owner); err != nil {
		t.Fatal(err)
	}
	f.idp.SignIn(oidctest.Person{Subject: "mallory", Email: "bob@example.edu", EmailVerified: true, Name: "Not Bob"})
	state, code := f.authorize("/", 0)
	if _, _, err := f.svc.Complete(ctx, state, code); faultline.ErrorCode(err) != faultline.ECONFLICT {
		t.Fatalf("sign-in with a taken email: %v, want ECONFLICT", err)
	}
	if ids, _ := f.db.ListIdentities(ctx, owner.ID); len(ids) != 0 {
		t.Fatalf("the existing account got linked by email: %+v", ids)
	}
	// Bob, signed in, links his provider account.
	f.idp.SignIn(oidctest.Person{Subject: "bob-sub", Email: "bob@example.edu", Name: "Bob"})
	state, code = f.authorize("/ignored", owner.ID)
	u, next, err := f.svc.Complete(ctx, state, code)
	if err != nil || u.ID != owner.ID || next != "/ignored" {
		t.Fatalf("link: %+v %q %v", u, next, err)
	}
	state, code = f.authorize("/", 0)
	if u, _, err := f.svc.Complete(ctx, state, code); err != nil || u.ID != owner.ID || u.Role != faultline.RoleInstructor {
		t.Fatalf("sign-in after linking: %+v %v", u, err)
	}
	// Another account cannot take over the link.
	other := &faultline.User{Email: "eve@example.edu", Name: "Eve", Role: faultline.RoleLearner, PasswordHash: "$2a$10$x"}
	f.db.CreateUser(ctx, other)
	state, code = f.authorize("/", other.ID)
	if _, _, err := f.svc.Complete(ctx, state, code); faultline.ErrorCode(err) != faultline.ECONFLICT {
		t.Fatalf("linking someone else's identity: %v", err)
	}
}

// TestTokensThatFailAreRefused: an id_token with a bad signature, another
// audience or issuer, an expiry in the past, a nonce of an earlier
// sign-in, or no nonce is refused, and creates no account.
func TestTokensThatFailAreRefused(t *testing.T) {
	f := MustFixture(t)
	ctx := context.Background()
	f.idp.SignIn(oidctest.Person{Subject: "s1", Email: "s1@example.edu", Name: "S"})
	state, code := f.authorize("/", 0)
	if _, _, err := f.svc.Complete(ctx, state, code); err != nil {
		t.Fatal(err)
	}
	earlier := f.idp.LastNonce()
	other, _ := rsa.GenerateKey(rand.Reader, 2048)
	cases := map[string]func(*oidctest.Token){
		"bad signature":  func(tk *oidctest.Token) { tk.Key = other },
		"wrong audience": func(tk *oidctest.Token) { tk.Claims["aud"] = []string{"another-client"} },
		"wrong issuer":   func(tk *oidctest.Token) { tk.Claims["iss"] = "https://evil.example" },
		"expired": func(tk *oidctest.Token) {
			tk.Claims["exp"] = time.Now().Add(-time.Minute).Unix()
			tk.Claims["iat"] = time.Now().Add(-10 * time.Minute).Unix()
		},
		"replayed nonce": func(tk *oidctest.Token) { tk.Claims["nonce"] = earlier },
		"no nonce":       func(tk *oidctest.Token) { delete(tk.Claims, "nonce") },
	}
	for name, tamper := range cases {
		t.Run(name, func(t *testing.T) {
			f.idp.SignIn(oidctest.Person{Subject: "victim-" + name, Email: name + "@example.edu", Name: "V"})
			f.idp.Tamper(tamper)
			defer f.idp.Tamper(nil)
			state, code := f.authorize("/", 0)
			if _, _, err := f.svc.Complete(ctx, state, code); faultline.ErrorCode(err) != faultline.EUNAUTHORIZED {
				t.Fatalf("%s: %v, want EUNAUTHORIZED", name, err)
			}
			if _, _, err := f.db.FindIdentity(ctx, faultline.IdentityOIDC, f.idp.URL, "victim-"+name); faultline.ErrorCode(err) != faultline.ENOTFOUND {
				t.Fatalf("%s: an identity was linked: %v", name, err)
			}
		})
	}
	if n, _ := f.db.CountUsers(ctx); n != 1 {
		t.Fatalf("%d accounts; refused sign-ins must create none", n)
	}
}

// TestProviderDownAtStart: a provider that cannot be reached gives
// EUNAVAILABLE, and once it answers sign-in works without a restart.
func TestProviderDownAtStart(t *testing.T) {
	db, err := store.Open(filepath.Join(t.TempDir(), "f.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	svc, err := sso.New(sso.Config{Issuer: "http://127.0.0.1:1", ClientID: "c", RedirectURL: redirectURI}, db, db)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := svc.Start(context.Background(), "/", 0); faultline.ErrorCode(err) != faultline.EUNAVAILABLE {
		t.Fatalf("provider down: %v, want EUNAVAILABLE", err)
	}
	if _, err := sso.New(sso.Config{Issuer: "x"}, db, db); faultline.ErrorCode(err) != faultline.EINVALID {
		t.Fatalf("config without a client: %v", err)
	}
}
