package main

import (
	"context"
	"path/filepath"
	"strings"
	"testing"

	"github.com/faultline-dev/faultline"
)

// TestBackupAndRestoreCommands: `faultline backup` copies the database of
// a serving portal and says what it wrote; `faultline restore` (portal
// stopped) puts it back, says where the replaced database went, and the
// portal starts on the restored data.
func TestBackupAndRestoreCommands(t *testing.T) {
	ctx := context.Background()
	data := t.TempDir()
	m := MustServe(t, data)
	mk := func(email string) {
		t.Helper()
		if err := m.DB.CreateUser(ctx, &faultline.User{Email: email, Name: email, Role: faultline.RoleLearner, PasswordHash: "x"}); err != nil {
			t.Fatal(err)
		}
	}
	mk("kept@example.com")
	file := filepath.Join(t.TempDir(), "nightly.db")
	code, out, errOut := runCLI(t, "backup", "--data-dir", data, file)
	if code != 0 || !strings.Contains(out, "backed up "+filepath.Join(data, "faultline.db")+" to "+file) || !strings.Contains(out, "1 accounts") || !strings.Contains(out, "integrity ok") {
		t.Fatalf("backup: exit %d\n%s\n%s", code, out, errOut)
	}
	if code, _, errOut := runCLI(t, "backup", "--data-dir", data, file); code != 1 || !strings.Contains(errOut, "never overwrite") {
		t.Fatalf("second backup to the same file: exit %d %s", code, errOut)
	}
	mk("lost@example.com")
	m.Close()

	code, out, errOut = runCLI(t, "restore", "--data-dir", data, file)
	if code != 0 || !strings.Contains(out, "restored "+filepath.Join(data, "faultline.db")+" from "+file) || !strings.Contains(out, "kept the replaced file as "+filepath.Join(data, "faultline.db.before-restore-")) {
		t.Fatalf("restore: exit %d\n%s\n%s", code, out, errOut)
	}
	m2 := MustServe(t, data)
	if _, err := m2.DB.FindUserByEmail(ctx, "kept@example.com"); err != nil {
		t.Errorf("after restore: %v", err)
	}
	if _, err := m2.DB.FindUserByEmail(ctx, "lost@example.com"); faultline.ErrorCode(err) != faultline.ENOTFOUND {
		t.Errorf("after restore an account made after the backup is there: %v", err)
	}
	for _, args := range [][]string{{"backup"}, {"restore"}, {"backup", "a", "b"}} {
		if code, _, _ := runCLI(t, args...); code != 2 {
			t.Errorf("%v: exit %d, want 2", args, code)
		}
	}
	if code, _, errOut := runCLI(t, "restore", "--data-dir", data, filepath.Join(data, "nope.db")); code != 1 || !strings.Contains(errOut, "no backup at") {
		t.Errorf("restore of a missing file: exit %d %s", code, errOut)
	}
}
