package grader_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/faultline-dev/faultline"
	"github.com/faultline-dev/faultline/grader"
)

// memSubs is an in-memory SubmissionService with the queue semantics the
// store promises (claim oldest, leases, exactly one result).
type memSubs struct {
	mu   sync.Mutex
	subs []*faultline.Submission
	now  func() time.Time
}

func newMemSubs() *memSubs { return &memSubs{now: time.Now} }

func (m *memSubs) add(lab string, files ...faultline.File) int64 {
	m.mu.Lock()
	defer m.mu.Unlock()
	id := int64(len(m.subs) + 1)
	m.subs = append(m.subs, &faultline.Submission{ID: id, Lab: lab, State: faultline.SubmissionQueued, Files: files})
	return id
}

func (m *memSubs) get(id int64) faultline.Submission {
	m.mu.Lock()
	defer m.mu.Unlock()
	return *m.subs[id-1]
}

func (m *memSubs) CreateSubmission(ctx context.Context, s *faultline.Submission) error {
	panic("not used")
}
func (m *memSubs) FindSubmission(ctx context.Context, id int64) (*faultline.Submission, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if id < 1 || int(id) > len(m.subs) {
		return nil, faultline.Errorf(faultline.ENOTFOUND, "no submission")
	}
	s := *m.subs[id-1]
	return &s, nil
}
func (m *memSubs) ListSubmissions(ctx context.Context, f faultline.SubmissionFilter) ([]*faultline.Submission, error) {
	panic("not used")
}
func (m *memSubs) ClaimSubmission(ctx context.Context, worker string, lease time.Duration) (*faultline.Submission, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, s := range m.subs {
		if s.State == faultline.SubmissionQueued {
			s.State = faultline.SubmissionRunning
			s.LeaseOwner = worker
			s.LeaseExpires = m.now().Add(lease)
			s.Attempts++
			c := *s
			c.Files = nil // like the store: claim does not load files
			return &c, nil
		}
	}
	return nil, faultline.Errorf(faultline.ENOTFOUND, "queue empty")
}
func (m *memSubs) held(id int64, worker string) (*faultline.Submission, error) {
	s := m.subs[id-1]
	if s.State != faultline.SubmissionRunning || s.LeaseOwner != worker || m.now().After(s.LeaseExpires) {
		return nil, faultline.Errorf(faultline.ECONFLICT, "not held")
	}
	return s, nil
}
func (m *memSubs) ExtendLease(ctx context.Context, id int64, worker string, lease time.Duration) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	s, err := m.held(id, worker)
	if err != nil {
		return err
	}
	s.LeaseExpires = m.now().Add(lease)
	return nil
}
func (m *memSubs) CompleteSubmission(ctx context.Context, id int64, worker string, r *faultline.Result) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	s, err := m.held(id, worker)
	if err != nil {
		return err
	}
	s.State = faultline.SubmissionDone
	if r.Status == faultline.StatusError {
		s.State = faultline.SubmissionFailed
	}
	s.Result = r
	s.LeaseOwner = ""
	return nil
}
func (m *memSubs) ReleaseSubmission(ctx context.Context, id int64, worker string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	s, err := m.held(id, worker)
	if err != nil {
		return err
	}
	s.State = faultline.SubmissionQueued
	s.LeaseOwner = ""
	return nil
}
func (m *memSubs) RequeueExpired(ctx context.Context) (int, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	n := 0
	for _, s := range m.subs {
		if s.State == faultline.SubmissionRunning && m.now().After(s.LeaseExpires) {
			s.State = faultline.SubmissionQueued
			s.LeaseOwner = ""
			n++
		}
	}
	return n, nil
}

// gradeFunc adapts a function to faultline.Grader.
type gradeFunc func(ctx context.Context, lab *faultline.Lab, files []faultline.File) (*faultline.Result, error)

func (f gradeFunc) Grade(ctx context.Context, lab *faultline.Lab, files []faultline.File) (*faultline.Result, error) {
	return f(ctx, lab, files)
}

func findLab(slug string) (*faultline.Lab, error) {
	if slug != "adder" {
		return nil, faultline.Errorf(faultline.ENOTFOUND, "no lab %q", slug)
	}
	return adderLab(), nil
}

