package web

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/PuerkitoBio/goquery"

	"github.com/faultline-dev/faultline"
	"github.com/faultline-dev/faultline/lti"
	"github.com/faultline-dev/faultline/lti/ltitest"
)

// ltiEnv is a portal served over real HTTP with the LTI tool, and an LMS.
type ltiEnv struct {
	*env
	base  string
	tool  *lti.Service
	lms   *ltitest.Platform
	admin *faultline.User
}

// MustLTIEnv starts the portal on a loopback port with the LTI tool and an
// LMS platform registered by an admin.
func MustLTIEnv(t *testing.T) *ltiEnv {
	t.Helper()
	ts := httptest.NewUnstartedServer(nil)
	base := "http://" + ts.Listener.Addr().String()
	le := &ltiEnv{base: base}
	le.env = MustInstEnv(t, func(e *env, d *Deps) {
		d.BaseURL = base
		tool, err := lti.New(lti.Config{BaseURL: base, Lab: d.Labs.Lab,
			Lesson: func(slug string) (*faultline.Lesson, bool) { l, err := d.Content.Lesson(slug); return l, err == nil },
			Scores: lti.CourseScores{Course: e.course, Users: e.db}, Now: d.Now}, e.db)
		if err != nil {
			t.Fatal(err)
		}
		le.tool, d.LTI = tool, tool
	})
	ts.Config.Handler = le.srv
	ts.Start()
	t.Cleanup(ts.Close)
	le.lms = ltitest.Start(t)
	urls := lti.ToolURLs(base)
	le.lms.ToolLogin, le.lms.ToolLaunch, le.lms.ToolJWKS = urls.Login, urls.Launch, urls.JWKS
	t.Cleanup(func() {
		if v := le.lms.Violations(); len(v) > 0 {
			t.Errorf("the tool broke the LTI protocol: %v", v)
		}
	})
	le.admin = le.MustUser("Ada Admin", faultline.RoleAdmin)
	res := le.MustLogin(le.admin).post("/admin/lti", url.Values{
		"name": {"Test LMS"}, "issuer": {le.lms.URL}, "client_id": {le.lms.ClientID}, "deployments": {"dep-0, " + le.lms.DeploymentID},
		"auth_url": {le.lms.AuthURL()}, "token_url": {le.lms.TokenURL()}, "jwks_url": {le.lms.JWKSURL()},
	})
	if res.status != http.StatusSeeOther {
		t.Fatalf("register platform: %d\n%s", res.status, res.body)
	}
	return le
}

// lmsBrowser is a real HTTP client with cookies, as a browser that the
// LMS and the portal both talk to.
type lmsBrowser struct {
	t *testing.T
	c *http.Client
}

func newLMSBrowser(t *testing.T) *lmsBrowser {
	jar, _ := cookiejar.New(nil)
	return &lmsBrowser{t: t, c: &http.Client{Jar: jar, Timeout: 30 * time.Second}}
}

type page struct {
	status int
	url    *url.URL
	body   string
	doc    *goquery.Document
}

func (b *lmsBrowser) read(res *http.Response, err error) *page {
	b.t.Helper()
	if err != nil {
		b.t.Fatal(err)
	}
	defer res.Body.Close()
	body, _ := io.ReadAll(res.Body)
	doc, _ := goquery.NewDocumentFromReader(strings.NewReader(string(body)))
	return &page{status: res.StatusCode, url: res.Request.URL, body: string(body), doc: doc}
}

