package main

import (
	"strings"
	"testing"
)

func TestReportShowsEachGoalWithWorstLab(t *testing.T) {
	in := `goos: linux
BenchmarkLessonPage-2   	    2000	   1167146 ns/op	         0.64 lesson/static	  503187 B/op
BenchmarkGrading/saga-2 	       5	   1 ns/op	 1.20 p50-ratio	 1.90 p95-ratio
BenchmarkGrading/bulkhead-2 	   5	   1 ns/op	 1.70 p50-ratio	 1.50 p95-ratio
BenchmarkGradingBurst-2 	   1	   1 ns/op	 0 lost	 0.70 drain/host
`
	got, failed, err := parse(strings.NewReader(in), nil)
	if err != nil || failed {
		t.Fatal(failed, err)
	}
	var b strings.Builder
	report(&b, got)
	out := b.String()
	for _, want := range []string{
		"lesson page / static: 0.64x (goal >= 0.6x) ok",
		"grade latency p50 / bare host go test (worst lab): 1.70x [bulkhead] (goal <= 1.5x) MISSED",
		"grade latency p95 / bare host go test (worst lab): 1.90x [saga] (goal <= 2x) ok",
		"200-submission burst, 2 workers: submissions lost: 0.00 (goal <= 0) ok",
		"200-submission burst, 2 workers: drain rate / host rate: 0.70x (goal >= 0.8x) MISSED",
		"cohort dashboard / lesson page: not measured (goal <= 3x)",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("report lacks %q:\n%s", want, out)
		}
	}
	if n := strings.Count(out, "\n"); n != len(goals)+2 {
		t.Errorf("report has %d lines, want one per goal (%d) and a heading:\n%s", n, len(goals), out)
	}
}

func TestParseNoticesAFailedBenchmark(t *testing.T) {
	_, failed, err := parse(strings.NewReader("--- FAIL: BenchmarkGrading/saga\nFAIL\tgithub.com/x/cmd\n"), nil)
	if err != nil || !failed {
		t.Fatalf("failed = %v, %v; want true", failed, err)
	}
}
