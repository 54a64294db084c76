package docker

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"slices"
	"testing"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/image"
	"github.com/docker/docker/api/types/network"

	"github.com/faultline-dev/faultline"
	"github.com/faultline-dev/faultline/sandbox/backend"
	"github.com/faultline-dev/faultline/sandbox/backend/backendtest"
)

// These tests run against the real Docker engine on the default socket.
// Everything they create carries labelTest=testRun and is removed at the
// end.

const labelTest = "faultline.test"

var (
	testBackend *Backend
	testRun     string
)

func TestMain(m *testing.M) {
	var b [4]byte
	_, _ = rand.Read(b[:])
	testRun = hex.EncodeToString(b[:])
	level := slog.LevelWarn
	if os.Getenv("SANDBOX_TEST_DEBUG") != "" {
		level = slog.LevelDebug
	}
	var err error
	testBackend, err = New("", slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level})))
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	code := m.Run()
	// Belt and braces: remove whatever this run left behind.
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	match := map[string]string{labelTest: testRun}
	if cs, err := testBackend.List(ctx, match); err == nil {
		for _, c := range cs {
			_ = testBackend.Remove(ctx, c.ID)
		}
	}
	if nets, err := testBackend.ListNetworks(ctx, match); err == nil {
		for _, n := range nets {
			_ = testBackend.RemoveNetwork(ctx, n.Name)
		}
	}
	testBackend.Close()
	os.Exit(code)
}

// harness runs the conformance suite on runtime.
func harness(t *testing.T, runtime string) backendtest.Harness {
	dead, err := New("unix:///nonexistent/faultline-docker.sock", slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { dead.Close() })
	return backendtest.Harness{
		Backend:     testBackend,
		Unavailable: dead,
		Runtime:     runtime,
		Labels:      map[string]string{labelTest: testRun},
	}
}

// TestConformance runs the backend conformance suite on the engine's
// default runtime (runc).
func TestConformance(t *testing.T) {
	backendtest.Run(t, harness(t, ""))
}

// TestConformanceGVisor runs the conformance suite on gVisor where the
// engine has it registered as runsc, which `make test` arranges
// (scripts/ensure.sh gvisor) on machines that can install it.
func TestConformanceGVisor(t *testing.T) {
	ok, err := testBackend.HasRuntime(context.Background(), "runsc")
	if err != nil {
		t.Fatalf("engine info: %v", err)
	}
	if !ok {
		t.Skip("gVisor is not registered with this Docker engine as runsc (scripts/ensure.sh gvisor docker registers it when it starts the engine)")
	}
	h := harness(t, "runsc")
	h.LateOOM = "runsc's shim may report the memory kill after the exit, which the engine then records without OOMKilled (seen on a loaded machine)"
	h.NoCgroup = "gVisor shows its containers no cgroup filesystem (runsc applies the weight to the host cgroup it runs the sandbox in, where the engine put it)"
	h.NoNetworks = "gVisor is registered with its own network off (runsc --network=none, see the README), so its containers have loopback only: private networks need the default runtime"
	backendtest.Run(t, h)
}

// TestHasRuntime: runc is always there, a made-up name never.
func TestHasRuntime(t *testing.T) {
	ctx := mustContext(t, time.Minute)
	if ok, err := testBackend.HasRuntime(ctx, "runc"); err != nil || !ok {
		t.Errorf("HasRuntime(runc) = %v, %v", ok, err)
	}
	if ok, err := testBackend.HasRuntime(ctx, "faultline-no-such-runtime"); err != nil || ok {
		t.Errorf("HasRuntime of a made-up runtime = %v, %v", ok, err)
	}
}

func mustContext(tb testing.TB, d time.Duration) context.Context {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), d)
	tb.Cleanup(cancel)
	return ctx
}

// mustTar returns a tar of name->content (busybox executable).
func mustTar(tb testing.TB, files map[string]string) []byte {
	tb.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for name, content := range files {
		mode := int64(0o644)
		if name == "busybox" {
			mode = 0o755
		}
		if err := tw.WriteHeader(&tar.Header{Name: name, Mode: mode, Size: int64(len(content)), Typeflag: tar.TypeReg}); err != nil {
			tb.Fatal(err)
		}
		if _, err := tw.Write([]byte(content)); err != nil {
			tb.Fatal(err)
		}
	}
	if err := tw.Close(); err != nil {
		tb.Fatal(err)
	}
	return buf.Bytes()
}

