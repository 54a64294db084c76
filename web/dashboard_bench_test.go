package web

import (
	"bufio"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/faultline-dev/faultline"
	"github.com/faultline-dev/faultline/store"
)

// BenchmarkCohortDashboard renders the cohort page (progress heat map) of a
// cohort of 200 learners × every lab with 20 graded submissions each, seeded
// into a real SQLite file, through the real handler; in the same loop it
// renders a lesson page as the baseline, and reports both and their ratio
// (dashboard/lesson, the goal `make bench` prints); each iteration asks for
// both pages again accepting gzip, as browsers do, and reports that ratio
// as gzip-dashboard/lesson (both pages answer gzip from parts kept
// deflated, so much less is written). Nothing is written
// between the views, so after the first the dashboard comes from its cache
// (dashboard_cache.go). After the loop, a fifth as many views each follow a
// write that the dashboard shows (a score adjustment of one learner), so
// that its version moves and the page is read and rendered again: reported
// as after-write-ns/op and after-write/lesson (the same lesson baseline).
//
// Both pages are written to a sinkWriter, which passes the body through a
// 4 KB bufio.Writer to io.Discard as net/http passes it to its connection,
// not to an httptest.ResponseRecorder: the recorder keeps the whole body in
// a bytes.Buffer that grows by doubling, and for the 1 MB dashboard that
// copying and zeroing is most of what a view would otherwise measure.
//
//	go test ./web/ -run '^$' -bench CohortDashboard -benchtime 50x
func BenchmarkCohortDashboard(b *testing.B) {
	e := MustEnv(b)
	var slugs []string
	for _, l := range e.srv.d.Labs.All() {
		slugs = append(slugs, l.Slug)
	}
	var lessons []string
	for _, l := range e.srv.d.Content.Lessons() {
		lessons = append(lessons, l.Slug)
	}
	start := time.Now()
	c, err := store.SeedCohortForBench(context.Background(), e.db, store.BenchSeed{
		Learners: 200, Labs: slugs, SubsPerLab: 20, Lessons: lessons, Seed: 1})
	if err != nil {
		b.Fatal(err)
	}
	b.Logf("seeded 200 learners × %d labs × 20 submissions in %v", len(slugs), time.Since(start))
	br := e.MustLogin(e.MustUser("Ada Admin", faultline.RoleAdmin))
	dashboard := cohortURL(c.ID) + "?sort=total&dir=desc"
	const lesson = "/lessons/circuit-breakers"

	gzipped := false // the next requests accept gzip, as browsers do
	serve := func(path string) (time.Duration, int) {
		req := httptest.NewRequest(http.MethodGet, path, nil)
		for _, ck := range br.cookies {
			req.AddCookie(ck)
		}
		if gzipped {
			req.Header.Set("Accept-Encoding", "gzip")
		}
		sink := newSinkWriter()
		t0 := time.Now()
		e.srv.ServeHTTP(sink, req)
		d := time.Since(t0)
		if sink.code != http.StatusOK {
			b.Fatalf("GET %s: %d", path, sink.code)
		}
		return d, sink.n
	}
	if _, n := serve(dashboard); n < 200*len(slugs)*20 {
		b.Fatalf("dashboard is only %d bytes", n)
	}
	var dash, base, gzDash, gzBase time.Duration
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		d, _ := serve(dashboard)
		l, _ := serve(lesson)
		dash += d
		base += l
		gzipped = true
		d, _ = serve(dashboard)
		l, _ = serve(lesson)
		gzDash += d
		gzBase += l
		gzipped = false
	}
	n := float64(b.N)
	b.ReportMetric(float64(dash.Nanoseconds())/n, "dashboard-ns/op")
	b.ReportMetric(float64(base.Nanoseconds())/n, "lesson-ns/op")
	b.ReportMetric(float64(dash)/float64(base), "dashboard/lesson")
	b.ReportMetric(float64(gzDash)/float64(gzBase), "gzip-dashboard/lesson")

	members, err := e.db.ListMembers(context.Background(), c.ID)
	if err != nil {
		b.Fatal(err)
	}
	var after, afterBase time.Duration
	writes := max(b.N/5, 10)
	for i := range writes {
		m := members[i%len(members)]
		if err := e.db.AddAdjustment(context.Background(), &faultline.Adjustment{UserID: m.User.ID, Lab: slugs[i%len(slugs)],
			Points: 1 - 2*(i%2), Reason: "bench", CreatedBy: m.User.ID}); err != nil {
			b.Fatal(err)
		}
		d, _ := serve(dashboard)
		l, _ := serve(lesson)
		after += d
		afterBase += l
	}
	b.ReportMetric(float64(after.Nanoseconds())/float64(writes), "after-write-ns/op")
	b.ReportMetric(float64(after)/float64(afterBase), "after-write/lesson")
}

// sinkWriter is an http.ResponseWriter that writes the body as net/http's
// connection does, through a 4 KB bufio.Writer, here to io.Discard; it keeps
// the status and counts the bytes.
type sinkWriter struct {
	h    http.Header
	bw   *bufio.Writer
	code int
	n    int
}

func newSinkWriter() *sinkWriter {
	return &sinkWriter{h: http.Header{}, bw: bufio.NewWriterSize(io.Discard, 4<<10)}
}

func (s *sinkWriter) Header() http.Header { return s.h }

func (s *sinkWriter) WriteHeader(code int) {
	if s.code == 0 {
		s.code = code
	}
}

func (s *sinkWriter) Write(p []byte) (int, error) {
	if s.code == 0 {
		s.code = http.StatusOK
	}
	s.n += len(p)
	return s.bw.Write(p)
}

func (s *sinkWriter) Flush() { _ = s.bw.Flush() }
