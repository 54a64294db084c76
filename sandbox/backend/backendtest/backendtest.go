// Package backendtest is the conformance suite of backend.Backend: Run checks,
// against a live orchestrator, every promise the interface makes that the
// code above it relies on — the lifecycle verbs, the hardening, the limits
// and how a container ended (exit status, memory, deadline), attach, exec, a
// resizable TTY, tar copies in and out, CPU samples, private networks,
// images, and the error codes. Every backend runs it from its own tests:
//
//	func TestConformance(t *testing.T) {
//		backendtest.Run(t, backendtest.Harness{Backend: b, Unavailable: dead})
//	}
//
// The suite builds a small image of its own (a static busybox) and labels
// everything it creates, removing it at the end.
package backendtest

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"maps"
	"net"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/faultline-dev/faultline"
	"github.com/faultline-dev/faultline/sandbox/backend"
)

// Harness says what to run the suite on.
type Harness struct {
	// Backend is the backend under test, on a live orchestrator.
	Backend backend.Backend
	// Unavailable is a backend of the same kind whose orchestrator does not
	// answer (an address where nothing listens).
	Unavailable backend.Backend
	// Runtime is put in every container's Spec ("" for the default).
	Runtime string
	// Labels are added to everything the suite creates (besides a label of
	// its own), so the caller's cleanup can find it too.
	Labels map[string]string
	// Repo is the image repository of the suite's images (default
	// "faultline-conformance").
	Repo string
	// Busybox is the host's static busybox, the suite's image (default
	// /bin/busybox).
	Busybox string
	// Timeout bounds each subtest, as a guard against a hang only
	// (default 3 minutes).
	Timeout time.Duration
	// NoNetworks, when set, says why this backend's containers cannot have
	// a network (e.g. a runtime registered with its network off); the
	// Networks subtest is then skipped with that reason.
	NoNetworks string
	// PodNetwork, when set, says why this backend's containers always
	// have a network interface (e.g. every Kubernetes Pod is on the
	// cluster's network, isolated by a deny-all policy): the hardening test
	// then checks that a container without a network reaches nothing on
	// the host, instead of that it has only loopback.
	PodNetwork string
	// NoCgroup, when set, says why a container cannot read its own CPU
	// controller's settings (e.g. a runtime that shows containers a cgroup
	// filesystem of its own making); the Background subtest is then
	// skipped with that reason.
	NoCgroup string
	// NoBackground, when set, says why this backend gives a
	// Spec.Background container the same CPU weight as any other; the
	// Background subtest is then skipped with that reason.
	NoBackground string
	// LateOOM, when set, says why this backend may report a memory kill
	// as a plain SIGKILL (exit status 137) without OOMKilled; the memory
	// test then accepts that, and logs the reason.
	LateOOM string
}

// labelRun is the suite's own label on everything it creates.
const labelRun = "faultline.conformance"

// suite is one Run.
type suite struct {
	h      Harness
	b      backend.Backend
	run    string            // this Run's value of labelRun
	labels map[string]string // on everything
	image  string            // the suite's busybox image
}

// Run runs the conformance suite as subtests of t.
func Run(t *testing.T, h Harness) {
	if h.Backend == nil || h.Unavailable == nil {
		t.Fatal("backendtest: Harness needs Backend and Unavailable")
	}
	if h.Repo == "" {
		h.Repo = "faultline-conformance"
	}
	if h.Busybox == "" {
		h.Busybox = "/bin/busybox"
	}
	if h.Timeout <= 0 {
		h.Timeout = 3 * time.Minute
	}
	s := &suite{h: h, b: h.Backend, run: randomHex(4)}
	s.labels = maps.Clone(h.Labels)
	if s.labels == nil {
		s.labels = map[string]string{}
	}
	s.labels[labelRun] = s.run
	t.Cleanup(func() { s.cleanUp(t) })
	s.image = s.mustBaseImage(t)

	for _, c := range []struct {
		name string
		fn   func(*testing.T, context.Context)
	}{
		{"Unavailable", s.testUnavailable},
		{"Lifecycle", s.testLifecycle},
		{"NotFound", s.testNotFound},
		{"InvalidSpec", s.testInvalidSpec},
		{"CreateCutShort", s.testCreateCutShort},
		{"Hardening", s.testHardening},
		{"ExitAndOutput", s.testExitAndOutput},
		{"Stdin", s.testStdin},
		{"Deadline", s.testDeadline},
		{"MemoryLimit", s.testMemoryLimit},
		{"ProcessLimit", s.testProcessLimit},
		{"ForkBomb", s.testForkBomb},
		{"OutputFloodStopped", s.testOutputFloodStopped},
		{"WaitCancelled", s.testWaitCancelled},
		{"Exec", s.testExec},
		{"TTY", s.testTTY},
		{"Copy", s.testCopy},
		{"CPU", s.testCPU},
		{"ResizeCPUs", s.testResizeCPUs},
		{"Background", s.testBackground},
		{"Networks", s.testNetworks},
		{"Images", s.testImages},
	} {
		t.Run(c.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), h.Timeout)
			defer cancel()
			c.fn(t, ctx)
		})
	}
}

// cleanUp removes whatever the suite left: containers, networks, the images
// of its own repository for this run.
func (s *suite) cleanUp(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	match := map[string]string{labelRun: s.run}
	cs, err := s.b.List(ctx, match)
	if err != nil {
		t.Errorf("cleanup: list containers: %v", err)
	}
	for _, c := range cs {
		if err := s.b.Remove(ctx, c.ID); err != nil && faultline.ErrorCode(err) != faultline.ENOTFOUND {
			t.Errorf("cleanup: remove %s: %v", c.ID, err)
		}
	}
	nets, err := s.b.ListNetworks(ctx, match)
	if err != nil {
		t.Errorf("cleanup: list networks: %v", err)
	}
	for _, n := range nets {
		if err := s.b.RemoveNetwork(ctx, n.Name); err != nil && faultline.ErrorCode(err) != faultline.ENOTFOUND {
			t.Errorf("cleanup: remove network %s: %v", n.Name, err)
		}
	}
	if _, err := s.b.PruneImages(ctx, s.pruneRepo(), nil, time.Time{}); err != nil {
		t.Errorf("cleanup: prune %s: %v", s.pruneRepo(), err)
	}
}

// pruneRepo is the image repository of this run alone, for the tests that
// build and prune images (the base image's repository is shared by runs).
func (s *suite) pruneRepo() string { return s.h.Repo + "-" + s.run }

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// baseDockerfile makes the suite's image: busybox and its applets, a passwd
// naming the sandbox user, and mount points.
const baseDockerfile = `FROM scratch
COPY busybox /bin/busybox
RUN ["/bin/busybox", "--install", "-s", "/bin"]
COPY etc/ /etc/
RUN ["/bin/busybox", "mkdir", "-p", "/tmp", "/work", "/ro"]
WORKDIR /tmp
`

