package sandbox

import (
	"bytes"
	"context"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/faultline-dev/faultline"
)

// memStore is an in-memory faultline.SandboxStore for these tests (the real
// one lives in package store).
type memStore struct {
	mu     sync.Mutex
	rows   map[string]*faultline.Sandbox
	nextID int64
	states []faultline.SandboxState // every state written, in order
}

func newMemStore() *memStore { return &memStore{rows: map[string]*faultline.Sandbox{}} }

func storeKey(userID int64, lab string) string { return strconv.FormatInt(userID, 10) + "/" + lab }

func (s *memStore) UpsertSandbox(ctx context.Context, sb *faultline.Sandbox) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	k := storeKey(sb.UserID, sb.Lab)
	if old, ok := s.rows[k]; ok {
		sb.ID = old.ID
	} else {
		s.nextID++
		sb.ID = s.nextID
	}
	cp := *sb
	s.rows[k] = &cp
	s.states = append(s.states, sb.State)
	return nil
}

func (s *memStore) FindSandbox(ctx context.Context, userID int64, lab string) (*faultline.Sandbox, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	sb, ok := s.rows[storeKey(userID, lab)]
	if !ok {
		return nil, faultline.Errorf(faultline.ENOTFOUND, "No sandbox.")
	}
	cp := *sb
	return &cp, nil
}

func (s *memStore) ListSandboxes(ctx context.Context, states ...faultline.SandboxState) ([]*faultline.Sandbox, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []*faultline.Sandbox
	for _, sb := range s.rows {
		if len(states) == 0 || slices.Contains(states, sb.State) {
			cp := *sb
			out = append(out, &cp)
		}
	}
	return out, nil
}

func (s *memStore) TouchSandbox(ctx context.Context, id int64) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, sb := range s.rows {
		if sb.ID == id {
			sb.LastActiveAt = time.Now()
			return nil
		}
	}
	return faultline.Errorf(faultline.ENOTFOUND, "No sandbox %d.", id)
}

// MustManager returns a Manager scoped to this test, on the test engine.
func MustManager(tb testing.TB, st faultline.SandboxStore) *Manager {
	tb.Helper()
	MustLabImage(tb)
	m := NewManager(testEngine, st, ManagerOptions{Warm: testWarm, Scope: "test-" + testRun})
	tb.Cleanup(func() {
		cs, err := testEngine.listContainers(context.Background(), m.match(nil))
		if err != nil {
			tb.Errorf("cleanup: %v", err)
		}
		for _, c := range cs {
			testEngine.removeContainer(c.ID)
		}
	})
	return m
}

// testLab is a small lab: the learner implements Add; one visible test
// passes with the files below, one fails; one hidden test is never run.
func testLab() *faultline.Lab {
	return &faultline.Lab{
		Slug:   "tiny-lab",
		Module: "faultline.dev/labs/tiny",
		Limits: faultline.Limits{Time: 30 * time.Second},
		Visible: []faultline.File{{Path: "tiny_test.go", Content: []byte(
			"package tiny\n\nimport \"testing\"\n\nfunc TestAdd(t *testing.T) {\n\tif Add(1, 2) != 3 {\n\t\tt.Fatal(\"add\")\n\t}\n}\n\n" +
				"func TestSub(t *testing.T) {\n\tif Sub(3, 1) != 2 {\n\t\tt.Fatalf(\"Sub(3, 1) = %d, want 2\", Sub(3, 1))\n\t}\n}\n")}},
		Tests: []faultline.LabTest{
			{Name: "TestAdd", Points: 2},
			{Name: "TestSub", Points: 3},
			{Name: "TestHiddenThing", Points: 5, Hidden: true},
		},
	}
}

var learnerFiles = []faultline.File{
	{Path: "tiny.go", Content: []byte("package tiny\n\n// Add adds.\nfunc Add(a, b int) int { return a + b }\n\n// Sub is wrong.\nfunc Sub(a, b int) int { return a + b }\n")},
	{Path: "notes/todo.txt", Content: []byte("remember the edge cases\n")},
}

