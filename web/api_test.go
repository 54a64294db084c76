package web

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"testing"

	"github.com/faultline-dev/faultline"
)

// apiGet calls the API with a bearer token (none if empty) and extra headers.
func (e *env) apiGet(token, path string, extra ...string) (int, map[string]any, http.Header) {
	e.t.Helper()
	req := httptest.NewRequest(http.MethodGet, path, nil)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	for i := 0; i+1 < len(extra); i += 2 {
		req.Header.Set(extra[i], extra[i+1])
	}
	rec := httptest.NewRecorder()
	e.srv.ServeHTTP(rec, req)
	var body map[string]any
	if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil {
		e.t.Fatalf("GET %s: %d, not JSON: %v\n%s", path, rec.Code, err, rec.Body.String())
	}
	if ct := rec.Header().Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		e.t.Errorf("GET %s: Content-Type %q", path, ct)
	}
	return rec.Code, body, rec.Header()
}

// MustToken creates a token through the settings page and returns its secret.
func (b *browser) MustToken(name string) string {
	b.e.t.Helper()
	res := b.post("/settings/tokens", url.Values{"name": {name}})
	secret := res.testid("token-secret").AttrOr("value", "")
	if res.status != http.StatusOK || !strings.HasPrefix(secret, "flt_") {
		b.e.t.Fatalf("create token: %d %q\n%s", res.status, secret, res.body)
	}
	return secret
}

func TestTokensPageCreateListRevoke(t *testing.T) {
	d := MustDash(t)
	e := d.e
	b := e.MustLogin(d.owner)
	if res := b.get("/settings/tokens"); res.status != 200 || res.testid("token").Length() != 0 {
		t.Fatalf("empty tokens page: %d", res.status)
	}
	if res := b.post("/settings/tokens", url.Values{"name": {"  "}}); res.status != http.StatusUnprocessableEntity || res.testid("form-error").Length() != 1 {
		t.Errorf("empty name: %d", res.status)
	}
	if res := b.post("/settings/tokens", url.Values{"name": {"x"}, "days": {"0"}}); res.status != http.StatusUnprocessableEntity {
		t.Errorf("expiry of 0 days: %d", res.status)
	}
	secret := b.MustToken("gradebook <sync>")
	// Shown once: the list shows its name and prefix, never the secret again.
	res := b.get("/settings/tokens")
	if res.testid("token").Length() != 1 || !strings.Contains(res.testid("token").Text(), "gradebook <sync>") {
		t.Fatalf("token not listed: %q", res.testid("tokens").Text())
	}
	if strings.Contains(res.body, secret) || res.testid("token-secret").Length() != 0 {
		t.Error("secret shown again")
	}
	if strings.Contains(res.body, "<sync>") {
		t.Error("token name not escaped")
	}

	code, body, _ := e.apiGet(secret, "/api/v1/cohorts")
	if code != 200 {
		t.Fatalf("API with token: %d %v", code, body)
	}
	cs := body["cohorts"].([]any)
	if len(cs) != 1 || cs[0].(map[string]any)["name"] != "Spring" {
		t.Errorf("cohorts %v, want Spring only", cs)
	}

	// Someone else cannot revoke it; the owner can, and then it stops working.
	revoke := res.doc().Find(`[data-testid="token"] form`).AttrOr("action", "")
	if r := e.MustLogin(d.otherInst).post(revoke, nil); r.status != 404 {
		t.Errorf("another user revoking: %d", r.status)
	}
	if code, _, _ := e.apiGet(secret, "/api/v1/cohorts"); code != 200 {
		t.Errorf("token stopped working after a foreign revoke: %d", code)
	}
	if r := b.post(revoke, nil); r.status != http.StatusSeeOther {
		t.Fatalf("revoke: %d", r.status)
	}
	if r := b.get("/settings/tokens"); r.testid("token").Find(`[data-state="revoked"]`).Length() != 1 {
		t.Error("revoked token not marked")
	}
	code, body, hdr := e.apiGet(secret, "/api/v1/cohorts")
	if code != http.StatusUnauthorized || body["error"] == "" || !strings.HasPrefix(hdr.Get("WWW-Authenticate"), "Bearer") {
		t.Errorf("revoked token: %d %v", code, body)
	}
}

