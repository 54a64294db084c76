package store_test

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/faultline-dev/faultline"
	"github.com/faultline-dev/faultline/store"
)

// report is a labkit-style failure report listing faults.
func report(faults ...string) string {
	out := "\nPROPERTY BROKEN: x\n\nVirtual time: 1s\nFaults injected:\n"
	for _, f := range faults {
		out += "  at 1s: " + f + "\n"
	}
	return out + "Seed: 1\nReproduce: go test\n"
}

// submitGraded creates, claims and completes a submission of lab by user
// with the given per-test statuses (each test worth 10), after advancing clk.
func submitGraded(tb testing.TB, db *store.DB, clk *testClock, user int64, lab string, tests map[string]string) *faultline.Submission {
	tb.Helper()
	clk.Advance(time.Minute)
	s := MustCreateSubmission(tb, db, user, lab)
	MustClaim(tb, db, "w", time.Minute)
	r := &faultline.Result{Status: faultline.StatusGraded}
	names := make([]string, 0, len(tests))
	for n := range tests {
		names = append(names, n)
	}
	slices.Sort(names)
	for _, n := range names {
		tr := faultline.TestResult{Name: n, MaxScore: 10, Status: faultline.TestPass, Score: 10}
		if out := tests[n]; out != "pass" {
			tr.Status, tr.Score, tr.Output = faultline.TestFail, 0, out
		}
		r.Score += tr.Score
		r.MaxScore += 10
		r.Tests = append(r.Tests, tr)
	}
	MustCompleteWith(tb, db, s.ID, "w", r)
	return s
}