func TestManagerLifecycle(t *testing.T) {
	st := newMemStore()
	m := MustManager(t, st)
	ctx := MustContext(t, 3*time.Minute)
	lab := testLab()
	const user = 7001

	if err := m.WriteFile(ctx, user, lab.Slug, faultline.File{Path: "x.go"}); faultline.ErrorCode(err) != faultline.ENOTFOUND {
		t.Fatalf("WriteFile before Start: %v, want ENOTFOUND", err)
	}

	var phases []faultline.SandboxPhase
	sb, err := m.Start(ctx, user, lab, learnerFiles, func(p faultline.SandboxPhase) { phases = append(phases, p) })
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	want := []faultline.SandboxPhase{faultline.PhaseImage, faultline.PhaseCreate, faultline.PhaseStart, faultline.PhaseFiles, faultline.PhaseReady}
	if !slices.Equal(phases, want) {
		t.Errorf("phases %v, want %v", phases, want)
	}
	if sb.State != faultline.SandboxRunning || sb.ContainerID == "" || sb.ID == 0 {
		t.Fatalf("sandbox %+v, want running with a container", sb)
	}
	if !slices.Equal(st.states, []faultline.SandboxState{faultline.SandboxStarting, faultline.SandboxRunning}) {
		t.Errorf("store states %v, want starting, running", st.states)
	}
	id := sb.ContainerID
	if ok, err := testEngine.containerRunning(ctx, id); err != nil || !ok {
		t.Fatalf("container %s not running: %v", short(id), err)
	}

	// The files are really in /work, owned by the learner.
	code, out := MustExec(t, id, "sh", "-c", "cat /work/tiny.go; cat /work/notes/todo.txt; cat /work/go.mod; ls -ln /work/tiny.go; id -u; touch /work/new && echo WORK-WRITABLE; touch /tmp/../x 2>&1 || echo ROOT-READONLY")
	if code != 0 {
		t.Fatalf("exec exit %d: %s", code, out)
	}
	for _, w := range []string{string(learnerFiles[0].Content), "remember the edge cases", "module faultline.dev/labs/tiny", " 65534 ", "WORK-WRITABLE", "ROOT-READONLY", "Read-only file system"} {
		if !strings.Contains(out, w) {
			t.Errorf("sandbox output lacks %q:\n%s", w, out)
		}
	}

	// Starting again returns the running sandbox at once.
	phases = nil
	again, err := m.Start(ctx, user, lab, learnerFiles, func(p faultline.SandboxPhase) { phases = append(phases, p) })
	if err != nil || again.ContainerID != id {
		t.Fatalf("second Start: %v, container %q want %q", err, again.ContainerID, id)
	}
	if !slices.Equal(phases, []faultline.SandboxPhase{faultline.PhaseReady}) {
		t.Errorf("second Start phases %v, want only ready", phases)
	}

	// Run the visible tests: TestAdd passes, TestSub fails.
	var raw bytes.Buffer
	res, err := m.RunTests(ctx, user, lab, &raw)
	if err != nil {
		t.Fatalf("RunTests: %v", err)
	}
	if res.Status != faultline.StatusGraded || res.Score != 2 || res.MaxScore != 5 || len(res.Tests) != 2 {
		t.Fatalf("RunTests result %+v, want graded 2/5 over 2 visible tests\n%s", res, raw.String())
	}
	if res.Tests[0].Status != faultline.TestPass || res.Tests[1].Status != faultline.TestFail {
		t.Errorf("test statuses %v %v, want pass fail", res.Tests[0].Status, res.Tests[1].Status)
	}
	if !strings.Contains(raw.String(), `"Action":"fail"`) || !strings.Contains(raw.String(), "Sub(3, 1) = 4, want 2") {
		t.Errorf("raw output lacks the JSON events:\n%s", raw.String())
	}

	// Fix Sub through WriteFile and run again.
	fixed := "package tiny\n\n// Add adds.\nfunc Add(a, b int) int { return a + b }\n\n// Sub subtracts.\nfunc Sub(a, b int) int { return a - b }\n"
	if err := m.WriteFile(ctx, user, lab.Slug, faultline.File{Path: "tiny.go", Content: []byte(fixed)}); err != nil {
		t.Fatalf("WriteFile: %v", err)
	}
	if err := m.WriteFile(ctx, user, lab.Slug, faultline.File{Path: "deep/er/file.txt", Content: []byte("deep")}); err != nil {
		t.Fatalf("WriteFile nested: %v", err)
	}
	if _, out := MustExec(t, id, "sh", "-c", "cat /work/tiny.go /work/deep/er/file.txt"); out != fixed+"deep" {
		t.Errorf("after WriteFile /work has %q", out)
	}
	if res, err := m.RunTests(ctx, user, lab, nil); err != nil || res.Score != 5 {
		t.Errorf("RunTests after fix: %+v, %v; want 5 points", res, err)
	}

	// A build failure is a verdict, not an error.
	if err := m.WriteFile(ctx, user, lab.Slug, faultline.File{Path: "broken.go", Content: []byte("package tiny\n\nvar x int = \"s\"\n")}); err != nil {
		t.Fatalf("WriteFile: %v", err)
	}
	if res, err := m.RunTests(ctx, user, lab, nil); err != nil || res.Status != faultline.StatusBuildFailed || res.Score != 0 {
		t.Errorf("RunTests of broken code: %+v, %v; want build_failed with 0 points", res, err)
	}

	for _, bad := range []string{"../escape.go", "/etc/passwd", ".hidden", "a b.go", "x/../../y"} {
		if err := m.WriteFile(ctx, user, lab.Slug, faultline.File{Path: bad, Content: []byte("x")}); faultline.ErrorCode(err) != faultline.EINVALID {
			t.Errorf("WriteFile(%q): %v, want EINVALID", bad, err)
		}
	}
	big := make([]byte, faultline.MaxFileSize+1)
	if err := m.WriteFile(ctx, user, lab.Slug, faultline.File{Path: "big.txt", Content: big}); faultline.ErrorCode(err) != faultline.ETOOLARGE {
		t.Errorf("WriteFile of a too large file: %v, want ETOOLARGE", err)
	}

	// Stop removes the container and records it.
	if err := m.Stop(ctx, user, lab.Slug); err != nil {
		t.Fatalf("Stop: %v", err)
	}
	if ok, err := testEngine.containerRunning(ctx, id); err != nil || ok {
		t.Errorf("container still there after Stop: %v %v", ok, err)
	}
	MustNoContainers(t, m.match(map[string]string{LabelUser: strconv.Itoa(user)}))
	got, err := m.Find(ctx, user, lab.Slug)
	if err != nil || got.State != faultline.SandboxStopped || got.ContainerID != "" {
		t.Errorf("after Stop: %+v, %v; want stopped without container", got, err)
	}
	if err := m.WriteFile(ctx, user, lab.Slug, faultline.File{Path: "tiny.go"}); faultline.ErrorCode(err) != faultline.ENOTFOUND {
		t.Errorf("WriteFile after Stop: %v, want ENOTFOUND", err)
	}
	if _, err := m.RunTests(ctx, user, lab, nil); faultline.ErrorCode(err) != faultline.ENOTFOUND {
		t.Errorf("RunTests after Stop: %v, want ENOTFOUND", err)
	}
	if err := m.Stop(ctx, user, lab.Slug); err != nil {
		t.Errorf("second Stop: %v", err)
	}
	if err := m.Stop(ctx, user+1, lab.Slug); faultline.ErrorCode(err) != faultline.ENOTFOUND {
		t.Errorf("Stop of a never started sandbox: %v, want ENOTFOUND", err)
	}
	if _, err := m.Find(ctx, user+1, lab.Slug); faultline.ErrorCode(err) != faultline.ENOTFOUND {
		t.Errorf("Find of a never started sandbox: %v, want ENOTFOUND", err)
	}
}