// mustBaseImage builds the suite's image unless the backend has it (its tag
// hashes what goes in, so runs share it), and returns its reference.
func (s *suite) mustBaseImage(t *testing.T) string {
	t.Helper()
	bb, err := os.ReadFile(s.h.Busybox)
	if err != nil {
		t.Fatalf("backendtest needs a static busybox on the host: %v", err)
	}
	files := map[string][]byte{
		"Dockerfile": []byte(baseDockerfile),
		"busybox":    bb,
		"etc/passwd": []byte("root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:learner:/tmp:/bin/sh\n"),
		"etc/group":  []byte("root:x:0:\nnogroup:x:65534:\n"),
	}
	h := sha256.New()
	for _, name := range slices.Sorted(maps.Keys(files)) {
		fmt.Fprintf(h, "%s %d\n", name, len(files[name]))
		h.Write(files[name])
	}
	ref := s.h.Repo + ":" + hex.EncodeToString(h.Sum(nil))[:16]
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	ok, err := s.b.HasImage(ctx, ref)
	if err != nil {
		t.Fatalf("HasImage %s: %v", ref, err)
	}
	if !ok {
		if err := s.b.BuildImage(ctx, ref, bytes.NewReader(mustTar(t, files)), map[string]string{labelRun: "base"}); err != nil {
			t.Fatalf("BuildImage %s: %v", ref, err)
		}
	}
	return ref
}

// mustTar returns a tar of files (folders made as needed).
func mustTar(tb testing.TB, files map[string][]byte) []byte {
	tb.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	dirs := map[string]bool{}
	for _, name := range slices.Sorted(maps.Keys(files)) {
		parts := strings.Split(name, "/")
		for i := 1; i < len(parts); i++ {
			d := strings.Join(parts[:i], "/")
			if !dirs[d] {
				dirs[d] = true
				if err := tw.WriteHeader(&tar.Header{Name: d + "/", Typeflag: tar.TypeDir, Mode: 0o755}); err != nil {
					tb.Fatal(err)
				}
			}
		}
		mode := int64(0o644)
		if name == "busybox" || strings.HasSuffix(name, ".sh") {
			mode = 0o755
		}
		if err := tw.WriteHeader(&tar.Header{Name: name, Typeflag: tar.TypeReg, Mode: mode, Size: int64(len(files[name]))}); err != nil {
			tb.Fatal(err)
		}
		if _, err := tw.Write(files[name]); err != nil {
			tb.Fatal(err)
		}
	}
	if err := tw.Close(); err != nil {
		tb.Fatal(err)
	}
	return buf.Bytes()
}

// spec returns a spec of the suite's image sleeping, with small limits and a
// /tmp and /work, changed by edit (may be nil).
func (s *suite) spec(edit func(*backend.Spec)) backend.Spec {
	sp := backend.Spec{
		Image:    s.image,
		Cmd:      []string{"sleep", "600"},
		Labels:   maps.Clone(s.labels),
		MemoryMB: 128,
		CPUs:     1,
		Pids:     256, // gVisor's own threads count too
		Tmpfs:    []backend.Tmpfs{{Path: "/tmp", SizeMB: 16}, {Path: "/work", SizeMB: 16}},
		Init:     true,
		Runtime:  s.h.Runtime,
	}
	if edit != nil {
		edit(&sp)
	}
	return sp
}

// mustCreate creates a container, removed at the end of the test.
func (s *suite) mustCreate(t *testing.T, ctx context.Context, sp backend.Spec) string {
	t.Helper()
	id, err := s.b.Create(ctx, sp)
	if err != nil {
		t.Fatalf("Create: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if err := s.b.Remove(ctx, id); err != nil && faultline.ErrorCode(err) != faultline.ENOTFOUND {
			t.Errorf("Remove %s: %v", id, err)
		}
	})
	return id
}

// mustStart creates and starts a container.
func (s *suite) mustStart(t *testing.T, ctx context.Context, sp backend.Spec) string {
	t.Helper()
	id := s.mustCreate(t, ctx, sp)
	if err := s.b.Start(ctx, id); err != nil {
		t.Fatalf("Start: %v", err)
	}
	return id
}

// mustExec runs cmd and returns its exit status and output (stdout and
// stderr together).
func (s *suite) mustExec(t *testing.T, ctx context.Context, id string, cmd ...string) (int, string) {
	t.Helper()
	var out syncBuffer
	code, err := s.b.Exec(ctx, id, backend.ExecSpec{Cmd: cmd, Stdout: &out, Stderr: &out})
	if err != nil {
		t.Fatalf("Exec %q: %v", cmd, err)
	}
	return code, out.String()
}

// mustRun creates, attaches to, starts and waits for a container, and
// returns how it ended and its output.
func (s *suite) mustRun(t *testing.T, ctx context.Context, sp backend.Spec, stdin io.Reader) (backend.Exit, string) {
	t.Helper()
	_, exit, out := s.mustRunID(t, ctx, sp, stdin)
	return exit, out
}

// mustRunID is mustRun that also returns the container's ID.
func (s *suite) mustRunID(t *testing.T, ctx context.Context, sp backend.Spec, stdin io.Reader) (string, backend.Exit, string) {
	t.Helper()
	id := s.mustCreate(t, ctx, sp)
	var out syncBuffer
	att, err := s.b.Attach(ctx, id, stdin, &out)
	if err != nil {
		t.Fatalf("Attach: %v", err)
	}
	defer att.Close()
	if err := s.b.Start(ctx, id); err != nil {
		t.Fatalf("Start: %v", err)
	}
	exit, err := s.b.Wait(ctx, id)
	if err != nil {
		t.Fatalf("Wait: %v", err)
	}
	select {
	case <-att.Done():
	case <-ctx.Done():
		t.Fatalf("the output never ended after the container did")
	}
	return id, exit, out.String()
}

// mustCode fails unless err carries code.
func mustCode(t *testing.T, what string, err error, code string) {
	t.Helper()
	if got := faultline.ErrorCode(err); got != code {
		t.Errorf("%s: code %q (%v), want %q", what, got, err, code)
	}
}

// eventually re-checks cond until it holds; ctx is only a hang guard.
func eventually(t *testing.T, ctx context.Context, what string, cond func() bool) {
	t.Helper()
	for !cond() {
		select {
		case <-ctx.Done():
			t.Fatalf("never: %s", what)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// syncBuffer is a bytes.Buffer safe for concurrent use.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (w *syncBuffer) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.Write(p)
}

func (w *syncBuffer) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.String()
}

func (w *syncBuffer) Len() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.Len()
}

