package metrics_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-chi/chi/v5"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/faultline-dev/faultline"
	"github.com/faultline-dev/faultline/metrics"
	"github.com/faultline-dev/faultline/store"
)

type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// MustScrape fetches url over HTTP with the token and parses the answer
// with the Prometheus text parser.
func MustScrape(tb testing.TB, url, token string) map[string]*dto.MetricFamily {
	tb.Helper()
	req, _ := http.NewRequest("GET", url, nil)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		tb.Fatal(err)
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK {
		tb.Fatalf("scrape: %d", res.StatusCode)
	}
	if ct := res.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/plain") {
		tb.Fatalf("scrape content type %q", ct)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(res.Body)
	if err != nil {
		tb.Fatalf("the metrics do not parse: %v", err)
	}
	return fams
}

// value returns the value of the metric with these labels.
func value(tb testing.TB, fams map[string]*dto.MetricFamily, name string, labels ...string) float64 {
	tb.Helper()
	f, ok := fams[name]
	if !ok {
		tb.Fatalf("no metric %s", name)
	}
next:
	for _, m := range f.Metric {
		for i := 0; i+1 < len(labels); i += 2 {
			found := false
			for _, l := range m.Label {
				if l.GetName() == labels[i] && l.GetValue() == labels[i+1] {
					found = true
				}
			}
			if !found {
				continue next
			}
		}
		switch {
		case m.Gauge != nil:
			return m.Gauge.GetValue()
		case m.Counter != nil:
			return m.Counter.GetValue()
		case m.Histogram != nil:
			return float64(m.Histogram.GetSampleCount())
		}
	}
	tb.Fatalf("no %s with labels %v", name, labels)
	return 0
}

type engine struct{ err error }

func (e engine) Ping(context.Context) error      { return e.err }
func (e engine) EngineErrors() map[string]uint64 { return map[string]uint64{"create": 2, "exec": 1} }
func (e engine) PoolReady() int                  { return 3 }