func TestManagerRestartsVanishedContainer(t *testing.T) {
	st := newMemStore()
	m := MustManager(t, st)
	ctx := MustContext(t, 2*time.Minute)
	lab := testLab()
	const user = 7002
	sb, err := m.Start(ctx, user, lab, learnerFiles, nil)
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	t.Cleanup(func() { _ = m.Stop(context.Background(), user, lab.Slug) })
	testEngine.removeContainer(sb.ContainerID) // e.g. the host rebooted

	if err := m.WriteFile(ctx, user, lab.Slug, faultline.File{Path: "a.go", Content: []byte("package tiny\n")}); faultline.ErrorCode(err) != faultline.ENOTFOUND {
		t.Errorf("WriteFile to a vanished container: %v, want ENOTFOUND", err)
	}
	if got, _ := m.Find(ctx, user, lab.Slug); got.State != faultline.SandboxStopped {
		t.Errorf("vanished sandbox recorded as %q, want stopped", got.State)
	}
	again, err := m.Start(ctx, user, lab, learnerFiles, nil)
	if err != nil {
		t.Fatalf("Start after vanishing: %v", err)
	}
	if again.ContainerID == sb.ContainerID || again.State != faultline.SandboxRunning {
		t.Errorf("restarted sandbox %+v, want a new running container", again)
	}
	if _, out := MustExec(t, again.ContainerID, "cat", "/work/tiny.go"); out != string(learnerFiles[0].Content) {
		t.Errorf("restarted sandbox has tiny.go %q", out)
	}
}

