package sandbox

import (
	"context"
	"errors"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/faultline-dev/faultline"
)

// fakeClock is a settable clock for the gate and the Manager.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *fakeClock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.now }

func (c *fakeClock) Add(d time.Duration) { c.mu.Lock(); defer c.mu.Unlock(); c.now = c.now.Add(d) }

// mustBusy checks err is the busy refusal with the given wait.
func mustBusy(t *testing.T, err error, wantSecs int) {
	t.Helper()
	if faultline.ErrorCode(err) != faultline.ETOOMANY {
		t.Fatalf("err %v, want ETOOMANY", err)
	}
	var busy interface{ RetryAfter() time.Duration }
	if !errors.As(err, &busy) {
		t.Fatalf("err %v has no RetryAfter", err)
	}
	if got := busy.RetryAfter(); got != time.Duration(wantSecs)*time.Second {
		t.Errorf("RetryAfter %s, want %ds", got, wantSecs)
	}
	want := "Many labs are starting right now; retry in " + strconv.Itoa(wantSecs) + " s."
	if msg := faultline.ErrorMessage(err); msg != want {
		t.Errorf("message %q, want %q", msg, want)
	}
}

// TestStartGate: at most max starts hold a place; the next is refused with
// an estimate from the median recent start and the oldest running start;
// failed starts do not feed the estimate; release is idempotent.
func TestStartGate(t *testing.T) {
	clk := &fakeClock{now: time.Date(2030, 1, 1, 9, 0, 0, 0, time.UTC)}
	g := newStartGate(2, clk.Now)

	r1, err := g.acquire()
	if err != nil {
		t.Fatal(err)
	}
	clk.Add(time.Second)
	r2, err := g.acquire()
	if err != nil {
		t.Fatal(err)
	}
	// No start finished yet: the guess (10 s) minus the oldest's 1 s.
	_, err = g.acquire()
	mustBusy(t, err, 9)

	clk.Add(3 * time.Second)
	r1(true) // took 4 s
	r1(true) // a second release changes nothing
	if n := g.inFlight(); n != 1 {
		t.Fatalf("%d in flight after one release, want 1", n)
	}
	r3, err := g.acquire()
	if err != nil {
		t.Fatalf("acquire after a release: %v", err)
	}
	// Typical is now 4 s; the oldest (r2) has run 3 s: 1 s left, but never
	// less than minRetry.
	_, err = g.acquire()
	mustBusy(t, err, 2)

	r2(false) // failed: not a duration sample
	clk.Add(10 * time.Second)
	r3(true) // took 10 s: the median of {4, 10} is 10
	if n := g.inFlight(); n != 0 {
		t.Fatalf("%d in flight, want 0", n)
	}
	a, _ := g.acquire()
	b, err := g.acquire()
	if err != nil {
		t.Fatal(err)
	}
	clk.Add(2500 * time.Millisecond)
	_, err = g.acquire()
	mustBusy(t, err, 8) // 10 s - 2.5 s, rounded up
	a(true)
	b(true)
}

// TestManagerStartCap: with MaxStarts 1, a second learner's cold start while
// the first is still in its create phase is refused with ETOOMANY and a
// retry estimate, and leaves that learner's row as it was (no "failed");
// once the first start is done, the second succeeds.
func TestManagerStartCap(t *testing.T) {
	st := newMemStore()
	m := MustManager(t, st)
	m.starts = newStartGate(1, m.opt.Now)
	ctx := MustContext(t, 3*time.Minute)
	lab := testLab()
	t.Cleanup(func() {
		_ = m.Stop(context.Background(), 7101, lab.Slug)
		_ = m.Stop(context.Background(), 7102, lab.Slug)
	})

	inCreate := make(chan struct{})
	proceed := make(chan struct{})
	first := make(chan error, 1)
	go func() {
		_, err := m.Start(ctx, 7101, lab, learnerFiles, func(p faultline.SandboxPhase) {
			if p == faultline.PhaseCreate {
				close(inCreate)
				<-proceed
			}
		})
		first <- err
	}()
	select {
	case <-inCreate:
	case err := <-first:
		t.Fatalf("first start ended before its create phase: %v", err)
	}

	_, err := m.Start(ctx, 7102, lab, learnerFiles, nil)
	if faultline.ErrorCode(err) != faultline.ETOOMANY {
		close(proceed)
		t.Fatalf("second start while the first runs: %v, want ETOOMANY", err)
	}
	var busy *BusyError
	if !errors.As(err, &busy) || busy.RetryAfter() < time.Second {
		t.Errorf("busy error %v: RetryAfter missing or under a second", err)
	}
	if sb, err := st.FindSandbox(ctx, 7102, lab.Slug); err != nil || sb.State != faultline.SandboxStopped || sb.Error != "" {
		t.Errorf("refused learner's row %+v, %v; want stopped without an error", sb, err)
	}
	MustNoContainers(t, m.match(map[string]string{LabelUser: "7102"}))

	close(proceed)
	if err := <-first; err != nil {
		t.Fatalf("first start: %v", err)
	}
	sb, err := m.Start(ctx, 7102, lab, learnerFiles, nil)
	if err != nil {
		t.Fatalf("second start after the first finished: %v", err)
	}
	if sb.State != faultline.SandboxRunning {
		t.Errorf("second sandbox is %q", sb.State)
	}
	if n := m.starts.inFlight(); n != 0 {
		t.Errorf("%d starts still hold a place", n)
	}
}