// testUnavailable: every verb on an orchestrator that does not answer says
// EUNAVAILABLE, with a message for users.
func (s *suite) testUnavailable(t *testing.T, ctx context.Context) {
	u := s.h.Unavailable
	err := u.Ping(ctx)
	mustCode(t, "Ping", err, faultline.EUNAVAILABLE)
	if msg := faultline.ErrorMessage(err); msg == "" || strings.Contains(msg, "Internal") {
		t.Errorf("Ping's message %q says nothing to users", msg)
	}
	const id = "0123456789ab"
	_, err = u.Create(ctx, s.spec(nil))
	mustCode(t, "Create", err, faultline.EUNAVAILABLE)
	mustCode(t, "Start", u.Start(ctx, id), faultline.EUNAVAILABLE)
	_, err = u.Attach(ctx, id, nil, io.Discard)
	mustCode(t, "Attach", err, faultline.EUNAVAILABLE)
	_, err = u.Wait(ctx, id)
	mustCode(t, "Wait", err, faultline.EUNAVAILABLE)
	mustCode(t, "Stop", u.Stop(ctx, id), faultline.EUNAVAILABLE)
	mustCode(t, "Remove", u.Remove(ctx, id), faultline.EUNAVAILABLE)
	_, err = u.Inspect(ctx, id)
	mustCode(t, "Inspect", err, faultline.EUNAVAILABLE)
	_, err = u.List(ctx, s.labels)
	mustCode(t, "List", err, faultline.EUNAVAILABLE)
	_, err = u.Exec(ctx, id, backend.ExecSpec{Cmd: []string{"true"}})
	mustCode(t, "Exec", err, faultline.EUNAVAILABLE)
	_, err = u.ExecTTY(ctx, id, backend.TTYSpec{Cmd: []string{"sh"}})
	mustCode(t, "ExecTTY", err, faultline.EUNAVAILABLE)
	mustCode(t, "CopyIn", u.CopyIn(ctx, id, "/work", bytes.NewReader(mustTar(t, map[string][]byte{"a": []byte("a")}))), faultline.EUNAVAILABLE)
	_, err = u.CopyOut(ctx, id, "/work")
	mustCode(t, "CopyOut", err, faultline.EUNAVAILABLE)
	_, err = u.CPU(ctx, id)
	mustCode(t, "CPU", err, faultline.EUNAVAILABLE)
	mustCode(t, "CreateNetwork", u.CreateNetwork(ctx, "faultline-conformance-"+s.run, s.labels), faultline.EUNAVAILABLE)
	mustCode(t, "RemoveNetwork", u.RemoveNetwork(ctx, "faultline-conformance-"+s.run), faultline.EUNAVAILABLE)
	_, err = u.ListNetworks(ctx, s.labels)
	mustCode(t, "ListNetworks", err, faultline.EUNAVAILABLE)
	_, err = u.HasImage(ctx, s.image)
	mustCode(t, "HasImage", err, faultline.EUNAVAILABLE)
	err = u.BuildImage(ctx, s.pruneRepo()+":x", bytes.NewReader(mustTar(t, map[string][]byte{"Dockerfile": []byte("FROM scratch\n")})), nil)
	mustCode(t, "BuildImage", err, faultline.EUNAVAILABLE)
	_, err = u.PruneImages(ctx, s.pruneRepo(), nil, time.Time{})
	mustCode(t, "PruneImages", err, faultline.EUNAVAILABLE)
}

// testLifecycle: create, start, stop, remove, as Inspect and List see them.
func (s *suite) testLifecycle(t *testing.T, ctx context.Context) {
	labels := maps.Clone(s.labels)
	labels["faultline.conformance.case"] = "lifecycle"
	id := s.mustCreate(t, ctx, s.spec(func(sp *backend.Spec) { sp.Labels = labels }))

	c, err := s.b.Inspect(ctx, id)
	if err != nil {
		t.Fatalf("Inspect: %v", err)
	}
	if c.ID != id || c.Running || c.Labels["faultline.conformance.case"] != "lifecycle" || c.Labels[labelRun] != s.run {
		t.Errorf("created container: %+v, want not running with the labels", c)
	}
	_, err = s.b.Exec(ctx, id, backend.ExecSpec{Cmd: []string{"true"}})
	mustCode(t, "Exec in a container never started", err, faultline.ENOTFOUND)

	mustList := func(want bool) {
		t.Helper()
		cs, err := s.b.List(ctx, map[string]string{labelRun: s.run, "faultline.conformance.case": "lifecycle"})
		if err != nil {
			t.Fatalf("List: %v", err)
		}
		if len(cs) != 1 || cs[0].ID != id || cs[0].Running != want || cs[0].Labels["faultline.conformance.case"] != "lifecycle" {
			t.Errorf("List: %+v, want the one container, running %v", cs, want)
		}
	}
	mustList(false)
	// A label value of "" matches any value; another value matches nothing.
	if cs, err := s.b.List(ctx, map[string]string{labelRun: s.run, "faultline.conformance.case": ""}); err != nil || !slices.ContainsFunc(cs, func(c backend.Container) bool { return c.ID == id }) {
		t.Errorf("List with an empty label value: %+v, %v; want the container among them", cs, err)
	}
	if cs, err := s.b.List(ctx, map[string]string{labelRun: s.run, "faultline.conformance.case": "other"}); err != nil || len(cs) != 0 {
		t.Errorf("List with another label value: %+v, %v; want none", cs, err)
	}

	before := time.Now()
	if err := s.b.Start(ctx, id); err != nil {
		t.Fatalf("Start: %v", err)
	}
	c, err = s.b.Inspect(ctx, id)
	if err != nil || !c.Running || c.StartedAt.IsZero() || c.StartedAt.Before(before.Add(-time.Hour)) {
		t.Errorf("started container: %+v, %v; want running with its start time", c, err)
	}
	mustList(true)
	if code, out := s.mustExec(t, ctx, id, "echo", "hello"); code != 0 || out != "hello\n" {
		t.Errorf("Exec echo: %d %q", code, out)
	}

	if err := s.b.Stop(ctx, id); err != nil {
		t.Fatalf("Stop: %v", err)
	}
	exit, err := s.b.Wait(ctx, id)
	if err != nil || exit.Code != 137 || exit.OOMKilled || exit.DeadlineExceeded {
		t.Errorf("Wait after Stop: %+v, %v; want code 137 only", exit, err)
	}
	if c, err := s.b.Inspect(ctx, id); err != nil || c.Running {
		t.Errorf("stopped container: %+v, %v; want not running", c, err)
	}
	mustList(false)
	if err := s.b.Stop(ctx, id); err != nil {
		t.Errorf("Stop of a stopped container: %v", err)
	}
	_, err = s.b.Exec(ctx, id, backend.ExecSpec{Cmd: []string{"true"}})
	mustCode(t, "Exec in a stopped container", err, faultline.ENOTFOUND)

	if err := s.b.Remove(ctx, id); err != nil {
		t.Fatalf("Remove: %v", err)
	}
	_, err = s.b.Inspect(ctx, id)
	mustCode(t, "Inspect after Remove", err, faultline.ENOTFOUND)
	mustCode(t, "Remove again", s.b.Remove(ctx, id), faultline.ENOTFOUND)
	if cs, err := s.b.List(ctx, map[string]string{labelRun: s.run, "faultline.conformance.case": "lifecycle"}); err != nil || len(cs) != 0 {
		t.Errorf("List after Remove: %+v, %v", cs, err)
	}

	// Remove stops a running container first.
	id2 := s.mustStart(t, ctx, s.spec(nil))
	if err := s.b.Remove(ctx, id2); err != nil {
		t.Fatalf("Remove of a running container: %v", err)
	}
	_, err = s.b.Inspect(ctx, id2)
	mustCode(t, "Inspect after removing a running container", err, faultline.ENOTFOUND)
}