// mustTinyImage builds a one-file image from scratch tagged ref, its content
// unique to ref (so every ref is a distinct image), and removes it at the
// end of the test.
func mustTinyImage(t *testing.T, ctx context.Context, ref string) string {
	t.Helper()
	err := testBackend.BuildImage(ctx, ref, bytes.NewReader(mustTar(t, map[string]string{
		"Dockerfile": "FROM scratch\nCOPY f /f\n",
		"f":          ref + " " + testRun + "\n",
	})), map[string]string{labelTest: testRun})
	if err != nil {
		t.Fatalf("build %s: %v", ref, err)
	}
	t.Cleanup(func() {
		_, _ = testBackend.cli.ImageRemove(context.Background(), ref, image.RemoveOptions{Force: true, PruneChildren: true})
	})
	return ref
}

// TestContainerConfig: what the engine records for a container, the
// hardening included, and the network a spec names.
func TestContainerConfig(t *testing.T) {
	ctx := mustContext(t, 2*time.Minute)
	img := mustTinyImage(t, ctx, "faultline-dockertest-"+testRun+":config")
	net := "faultline-dockertest-" + testRun
	if err := testBackend.CreateNetwork(ctx, net, map[string]string{labelTest: testRun}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = testBackend.RemoveNetwork(context.Background(), net) })
	for _, c := range []struct {
		name    string
		network string
		mode    string
	}{{"no network", "", "none"}, {"private network", net, net}} {
		t.Run(c.name, func(t *testing.T) {
			id, err := testBackend.Create(ctx, backend.Spec{
				Image: img, Cmd: []string{"/f"}, Labels: map[string]string{labelTest: testRun},
				MemoryMB: 100, CPUs: 0.5, Pids: 33, Tmpfs: []backend.Tmpfs{{Path: "/work", SizeMB: 7}},
				Init: true, Network: c.network, Hostname: "h",
			})
			if err != nil {
				t.Fatal(err)
			}
			defer testBackend.Remove(context.Background(), id)
			info, err := testBackend.cli.ContainerInspect(ctx, id)
			if err != nil {
				t.Fatal(err)
			}
			hc, cfg := info.HostConfig, info.Config
			if string(hc.NetworkMode) != c.mode || cfg.NetworkDisabled != (c.network == "") {
				t.Errorf("network mode %q, disabled %v; want %q", hc.NetworkMode, cfg.NetworkDisabled, c.mode)
			}
			if !hc.ReadonlyRootfs || !slices.Equal(hc.CapDrop, []string{"ALL"}) || !slices.Contains(hc.SecurityOpt, "no-new-privileges") ||
				hc.LogConfig.Type != "none" || hc.IpcMode != "private" || cfg.User != "65534:65534" || hc.Privileged || len(hc.Binds) != 0 || len(hc.Mounts) != 0 {
				t.Errorf("not hardened: %+v %+v", hc, cfg)
			}
			if hc.Memory != 100<<20 || hc.MemorySwap != hc.Memory || hc.NanoCPUs != 5e8 || hc.PidsLimit == nil || *hc.PidsLimit != 33 {
				t.Errorf("limits: memory %d swap %d cpus %d pids %v", hc.Memory, hc.MemorySwap, hc.NanoCPUs, hc.PidsLimit)
			}
			if hc.Tmpfs["/work"] != "rw,exec,nosuid,nodev,size=7m,mode=1777,uid=65534,gid=65534" || hc.Init == nil || !*hc.Init || cfg.Hostname != "h" {
				t.Errorf("tmpfs %q, init %v, hostname %q", hc.Tmpfs, hc.Init, cfg.Hostname)
			}
		})
	}
}

