package sandbox

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/faultline-dev/faultline"
)

// launchTest launches a sandbox container of m's spec, removed at the end
// of the test.
func launchTest(t *testing.T, m *Manager) *seeding {
	t.Helper()
	ctx := MustContext(t, time.Minute)
	image := MustLabImage(t)
	s, err := m.e.launch(ctx, m.sandboxSpec(image, m.poolLimits(), 10*time.Minute, map[string]string{LabelPool: "1"}), nil)
	if err != nil {
		t.Fatalf("launch: %v", err)
	}
	t.Cleanup(func() { s.close(); testEngine.removeContainer(s.id) })
	return s
}

// TestSeed: the workspace sent on a sandbox container's stdin is in /work,
// owned by the sandbox user, when seed returns, and the container's main
// process is then only its sleep (tar and the shell are gone).
func TestSeed(t *testing.T) {
	m := MustManager(t, newMemStore())
	s := launchTest(t, m)
	archive, err := tarFiles(learnerFiles)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.seed(MustContext(t, time.Minute), archive, len(learnerFiles)); err != nil {
		t.Fatalf("seed: %v", err)
	}
	code, out := MustExec(t, s.id, "sh", "-c", "cat /work/tiny.go /work/notes/todo.txt; stat -c '%u:%g %n' /work/tiny.go /work/notes; ps -o comm")
	if code != 0 {
		t.Fatalf("exec: exit %d: %s", code, out)
	}
	for _, want := range []string{"func Add", "remember the edge cases", "65534:65534 /work/tiny.go", "65534:65534 /work/notes"} {
		if !strings.Contains(out, want) {
			t.Errorf("the seeded container lacks %q:\n%s", want, out)
		}
	}
	// The processes: init, the sleep, and this exec (its shell became ps).
	procs := strings.Fields(out[strings.LastIndex(out, "COMMAND")+len("COMMAND"):])
	slices.Sort(procs)
	if !slices.Equal(procs, []string{"docker-init", "ps", "sleep"}) {
		t.Errorf("processes after seed: %v, want docker-init, sleep and this exec's ps", procs)
	}
	if ok, err := testEngine.containerRunning(context.Background(), s.id); err != nil || !ok {
		t.Errorf("after seed the container runs: %v, %v", ok, err)
	}
}

// TestSeedBrokenStdin: a container whose stdin ends partway through the
// archive (the attachment broke) does not go on with part of a workspace:
// its main process fails and the container ends, and seed says what tar
// said. One whose stdin ends before anything came ends the same way.
func TestSeedBrokenStdin(t *testing.T) {
	m := MustManager(t, newMemStore())
	archive, err := tarFiles(learnerFiles)
	if err != nil {
		t.Fatal(err)
	}
	for _, cut := range []int{len(archive) / 2, 0} {
		s := launchTest(t, m)
		if _, err := s.stdin.Write(archive[:cut]); err != nil {
			t.Fatalf("write %d bytes: %v", cut, err)
		}
		s.stdin.Close()
		select {
		case <-s.att.Done():
		case <-time.After(time.Minute): // hang guard only
			t.Fatalf("cut at %d: the container still runs a minute after its stdin ended", cut)
		}
		select {
		case <-s.ready.seen:
			t.Errorf("cut at %d: the container said its workspace was ready", cut)
		default:
		}
		if ok, err := testEngine.containerRunning(context.Background(), s.id); err != nil || ok {
			t.Errorf("cut at %d: the container runs on (%v)", cut, err)
		}
		if !strings.Contains(string(s.out.bytes()), "tar") {
			t.Errorf("cut at %d: output %q does not name tar", cut, s.out.bytes())
		}
	}

	// seed itself reports a container that ends instead of unpacking.
	s := launchTest(t, m)
	bad := append([]byte("not a tar archive"), make([]byte, 2000)...)
	err = s.seed(MustContext(t, time.Minute), bad, 1)
	if err == nil || !strings.Contains(err.Error(), "tar") {
		t.Errorf("seed of garbage: %v, want tar's complaint", err)
	}
}

// TestSeedCanceled: seed returns the context's error when it ends first,
// with the attachment closed (the caller then removes the container).
func TestSeedCanceled(t *testing.T) {
	m := MustManager(t, newMemStore())
	s := launchTest(t, m)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	archive, err := tarFiles(learnerFiles)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.seed(ctx, archive, len(learnerFiles)); !errors.Is(err, context.Canceled) {
		t.Fatalf("seed with an ended context: %v, want context.Canceled", err)
	}
	select {
	case <-s.att.Done():
	case <-time.After(time.Minute): // hang guard only
		t.Fatal("the attachment is still open after seed returned")
	}
}

// TestWarmPoolSkipsBrokenAttachment: a warm container whose attachment
// ended (its stdin gone with it) is not handed out: the learner starts cold
// and gets the workspace, and the broken one is removed.
func TestWarmPoolSkipsBrokenAttachment(t *testing.T) {
	ctx := MustContext(t, 5*time.Minute)
	m := MustManager(t, newMemStore())
	m.opt.PoolSize = 1
	pctx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- m.RunPool(pctx) }()
	defer func() { stop(); <-done }()
	waitPool(t, m, 1)
	m.poolMu.Lock()
	broken := m.pool[0]
	m.poolMu.Unlock()
	broken.close()

	var phases []faultline.SandboxPhase
	sb, err := m.Start(ctx, 45, testLab(), learnerFiles, func(p faultline.SandboxPhase) { phases = append(phases, p) })
	if err != nil {
		t.Fatalf("start: %v", err)
	}
	if sb.ContainerID == broken.id || !slices.Contains(phases, faultline.PhaseCreate) {
		t.Fatalf("the broken warm container was claimed (phases %v)", phases)
	}
	if code, out := MustExec(t, sb.ContainerID, "cat", "/work/tiny.go"); code != 0 || !strings.Contains(out, "func Add") {
		t.Errorf("the cold sandbox's workspace: exit %d, %q", code, out)
	}
	if ok, _ := testEngine.containerRunning(ctx, broken.id); ok {
		t.Errorf("the broken warm container was left running")
	}
}