// startWorker runs w in the background; the returned stop cancels it and
// waits for Run to return.
func startWorker(t *testing.T, w *grader.Worker) (stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- w.Run(ctx) }()
	return func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("Run: %v", err)
			}
		case <-time.After(30 * time.Second): // hang guard only
			t.Fatal("Run did not return after cancel")
		}
	}
}

// waitFor polls cond until it holds; the deadline is only a hang guard.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func fastOptions() grader.WorkerOptions {
	return grader.WorkerOptions{ID: "w", Concurrency: 2, Poll: 10 * time.Millisecond, Lease: time.Minute, Drain: time.Minute}
}

func TestWorkerGradesQueue(t *testing.T) {
	subs := newMemSubs()
	a := subs.add("adder", faultline.File{Path: "a.go", Content: []byte("a")})
	b := subs.add("adder", faultline.File{Path: "a.go"}, faultline.File{Path: "b.go"})
	gone := subs.add("removed-lab")
	g := gradeFunc(func(ctx context.Context, lab *faultline.Lab, files []faultline.File) (*faultline.Result, error) {
		return &faultline.Result{Lab: lab.Slug, Status: faultline.StatusGraded, Score: len(files), MaxScore: lab.MaxScore()}, nil
	})
	w := grader.NewWorker(subs, findLab, g, fastOptions())
	stop := startWorker(t, w)
	w.Kick()
	waitFor(t, "all submissions finished", func() bool {
		return subs.get(a).State == faultline.SubmissionDone && subs.get(b).State == faultline.SubmissionDone &&
			subs.get(gone).State == faultline.SubmissionFailed
	})
	stop()
	// Files are loaded with FindSubmission (the claim returns none).
	if r := subs.get(a).Result; r.Score != 1 || r.MaxScore != 8 {
		t.Errorf("a: result %+v, want score 1/8", r)
	}
	if r := subs.get(b).Result; r.Score != 2 {
		t.Errorf("b: result %+v, want score 2", r)
	}
	if r := subs.get(gone).Result; r.Status != faultline.StatusError || r.Message == "" {
		t.Errorf("unknown lab: result %+v, want StatusError with a message", r)
	}
	if n := subs.get(a).Attempts; n != 1 {
		t.Errorf("attempts = %d, want 1", n)
	}
}

func TestWorkerRetriesGradingErrors(t *testing.T) {
	subs := newMemSubs()
	id := subs.add("adder")
	var mu sync.Mutex
	calls := 0
	g := gradeFunc(func(ctx context.Context, lab *faultline.Lab, files []faultline.File) (*faultline.Result, error) {
		mu.Lock()
		defer mu.Unlock()
		calls++
		if calls < 3 {
			return nil, faultline.Errorf(faultline.EUNAVAILABLE, "engine down")
		}
		return &faultline.Result{Status: faultline.StatusGraded, Score: 8, MaxScore: 8}, nil
	})
	w := grader.NewWorker(subs, findLab, g, fastOptions())
	stop := startWorker(t, w)
	waitFor(t, "done", func() bool { return subs.get(id).State == faultline.SubmissionDone })
	stop()
	s := subs.get(id)
	if s.Attempts != 3 || s.Result.Score != 8 {
		t.Errorf("attempts %d, result %+v; want 3 attempts and the third attempt's result", s.Attempts, s.Result)
	}
}

func TestWorkerGivesUpAfterMaxAttempts(t *testing.T) {
	subs := newMemSubs()
	id := subs.add("adder")
	g := gradeFunc(func(ctx context.Context, lab *faultline.Lab, files []faultline.File) (*faultline.Result, error) {
		return nil, faultline.Errorf(faultline.EUNAVAILABLE, "engine down")
	})
	opt := fastOptions()
	opt.MaxAttempts = 3
	ready := 0
	var mu sync.Mutex
	opt.Ready = func(ctx context.Context) error { // consulted after failures; healthy here
		mu.Lock()
		ready++
		mu.Unlock()
		return nil
	}
	w := grader.NewWorker(subs, findLab, g, opt)
	stop := startWorker(t, w)
	waitFor(t, "failed", func() bool { return subs.get(id).State == faultline.SubmissionFailed })
	stop()
	s := subs.get(id)
	if s.Attempts != 3 || s.Result == nil || s.Result.Status != faultline.StatusError || s.Result.Message == "" {
		t.Errorf("submission %+v result %+v; want failed after 3 attempts with a message", s, s.Result)
	}
	mu.Lock()
	defer mu.Unlock()
	if ready == 0 {
		t.Error("Ready was never consulted after a grading error")
	}
}