// testNotFound: every verb on a container that does not exist is ENOTFOUND.
func (s *suite) testNotFound(t *testing.T, ctx context.Context) {
	// Made and removed, so the ID is a real one that no longer exists.
	id, err := s.b.Create(ctx, s.spec(nil))
	if err != nil {
		t.Fatal(err)
	}
	if err := s.b.Remove(ctx, id); err != nil {
		t.Fatal(err)
	}
	mustCode(t, "Start", s.b.Start(ctx, id), faultline.ENOTFOUND)
	_, err = s.b.Attach(ctx, id, nil, io.Discard)
	mustCode(t, "Attach", err, faultline.ENOTFOUND)
	_, err = s.b.Wait(ctx, id)
	mustCode(t, "Wait", err, faultline.ENOTFOUND)
	mustCode(t, "Stop", s.b.Stop(ctx, id), faultline.ENOTFOUND)
	mustCode(t, "Remove", s.b.Remove(ctx, id), faultline.ENOTFOUND)
	_, err = s.b.Inspect(ctx, id)
	mustCode(t, "Inspect", err, faultline.ENOTFOUND)
	_, err = s.b.Exec(ctx, id, backend.ExecSpec{Cmd: []string{"true"}})
	mustCode(t, "Exec", err, faultline.ENOTFOUND)
	_, err = s.b.ExecTTY(ctx, id, backend.TTYSpec{Cmd: []string{"sh"}})
	mustCode(t, "ExecTTY", err, faultline.ENOTFOUND)
	mustCode(t, "CopyIn", s.b.CopyIn(ctx, id, "/work", bytes.NewReader(mustTar(t, map[string][]byte{"a": []byte("a")}))), faultline.ENOTFOUND)
	_, err = s.b.CopyOut(ctx, id, "/work")
	mustCode(t, "CopyOut", err, faultline.ENOTFOUND)
	_, err = s.b.CPU(ctx, id)
	mustCode(t, "CPU", err, faultline.ENOTFOUND)
	mustCode(t, "RemoveNetwork", s.b.RemoveNetwork(ctx, "faultline-conformance-none-"+s.run), faultline.ENOTFOUND)
}

// testInvalidSpec: a spec without limits, image or command is refused, and
// one naming a missing image or network is ENOTFOUND; nothing is left.
func (s *suite) testInvalidSpec(t *testing.T, ctx context.Context) {
	labels := maps.Clone(s.labels)
	labels["faultline.conformance.case"] = "invalid"
	for name, c := range map[string]struct {
		edit func(*backend.Spec)
		code string
	}{
		"no memory limit":  {func(sp *backend.Spec) { sp.MemoryMB = 0 }, faultline.EINVALID},
		"no CPU limit":     {func(sp *backend.Spec) { sp.CPUs = 0 }, faultline.EINVALID},
		"no process limit": {func(sp *backend.Spec) { sp.Pids = 0 }, faultline.EINVALID},
		"no image":         {func(sp *backend.Spec) { sp.Image = "" }, faultline.EINVALID},
		"no command":       {func(sp *backend.Spec) { sp.Cmd = nil }, faultline.EINVALID},
		"missing image":    {func(sp *backend.Spec) { sp.Image = s.pruneRepo() + ":never-built" }, faultline.ENOTFOUND},
		"missing network":  {func(sp *backend.Spec) { sp.Network = "faultline-conformance-none-" + s.run }, faultline.ENOTFOUND},
	} {
		id, err := s.b.Create(ctx, s.spec(func(sp *backend.Spec) { sp.Labels = labels; c.edit(sp) }))
		if err == nil {
			_ = s.b.Remove(ctx, id)
		}
		mustCode(t, "Create with "+name, err, c.code)
	}
	if cs, err := s.b.List(ctx, labels); err != nil || len(cs) != 0 {
		t.Errorf("refused creates left %+v, %v", cs, err)
	}
}

// testCreateCutShort: whenever ctx ends during Create, either Create
// returned a container or nothing is left behind.
func (s *suite) testCreateCutShort(t *testing.T, ctx context.Context) {
	labels := maps.Clone(s.labels)
	labels["faultline.conformance.case"] = "cut-short"
	made := map[string]bool{}
	for i := range 12 {
		cctx, cancel := context.WithTimeout(ctx, time.Duration(1<<i)*time.Millisecond/4)
		id, err := s.b.Create(cctx, s.spec(func(sp *backend.Spec) { sp.Labels = labels }))
		cancel()
		if err == nil {
			made[id] = true
		} else if !errors.Is(err, context.DeadlineExceeded) && !errors.Is(err, context.Canceled) {
			t.Errorf("Create cut short: %v, want ctx's error", err)
		}
	}
	cs, err := s.b.List(ctx, labels)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range cs {
		if !made[c.ID] {
			t.Errorf("a create cut short left container %s behind", c.ID)
		}
		_ = s.b.Remove(ctx, c.ID)
	}
}

// testHardening: what a process inside can do.
func (s *suite) testHardening(t *testing.T, ctx context.Context) {
	id := s.mustStart(t, ctx, s.spec(func(sp *backend.Spec) {
		sp.Env = []string{"FAULTLINE_CONFORMANCE=yes"}
		sp.WorkDir = "/work"
		sp.Hostname = "conformance"
	}))
	script := `echo "uid=$(id -u) gid=$(id -g)"
grep -E '^(CapEff|CapPrm|NoNewPrivs):' /proc/self/status
touch /rootfile 2>/dev/null && echo ROOT-WRITABLE
touch /ro/x 2>/dev/null && echo RO-WRITABLE
printf '#!/bin/sh\necho ran-from-tmpfs\n' > /tmp/x.sh && chmod +x /tmp/x.sh && /tmp/x.sh
echo w > /work/w && echo WORK-WRITABLE
echo "owner=$(stat -c %u /work/w)"
echo "env=$FAULTLINE_CONFORMANCE pwd=$(pwd) host=$(hostname)"
echo NETDEV
cat /proc/net/dev
`
	code, out := s.mustExec(t, ctx, id, "sh", "-c", script)
	if code != 0 {
		t.Fatalf("exit %d:\n%s", code, out)
	}
	// gVisor's /proc does not show NoNewPrivs; where it shows, it is set.
	if strings.Contains(out, "NoNewPrivs:") && !strings.Contains(out, "NoNewPrivs:\t1") {
		t.Errorf("new privileges allowed:\n%s", out)
	}
	for _, want := range []string{
		"uid=65534 gid=65534", "CapEff:\t0000000000000000", "CapPrm:\t0000000000000000",
		"ran-from-tmpfs", "WORK-WRITABLE", "owner=65534", "env=yes pwd=/work host=conformance",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	for _, bad := range []string{"ROOT-WRITABLE", "RO-WRITABLE"} {
		if strings.Contains(out, bad) {
			t.Errorf("%s: the root filesystem is writable:\n%s", bad, out)
		}
	}
	if s.h.PodNetwork == "" {
		if ifaces := interfaces(out); len(ifaces) != 1 || ifaces[0] != "lo" {
			t.Errorf("network interfaces %q without a network, want only lo", ifaces)
		}
		return
	}
	t.Logf("containers have a network interface: %s", s.h.PodNetwork)
	s.mustReachNothing(t, ctx, id, "a container without a network")
}

// mustReachNothing checks that container id cannot reach a server of this
// test process at any of the host's addresses (each checked reachable from
// the host) or at the container's gateway.
func (s *suite) mustReachNothing(t *testing.T, ctx context.Context, id, what string) {
	t.Helper()
	ln, err := net.Listen("tcp", ":0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			_, _ = io.WriteString(c, "hello-host\n")
			c.Close()
		}
	}()
	port := strconv.Itoa(ln.Addr().(*net.TCPAddr).Port)
	_, route := s.mustExec(t, ctx, id, "ip", "-4", "route")
	var gw string
	for _, line := range strings.Split(route, "\n") {
		if f := strings.Fields(line); len(f) >= 3 && f[0] == "default" && f[1] == "via" {
			gw = f[2]
		}
	}
	targets := hostAddrs(t)
	if len(targets) == 0 {
		t.Fatalf("cannot check the way out: the host has no address besides loopback")
	}
	for _, a := range targets {
		c, err := net.DialTimeout("tcp", net.JoinHostPort(a, port), 5*time.Second)
		if err != nil {
			t.Fatalf("cannot check the way out: the host cannot reach its own server at %s: %v", a, err)
		}
		c.Close()
	}
	if gw != "" && !slices.Contains(targets, gw) {
		targets = append(targets, gw)
	}
	for _, a := range targets {
		if _, out := s.mustExec(t, ctx, id, "sh", "-c", `nc -w 2 "$1" "$2" </dev/null; echo "rc=$?"`, "sh", a, port); strings.Contains(out, "hello-host") {
			t.Errorf("%s reached the host at %s: %q", what, a, out)
		}
	}
}