func TestManagerStartRejectsBadFiles(t *testing.T) {
	st := newMemStore()
	m := MustManager(t, st)
	ctx := MustContext(t, time.Minute)
	_, err := m.Start(ctx, 7003, testLab(), []faultline.File{{Path: "../../etc/passwd", Content: []byte("x")}}, nil)
	if faultline.ErrorCode(err) != faultline.EINVALID {
		t.Fatalf("Start with a bad path: %v, want EINVALID", err)
	}
	MustNoContainers(t, m.match(map[string]string{LabelUser: "7003"}))
}

func TestManagerEngineDown(t *testing.T) {
	e := MustDeadEngine(t)
	st := newMemStore()
	m := NewManager(e, st, ManagerOptions{})
	ctx := MustContext(t, 30*time.Second)
	_, err := m.Start(ctx, 1, testLab(), learnerFiles, nil)
	if faultline.ErrorCode(err) != faultline.EUNAVAILABLE {
		t.Fatalf("Start with the engine down: %v, want EUNAVAILABLE", err)
	}
	sb, err := st.FindSandbox(ctx, 1, "tiny-lab")
	if err != nil {
		t.Fatal(err)
	}
	if sb.State != faultline.SandboxFailed || !strings.Contains(sb.Error, "not reachable") {
		t.Errorf("row after failed start: %+v, want failed with the engine message", sb)
	}
	// A row that says running cannot be checked: unavailable, not "not found".
	sb.State, sb.ContainerID = faultline.SandboxRunning, "abc"
	_ = st.UpsertSandbox(ctx, sb)
	if err := m.WriteFile(ctx, 1, "tiny-lab", faultline.File{Path: "a.go"}); faultline.ErrorCode(err) != faultline.EUNAVAILABLE {
		t.Errorf("WriteFile with the engine down: %v, want EUNAVAILABLE", err)
	}
	if err := m.Stop(ctx, 1, "tiny-lab"); faultline.ErrorCode(err) != faultline.EUNAVAILABLE {
		t.Errorf("Stop with the engine down: %v, want EUNAVAILABLE", err)
	}
	if _, _, err := m.Reconcile(ctx); faultline.ErrorCode(err) != faultline.EUNAVAILABLE {
		t.Errorf("Reconcile with the engine down: %v, want EUNAVAILABLE", err)
	}
}

func TestManagerReconcile(t *testing.T) {
	st := newMemStore()
	m := MustManager(t, st)
	ctx := MustContext(t, 2*time.Minute)
	lab := testLab()

	// A sandbox the store knows as running: kept.
	live, err := m.Start(ctx, 7010, lab, learnerFiles, nil)
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	t.Cleanup(func() { _ = m.Stop(context.Background(), 7010, lab.Slug) })
	// A container left by a crashed portal, unknown to the store: removed.
	orphan := MustCreateContainer(t, testEngine.labels(m.match(map[string]string{LabelUser: "7011", LabelLab: lab.Slug})))
	// A container of another scope (another portal): not touched.
	foreign := MustCreateContainer(t, map[string]string{LabelKind: KindSandbox, LabelScope: "other-" + testRun, labelTest: testRun})
	// A row that says running whose container is gone: marked stopped.
	gone := &faultline.Sandbox{UserID: 7012, Lab: lab.Slug, State: faultline.SandboxRunning, ContainerID: "0123456789ab"}
	if err := st.UpsertSandbox(ctx, gone); err != nil {
		t.Fatal(err)
	}

	removed, stopped, err := m.Reconcile(ctx)
	if err != nil {
		t.Fatalf("Reconcile: %v", err)
	}
	if removed != 1 || stopped != 1 {
		t.Errorf("Reconcile removed %d, stopped %d; want 1, 1", removed, stopped)
	}
	if ok, err := testEngine.containerRunning(ctx, orphan); err != nil || ok {
		t.Errorf("orphan still there: %v %v", ok, err)
	}
	if ok, err := testEngine.containerRunning(ctx, live.ContainerID); err != nil || !ok {
		t.Errorf("live sandbox removed: %v %v", ok, err)
	}
	if ok, err := testEngine.containerRunning(ctx, foreign); err != nil || !ok {
		t.Errorf("another scope's sandbox removed: %v %v", ok, err)
	}
	if got, _ := st.FindSandbox(ctx, 7012, lab.Slug); got.State != faultline.SandboxStopped {
		t.Errorf("row with a vanished container is %q, want stopped", got.State)
	}
	if got, _ := st.FindSandbox(ctx, 7010, lab.Slug); got.State != faultline.SandboxRunning {
		t.Errorf("live row is %q, want running", got.State)
	}
}

