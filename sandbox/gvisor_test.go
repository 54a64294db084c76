package sandbox

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"github.com/faultline-dev/faultline"
)

// MustGVisor skips unless the engine has gVisor registered as "runsc", which
// `make test` arranges (scripts/ensure.sh gvisor) when it starts the engine
// on a machine that can install runsc; the stronger isolation is optional,
// so it is tested where present.
func MustGVisor(tb testing.TB) {
	tb.Helper()
	ok, err := testDocker.HasRuntime(context.Background(), "runsc")
	if err != nil {
		tb.Fatalf("engine info: %v", err)
	}
	if !ok {
		tb.Skip("gVisor is not registered with this Docker engine as runsc (scripts/ensure.sh gvisor docker registers it when it starts the engine)")
	}
}

// TestManagerUnderGVisor runs a learner sandbox on gVisor: the container
// really runs on gVisor's kernel, files go in, and the visible tests compile
// and run there with the same results as on the default runtime.
func TestManagerUnderGVisor(t *testing.T) {
	MustGVisor(t)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	MustLabImage(t)
	m := NewManager(testEngine, newMemStore(), ManagerOptions{Warm: testWarm, Scope: "test-" + testRun, Runtime: "runsc"})
	t.Cleanup(func() {
		cs, _ := testEngine.listContainers(context.Background(), m.match(nil))
		for _, c := range cs {
			testEngine.removeContainer(c.ID)
		}
	})
	const user = 7
	lab := testLab()
	sb, err := m.Start(ctx, user, lab, learnerFiles, nil)
	if err != nil {
		t.Fatalf("start under gVisor: %v", err)
	}
	var out bytes.Buffer
	if code, err := testEngine.exec(ctx, sb.ContainerID, []string{"/bin/sh", "-c", "dmesg | head -1; cat /work/tiny.go | head -1"}, "", &out); err != nil || code != 0 {
		t.Fatalf("exec: code %d, %v\n%s", code, err, out.String())
	}
	if !strings.Contains(out.String(), "gVisor") || !strings.Contains(out.String(), "package tiny") {
		t.Fatalf("the sandbox does not look like gVisor with the files in:\n%s", out.String())
	}
	res, err := m.RunTests(ctx, user, lab, nil)
	if err != nil {
		t.Fatalf("run tests under gVisor: %v", err)
	}
	got := map[string]faultline.TestStatus{}
	for _, tr := range res.Tests {
		got[tr.Name] = tr.Status
	}
	if got["TestAdd"] != faultline.TestPass || got["TestSub"] != faultline.TestFail || res.Score != 2 {
		t.Fatalf("under gVisor: %v, score %d; want TestAdd pass, TestSub fail, 2 points\n%s", got, res.Score, res.Output)
	}
}
