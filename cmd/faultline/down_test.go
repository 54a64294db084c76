package main

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/faultline-dev/faultline"
	"github.com/faultline-dev/faultline/sandbox"
)

// TestDown: with a learner's sandbox running (and the warm pool filled),
// `faultline down` refuses while the portal runs; once it is stopped, it
// removes every container of the installation through the sandbox package,
// marks the sandbox stopped and keeps the learner's saved files.
func TestDown(t *testing.T) {
	ctx := context.Background()
	data := t.TempDir()
	m := MustServeWith(t, data, func(c *Config) { c.PoolSize = 1 })
	lab := MustLab(t, "circuit-breaker")
	u := &faultline.User{Email: "lin@example.com", Name: "Lin", Role: faultline.RoleLearner, PasswordHash: "x"}
	if err := m.DB.CreateUser(ctx, u); err != nil {
		t.Fatal(err)
	}
	if _, err := m.DB.SaveFile(ctx, u.ID, lab.Slug, "breaker.go", []byte("package circuitbreaker // mine\n")); err != nil {
		t.Fatal(err)
	}
	manager := sandbox.NewManager(m.Engine, m.DB, sandbox.ManagerOptions{Warm: m.Labs.StdImports()})
	if _, err := manager.Start(ctx, u.ID, lab, lab.Starter, nil); err != nil {
		t.Fatalf("start sandbox: %v", err)
	}
	// Another process, as an operator's shell would be.
	if code, _, errOut := runCLIProcess(t, "down", "--data-dir", data); code != 1 || !strings.Contains(errOut, "stop it first") {
		t.Fatalf("down while serving: exit %d %s", code, errOut)
	}
	backup := filepath.Join(t.TempDir(), "b.db")
	if code, _, errOut := runCLI(t, "backup", "--data-dir", data, backup); code != 0 {
		t.Fatalf("backup: %s", errOut)
	}
	if code, _, errOut := runCLIProcess(t, "restore", "--data-dir", data, backup); code != 1 || !strings.Contains(errOut, "is the portal running?") {
		t.Fatalf("restore while serving: exit %d %s", code, errOut)
	}
	m.Close()

	code, out, errOut := runCLI(t, "down", "--data-dir", data)
	if code != 0 || !strings.Contains(out, "marked 1 sandboxes stopped") || !strings.Contains(out, "removed ") {
		t.Fatalf("down: exit %d\n%s\n%s", code, out, errOut)
	}
	// Nothing of the installation is left on the engine.
	id, _ := os.ReadFile(filepath.Join(data, "installation-id"))
	e, err := newEngine(Config{}, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	e.SetScope(strings.TrimSpace(string(id)))
	if n, err := e.RemoveOrphans(ctx, "", nil); err != nil || n != 0 {
		t.Fatalf("after down the engine still held %d objects of the installation (%v)", n, err)
	}
	m2 := MustServe(t, data)
	sb, err := m2.DB.FindSandbox(ctx, u.ID, lab.Slug)
	if err != nil || sb.State != faultline.SandboxStopped || sb.ContainerID != "" {
		t.Fatalf("sandbox row after down: %+v %v", sb, err)
	}
	files, err := m2.DB.Files(ctx, u.ID, lab.Slug)
	if err != nil || len(files) != 1 || string(files[0].Content) != "package circuitbreaker // mine\n" {
		t.Fatalf("saved files after down: %v %v", files, err)
	}
	if code, _, errOut := runCLI(t, "down", "--data-dir", t.TempDir()); code != 1 || !strings.Contains(errOut, "no installation-id") {
		t.Fatalf("down of an empty folder: exit %d %s", code, errOut)
	}
}

// runCLIProcess runs the faultline command in a child process (this test
// binary, see TestHelperCLI) and returns its exit code and output.
func runCLIProcess(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestHelperCLI$")
	cmd.Env = append(os.Environ(), "FAULTLINE_HELPER_ARGS="+strings.Join(args, "\x1f"))
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return ee.ExitCode(), stdout.String(), stderr.String()
	} else if err != nil {
		t.Fatal(err)
	}
	return 0, stdout.String(), stderr.String()
}

// TestHelperCLI is not a test: runCLIProcess runs it in a child process to
// run the command there.
func TestHelperCLI(t *testing.T) {
	a := os.Getenv("FAULTLINE_HELPER_ARGS")
	if a == "" {
		t.Skip("helper process for runCLIProcess")
	}
	env := func(k string) string {
		if strings.HasPrefix(k, "FAULTLINE_") {
			return ""
		}
		return os.Getenv(k)
	}
	os.Exit(run(context.Background(), strings.Split(a, "\x1f"), strings.NewReader(""), os.Stdout, os.Stderr, env))
}
