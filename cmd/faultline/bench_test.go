package main

import (
	"context"
	"fmt"
	"go/parser"
	"go/token"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/faultline-dev/faultline"
	"github.com/faultline-dev/faultline/grader"
	"github.com/faultline-dev/faultline/labs"
	"github.com/faultline-dev/faultline/store"
)

// rig is a grading setup as `faultline serve` wires it: the Docker engine,
// the lab image, a real SQLite file and a queue worker of some concurrency.
type rig struct {
	ctx     context.Context
	db      *store.DB
	w       *grader.Worker
	catalog *labs.Catalog
	user    int64
}

// newRig starts a worker grading concurrency submissions at once; it stops
// when the benchmark ends.
func newRig(b *testing.B, concurrency int) *rig {
	b.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	catalog, err := labs.Load(labs.FS)
	if err != nil {
		b.Fatal(err)
	}
	engine, err := newEngine(Config{}, logger)
	if err != nil {
		b.Fatal(err)
	}
	warm := catalog.StdImports()
	if _, err := engine.LabImage(ctx, warm); err != nil {
		b.Fatalf("lab image: %v", err)
	}
	db, err := store.Open(filepath.Join(b.TempDir(), "bench.db"))
	if err != nil {
		b.Fatal(err)
	}
	// As `faultline serve` grades: keeping test binaries in its data folder.
	g := grader.New(engine, grader.Options{Warm: warm, Logger: logger, BuildCacheDir: filepath.Join(b.TempDir(), "build-cache"), BuildCacheMB: grader.DefaultBuildCacheMB})
	w := grader.NewWorker(db, catalog.Lab, g, grader.WorkerOptions{Concurrency: concurrency, Poll: 10 * time.Millisecond, Logger: logger})
	done := make(chan error, 1)
	go func() { done <- w.Run(ctx) }()
	b.Cleanup(func() { cancel(); <-done; db.Close(); engine.Close() })
	user := &faultline.User{Email: "bench@example.com", Name: "Bench", Role: faultline.RoleLearner, PasswordHash: "x"}
	if err := db.CreateUser(ctx, user); err != nil {
		b.Fatal(err)
	}
	return &rig{ctx: ctx, db: db, w: w, catalog: catalog, user: user.ID}
}

// percentile returns the q-quantile of ds (nearest rank).
func percentile(ds []time.Duration, q float64) time.Duration {
	s := slices.Clone(ds)
	slices.Sort(s)
	return s[min(len(s)-1, int(q*float64(len(s))))]
}

// BenchmarkGrading measures, per lab, the latency from creating a submission
// of the reference solution to its stored result (queue, worker, container,
// go test, parsing, storing), and a bare `go test` of the same files on the
// host, alternating in the same run. It reports p50 and p95 of both and
// their ratios (p50-ratio, p95-ratio: the goals `make bench` prints).
//
// Both sides have seen the tree once before timing: the host run finds every
// package compiled in its cache, so it only links and runs, and the grader
// finds the tree's test binaries kept (grader.Options.BuildCacheDir, as
// `faultline serve` sets it on Docker). Code neither has seen must be compiled, the learner's
// package and the hidden tests against it: for that comparison each run
// also edits the learner's package in a way that changes what the hidden
// tests compile against (a new exported constant's value), times the host's
// `go test` and a grade of the edited files, and reports host-fresh-p50-ms,
// grade-fresh-p50-ms and their p50-ratio-fresh, held to the p50 goal too.
func BenchmarkGrading(b *testing.B) {
	r := newRig(b, 1)
	for _, lab := range r.catalog.All() {
		b.Run(lab.Slug, func(b *testing.B) {
			dir := writeHostTree(b, lab)
			hostGoTest(b, dir) // warm the host cache, like the image's
			r.gradeOnce(b, lab)
			var host, fresh, graded, gradedFresh []time.Duration
			base := int(time.Now().UnixNano() % 1e9) // an edit neither side has seen, run after run
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				t0 := time.Now()
				hostGoTest(b, dir)
				t1 := time.Now()
				r.gradeOnce(b, lab)
				host = append(host, t1.Sub(t0))
				graded = append(graded, time.Since(t1))
				b.StopTimer()
				edit := editLearnerPackage(b, dir, base+i)
				files := append(slices.Clone(lab.Solution), edit)
				b.StartTimer()
				t2 := time.Now()
				hostGoTest(b, dir)
				t3 := time.Now()
				r.gradeFiles(b, lab, files)
				fresh = append(fresh, t3.Sub(t2))
				gradedFresh = append(gradedFresh, time.Since(t3))
			}
			ms := func(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
			b.ReportMetric(ms(percentile(graded, 0.5)), "grade-p50-ms")
			b.ReportMetric(ms(percentile(host, 0.5)), "host-p50-ms")
			b.ReportMetric(ms(percentile(fresh, 0.5)), "host-fresh-p50-ms")
			b.ReportMetric(ms(percentile(gradedFresh, 0.5)), "grade-fresh-p50-ms")
			b.ReportMetric(float64(percentile(gradedFresh, 0.5))/float64(percentile(fresh, 0.5)), "p50-ratio-fresh")
			b.ReportMetric(float64(percentile(graded, 0.5))/float64(percentile(host, 0.5)), "p50-ratio")
			b.ReportMetric(float64(percentile(graded, 0.95))/float64(percentile(host, 0.95)), "p95-ratio")
			b.ReportMetric(0, "ns/op")
		})
	}
}