// interfaces parses the interface names after NETDEV in /proc/net/dev
// output.
func interfaces(out string) []string {
	_, dev, _ := strings.Cut(out, "NETDEV\n")
	var ifaces []string
	for _, line := range strings.Split(dev, "\n") {
		if name, _, ok := strings.Cut(line, ":"); ok && !strings.Contains(name, "|") {
			ifaces = append(ifaces, strings.TrimSpace(name))
		}
	}
	return ifaces
}

// testExitAndOutput: the exit status and both output streams come back.
func (s *suite) testExitAndOutput(t *testing.T, ctx context.Context) {
	id, exit, out := s.mustRunID(t, ctx, s.spec(func(sp *backend.Spec) {
		sp.Cmd = []string{"sh", "-c", "echo out; echo err >&2; exit 3"}
		sp.Deadline = time.Minute
	}), nil)
	if exit.Code != 3 || exit.OOMKilled || exit.DeadlineExceeded {
		t.Errorf("exit %+v, want code 3 only", exit)
	}
	if !strings.Contains(out, "out\n") || !strings.Contains(out, "err\n") {
		t.Errorf("output %q, want out and err", out)
	}
	// Wait on a container that ended returns at once, with the same.
	if again, err := s.b.Wait(ctx, id); err != nil || again != exit {
		t.Errorf("Wait again: %+v, %v; want %+v", again, err, exit)
	}
}

// testStdin: a large stdin reaches the main process whole, then ends.
func (s *suite) testStdin(t *testing.T, ctx context.Context) {
	data := bytes.Repeat([]byte("0123456789abcdef"), 1<<16) // 1 MiB
	exit, out := s.mustRun(t, ctx, s.spec(func(sp *backend.Spec) {
		sp.Cmd = []string{"sh", "-c", "wc -c"}
		sp.Stdin = true
		sp.Deadline = time.Minute
	}), bytes.NewReader(data))
	if exit.Code != 0 || strings.TrimSpace(out) != "1048576" {
		t.Errorf("exit %+v, read %q bytes of stdin; want 0 and 1048576", exit, strings.TrimSpace(out))
	}
}

// testDeadline: a container past its deadline is stopped and says so; one
// that ends in time does not.
func (s *suite) testDeadline(t *testing.T, ctx context.Context) {
	exit, _ := s.mustRun(t, ctx, s.spec(func(sp *backend.Spec) {
		sp.Cmd = []string{"sleep", "100"}
		sp.Deadline = 2 * time.Second
	}), nil)
	if !exit.DeadlineExceeded || exit.Code == 0 || exit.OOMKilled {
		t.Errorf("sleep 100 with a 2 s deadline: %+v, want DeadlineExceeded", exit)
	}
	exit, _ = s.mustRun(t, ctx, s.spec(func(sp *backend.Spec) {
		sp.Cmd = []string{"true"}
		sp.Deadline = time.Minute
	}), nil)
	if exit.DeadlineExceeded || exit.Code != 0 {
		t.Errorf("true with a minute's deadline: %+v, want a clean exit", exit)
	}
}

// testMemoryLimit: using more memory than the limit is OOMKilled.
func (s *suite) testMemoryLimit(t *testing.T, ctx context.Context) {
	exit, _ := s.mustRun(t, ctx, s.spec(func(sp *backend.Spec) {
		sp.Cmd = []string{"sh", "-c", "head -c 2000m /dev/zero | tail"}
		sp.MemoryMB = 64
		sp.Deadline = 50 * time.Second
	}), nil)
	switch {
	case exit.DeadlineExceeded || exit.Code == 0:
		t.Errorf("memory bomb: %+v, want it killed before the deadline", exit)
	case !exit.OOMKilled && s.h.LateOOM != "" && exit.Code == 137:
		t.Logf("memory bomb killed without OOMKilled: %s", s.h.LateOOM)
	case !exit.OOMKilled:
		t.Errorf("memory bomb: %+v, want OOMKilled", exit)
	}
}

// testProcessLimit: starting processes past the limit fails before the
// deadline. Where a container's processes are host processes (runc) the
// shell says it cannot fork; under gVisor the limit counts the sandbox
// kernel's own threads, and the whole container ends instead.
func (s *suite) testProcessLimit(t *testing.T, ctx context.Context) {
	exit, out := s.mustRun(t, ctx, s.spec(func(sp *backend.Spec) {
		sp.Cmd = []string{"sh", "-c", "while true; do sleep 1000 & done"}
		sp.Pids = 32
		sp.Deadline = 50 * time.Second
	}), nil)
	if exit.DeadlineExceeded || exit.Code == 0 {
		t.Errorf("process flood: %+v (%q), want it to fail before the deadline", exit, out)
	}
	if s.h.Runtime == "" && !strings.Contains(out, "can't fork") {
		t.Errorf("process flood on the default runtime: %+v (%q), want a fork failure", exit, out)
	}
}

// testForkBomb: a fork bomb ends at the deadline and the container goes.
func (s *suite) testForkBomb(t *testing.T, ctx context.Context) {
	labels := maps.Clone(s.labels)
	labels["faultline.conformance.case"] = "forkbomb"
	exit, _ := s.mustRun(t, ctx, s.spec(func(sp *backend.Spec) {
		sp.Cmd = []string{"sh", "-c", "f() { f | f & }; f; sleep 100"}
		sp.Labels = labels
		sp.Deadline = 5 * time.Second
	}), nil)
	if !exit.DeadlineExceeded && exit.Code == 0 {
		t.Errorf("fork bomb ended cleanly: %+v", exit)
	}
	cs, err := s.b.List(ctx, labels)
	if err != nil || len(cs) != 1 {
		t.Fatalf("List: %+v, %v", cs, err)
	}
	if err := s.b.Remove(ctx, cs[0].ID); err != nil {
		t.Errorf("Remove after a fork bomb: %v", err)
	}
}

// stopAfter is an output writer that stops the container once it has seen
// limit bytes, as a grading run's output cap does.
type stopAfter struct {
	syncBuffer
	limit int
	once  sync.Once
	stop  func()
}

func (w *stopAfter) Write(p []byte) (int, error) {
	n, err := w.syncBuffer.Write(p)
	if w.Len() >= w.limit {
		w.once.Do(func() { go w.stop() })
	}
	return n, err
}

