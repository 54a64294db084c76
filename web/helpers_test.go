package web

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/PuerkitoBio/goquery"
	"golang.org/x/crypto/bcrypt"

	"github.com/faultline-dev/faultline"
	"github.com/faultline-dev/faultline/content"
	"github.com/faultline-dev/faultline/course"
	"github.com/faultline-dev/faultline/grader"
	"github.com/faultline-dev/faultline/labs"
	"github.com/faultline-dev/faultline/recovery"
	"github.com/faultline-dev/faultline/store"
)

// The catalogs are read-only: load them once for the whole test binary.
var (
	catalogsOnce sync.Once
	contentCat   *content.Catalog
	labsCat      *labs.Catalog
	catalogsErr  error
)

func MustCatalogs(tb testing.TB) (*content.Catalog, *labs.Catalog) {
	tb.Helper()
	catalogsOnce.Do(func() {
		contentCat, catalogsErr = content.Load(content.FS)
		if catalogsErr != nil {
			return
		}
		labsCat, catalogsErr = labs.Load(labs.FS)
	})
	if catalogsErr != nil {
		tb.Fatalf("load catalogs: %v", catalogsErr)
	}
	return contentCat, labsCat
}

// clock is a settable test clock.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// env is one portal under test: a real store in a temp dir, the real
// catalogs, a fake sandbox manager.
type env struct {
	t      testing.TB
	db     *store.DB
	course *course.Service
	srv    *Server
	sb     *fakeSandboxes
	clock  *clock
	kicks  atomic.Int32
	logs   *bytes.Buffer
}

// envDeps are the course layer's dependencies plus the content catalog,
// for options to change before the server is built.
type envDeps struct {
	course.Deps
	Content       *content.Catalog
	SecureCookies bool
	DB            *store.DB // the env's store, for options that build on it
}

type envOption func(*envDeps)

// withLabs serves the labs of c instead of the built-in catalog.
func withLabs(c *labs.Catalog) envOption { return func(d *envDeps) { d.Labs = c } }

func withSetupToken(tok string) envOption { return func(d *envDeps) { d.SetupToken = tok } }

// withoutSandboxes makes the sandboxes unreachable, as with the engine down.
func withoutSandboxes() envOption {
	return func(d *envDeps) {
		if f, ok := d.Sandboxes.(*fakeSandboxes); ok {
			f.unavailable = true
		}
	}
}

func MustEnv(t testing.TB, opts ...envOption) *env {
	t.Helper()
	cc, lc := MustCatalogs(t)
	db, err := store.Open(filepath.Join(t.TempDir(), "db"))
	if err != nil {
		t.Fatalf("open store: %v", err)
	}
	t.Cleanup(func() { db.Close() })
	e := &env{t: t, db: db, sb: newFakeSandboxes(), clock: &clock{now: time.Now().UTC()}, logs: &bytes.Buffer{}}
	db.Now = e.clock.Now
	logger := slog.New(slog.NewTextHandler(&lockedWriter{w: e.logs}, nil))
	d := envDeps{Content: cc, DB: db, Deps: course.Deps{
		Users: db, Sessions: db, Cohorts: db, Progress: db, Workspace: db, Submissions: db,
		Records: db, Instructor: db, Scores: db, Regrades: db, Canceler: db, Live: db,
		Tokens: db, Replays: db, RestorePts: db,
		Recovery:    &recovery.Service{Users: db, Resets: db, BaseURL: "http://portal.test", BcryptCost: bcrypt.MinCost, Now: e.clock.Now},
		Discussions: db, Groups: db, Moderation: db, Feedback: db, Inbox: db, Snapshots: db, Dashboards: db, Lessons: cc, Markdown: content.Render,
		Sandboxes: e.sb, Terminals: noTerminals{}, Replayer: noReplayer{}, Similarity: grader.NewSimilarity(),
		Labs:       lc,
		Kick:       func() { e.kicks.Add(1) },
		Logger:     logger,
		Now:        e.clock.Now,
		BcryptCost: bcrypt.MinCost,
	}}
	for _, o := range opts {
		o(&d)
	}
	d.Lessons = d.Content
	svc, err := course.New(d.Deps)
	if err != nil {
		t.Fatalf("new course service: %v", err)
	}
	e.course = svc
	wl, ok := d.Labs.(*labs.Catalog)
	if !ok {
		t.Fatalf("the labs of the env are a %T; the web needs a *labs.Catalog", d.Labs)
	}
	srv, err := New(Deps{Course: svc, Content: d.Content, Labs: wl, Logger: logger, Now: e.clock.Now, BaseURL: "http://portal.test", SecureCookies: d.SecureCookies,
		Recovery: d.Deps.Recovery})
	if err != nil {
		t.Fatalf("new server: %v", err)
	}
	srv.PollInterval = 5 * time.Millisecond
	e.srv = srv
	return e
}

