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

// appliedMigrations reads schema_migrations through the store's connection.
func appliedMigrations(tb testing.TB, db *sql.DB) map[int]string {
	tb.Helper()
	rows, err := db.Query(`SELECT version, applied_at FROM schema_migrations`)
	if err != nil {
		tb.Fatal(err)
	}
	defer rows.Close()
	out := map[int]string{}
	for rows.Next() {
		var v int
		var at string
		if err := rows.Scan(&v, &at); err != nil {
			tb.Fatal(err)
		}
		out[v] = at
	}
	if err := rows.Err(); err != nil {
		tb.Fatal(err)
	}
	return out
}

func TestMigrationsAppliedOnceAndOnReopen(t *testing.T) {
	ms, err := loadMigrations(migrationFS)
	if err != nil {
		t.Fatal(err)
	}
	if len(ms) == 0 || ms[0].Version != 1 {
		t.Fatalf("embedded migrations = %+v, want 0001 first", ms)
	}
	path := filepath.Join(t.TempDir(), "m.db")
	db, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	first := appliedMigrations(t, db.write)
	if len(first) != len(ms) {
		t.Fatalf("applied %d migrations, want %d", len(first), len(ms))
	}
	var mode string
	if err := db.read.QueryRow(`PRAGMA journal_mode`).Scan(&mode); err != nil || mode != "wal" {
		t.Fatalf("journal_mode = %q, %v; want wal", mode, err)
	}
	var fk int
	if err := db.write.QueryRow(`PRAGMA foreign_keys`).Scan(&fk); err != nil || fk != 1 {
		t.Fatalf("foreign_keys = %d, %v; want 1", fk, err)
	}
	db.Close()

	// Reopening applies nothing again: the CREATE TABLEs would fail if it
	// did, and the recorded times stay those of the first open.
	db2, err := Open(path)
	if err != nil {
		t.Fatalf("reopen: %v", err)
	}
	defer db2.Close()
	second := appliedMigrations(t, db2.write)
	if len(second) != len(first) {
		t.Fatalf("after reopen %d migrations recorded, want %d", len(second), len(first))
	}
	for v, at := range first {
		if second[v] != at {
			t.Fatalf("migration %d applied_at changed from %s to %s", v, at, second[v])
		}
	}
}

func TestLoadMigrationsRejectsDuplicatesAndBadNames(t *testing.T) {
	for name, fsys := range map[string]fs.FS{
		"duplicate": fstest.MapFS{
			"0001_init.sql":  {Data: []byte("CREATE TABLE a (x);")},
			"001_again.sql":  {Data: []byte("CREATE TABLE b (x);")},
			"0002_other.sql": {Data: []byte("CREATE TABLE c (x);")},
		},
		"no number": fstest.MapFS{"init.sql": {Data: []byte("SELECT 1;")}},
		"zero":      fstest.MapFS{"0000_init.sql": {Data: []byte("SELECT 1;")}},
	} {
		if _, err := loadMigrations(fsys); err == nil {
			t.Errorf("%s: loadMigrations succeeded, want an error", name)
		}
	}
}

func TestLoadMigrationsSortsByNumber(t *testing.T) {
	ms, err := loadMigrations(fstest.MapFS{
		"0010_late.sql": {Data: []byte("SELECT 10;")},
		"0002_mid.sql":  {Data: []byte("SELECT 2;")},
		"0001_init.sql": {Data: []byte("SELECT 1;")},
	})
	if err != nil {
		t.Fatal(err)
	}
	var got []int
	for _, m := range ms {
		got = append(got, m.Version)
	}
	if len(got) != 3 || got[0] != 1 || got[1] != 2 || got[2] != 10 {
		t.Fatalf("versions = %v, want [1 2 10]", got)
	}
}

func TestFailedMigrationRollsBackWholly(t *testing.T) {
	path := filepath.Join(t.TempDir(), "m.db")
	db, err := sql.Open("sqlite3", path+"?_txlock=immediate&_journal_mode=WAL")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	db.SetMaxOpenConns(1)
	ctx := context.Background()
	now := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	bad := fstest.MapFS{
		"0001_ok.sql":  {Data: []byte("CREATE TABLE one (x);")},
		"0002_bad.sql": {Data: []byte("CREATE TABLE two (x); INSERT INTO nowhere VALUES (1);")},
	}
	if err := migrate(ctx, db, bad, now); err == nil {
		t.Fatal("migrate with a broken migration succeeded")
	}
	applied := appliedMigrations(t, db)
	if len(applied) != 1 {
		t.Fatalf("recorded migrations = %v, want only 1", applied)
	}
	var n int
	if err := db.QueryRow(`SELECT COUNT(*) FROM sqlite_master WHERE name = 'two'`).Scan(&n); err != nil || n != 0 {
		t.Fatalf("table two exists (%d, %v): migration 0002 was not rolled back", n, err)
	}

	// Fixed, the second migration applies and the first is not re-run.
	good := fstest.MapFS{
		"0001_ok.sql":  {Data: []byte("CREATE TABLE one (x);")},
		"0002_bad.sql": {Data: []byte("CREATE TABLE two (x);")},
	}
	if err := migrate(ctx, db, good, now); err != nil {
		t.Fatalf("migrate after fix: %v", err)
	}
	if got := appliedMigrations(t, db); len(got) != 2 {
		t.Fatalf("recorded migrations = %v, want 2", got)
	}
}

// Several handles opening a fresh file at once (as several processes would)
// all succeed, and each migration is recorded once.
func TestConcurrentOpenMigratesOnce(t *testing.T) {
	path := filepath.Join(t.TempDir(), "m.db")
	const n = 4
	dbs := make([]*DB, n)
	errs := make([]error, n)
	done := make(chan int)
	for i := 0; i < n; i++ {
		go func(i int) {
			dbs[i], errs[i] = Open(path)
			done <- i
		}(i)
	}
	for i := 0; i < n; i++ {
		<-done
	}
	for i, err := range errs {
		if err != nil {
			t.Errorf("open %d: %v", i, err)
		} else {
			defer dbs[i].Close()
		}
	}
	if t.Failed() {
		t.FailNow()
	}
	ms, err := loadMigrations(migrationFS)
	if err != nil {
		t.Fatal(err)
	}
	if got := appliedMigrations(t, dbs[0].write); len(got) != len(ms) {
		t.Fatalf("recorded %d migrations, want %d", len(got), len(ms))
	}
}
