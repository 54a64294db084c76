package main

import (
	"context"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/faultline-dev/faultline"
	"github.com/faultline-dev/faultline/grader"
	"github.com/faultline-dev/faultline/labs"
	"github.com/faultline-dev/faultline/store"
)

// BenchmarkGrading measures, per lab, the latency from creating a submission
// of the reference solution to its stored result (queue, worker, container,
// go test, parsing, storing), and a bare `go test` of the same files on the
// host, alternating in the same run. It reports both and their ratio.
func BenchmarkGrading(b *testing.B) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	catalog, err := labs.Load(labs.FS)
	if err != nil {
		b.Fatal(err)
	}
	engine, err := newEngine(Config{}, logger)
	if err != nil {
		b.Fatal(err)
	}
	defer engine.Close()
	warm := catalog.StdImports()
	if _, err := engine.LabImage(ctx, warm); err != nil {
		b.Fatalf("lab image: %v", err)
	}
	db, err := store.Open(filepath.Join(b.TempDir(), "bench.db"))
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	g := grader.New(engine, grader.Options{Warm: warm, Logger: logger})
	w := grader.NewWorker(db, catalog.Lab, g, grader.WorkerOptions{Concurrency: 1, Poll: 10 * time.Millisecond, Logger: logger})
	done := make(chan error, 1)
	go func() { done <- w.Run(ctx) }()
	defer func() { cancel(); <-done }()
	user := &faultline.User{Email: "bench@example.com", Name: "Bench", Role: faultline.RoleLearner, PasswordHash: "x"}
	if err := db.CreateUser(ctx, user); err != nil {
		b.Fatal(err)
	}

	for _, lab := range catalog.All() {
		b.Run(lab.Slug, func(b *testing.B) {
			dir := writeHostTree(b, lab)
			hostGoTest(b, dir) // warm the host cache, like the image's
			gradeOnce(ctx, b, db, w, user.ID, lab)
			var host, graded time.Duration
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				t0 := time.Now()
				hostGoTest(b, dir)
				t1 := time.Now()
				gradeOnce(ctx, b, db, w, user.ID, lab)
				host += t1.Sub(t0)
				graded += time.Since(t1)
			}
			n := float64(b.N)
			b.ReportMetric(float64(graded.Milliseconds())/n, "grade-ms/op")
			b.ReportMetric(float64(host.Milliseconds())/n, "host-go-test-ms/op")
			b.ReportMetric(float64(graded)/float64(host), "ratio")
		})
	}
}

// gradeOnce submits the lab's solution and waits for its stored result.
func gradeOnce(ctx context.Context, b *testing.B, db *store.DB, w *grader.Worker, userID int64, lab *faultline.Lab) {
	b.Helper()
	s := &faultline.Submission{UserID: userID, Lab: lab.Slug, Files: lab.Solution}
	if err := db.CreateSubmission(ctx, s); err != nil {
		b.Fatal(err)
	}
	w.Kick()
	for {
		got, err := db.FindSubmission(ctx, s.ID)
		if err != nil {
			b.Fatal(err)
		}
		if got.State == faultline.SubmissionDone || got.State == faultline.SubmissionFailed {
			if got.Result.Score != got.Result.MaxScore {
				b.Fatalf("%s solution scored %d/%d (%s): %s", lab.Slug, got.Result.Score, got.Result.MaxScore, got.Result.Status, got.Result.Message)
			}
			return
		}
		time.Sleep(5 * time.Millisecond)
	}
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

func hostGoTest(b *testing.B, dir string) {
	b.Helper()
	for _, sub := range []string{"lab", "hidden"} {
		cmd := exec.Command("go", "test", "-count=1", "-vet=off", ".")
		cmd.Dir = filepath.Join(dir, sub)
		cmd.Env = append(os.Environ(), "GOFLAGS=-mod=mod", "GOPROXY=off", "GOWORK=off")
		if out, err := cmd.CombinedOutput(); err != nil {
			b.Fatalf("host go test in %s: %v\n%s", sub, err, out)
		}
	}
}