func TestDashboards(t *testing.T) {
	ctx := context.Background()
	db, clk := MustOpenDB(t)
	ins := MustCreateUser(t, db, "ins@example.com", faultline.RoleInstructor)
	c := MustCreateCohort(t, db, ins.ID, "A", "inv-a")
	var learners []*faultline.User
	for _, e := range []string{"ann@example.com", "bob@example.com", "cat@example.com", "dan@example.com"} {
		u := MustCreateUser(t, db, e, faultline.RoleLearner)
		if err := db.AddMember(ctx, c.ID, u.ID, faultline.MemberLearner); err != nil {
			t.Fatal(err)
		}
		learners = append(learners, u)
	}
	ann, bob, cat, dan := learners[0], learners[1], learners[2], learners[3]
	outsider := MustCreateUser(t, db, "out@example.com", faultline.RoleLearner)
	part, crash := report("partition n1 | n2", "heal all partitions"), report("crash n2", "restart n2")

	// Ann: started a sandbox, then 3 tries, full marks on the 2nd; later a worse one.
	if err := db.UpsertSandbox(ctx, &faultline.Sandbox{UserID: ann.ID, Lab: "saga", State: faultline.SandboxRunning}); err != nil {
		t.Fatal(err)
	}
	sandboxAt := clk.Now()
	submitGraded(t, db, clk, ann.ID, "saga", map[string]string{"TestA": part, "TestB": "pass"})
	annFull := submitGraded(t, db, clk, ann.ID, "saga", map[string]string{"TestA": "pass", "TestB": "pass"})
	submitGraded(t, db, clk, ann.ID, "saga", map[string]string{"TestA": "pass", "TestB": crash})
	// Bob: full marks at once.
	bobFull := submitGraded(t, db, clk, bob.ID, "saga", map[string]string{"TestA": "pass", "TestB": "pass"})
	// Cat: never passes TestA under partition; also one run that errored.
	submitGraded(t, db, clk, cat.ID, "saga", map[string]string{"TestA": part, "TestB": "pass"})
	clk.Advance(time.Minute)
	errSub := MustCreateSubmission(t, db, cat.ID, "saga")
	MustClaim(t, db, "w", time.Minute)
	MustCompleteWith(t, db, errSub.ID, "w", &faultline.Result{Status: faultline.StatusError})
	// Cat also did another lab; Dan did nothing but read.
	submitGraded(t, db, clk, cat.ID, "outbox", map[string]string{"TestX": "pass"})
	for _, l := range []string{"sagas", "outbox", "retries"} {
		if err := db.MarkLessonRead(ctx, dan.ID, l); err != nil {
			t.Fatal(err)
		}
	}
	if err := db.MarkLessonRead(ctx, ann.ID, "sagas"); err != nil {
		t.Fatal(err)
	}
	// An outsider's submissions never count.
	submitGraded(t, db, clk, outsider.ID, "saga", map[string]string{"TestA": part, "TestB": part})

	// Progress matrix.
	m, err := db.ProgressMatrix(ctx, c.ID)
	if err != nil {
		t.Fatal(err)
	}
	if len(m) != 4 {
		t.Fatalf("matrix rows = %d, want 4", len(m))
	}
	byEmail := map[string]*faultline.MatrixRow{}
	for _, r := range m {
		byEmail[r.Email] = r
	}
	a := byEmail["ann@example.com"]
	if a.LessonsRead != 1 || len(a.Cells) != 1 {
		t.Fatalf("ann row = %+v", a)
	}
	if cell := a.Cells["saga"]; cell.BestScore != 20 || cell.MaxScore != 20 || cell.Attempts != 3 || cell.Submissions != 3 || cell.BestID != annFull.ID {
		t.Fatalf("ann saga = %+v (best id want %d)", cell, annFull.ID)
	}
	cc := byEmail["cat@example.com"]
	if cell := cc.Cells["saga"]; cell.BestScore != 10 || cell.Attempts != 1 || cell.Submissions != 2 || !cell.LastSubmitAt.Equal(errSub.CreatedAt) {
		t.Fatalf("cat saga = %+v", cell)
	}
	if d := byEmail["dan@example.com"]; d.LessonsRead != 3 || len(d.Cells) != 0 {
		t.Fatalf("dan row = %+v", d)
	}
	_, err = db.ProgressMatrix(ctx, 999)
	assertCode(t, err, faultline.ENOTFOUND)

	// Lab stats.
	st, err := db.LabStats(ctx, c.ID, "saga")
	if err != nil {
		t.Fatal(err)
	}
	if st.Learners != 3 || st.MaxScore != 20 {
		t.Fatalf("stats = %+v", st)
	}
	if want := []faultline.ScoreBucket{{Score: 10, Learners: 1}, {Score: 20, Learners: 2}}; !slices.Equal(st.Scores, want) {
		t.Fatalf("scores = %+v, want %+v", st.Scores, want)
	}
	if want := []int{1, 2}; !slices.Equal(st.AttemptsToFull, want) {
		t.Fatalf("attempts to full = %v, want %v", st.AttemptsToFull, want)
	}
	// Bob solved with his first submission (0s); Ann from her sandbox start.
	if want := []time.Duration{0, annFull.CreatedAt.Sub(sandboxAt)}; !slices.Equal(st.TimeToSolve, want) {
		t.Fatalf("time to solve = %v, want %v", st.TimeToSolve, want)
	}
	// Latest results: Ann fails TestB (crash), Bob passes, Cat fails TestA (partition).
	wantTests := []faultline.TestFailRate{
		{Name: "TestA", Failing: 1, Learners: 3, Percent: 33},
		{Name: "TestB", Failing: 1, Learners: 3, Percent: 33},
	}
	if !slices.Equal(st.FailingTests, wantTests) {
		t.Fatalf("failing tests = %+v, want %+v", st.FailingTests, wantTests)
	}
	wantFaults := []faultline.FaultFailRate{
		{Fault: "crash", Failing: 1, Learners: 3, Percent: 33},
		{Fault: "partition", Failing: 1, Learners: 3, Percent: 33},
	}
	if !slices.Equal(st.FailingFault, wantFaults) {
		t.Fatalf("failing faults = %+v, want %+v", st.FailingFault, wantFaults)
	}
	if empty, err := db.LabStats(ctx, c.ID, "nothing"); err != nil || empty.Learners != 0 || len(empty.FailingTests) != 0 {
		t.Fatalf("stats of an untouched lab = %+v, %v", empty, err)
	}
	_ = bobFull

}

