package sandbox

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/faultline-dev/faultline/sandbox/backend"
	"github.com/faultline-dev/faultline/sandbox/docker"
)

// These tests run against the real Docker engine on the default socket,
// through its backend (package sandbox/docker). The lab image is built at
// most once per test binary (and not at all when the engine already has it).

// labelTest marks every object a test run creates, so cleanup and the
// "nothing left behind" assertions never touch anyone else's objects.
const labelTest = "faultline.test"

var (
	testDocker *docker.Backend
	testEngine *Engine
	testRun    string // this test binary's value of labelTest

	imageOnce    sync.Once
	testImageTag string
	imageErr     error
)

// testWarm is the warm list the tests build the image with.
var testWarm = []string{"context", "errors", "fmt", "math/rand", "sort", "strings", "sync", "sync/atomic", "time"}

func TestMain(m *testing.M) {
	var b [4]byte
	_, _ = rand.Read(b[:])
	testRun = hex.EncodeToString(b[:])
	level := slog.LevelWarn
	if os.Getenv("SANDBOX_TEST_DEBUG") != "" {
		level = slog.LevelDebug
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
	db, err := docker.New("", log)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	testDocker = db
	e := New(db, log)
	testEngine = e
	code := m.Run()
	// Belt and braces: remove whatever this run left behind.
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if _, err := e.RemoveOrphans(ctx, "", func(l map[string]string) bool { return l[labelTest] != testRun }); err != nil {
		fmt.Fprintln(os.Stderr, "cleanup:", err)
	}
	e.Close()
	os.Exit(code)
}

// MustLabImage returns the lab image tag, building it once per test binary.
func MustLabImage(tb testing.TB) string {
	tb.Helper()
	imageOnce.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Minute)
		defer cancel()
		start := time.Now()
		testImageTag, imageErr = testEngine.LabImage(ctx, testWarm)
		tb.Logf("LabImage %s in %s (builds: %d)", testImageTag, time.Since(start).Round(time.Millisecond), testEngine.buildCount.Load())
	})
	if imageErr != nil {
		tb.Fatalf("LabImage: %v", imageErr)
	}
	return testImageTag
}

// MustContext returns a context cancelled at the end of the test.
func MustContext(tb testing.TB, d time.Duration) context.Context {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), d)
	tb.Cleanup(cancel)
	return ctx
}

// testLabels returns labels unique to one test.
func testLabels(t *testing.T, kind string) map[string]string {
	t.Helper()
	return map[string]string{LabelKind: kind, labelTest: testRun, "faultline.testname": t.Name()}
}

// MustNoContainers fails the test if any container with the test's labels
// exists.
func MustNoContainers(tb testing.TB, labels map[string]string) {
	tb.Helper()
	cs, err := testEngine.listContainers(context.Background(), labels)
	if err != nil {
		tb.Fatalf("list containers: %v", err)
	}
	if len(cs) != 0 {
		tb.Fatalf("%d containers with labels %v left behind", len(cs), labels)
	}
}

// MustTar returns a tar of name->content.
func MustTar(tb testing.TB, files map[string]string) []byte {
	tb.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for name, content := range files {
		if err := tw.WriteHeader(&tar.Header{Name: name, Mode: 0o644, Size: int64(len(content)), Typeflag: tar.TypeReg}); err != nil {
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

// MustExec runs cmd in container id and returns its exit code and output.
func MustExec(tb testing.TB, id string, cmd ...string) (int, string) {
	tb.Helper()
	var out bytes.Buffer
	code, err := testEngine.exec(MustContext(tb, time.Minute), id, cmd, "", &out)
	if err != nil {
		tb.Fatalf("exec %q: %v", strings.Join(cmd, " "), err)
	}
	return code, out.String()
}

// MustCreateContainer creates (and starts) a sleeping container with labels,
// as a crashed portal would leave behind.
func MustCreateContainer(tb testing.TB, labels map[string]string) string {
	tb.Helper()
	ctx := MustContext(tb, time.Minute)
	lim := withDefaults(faultlineLimitsSmall)
	id, err := testEngine.b.Create(ctx, backend.Spec{
		Image: MustLabImage(tb), Cmd: []string{"sleep", "600"}, Labels: labels,
		MemoryMB: lim.MemoryMB, CPUs: lim.CPUs, Pids: lim.Pids,
	})
	if err != nil {
		tb.Fatalf("create container: %v", err)
	}
	tb.Cleanup(func() { testEngine.removeContainer(id) })
	if err := testEngine.b.Start(ctx, id); err != nil {
		tb.Fatalf("start container: %v", err)
	}
	return id
}
