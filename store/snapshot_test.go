package store_test

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/faultline-dev/faultline"
)

// Reads made with a snapshot's context see the database as it was at the
// snapshot's first read, whichever methods make them (each one's own
// Rollback must not end the shared transaction); reads without it, and
// reads with it after done, see later writes.
func TestReadSnapshotSeesOneState(t *testing.T) {
	ctx := context.Background()
	db, _ := MustOpenDB(t)
	u := MustCreateUser(t, db, "lea@example.com", faultline.RoleLearner)
	if err := db.MarkLessonRead(ctx, u.ID, "partial-failure"); err != nil {
		t.Fatal(err)
	}

	sctx, done, err := db.ReadSnapshot(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer done()
	read := func(ctx context.Context) int {
		t.Helper()
		m, err := db.LessonsRead(ctx, u.ID)
		if err != nil {
			t.Fatal(err)
		}
		return len(m)
	}
	quizzes := func(ctx context.Context) int {
		t.Helper()
		m, err := db.QuizScores(ctx, u.ID)
		if err != nil {
			t.Fatal(err)
		}
		return len(m)
	}
	if n := read(sctx); n != 1 {
		t.Fatalf("in the snapshot: %d lessons read, want 1", n)
	}
	// Written after the snapshot's first read, through the writer.
	if err := db.MarkLessonRead(sctx, u.ID, "circuit-breakers"); err != nil {
		t.Fatal(err)
	}
	if _, err := db.RecordQuizAttempt(ctx, faultline.QuizAttempt{UserID: u.ID, Slug: "circuit-breakers", Score: 1, Total: 2, Answers: []int{1, 2}}); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 3; i++ { // several methods, several times: still the one snapshot
		if n := read(sctx); n != 1 {
			t.Fatalf("in the snapshot after a write (%d): %d lessons read, want still 1", i, n)
		}
		if n := quizzes(sctx); n != 0 {
			t.Fatalf("in the snapshot after a write (%d): %d quiz scores, want still 0", i, n)
		}
		if _, _, err := db.FindSession(sctx, "no-such-session"); faultline.ErrorCode(err) != faultline.ENOTFOUND {
			t.Fatalf("FindSession in the snapshot: %v, want ENOTFOUND", err)
		}
	}
	if n := read(ctx); n != 2 {
		t.Fatalf("outside the snapshot: %d lessons read, want 2", n)
	}
	if n := quizzes(ctx); n != 1 {
		t.Fatalf("outside the snapshot: %d quiz scores, want 1", n)
	}

	// A snapshot inside a snapshot is the same one; its done ends nothing.
	inner, innerDone, err := db.ReadSnapshot(sctx)
	if err != nil {
		t.Fatal(err)
	}
	innerDone()
	if n := read(inner); n != 1 {
		t.Fatalf("in the nested snapshot after its done: %d lessons read, want still 1", n)
	}

	done()
	done() // twice is harmless
	if n := read(sctx); n != 2 {
		t.Fatalf("with the context after done: %d lessons read, want 2", n)
	}
}

// A snapshot belongs to its DB: another store's reads with the same context
// run in their own transactions on their own file.
func TestReadSnapshotIsPerDB(t *testing.T) {
	ctx := context.Background()
	a, _ := MustOpenDB(t)
	b := MustOpenDBAt(t, filepath.Join(t.TempDir(), "other.db"), newClock())
	ua := MustCreateUser(t, a, "lea@example.com", faultline.RoleLearner)
	ub := MustCreateUser(t, b, "lea@example.com", faultline.RoleLearner)
	sctx, done, err := a.ReadSnapshot(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer done()
	if _, err := a.LessonsRead(sctx, ua.ID); err != nil {
		t.Fatal(err)
	}
	if err := b.MarkLessonRead(ctx, ub.ID, "retries"); err != nil {
		t.Fatal(err)
	}
	m, err := b.LessonsRead(sctx, ub.ID)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := m["retries"]; !ok || len(m) != 1 {
		t.Fatalf("the other store with a's snapshot context read %v, want its own write", m)
	}
}

// done gives the snapshot's connection back to the pool (the read pool
// holds 8): many snapshots one after another never run out of connections,
// also when their context was canceled while they read.
func TestReadSnapshotReturnsItsConnection(t *testing.T) {
	db, _ := MustOpenDB(t)
	u := MustCreateUser(t, db, "lea@example.com", faultline.RoleLearner)
	for i := 0; i < 40; i++ {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		sctx, done, err := db.ReadSnapshot(ctx)
		if err != nil {
			cancel()
			t.Fatalf("snapshot %d: %v", i, err)
		}
		if i%2 == 1 {
			cancel() // the reads of a snapshot finish however its context ends
		}
		if _, err := db.LessonsRead(sctx, u.ID); err != nil {
			t.Fatalf("read in snapshot %d: %v", i, err)
		}
		done()
		cancel()
	}
}