// TestMatrixAgreesWithAttempts checks the packed best-score summary of the
// matrix against the held scores decided from CohortAttempts on seeded data.
func TestMatrixAgreesWithAttempts(t *testing.T) {
	ctx := context.Background()
	db, _ := MustOpenDB(t)
	c, err := store.SeedCohortForBench(ctx, db, store.BenchSeed{Learners: 12, Labs: []string{"a", "b", "c"}, SubsPerLab: 5,
		Lessons: []string{"l1", "l2", "l3"}, Seed: 7})
	if err != nil {
		t.Fatal(err)
	}
	m, err := db.ProgressMatrix(ctx, c.ID)
	if err != nil {
		t.Fatal(err)
	}
	held := MustHeld(t, db, c.ID)
	if len(m) != 12 || len(held) != 36 {
		t.Fatalf("matrix rows %d, held scores %d; want 12 and 36", len(m), len(held))
	}
	for _, r := range m {
		for lab, cell := range r.Cells {
			h := held[heldKey(r.UserID, lab)]
			if cell.BestScore != h.Score || cell.BestID != h.BestID || cell.Attempts != h.Attempts ||
				cell.MaxScore != h.MaxScore || cell.Submissions != 5 {
				t.Fatalf("user %d lab %s: matrix %+v, held %+v", r.UserID, lab, cell, h)
			}
		}
	}
	st, err := db.LabStats(ctx, c.ID, "a")
	if err != nil || st.Learners != 12 || len(st.FailingTests) != 6 {
		t.Fatalf("seeded stats = %+v, %v", st, err)
	}
}

