// Command benchgoals copies `go test -bench` output from stdin to stdout and
// then prints each goal of Faultline's speed (issue "Fast where people
// wait") beside the ratio measured in the same run, one line per goal:
//
//	lesson page / static: 0.64x (goal >= 0.6x) ok
//
// A goal measured per lab (grading) shows the worst lab. A goal whose
// benchmark did not run says so. A missed goal does not change the exit
// status (`make bench` reports, it does not judge: the machine is shared and
// its numbers noisy); a benchmark that failed (a "FAIL" line) makes it exit 1
// after the report.
package main

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"regexp"
	"strconv"
	"strings"
)

// goal is one line of the table: a metric a benchmark reports and
// the bound it should meet.
type goal struct {
	label  string
	bench  *regexp.Regexp // benchmark name, -N suffix removed
	metric string
	atMost bool // the value must be <= bound (else >=)
	bound  float64
	unit   string // "x" for ratios, " ms", ""
}

var goals = []goal{
	{"grade latency p50 / bare host go test (worst lab)", regexp.MustCompile(`^BenchmarkGrading/`), "p50-ratio", true, 1.5, "x"},
	{"grade latency p95 / bare host go test (worst lab)", regexp.MustCompile(`^BenchmarkGrading/`), "p95-ratio", true, 2, "x"},
	// The same bound for files neither side has seen (nothing kept).
	{"grade latency p50 of edited files / host go test of them (worst lab)", regexp.MustCompile(`^BenchmarkGrading/`), "p50-ratio-fresh", true, 1.5, "x"},
	{"grading throughput, W workers / W parallel host go test", regexp.MustCompile(`^BenchmarkGradingThroughput`), "workers/host", false, 0.8, "x"},
	{"200-submission burst, 2 workers: submissions lost", regexp.MustCompile(`^BenchmarkGradingBurst`), "lost", true, 0, ""},
	{"200-submission burst, 2 workers: drain rate / host rate", regexp.MustCompile(`^BenchmarkGradingBurst`), "drain/host", false, 0.8, "x"},
	{"lesson page / static", regexp.MustCompile(`^BenchmarkLessonPage`), "lesson/static", false, 0.6, "x"},
	{"cohort dashboard / lesson page", regexp.MustCompile(`^BenchmarkCohortDashboard`), "dashboard/lesson", true, 3, "x"},
	{"warm sandbox start p95, two grades beside it", regexp.MustCompile(`^BenchmarkWarmStartBusy`), "warm-busy-p95-ms", true, 150, " ms"},
	{"cold sandbox start / bare create+start, p95", regexp.MustCompile(`^BenchmarkSandboxStart`), "cold/bare-p95", true, 1.3, "x"},
}

type sample struct {
	bench string
	value float64
}

var benchLine = regexp.MustCompile(`^(Benchmark\S+?)(-\d+)?\s+\d+\s+(.*)$`)

// parse returns, per metric unit, the values reported and by which benchmark.
func parse(r io.Reader, echo io.Writer) (map[string][]sample, bool, error) {
	out := map[string][]sample{}
	failed := false
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if echo != nil {
			fmt.Fprintln(echo, line)
		}
		if line == "FAIL" || strings.HasPrefix(line, "FAIL\t") || strings.HasPrefix(line, "--- FAIL") {
			failed = true
		}
		m := benchLine.FindStringSubmatch(line)
		if m == nil {
			continue
		}
		f := strings.Fields(m[3])
		for i := 0; i+1 < len(f); i += 2 {
			v, err := strconv.ParseFloat(f[i], 64)
			if err != nil {
				continue
			}
			out[f[i+1]] = append(out[f[i+1]], sample{bench: m[1], value: v})
		}
	}
	return out, failed, sc.Err()
}

// report prints one line per goal.
func report(w io.Writer, got map[string][]sample) {
	fmt.Fprintln(w, "\n== goals (issue 15), ratios measured in this run ==")
	for _, g := range goals {
		var worst *sample
		for _, s := range got[g.metric] {
			if !g.bench.MatchString(s.bench) {
				continue
			}
			if worst == nil || (g.atMost && s.value > worst.value) || (!g.atMost && s.value < worst.value) {
				worst = &s
			}
		}
		op := ">="
		if g.atMost {
			op = "<="
		}
		if worst == nil {
			fmt.Fprintf(w, "%s: not measured (goal %s %g%s)\n", g.label, op, g.bound, g.unit)
			continue
		}
		ok := "ok"
		if (g.atMost && worst.value > g.bound) || (!g.atMost && worst.value < g.bound) {
			ok = "MISSED"
		}
		where := ""
		if i := strings.Index(worst.bench, "/"); i >= 0 {
			where = " [" + worst.bench[i+1:] + "]"
		}
		fmt.Fprintf(w, "%s: %s%s%s (goal %s %g%s) %s\n", g.label, strconv.FormatFloat(worst.value, 'f', 2, 64), g.unit, where, op, g.bound, g.unit, ok)
	}
}

func main() {
	echo := io.Writer(os.Stdout)
	if len(os.Args) > 1 && os.Args[1] == "-q" {
		echo = nil
	}
	got, failed, err := parse(os.Stdin, echo)
	if err != nil {
		fmt.Fprintln(os.Stderr, "benchgoals:", err)
		os.Exit(1)
	}
	report(os.Stdout, got)
	if failed {
		fmt.Println("a benchmark FAILED: see its output above")
		os.Exit(1)
	}
}
