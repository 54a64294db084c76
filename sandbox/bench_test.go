package sandbox

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"os"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/faultline-dev/faultline"
)

// BenchmarkSandboxStart measures "Start lab" through the Manager (create,
// start, copy the workspace in, record it) from the warm pool and from cold,
// against a bare create+start of the same image with the same limits
// through the backend (the Engine API), interleaved in one run, the cold and
// bare ones each on an otherwise idle engine; b.N is the number of
// samples of each. It reports p50 and p95 of all three and the p50 ratios
// against bare. Run with -benchtime 20x.
func BenchmarkSandboxStart(b *testing.B) {
	image := MustLabImage(b)
	ctx := context.Background()
	m := MustManager(b, newMemStore())
	pooled := MustManager(b, newMemStore())
	pooled.opt.PoolSize = 1
	pctx, stopPool := context.WithCancel(ctx)
	defer stopPool()
	go func() { _ = pooled.RunPool(pctx) }()
	lab := testLab()
	var warm, managed, bare []time.Duration
	b.ResetTimer()
	for i := range b.N {
		for pooled.PoolReady() < 1 {
			time.Sleep(10 * time.Millisecond)
		}
		user := int64(1000 + i)
		t0 := time.Now()
		sb, err := pooled.Start(ctx, user, lab, learnerFiles, nil)
		if err != nil {
			b.Fatalf("warm start: %v", err)
		}
		warm = append(warm, time.Since(t0))
		if err := pooled.Stop(ctx, user, sb.Lab); err != nil {
			b.Fatalf("stop: %v", err)
		}
		// The claim set off the pool's refill: a container created and
		// started in the background. Let it finish, so the cold and the
		// bare start below both run on a machine doing nothing else.
		for pooled.PoolReady() < 1 {
			time.Sleep(10 * time.Millisecond)
		}

		t0 = time.Now()
		sb, err = m.Start(ctx, user, lab, learnerFiles, nil)
		if err != nil {
			b.Fatalf("start: %v", err)
		}
		managed = append(managed, time.Since(t0))
		if err := m.Stop(ctx, user, sb.Lab); err != nil {
			b.Fatalf("stop: %v", err)
		}

		t0 = time.Now()
		id := bareStart(b, image)
		bare = append(bare, time.Since(t0))
		testEngine.removeContainer(id)
	}
	b.StopTimer()
	p := func(ds []time.Duration, q float64) float64 {
		s := slices.Clone(ds)
		slices.Sort(s)
		return float64(s[min(len(s)-1, int(q*float64(len(s))))].Microseconds()) / 1000
	}
	b.ReportMetric(p(warm, 0.5), "warm-p50-ms")
	b.ReportMetric(p(warm, 0.95), "warm-p95-ms")
	b.ReportMetric(p(managed, 0.5), "cold-p50-ms")
	b.ReportMetric(p(managed, 0.95), "cold-p95-ms")
	b.ReportMetric(p(bare, 0.5), "bare-p50-ms")
	b.ReportMetric(p(bare, 0.95), "bare-p95-ms")
	b.ReportMetric(p(warm, 0.5)/p(bare, 0.5), "warm/bare-p50")
	b.ReportMetric(p(managed, 0.5)/p(bare, 0.5), "cold/bare-p50")
	b.ReportMetric(p(managed, 0.95)/p(bare, 0.95), "cold/bare-p95")
	b.ReportMetric(0, "ns/op")
}

// gradeLike is a grading run's work in the lab image: compile a small test
// package against the warm cache (with the machine's CPUs, as the grader
// does, until the gate line) and run it on the grading limits.
const gradeLike = `set -e
read -r _
mkdir -p /tmp/p && cd /tmp/p
printf 'module p\n\ngo 1.22\n' >go.mod
printf 'package p\nimport ("testing"; "strings"; "sync")\nfunc TestWork(t *testing.T) {\n var wg sync.WaitGroup\n for i := 0; i < 4; i++ { wg.Add(1); go func() { defer wg.Done(); s := ""; for j := 0; j < 20000; j++ { s = strings.Repeat("x", j%%64) }; _ = s }() }\n wg.Wait()\n}\n' >p_test.go
go test -c -vet=off -o /tmp/p.test . >/dev/null
echo GATE
read -r _
/tmp/p.test -test.count=1 >/dev/null`

