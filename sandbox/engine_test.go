package sandbox

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/faultline-dev/faultline"
	"github.com/faultline-dev/faultline/sandbox/docker"
)

var faultlineLimitsSmall = faultline.Limits{Time: 60 * time.Second, MemoryMB: 256, CPUs: 1, Pids: 64}

func TestPing(t *testing.T) {
	if err := testEngine.Ping(MustContext(t, 10*time.Second)); err != nil {
		t.Fatalf("Ping: %v", err)
	}
}

// MustDeadEngine returns an Engine on a Docker backend whose engine does not
// answer.
func MustDeadEngine(tb testing.TB) *Engine {
	tb.Helper()
	b, err := docker.New("unix:///nonexistent/faultline-docker.sock", slog.New(slog.DiscardHandler))
	if err != nil {
		tb.Fatal(err)
	}
	e := New(b, slog.New(slog.DiscardHandler))
	tb.Cleanup(func() { e.Close() })
	return e
}

func TestEngineUnavailable(t *testing.T) {
	e := MustDeadEngine(t)
	ctx := MustContext(t, 10*time.Second)
	err := e.Ping(ctx)
	if faultline.ErrorCode(err) != faultline.EUNAVAILABLE {
		t.Fatalf("Ping on a dead socket: code %q (%v), want %q", faultline.ErrorCode(err), err, faultline.EUNAVAILABLE)
	}
	if !strings.Contains(faultline.ErrorMessage(err), "container engine is not reachable") {
		t.Errorf("message %q does not say the engine is unreachable", faultline.ErrorMessage(err))
	}
	if _, err := e.Run(ctx, RunSpec{Image: "x", Cmd: []string{"true"}}); faultline.ErrorCode(err) != faultline.EUNAVAILABLE {
		t.Errorf("Run on a dead socket: code %q (%v)", faultline.ErrorCode(err), err)
	}
	if _, err := e.LabImage(ctx, nil); faultline.ErrorCode(err) != faultline.EUNAVAILABLE {
		t.Errorf("LabImage on a dead socket: code %q (%v)", faultline.ErrorCode(err), err)
	}
	if _, err := e.RemoveOrphans(ctx, KindGrade, nil); faultline.ErrorCode(err) != faultline.EUNAVAILABLE {
		t.Errorf("RemoveOrphans on a dead socket: code %q (%v)", faultline.ErrorCode(err), err)
	}
}

