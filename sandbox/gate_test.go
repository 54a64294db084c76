package sandbox

import (
	"fmt"
	"runtime"
	"strings"
	"testing"
	"time"
)

// gateScript reads a length-prefixed payload, prints the CPU limit it runs
// under (from cgroup v2's cpu.max or v1's files), the gate line, waits for
// the engine's newline and prints the limit again.
const gateScript = `q() { cat /sys/fs/cgroup/cpu.max 2>/dev/null || echo $(cat /sys/fs/cgroup/cpu/cpu.cfs_quota_us) $(cat /sys/fs/cgroup/cpu/cpu.cfs_period_us); }
read -r n; head -c "$n" >/tmp/in
echo "before $(q) in=$(cat /tmp/in)"
echo GATE
read -r _ || { echo NO-NEWLINE; exit 3; }
echo "after $(q)"
`

// cpusOf reads "<word> <quota> <period>" from out's line starting with word.
func cpusOf(t *testing.T, out, word string) float64 {
	t.Helper()
	for _, line := range strings.Split(out, "\n") {
		if rest, ok := strings.CutPrefix(line, word+" "); ok {
			var quota, period float64
			if _, err := fmt.Sscan(rest, &quota, &period); err != nil || period <= 0 {
				t.Fatalf("line %q: %v", line, err)
			}
			return quota / period
		}
	}
	t.Fatalf("no %q line in %q", word, out)
	return 0
}

// A gated job compiles with BuildCPUs and runs its second step with the
// limit: the engine lowers the CPUs when it sees the gate line, before the
// newline that lets the job go on; with and without a pre-started container.
func TestGateLowersCPUsBeforeTheSecondStep(t *testing.T) {
	if runtime.NumCPU() < 2 {
		t.Skip("needs a machine with 2 CPUs to give a container more than 1")
	}
	e := prestartEngine(t, PrestartIdle)
	labels := testLabels(t, KindGrade)
	for _, prestart := range []bool{false, true, true} {
		res, err := e.Run(MustContext(t, time.Minute), RunSpec{
			Image: MustLabImage(t), Labels: labels, Limits: faultlineLimitsSmall, Prestart: prestart,
			Stdin: strings.NewReader("7\npayload"), Cmd: []string{"sh", "-c", gateScript},
			Gate: "GATE", BuildCPUs: 2,
		})
		if err != nil {
			t.Fatal(err)
		}
		out := string(res.Output)
		if res.ExitCode != 0 || !strings.Contains(out, "in=payload") {
			t.Fatalf("prestart %v: exit %d\n%s", prestart, res.ExitCode, out)
		}
		if before, after := cpusOf(t, out, "before"), cpusOf(t, out, "after"); before != 2 || after != 1 {
			t.Errorf("prestart %v: %g CPUs before the gate and %g after, want 2 and 1\n%s", prestart, before, after, out)
		}
	}
	e.ClosePrestarted()
	MustNoContainers(t, labels)
}

// A gated job that never prints its gate line (a build that failed) ends as
// it would without one; a gated job with BuildCPUs at or below the limit
// still gets its newline.
func TestGateNeverReachedOrNotRaised(t *testing.T) {
	e := prestartEngine(t, PrestartIdle)
	labels := testLabels(t, KindGrade)
	for _, prestart := range []bool{false, true} {
		res, err := e.Run(MustContext(t, time.Minute), RunSpec{
			Image: MustLabImage(t), Labels: labels, Limits: faultlineLimitsSmall, Prestart: prestart,
			Stdin: strings.NewReader("x"), Cmd: []string{"sh", "-c", "echo GATEWAY; echo build failed; exit 4"},
			Gate: "GATE", BuildCPUs: 2,
		})
		if err != nil || res.ExitCode != 4 || res.TimedOut || !strings.Contains(string(res.Output), "build failed") {
			t.Fatalf("prestart %v: %v %+v %q", prestart, err, res, res.Output)
		}
		res, err = e.Run(MustContext(t, time.Minute), RunSpec{
			Image: MustLabImage(t), Labels: labels, Limits: faultlineLimitsSmall, Prestart: prestart,
			Stdin: strings.NewReader("7\npayload"), Cmd: []string{"sh", "-c", gateScript},
			Gate: "GATE", BuildCPUs: 0.5,
		})
		if err != nil || res.ExitCode != 0 {
			t.Fatalf("prestart %v, not raised: %v %+v %q", prestart, err, res, res.Output)
		}
		if before, after := cpusOf(t, string(res.Output), "before"), cpusOf(t, string(res.Output), "after"); before != 1 || after != 1 {
			t.Errorf("not raised: %g CPUs before the gate and %g after, want 1 and 1", before, after)
		}
	}
	// Without Stdin a gate holds only a job that has a stdin anyway (a
	// pre-started one, whose stdin is then the gate's newline alone); any
	// other runs at the limit throughout, since nothing could lower it.
	const noInput = `q() { cat /sys/fs/cgroup/cpu.max 2>/dev/null || echo $(cat /sys/fs/cgroup/cpu/cpu.cfs_quota_us) $(cat /sys/fs/cgroup/cpu/cpu.cfs_period_us); }
echo "before $(q)"; echo GATE; read -r _ || exit 3; echo "after $(q)"`
	for _, prestart := range []bool{false, true} {
		res, err := e.Run(MustContext(t, time.Minute), RunSpec{
			Image: MustLabImage(t), Labels: labels, Limits: faultlineLimitsSmall, Prestart: prestart,
			Cmd: []string{"sh", "-c", noInput}, Gate: "GATE", BuildCPUs: 2,
		})
		if err != nil {
			t.Fatal(err)
		}
		out := string(res.Output)
		switch before := cpusOf(t, out, "before"); {
		case !prestart && (before != 1 || res.ExitCode != 3):
			t.Errorf("no stdin: %g CPUs before the gate and exit %d, want 1 and 3 (no newline)\n%s", before, res.ExitCode, out)
		case prestart && runtime.NumCPU() >= 2 && (before != 2 || res.ExitCode != 0 || cpusOf(t, out, "after") != 1):
			t.Errorf("prestart without stdin: %g CPUs before the gate, exit %d, want 2 then 1\n%s", before, res.ExitCode, out)
		}
	}
	e.ClosePrestarted()
	MustNoContainers(t, labels)
}

