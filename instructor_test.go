package faultline_test

import (
	"slices"
	"testing"
	"time"

	"github.com/faultline-dev/faultline"
)

func TestLatePolicyApply(t *testing.T) {
	p := faultline.LatePolicy{Mode: faultline.LatePenalty, PercentPerDay: 10, CapPercent: 25}
	for _, tc := range []struct {
		late time.Duration
		want int
	}{
		{0, 80}, {-time.Hour, 80}, {time.Minute, 72}, {24 * time.Hour, 72}, {25 * time.Hour, 64}, {30 * 24 * time.Hour, 60},
	} {
		if got := p.Apply(80, tc.late); got != tc.want {
			t.Errorf("Apply(80, %v) = %d, want %d", tc.late, got, tc.want)
		}
	}
	if got := (faultline.LatePolicy{Mode: faultline.LateAccept}).Apply(80, 48*time.Hour); got != 80 {
		t.Errorf("accept policy changed the score to %d", got)
	}
}

func TestLabPolicyAdmit(t *testing.T) {
	now := time.Date(2025, 3, 10, 12, 0, 0, 0, time.UTC)
	s := &faultline.LabSettings{Lab: "saga", OpensAt: now.Add(-time.Hour), DueAt: now.Add(time.Hour),
		Late: faultline.LatePolicy{Mode: faultline.LateRefuse}, MaxSubmissions: 3, PerMinute: 2}
	for _, tc := range []struct {
		name string
		at   time.Time
		c    faultline.SubmissionCount
		want string
	}{
		{"open", now, faultline.SubmissionCount{Total: 2, LastMinute: 1}, ""},
		{"before opening", now.Add(-2 * time.Hour), faultline.SubmissionCount{}, faultline.EFORBIDDEN},
		{"after due, refused", now.Add(2 * time.Hour), faultline.SubmissionCount{}, faultline.EFORBIDDEN},
		{"at the due instant", now.Add(time.Hour), faultline.SubmissionCount{}, ""},
		{"limit used", now, faultline.SubmissionCount{Total: 3}, faultline.ETOOMANY},
		{"rate", now, faultline.SubmissionCount{Total: 2, LastMinute: 2}, faultline.ETOOMANY},
	} {
		if got := faultline.ErrorCode(s.Policy().Admit(tc.at, tc.c)); got != tc.want {
			t.Errorf("%s: Admit = %q, want %q", tc.name, got, tc.want)
		}
	}
	open := faultline.DefaultLabSettings(1, "saga")
	if err := open.Policy().Admit(now, faultline.SubmissionCount{Total: 10000, LastMinute: 500}); err != nil {
		t.Errorf("default settings refused: %v", err)
	}
}

func TestShowHiddenTests(t *testing.T) {
	due := time.Date(2025, 3, 10, 12, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		v    faultline.TestVisibility
		at   time.Time
		want bool
	}{
		{faultline.TestsVisible, due.Add(-time.Hour), true},
		{"", due.Add(-time.Hour), true},
		{faultline.TestsHidden, due.Add(time.Hour), false},
		{faultline.TestsAfterDue, due.Add(-time.Second), false},
		{faultline.TestsAfterDue, due, true},
	} {
		s := &faultline.LabSettings{Lab: "x", DueAt: due, Visibility: tc.v}
		if got := s.Policy().ShowHiddenTests(tc.at); got != tc.want {
			t.Errorf("%q at %v: ShowHiddenTests = %v, want %v", tc.v, tc.at, got, tc.want)
		}
	}
}

func TestFaultKinds(t *testing.T) {
	rep := "\nPROPERTY BROKEN: x\n  detail\n\nVirtual time: 3s\nFaults injected:\n" +
		"  (4 earlier faults not shown)\n" +
		"  at 1s: partition n1 | n2 n3\n" +
		"  at 1.5s: heal all partitions\n" +
		"  at 2s: crash n2\n" +
		"  at 2.1s: restart n2\n" +
		"  at 2.2s: link n1 -> n2: latency 1ms, loss 20%, duplication 5%\n" +
		"  at 2.3s: one-way partition n3 -> n1\n" +
		"  at 2.4s: all links: latency 5ms\n" +
		"  at 2.5s: partition n1 | n2\n" +
		"  at 2.6s: ack of e1 lost\n" +
		"  at 2.7s: the disk filled up\n" +
		"Seed: 1\nReproduce: crash everything\n"
	want := []string{"partition", "crash", "loss", "duplication", "one-way partition", "latency", "other"}
	if got := faultline.FaultKinds(rep); !slices.Equal(got, want) {
		t.Errorf("FaultKinds = %q, want %q", got, want)
	}
	if got := faultline.FaultKinds("\nFaults injected: none\nSeed: 1\n"); got != nil {
		t.Errorf("no faults = %q", got)
	}
	if got := faultline.FaultKinds("--- FAIL: TestX\n  want 1 got 2\n"); got != nil {
		t.Errorf("no report = %q", got)
	}
}
