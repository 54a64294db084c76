package store_test

import (
	"context"
	"database/sql"
	"path/filepath"
	"testing"

	_ "github.com/mattn/go-sqlite3"

	"github.com/faultline-dev/faultline"
)

// TestReady: a fresh store is ready; one whose newest migration is not
// recorded (an older binary's database) is not, and says so.
func TestReady(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "f.db")
	db := MustOpenDBAt(t, path, newClock())
	if err := db.Ready(ctx); err != nil {
		t.Fatalf("fresh store: %v", err)
	}
	raw, err := sql.Open("sqlite3", path+"?_busy_timeout=5000")
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	if _, err := raw.Exec(`DELETE FROM schema_migrations WHERE version = (SELECT MAX(version) FROM schema_migrations)`); err != nil {
		t.Fatal(err)
	}
	if err := db.Ready(ctx); faultline.ErrorCode(err) != faultline.EUNAVAILABLE {
		t.Fatalf("store missing a migration: %v, want EUNAVAILABLE", err)
	}
}

// TestCountSandboxes counts rows by state.
func TestCountSandboxes(t *testing.T) {
	ctx := context.Background()
	db, _ := MustOpenDB(t)
	u := MustCreateUser(t, db, "a@example.com", faultline.RoleLearner)
	for lab, st := range map[string]faultline.SandboxState{"a": faultline.SandboxRunning, "b": faultline.SandboxRunning, "c": faultline.SandboxFailed} {
		if err := db.UpsertSandbox(ctx, &faultline.Sandbox{UserID: u.ID, Lab: lab, State: st}); err != nil {
			t.Fatal(err)
		}
	}
	got, err := db.CountSandboxes(ctx)
	if err != nil || got[faultline.SandboxRunning] != 2 || got[faultline.SandboxFailed] != 1 || got[faultline.SandboxStopped] != 0 {
		t.Fatalf("counts %v, %v", got, err)
	}
}