// BenchmarkWarmStartBusy measures "Start lab" from the warm pool while two
// grading-like runs (compile and run a test package in a throwaway
// container on the grading limits, one after another) go on beside it, as
// when learners start labs while the queue grades; it reports p50 and p95
// (warm-busy-p95-ms, the goal `make bench` prints). Run with -benchtime 20x.
func BenchmarkWarmStartBusy(b *testing.B) {
	image := MustLabImage(b)
	ctx := context.Background()
	pooled := MustManager(b, newMemStore())
	pooled.opt.PoolSize = 1
	pctx, stopPool := context.WithCancel(ctx)
	defer stopPool()
	go func() { _ = pooled.RunPool(pctx) }()

	gctx, stopGrades := context.WithCancel(ctx)
	var grades sync.WaitGroup
	var ran atomic.Int64
	for range 2 {
		grades.Add(1)
		go func() {
			defer grades.Done()
			for gctx.Err() == nil {
				res, err := testEngine.Run(gctx, RunSpec{
					Image: image, Cmd: []string{"sh", "-c", gradeLike},
					Labels: map[string]string{LabelKind: KindGrade, labelTest: testRun},
					Limits: faultline.DefaultGradeLimits, WorkDir: "/tmp",
					Stdin: strings.NewReader("go\n"), Gate: "GATE", BuildCPUs: float64(runtime.NumCPU()),
				})
				if err == nil && res.ExitCode == 0 {
					ran.Add(1)
				} else if err == nil && gctx.Err() == nil {
					b.Errorf("grade-like run: exit %d: %s", res.ExitCode, res.Output)
					return
				}
			}
		}()
	}
	defer func() { stopGrades(); grades.Wait() }()
	for ran.Load() < 2 { // both runs under way before measuring
		time.Sleep(50 * time.Millisecond)
	}

	lab := testLab()
	var warm []time.Duration
	b.ResetTimer()
	for i := range b.N {
		for pooled.PoolReady() < 1 {
			time.Sleep(10 * time.Millisecond)
		}
		user := int64(3000 + i)
		t0 := time.Now()
		sb, err := pooled.Start(ctx, user, lab, learnerFiles, nil)
		if err != nil {
			b.Fatalf("warm start: %v", err)
		}
		warm = append(warm, time.Since(t0))
		if err := pooled.Stop(ctx, user, sb.Lab); err != nil {
			b.Fatalf("stop: %v", err)
		}
	}
	b.StopTimer()
	p := func(q float64) float64 {
		s := slices.Clone(warm)
		slices.Sort(s)
		return float64(s[min(len(s)-1, int(q*float64(len(s))))].Microseconds()) / 1000
	}
	b.ReportMetric(p(0.5), "warm-busy-p50-ms")
	b.ReportMetric(p(0.95), "warm-busy-p95-ms")
	b.ReportMetric(float64(ran.Load()), "grades-beside")
	b.ReportMetric(0, "ns/op")
}

// bareStart creates and starts the lab image with the sandbox's limits and
// nothing else: the floor any sandbox start sits on.
func bareStart(tb testing.TB, image string) string {
	tb.Helper()
	ctx := context.Background()
	m := NewManager(testEngine, newMemStore(), ManagerOptions{Scope: "bench-" + testRun})
	spec := m.sandboxSpec(image, withDefaults(faultline.Limits{MemoryMB: 1024}), 600*time.Second, map[string]string{labelTest: testRun})
	spec.Cmd, spec.Stdin = []string{"sleep", "600"}, false // no workspace to wait for
	id, err := testEngine.b.Create(ctx, spec)
	if err != nil {
		tb.Fatalf("bare create: %v", err)
	}
	if err := testEngine.b.Start(ctx, id); err != nil {
		testEngine.removeContainer(id)
		tb.Fatalf("bare start: %v", err)
	}
	return id
}

