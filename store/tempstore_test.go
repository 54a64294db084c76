package store

import (
	"context"
	"path/filepath"
	"testing"
)

// Both pools keep temporary files in memory (temp_store 2), so statements
// that fire triggers inside a transaction do not each create a file.
func TestConnectionsKeepTemporaryFilesInMemory(t *testing.T) {
	db, err := Open(filepath.Join(t.TempDir(), "faultline.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	ctx := context.Background()
	for name, q := range map[string]func() (int, error){
		"write": func() (n int, err error) { err = db.write.QueryRowContext(ctx, `PRAGMA temp_store`).Scan(&n); return },
		"read":  func() (n int, err error) { err = db.read.QueryRowContext(ctx, `PRAGMA temp_store`).Scan(&n); return },
	} {
		n, err := q()
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if n != 2 {
			t.Fatalf("%s pool: temp_store = %d, want 2 (memory)", name, n)
		}
	}
}
