package store

import (
	"context"
	"database/sql"
	"io/fs"
	"path/filepath"
	"testing"
	"testing/fstest"
	"time"

	"github.com/faultline-dev/faultline"
)

// TestMigration3KeepsData builds a database at schema 2 with a graded
// submission, a cohort and memberships, then opens it with every migration
// and checks the data reads back through the new schema: results keep their
// tests, the matrix summary is backfilled, history has one record.
func TestMigration3KeepsData(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "old.db")
	old := fstest.MapFS{}
	for _, name := range []string{"0001_init.sql", "0002_quiz_attempts.sql"} {
		b, err := fs.ReadFile(migrationFS, name)
		if err != nil {
			t.Fatal(err)
		}
		old[name] = &fstest.MapFile{Data: b}
	}
	raw, err := sql.Open("sqlite3", path+"?_txlock=immediate&_journal_mode=WAL&_foreign_keys=on")
	if err != nil {
		t.Fatal(err)
	}
	now := time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
	if err := migrate(ctx, raw, old, now); err != nil {
		t.Fatal(err)
	}
	at := encodeTime(now)
	for _, q := range []string{
		`INSERT INTO users (id, email, name, role, password_hash, created_at) VALUES (1, 'ins@example.com', 'Ins', 'instructor', 'h', '` + at.(string) + `')`,
		`INSERT INTO users (id, email, name, role, password_hash, created_at) VALUES (2, 'ann@example.com', 'Ann', 'learner', 'h', '` + at.(string) + `')`,
		`INSERT INTO cohorts (id, name, invite_code, created_by, created_at) VALUES (1, 'A', 'inv', 1, '` + at.(string) + `')`,
		`INSERT INTO memberships VALUES (1, 1, 'instructor', '` + at.(string) + `'), (1, 2, 'learner', '` + at.(string) + `')`,
		`INSERT INTO submissions (id, user_id, lab, state, attempts, created_at) VALUES (7, 2, 'saga', 'done', 1, '` + at.(string) + `')`,
		`INSERT INTO submissions (id, user_id, lab, state, attempts, created_at) VALUES (8, 2, 'saga', 'queued', 0, '` + at.(string) + `')`,
		`INSERT INTO submission_files VALUES (7, 'saga.go', 'package saga')`,
		`INSERT INTO results (submission_id, status, score, max_score, message, flags, created_at) VALUES (7, 'graded', 6, 10, 'm', '["os/exec"]', '` + at.(string) + `')`,
		`INSERT INTO test_results VALUES (7, 0, 'TestA', 0, 'pass', 6, 6, '', ''), (7, 1, 'TestB', 1, 'fail', 0, 4, 'why', 'out')`,
	} {
		if _, err := raw.Exec(q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	raw.Close()

	db, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	s, err := db.FindSubmission(ctx, 7)
	if err != nil {
		t.Fatal(err)
	}
	r := s.Result
	if r == nil || r.Score != 6 || r.Message != "m" || len(r.Flags) != 1 || len(r.Tests) != 2 ||
		r.Tests[1].Name != "TestB" || !r.Tests[1].Hidden || r.Tests[1].Message != "why" {
		t.Fatalf("migrated submission = %+v (result %+v)", s, r)
	}
	if q, _ := db.FindSubmission(ctx, 8); q.Result != nil {
		t.Fatalf("ungraded submission got a result: %+v", q.Result)
	}
	if h, err := db.ResultHistory(ctx, 7); err != nil || len(h) != 1 || !h[0].Current || h[0].ID != 7 {
		t.Fatalf("history = %+v, %v", h, err)
	}
	if role, err := db.MemberRole(ctx, 1, 2); err != nil || role != faultline.MemberLearner {
		t.Fatalf("membership = %q, %v", role, err)
	}
	m, err := db.ProgressMatrix(ctx, 1)
	if err != nil || len(m) != 1 {
		t.Fatalf("matrix = %+v, %v", m, err)
	}
	if c := m[0].Cells["saga"]; c == nil || c.BestScore != 6 || c.BestID != 7 || c.Attempts != 1 || c.Submissions != 2 {
		t.Fatalf("backfilled cell = %+v", c)
	}
	// New results get fresh ids after the copied ones, and the new role works.
	if err := db.AddMember(ctx, 1, 1, faultline.MemberCoInstructor); err != nil {
		t.Fatal(err)
	}
	var seq int64
	if err := db.read.QueryRow(`SELECT seq FROM sqlite_sequence WHERE name = 'results'`).Scan(&seq); err != nil || seq < 7 {
		t.Fatalf("results sequence = %d, %v", seq, err)
	}
	var fkErrors int
	if err := db.read.QueryRow(`SELECT COUNT(*) FROM pragma_foreign_key_check`).Scan(&fkErrors); err != nil || fkErrors != 0 {
		t.Fatalf("foreign key check = %d, %v", fkErrors, err)
	}
}