// BenchmarkIdleSandboxes starts 50 learner sandboxes and reports what they
// hold while idle: the containers' own memory as the engine counts it (the
// workspace tmpfs included) and the host memory they took in all (shims,
// engine bookkeeping), per sandbox; the baseline is one bare container.
func BenchmarkIdleSandboxes(b *testing.B) {
	const n = 50
	image := MustLabImage(b)
	ctx := context.Background()
	m := MustManager(b, newMemStore())
	lab := testLab()
	for range b.N {
		before := memAvailable(b)
		for i := range n {
			if _, err := m.Start(ctx, int64(5000+i), lab, learnerFiles, nil); err != nil {
				b.Fatalf("start %d: %v", i, err)
			}
		}
		time.Sleep(2 * time.Second) // let the starts settle before measuring
		after := memAvailable(b)
		var own uint64
		cs, err := testEngine.listContainers(ctx, m.match(nil))
		if err != nil {
			b.Fatal(err)
		}
		for _, c := range cs {
			own += containerMemory(b, c.ID)
		}
		id := bareStart(b, image)
		time.Sleep(time.Second)
		bare := containerMemory(b, id)
		testEngine.removeContainer(id)

		b.ReportMetric(float64(own)/n/(1<<20), "MiB/sandbox")
		b.ReportMetric(float64(before-after)/n/(1<<20), "host-MiB/sandbox")
		b.ReportMetric(float64(bare)/(1<<20), "bare-MiB")
		b.ReportMetric(float64(own)/n/float64(max(bare, 1)), "ratio-vs-bare")
		for i := range n {
			if err := m.Stop(ctx, int64(5000+i), lab.Slug); err != nil {
				b.Fatal(err)
			}
		}
	}
	b.ReportMetric(0, "ns/op")
}

// containerMemory is the memory the kernel charges to a container's cgroup
// (its processes and its tmpfs), read inside it (cgroup v2 or v1).
func containerMemory(tb testing.TB, id string) uint64 {
	tb.Helper()
	var out bytes.Buffer
	code, err := testEngine.exec(context.Background(), id, []string{"sh", "-c",
		"cat /sys/fs/cgroup/memory.current 2>/dev/null || cat /sys/fs/cgroup/memory/memory.usage_in_bytes"}, "", &out)
	if err != nil || code != 0 {
		tb.Fatalf("memory of %s: exit %d, %v: %s", short(id), code, err, out.String())
	}
	n, err := strconv.ParseUint(strings.TrimSpace(out.String()), 10, 64)
	if err != nil {
		tb.Fatalf("memory of %s: %v", short(id), err)
	}
	return n
}

// memAvailable reads MemAvailable from /proc/meminfo, in bytes.
func memAvailable(tb testing.TB) uint64 {
	tb.Helper()
	f, err := os.Open("/proc/meminfo")
	if err != nil {
		tb.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), "MemAvailable:"); ok {
			kb, err := strconv.ParseUint(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
			if err != nil {
				tb.Fatal(err)
			}
			return kb << 10
		}
	}
	tb.Fatal(fmt.Errorf("no MemAvailable in /proc/meminfo"))
	return 0
}

// BenchmarkRunPrestarted measures a short grading-shaped run (the job on
// stdin, read and answered) from hand-over to result, in a fresh container
// and in one pre-started for it (waited for, as when jobs come apart),
// alternating in one run; it reports both p50s and their ratio
// (prestarted/fresh). Run with -benchtime 20x.
func BenchmarkRunPrestarted(b *testing.B) {
	image := MustLabImage(b)
	e := New(testEngine.b, nil)
	e.SetScope(testEngine.Scope())
	defer e.ClosePrestarted()
	spec := func(prestart bool) RunSpec {
		return RunSpec{
			Image: image, Cmd: []string{"sh", "-c", `echo "got $(wc -c)"`},
			Labels: map[string]string{LabelKind: KindGrade, labelTest: testRun},
			Limits: faultline.DefaultGradeLimits, WorkDir: "/tmp", Prestart: prestart,
			Stdin: strings.NewReader("a job"),
		}
	}
	run := func(prestart bool) time.Duration {
		t0 := time.Now()
		res, err := e.Run(context.Background(), spec(prestart))
		if err != nil || res.ExitCode != 0 || !strings.Contains(string(res.Output), "got 5") {
			b.Fatalf("run (prestart %v): %v %+v", prestart, err, res)
		}
		return time.Since(t0)
	}
	run(true) // starts the first pre-started container
	var fresh, pre []time.Duration
	b.ResetTimer()
	for range b.N {
		for e.prestartedWaiting() < 1 {
			time.Sleep(10 * time.Millisecond)
		}
		pre = append(pre, run(true))
		fresh = append(fresh, run(false))
	}
	b.StopTimer()
	p50 := func(ds []time.Duration) float64 {
		s := slices.Clone(ds)
		slices.Sort(s)
		return float64(s[len(s)/2].Microseconds()) / 1000
	}
	b.ReportMetric(p50(fresh), "fresh-p50-ms")
	b.ReportMetric(p50(pre), "prestarted-p50-ms")
	b.ReportMetric(p50(pre)/p50(fresh), "prestarted/fresh")
	b.ReportMetric(0, "ns/op")
}