// launch opens the LMS course link and does what a browser does: follows
// the redirects and submits the platform's self-posting form.
func (b *lmsBrowser) launch(u string) *page {
	b.t.Helper()
	p := b.read(b.c.Get(u))
	form := p.doc.Find("form")
	if p.status != http.StatusOK || form.Length() != 1 || !strings.Contains(p.body, `onload="document.forms[0].submit()"`) {
		b.t.Fatalf("the LMS did not answer with its launch form: %d at %s\n%s", p.status, p.url, p.body)
	}
	action, _ := form.Attr("action")
	vals := url.Values{}
	form.Find("input").Each(func(_ int, s *goquery.Selection) {
		n, _ := s.Attr("name")
		v, _ := s.Attr("value")
		vals.Set(n, v)
	})
	req, _ := http.NewRequest(http.MethodPost, action, strings.NewReader(vals.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Origin", b.lmsOrigin(u)) // a cross-site post, as from the LMS page
	return b.read(b.c.Do(req))
}

func (b *lmsBrowser) lmsOrigin(u string) string {
	x, _ := url.Parse(u)
	return x.Scheme + "://" + x.Host
}

func (b *lmsBrowser) get(u string) *page { b.t.Helper(); return b.read(b.c.Get(u)) }

func (b *lmsBrowser) postForm(u string, v url.Values, origin string) *page {
	b.t.Helper()
	req, _ := http.NewRequest(http.MethodPost, u, strings.NewReader(v.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Origin", origin)
	return b.read(b.c.Do(req))
}

func (le *ltiEnv) passback(t *testing.T) {
	t.Helper()
	if err := le.tool.PassbackOnce(context.Background(), lti.PassbackOptions{Worker: "test"}); err != nil {
		t.Fatalf("passback: %v", err)
	}
}

// TestLTIDeepLinkLaunchAndGradePassback: an instructor adds a lab to the
// course through deep linking (a signed response the LMS checks), a
// learner launches it and lands in the lab with an account and a cohort
// made for them, and the learner's score goes to the link's line item when
// a grade lands and again when a regrade changes it.
func TestLTIDeepLinkLaunchAndGradePassback(t *testing.T) {
	le := MustLTIEnv(t)
	ctx := context.Background()
	le.lms.Enroll(ltitest.Person{Sub: "inst-1", Name: "Ines Instructor", Email: "ines@uni.example", Instructor: true},
		ltitest.Person{Sub: "stu-1", Name: "Sam Student", Email: "sam@uni.example"})

	// Deep linking.
	ib := newLMSBrowser(t)
	picker := ib.launch(le.lms.LaunchURL("inst-1", "", true))
	if picker.status != http.StatusOK || picker.doc.Find(`[data-testid="deep-link-form"]`).Length() != 1 {
		t.Fatalf("deep linking picker: %d at %s\n%s", picker.status, picker.url, picker.body)
	}
	token, _ := picker.doc.Find(`input[name="token"]`).Attr("value")
	done := ib.postForm(le.base+"/lti/deep-link", url.Values{"token": {token}, "platform": {"Test LMS"}, "multiple": {"1"},
		"item": {"lab:circuit-breaker", "lesson:circuit-breakers"}}, le.base)
	ret := done.doc.Find(`form[data-testid="deep-link-return"]`)
	action, _ := ret.Attr("action")
	jwt, _ := ret.Find(`input[name="JWT"]`).Attr("value")
	if done.status != http.StatusOK || action != le.lms.URL+"/deep-link-return" || jwt == "" {
		t.Fatalf("deep link return page: %d action %q\n%s", done.status, action, done.body)
	}
	back := ib.postForm(action, url.Values{"JWT": {jwt}}, le.base)
	if back.status != http.StatusOK || !strings.Contains(back.body, "Added 2 items") {
		t.Fatalf("the LMS did not take the deep link response: %d %s", back.status, back.body)
	}
	links := le.lms.Links()
	if len(links) != 2 || links[0].Custom["lab"] != "circuit-breaker" || links[0].LineItemID == "" || links[1].Custom["lesson"] != "circuit-breakers" || links[1].LineItemID != "" {
		t.Fatalf("links placed: %+v", links)
	}
	lab, _ := le.srv.d.Labs.Lab("circuit-breaker")
	if li := le.lms.LineItems(); len(li) != 1 || li[0].ScoreMaximum != float64(lab.MaxScore()) || li[0].Label != lab.Title {
		t.Fatalf("line items: %+v", li)
	}
	// The token of a deep link works once.
	if again := ib.postForm(le.base+"/lti/deep-link", url.Values{"token": {token}, "item": {"lab:saga"}}, le.base); again.status != http.StatusNotFound {
		t.Fatalf("deep link token used twice: %d", again.status)
	}

	// The learner launches the lab.
	sb := newLMSBrowser(t)
	landed := sb.launch(le.lms.LaunchURL("stu-1", links[0].ID, false))
	if landed.status != http.StatusOK || landed.url.Path != "/labs/circuit-breaker" {
		t.Fatalf("learner launch landed at %s (%d)\n%.2000s", landed.url, landed.status, landed.body)
	}
	if who := landed.doc.Find(`[data-testid="whoami"]`).Text(); !strings.Contains(who, "Sam Student") {
		t.Fatalf("signed in as %q", who)
	}
	_, sam, err := le.db.FindIdentity(ctx, faultline.IdentityLTI, le.lms.URL, "stu-1")
	if err != nil || sam.Email != "sam@uni.example" || sam.PasswordHash != faultline.NoPassword {
		t.Fatalf("learner account: %+v %v", sam, err)
	}
	cohorts, _ := le.db.ListCohorts(ctx, sam.ID)
	if len(cohorts) != 1 || cohorts[0].Name != le.lms.CourseTitle {
		t.Fatalf("learner's cohorts: %+v", cohorts)
	}
	if role, _ := le.db.MemberRole(ctx, cohorts[0].ID, sam.ID); role != faultline.MemberLearner {
		t.Fatalf("learner's role %q", role)
	}
	_, ines, _ := le.db.FindIdentity(ctx, faultline.IdentityLTI, le.lms.URL, "inst-1")
	if role, _ := le.db.MemberRole(ctx, cohorts[0].ID, ines.ID); role != faultline.MemberInstructor {
		t.Fatalf("instructor's role %q", role)
	}

	// A grade lands: the score goes to the deep-linked line item.
	le.passback(t) // sets the cursor
	le.MustSubmission(sam, "circuit-breaker")
	le.MustComplete(&faultline.Result{Lab: "circuit-breaker", Status: faultline.StatusGraded, Score: 3, MaxScore: lab.MaxScore()})
	le.passback(t)
	li := le.lms.LineItems()[0]
	if len(li.Scores) != 1 || li.Scores[0].UserID != "stu-1" || li.Scores[0].ScoreGiven != 3 || li.Scores[0].ScoreMaximum != float64(lab.MaxScore()) ||
		li.Scores[0].GradingProgress != "FullyGraded" || li.Scores[0].ActivityProgress != "Completed" {
		t.Fatalf("scores at the LMS: %+v", li.Scores)
	}
	// A better grade changes the score; a worse one does not lower it.
	le.MustSubmission(sam, "circuit-breaker")
	le.MustComplete(&faultline.Result{Lab: "circuit-breaker", Status: faultline.StatusGraded, Score: lab.MaxScore(), MaxScore: lab.MaxScore()})
	le.MustSubmission(sam, "circuit-breaker")
	le.MustComplete(&faultline.Result{Lab: "circuit-breaker", Status: faultline.StatusGraded, Score: 1, MaxScore: lab.MaxScore()})
	le.passback(t)
	li = le.lms.LineItems()[0]
	if last := li.Scores[len(li.Scores)-1]; last.ScoreGiven != float64(lab.MaxScore()) || len(li.Scores) != 2 {
		t.Fatalf("scores after a better grade: %+v", li.Scores)
	}
	if jobs, _ := le.db.ListLTIScores(ctx, sam.ID); len(jobs) == 0 || jobs[0].State != "sent" {
		t.Fatalf("score jobs: %+v", jobs)
	}

	// The lesson link lands on the lesson.
	if p := sb.launch(le.lms.LaunchURL("stu-1", links[1].ID, false)); p.url.Path != "/lessons/circuit-breakers" {
		t.Fatalf("lesson launch landed at %s", p.url)
	}
	// The instructor opens the lab too; a link without content lands them
	// on the cohort.
	if p := ib.launch(le.lms.LaunchURL("inst-1", links[0].ID, false)); p.url.Path != "/labs/circuit-breaker" || p.status != http.StatusOK {
		t.Fatalf("instructor launch landed at %s (%d)", p.url, p.status)
	}
	le.lms.AddLink(ltitest.Link{ID: "plain"})
	if p := ib.launch(le.lms.LaunchURL("inst-1", "plain", false)); p.url.Path != "/cohorts/"+strconv.FormatInt(cohorts[0].ID, 10) || p.status != http.StatusOK {
		t.Fatalf("instructor launch of a plain link landed at %s (%d)", p.url, p.status)
	}
}

// TestLTIPassbackCreatesLineItem: a link placed by hand (no line item)
// gets one created through AGS at the first score; the tool's key signs
// the token requests, which the platform checks against /lti/jwks.
func TestLTIPassbackCreatesLineItem(t *testing.T) {
	le := MustLTIEnv(t)
	le.lms.Enroll(ltitest.Person{Sub: "stu-2", Name: "Kim", Email: "kim@uni.example"})
	le.lms.AddLink(ltitest.Link{ID: "hand-1", Title: "Saga lab", Custom: map[string]string{"lab": "saga"}})
	le.passback(t)
	// A grade before the launch: queued when the learner launches.
	sb := newLMSBrowser(t)
	if p := sb.launch(le.lms.LaunchURL("stu-2", "hand-1", false)); p.url.Path != "/labs/saga" {
		t.Fatalf("launch landed at %s", p.url)
	}
	_, kim, _ := le.db.FindIdentity(context.Background(), faultline.IdentityLTI, le.lms.URL, "stu-2")
	le.MustSubmission(kim, "saga")
	le.MustComplete(&faultline.Result{Lab: "saga", Status: faultline.StatusGraded, Score: 5, MaxScore: 9})
	le.passback(t)
	items := le.lms.LineItems()
	if len(items) != 1 || items[0].ResourceLinkID != "hand-1" || items[0].ResourceID != "lab:saga" || items[0].ScoreMaximum != 9 ||
		len(items[0].Scores) != 1 || items[0].Scores[0].ScoreGiven != 5 {
		t.Fatalf("line items: %+v", items)
	}
	// The next score reuses the line item.
	le.MustSubmission(kim, "saga")
	le.MustComplete(&faultline.Result{Lab: "saga", Status: faultline.StatusGraded, Score: 9, MaxScore: 9})
	le.passback(t)
	if items := le.lms.LineItems(); len(items) != 1 || len(items[0].Scores) != 2 {
		t.Fatalf("second score: %+v", items)
	}
}

// TestLTIRosterSync: the cohort's teacher reads the course roster (two
// pages) into the cohort; an inactive learner leaves it.
func TestLTIRosterSync(t *testing.T) {
	le := MustLTIEnv(t)
	ctx := context.Background()
	le.lms.Enroll(ltitest.Person{Sub: "inst-9", Name: "Ivo", Email: "ivo@uni.example", Instructor: true},
		ltitest.Person{Sub: "a", Name: "Ana", Email: "ana@uni.example"},
		ltitest.Person{Sub: "b", Name: "Ben", Email: "ben@uni.example"},
		ltitest.Person{Sub: "c", Name: "Cy", Email: "cy@uni.example"})
	le.lms.AddLink(ltitest.Link{ID: "l1", Custom: map[string]string{"lab": "saga"}})
	le.lms.AddLink(ltitest.Link{ID: "home"})
	ib := newLMSBrowser(t)
	p := ib.launch(le.lms.LaunchURL("inst-9", "home", false))
	if !strings.HasPrefix(p.url.Path, "/cohorts/") {
		t.Fatalf("instructor launch at %s", p.url)
	}
	ltiPage := ib.get(le.base + p.url.Path + "/lti")
	if ltiPage.status != http.StatusOK || ltiPage.doc.Find(`[data-testid="lti-sync"]`).Length() != 1 {
		t.Fatalf("cohort LTI page: %d\n%s", ltiPage.status, ltiPage.body)
	}
	synced := ib.postForm(le.base+p.url.Path+"/lti/sync", url.Values{}, le.base)
	if rep := synced.doc.Find(`[data-testid="sync-report"]`).Text(); synced.status != http.StatusOK || !strings.Contains(rep, "4 active members") || !strings.Contains(rep, "3 new accounts") {
		t.Fatalf("sync: %d %q\n%s", synced.status, rep, synced.body)
	}
	_, ana, err := le.db.FindIdentity(ctx, faultline.IdentityLTI, le.lms.URL, "a")
	if err != nil {
		t.Fatal(err)
	}
	cs, _ := le.db.ListCohorts(ctx, ana.ID)
	if len(cs) != 1 {
		t.Fatalf("Ana's cohorts: %v", cs)
	}
	members, _ := le.db.ListMembers(ctx, cs[0].ID)
	if len(members) != 4 {
		t.Fatalf("%d members after sync, want 4", len(members))
	}
	le.lms.Enroll(ltitest.Person{Sub: "b", Name: "Ben", Email: "ben@uni.example", Status: "Inactive"})
	synced = ib.postForm(le.base+p.url.Path+"/lti/sync", url.Values{}, le.base)
	if rep := synced.doc.Find(`[data-testid="sync-report"]`).Text(); !strings.Contains(rep, "1 learners taken off") {
		t.Fatalf("second sync: %q", rep)
	}
	if members, _ := le.db.ListMembers(ctx, cs[0].ID); len(members) != 3 {
		t.Fatalf("%d members after Ben left, want 3", len(members))
	}
	// A learner of the cohort may not sync it.
	lb := newLMSBrowser(t)
	lb.launch(le.lms.LaunchURL("a", "l1", false))
	if res := lb.postForm(le.base+p.url.Path+"/lti/sync", url.Values{}, le.base); res.status != http.StatusNotFound {
		t.Fatalf("learner sync: %d, want 404", res.status)
	}
}

// TestLTISecurityFramework: launches whose id_token fails a check of the
// LTI Security Framework are refused and sign nobody in.
func TestLTISecurityFramework(t *testing.T) {
	le := MustLTIEnv(t)
	ctx := context.Background()
	le.lms.Enroll(ltitest.Person{Sub: "s", Name: "Sue", Email: "sue@uni.example"})
	le.lms.AddLink(ltitest.Link{ID: "l1", Custom: map[string]string{"lab": "saga"}})
	// One good launch first, for its nonce.
	var seen string
	le.lms.Tamper(func(l *ltitest.Launch) { seen = l.Claims["nonce"].(string) })
	if p := newLMSBrowser(t).launch(le.lms.LaunchURL("s", "l1", false)); p.url.Path != "/labs/saga" {
		t.Fatalf("good launch at %s", p.url)
	}
	other, _ := rsa.GenerateKey(rand.Reader, 2048)
	cases := map[string]func(*ltitest.Launch){
		"bad signature":       func(l *ltitest.Launch) { l.Key = other },
		"unknown key":         func(l *ltitest.Launch) { l.Key, l.KeyID = other, "not-published" },
		"wrong audience":      func(l *ltitest.Launch) { l.Claims["aud"] = "another-tool" },
		"azp of another tool": func(l *ltitest.Launch) { l.Claims["aud"] = []string{"faultline-tool", "x"}; l.Claims["azp"] = "x" },
		"wrong issuer":        func(l *ltitest.Launch) { l.Claims["iss"] = "https://evil.example" },
		"expired":             func(l *ltitest.Launch) { l.Claims["exp"] = time.Now().Add(-2 * time.Minute).Unix() },
		"replayed nonce":      func(l *ltitest.Launch) { l.Claims["nonce"] = seen },
		"unknown deployment":  func(l *ltitest.Launch) { l.Claims[lti.ClaimDeploymentID] = "dep-evil" },
		"wrong version":       func(l *ltitest.Launch) { l.Claims[lti.ClaimVersion] = "1.1" },
		"wrong message type":  func(l *ltitest.Launch) { l.Claims[lti.ClaimMessageType] = "LtiSubmissionReviewRequest" },
		"no subject":          func(l *ltitest.Launch) { delete(l.Claims, "sub") },
	}
	for name, tamper := range cases {
		t.Run(name, func(t *testing.T) {
			le.lms.Enroll(ltitest.Person{Sub: "victim", Name: "V", Email: "v@uni.example"})
			le.lms.Tamper(tamper)
			b := newLMSBrowser(t)
			p := b.launch(le.lms.LaunchURL("victim", "l1", false))
			if p.status != http.StatusForbidden || p.url.Path != "/lti/launch" {
				t.Fatalf("%s: %d at %s", name, p.status, p.url)
			}
			if who := b.get(le.base + "/lessons").doc.Find(`[data-testid="whoami"]`); who.Length() != 0 {
				t.Fatalf("%s: signed in as %q", name, who.Text())
			}
		})
	}
	le.lms.Tamper(nil)
	if _, _, err := le.db.FindIdentity(ctx, faultline.IdentityLTI, le.lms.URL, "victim"); faultline.ErrorCode(err) != faultline.ENOTFOUND {
		t.Fatalf("a refused launch made an account: %v", err)
	}

	// The launch form posted in another browser (no state cookie) is refused.
	le.lms.Enroll(ltitest.Person{Sub: "s2", Name: "S2", Email: "s2@uni.example"})
	b := newLMSBrowser(t)
	p := b.get(le.lms.LaunchURL("s2", "l1", false))
	form := p.doc.Find("form")
	action, _ := form.Attr("action")
	vals := url.Values{}
	form.Find("input").Each(func(_ int, s *goquery.Selection) {
		n, _ := s.Attr("name")
		v, _ := s.Attr("value")
		vals.Set(n, v)
	})
	if res := newLMSBrowser(t).postForm(action, vals, le.lms.URL); res.status != http.StatusForbidden {
		t.Fatalf("launch in another browser: %d", res.status)
	}
	// And the same id_token again, after a good use, is refused (state used).
	if res := b.postForm(action, vals, le.lms.URL); res.status != http.StatusOK {
		t.Fatalf("first use of the launch: %d", res.status)
	}
	if res := b.postForm(action, vals, le.lms.URL); res.status != http.StatusForbidden {
		t.Fatalf("the same launch posted twice: %d", res.status)
	}

	// A login from an unregistered platform or for another tool's URL.
	if res := newLMSBrowser(t).get(le.base + "/lti/login?iss=https://unknown.example&login_hint=x&target_link_uri=" + url.QueryEscape(le.base+"/lti/launch")); res.status != http.StatusNotFound {
		t.Fatalf("unregistered platform: %d", res.status)
	}
	if res := newLMSBrowser(t).get(le.base + "/lti/login?iss=" + url.QueryEscape(le.lms.URL) + "&login_hint=x&target_link_uri=https://evil.example/"); res.status != http.StatusUnprocessableEntity {
		t.Fatalf("foreign target link: %d", res.status)
	}
	if res := newLMSBrowser(t).get(le.base + "/lti/login?iss=" + url.QueryEscape(le.lms.URL) + "&login_hint=x&lti_deployment_id=nope&target_link_uri=" + url.QueryEscape(le.base+"/lti/launch")); res.status != http.StatusUnprocessableEntity {
		t.Fatalf("unknown deployment at login: %d", res.status)
	}
	// A learner cannot deep link.
	le.lms.Enroll(ltitest.Person{Sub: "s3", Name: "S3", Email: "s3@uni.example"})
	if p := newLMSBrowser(t).launch(le.lms.LaunchURL("s3", "", true)); p.status != http.StatusForbidden {
		t.Fatalf("learner deep link: %d", p.status)
	}
}

// TestLTIAdminPages: only admins reach platform registration; the page
// shows the tool's URLs; bad input is re-asked with the input kept; the
// tool's JWKS is public JSON with the signing key.
func TestLTIAdminPages(t *testing.T) {
	le := MustLTIEnv(t)
	inst := le.MustUser("Ian Instructor", faultline.RoleInstructor)
	lin := le.MustUser("Lin Learner", faultline.RoleLearner)
	admin := le.MustLogin(le.admin)
	page := admin.get("/admin/lti")
	if page.status != http.StatusOK || page.testid("platform").Length() != 1 ||
		page.testid("tool-login-url").Text() != le.base+"/lti/login" || page.testid("tool-launch-url").Text() != le.base+"/lti/launch" ||
		page.testid("tool-jwks-url").Text() != le.base+"/lti/jwks" || page.testid("tool-deeplink-url").Text() == "" {
		t.Fatalf("admin page: %d\n%s", page.status, page.body)
	}
	bad := admin.post("/admin/lti", url.Values{"name": {"Moodle"}, "issuer": {"https://m.example"}, "client_id": {"c"}, "deployments": {"d"},
		"auth_url": {"not a url"}, "jwks_url": {"https://m.example/jwks"}})
	if bad.status != http.StatusUnprocessableEntity || bad.testid("form-error").Length() != 1 || !strings.Contains(bad.body, "https://m.example/jwks") {
		t.Fatalf("bad registration: %d", bad.status)
	}
	dup := admin.post("/admin/lti", url.Values{"name": {"Again"}, "issuer": {le.lms.URL}, "client_id": {le.lms.ClientID}, "deployments": {"d"},
		"auth_url": {le.lms.AuthURL()}, "jwks_url": {le.lms.JWKSURL()}})
	if dup.status != http.StatusConflict {
		t.Fatalf("duplicate registration: %d", dup.status)
	}
	for who, b := range map[string]*browser{"instructor": le.MustLogin(inst), "learner": le.MustLogin(lin)} {
		for _, rt := range []struct{ method, path string }{{"GET", "/admin/lti"}, {"POST", "/admin/lti"}, {"POST", "/admin/lti/delete"}} {
			var res *response
			if rt.method == "GET" {
				res = b.get(rt.path)
			} else {
				res = b.post(rt.path, url.Values{"id": {"1"}, "name": {"x"}})
			}
			if res.status != http.StatusNotFound {
				t.Errorf("%s %s %s: %d, want 404", who, rt.method, rt.path, res.status)
			}
		}
	}
	if ps, _ := le.db.ListLTIPlatforms(context.Background()); len(ps) != 1 {
		t.Fatalf("%d platforms after the refused requests", len(ps))
	}
	// The deep linking choice needs a signed-in user and their own token.
	if res := le.browser().post("/lti/deep-link", url.Values{"token": {"x"}, "item": {"lab:saga"}}); res.status != http.StatusUnauthorized {
		t.Errorf("visitor POST /lti/deep-link: %d, want 401", res.status)
	}
	if res := le.MustLogin(lin).post("/lti/deep-link", url.Values{"token": {"made-up"}, "item": {"lab:saga"}}); res.status != http.StatusNotFound {
		t.Errorf("learner POST /lti/deep-link with a made-up token: %d, want 404", res.status)
	}
	res := le.browser().get("/lti/jwks")
	if res.status != http.StatusOK || !strings.Contains(res.header.Get("Content-Type"), "application/json") || !strings.Contains(res.body, `"kty":"RSA"`) || strings.Contains(res.body, `"d":`) {
		t.Fatalf("jwks: %d %s", res.status, res.body)
	}
	if res := admin.post("/admin/lti/delete", url.Values{"id": {"1"}}); res.status != http.StatusSeeOther {
		t.Fatalf("delete: %d", res.status)
	}
	if page := admin.get("/admin/lti"); page.testid("no-platforms").Length() != 1 {
		t.Fatal("the platform is still listed")
	}
}

// TestLTIPassbackRetries: a platform that answers 503 gets the score again
// after the backoff; one that refuses it (400) is given up, and the job
// keeps the platform's answer.
func TestLTIPassbackRetries(t *testing.T) {
	le := MustLTIEnv(t)
	ctx := context.Background()
	le.lms.Enroll(ltitest.Person{Sub: "r1", Name: "Rae", Email: "rae@uni.example"})
	le.lms.AddLink(ltitest.Link{ID: "l", Custom: map[string]string{"lab": "saga"}})
	le.passback(t)
	newLMSBrowser(t).launch(le.lms.LaunchURL("r1", "l", false))
	_, rae, _ := le.db.FindIdentity(ctx, faultline.IdentityLTI, le.lms.URL, "r1")
	le.lms.FailScores(503)
	le.MustSubmission(rae, "saga")
	le.MustComplete(&faultline.Result{Lab: "saga", Status: faultline.StatusGraded, Score: 4, MaxScore: 9})
	le.passback(t)
	jobs, _ := le.db.ListLTIScores(ctx, rae.ID)
	if le.lms.ScorePosts() != 0 || len(jobs) != 1 || jobs[0].State != "pending" || jobs[0].Attempts != 1 || !strings.Contains(jobs[0].LastError, "503") {
		t.Fatalf("after a 503: %d posts, jobs %+v", le.lms.ScorePosts(), jobs)
	}
	le.passback(t) // not due yet
	if le.lms.ScorePosts() != 0 {
		t.Fatal("retried before the backoff")
	}
	le.clock.Add(31 * time.Second)
	le.passback(t)
	if le.lms.ScorePosts() != 1 {
		t.Fatalf("%d scores after the backoff, want 1", le.lms.ScorePosts())
	}
	le.lms.FailScores(400)
	le.MustSubmission(rae, "saga")
	le.MustComplete(&faultline.Result{Lab: "saga", Status: faultline.StatusGraded, Score: 9, MaxScore: 9})
	le.passback(t)
	jobs, _ = le.db.ListLTIScores(ctx, rae.ID)
	if jobs[0].State != "failed" || !strings.Contains(jobs[0].LastError, "400") {
		t.Fatalf("after a 400: %+v", jobs[0])
	}
}

// TestLTIPassbackSendsTheOneScore: the score sent to the LMS is the one the
// learner holds under the cohort's rules — here a late submission loses
// half its points — not the raw grade.
func TestLTIPassbackSendsTheOneScore(t *testing.T) {
	le := MustLTIEnv(t)
	ctx := context.Background()
	le.lms.Enroll(ltitest.Person{Sub: "late-1", Name: "Lee", Email: "lee@uni.example"})
	le.lms.AddLink(ltitest.Link{ID: "l", Custom: map[string]string{"lab": "saga"}})
	le.passback(t)
	newLMSBrowser(t).launch(le.lms.LaunchURL("late-1", "l", false))
	_, lee, _ := le.db.FindIdentity(ctx, faultline.IdentityLTI, le.lms.URL, "late-1")
	cs, _ := le.db.ListCohorts(ctx, lee.ID)
	if err := le.db.SetLabSettings(ctx, &faultline.LabSettings{CohortID: cs[0].ID, Lab: "saga", DueAt: le.clock.Now().Add(-time.Hour),
		Late: faultline.LatePolicy{Mode: faultline.LatePenalty, PercentPerDay: 50, CapPercent: 50}, Visibility: faultline.TestsVisible}); err != nil {
		t.Fatal(err)
	}
	le.MustSubmission(lee, "saga")
	le.MustComplete(&faultline.Result{Lab: "saga", Status: faultline.StatusGraded, Score: 8, MaxScore: 8})
	le.passback(t)
	items := le.lms.LineItems()
	if len(items) != 1 || len(items[0].Scores) != 1 || items[0].Scores[0].ScoreGiven != 4 || items[0].Scores[0].ScoreMaximum != 8 {
		t.Fatalf("the LMS got %+v; want the late-penalised 4 of 8", items)
	}
	// The instructor moves the due date past the submission: the score
	// held changes without a new grade, and the LMS gets it.
	le.clock.Add(time.Second)
	if err := le.db.SetLabSettings(ctx, &faultline.LabSettings{CohortID: cs[0].ID, Lab: "saga", DueAt: le.clock.Now().Add(24 * time.Hour),
		Late: faultline.LatePolicy{Mode: faultline.LatePenalty, PercentPerDay: 50, CapPercent: 50}, Visibility: faultline.TestsVisible}); err != nil {
		t.Fatal(err)
	}
	le.passback(t)
	items = le.lms.LineItems()
	if n := len(items[0].Scores); n != 2 || items[0].Scores[1].ScoreGiven != 8 {
		t.Fatalf("after the due date moved the LMS has %+v; want a second score of 8", items[0].Scores)
	}
	le.passback(t) // nothing new: nothing sent again
	if n := len(le.lms.LineItems()[0].Scores); n != 2 {
		t.Fatalf("%d scores after a pass with no change, want 2", n)
	}
}

// TestLTIPassbackFollowsAdjustmentsAndExtensions: a score adjustment, an
// extension and its removal each change the score the learner holds with
// no new grade; the LMS gets each new score once, through the one score.
func TestLTIPassbackFollowsAdjustmentsAndExtensions(t *testing.T) {
	le := MustLTIEnv(t)
	ctx := context.Background()
	le.lms.Enroll(ltitest.Person{Sub: "adj-1", Name: "Abe", Email: "abe@uni.example"})
	le.lms.AddLink(ltitest.Link{ID: "l", Custom: map[string]string{"lab": "saga"}})
	le.passback(t)
	newLMSBrowser(t).launch(le.lms.LaunchURL("adj-1", "l", false))
	_, abe, _ := le.db.FindIdentity(ctx, faultline.IdentityLTI, le.lms.URL, "adj-1")
	cs, _ := le.db.ListCohorts(ctx, abe.ID)
	cohort := cs[0].ID
	if err := le.db.SetLabSettings(ctx, &faultline.LabSettings{CohortID: cohort, Lab: "saga", DueAt: le.clock.Now().Add(-time.Hour),
		Late: faultline.LatePolicy{Mode: faultline.LatePenalty, PercentPerDay: 50, CapPercent: 50}, Visibility: faultline.TestsVisible}); err != nil {
		t.Fatal(err)
	}
	le.MustSubmission(abe, "saga")
	le.MustComplete(&faultline.Result{Lab: "saga", Status: faultline.StatusGraded, Score: 8, MaxScore: 8})
	le.passback(t)
	given := func() []float64 {
		t.Helper()
		items := le.lms.LineItems()
		if len(items) != 1 {
			t.Fatalf("the LMS has %d line items, want 1", len(items))
		}
		var out []float64
		for _, s := range items[0].Scores {
			out = append(out, s.ScoreGiven)
		}
		return out
	}
	want := []float64{4} // late: half of 8
	if got := given(); !slices.Equal(got, want) {
		t.Fatalf("scores at the LMS: %v, want %v", got, want)
	}

	steps := []struct {
		name   string
		change func() error
		score  float64
	}{
		{"an adjustment of -1", func() error {
			_, err := le.course.AdjustScore(ctx, le.admin, cohort, abe.ID, "saga", -1, "Debug output left in")
			return err
		}, 3},
		{"an extension past the submission", func() error {
			_, err := le.course.GrantExtension(ctx, le.admin, cohort, abe.ID, faultline.Extension{Lab: "saga", DueAt: le.clock.Now().Add(24 * time.Hour), Reason: "Ill"})
			return err
		}, 7},
		{"the extension taken back", func() error {
			return le.course.RemoveExtension(ctx, le.admin, cohort, abe.ID, "saga")
		}, 3},
	}
	for _, st := range steps {
		le.clock.Add(time.Second)
		if err := st.change(); err != nil {
			t.Fatalf("%s: %v", st.name, err)
		}
		le.passback(t)
		want = append(want, st.score)
		if got := given(); !slices.Equal(got, want) {
			t.Fatalf("after %s the LMS has %v, want %v", st.name, got, want)
		}
	}
	le.passback(t) // nothing new: nothing sent again
	if got := given(); !slices.Equal(got, want) {
		t.Fatalf("after a pass with no change the LMS has %v, want %v", got, want)
	}
}