// throughputWorkers is W of the throughput and burst benchmarks: the
// worker's concurrency and the host's parallel go test runs.
const throughputWorkers = 2

// BenchmarkGradingThroughput grades every lab's solution once with W=2
// concurrent grades and runs the same trees' bare `go test` on the host W
// at a time, alternating, and reports the ratio of the rates (workers/host:
// >= 1 means the queue keeps up with the host). Before timing, each tree is
// run once on the host and graded once, so both have compiled it before
// (the host's build cache, the grader's shared one where the engine keeps
// it), as in BenchmarkGrading.
func BenchmarkGradingThroughput(b *testing.B) {
	r := newRig(b, throughputWorkers)
	all := r.catalog.All()
	dirs := make([]string, len(all))
	for i, lab := range all {
		dirs[i] = writeHostTree(b, lab)
		hostGoTest(b, dirs[i])
	}
	r.gradeAll(b, all) // the grader has seen each tree once too, as the host's cache has
	var host, graded time.Duration
	b.ResetTimer()
	for range b.N {
		host += hostParallel(b, dirs, throughputWorkers)
		graded += r.gradeAll(b, all)
	}
	b.ReportMetric(float64(len(all)*b.N)/graded.Seconds(), "grades/s")
	b.ReportMetric(float64(len(all)*b.N)/host.Seconds(), "host-runs/s")
	b.ReportMetric(host.Seconds()/graded.Seconds(), "workers/host")
	b.ReportMetric(0, "ns/op")
}

// BenchmarkGradingBurst queues 200 submissions at once (the labs' solutions
// in turn, as at a deadline) for a worker with 2 concurrent grades, waits
// for every one to be graded, and counts those lost (not graded exactly once
// with full marks); it reports that and the drain rate against the host's
// bare `go test` of the same 200 trees, 2 at a time.
func BenchmarkGradingBurst(b *testing.B) {
	const n = 200
	r := newRig(b, throughputWorkers)
	all := r.catalog.All()
	labsOf := make([]*faultline.Lab, n)
	dirByLab := map[string]string{}
	dirs := make([]string, n)
	for i := range n {
		lab := all[i%len(all)]
		labsOf[i] = lab
		if dirByLab[lab.Slug] == "" {
			dirByLab[lab.Slug] = writeHostTree(b, lab)
			hostGoTest(b, dirByLab[lab.Slug])
		}
		dirs[i] = dirByLab[lab.Slug]
	}
	r.gradeAll(b, all) // the grader has seen each tree once too, as the host's cache has
	var host, graded time.Duration
	lost := 0
	b.ResetTimer()
	for range b.N {
		host += hostParallel(b, dirs, throughputWorkers)
		d, l := r.burst(b, labsOf)
		graded += d
		lost += l
	}
	b.ReportMetric(float64(lost), "lost")
	b.ReportMetric(float64(n*b.N)/graded.Seconds(), "grades/s")
	b.ReportMetric(host.Seconds()/graded.Seconds(), "drain/host")
	b.ReportMetric(0, "ns/op")
}

// gradeOnce submits the lab's solution and waits for its stored result.
func (r *rig) gradeOnce(b *testing.B, lab *faultline.Lab) {
	b.Helper()
	r.gradeAll(b, []*faultline.Lab{lab})
}

// gradeFiles submits files for the lab and waits for a stored result with
// full marks.
func (r *rig) gradeFiles(b *testing.B, lab *faultline.Lab, files []faultline.File) {
	b.Helper()
	if _, lost := r.submit(b, []*faultline.Lab{lab}, [][]faultline.File{files}); lost > 0 {
		b.Fatalf("%s: edited solution not graded with full marks", lab.Slug)
	}
}

// gradeAll submits each lab's solution at once and waits until all are
// graded with full marks; it returns the time that took.
func (r *rig) gradeAll(b *testing.B, all []*faultline.Lab) time.Duration {
	b.Helper()
	d, lost := r.burst(b, all)
	if lost > 0 {
		b.Fatalf("%d of %d submissions were not graded with full marks", lost, len(all))
	}
	return d
}

// burst submits each lab's solution at once and waits until none is
// waiting or running; it returns how long that took and how many did not
// end graded with full marks.
func (r *rig) burst(b *testing.B, all []*faultline.Lab) (time.Duration, int) {
	b.Helper()
	files := make([][]faultline.File, len(all))
	for i, lab := range all {
		files[i] = lab.Solution
	}
	return r.submit(b, all, files)
}