// testOutputFloodStopped: Stop from the output writer ends a flood.
func (s *suite) testOutputFloodStopped(t *testing.T, ctx context.Context) {
	id := s.mustCreate(t, ctx, s.spec(func(sp *backend.Spec) {
		sp.Cmd = []string{"yes", "flood"}
		sp.Deadline = 2 * time.Minute
	}))
	out := &stopAfter{limit: 64 << 10, stop: func() { _ = s.b.Stop(context.Background(), id) }}
	att, err := s.b.Attach(ctx, id, nil, out)
	if err != nil {
		t.Fatal(err)
	}
	defer att.Close()
	if err := s.b.Start(ctx, id); err != nil {
		t.Fatal(err)
	}
	exit, err := s.b.Wait(ctx, id)
	if err != nil || exit.DeadlineExceeded || exit.Code != 137 {
		t.Errorf("flood stopped: %+v, %v; want code 137 before the deadline", exit, err)
	}
	<-att.Done()
	if !strings.HasPrefix(out.String(), "flood\nflood\n") || out.Len() < 64<<10 {
		t.Errorf("output %d bytes starting %q", out.Len(), out.String()[:min(out.Len(), 20)])
	}

	// Close ends an attachment whose process runs on.
	id2 := s.mustCreate(t, ctx, s.spec(func(sp *backend.Spec) { sp.Cmd = []string{"yes", "flood"} }))
	att2, err := s.b.Attach(ctx, id2, nil, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.b.Start(ctx, id2); err != nil {
		t.Fatal(err)
	}
	att2.Close()
	att2.Close()
	<-att2.Done()
}

// testWaitCancelled: Wait gives up with ctx, and the container runs on.
func (s *suite) testWaitCancelled(t *testing.T, ctx context.Context) {
	id := s.mustStart(t, ctx, s.spec(nil))
	wctx, cancel := context.WithTimeout(ctx, 500*time.Millisecond)
	defer cancel()
	if _, err := s.b.Wait(wctx, id); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Wait with ctx ending: %v, want ctx's error", err)
	}
	if c, err := s.b.Inspect(ctx, id); err != nil || !c.Running {
		t.Errorf("after an abandoned Wait: %+v, %v; want running", c, err)
	}
}

// testExec: exec's streams, status, stdin, environment and folder.
func (s *suite) testExec(t *testing.T, ctx context.Context) {
	id := s.mustStart(t, ctx, s.spec(func(sp *backend.Spec) { sp.Env = []string{"FROM_SPEC=spec"} }))
	var stdout, stderr syncBuffer
	code, err := s.b.Exec(ctx, id, backend.ExecSpec{
		Cmd:     []string{"sh", "-c", `echo "out $FROM_SPEC $FROM_EXEC $(pwd)"; echo err >&2; cat; exit 7`},
		Env:     []string{"FROM_EXEC=exec"},
		WorkDir: "/work",
		Stdin:   strings.NewReader("from stdin\n"),
		Stdout:  &stdout,
		Stderr:  &stderr,
	})
	if err != nil || code != 7 {
		t.Fatalf("Exec: %d, %v; want 7", code, err)
	}
	if got, want := stdout.String(), "out spec exec /work\nfrom stdin\n"; got != want {
		t.Errorf("stdout %q, want %q", got, want)
	}
	if got := stderr.String(); got != "err\n" {
		t.Errorf("stderr %q, want err", got)
	}
	// Processes an exec leaves behind run on in the container.
	if code, _ := s.mustExec(t, ctx, id, "sh", "-c", "sleep 4242 >/dev/null 2>&1 &"); code != 0 {
		t.Fatalf("background exec: %d", code)
	}
	if _, ps := s.mustExec(t, ctx, id, "ps", "-o", "args"); !strings.Contains(ps, "sleep 4242") {
		t.Errorf("the background process is gone:\n%s", ps)
	}
	// ctx ending stops the wait.
	ectx, cancel := context.WithTimeout(ctx, 500*time.Millisecond)
	defer cancel()
	if _, err := s.b.Exec(ectx, id, backend.ExecSpec{Cmd: []string{"sleep", "30"}}); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Exec with ctx ending: %v, want ctx's error", err)
	}
}

// testTTY: a command on a TTY of the size asked, resizable, that ends. The
// command reads lines rather than running an interactive shell, whose line
// editing asks the terminal questions nobody answers here.
func (s *suite) testTTY(t *testing.T, ctx context.Context) {
	id := s.mustStart(t, ctx, s.spec(nil))
	script := `echo "tty-$((6*7)) $TERM $(pwd) $(id -u)"
for i in 1 2 3; do read line; echo "size-$line: $(stty size)"; done
exit 0`
	term, err := s.b.ExecTTY(ctx, id, backend.TTYSpec{
		Cmd: []string{"sh", "-c", script}, Env: []string{"TERM=xterm-256color"}, WorkDir: "/work",
		Size: faultline.TermSize{Cols: 101, Rows: 31},
	})
	if err != nil {
		t.Fatalf("ExecTTY: %v", err)
	}
	defer term.Close()
	var out syncBuffer
	ended := make(chan error, 1)
	go func() {
		_, err := io.Copy(&out, term)
		if err == nil {
			err = io.EOF
		}
		ended <- err
	}()
	see := func(want string) {
		t.Helper()
		eventually(t, ctx, fmt.Sprintf("%q on the terminal; it shows:\n%s", want, out.String()), func() bool { return strings.Contains(out.String(), want) })
	}
	type_ := func(line string) {
		t.Helper()
		if _, err := io.WriteString(term, line+"\n"); err != nil {
			t.Fatalf("type %q: %v", line, err)
		}
	}
	see("tty-42 xterm-256color /work 65534")
	// Some engines apply the size only once the command runs.
	if err := term.Resize(ctx, faultline.TermSize{Cols: 101, Rows: 31}); err != nil {
		t.Fatalf("Resize: %v", err)
	}
	type_("a")
	see("size-a: 31 101")
	if err := term.Resize(ctx, faultline.TermSize{Cols: 132, Rows: 43}); err != nil {
		t.Fatalf("Resize: %v", err)
	}
	type_("b")
	see("size-b: 43 132")
	if err := term.Resize(ctx, faultline.TermSize{Cols: 1 << 20, Rows: -1}); err != nil {
		t.Fatalf("Resize out of bounds: %v", err)
	}
	type_("c")
	see(fmt.Sprintf("size-c: %d %d", faultline.MinTermRows, faultline.MaxTermCols))
	select {
	case err := <-ended:
		if !errors.Is(err, io.EOF) {
			t.Errorf("reading after exit: %v, want io.EOF", err)
		}
	case <-ctx.Done():
		t.Fatal("the terminal's output never ended after exit")
	}
	if err := term.Close(); err != nil {
		t.Errorf("Close: %v", err)
	}
	if err := term.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}

	// Closing a TTY whose command runs ends the reading.
	term2, err := s.b.ExecTTY(ctx, id, backend.TTYSpec{Cmd: []string{"sh", "-c", "read x"}})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { _, _ = io.Copy(io.Discard, term2); close(done) }()
	term2.Close()
	select {
	case <-done:
	case <-ctx.Done():
		t.Fatal("reading a closed TTY never ended")
	}
}

