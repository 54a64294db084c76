package web

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/faultline-dev/faultline"
)

func TestCrossOriginPostRefused(t *testing.T) {
	e := MustEnv(t)
	tests := []struct {
		name   string
		header map[string]string
		want   int
	}{
		{"cross-site fetch", map[string]string{"Sec-Fetch-Site": "cross-site"}, 403},
		{"same-site other origin", map[string]string{"Sec-Fetch-Site": "same-site"}, 403},
		{"foreign Origin", map[string]string{"Origin": "https://evil.example"}, 403},
		{"same origin", map[string]string{"Sec-Fetch-Site": "same-origin"}, 303},
		{"matching Origin", map[string]string{"Origin": "http://example.com"}, 303},
	}
	for i, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			u := e.MustUser(fmt.Sprintf("Lea Learner%d", i), faultline.RoleLearner)
			b := e.MustLogin(u)
			req, _ := http.NewRequest(http.MethodPost, "http://example.com/lessons/circuit-breakers/read", nil)
			for k, v := range tc.header {
				req.Header.Set(k, v)
			}
			res := b.do(req)
			if res.status != tc.want {
				t.Fatalf("status %d, want %d", res.status, tc.want)
			}
			read, err := e.db.LessonsRead(context.Background(), u.ID)
			if err != nil {
				t.Fatal(err)
			}
			if _, ok := read["circuit-breakers"]; ok != (tc.want == 303) {
				t.Errorf("lesson marked read: %v", ok)
			}
		})
	}
	// A cross-site logout does not sign the user out.
	u := e.MustUser("Lou Learner", faultline.RoleLearner)
	b := e.MustLogin(u)
	b.header.Set("Sec-Fetch-Site", "cross-site")
	if res := b.post("/logout", nil); res.status != 403 {
		t.Errorf("cross-site logout: %d", res.status)
	}
	b.header.Del("Sec-Fetch-Site")
	if res := b.get("/labs"); res.status != http.StatusOK {
		t.Errorf("signed out by a cross-site POST: %d", res.status)
	}
}

func TestNoGetChangesState(t *testing.T) {
	e := MustEnv(t, withSetupToken("tok"))
	inst := e.MustUser("Ian Instructor", faultline.RoleInstructor)
	c := e.MustCohort("Spring", inst)
	b := e.MustLogin(inst)
	paths := []string{
		"/logout",
		"/lessons/circuit-breakers/read",
		"/labs/" + labSlug + "/sandbox",
		"/labs/" + labSlug + "/files?path=main.go&content=x",
		"/labs/" + labSlug + "/run",
		"/labs/" + labSlug + "/submissions",
		"/cohorts?name=Sneaky",
		"/join/" + c.InviteCode + "?name=A&email=a@example.com&password=0123456789&confirm=0123456789",
		"/setup?token=tok&name=A&email=root@example.com&password=0123456789&confirm=0123456789",
	}
	for _, p := range paths {
		res := b.get(p)
		if res.status >= 300 && res.status < 400 {
			t.Errorf("GET %s redirects (%d): looks like an action", p, res.status)
		}
	}
	ctx := context.Background()
	if read, _ := e.db.LessonsRead(ctx, inst.ID); len(read) != 0 {
		t.Errorf("GET marked lessons read: %v", read)
	}
	if files, _ := e.db.Files(ctx, inst.ID, labSlug); len(files) != 0 {
		t.Errorf("GET saved files: %d", len(files))
	}
	if subs, _ := e.db.ListSubmissions(ctx, faultline.SubmissionFilter{}); len(subs) != 0 {
		t.Errorf("GET created submissions: %d", len(subs))
	}
	if _, err := e.sb.Find(ctx, inst.ID, labSlug); faultline.ErrorCode(err) != faultline.ENOTFOUND {
		t.Errorf("GET started a sandbox: %v", err)
	}
	if e.sb.runs != 0 {
		t.Errorf("GET ran tests")
	}
	if cs, _ := e.db.ListCohorts(ctx, 0); len(cs) != 1 {
		t.Errorf("GET created cohorts: %d", len(cs))
	}
	if n, _ := e.db.CountUsers(ctx); n != 1 {
		t.Errorf("GET created users: %d", n)
	}
	if e.kicks.Load() != 0 {
		t.Error("GET kicked the grader")
	}
	if res := b.get("/labs"); res.status != http.StatusOK {
		t.Errorf("GET /logout signed the user out: %d", res.status)
	}
}

func TestSecurityHeaders(t *testing.T) {
	e := MustEnv(t)
	b := e.browser()
	for _, p := range []string{"/", "/login", "/nope", e.srv.assets.urls.CSS} {
		res := b.get(p)
		h := res.header
		if got := h.Get("Content-Security-Policy"); got != contentSecurityPolicy {
			t.Errorf("%s: CSP %q", p, got)
		}
		for k, want := range map[string]string{
			"X-Content-Type-Options": "nosniff", "X-Frame-Options": "DENY", "Referrer-Policy": "same-origin",
		} {
			if got := h.Get(k); got != want {
				t.Errorf("%s: %s %q, want %q", p, k, got, want)
			}
		}
	}
	// Every script is our own file: no inline scripts, no inline handlers.
	res := b.get("/login")
	d := res.doc()
	if d.Find("script:not([src])").Length() != 0 || strings.Contains(res.body, " onclick=") || strings.Contains(res.body, " style=") {
		t.Error("inline script or style in a page")
	}
	if src, _ := d.Find("script[src]").Attr("src"); !strings.HasPrefix(src, "/static/app.js?v=") {
		t.Errorf("script src %q", src)
	}
}

