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

// startPortal runs the faultline binary bin as a real process on dataDir and
// waits until it answers.
func startPortal(t *testing.T, bin, dataDir string) *portal {
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
	cmd := exec.Command(bin, "serve", "-addr", addr, "-data-dir", dataDir, "-pool", "2")
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
	bin := filepath.Join(t.TempDir(), "faultline")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	dataDir := t.TempDir()
	p1 := startPortal(t, bin, dataDir)

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	scope, err := installationID(dataDir)
	if err != nil {
		t.Fatal(err)
	}
	e, err := newEngine(Config{}, nil)
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
	// Ten learners start the lab (a Manager of the same installation, on the
	// portal's own database).
	m := sandbox.NewManager(e, db, sandbox.ManagerOptions{Warm: cat.StdImports()})
	var ids []string
	for i := range 10 {
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
	warm := waitForPool(t, ctx, e, 2)

	// Kill the portal; a container vanishes, a stray one appears.
	if err := p1.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_, _ = p1.cmd.Process.Wait()
	if err := exec.Command("docker", "rm", "-f", ids[3]).Run(); err != nil {
		t.Fatalf("remove a sandbox behind the portal's back: %v", err)
	}
	stray := NewStray(t, ctx, m)

	startPortal(t, bin, dataDir)
	newWarm := waitForPool(t, ctx, e, 2)

	rows, err := db.ListSandboxes(ctx, faultline.SandboxRunning, faultline.SandboxStarting)
	if err != nil {
		t.Fatal(err)
	}
	known := map[string]bool{}
	for _, sb := range rows {
		known[sb.ContainerID] = true
		if sb.ContainerID == ids[3] {
			t.Errorf("the database still has the vanished sandbox as running")
		}
	}
	if len(rows) != 9 {
		t.Errorf("%d sandboxes recorded as running, want the 9 that still run", len(rows))
	}
	running := listScope(t, ctx, scope)
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

// waitForPool waits until the installation has n warm containers running
// and returns their IDs.
func waitForPool(t *testing.T, ctx context.Context, e *sandbox.Engine, n int) map[string]bool {
	t.Helper()
	deadline := time.Now().Add(3 * time.Minute) // hang guard
	for {
		warm := map[string]bool{}
		for id, labels := range listScope(t, ctx, e.Scope()) {
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