// gateWatch notices the gate line only as a whole line, split across writes
// or not, and only once.
func TestGateWatch(t *testing.T) {
	for _, c := range []struct {
		writes []string
		seen   bool
	}{
		{[]string{"GATE\n"}, true},
		{[]string{"build ok\nGA", "TE", "\nrest"}, true},
		{[]string{"GATEWAY\n", "XGATE\n", "GATE"}, false},
		{[]string{strings.Repeat("x", 10000) + "GATE\n"}, false},
		{[]string{strings.Repeat("x", 10000) + "\nGATE\n"}, true},
	} {
		g := newGateWatch("GATE")
		for _, w := range c.writes {
			if n, err := g.Write([]byte(w)); n != len(w) || err != nil {
				t.Fatalf("Write = %d, %v", n, err)
			}
		}
		select {
		case <-g.seen:
			if !c.seen {
				t.Errorf("%q: gate seen", c.writes)
			}
		default:
			if c.seen {
				t.Errorf("%q: gate not seen", c.writes)
			}
		}
		_, _ = g.Write([]byte("\nGATE\n")) // a second one does not close seen again
	}
}

// Specs that differ only in their time limit share pre-started containers,
// but a container whose backstop would end within a job's limit is not
// given that job: it runs in a fresh one and is not killed early.
func TestPrestartedSharedAcrossTimeLimits(t *testing.T) {
	spec := func(limit time.Duration, script string) RunSpec {
		lim := faultlineLimitsSmall
		lim.Time = limit
		return RunSpec{Image: "img", Cmd: []string{"sh", "-c", script}, Limits: lim, Prestart: true}
	}
	if runKey(spec(2*time.Second, "x")) != runKey(spec(time.Minute, "x")) {
		t.Fatal("specs differing only in their time limit have different keys")
	}
	if runKey(spec(time.Minute, "x")) == runKey(spec(time.Minute, "y")) {
		t.Fatal("specs with different commands share a key")
	}

	e := prestartEngine(t, 3*time.Second)
	labels := testLabels(t, KindGrade)
	run := func(limit time.Duration, script string) *RunResult {
		sp := spec(limit, "cat >/dev/null; "+script)
		sp.Image, sp.Labels, sp.Stdin = MustLabImage(t), labels, strings.NewReader("x")
		res, err := e.Run(MustContext(t, time.Minute), sp)
		if err != nil {
			t.Fatal(err)
		}
		return res
	}
	waitingID := func() string {
		t.Helper()
		waitFor(t, "a container pre-started", func() bool { return e.prestartedWaiting() == 1 })
		e.pre.mu.Lock()
		defer e.pre.mu.Unlock()
		for _, ps := range e.pre.ready {
			return ps[0].id
		}
		return ""
	}
	host := func(res *RunResult) string {
		h, _, _ := strings.Cut(strings.TrimPrefix(strings.TrimSpace(string(res.Output)), "host="), "\n")
		if res.TimedOut || res.ExitCode != 0 || h == "" {
			t.Fatalf("%+v %q", res, res.Output)
		}
		return h
	}
	run(2*time.Second, "echo short")
	// The waiting container's backstop is 2 s + 3 s from its start: too
	// near for a 20 s job.
	stale := waitingID()
	if h := host(run(20*time.Second, "echo host=$(hostname)")); strings.HasPrefix(stale, h) {
		t.Errorf("a 20 s job was given the container whose backstop ends within 5 s (%s)", short(stale))
	}
	// The one pre-started when the 20 s job began serves a 2 s job.
	next := waitingID()
	if h := host(run(2*time.Second, "echo host=$(hostname)")); !strings.HasPrefix(next, h) {
		t.Errorf("the 2 s job ran in %q, not in the container pre-started for the 20 s one (%s)", h, short(next))
	}
	e.ClosePrestarted()
	MustNoContainers(t, labels)
}