// submit submits files[i] for all[i] at once and waits as burst does.
func (r *rig) submit(b *testing.B, all []*faultline.Lab, files [][]faultline.File) (time.Duration, int) {
	b.Helper()
	t0 := time.Now()
	ids := make([]int64, len(all))
	for i, lab := range all {
		s := &faultline.Submission{UserID: r.user, Lab: lab.Slug, Files: files[i]}
		if err := r.db.CreateSubmission(r.ctx, s); err != nil {
			b.Fatal(err)
		}
		ids[i] = s.ID
	}
	for range throughputWorkers {
		r.w.Kick()
	}
	lost := 0
	for i, id := range ids {
		for {
			got, err := r.db.FindSubmission(r.ctx, id)
			if err != nil {
				b.Fatal(err)
			}
			if got.State == faultline.SubmissionDone || got.State == faultline.SubmissionFailed {
				if got.State != faultline.SubmissionDone || got.Result == nil || got.Result.Score != got.Result.MaxScore {
					lost++
					if got.Result != nil {
						b.Logf("%s solution: %s %d/%d: %s", all[i].Slug, got.Result.Status, got.Result.Score, got.Result.MaxScore, got.Result.Message)
						for _, t := range got.Result.Tests {
							if t.Score != t.MaxScore {
								b.Logf("  %s %s: %s\n%s", t.Name, t.Status, t.Message, t.Output)
							}
						}
					}
				}
				break
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
	return time.Since(t0), lost
}

// hostParallel runs hostGoTest on every dir, w at a time, and returns the
// wall time.
func hostParallel(b *testing.B, dirs []string, w int) time.Duration {
	b.Helper()
	t0 := time.Now()
	next := make(chan string)
	var wg sync.WaitGroup
	errs := make(chan error, w)
	for range w {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for dir := range next {
				if err := runHostGoTest(dir); err != nil {
					errs <- err
					for range next {
					}
					return
				}
			}
		}()
	}
	for _, d := range dirs {
		next <- d
	}
	close(next)
	wg.Wait()
	close(errs)
	if err := <-errs; err != nil {
		b.Fatal(err)
	}
	return time.Since(t0)
}

// writeHostTree lays the solution out as the grader does: the learner module
// (its go.mod included) with the visible tests, the hidden-test module beside
// it, and labkit.
func writeHostTree(b *testing.B, lab *faultline.Lab) string {
	b.Helper()
	dir := b.TempDir()
	tree, err := labs.GradingTree(lab, lab.Solution)
	if err != nil {
		b.Fatal(err)
	}
	if err := labs.WriteTree(dir, tree); err != nil {
		b.Fatal(err)
	}
	return dir
}

// editLearnerPackage writes a file into the host tree's learner package
// declaring an exported constant whose value is n: the package's export
// data changes, so the next `go test` compiles it and the hidden tests
// again, as a grade of new code must.
func editLearnerPackage(b *testing.B, dir string, n int) faultline.File {
	b.Helper()
	lab := filepath.Join(dir, "lab")
	names, err := filepath.Glob(filepath.Join(lab, "*.go"))
	if err != nil {
		b.Fatal(err)
	}
	pkg := ""
	for _, name := range names {
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(token.NewFileSet(), name, nil, parser.PackageClauseOnly)
		if err != nil {
			b.Fatal(err)
		}
		pkg = f.Name.Name
		break
	}
	if pkg == "" {
		b.Fatalf("no package in %s", lab)
	}
	src := fmt.Sprintf("package %s\n\n// FaultlineBenchEdit changes with every run of the benchmark.\nconst FaultlineBenchEdit = %d\n", pkg, n)
	if err := os.WriteFile(filepath.Join(lab, "zz_faultline_bench_edit.go"), []byte(src), 0o644); err != nil {
		b.Fatal(err)
	}
	return faultline.File{Path: "zz_faultline_bench_edit.go", Content: []byte(src)}
}

func hostGoTest(b *testing.B, dir string) {
	b.Helper()
	if err := runHostGoTest(dir); err != nil {
		b.Fatal(err)
	}
}

// runHostGoTest is a bare `go test -count=1` of the tree's two modules.
func runHostGoTest(dir string) error {
	for _, sub := range []string{"lab", "hidden"} {
		cmd := exec.Command("go", "test", "-count=1", "-vet=off", ".")
		cmd.Dir = filepath.Join(dir, sub)
		cmd.Env = append(os.Environ(), "GOFLAGS=-mod=mod", "GOPROXY=off", "GOWORK=off")
		if out, err := cmd.CombinedOutput(); err != nil {
			return fmt.Errorf("host go test in %s: %v\n%s", sub, err, out)
		}
	}
	return nil
}