// noTerminals answers every terminal as the engine being down.
type noTerminals struct{}

func (noTerminals) Terminal(ctx context.Context, userID int64, lab string, size faultline.TermSize) (faultline.Terminal, error) {
	return nil, errEngineDown
}

// noReplayer answers every replay as the grader being down.
type noReplayer struct{}

func (noReplayer) Replay(ctx context.Context, lab *faultline.Lab, files []faultline.File, rp faultline.Repro) (*faultline.Result, error) {
	return nil, faultline.Errorf(faultline.EUNAVAILABLE, "Replays need the grader, which is unavailable right now.")
}

type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

const testPassword = "correct horse battery"

// MustUser creates an account with testPassword.
func (e *env) MustUser(name string, role faultline.Role) *faultline.User {
	e.t.Helper()
	h, err := bcrypt.GenerateFromPassword([]byte(testPassword), bcrypt.MinCost)
	if err != nil {
		e.t.Fatal(err)
	}
	u := &faultline.User{Name: name, Email: strings.ToLower(strings.ReplaceAll(name, " ", ".")) + "@example.com", Role: role, PasswordHash: string(h)}
	if err := e.db.CreateUser(context.Background(), u); err != nil {
		e.t.Fatalf("create user %q: %v", name, err)
	}
	return u
}

// MustCohort creates a cohort taught by instructor with the given learners.
func (e *env) MustCohort(name string, instructor *faultline.User, learners ...*faultline.User) *faultline.Cohort {
	e.t.Helper()
	ctx := context.Background()
	c := &faultline.Cohort{Name: name, InviteCode: course.RandomToken(18), CreatedBy: instructor.ID}
	if err := e.db.CreateCohort(ctx, c); err != nil {
		e.t.Fatalf("create cohort: %v", err)
	}
	for _, l := range learners {
		if err := e.db.AddMember(ctx, c.ID, l.ID, faultline.MemberLearner); err != nil {
			e.t.Fatalf("add member: %v", err)
		}
	}
	return c
}

// MustSubmission creates a queued submission of u for lab.
func (e *env) MustSubmission(u *faultline.User, lab string) *faultline.Submission {
	e.t.Helper()
	s := &faultline.Submission{UserID: u.ID, Lab: lab, Files: []faultline.File{{Path: "main.go", Content: []byte("package x\n")}}}
	if err := e.db.CreateSubmission(context.Background(), s); err != nil {
		e.t.Fatalf("create submission: %v", err)
	}
	return s
}

// MustComplete grades the oldest queued submission with r.
func (e *env) MustComplete(r *faultline.Result) int64 {
	e.t.Helper()
	ctx := context.Background()
	s, err := e.db.ClaimSubmission(ctx, "test-worker", time.Minute)
	if err != nil {
		e.t.Fatalf("claim: %v", err)
	}
	if err := e.db.CompleteSubmission(ctx, s.ID, "test-worker", r); err != nil {
		e.t.Fatalf("complete: %v", err)
	}
	return s.ID
}

// browser is a cookie-keeping client that calls the handler directly.
type browser struct {
	e       *env
	cookies map[string]*http.Cookie
	header  http.Header // extra headers on every request
}

func (e *env) browser() *browser {
	return &browser{e: e, cookies: map[string]*http.Cookie{}, header: http.Header{}}
}

// MustLogin returns a browser signed in as u.
func (e *env) MustLogin(u *faultline.User) *browser {
	e.t.Helper()
	b := e.browser()
	res := b.post("/login", url.Values{"email": {u.Email}, "password": {testPassword}})
	if res.status != http.StatusSeeOther {
		e.t.Fatalf("login %s: status %d\n%s", u.Email, res.status, res.body)
	}
	return b
}

type response struct {
	t      testing.TB
	status int
	header http.Header
	body   string
}

func (r *response) doc() *goquery.Document {
	r.t.Helper()
	d, err := goquery.NewDocumentFromReader(strings.NewReader(r.body))
	if err != nil {
		r.t.Fatalf("parse HTML: %v", err)
	}
	return d
}

// find returns the selection for a data-testid.
func (r *response) testid(id string) *goquery.Selection {
	return r.doc().Find(`[data-testid="` + id + `"]`)
}