// TestMetricsFromTheStore: queue depth and wait, grade times by lab and
// verdict (only grades stored after the start), sandboxes by state, the
// warm pool, the engine and the outbox, read from a real store and served
// over HTTP in the Prometheus text format, which the Prometheus parser reads.
func TestMetricsFromTheStore(t *testing.T) {
	ctx := context.Background()
	clk := &clock{t: time.Date(2026, 5, 1, 10, 0, 0, 0, time.UTC)}
	db, err := store.Open(filepath.Join(t.TempDir(), "f.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	db.Now = clk.Now
	u := &faultline.User{Email: "l@example.com", Name: "L", Role: faultline.RoleLearner, PasswordHash: "x"}
	if err := db.CreateUser(ctx, u); err != nil {
		t.Fatal(err)
	}
	submit := func(lab string) *faultline.Submission {
		s := &faultline.Submission{UserID: u.ID, Lab: lab, Files: []faultline.File{{Path: "a.go", Content: []byte("package a\n")}}}
		if err := db.CreateSubmission(ctx, s); err != nil {
			t.Fatal(err)
		}
		return s
	}
	grade := func(status faultline.ResultStatus, d time.Duration) {
		s, err := db.ClaimSubmission(ctx, "w", time.Minute)
		if err != nil {
			t.Fatal(err)
		}
		if err := db.CompleteSubmission(ctx, s.ID, "w", &faultline.Result{Lab: s.Lab, Status: status, Score: 1, MaxScore: 2, Duration: d}); err != nil {
			t.Fatal(err)
		}
	}
	// A grade from before the process started is not counted.
	submit("saga")
	grade(faultline.StatusGraded, time.Second)

	eng := engine{}
	m := metrics.New(metrics.Sources{Queue: db, Sandboxes: db, Pool: eng, Grades: db, Engine: eng, Mail: db}, clk.Now, nil)
	if err := m.Start(ctx); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(metrics.Guard(m.Handler(), "scrape-token"))
	defer srv.Close()

	submit("circuit-breaker")
	clk.Add(4 * time.Second) // waited 4 s in the queue
	grade(faultline.StatusGraded, 2500*time.Millisecond)
	submit("circuit-breaker")
	grade(faultline.StatusTimeLimit, 30*time.Second)
	submit("saga")
	clk.Add(90 * time.Second)
	for _, sb := range []faultline.Sandbox{{UserID: u.ID, Lab: "a", State: faultline.SandboxRunning}, {UserID: u.ID, Lab: "b", State: faultline.SandboxRunning}, {UserID: u.ID, Lab: "c", State: faultline.SandboxStopped}} {
		sb := sb
		if err := db.UpsertSandbox(ctx, &sb); err != nil {
			t.Fatal(err)
		}
	}
	if err := db.EnqueueMail(ctx, &faultline.MailMessage{Kind: "k", To: "a@example.com", Subject: "s", Text: "t"}); err != nil {
		t.Fatal(err)
	}
	clk.Add(30 * time.Second)

	fams := MustScrape(t, srv.URL, "scrape-token")
	checks := []struct {
		name   string
		labels []string
		want   float64
	}{
		{"faultline_grading_queue_depth", []string{"kind", "learner"}, 1},
		{"faultline_grading_queue_depth", []string{"kind", "regrade"}, 0},
		{"faultline_grading_running", nil, 0},
		{"faultline_grading_queue_oldest_wait_seconds", nil, 120},
		{"faultline_grade_duration_seconds", []string{"lab", "circuit-breaker", "status", "graded"}, 1},
		{"faultline_grade_duration_seconds", []string{"lab", "circuit-breaker", "status", "time_limit"}, 1},
		{"faultline_grading_queue_wait_seconds", nil, 2},
		{"faultline_sandboxes", []string{"state", "running"}, 2},
		{"faultline_sandboxes", []string{"state", "stopped"}, 1},
		{"faultline_sandboxes", []string{"state", "failed"}, 0},
		{"faultline_sandbox_warm_pool_ready", nil, 3},
		{"faultline_engine_up", nil, 1},
		{"faultline_engine_errors_total", []string{"op", "create"}, 2},
		{"faultline_mail_pending", nil, 1},
		{"faultline_mail_oldest_pending_seconds", nil, 30},
	}
	for _, c := range checks {
		if got := value(t, fams, c.name, c.labels...); got != c.want {
			t.Errorf("%s%v = %v, want %v", c.name, c.labels, got, c.want)
		}
	}
	for _, m := range fams["faultline_grade_duration_seconds"].Metric {
		for _, l := range m.Label {
			if l.GetValue() == "saga" {
				t.Error("a grade stored before the start is counted")
			}
		}
	}
	// The histogram puts the 2.5 s grade in the 3 s bucket, not the 2 s one.
	h := fams["faultline_grade_duration_seconds"]
	for _, m := range h.Metric {
		if m.Label[1].GetValue() != "graded" {
			continue
		}
		for _, b := range m.Histogram.Bucket {
			if want := map[float64]uint64{2: 0, 3: 1}[b.GetUpperBound()]; (b.GetUpperBound() == 2 || b.GetUpperBound() == 3) && b.GetCumulativeCount() != want {
				t.Errorf("bucket le=%v holds %d, want %d", b.GetUpperBound(), b.GetCumulativeCount(), want)
			}
		}
	}
	// A second scrape counts the same grades once.
	fams = MustScrape(t, srv.URL, "scrape-token")
	if got := value(t, fams, "faultline_grade_duration_seconds", "lab", "circuit-breaker", "status", "graded"); got != 1 {
		t.Errorf("second scrape: %v graded circuit-breaker grades, want 1", got)
	}

	// The engine down reads 0, and the scrape still works.
	down := metrics.New(metrics.Sources{Engine: engine{err: errors.New("no socket")}}, clk.Now, nil)
	srv2 := httptest.NewServer(metrics.Guard(down.Handler(), "t"))
	defer srv2.Close()
	if got := value(t, MustScrape(t, srv2.URL, "t"), "faultline_engine_up"); got != 0 {
		t.Errorf("engine_up with the engine down = %v", got)
	}
}

// TestInstrumentLabelsByRoutePattern: the latency histogram is labelled by
// the chi pattern, method and status, unmatched paths fold into one label,
// and a streaming handler can still flush through the wrapper.
func TestInstrumentLabelsByRoutePattern(t *testing.T) {
	m := metrics.New(metrics.Sources{}, nil, nil)
	r := chi.NewRouter()
	r.Get("/labs/{slug}", func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("lab")) })
	r.Post("/labs/{slug}/submissions", func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusSeeOther) })
	r.Get("/events", func(w http.ResponseWriter, r *http.Request) {
		if err := http.NewResponseController(w).Flush(); err != nil {
			t.Errorf("flush through the instrumentation: %v", err)
		}
	})
	r.Route("/api/v1", func(r chi.Router) {
		r.Get("/cohorts/{id}", func(w http.ResponseWriter, r *http.Request) {})
	})
	app := httptest.NewServer(m.Instrument(r))
	defer app.Close()
	for _, p := range []string{"/labs/saga", "/labs/quorum-kv", "/events", "/api/v1/cohorts/7", "/no/such/page", "/another/missing"} {
		res, err := http.Get(app.URL + p)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
	}
	res, err := http.Post(app.URL+"/labs/saga/submissions", "text/plain", nil)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	scrape := httptest.NewServer(metrics.Guard(m.Handler(), ""))
	defer scrape.Close()
	fams := MustScrape(t, scrape.URL, "") // from loopback without a proxy: allowed
	name := "faultline_http_request_duration_seconds"
	for _, c := range []struct {
		labels []string
		want   float64
	}{
		{[]string{"route", "/labs/{slug}", "method", "GET", "code", "200"}, 2},
		{[]string{"route", "/labs/{slug}/submissions", "method", "POST", "code", "303"}, 1},
		{[]string{"route", "/api/v1/cohorts/{id}", "method", "GET", "code", "200"}, 1},
		{[]string{"route", "unmatched", "method", "GET", "code", "404"}, 2},
	} {
		if got := value(t, fams, name, c.labels...); got != c.want {
			t.Errorf("%v: %v requests, want %v", c.labels, got, c.want)
		}
	}
	for _, m := range fams[name].Metric {
		for _, l := range m.Label {
			if strings.Contains(l.GetValue(), "saga") || strings.Contains(l.GetValue(), "/7") {
				t.Errorf("a label carries a path's value: %s=%s", l.GetName(), l.GetValue())
			}
		}
	}
}

// TestGuard: with a token only the bearer gets in; without one only an
// unproxied loopback client does.
func TestGuard(t *testing.T) {
	ok := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {})
	cases := []struct {
		token, auth, remote, fwd string
		want                     int
	}{
		{"tok", "Bearer tok", "192.0.2.1:5", "", 200},
		{"tok", "Bearer nope", "127.0.0.1:5", "", 404},
		{"tok", "", "127.0.0.1:5", "", 404},
		{"", "", "127.0.0.1:5", "", 200},
		{"", "", "[::1]:5", "", 200},
		{"", "", "127.0.0.1:5", "203.0.113.9", 404},
		{"", "", "192.0.2.1:5", "", 404},
	}
	for _, c := range cases {
		req := httptest.NewRequest("GET", "/metrics", nil)
		req.RemoteAddr = c.remote
		if c.auth != "" {
			req.Header.Set("Authorization", c.auth)
		}
		if c.fwd != "" {
			req.Header.Set("X-Forwarded-For", c.fwd)
		}
		rec := httptest.NewRecorder()
		metrics.Guard(ok, c.token).ServeHTTP(rec, req)
		if rec.Code != c.want {
			t.Errorf("%+v: %d, want %d", c, rec.Code, c.want)
		}
	}
}