// testCopy: a tree goes in in one archive, owned by the sandbox user, and
// comes out the same; errors for what cannot be done.
func (s *suite) testCopy(t *testing.T, ctx context.Context) {
	id := s.mustStart(t, ctx, s.spec(nil))
	files := map[string][]byte{"a.txt": []byte("alpha\n"), "d/e/b.txt": []byte("beta\n")}
	for i := range 200 {
		files[fmt.Sprintf("many/f%03d.go", i)] = []byte("package many // " + strconv.Itoa(i) + "\n")
	}
	if err := s.b.CopyIn(ctx, id, "/work", bytes.NewReader(mustTar(t, files))); err != nil {
		t.Fatalf("CopyIn: %v", err)
	}
	code, out := s.mustExec(t, ctx, id, "sh", "-c", "cat /work/a.txt /work/d/e/b.txt; ls /work/many | wc -l; stat -c %u /work/d/e/b.txt /work/d")
	if code != 0 || out != "alpha\nbeta\n200\n65534\n65534\n" {
		t.Errorf("after CopyIn: exit %d, %q", code, out)
	}

	rc, err := s.b.CopyOut(ctx, id, "/work/d")
	if err != nil {
		t.Fatalf("CopyOut: %v", err)
	}
	got := map[string]string{}
	tr := tar.NewReader(rc)
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			break
		} else if err != nil {
			t.Fatalf("read CopyOut archive: %v", err)
		}
		if hdr.Typeflag == tar.TypeReg {
			b, _ := io.ReadAll(tr)
			got[hdr.Name] = string(b)
		} else {
			got[hdr.Name] = string(hdr.Typeflag)
		}
	}
	if err := rc.Close(); err != nil {
		t.Errorf("close CopyOut: %v", err)
	}
	if got["d/e/b.txt"] != "beta\n" || got["d/"] != string(tar.TypeDir) || got["d/e/"] != string(tar.TypeDir) || len(got) != 3 {
		t.Errorf("CopyOut of /work/d: %q", got)
	}

	rc, err = s.b.CopyOut(ctx, id, "/work/missing")
	if err == nil {
		_, err = io.ReadAll(rc)
		rc.Close()
	}
	mustCode(t, "CopyOut of a missing path", err, faultline.ENOTFOUND)
	if err := s.b.CopyIn(ctx, id, "/ro", bytes.NewReader(mustTar(t, map[string][]byte{"x": []byte("x")}))); err == nil {
		t.Errorf("CopyIn into the read-only root succeeded")
	}
	// A command that never reads its input does not hang CopyIn: the
	// folder does not exist.
	if err := s.b.CopyIn(ctx, id, "/work/nope", bytes.NewReader(mustTar(t, files))); err == nil {
		t.Errorf("CopyIn into a missing folder succeeded")
	}
}

// testCPU: a busy process shows in the CPU samples, an idle container not.
func (s *suite) testCPU(t *testing.T, ctx context.Context) {
	idle := s.mustStart(t, ctx, s.spec(nil))
	busy := s.mustStart(t, ctx, s.spec(func(sp *backend.Spec) {
		sp.Cmd = []string{"sh", "-c", "while :; do :; done"}
	}))
	// Samples need a previous reading: poll until one says something.
	share := func(id string) (float64, bool) {
		sm, err := s.b.CPU(ctx, id)
		if err != nil {
			t.Fatalf("CPU: %v", err)
		}
		if sm.Interval <= 0 || sm.Used < 0 {
			return 0, false
		}
		return sm.Used.Seconds() / sm.Interval.Seconds(), true
	}
	eventually(t, ctx, "a sample shows the busy loop using the CPU", func() bool {
		f, ok := share(busy)
		return ok && f >= 0.05
	})
	eventually(t, ctx, "a sample shows the idle container not using the CPU", func() bool {
		f, ok := share(idle)
		return ok && f < 0.05
	})
}

// testResizeCPUs: a backend that says it can change a running container's
// CPU limit does, in the container's own cgroup, by the time SetCPUs
// returns; a backend that cannot says so.
func (s *suite) testResizeCPUs(t *testing.T, ctx context.Context) {
	r, ok := s.b.(backend.CPUResizer)
	if !ok {
		t.Skip("this backend does not implement backend.CPUResizer")
	}
	most, err := r.ResizableCPUs(ctx, s.h.Runtime)
	if err != nil {
		t.Fatalf("ResizableCPUs: %v", err)
	}
	if most < 0 || most > 0 && most < 1 {
		t.Fatalf("ResizableCPUs = %g: want 0 or the machine's CPUs", most)
	}
	if most == 0 {
		t.Skipf("this backend cannot change the CPU limit of a container of runtime %q", s.h.Runtime)
	}
	id := s.mustStart(t, ctx, s.spec(nil))
	// The quota over the period, from cgroup v2's cpu.max or v1's files.
	cpus := func() float64 {
		t.Helper()
		code, out := s.mustExec(t, ctx, id, "sh", "-c",
			"cat /sys/fs/cgroup/cpu.max 2>/dev/null || echo $(cat /sys/fs/cgroup/cpu/cpu.cfs_quota_us) $(cat /sys/fs/cgroup/cpu/cpu.cfs_period_us)")
		var quota, period float64
		if _, err := fmt.Sscan(out, &quota, &period); code != 0 || err != nil || period <= 0 {
			t.Fatalf("read the CPU limit: exit %d, %q (%v)", code, out, err)
		}
		return quota / period
	}
	if got := cpus(); got != 1 {
		t.Fatalf("created with 1 CPU, the cgroup says %g", got)
	}
	if err := r.SetCPUs(ctx, id, 0.5); err != nil {
		t.Fatalf("SetCPUs: %v", err)
	}
	if got := cpus(); got != 0.5 {
		t.Errorf("after SetCPUs(0.5) the cgroup says %g CPUs", got)
	}
	mustCode(t, "SetCPUs of a container that does not exist", r.SetCPUs(ctx, "faultline-no-such-container", 1), faultline.ENOTFOUND)
}

// testBackground: a Background container's CPU weight, in its own cgroup,
// is at most half that of a container without it (about a quarter is
// asked for), and its CPU limit is the same.
func (s *suite) testBackground(t *testing.T, ctx context.Context) {
	if s.h.NoCgroup != "" {
		t.Skip(s.h.NoCgroup)
	}
	if s.h.NoBackground != "" {
		t.Skip(s.h.NoBackground)
	}
	read := func(id string) (weight, quota float64) {
		t.Helper()
		// cgroup v2's cpu.weight and cpu.max, or v1's shares, quota and period.
		code, out := s.mustExec(t, ctx, id, "sh", "-c",
			"if [ -e /sys/fs/cgroup/cpu.weight ]; then cat /sys/fs/cgroup/cpu.weight /sys/fs/cgroup/cpu.max; "+
				"else cd /sys/fs/cgroup/cpu && cat cpu.shares cpu.cfs_quota_us cpu.cfs_period_us; fi")
		var period float64
		if _, err := fmt.Sscan(out, &weight, &quota, &period); code != 0 || err != nil || period <= 0 || weight <= 0 {
			t.Fatalf("read the CPU weight and limit: exit %d, %q (%v)", code, out, err)
		}
		return weight, quota / period
	}
	bg := s.spec(nil)
	bg.Background = true
	fw, fq := read(s.mustStart(t, ctx, s.spec(nil)))
	bw, bq := read(s.mustStart(t, ctx, bg))
	if bw > fw/2 {
		t.Errorf("CPU weight %g in the background against %g without: want at most half", bw, fw)
	}
	if bq != fq {
		t.Errorf("CPU limit %g in the background against %g without: want the same", bq, fq)
	}
}