func TestManagerReap(t *testing.T) {
	st := newMemStore()
	MustLabImage(t)
	var mu sync.Mutex
	now := time.Date(2030, 1, 1, 12, 0, 0, 0, time.UTC)
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	m := NewManager(testEngine, st, ManagerOptions{Warm: testWarm, Scope: "test-" + testRun, Now: clock})
	t.Cleanup(func() { _ = m.Stop(context.Background(), 7020, "tiny-lab") })
	ctx := MustContext(t, time.Minute)
	sb, err := m.Start(ctx, 7020, testLab(), learnerFiles, nil)
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	mu.Lock()
	now = now.Add(5 * time.Minute)
	mu.Unlock()
	if n, err := m.Reap(ctx, 10*time.Minute); err != nil || n != 0 {
		t.Fatalf("Reap after 5 idle minutes: %d, %v; want 0", n, err)
	}
	mu.Lock()
	now = now.Add(6 * time.Minute)
	mu.Unlock()
	if n, err := m.Reap(ctx, 10*time.Minute); err != nil || n != 1 {
		t.Fatalf("Reap after 11 idle minutes: %d, %v; want 1", n, err)
	}
	if ok, err := testEngine.containerRunning(ctx, sb.ContainerID); err != nil || ok {
		t.Errorf("reaped container still there: %v %v", ok, err)
	}
	if got, _ := m.Find(ctx, 7020, "tiny-lab"); got.State != faultline.SandboxStopped {
		t.Errorf("reaped sandbox is %q, want stopped", got.State)
	}
}

// TestManagerReapSparesBusySandboxes: a sandbox without editor, terminal or
// test activity but with a process busy on the CPU (a learner's long run
// left going in the terminal) is not reaped, and is once the process ends.
func TestManagerReapSparesBusySandboxes(t *testing.T) {
	st := newMemStore()
	MustLabImage(t)
	var mu sync.Mutex
	now := time.Date(2030, 1, 1, 12, 0, 0, 0, time.UTC)
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	m := NewManager(testEngine, st, ManagerOptions{Warm: testWarm, Scope: "test-" + testRun, Now: clock})
	t.Cleanup(func() { _ = m.Stop(context.Background(), 7021, "tiny-lab") })
	ctx := MustContext(t, 2*time.Minute)
	sb, err := m.Start(ctx, 7021, testLab(), learnerFiles, nil)
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	// A CPU-bound loop in the background until /tmp/stop appears (bounded
	// by timeout should the test die first).
	loop := `(timeout 120 sh -c 'while [ ! -e /tmp/stop ]; do :; done') >/dev/null 2>&1 &`
	if code, err := testEngine.exec(ctx, sb.ContainerID, []string{"sh", "-c", loop}, "", nil); err != nil || code != 0 {
		t.Fatalf("start the busy loop: %d, %v", code, err)
	}
	mu.Lock()
	now = now.Add(11 * time.Minute)
	mu.Unlock()
	if n, err := m.Reap(ctx, 10*time.Minute); err != nil || n != 0 {
		t.Fatalf("Reap of a busy sandbox after 11 quiet minutes: %d, %v; want 0", n, err)
	}
	if ok, err := testEngine.containerRunning(ctx, sb.ContainerID); err != nil || !ok {
		t.Fatalf("the busy sandbox was stopped: %v %v", ok, err)
	}
	if code, err := testEngine.exec(ctx, sb.ContainerID, []string{"touch", "/tmp/stop"}, "", nil); err != nil || code != 0 {
		t.Fatalf("stop the busy loop: %d, %v", code, err)
	}
	// The loop notices within a moment; reaping an idle sandbox may need a
	// pass or two while the engine's CPU sample still covers the loop.
	deadline := time.Now().Add(time.Minute) // hang guard only
	for {
		mu.Lock()
		now = now.Add(11 * time.Minute)
		mu.Unlock()
		n, err := m.Reap(ctx, 10*time.Minute)
		if err != nil {
			t.Fatal(err)
		}
		if n == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the sandbox was never reaped after its busy process ended")
		}
	}
	if got, _ := m.Find(ctx, 7021, "tiny-lab"); got.State != faultline.SandboxStopped {
		t.Errorf("reaped sandbox is %q, want stopped", got.State)
	}
}
