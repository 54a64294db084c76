package store

import (
	"context"
	"database/sql"
	"io/fs"
	"path/filepath"
	"testing"
	"testing/fstest"
	"time"
)

// TestMigration4MovesRestorePoints builds a database at schema 3 whose
// learner has restore points in the old JSON manifest (a pseudo-file of a
// companion workspace), opens it with every migration, and checks the
// points read back from the new tables with their files, the companion
// workspace is gone, and version sizes are filled.
func TestMigration4MovesRestorePoints(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "old.db")
	old := fstest.MapFS{}
	for _, name := range []string{"0001_init.sql", "0002_quiz_attempts.sql", "0003_instructors.sql"} {
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
	at := encodeTime(now).(string)
	manifest := `[{"id":1,"label":"Before reset to starter","at":"2025-03-01T11:00:00.5Z","files":[{"path":"a.go","version":1},{"path":"b.go","version":2}]},` +
		`{"id":2,"label":"Before restoring “Before reset to starter”","at":"2025-03-01T11:30:00Z","files":[{"path":"a.go","version":3},{"path":"gone.go","version":99}]}]`
	for _, q := range []string{
		`INSERT INTO users (id, email, name, role, password_hash, created_at) VALUES (2, 'ann@example.com', 'Ann', 'learner', 'h', '` + at + `')`,
		`INSERT INTO file_versions (id, user_id, lab, path, content, deleted, created_at) VALUES
			(1, 2, 'saga', 'a.go', 'a1', 0, '` + at + `'), (2, 2, 'saga', 'b.go', 'b1', 0, '` + at + `'),
			(3, 2, 'saga', 'a.go', 'a22', 0, '` + at + `'),
			(4, 2, 'saga~restore-points', 'points.json', '[]', 0, '` + at + `'),
			(5, 2, 'saga~restore-points', 'points.json', '` + manifest + `', 0, '` + at + `')`,
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
	points, err := db.ListRestorePoints(ctx, 2, "saga")
	if err != nil || len(points) != 2 {
		t.Fatalf("points = %+v, %v", points, err)
	}
	if p := points[1]; p.Label != "Before reset to starter" || len(p.Files) != 2 || !p.CreatedAt.Equal(time.Date(2025, 3, 1, 11, 0, 0, 500e6, time.UTC)) {
		t.Fatalf("oldest point = %+v", p)
	}
	// A manifest entry naming a version that no longer exists is dropped.
	if p := points[0]; len(p.Files) != 1 || p.Files[0].VersionID != 3 {
		t.Fatalf("newest point = %+v", p)
	}
	_, files, err := db.RestorePointFiles(ctx, 2, "saga", points[1].ID)
	if err != nil || len(files) != 2 || string(files[0].Content) != "a1" || string(files[1].Content) != "b1" {
		t.Fatalf("files of the oldest point = %+v, %v", files, err)
	}
	if vs, _ := db.Files(ctx, 2, "saga~restore-points"); len(vs) != 0 {
		t.Fatalf("the companion workspace is still there: %+v", vs)
	}
	used, _, err := db.StorageUsed(ctx, 2)
	if err != nil || used != int64(len("a1")+len("b1")+len("a22")) {
		t.Fatalf("storage used = %d, %v", used, err)
	}
}