// testNetworks: a private network links its containers and nothing else.
func (s *suite) testNetworks(t *testing.T, ctx context.Context) {
	if s.h.NoNetworks != "" {
		t.Skip(s.h.NoNetworks)
	}
	netA, netB := "faultline-conformance-a-"+s.run, "faultline-conformance-b-"+s.run
	labels := maps.Clone(s.labels)
	labels["faultline.conformance.case"] = "networks"
	for _, n := range []string{netA, netB} {
		if err := s.b.CreateNetwork(ctx, n, labels); err != nil {
			t.Fatalf("CreateNetwork %s: %v", n, err)
		}
	}
	mustCode(t, "CreateNetwork of an existing name", s.b.CreateNetwork(ctx, netA, labels), faultline.ECONFLICT)
	nets, err := s.b.ListNetworks(ctx, labels)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, n := range nets {
		names = append(names, n.Name)
		if n.Labels["faultline.conformance.case"] != "networks" {
			t.Errorf("network %s labels %v", n.Name, n.Labels)
		}
	}
	slices.Sort(names)
	if !slices.Equal(names, []string{netA, netB}) {
		t.Errorf("ListNetworks: %q, want %q", names, []string{netA, netB})
	}

	on := func(n string) func(*backend.Spec) { return func(sp *backend.Spec) { sp.Network = n } }
	a1, a2 := s.mustStart(t, ctx, s.spec(on(netA))), s.mustStart(t, ctx, s.spec(on(netA)))
	b1 := s.mustStart(t, ctx, s.spec(on(netB)))
	addr := func(id string) string {
		t.Helper()
		_, out := s.mustExec(t, ctx, id, "ip", "-4", "-o", "addr", "show")
		for _, line := range strings.Split(out, "\n") {
			if f := strings.Fields(line); len(f) >= 4 && f[1] != "lo" && f[2] == "inet" {
				a, _, _ := strings.Cut(f[3], "/")
				return a
			}
		}
		t.Fatalf("container %s has no address on its network:\n%s", id, out)
		return ""
	}
	ipA1 := addr(a1)
	// A server in a1 answers every connection with its name.
	if code, out := s.mustExec(t, ctx, a1, "sh", "-c", `nc -ll -p 7000 -e echo hello-a1 </dev/null >/dev/null 2>&1 &`); code != 0 {
		t.Fatalf("start server: %d %s", code, out)
	}
	connect := `i=0; while [ $i -lt 50 ]; do i=$((i+1)); out=$(nc -w 3 "$1" "$2" </dev/null 2>&1) && [ -n "$out" ] && { echo "got:$out"; exit 0; }; sleep 0.1; done; echo "last: $out"; exit 1`
	for name, id := range map[string]string{"a1 itself": a1, "a2 on the same network": a2} {
		if code, out := s.mustExec(t, ctx, id, "sh", "-c", connect, "sh", ipA1, "7000"); code != 0 || !strings.Contains(out, "got:hello-a1") {
			t.Errorf("%s cannot reach a1's server at %s: %d %q", name, ipA1, code, out)
		}
	}
	if _, out := s.mustExec(t, ctx, b1, "sh", "-c", `nc -w 3 "$1" 7000 </dev/null; echo "rc=$?"`, "sh", ipA1); strings.Contains(out, "hello-a1") || strings.Contains(out, "rc=0") {
		t.Errorf("b1 on another network reached a1: %q", out)
	}

	// Nothing outside the network is reached.
	s.mustReachNothing(t, ctx, a1, "a container on a private network")

	// A network in use cannot go; once its containers are, it can.
	if err := s.b.RemoveNetwork(ctx, netB); err == nil {
		t.Errorf("RemoveNetwork of a network in use succeeded")
	}
	for _, id := range []string{a1, a2, b1} {
		if err := s.b.Remove(ctx, id); err != nil {
			t.Fatal(err)
		}
	}
	for _, n := range []string{netA, netB} {
		if err := s.b.RemoveNetwork(ctx, n); err != nil {
			t.Errorf("RemoveNetwork %s: %v", n, err)
		}
		mustCode(t, "RemoveNetwork again", s.b.RemoveNetwork(ctx, n), faultline.ENOTFOUND)
	}
	if nets, err := s.b.ListNetworks(ctx, labels); err != nil || len(nets) != 0 {
		t.Errorf("networks left: %+v, %v", nets, err)
	}
}

// hostAddrs returns the host's IPv4 addresses other than loopback.
func hostAddrs(t *testing.T) []string {
	t.Helper()
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, a := range addrs {
		if ipn, ok := a.(*net.IPNet); ok && ipn.IP.To4() != nil && !ipn.IP.IsLoopback() {
			out = append(out, ipn.IP.String())
		}
	}
	return out
}

// testImages: a built image runs; a failed build says why and leaves no
// image; pruning spares what is kept, used or young.
func (s *suite) testImages(t *testing.T, ctx context.Context) {
	repo := s.pruneRepo()
	build := func(tag, content string) string {
		t.Helper()
		ref := repo + ":" + tag
		err := s.b.BuildImage(ctx, ref, bytes.NewReader(mustTar(t, map[string][]byte{
			"Dockerfile": []byte("FROM " + s.image + "\nCOPY f /f\n"),
			"f":          []byte(content),
		})), map[string]string{labelRun: s.run})
		if err != nil {
			t.Fatalf("BuildImage %s: %v", ref, err)
		}
		return ref
	}
	has := func(ref string) bool {
		t.Helper()
		ok, err := s.b.HasImage(ctx, ref)
		if err != nil {
			t.Fatalf("HasImage %s: %v", ref, err)
		}
		return ok
	}
	if has(repo + ":old") {
		t.Fatalf("HasImage of an image never built")
	}
	before := time.Now().Add(-time.Hour)
	old, inUse, kept := build("old", "old "+s.run), build("inuse", "in use "+s.run), build("kept", "kept "+s.run)
	if !has(old) || !has(inUse) || !has(kept) {
		t.Fatalf("built images missing")
	}
	_, out := s.mustRun(t, ctx, s.spec(func(sp *backend.Spec) {
		sp.Image = inUse
		sp.Cmd = []string{"cat", "/f"}
	}), nil) // its container stays until the test ends: the image is in use
	if out != "in use "+s.run {
		t.Errorf("a container of the built image reads %q", out)
	}

	err := s.b.BuildImage(ctx, repo+":broken", bytes.NewReader(mustTar(t, map[string][]byte{
		"Dockerfile": []byte("FROM " + s.image + "\nRUN [\"/bin/sh\", \"-c\", \"echo the-build-says-no; exit 3\"]\n"),
	})), map[string]string{labelRun: s.run})
	if err == nil || faultline.ErrorCode(err) != faultline.EINTERNAL || !strings.Contains(err.Error(), "the-build-says-no") {
		t.Errorf("failed build: %v; want an internal error with the build's output", err)
	}
	if has(repo + ":broken") {
		t.Errorf("a failed build left an image")
	}

	// Images built after "before" are all young.
	if removed, err := s.b.PruneImages(ctx, repo, nil, before); err != nil || len(removed) != 0 {
		t.Errorf("PruneImages of young images: %q, %v; want none", removed, err)
	}
	removed, err := s.b.PruneImages(ctx, repo, []string{kept}, time.Now().Add(time.Hour))
	if err != nil || !slices.Equal(removed, []string{old}) {
		t.Errorf("PruneImages: %q, %v; want %q", removed, err, old)
	}
	if has(old) || !has(inUse) || !has(kept) {
		t.Errorf("after pruning: old %v, in use %v, kept %v; want false, true, true", has(old), has(inUse), has(kept))
	}
	if !has(s.image) {
		t.Errorf("pruning %s removed an image of another repository", repo)
	}
}