func TestLabImageReused(t *testing.T) {
	tag := MustLabImage(t)
	if !strings.HasPrefix(tag, LabImageRepo+":") || len(tag) != len(LabImageRepo)+1+16 {
		t.Fatalf("tag %q is not faultline-lab:<16 hex>", tag)
	}
	// A fresh Engine (no memory of the first) finds the existing image and
	// builds nothing, even with concurrent callers and the warm list in
	// another order with duplicates.
	b, err := docker.New("", slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	e := New(b, slog.New(slog.DiscardHandler))
	defer e.Close()
	ctx := MustContext(t, time.Minute)
	warm := append([]string{"time", "testing", "time"}, testWarm...)
	var wg sync.WaitGroup
	tags := make([]string, 4)
	errs := make([]error, 4)
	for i := range tags {
		wg.Add(1)
		go func() {
			defer wg.Done()
			tags[i], errs[i] = e.LabImage(ctx, warm)
		}()
	}
	wg.Wait()
	for i := range tags {
		if errs[i] != nil || tags[i] != tag {
			t.Errorf("call %d: %q, %v; want %q", i, tags[i], errs[i], tag)
		}
	}
	if n := e.buildCount.Load(); n != 0 {
		t.Errorf("%d builds for an image that exists", n)
	}
	// A different warm list is a different image.
	other, err := e.recipeTag(append([]string{"net/http"}, testWarm...))
	if err != nil {
		t.Fatal(err)
	}
	if other == tag {
		t.Errorf("warm list change kept tag %q", tag)
	}
	if _, err := e.LabImage(ctx, []string{"bad path; rm -rf /"}); err == nil {
		t.Errorf("LabImage accepted a malformed warm entry")
	}
}

func TestLabImageContents(t *testing.T) {
	tag := MustLabImage(t)
	labels := testLabels(t, KindGrade)
	res, err := testEngine.Run(MustContext(t, 2*time.Minute), RunSpec{
		Image: tag, Labels: labels, Limits: faultlineLimitsSmall,
		Cmd: []string{"sh", "-c", `ls /usr/local/go/test /usr/local/go/api 2>&1; ` +
			`find /usr/local/go/src -name testdata -o -name '*_test.go' | head -3; ` +
			`echo test2json=$(test -x /usr/local/bin/test2json && echo ok); ` +
			`echo labkit=$(test -f /labkit/go.mod && ls /opt/faultline/goproxy/github.com/anishathalye/porcupine/@v/*.zip >/dev/null && echo ok); ` +
			`echo cache=$(ls /opt/faultline/gocache | wc -l); ` +
			`touch /opt/faultline/gocache/x 2>/dev/null && echo CACHE-WRITABLE; env | sort`},
	})
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	out := string(res.Output)
	for _, want := range []string{"/usr/local/go/test: No such file", "/usr/local/go/api: No such file", "test2json=ok",
		"GOCACHE=/opt/faultline/gocache", "GOTOOLCHAIN=local", "GOPROXY=file:///opt/faultline/goproxy", "GOSUMDB=off",
		"GOMODCACHE=/tmp/gomodcache", "CGO_ENABLED=0", "HOME=/tmp", "GOFLAGS=-mod=mod", "labkit=ok"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "testdata") || strings.Contains(out, "_test.go") || strings.Contains(out, "CACHE-WRITABLE") {
		t.Errorf("image has test data or a writable cache:\n%s", out)
	}
	if strings.Contains(out, "cache=0") {
		t.Errorf("empty GOCACHE:\n%s", out)
	}
	MustNoContainers(t, labels)
}

// testModule is a tiny lab-like module: one passing, one failing test.
var testModule = map[string]string{
	"go.mod":  "module faultline.dev/labs/tiny\n\ngo 1.22\n",
	"tiny.go": "package tiny\n\nimport \"sync\"\n\nvar mu sync.Mutex\n\n// Add adds.\nfunc Add(a, b int) int { mu.Lock(); defer mu.Unlock(); return a + b }\n",
	"tiny_test.go": "package tiny\n\nimport \"testing\"\n\nfunc TestAdd(t *testing.T) {\n\tif Add(1, 2) != 3 {\n\t\tt.Fatal(\"add\")\n\t}\n}\n\n" +
		"func TestWrong(t *testing.T) {\n\tif Add(1, 1) != 3 {\n\t\tt.Fatal(\"1+1 is not 3\")\n\t}\n}\n",
}

func TestRunGoTestSandboxed(t *testing.T) {
	tag := MustLabImage(t)
	labels := testLabels(t, KindGrade)
	script := `set -e
mkdir -p /tmp/g/lab /tmp/bin && cd /tmp/g/lab && tar -x -f -
go test -c -vet=off -o /tmp/bin/visible.test .
set +e
/tmp/bin/visible.test -test.v=test2json -test.count=1 | test2json -t -p visible
echo "uid=$(id -u)"
touch /rootfile 2>&1 || echo ROOT-READONLY
echo x > /tmp/ok && echo TMP-WRITABLE
echo NETDEV
cat /proc/net/dev
`
	res, err := testEngine.Run(MustContext(t, 2*time.Minute), RunSpec{
		Image: tag, Labels: labels, Limits: faultline.Limits{Time: 60 * time.Second},
		Stdin: bytes.NewReader(MustTar(t, testModule)),
		Cmd:   []string{"sh", "-c", script},
	})
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	out := string(res.Output)
	if res.TimedOut || res.OOMKilled || res.OutputExceeded {
		t.Fatalf("limits hit: %+v\n%s", res, out)
	}
	for _, want := range []string{
		`"Action":"pass","Package":"visible","Test":"TestAdd"`,
		`"Action":"fail","Package":"visible","Test":"TestWrong"`,
		"uid=65534", "ROOT-READONLY", "/rootfile: Read-only file system", "TMP-WRITABLE",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	// The only network interface is loopback.
	var ifaces []string
	_, netdev, _ := strings.Cut(out, "NETDEV\n")
	for _, line := range strings.Split(netdev, "\n") {
		if name, _, ok := strings.Cut(line, ":"); ok && !strings.Contains(name, "|") {
			ifaces = append(ifaces, strings.TrimSpace(name))
		}
	}
	if len(ifaces) != 1 || ifaces[0] != "lo" {
		t.Errorf("network interfaces %q, want only lo:\n%s", ifaces, out)
	}
	MustNoContainers(t, labels)
}

func TestRunExitCode(t *testing.T) {
	labels := testLabels(t, KindGrade)
	res, err := testEngine.Run(MustContext(t, time.Minute), RunSpec{
		Image: MustLabImage(t), Labels: labels, Limits: faultlineLimitsSmall,
		Cmd: []string{"sh", "-c", "echo out; echo err >&2; exit 3"},
	})
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	if res.ExitCode != 3 || !strings.Contains(string(res.Output), "out") || !strings.Contains(string(res.Output), "err") {
		t.Errorf("exit %d output %q, want 3 with out and err", res.ExitCode, res.Output)
	}
	if res.TimedOut || res.OOMKilled || res.OutputExceeded {
		t.Errorf("limits reported for a normal exit: %+v", res)
	}
	MustNoContainers(t, labels)
}

func TestRunTimeLimit(t *testing.T) {
	labels := testLabels(t, KindGrade)
	res, err := testEngine.Run(MustContext(t, time.Minute), RunSpec{
		Image: MustLabImage(t), Labels: labels,
		Limits: faultline.Limits{Time: 2 * time.Second},
		Cmd:    []string{"sleep", "100"},
	})
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	if !res.TimedOut || res.ExitCode == 0 {
		t.Errorf("sleep 100 with a 2s limit: %+v, want TimedOut", res)
	}
	MustNoContainers(t, labels)
}

func TestRunOutputLimit(t *testing.T) {
	labels := testLabels(t, KindGrade)
	res, err := testEngine.Run(MustContext(t, time.Minute), RunSpec{
		Image: MustLabImage(t), Labels: labels, Limits: faultlineLimitsSmall,
		OutputLimit: 64 << 10,
		Cmd:         []string{"yes", "flood"},
	})
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	if !res.OutputExceeded || res.TimedOut {
		t.Errorf("yes: %+v, want OutputExceeded and not TimedOut", res)
	}
	if len(res.Output) != 64<<10 || !strings.HasPrefix(string(res.Output), "flood\nflood\n") {
		t.Errorf("kept %d bytes starting %q, want exactly %d", len(res.Output), res.Output[:min(len(res.Output), 20)], 64<<10)
	}
	MustNoContainers(t, labels)
}

func TestRunMemoryLimit(t *testing.T) {
	labels := testLabels(t, KindGrade)
	res, err := testEngine.Run(MustContext(t, time.Minute), RunSpec{
		Image: MustLabImage(t), Labels: labels,
		Limits: faultline.Limits{Time: 50 * time.Second, MemoryMB: 64},
		Cmd:    []string{"sh", "-c", "head -c 2000m /dev/zero | tail"},
	})
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	if !res.OOMKilled || res.TimedOut {
		t.Errorf("memory bomb: %+v, want OOMKilled and not TimedOut", res)
	}
	MustNoContainers(t, labels)
}

func TestRunProcessLimit(t *testing.T) {
	labels := testLabels(t, KindGrade)
	res, err := testEngine.Run(MustContext(t, time.Minute), RunSpec{
		Image: MustLabImage(t), Labels: labels,
		Limits: faultline.Limits{Time: 50 * time.Second, Pids: 32},
		// Spawns processes until fork fails; the shell then exits.
		Cmd: []string{"sh", "-c", "while true; do sleep 1000 & done"},
	})
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	if res.TimedOut || res.ExitCode == 0 || !strings.Contains(string(res.Output), "can't fork") {
		t.Errorf("process flood: %+v (%q), want a fork failure before the time limit", res, res.Output)
	}
	MustNoContainers(t, labels)
}

func TestRunForkBombDoesNotHang(t *testing.T) {
	labels := testLabels(t, KindGrade)
	res, err := testEngine.Run(MustContext(t, time.Minute), RunSpec{
		Image: MustLabImage(t), Labels: labels,
		Limits: faultline.Limits{Time: 5 * time.Second, Pids: 64},
		Cmd:    []string{"sh", "-c", "f() { f | f & }; f; sleep 100"},
	})
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	if !res.TimedOut && res.ExitCode == 0 {
		t.Errorf("fork bomb ended cleanly: %+v", res)
	}
	MustNoContainers(t, labels)
}

func TestRunCancelledStillRemoves(t *testing.T) {
	labels := testLabels(t, KindGrade)
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(2*time.Second, cancel)
	_, err := testEngine.Run(ctx, RunSpec{
		Image: MustLabImage(t), Labels: labels, Limits: faultlineLimitsSmall,
		Cmd: []string{"sleep", "100"},
	})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("Run with a cancelled context: %v, want context.Canceled", err)
	}
	MustNoContainers(t, labels)
}

func TestRunStdinLarge(t *testing.T) {
	labels := testLabels(t, KindGrade)
	data := bytes.Repeat([]byte("0123456789abcdef"), 1<<16) // 1 MiB
	res, err := testEngine.Run(MustContext(t, time.Minute), RunSpec{
		Image: MustLabImage(t), Labels: labels, Limits: faultlineLimitsSmall,
		Stdin: bytes.NewReader(data),
		Cmd:   []string{"sh", "-c", "wc -c"},
	})
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	if got := strings.TrimSpace(string(res.Output)); got != "1048576" {
		t.Errorf("container read %q bytes of stdin, want 1048576", got)
	}
	MustNoContainers(t, labels)
}

func TestRemoveOrphans(t *testing.T) {
	labels := testLabels(t, KindGrade)
	ctx := MustContext(t, time.Minute)
	orphan := MustCreateContainer(t, labels)
	keptLabels := testLabels(t, KindGrade)
	keptLabels["faultline.keep"] = "yes"
	kept := MustCreateContainer(t, keptLabels)
	net := "faultline-orphan-" + testRun
	if err := testEngine.b.CreateNetwork(ctx, net, labels); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = testEngine.b.RemoveNetwork(context.Background(), net) })

	mine := func(l map[string]string) bool { return l[labelTest] == testRun && l["faultline.testname"] == t.Name() }
	n, err := testEngine.RemoveOrphans(ctx, KindGrade, func(l map[string]string) bool {
		return !mine(l) || l["faultline.keep"] == "yes"
	})
	if err != nil {
		t.Fatalf("RemoveOrphans: %v", err)
	}
	if n != 2 {
		t.Errorf("removed %d objects, want 2 (container and network)", n)
	}
	if ok, err := testEngine.containerRunning(ctx, orphan); err != nil || ok {
		t.Errorf("orphan still running: %v %v", ok, err)
	}
	if ok, err := testEngine.containerRunning(ctx, kept); err != nil || !ok {
		t.Errorf("kept container not running: %v %v", ok, err)
	}
	nets, err := testEngine.b.ListNetworks(ctx, labels)
	if err != nil {
		t.Fatal(err)
	}
	if len(nets) != 0 {
		t.Errorf("%d labelled networks left: %v", len(nets), nets)
	}
}