// TestCreateNetworkConfig: a network is an internal bridge with
// inter-container traffic on, masquerading off and no address of the host on
// it, carrying its labels.
func TestCreateNetworkConfig(t *testing.T) {
	ctx := mustContext(t, time.Minute)
	name := "faultline-dockertest-net-" + testRun
	labels := map[string]string{labelTest: testRun, "faultline.kind": "sandbox"}
	if err := testBackend.CreateNetwork(ctx, name, labels); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = testBackend.RemoveNetwork(context.Background(), name) })
	nw, err := testBackend.cli.NetworkInspect(ctx, name, network.InspectOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if !nw.Internal || nw.Driver != "bridge" || nw.Options["com.docker.network.bridge.enable_icc"] != "true" ||
		nw.Options["com.docker.network.bridge.enable_ip_masquerade"] != "false" || nw.Options["com.docker.network.bridge.inhibit_ipv4"] != "true" ||
		nw.Labels["faultline.kind"] != "sandbox" {
		t.Errorf("network %+v is not an internal bridge without a host address, with the labels", nw)
	}
}

// TestDeadlineWithoutWait: a container past its deadline is killed even
// when nobody waits for it, Wait afterwards says why, and Remove drops the
// timer.
func TestDeadlineWithoutWait(t *testing.T) {
	ctx := mustContext(t, 2*time.Minute)
	bb, err := os.ReadFile("/bin/busybox")
	if err != nil {
		t.Fatal(err)
	}
	ref := "faultline-dockertest-" + testRun + ":busybox"
	err = testBackend.BuildImage(ctx, ref, bytes.NewReader(mustTar(t, map[string]string{
		"Dockerfile": "FROM scratch\nCOPY busybox /bin/busybox\n",
		"busybox":    string(bb),
	})), map[string]string{labelTest: testRun})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_, _ = testBackend.cli.ImageRemove(context.Background(), ref, image.RemoveOptions{Force: true, PruneChildren: true})
	})
	id, err := testBackend.Create(ctx, backend.Spec{
		Image: ref, Cmd: []string{"/bin/busybox", "sleep", "100"}, Labels: map[string]string{labelTest: testRun},
		MemoryMB: 64, CPUs: 1, Pids: 8, Deadline: time.Second,
	})
	if err != nil {
		t.Fatal(err)
	}
	defer testBackend.Remove(context.Background(), id)
	if err := testBackend.Start(ctx, id); err != nil {
		t.Fatal(err)
	}
	for {
		c, err := testBackend.Inspect(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		if !c.Running {
			break
		}
		select {
		case <-ctx.Done():
			t.Fatal("the container outlived its deadline")
		case <-time.After(100 * time.Millisecond):
		}
	}
	if exit, err := testBackend.Wait(ctx, id); err != nil || !exit.DeadlineExceeded || exit.Code != 137 {
		t.Errorf("Wait after the deadline: %+v, %v", exit, err)
	}
	if err := testBackend.Remove(ctx, id); err != nil {
		t.Fatal(err)
	}
	testBackend.mu.Lock()
	_, left := testBackend.deadlines[id]
	testBackend.mu.Unlock()
	if left {
		t.Errorf("Remove left the container's deadline behind")
	}
}

