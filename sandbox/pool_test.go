package sandbox

import (
	"bytes"
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/faultline-dev/faultline"
)

// waitPool waits until m has n warm containers ready.
func waitPool(t *testing.T, m *Manager, n int) {
	t.Helper()
	deadline := time.Now().Add(3 * time.Minute) // hang guard only
	for m.PoolReady() != n {
		if time.Now().After(deadline) {
			t.Fatalf("the warm pool has %d containers, want %d", m.PoolReady(), n)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// poolIDs returns the IDs of m's warm containers, oldest first.
func poolIDs(m *Manager) []string {
	m.poolMu.Lock()
	defer m.poolMu.Unlock()
	var ids []string
	for _, s := range m.pool {
		ids = append(ids, s.id)
	}
	return ids
}

// TestWarmPool: "Start lab" claims a warm container (no image, create or
// start phase), the learner's files are in it, tests run, the pool refills,
// Stop removes the claimed container, and after a portal restart Reconcile
// keeps the claimed sandbox and the new pool replaces the old warm ones.
func TestWarmPool(t *testing.T) {
	MustLabImage(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	st := newMemStore()
	m := MustManager(t, st)
	m.opt.PoolSize = 2
	poolCtx, stopPool := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- m.RunPool(poolCtx) }()
	waitPool(t, m, 2)
	warm := poolIDs(m)

	lab := testLab()
	var phases []faultline.SandboxPhase
	sb, err := m.Start(ctx, 41, lab, learnerFiles, func(p faultline.SandboxPhase) { phases = append(phases, p) })
	if err != nil {
		t.Fatalf("start: %v", err)
	}
	if !slices.Contains(warm, sb.ContainerID) {
		t.Fatalf("sandbox %s is not one of the warm containers %v", short(sb.ContainerID), warm)
	}
	if slices.Contains(phases, faultline.PhaseCreate) || slices.Contains(phases, faultline.PhaseImage) || !slices.Contains(phases, faultline.PhaseReady) {
		t.Errorf("phases of a warm start: %v", phases)
	}
	var out bytes.Buffer
	if code, err := testEngine.exec(ctx, sb.ContainerID, []string{"cat", "/work/tiny.go"}, "", &out); err != nil || code != 0 || !strings.Contains(out.String(), "func Add") {
		t.Fatalf("files in the claimed container: code %d, %v, %q", code, err, out.String())
	}
	res, err := m.RunTests(ctx, 41, lab, nil)
	if err != nil || res.Score != 2 {
		t.Fatalf("run tests in a warm sandbox: %v, %+v", err, res)
	}
	waitPool(t, m, 2) // refilled in the background

	// A second start of the same sandbox returns it; another learner gets
	// another warm container.
	if again, err := m.Start(ctx, 41, lab, learnerFiles, nil); err != nil || again.ContainerID != sb.ContainerID {
		t.Fatalf("restart of a running sandbox: %v, %s vs %s", err, again.ContainerID, sb.ContainerID)
	}
	other, err := m.Start(ctx, 42, lab, learnerFiles, nil)
	if err != nil || other.ContainerID == sb.ContainerID {
		t.Fatalf("second learner: %v", err)
	}
	if err := m.Stop(ctx, 42, lab.Slug); err != nil {
		t.Fatal(err)
	}
	if ok, _ := testEngine.containerRunning(ctx, other.ContainerID); ok {
		t.Errorf("Stop left the claimed container running")
	}

	// The portal goes away without draining; a new Manager on the same
	// store reconciles: learner 41's sandbox is kept, stale warm ones go.
	stopPool()
	<-done
	waitPool(t, m, 0)
	m.poolMu.Lock()
	m.pool = nil
	m.poolMu.Unlock()
	staleWarm, err := m.createWarm(ctx) // as if left by the earlier run
	if err != nil {
		t.Fatal(err)
	}
	stale := staleWarm.id
	m2 := MustManager(t, st)
	m2.opt.PoolSize = 1
	if _, _, err := m2.Reconcile(ctx); err != nil {
		t.Fatal(err)
	}
	pool2, stop2 := context.WithCancel(ctx)
	defer stop2()
	go func() { _ = m2.RunPool(pool2) }()
	waitPool(t, m2, 1)
	if ok, _ := testEngine.containerRunning(ctx, stale); ok {
		t.Errorf("a stale warm container survived the restart")
	}
	if ok, _ := testEngine.containerRunning(ctx, sb.ContainerID); !ok {
		t.Errorf("the claimed sandbox did not survive the restart")
	}
	if got, err := m2.Find(ctx, 41, lab.Slug); err != nil || got.State != faultline.SandboxRunning || got.ContainerID != sb.ContainerID {
		t.Errorf("after restart the store has %+v, %v", got, err)
	}
}

// TestWarmPoolSkipsOddLimits: a lab with its own process limit starts cold.
func TestWarmPoolSkipsOddLimits(t *testing.T) {
	MustLabImage(t)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	m := MustManager(t, newMemStore())
	m.opt.PoolSize = 1
	pctx, stop := context.WithCancel(ctx)
	defer stop()
	go func() { _ = m.RunPool(pctx) }()
	waitPool(t, m, 1)
	lab := testLab()
	lab.Limits.Pids = 77
	var phases []faultline.SandboxPhase
	if _, err := m.Start(ctx, 43, lab, learnerFiles, func(p faultline.SandboxPhase) { phases = append(phases, p) }); err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(phases, faultline.PhaseCreate) || m.PoolReady() != 1 {
		t.Errorf("a lab with other limits took a warm container: phases %v, pool %d", phases, m.PoolReady())
	}
}

// TestWarmPoolSkipsAgedContainers: a warm container whose backstop would end
// before the lifetime cap (here the clock is 13 hours ahead: it has waited in
// the pool longer than MaxLife) is removed instead of claimed, and the
// learner's sandbox starts cold.
func TestWarmPoolSkipsAgedContainers(t *testing.T) {
	MustLabImage(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	m := MustManager(t, newMemStore())
	m.opt.PoolSize = 1
	m.opt.Now = func() time.Time { return time.Now().Add(13 * time.Hour) }
	poolCtx, stopPool := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- m.RunPool(poolCtx) }()
	defer func() { stopPool(); <-done }()
	waitPool(t, m, 1)
	aged := poolIDs(m)[0]

	var phases []faultline.SandboxPhase
	sb, err := m.Start(ctx, 43, testLab(), learnerFiles, func(p faultline.SandboxPhase) { phases = append(phases, p) })
	if err != nil {
		t.Fatalf("start: %v", err)
	}
	if sb.ContainerID == aged || !slices.Contains(phases, faultline.PhaseCreate) {
		t.Fatalf("the aged warm container was claimed (sandbox %s, phases %v)", short(sb.ContainerID), phases)
	}
	if ok, _ := testEngine.containerRunning(ctx, aged); ok {
		t.Errorf("the aged warm container was left running")
	}
}

// TestWarmPoolClaimIsTheRecord: a claimed warm container keeps the pool's
// labels (nothing is renamed or relabelled), so the store's row is what
// names it: a start after it stopped removes it by that ID before making
// the next one, and Stop removes it too.
func TestWarmPoolClaimIsTheRecord(t *testing.T) {
	MustLabImage(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	m := MustManager(t, newMemStore())
	m.opt.PoolSize = 1
	poolCtx, stopPool := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- m.RunPool(poolCtx) }()
	defer func() { stopPool(); <-done }()
	waitPool(t, m, 1)
	warm := poolIDs(m)[0]

	lab := testLab()
	sb, err := m.Start(ctx, 44, lab, learnerFiles, nil)
	if err != nil || sb.ContainerID != warm {
		t.Fatalf("start: %v; container %s, want the warm %s", err, short(sb.ContainerID), short(warm))
	}
	c, err := testEngine.b.Inspect(ctx, warm)
	if err != nil || c.Labels[LabelPool] != "1" || c.Labels[LabelUser] != "" {
		t.Fatalf("the claimed container: %+v, %v; want the pool's labels unchanged", c, err)
	}
	// Its processes end (the host was short of memory, say): the container
	// is still there, stopped.
	if err := testEngine.b.Stop(ctx, warm); err != nil {
		t.Fatal(err)
	}
	waitPool(t, m, 1)
	again, err := m.Start(ctx, 44, lab, learnerFiles, nil)
	if err != nil || again.ContainerID == warm {
		t.Fatalf("start after the claimed container stopped: %v, container %s", err, short(again.ContainerID))
	}
	if _, err := testEngine.b.Inspect(ctx, warm); faultline.ErrorCode(err) != faultline.ENOTFOUND {
		t.Errorf("the stopped claimed container is still there: %v", err)
	}
	if err := m.Stop(ctx, 44, lab.Slug); err != nil {
		t.Fatal(err)
	}
	if _, err := testEngine.b.Inspect(ctx, again.ContainerID); faultline.ErrorCode(err) != faultline.ENOTFOUND {
		t.Errorf("Stop left the claimed container %s: %v", short(again.ContainerID), err)
	}
}