func TestCapWriter(t *testing.T) {
	calls := 0
	w := &capWriter{limit: 5, onExceed: func() { calls++ }}
	for _, s := range []string{"ab", "cd", "efg", "h"} {
		if n, err := w.Write([]byte(s)); n != len(s) || err != nil {
			t.Fatalf("Write(%q) = %d, %v", s, n, err)
		}
	}
	if string(w.bytes()) != "abcde" || !w.exceeded() || calls != 1 {
		t.Errorf("kept %q exceeded %v calls %d, want abcde true 1", w.bytes(), w.exceeded(), calls)
	}
}

func TestSkipGoroot(t *testing.T) {
	for _, c := range []struct {
		rel  string
		dir  bool
		skip bool
	}{
		{"test", true, true},
		{"api", true, true},
		{"doc", true, true},
		{"misc", true, true},
		{"src/net/http/testdata", true, true},
		{"src/fmt/print_test.go", false, true},
		{"src/fmt/print.go", false, false},
		{"src/cmd/test2json", true, false},
		{"pkg/tool/linux_amd64/compile", false, false},
		{"bin/go", false, false},
	} {
		if got := skipGoroot(c.rel, c.dir); got != c.skip {
			t.Errorf("skipGoroot(%q, %v) = %v, want %v", c.rel, c.dir, got, c.skip)
		}
	}
}