func (b *browser) do(req *http.Request) *response {
	b.e.t.Helper()
	for _, c := range b.cookies {
		req.AddCookie(c)
	}
	for k, v := range b.header {
		req.Header[k] = v
	}
	req.RemoteAddr = "192.0.2.1:1234"
	rec := httptest.NewRecorder()
	b.e.srv.ServeHTTP(rec, req)
	res := rec.Result()
	for _, c := range res.Cookies() {
		if c.MaxAge < 0 {
			delete(b.cookies, c.Name)
		} else {
			b.cookies[c.Name] = c
		}
	}
	return &response{t: b.e.t, status: res.StatusCode, header: res.Header, body: rec.Body.String()}
}

func (b *browser) get(path string) *response {
	b.e.t.Helper()
	return b.do(httptest.NewRequest(http.MethodGet, path, nil))
}

func (b *browser) post(path string, form url.Values) *response {
	b.e.t.Helper()
	req := httptest.NewRequest(http.MethodPost, path, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Sec-Fetch-Site", "same-origin")
	return b.do(req)
}

// fakeSandboxes is an in-memory faultline.Sandboxes.
type fakeSandboxes struct {
	mu          sync.Mutex
	unavailable bool
	boxes       map[string]*faultline.Sandbox
	files       map[string]map[string]string
	result      *faultline.Result
	output      string
	runs        int
}

func newFakeSandboxes() *fakeSandboxes {
	return &fakeSandboxes{boxes: map[string]*faultline.Sandbox{}, files: map[string]map[string]string{}}
}

func sbKey(userID int64, lab string) string { return fmt.Sprintf("%d/%s", userID, lab) }

var errEngineDown = faultline.Errorf(faultline.EUNAVAILABLE, "The container engine is not reachable.")

func (f *fakeSandboxes) Start(ctx context.Context, userID int64, lab *faultline.Lab, files []faultline.File, phase func(faultline.SandboxPhase)) (*faultline.Sandbox, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.unavailable {
		return nil, errEngineDown
	}
	k := sbKey(userID, lab.Slug)
	sb := &faultline.Sandbox{ID: int64(len(f.boxes) + 1), UserID: userID, Lab: lab.Slug, State: faultline.SandboxRunning}
	f.boxes[k] = sb
	f.files[k] = map[string]string{}
	for _, file := range files {
		f.files[k][file.Path] = string(file.Content)
	}
	if phase != nil {
		phase(faultline.PhaseReady)
	}
	return sb, nil
}

func (f *fakeSandboxes) Find(ctx context.Context, userID int64, lab string) (*faultline.Sandbox, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.unavailable {
		return nil, errEngineDown
	}
	sb, ok := f.boxes[sbKey(userID, lab)]
	if !ok {
		return nil, faultline.Errorf(faultline.ENOTFOUND, "no sandbox")
	}
	c := *sb
	return &c, nil
}

func (f *fakeSandboxes) WriteFile(ctx context.Context, userID int64, lab string, file faultline.File) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.unavailable {
		return errEngineDown
	}
	k := sbKey(userID, lab)
	if _, ok := f.boxes[k]; !ok {
		return faultline.Errorf(faultline.ENOTFOUND, "no sandbox")
	}
	f.files[k][file.Path] = string(file.Content)
	return nil
}

func (f *fakeSandboxes) RunTests(ctx context.Context, userID int64, lab *faultline.Lab, out io.Writer) (*faultline.Result, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.unavailable {
		return nil, errEngineDown
	}
	f.runs++
	io.WriteString(out, f.output)
	r := *f.result
	return &r, nil
}

func (f *fakeSandboxes) RemoveFile(ctx context.Context, userID int64, lab, path string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.unavailable {
		return errEngineDown
	}
	k := sbKey(userID, lab)
	if _, ok := f.boxes[k]; !ok {
		return faultline.Errorf(faultline.ENOTFOUND, "no sandbox")
	}
	delete(f.files[k], path)
	return nil
}

// StopsAt and MaxLife: the fake has no lifetime cap.
func (f *fakeSandboxes) StopsAt(sb *faultline.Sandbox) time.Time { return time.Time{} }
func (f *fakeSandboxes) MaxLife() time.Duration                  { return 12 * time.Hour }

func (f *fakeSandboxes) Stop(ctx context.Context, userID int64, lab string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	delete(f.boxes, sbKey(userID, lab))
	return nil
}

// sandboxFile returns a file's content in the learner's fake sandbox.
func (f *fakeSandboxes) sandboxFile(userID int64, lab, path string) (string, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	c, ok := f.files[sbKey(userID, lab)][path]
	return c, ok
}