// TestManagerStartCapSkipsWarmPool: a warm claim is not a cold start, so it
// goes through even when every start place is taken.
func TestManagerStartCapSkipsWarmPool(t *testing.T) {
	st := newMemStore()
	m := MustManager(t, st)
	m.opt.PoolSize = 1
	m.starts = newStartGate(1, m.opt.Now)
	ctx := MustContext(t, 5*time.Minute)
	poolCtx, stopPool := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- m.RunPool(poolCtx) }()
	t.Cleanup(func() {
		stopPool()
		<-done
		_ = m.Stop(context.Background(), 7111, "tiny-lab")
	})
	waitPool(t, m, 1)

	hold, err := m.starts.acquire() // every place taken
	if err != nil {
		t.Fatal(err)
	}
	defer hold(false)
	sb, err := m.Start(ctx, 7111, testLab(), learnerFiles, nil)
	if err != nil {
		t.Fatalf("warm start with every start place taken: %v", err)
	}
	if sb.State != faultline.SandboxRunning {
		t.Errorf("state %q", sb.State)
	}
}

// TestManagerReapLifetime: a sandbox is stopped at MaxLife after it started
// running even though it was active a moment ago, and not before;
// StopsAt says when.
func TestManagerReapLifetime(t *testing.T) {
	st := newMemStore()
	MustLabImage(t)
	clk := &fakeClock{now: time.Date(2030, 1, 1, 12, 0, 0, 0, time.UTC)}
	m := NewManager(testEngine, st, ManagerOptions{Warm: testWarm, Scope: "test-" + testRun, Now: clk.Now, MaxLife: time.Hour})
	t.Cleanup(func() { _ = m.Stop(context.Background(), 7120, "tiny-lab") })
	ctx := MustContext(t, 2*time.Minute)
	sb, err := m.Start(ctx, 7120, testLab(), learnerFiles, nil)
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	if got, want := m.StopsAt(sb), clk.Now().Add(time.Hour); !got.Equal(want) {
		t.Errorf("StopsAt %s, want %s", got, want)
	}
	active := func() { // activity now, as the editor or terminal would record
		row, err := st.FindSandbox(ctx, 7120, "tiny-lab")
		if err != nil {
			t.Fatal(err)
		}
		row.LastActiveAt = clk.Now()
		st.mu.Lock()
		st.rows[storeKey(7120, "tiny-lab")] = row
		st.mu.Unlock()
	}

	clk.Add(59 * time.Minute)
	active()
	if n, err := m.Reap(ctx, 24*time.Hour); err != nil || n != 0 {
		t.Fatalf("Reap before the cap: %d, %v; want 0", n, err)
	}
	clk.Add(time.Minute)
	active()
	if n, err := m.Reap(ctx, 24*time.Hour); err != nil || n != 1 {
		t.Fatalf("Reap at the cap: %d, %v; want 1", n, err)
	}
	if ok, err := testEngine.containerRunning(ctx, sb.ContainerID); err != nil || ok {
		t.Errorf("container past the cap still there: %v %v", ok, err)
	}
	got, err := m.Find(ctx, 7120, "tiny-lab")
	if err != nil || got.State != faultline.SandboxStopped {
		t.Errorf("sandbox past the cap: %+v %v, want stopped", got, err)
	}
	if !m.StopsAt(got).IsZero() {
		t.Errorf("StopsAt of a stopped sandbox %s, want zero", m.StopsAt(got))
	}
}