// TestEngineErrorsCountsFailedEngineCalls: with the real engine, answers
// such as "no such container" are not counted as engine errors; an engine
// that cannot be reached is, by verb.
func TestEngineErrorsCountsFailedEngineCalls(t *testing.T) {
	ctx := context.Background()
	e := New(testDocker, nil)
	if err := e.b.Remove(ctx, "faultline-no-such-container"); faultline.ErrorCode(err) != faultline.ENOTFOUND {
		t.Fatalf("Remove of a missing container: %v, want not found", err)
	}
	if err := e.Ping(ctx); err != nil {
		t.Fatal(err)
	}
	if got := e.EngineErrors(); len(got) != 0 {
		t.Errorf("engine errors after a not-found answer and a ping: %v, want none", got)
	}

	dead, err := docker.New("unix://"+t.TempDir()+"/no-engine.sock", nil)
	if err != nil {
		t.Fatal(err)
	}
	down := New(dead, nil)
	defer down.Close()
	for range 2 {
		if err := down.Ping(ctx); faultline.ErrorCode(err) != faultline.EUNAVAILABLE {
			t.Fatalf("Ping with no engine: %v, want unavailable", err)
		}
	}
	if _, err := down.b.List(ctx, map[string]string{LabelKind: KindGrade}); err == nil {
		t.Fatal("List with no engine succeeded")
	}
	if got := down.EngineErrors(); got["ping"] != 2 || got["list"] != 1 || len(got) != 2 {
		t.Errorf("engine errors with no engine = %v, want ping 2, list 1", got)
	}
}