// TestPruneImages: PruneImages removes old unused tags of its repository
// only, sparing kept ones, ones a container uses (running or not, and
// every tag of such an image) and young ones.
func TestPruneImages(t *testing.T) {
	ctx := mustContext(t, 3*time.Minute)
	// A repository of this test's own: the real lab images are in use by
	// other tests and portals on this engine.
	repo := "faultline-lab-prunetest-" + testRun
	current := mustTinyImage(t, ctx, repo+":current")
	old := mustTinyImage(t, ctx, repo+":old")
	inUse := mustTinyImage(t, ctx, repo+":inuse")
	alias := repo + ":alias-of-current" // a second tag of the kept image
	// A second tag of the image in use: the engine would untag it without a
	// word, so only PruneImages' own check keeps it.
	inUseAlias := repo + ":alias-of-inuse"
	for src, dst := range map[string]string{current: alias, inUse: inUseAlias} {
		if err := testBackend.cli.ImageTag(ctx, src, dst); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _, _ = testBackend.cli.ImageRemove(context.Background(), dst, image.RemoveOptions{}) })
	}

	// A stopped container made from inUse: an image "in use" need not run.
	c, err := testBackend.cli.ContainerCreate(ctx, &container.Config{Image: inUse, Cmd: []string{"/f"}, Labels: map[string]string{labelTest: testRun}},
		&container.HostConfig{NetworkMode: "none"}, nil, nil, "")
	if err != nil {
		t.Fatalf("create container: %v", err)
	}
	t.Cleanup(func() { _ = testBackend.Remove(context.Background(), c.ID) })

	keep := []string{current}
	// Everything here was built just now: nothing is older than an hour ago.
	if removed, err := testBackend.PruneImages(ctx, repo, keep, time.Now().Add(-time.Hour)); err != nil || len(removed) != 0 {
		t.Fatalf("before an hour ago: removed %q, %v; want nothing", removed, err)
	}
	// Built before an hour from now: the old ones may go.
	removed, err := testBackend.PruneImages(ctx, repo, keep, time.Now().Add(time.Hour))
	if err != nil {
		t.Fatalf("PruneImages: %v", err)
	}
	slices.Sort(removed)
	if want := []string{alias, old}; !slices.Equal(removed, want) {
		t.Errorf("removed %q, want %q", removed, want)
	}
	for ref, want := range map[string]bool{current: true, inUse: true, inUseAlias: true, old: false, alias: false} {
		if got, err := testBackend.HasImage(ctx, ref); err != nil || got != want {
			t.Errorf("after pruning, %s exists = %v (%v), want %v", ref, got, err, want)
		}
	}

	// Once its container is gone, the unused image goes too; the kept one
	// never does.
	if err := testBackend.Remove(ctx, c.ID); err != nil {
		t.Fatal(err)
	}
	removed, err = testBackend.PruneImages(ctx, repo, keep, time.Time{})
	slices.Sort(removed)
	if want := []string{inUseAlias, inUse}; err != nil || !slices.Equal(removed, want) {
		t.Fatalf("after removing the container: removed %q, %v; want %q", removed, err, want)
	}
	if ok, err := testBackend.HasImage(ctx, current); err != nil || !ok {
		t.Errorf("the kept image %s was removed: %v", current, err)
	}
	if removed, err := testBackend.PruneImages(ctx, repo, keep, time.Time{}); err != nil || len(removed) != 0 {
		t.Errorf("pruning again: removed %q, %v; want nothing", removed, err)
	}
}

// TestCPUSample: a stats reading becomes a sample; one without a previous
// reading says nothing.
func TestCPUSample(t *testing.T) {
	var s container.StatsResponse
	if got := cpuSample(s); got != (backend.CPUSample{}) {
		t.Errorf("empty reading: %+v", got)
	}
	s.PreRead = time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	s.Read = s.PreRead.Add(time.Second)
	s.PreCPUStats.CPUUsage.TotalUsage = uint64(5 * time.Second)
	s.CPUStats.CPUUsage.TotalUsage = uint64(5*time.Second + 300*time.Millisecond)
	if got, want := cpuSample(s), (backend.CPUSample{Used: 300 * time.Millisecond, Interval: time.Second}); got != want {
		t.Errorf("sample %+v, want %+v", got, want)
	}
	s.CPUStats.CPUUsage.TotalUsage = 0 // the counter went back: a restarted container
	if got := cpuSample(s); got != (backend.CPUSample{}) {
		t.Errorf("reading with a counter gone back: %+v", got)
	}
}

// TestErrorCodes: the engine's answers map to the interface's codes.
func TestErrorCodes(t *testing.T) {
	ctx := mustContext(t, time.Minute)
	_, err := testBackend.Inspect(ctx, "faultline-no-such-container-"+testRun)
	if faultline.ErrorCode(err) != faultline.ENOTFOUND {
		t.Errorf("Inspect of a missing container: %v", err)
	}
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := testBackend.List(cctx, nil); !errors.Is(err, context.Canceled) || faultline.ErrorCode(err) == faultline.EUNAVAILABLE {
		t.Errorf("List with a cancelled context: %v, want ctx's error", err)
	}
}