func TestAPIAuthentication(t *testing.T) {
	d := MustDash(t)
	e := d.e
	b := e.MustLogin(d.owner)
	secret := b.MustToken("ci")
	paths := []string{"/api/v1/cohorts", "/api/v1/cohorts/" + strconv.FormatInt(d.cohort.ID, 10) + "/gradebook",
		"/api/v1/cohorts/" + strconv.FormatInt(d.cohort.ID, 10) + "/matrix"}
	for _, p := range paths {
		if code, body, _ := e.apiGet("", p); code != 401 || body["error"] == nil {
			t.Errorf("%s without token: %d %v", p, code, body)
		}
		if code, _, _ := e.apiGet("flt_notarealtoken", p); code != 401 {
			t.Errorf("%s with a bad token: %d", p, code)
		}
		// The session cookie alone never authenticates the API.
		req := httptest.NewRequest(http.MethodGet, p, nil)
		for _, c := range b.cookies {
			req.AddCookie(c)
		}
		rec := httptest.NewRecorder()
		e.srv.ServeHTTP(rec, req)
		if rec.Code != 401 || !strings.Contains(rec.Body.String(), `"error"`) {
			t.Errorf("%s with the session cookie only: %d %s", p, rec.Code, rec.Body.String())
		}
		// Cross-site GETs with a token pass CrossOriginProtection.
		if code, _, _ := e.apiGet(secret, p, "Sec-Fetch-Site", "cross-site", "Origin", "https://elsewhere.example"); code != 200 {
			t.Errorf("%s cross-site with token: %d", p, code)
		}
	}
	if code, _, _ := e.apiGet("", "/api/v1/cohorts", "Authorization", "Basic "+secret); code != 401 {
		t.Errorf("token in Basic auth: %d", code)
	}
	if code, body, _ := e.apiGet(secret, "/api/v1/nothing"); code != 404 || body["error"] == nil {
		t.Errorf("unknown endpoint: %d %v", code, body)
	}
}

func TestAPIGradebookAndMatrix(t *testing.T) {
	d := MustDash(t)
	e := d.e
	id := strconv.FormatInt(d.cohort.ID, 10)
	secret := e.MustLogin(d.owner).MustToken("ci")
	code, body, _ := e.apiGet(secret, "/api/v1/cohorts/"+id+"/gradebook")
	if code != 200 {
		t.Fatalf("gradebook: %d %v", code, body)
	}
	learners := body["learners"].([]any)
	if len(learners) != 3 {
		t.Fatalf("%d learners", len(learners))
	}
	bob := learners[1].(map[string]any)
	best := bob["best"].(map[string]any)
	if bob["name"] != "Bob" || best[d.lab0.Slug] != float64(d.max0/2) || best[d.lab1.Slug] != float64(d.max1) ||
		bob["total"] != float64(d.max0/2+d.max1) {
		t.Errorf("Bob = %v", bob)
	}
	if len(body["labs"].([]any)) != len(e.srv.d.Labs.All()) {
		t.Errorf("labs %v", body["labs"])
	}

	code, body, _ = e.apiGet(secret, "/api/v1/cohorts/"+id+"/matrix")
	if code != 200 {
		t.Fatalf("matrix: %d %v", code, body)
	}
	alice := body["learners"].([]any)[0].(map[string]any)
	cell := alice["cells"].(map[string]any)[d.lab0.Slug].(map[string]any)
	if alice["name"] != "Alice" || alice["lessons_read"] != float64(1) || cell["best_score"] != float64(d.max0) ||
		cell["attempts"] != float64(2) || cell["best_submission_id"] != float64(d.aliceFull) {
		t.Errorf("Alice = %v", alice)
	}
}

// TestAPIAccess: the cohort endpoints refuse, with a JSON 404, tokens of the
// cohort's learners, of another cohort's instructor and of a learner
// elsewhere; co-instructors and admins are served.
func TestAPIAccess(t *testing.T) {
	d := MustDash(t)
	e := d.e
	id := strconv.FormatInt(d.cohort.ID, 10)
	paths := []string{"/api/v1/cohorts/" + id + "/gradebook", "/api/v1/cohorts/" + id + "/matrix"}
	for who, u := range map[string]*faultline.User{"owner": d.owner, "co-instructor": d.coInst, "admin": d.admin} {
		secret := e.MustLogin(u).MustToken("t")
		for _, p := range paths {
			if code, body, _ := e.apiGet(secret, p); code != 200 {
				t.Errorf("%s %s: %d %v", who, p, code, body)
			}
		}
		if _, body, _ := e.apiGet(secret, "/api/v1/cohorts"); !strings.Contains(toJSON(body), `"Spring"`) {
			t.Errorf("%s: cohort list %v lacks Spring", who, body)
		}
	}
	for who, u := range map[string]*faultline.User{"learner of the cohort": d.alice, "instructor of another cohort": d.otherInst, "learner elsewhere": d.outsider} {
		secret := e.MustLogin(u).MustToken("t")
		for _, p := range paths {
			if code, body, _ := e.apiGet(secret, p); code != 404 || body["error"] == nil || strings.Contains(toJSON(body), "Alice") {
				t.Errorf("%s %s: %d %v, want 404", who, p, code, body)
			}
		}
		if _, body, _ := e.apiGet(secret, "/api/v1/cohorts"); strings.Contains(toJSON(body), `"Spring"`) {
			t.Errorf("%s sees Spring in the cohort list: %v", who, body)
		}
	}
	secret := e.MustLogin(d.owner).MustToken("t2")
	if code, _, _ := e.apiGet(secret, "/api/v1/cohorts/9999/gradebook"); code != 404 {
		t.Errorf("unknown cohort: %d", code)
	}
	if code, _, _ := e.apiGet(secret, "/api/v1/cohorts/abc/matrix"); code != 404 {
		t.Errorf("bad cohort id: %d", code)
	}
}

func toJSON(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}
