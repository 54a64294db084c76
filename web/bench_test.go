package web

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/faultline-dev/faultline"
)

// BenchmarkLessonPage measures rendering a lesson page for a signed-in
// learner (session lookup, progress queries, templ render) against serving
// the same bytes as a static file through net/http, alternating in the same
// run, and reports both throughputs and their ratio (lesson/static, the
// goal `make bench` prints):
//
//	go test ./web/ -run '^$' -bench LessonPage
func BenchmarkLessonPage(b *testing.B) {
	e := MustEnv(b)
	u := e.MustUser("Lea Learner", faultline.RoleLearner)
	br := e.MustLogin(u)
	const path = "/lessons/circuit-breakers"
	first := br.get(path)
	if first.status != http.StatusOK {
		b.Fatalf("lesson: %d", first.status)
	}
	page := []byte(first.body)
	req := func() *http.Request {
		r := httptest.NewRequest(http.MethodGet, path, nil)
		for _, c := range br.cookies {
			r.AddCookie(c)
		}
		return r
	}

	static := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.ServeContent(w, r, "lesson.html", e.clock.Now(), bytes.NewReader(page))
	})
	serve := func(h http.Handler) time.Duration {
		t0 := time.Now()
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req())
		if rec.Code != http.StatusOK || rec.Body.Len() == 0 {
			b.Fatalf("status %d, %d bytes", rec.Code, rec.Body.Len())
		}
		return time.Since(t0)
	}
	// The two alternate, so load on a shared machine weighs on both alike.
	var rendered, plain time.Duration
	b.SetBytes(int64(len(page)))
	b.ReportAllocs()
	for b.Loop() {
		rendered += serve(e.srv)
		plain += serve(static)
	}
	b.ReportMetric(float64(b.N)/rendered.Seconds(), "rendered-pages/s")
	b.ReportMetric(float64(b.N)/plain.Seconds(), "static-pages/s")
	// Pages per second rendered over pages per second served static.
	b.ReportMetric(float64(plain)/float64(rendered), "lesson/static")
}
