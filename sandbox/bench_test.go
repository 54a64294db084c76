package sandbox

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/faultline-dev/faultline"
)

// BenchmarkSandboxStart measures "Start lab" through the Manager (create,
// start, copy the workspace in, record it) from the warm pool and from cold,
// against a bare create+start of the same image with the same limits
// through the backend (the Engine API), interleaved in one run; b.N is the number of
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
	b.ReportMetric(0, "ns/op")
}

// bareStart creates and starts the lab image with the sandbox's limits and
// nothing else: the floor any sandbox start sits on.
func bareStart(tb testing.TB, image string) string {
	tb.Helper()
	ctx := context.Background()
	m := NewManager(testEngine, newMemStore(), ManagerOptions{Scope: "bench-" + testRun})
	spec := m.sandboxSpec(image, withDefaults(faultline.Limits{MemoryMB: 1024}), 600*time.Second, map[string]string{labelTest: testRun})
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
