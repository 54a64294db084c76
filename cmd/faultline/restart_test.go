package main

import (
	"context"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/faultline-dev/faultline"
	"github.com/faultline-dev/faultline/labs"
	"github.com/faultline-dev/faultline/sandbox"
	"github.com/faultline-dev/faultline/store"
)

// portal is a `faultline serve` process.
type portal struct {
	cmd *exec.Cmd
	url string
	log *os.File
}

// startPortal runs the faultline binary bin as a real process on dataDir,
// with the extra serve flags args, and waits until it answers.
func startPortal(t *testing.T, bin, dataDir string, args ...string) *portal {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	logf, err := os.CreateTemp(t.TempDir(), "portal-*.log")
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, append([]string{"serve", "-addr", addr, "-data-dir", dataDir, "-pool", "2"}, args...)...)
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &portal{cmd: cmd, url: "http://" + addr, log: logf}
	t.Cleanup(func() {
		_ = p.cmd.Process.Kill()
		_, _ = p.cmd.Process.Wait()
	})
	deadline := time.Now().Add(2 * time.Minute) // hang guard
	for {
		res, err := http.Get(p.url + "/lessons")
		if err == nil {
			res.Body.Close()
			return p
		}
		if time.Now().After(deadline) {
			b, _ := os.ReadFile(logf.Name())
			t.Fatalf("portal did not answer: %v\n%s", err, b)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// TestKilledPortalLeavesNothingBehind: with ten sandboxes running (and its
// warm pool), the portal is killed with SIGKILL; meanwhile one sandbox's
// container disappears behind its back and a stray container of its
// installation appears. Started again on the same data, the portal must
// leave no orphan: every container of the installation is a running
// sandbox the database knows, or one of the new warm pool; every sandbox
// the database has as running really runs; the vanished one is marked
// stopped.
func TestKilledPortalLeavesNothingBehind(t *testing.T) {
	killedPortalWalk(t, killWalk{
		sandboxes: 10,
		list:      listScope,
		vanish: func(ctx context.Context, e *sandbox.Engine, id string) error {
			return exec.CommandContext(ctx, "docker", "rm", "-f", id).Run()
		},
	})
}

// killWalk is what a backend changes in the killed-portal walk.
type killWalk struct {
	// backend is the portal's backend configuration (zero: Docker); the
	// portal process gets it as serve flags.
	backend BackendConfig
	// sandboxes is how many learners start a sandbox before the kill.
	sandboxes int
	// list lists the running containers of an installation scope, with
	// labels, independently of the code under test.
	list func(t *testing.T, ctx context.Context, scope string) map[string]map[string]string
	// vanish removes a container behind the portal's back.
	vanish func(ctx context.Context, e *sandbox.Engine, id string) error
	// all, when set, lists every container of the scope whatever its
	// state (created, running, ended): after the restart each must be a
	// running sandbox the database knows or one of the new warm pool.
	all func(t *testing.T, ctx context.Context, scope string) map[string]map[string]string
}

// serveFlags returns the serve flags of the backend configuration.
func (w killWalk) serveFlags() []string {
	if w.backend.Name == "" {
		return nil
	}
	return []string{"-backend", w.backend.Name, "-kubeconfig", w.backend.Kubeconfig,
		"-k8s-registry", w.backend.Registry, "-k8s-namespace", w.backend.Namespace}
}

// killedPortalWalk is TestKilledPortalLeavesNothingBehind's walk on the
// backend w names.
func killedPortalWalk(t *testing.T, w killWalk) {
	bin := filepath.Join(t.TempDir(), "faultline")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	dataDir := t.TempDir()
	p1 := startPortal(t, bin, dataDir, w.serveFlags()...)

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	scope, err := installationID(dataDir)
	if err != nil {
		t.Fatal(err)
	}
	e, err := newEngine(Config{Backend: w.backend}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	e.SetScope(scope)
	t.Cleanup(func() {
		c, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if _, err := e.RemoveOrphans(c, "", nil); err != nil {
			t.Errorf("cleanup: %v", err)
		}
	})
	db, err := store.Open(filepath.Join(dataDir, "faultline.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	cat, err := labs.Load(labs.FS)
	if err != nil {
		t.Fatal(err)
	}
	lab, err := cat.Lab("bulkhead")
	if err != nil {
		t.Fatal(err)
	}
	// The learners start the lab (a Manager of the same installation, on
	// the portal's own database).
	m := sandbox.NewManager(e, db, sandbox.ManagerOptions{Warm: cat.StdImports()})
	var ids []string
	for i := range w.sandboxes {
		u := &faultline.User{Name: "Learner " + strconv.Itoa(i), Email: "l" + strconv.Itoa(i) + "@example.com", Role: faultline.RoleLearner, PasswordHash: "x"}
		if err := db.CreateUser(ctx, u); err != nil {
			t.Fatal(err)
		}
		sb, err := m.Start(ctx, u.ID, lab, lab.Starter, nil)
		if err != nil {
			t.Fatalf("start sandbox %d: %v", i, err)
		}
		ids = append(ids, sb.ContainerID)
	}
	warm := waitForPool(t, ctx, w.list, scope, 2)

	// Kill the portal; a container vanishes, a stray one appears.
	if err := p1.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_, _ = p1.cmd.Process.Wait()
	vanished := ids[len(ids)/3]
	if err := w.vanish(ctx, e, vanished); err != nil {
		t.Fatalf("remove a sandbox behind the portal's back: %v", err)
	}
	stray := NewStray(t, ctx, m)

	startPortal(t, bin, dataDir, w.serveFlags()...)
	newWarm := waitForPool(t, ctx, w.list, scope, 2)

	rows, err := db.ListSandboxes(ctx, faultline.SandboxRunning, faultline.SandboxStarting)
	if err != nil {
		t.Fatal(err)
	}
	known := map[string]bool{}
	for _, sb := range rows {
		known[sb.ContainerID] = true
		if sb.ContainerID == vanished {
			t.Errorf("the database still has the vanished sandbox as running")
		}
	}
	if len(rows) != len(ids)-1 {
		t.Errorf("%d sandboxes recorded as running, want the %d that still run", len(rows), len(ids)-1)
	}
	running := w.list(t, ctx, scope)
	for id, labels := range running {
		switch {
		case known[id]:
		case labels[sandbox.LabelPool] == "1" && newWarm[id]:
		default:
			t.Errorf("orphan container %s (labels %v) after the restart", id[:12], labels)
		}
	}
	for _, sb := range rows {
		if _, ok := running[sb.ContainerID]; !ok {
			t.Errorf("sandbox of user %d is recorded as running but its container is not", sb.UserID)
		}
	}
	for id := range warm {
		if _, ok := running[id]; ok {
			t.Errorf("the killed portal's warm container %s survived", id[:12])
		}
	}
	if _, ok := running[stray]; ok {
		t.Errorf("the stray container survived")
	}
	if w.all != nil {
		for id, labels := range w.all(t, ctx, scope) {
			if _, ok := running[id]; !ok || !(known[id] || newWarm[id]) {
				t.Errorf("container %s (labels %v) of the installation is left after the restart, not a running sandbox or warm container", id, labels)
			}
		}
	}
}

// NewStray creates a running sandbox container of the installation that the
// database does not know: a learner's sandbox started by a portal that died
// before recording it.
func NewStray(t *testing.T, ctx context.Context, m *sandbox.Manager) string {
	t.Helper()
	st := &forgetful{}
	lab := &faultline.Lab{Slug: "stray-lab", Limits: faultline.Limits{Pids: 99}}
	sb, err := sandbox.NewManager(m.Engine(), st, sandbox.ManagerOptions{Scope: m.Scope()}).Start(ctx, 999, lab, nil, nil)
	if err != nil {
		t.Fatalf("stray: %v", err)
	}
	return sb.ContainerID
}

// forgetful is a SandboxStore that remembers nothing.
type forgetful struct{}

func (forgetful) UpsertSandbox(ctx context.Context, sb *faultline.Sandbox) error {
	sb.ID = 1
	return nil
}
func (forgetful) FindSandbox(ctx context.Context, userID int64, lab string) (*faultline.Sandbox, error) {
	return nil, faultline.Errorf(faultline.ENOTFOUND, "none")
}
func (forgetful) ListSandboxes(ctx context.Context, states ...faultline.SandboxState) ([]*faultline.Sandbox, error) {
	return nil, nil
}
func (forgetful) TouchSandbox(ctx context.Context, id int64) error { return nil }

// waitForPool waits until the installation scope has n warm containers
// running, as list sees them, and returns their IDs.
func waitForPool(t *testing.T, ctx context.Context, list func(*testing.T, context.Context, string) map[string]map[string]string, scope string, n int) map[string]bool {
	t.Helper()
	deadline := time.Now().Add(3 * time.Minute) // hang guard
	for {
		warm := map[string]bool{}
		for id, labels := range list(t, ctx, scope) {
			if labels[sandbox.LabelPool] == "1" {
				warm[id] = true
			}
		}
		if len(warm) == n {
			return warm
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d warm containers, want %d", len(warm), n)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// listScope lists the running containers of the installation, with labels,
// through the docker CLI (independent of the code under test).
func listScope(t *testing.T, ctx context.Context, scope string) map[string]map[string]string {
	t.Helper()
	out, err := exec.CommandContext(ctx, "docker", "ps", "--no-trunc", "--filter", "label="+sandbox.LabelScope+"="+scope,
		"--format", "{{.ID}} {{.Labels}}").Output()
	if err != nil {
		t.Fatalf("docker ps: %v", err)
	}
	res := map[string]map[string]string{}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		if line == "" {
			continue
		}
		id, rest, _ := strings.Cut(line, " ")
		labels := map[string]string{}
		for _, kv := range strings.Split(rest, ",") {
			k, v, _ := strings.Cut(kv, "=")
			labels[k] = v
		}
		res[id] = labels
	}
	return res
}