func TestTokens(t *testing.T) {
	ctx := context.Background()
	db, clk := MustOpenDB(t)
	u := MustCreateUser(t, db, "ins@example.com", faultline.RoleInstructor)
	other := MustCreateUser(t, db, "other@example.com", faultline.RoleInstructor)

	tok, secret, err := db.CreateToken(ctx, u.ID, " gradebook sync ", time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	if tok.ID == 0 || tok.Name != "gradebook sync" || len(secret) < 30 || secret[:len(tok.Prefix)] != tok.Prefix {
		t.Fatalf("token = %+v, secret %q", tok, secret)
	}
	_, _, err = db.CreateToken(ctx, u.ID, "", time.Time{})
	assertCode(t, err, faultline.EINVALID)
	_, _, err = db.CreateToken(ctx, u.ID, "past", clk.Now())
	assertCode(t, err, faultline.EINVALID)
	_, _, err = db.CreateToken(ctx, 999, "ghost", time.Time{})
	assertCode(t, err, faultline.ENOTFOUND)

	got, who, err := db.AuthenticateToken(ctx, secret)
	if err != nil || got.ID != tok.ID || who.ID != u.ID || !got.LastUsedAt.Equal(clk.Now()) {
		t.Fatalf("authenticate = %+v, %+v, %v", got, who, err)
	}
	for _, bad := range []string{"", "flt_wrong", secret + "x", secret[4:]} {
		_, _, err := db.AuthenticateToken(ctx, bad)
		assertCode(t, err, faultline.EUNAUTHORIZED)
	}
	// Last use is recorded at most once a minute.
	used := clk.Now()
	clk.Advance(30 * time.Second)
	db.AuthenticateToken(ctx, secret)
	list, _ := db.ListTokens(ctx, u.ID)
	if len(list) != 1 || !list[0].LastUsedAt.Equal(used) {
		t.Fatalf("after a use 30s later, tokens = %+v", list)
	}
	clk.Advance(time.Minute)
	db.AuthenticateToken(ctx, secret)
	list, _ = db.ListTokens(ctx, u.ID)
	if !list[0].LastUsedAt.Equal(clk.Now()) {
		t.Fatalf("after a use 90s later, last used = %v, want %v", list[0].LastUsedAt, clk.Now())
	}

	// Expiry.
	_, short, err := db.CreateToken(ctx, u.ID, "short", clk.Now().Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := db.AuthenticateToken(ctx, short); err != nil {
		t.Fatal(err)
	}
	clk.Advance(time.Hour)
	_, _, err = db.AuthenticateToken(ctx, short)
	assertCode(t, err, faultline.EUNAUTHORIZED)

	// Revocation: only by the owner.
	assertCode(t, db.RevokeToken(ctx, other.ID, tok.ID), faultline.ENOTFOUND)
	if _, _, err := db.AuthenticateToken(ctx, secret); err != nil {
		t.Fatalf("token revoked by someone else: %v", err)
	}
	if err := db.RevokeToken(ctx, u.ID, tok.ID); err != nil {
		t.Fatal(err)
	}
	_, _, err = db.AuthenticateToken(ctx, secret)
	assertCode(t, err, faultline.EUNAUTHORIZED)
	list, err = db.ListTokens(ctx, u.ID)
	if err != nil || len(list) != 2 || list[0].Name != "short" || list[1].RevokedAt.IsZero() {
		t.Fatalf("tokens = %+v, %v", list, err)
	}
	if list, _ := db.ListTokens(ctx, other.ID); len(list) != 0 {
		t.Fatalf("other's tokens = %+v", list)
	}
}

// BenchmarkProgressMatrix seeds a cohort of 200 learners × 13 labs × 20
// submissions and times the progress matrix, reporting it against a baseline
// of one learner's lesson reads (a one-row indexed lookup, like a lesson
// page's store work) measured in the same run: matrix-ns/op, baseline-ns/op
// and their ratio, plus one lab's LabStats (4000 submissions). No thresholds.
func BenchmarkProgressMatrix(b *testing.B) {
	ctx := context.Background()
	db, _ := MustOpenDB(b)
	labs := []string{"circuit-breaker", "saga", "outbox", "retry-backoff", "rate-limiter", "bulkhead", "column-family",
		"leader-election", "quorum-kv", "pubsub-idempotent", "transactional-outbox", "two-phase-commit", "gossip"}
	start := time.Now()
	c, err := store.SeedCohortForBench(ctx, db, store.BenchSeed{Learners: 200, Labs: labs, SubsPerLab: 20,
		Lessons: []string{"l1", "l2", "l3", "l4", "l5", "l6"}, Seed: 1})
	if err != nil {
		b.Fatal(err)
	}
	b.Logf("seeded 200×13×20 in %v", time.Since(start))
	var learner int64
	if m, err := db.ProgressMatrix(ctx, c.ID); err != nil || len(m) != 200 {
		b.Fatalf("matrix = %d rows, %v", len(m), err)
	} else {
		learner = m[0].UserID
	}
	b.ResetTimer()
	var matrix, base, stats time.Duration
	for b.Loop() {
		t0 := time.Now()
		if _, err := db.ProgressMatrix(ctx, c.ID); err != nil {
			b.Fatal(err)
		}
		t1 := time.Now()
		if _, err := db.LessonsRead(ctx, learner); err != nil {
			b.Fatal(err)
		}
		t2 := time.Now()
		if _, err := db.LabStats(ctx, c.ID, labs[0]); err != nil {
			b.Fatal(err)
		}
		matrix += t1.Sub(t0)
		base += t2.Sub(t1)
		stats += time.Since(t2)
	}
	n := float64(b.N)
	b.ReportMetric(float64(stats.Nanoseconds())/n, "labstats-ns/op")
	b.ReportMetric(float64(matrix.Nanoseconds())/n, "matrix-ns/op")
	b.ReportMetric(float64(base.Nanoseconds())/n, "baseline-ns/op")
	b.ReportMetric(float64(matrix)/float64(base), "matrix/baseline")
}
