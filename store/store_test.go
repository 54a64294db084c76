package store_test

import (
	"context"
	"fmt"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/faultline-dev/faultline"
	"github.com/faultline-dev/faultline/store"
)

// testClock is a settable clock shared by the DBs of one test.
type testClock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *testClock {
	return &testClock{t: time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)}
}

func (c *testClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *testClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// MustOpenDB opens a store on a new file in tb.TempDir() with a test clock
// and closes it when the test ends.
func MustOpenDB(tb testing.TB) (*store.DB, *testClock) {
	tb.Helper()
	clk := newClock()
	db := MustOpenDBAt(tb, filepath.Join(tb.TempDir(), "faultline.db"), clk)
	return db, clk
}

// MustOpenDBAt opens the store at path using clk and closes it when the test
// ends (closing twice is harmless).
func MustOpenDBAt(tb testing.TB, path string, clk *testClock) *store.DB {
	tb.Helper()
	db, err := store.Open(path)
	if err != nil {
		tb.Fatalf("open %s: %v", path, err)
	}
	db.Now = clk.Now
	tb.Cleanup(func() { db.Close() })
	return db
}

// MustCreateUser creates a user with the given email and role.
func MustCreateUser(tb testing.TB, db *store.DB, email string, role faultline.Role) *faultline.User {
	tb.Helper()
	u := &faultline.User{Email: email, Name: "Name of " + email, Role: role, PasswordHash: "$2a$10$hash"}
	if err := db.CreateUser(context.Background(), u); err != nil {
		tb.Fatalf("create user %q: %v", email, err)
	}
	return u
}

// MustCreateCohort creates a cohort owned by creator with the invite code.
func MustCreateCohort(tb testing.TB, db *store.DB, creator int64, name, code string) *faultline.Cohort {
	tb.Helper()
	c := &faultline.Cohort{Name: name, InviteCode: code, CreatedBy: creator}
	if err := db.CreateCohort(context.Background(), c); err != nil {
		tb.Fatalf("create cohort %q: %v", name, err)
	}
	return c
}

// MustCreateSubmission queues a one-file submission.
func MustCreateSubmission(tb testing.TB, db *store.DB, userID int64, lab string) *faultline.Submission {
	tb.Helper()
	s := &faultline.Submission{UserID: userID, Lab: lab, Files: []faultline.File{
		{Path: "breaker.go", Content: []byte(fmt.Sprintf("package breaker // %d %s\n", userID, lab))},
	}}
	if err := db.CreateSubmission(context.Background(), s); err != nil {
		tb.Fatalf("create submission: %v", err)
	}
	return s
}

// MustClaim claims the next submission for worker.
func MustClaim(tb testing.TB, db *store.DB, worker string, lease time.Duration) *faultline.Submission {
	tb.Helper()
	s, err := db.ClaimSubmission(context.Background(), worker, lease)
	if err != nil {
		tb.Fatalf("claim for %q: %v", worker, err)
	}
	return s
}

// MustComplete completes submission id with a graded result of score/max.
func MustComplete(tb testing.TB, db *store.DB, id int64, worker string, score, max int) {
	tb.Helper()
	r := &faultline.Result{Status: faultline.StatusGraded, Score: score, MaxScore: max}
	if err := db.CompleteSubmission(context.Background(), id, worker, r); err != nil {
		tb.Fatalf("complete %d by %q: %v", id, worker, err)
	}
}

// assertCode fails unless err carries the wanted error code.
func assertCode(tb testing.TB, err error, want string) {
	tb.Helper()
	if got := faultline.ErrorCode(err); got != want {
		tb.Fatalf("error code = %q, want %q (err: %v)", got, want, err)
	}
}

func TestReopenKeepsData(t *testing.T) {
	ctx := context.Background()
	clk := newClock()
	path := filepath.Join(t.TempDir(), "faultline.db")
	db := MustOpenDBAt(t, path, clk)

	u := MustCreateUser(t, db, "keep@example.com", faultline.RoleLearner)
	c := MustCreateCohort(t, db, u.ID, "Spring", "inv-keep")
	sess := &faultline.Session{ID: "hash-keep", UserID: u.ID, ExpiresAt: clk.Now().Add(time.Hour)}
	if err := db.CreateSession(ctx, sess); err != nil {
		t.Fatal(err)
	}
	if _, err := db.SaveFile(ctx, u.ID, "circuit-breaker", "breaker.go", []byte("v1")); err != nil {
		t.Fatal(err)
	}
	if err := db.MarkLessonRead(ctx, u.ID, "partial-failure"); err != nil {
		t.Fatal(err)
	}
	s := MustCreateSubmission(t, db, u.ID, "circuit-breaker")
	MustClaim(t, db, "w1", time.Minute)
	MustComplete(t, db, s.ID, "w1", 7, 10)
	if err := db.Close(); err != nil {
		t.Fatalf("close: %v", err)
	}

	db = MustOpenDBAt(t, path, clk)
	if got, err := db.FindUserByEmail(ctx, "keep@example.com"); err != nil || got.ID != u.ID {
		t.Fatalf("user after reopen = %+v, %v", got, err)
	}
	if got, err := db.FindCohortByInvite(ctx, "inv-keep"); err != nil || got.ID != c.ID {
		t.Fatalf("cohort after reopen = %+v, %v", got, err)
	}
	if _, got, err := db.FindSession(ctx, "hash-keep"); err != nil || got.ID != u.ID {
		t.Fatalf("session after reopen = %+v, %v", got, err)
	}
	files, err := db.Files(ctx, u.ID, "circuit-breaker")
	if err != nil || len(files) != 1 || string(files[0].Content) != "v1" {
		t.Fatalf("files after reopen = %+v, %v", files, err)
	}
	read, err := db.LessonsRead(ctx, u.ID)
	if err != nil || len(read) != 1 {
		t.Fatalf("lessons after reopen = %v, %v", read, err)
	}
	got, err := db.FindSubmission(ctx, s.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.State != faultline.SubmissionDone || got.Result == nil || got.Result.Score != 7 {
		t.Fatalf("submission after reopen = %+v (result %+v)", got, got.Result)
	}
}

func TestOpenRefusesMemory(t *testing.T) {
	if db, err := store.Open(":memory:"); err == nil {
		db.Close()
		t.Fatal("Open(:memory:) succeeded; want an error")
	}
}

func heldKey(user int64, lab string) string { return fmt.Sprintf("%d/%s", user, lab) }

// MustHeld returns what each learner of the cohort holds on each lab they
// submitted to, with no cohort rules, from CohortAttempts: by heldKey.
func MustHeld(tb testing.TB, db *store.DB, cohortID int64) map[string]faultline.HeldScore {
	tb.Helper()
	atts, err := db.CohortAttempts(context.Background(), cohortID, "")
	if err != nil {
		tb.Fatalf("CohortAttempts(%d): %v", cohortID, err)
	}
	by := map[string][]faultline.Attempt{}
	for _, a := range atts {
		by[heldKey(a.UserID, a.Lab)] = append(by[heldKey(a.UserID, a.Lab)], a.Attempt)
	}
	out := map[string]faultline.HeldScore{}
	for k, list := range by {
		out[k] = faultline.LabPolicy{}.Held(list, nil)
	}
	return out
}