func TestWorkerWaitsWhileNotReady(t *testing.T) {
	subs := newMemSubs()
	id := subs.add("adder")
	var mu sync.Mutex
	healthy := false
	calls := 0
	g := gradeFunc(func(ctx context.Context, lab *faultline.Lab, files []faultline.File) (*faultline.Result, error) {
		mu.Lock()
		defer mu.Unlock()
		calls++
		if calls == 1 {
			return nil, faultline.Errorf(faultline.EUNAVAILABLE, "engine down")
		}
		return &faultline.Result{Status: faultline.StatusGraded}, nil
	})
	opt := fastOptions()
	opt.Concurrency = 1
	opt.MaxAttempts = 2
	checks := 0
	opt.Ready = func(ctx context.Context) error {
		mu.Lock()
		defer mu.Unlock()
		checks++
		if !healthy {
			return faultline.Errorf(faultline.EUNAVAILABLE, "still down")
		}
		return nil
	}
	w := grader.NewWorker(subs, findLab, g, opt)
	stop := startWorker(t, w)
	waitFor(t, "several readiness checks", func() bool { mu.Lock(); defer mu.Unlock(); return checks >= 5 })
	if s := subs.get(id); s.Attempts != 1 || s.State != faultline.SubmissionQueued {
		t.Errorf("while not ready: %d attempts, state %q; want 1 and queued (no attempts burned)", s.Attempts, s.State)
	}
	mu.Lock()
	healthy = true
	mu.Unlock()
	waitFor(t, "done", func() bool { return subs.get(id).State == faultline.SubmissionDone })
	stop()
}

func TestWorkerDrainReleasesUnfinished(t *testing.T) {
	subs := newMemSubs()
	id := subs.add("adder")
	started := make(chan struct{})
	sawCancel := make(chan struct{})
	g := gradeFunc(func(ctx context.Context, lab *faultline.Lab, files []faultline.File) (*faultline.Result, error) {
		close(started)
		<-ctx.Done() // a grade that will not finish by itself
		close(sawCancel)
		return nil, ctx.Err()
	})
	opt := fastOptions()
	opt.Drain = 20 * time.Millisecond
	w := grader.NewWorker(subs, findLab, g, opt)
	stop := startWorker(t, w)
	<-started
	stop() // returns only after the drain ended and the job was released
	select {
	case <-sawCancel:
	default:
		t.Error("the grade's context was not cancelled after the drain period")
	}
	if s := subs.get(id); s.State != faultline.SubmissionQueued || s.Result != nil {
		t.Errorf("state %q result %+v; want queued again without a result", s.State, s.Result)
	}
}

func TestWorkerDrainLetsRunningJobFinish(t *testing.T) {
	subs := newMemSubs()
	id := subs.add("adder")
	other := subs.add("adder")
	started := make(chan struct{})
	finish := make(chan struct{})
	g := gradeFunc(func(ctx context.Context, lab *faultline.Lab, files []faultline.File) (*faultline.Result, error) {
		select {
		case <-started:
		default:
			close(started)
		}
		<-finish
		return &faultline.Result{Status: faultline.StatusGraded, Score: 1}, nil
	})
	opt := fastOptions()
	opt.Concurrency = 1
	w := grader.NewWorker(subs, findLab, g, opt)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- w.Run(ctx) }()
	<-started
	cancel()
	select {
	case <-done:
		t.Fatal("Run returned while a job was still within its drain period")
	case <-time.After(50 * time.Millisecond):
	}
	close(finish)
	if err := <-done; err != nil {
		t.Fatalf("Run: %v", err)
	}
	if s := subs.get(id); s.State != faultline.SubmissionDone || s.Result.Score != 1 {
		t.Errorf("state %q result %+v; want done with the result", s.State, s.Result)
	}
	if s := subs.get(other); s.State != faultline.SubmissionQueued || s.Attempts != 0 {
		t.Errorf("second submission: state %q attempts %d; want untouched after shutdown", s.State, s.Attempts)
	}
}