func TestStaticAssets(t *testing.T) {
	e := MustEnv(t)
	b := e.browser()
	tests := []struct {
		url, ctype, contains string
	}{
		{e.srv.assets.urls.CSS, "text/css", "prefers-color-scheme: dark"},
		{e.srv.assets.urls.JS, "text/javascript", "EventSource"},
		{e.srv.assets.urls.Highlight, "text/css", ""},
		{"/static/highlight.css", "text/css", ""},
	}
	for _, tc := range tests {
		res := b.get(tc.url)
		if res.status != 200 || !strings.HasPrefix(res.header.Get("Content-Type"), tc.ctype) || !strings.Contains(res.body, tc.contains) {
			t.Errorf("%s: %d %q", tc.url, res.status, res.header.Get("Content-Type"))
		}
	}
	if res := b.get("/static/highlight.css"); res.body == "" {
		t.Error("highlight.css empty")
	}
	if res := b.get("/static/../server.go"); res.status == 200 && strings.Contains(res.body, "package web") {
		t.Error("source served")
	}
	if res := b.get("/static/nope.js"); res.status != 404 {
		t.Errorf("missing asset: %d", res.status)
	}
	req, _ := http.NewRequest(http.MethodGet, e.srv.assets.urls.CSS, nil)
	req.Header.Set("If-None-Match", e.srv.assets.files["app.css"].etag)
	if res := b.do(req); res.status != http.StatusNotModified {
		t.Errorf("If-None-Match: %d", res.status)
	}
}

// brokenProgress fails or panics, to see what users and logs get.
type brokenProgress struct {
	faultline.ProgressService
	panic bool
}

func (p brokenProgress) LessonsRead(ctx context.Context, userID int64) (map[string]time.Time, error) {
	if p.panic {
		panic("boom: secret detail")
	}
	return nil, errors.New("disk I/O error at /var/secret/db")
}

func TestInternalErrorsAreLoggedNotShown(t *testing.T) {
	for _, tc := range []struct {
		name  string
		panic bool
		log   string
	}{{"error", false, "/var/secret/db"}, {"panic", true, "boom: secret detail"}} {
		t.Run(tc.name, func(t *testing.T) {
			var e *env
			e = MustEnv(t, func(d *envDeps) { d.Progress = brokenProgress{ProgressService: d.Progress, panic: tc.panic} })
			u := e.MustUser("Lea Learner", faultline.RoleLearner)
			res := e.MustLogin(u).get("/lessons")
			if res.status != http.StatusInternalServerError {
				t.Fatalf("status %d, want 500", res.status)
			}
			if strings.Contains(res.body, "secret") || strings.Contains(res.body, "goroutine") {
				t.Error("internal detail shown to the user")
			}
			if !strings.Contains(res.testid("error-message").Text(), "went wrong on our side") {
				t.Errorf("message %q", res.testid("error-message").Text())
			}
			if !strings.Contains(e.logs.String(), tc.log) {
				t.Errorf("not logged; logs:\n%s", e.logs)
			}
		})
	}
}

func TestRequestLogOmitsQuery(t *testing.T) {
	e := MustEnv(t, withSetupToken("very-secret-setup-token"))
	e.browser().get("/setup?token=very-secret-setup-token")
	logs := e.logs.String()
	if !strings.Contains(logs, "path=/setup") || !strings.Contains(logs, "status=200") {
		t.Errorf("request not logged:\n%s", logs)
	}
	if strings.Contains(logs, "very-secret-setup-token") {
		t.Error("the setup token was logged")
	}
}

func TestMethodNotAllowedAndFormErrors(t *testing.T) {
	e := MustEnv(t)
	u := e.MustUser("Lea Learner", faultline.RoleLearner)
	b := e.MustLogin(u)
	// A malformed form body is a 4xx, never a 500.
	req, _ := http.NewRequest(http.MethodPost, "/labs/"+labSlug+"/files", strings.NewReader("%zz"))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if res := b.do(req); res.status < 400 || res.status >= 500 {
		t.Errorf("malformed form: %d", res.status)
	}
	if res := b.post("/labs", url.Values{}); res.status != http.StatusMethodNotAllowed {
		t.Errorf("POST /labs: %d", res.status)
	}
}

func TestHeadIsServedLikeGet(t *testing.T) {
	e := MustEnv(t)
	b := e.browser()
	req, _ := http.NewRequest(http.MethodHead, "/login", nil)
	// (net/http drops a HEAD body on the wire; the recorder keeps it.)
	if res := b.do(req); res.status != http.StatusOK || !strings.HasPrefix(res.header.Get("Content-Type"), "text/html") {
		t.Errorf("HEAD /login: %d %q", res.status, res.header.Get("Content-Type"))
	}
}
