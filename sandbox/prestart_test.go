package sandbox

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/faultline-dev/faultline"
)

// prestartEngine is an Engine of its own on the test backend, so waiting
// containers never mix with other tests'; its pre-started containers are
// removed when the test ends.
func prestartEngine(t *testing.T, idle time.Duration) *Engine {
	t.Helper()
	e := New(testEngine.b, nil)
	e.SetScope(testEngine.Scope())
	e.pre.idle = idle
	t.Cleanup(e.ClosePrestarted)
	return e
}

// waitFor polls cond until it holds or a minute passed (a state to reach,
// not a speed to meet).
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for end := time.Now().Add(time.Minute); !cond(); time.Sleep(20 * time.Millisecond) {
		if time.Now().After(end) {
			t.Fatalf("never: %s", what)
		}
	}
}

// A pre-started container runs one job and is removed: the next job of the
// same spec gets another container, which it finds unused.
func TestPrestartedContainerRunsOneJob(t *testing.T) {
	e := prestartEngine(t, PrestartIdle)
	labels := testLabels(t, KindGrade)
	spec := func(job string) RunSpec {
		return RunSpec{
			Image: MustLabImage(t), Labels: labels, Limits: faultlineLimitsSmall, Prestart: true,
			Stdin: strings.NewReader(job),
			Cmd: []string{"sh", "-c", `if [ -e /tmp/used ]; then echo REUSED; fi; touch /tmp/used
echo "job=$(cat) host=$(hostname) uid=$(id -u)"`},
		}
	}
	hosts := map[string]bool{}
	for i, job := range []string{"one", "two", "three"} {
		if i > 0 {
			waitFor(t, "a container pre-started for the next job", func() bool { return e.prestartedWaiting() == 1 })
		}
		res, err := e.Run(MustContext(t, time.Minute), spec(job))
		if err != nil {
			t.Fatalf("run %s: %v", job, err)
		}
		out := string(res.Output)
		if strings.Contains(out, "REUSED") || !strings.Contains(out, "job="+job+" ") || !strings.Contains(out, "uid=65534") || res.ExitCode != 0 || res.TimedOut {
			t.Fatalf("run %s: %+v\n%s", job, res, out)
		}
		_, host, _ := strings.Cut(out, "host=")
		host, _, _ = strings.Cut(host, " ")
		if hosts[host] {
			t.Fatalf("run %s ran in container %s again", job, host)
		}
		hosts[host] = true
	}
	if e.prestartedMade() < 2 {
		t.Fatalf("%d containers pre-started; the later jobs did not use them", e.prestartedMade())
	}
	e.ClosePrestarted()
	MustNoContainers(t, labels)
}

// A job's time limit counts from when it is handed over, not from when its
// container started waiting; past it the run is stopped and says so.
func TestPrestartedTimeLimitCountsFromTheJob(t *testing.T) {
	e := prestartEngine(t, PrestartIdle)
	labels := testLabels(t, KindGrade)
	lim := faultline.Limits{Time: 3 * time.Second, MemoryMB: 256, CPUs: 1, Pids: 64}
	run := func(script string) *RunResult {
		res, err := e.Run(MustContext(t, time.Minute), RunSpec{
			Image: MustLabImage(t), Labels: labels, Limits: lim, Prestart: true,
			Stdin: strings.NewReader("x"), Cmd: []string{"sh", "-c", `cat >/dev/null; ` + script},
		})
		if err != nil {
			t.Fatal(err)
		}
		return res
	}
	_ = run("echo first")
	waitFor(t, "a container pre-started", func() bool { return e.prestartedWaiting() == 1 })
	time.Sleep(lim.Time + time.Second) // it has now waited longer than the limit
	res := run("echo first")
	if res.TimedOut || !strings.Contains(string(res.Output), "first") {
		t.Fatalf("a job in a container that waited past the limit: %+v %q", res, res.Output)
	}
	// A different command is another spec: first a fresh container, then the
	// pre-started one; both are stopped at the limit.
	for range 2 {
		res = run("sleep 30; echo LATE")
		if !res.TimedOut || strings.Contains(string(res.Output), "LATE") {
			t.Fatalf("a job past its limit: %+v %q", res, res.Output)
		}
	}
	e.ClosePrestarted()
	MustNoContainers(t, labels)
}

// A pre-started container nobody takes is removed after the idle time.
func TestPrestartedContainerExpires(t *testing.T) {
	e := prestartEngine(t, time.Second)
	labels := testLabels(t, KindGrade)
	if _, err := e.Run(MustContext(t, time.Minute), RunSpec{
		Image: MustLabImage(t), Labels: labels, Limits: faultlineLimitsSmall, Prestart: true,
		Stdin: strings.NewReader("x"), Cmd: []string{"sh", "-c", "cat"},
	}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "a container pre-started", func() bool { return e.prestartedMade() == 1 })
	waitFor(t, "the unused container removed", func() bool {
		cs, err := testEngine.listContainers(context.Background(), labels)
		return err == nil && len(cs) == 0 && e.prestartedWaiting() == 0
	})
}

// A waiting container that ended before its job came (removed by an orphan
// sweep, say) is not used: the job runs in a fresh one.
func TestPrestartedContainerGoneIsReplaced(t *testing.T) {
	e := prestartEngine(t, PrestartIdle)
	labels := testLabels(t, KindGrade)
	spec := func() RunSpec {
		return RunSpec{
			Image: MustLabImage(t), Labels: labels, Limits: faultlineLimitsSmall, Prestart: true,
			Stdin: strings.NewReader("job"), Cmd: []string{"sh", "-c", `echo "got=$(cat)"`},
		}
	}
	if _, err := e.Run(MustContext(t, time.Minute), spec()); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "a container pre-started", func() bool { return e.prestartedWaiting() == 1 })
	if _, err := testEngine.RemoveOrphans(context.Background(), KindGrade, func(l map[string]string) bool { return l["faultline.testname"] != t.Name() }); err != nil {
		t.Fatal(err)
	}
	res, err := e.Run(MustContext(t, time.Minute), spec())
	if err != nil || !strings.Contains(string(res.Output), "got=job") || res.ExitCode != 0 {
		t.Fatalf("run after the waiting container was removed: %v %+v %q", err, res, res.Output)
	}
	e.ClosePrestarted()
	MustNoContainers(t, labels)
}
