package store_test

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/faultline-dev/faultline"
	"github.com/faultline-dev/faultline/store"
)

// TestBackupWhileWriting takes a backup of a live store while another
// goroutine keeps committing accounts, and checks the writer is never held
// up (it commits during the backup) and that the backup, restored, passes
// SQLite's integrity check and holds exactly a prefix of the commits: all
// of those made before the backup began, none made after, nothing torn.
func TestBackupWhileWriting(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	db := MustOpenDBAt(t, filepath.Join(dir, "faultline.db"), newClock())
	// Some bulk, so the copy takes many steps.
	blob := bytes.Repeat([]byte("x"), 200<<10)
	for i := 0; i < 20; i++ {
		u := MustCreateUser(t, db, fmt.Sprintf("bulk%d@example.com", i), faultline.RoleLearner)
		for j := 0; j < 4; j++ {
			if _, err := db.SaveFile(ctx, u.ID, "saga", fmt.Sprintf("f%d.go", j), append(blob, byte(j))); err != nil {
				t.Fatal(err)
			}
		}
	}
	var committed atomic.Int64 // writes 1..committed are committed
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for n := int64(1); ; n++ {
			select {
			case <-stop:
				return
			default:
			}
			u := &faultline.User{Email: fmt.Sprintf("w%d@example.com", n), Name: strconv.FormatInt(n, 10), Role: faultline.RoleLearner, PasswordHash: "x"}
			if err := db.CreateUser(ctx, u); err != nil {
				t.Errorf("write %d: %v", n, err)
				return
			}
			committed.Store(n)
		}
	}()
	waitFor := func(n int64) bool {
		deadline := time.Now().Add(time.Minute)
		for committed.Load() < n {
			if time.Now().After(deadline) {
				return false
			}
			time.Sleep(time.Millisecond)
		}
		return true
	}
	if !waitFor(20) {
		t.Fatal("the writer did not start")
	}
	before := committed.Load()
	steps := 0
	var during int64 = -1
	dst := filepath.Join(dir, "backup.db")
	info, err := store.Backup(ctx, filepath.Join(dir, "faultline.db"), dst, store.BackupOptions{
		PagesPerStep: 256,
		Progress: func(remaining, total int) {
			steps++
			if steps == 1 {
				// Mid-backup: the writer must get ten more commits in.
				at := committed.Load()
				if !waitFor(at + 10) {
					t.Error("the writer was blocked while the backup ran")
				}
				during = committed.Load()
			}
		},
	})
	close(stop)
	wg.Wait()
	if err != nil {
		t.Fatalf("backup: %v", err)
	}
	if steps < 5 {
		t.Fatalf("the backup took %d steps; the test needs a copy in many steps", steps)
	}
	if info.Bytes < 15<<20 || info.SchemaVersion == 0 {
		t.Fatalf("backup info %+v", info)
	}

	restored := filepath.Join(t.TempDir(), "faultline.db")
	res, err := store.Restore(ctx, dst, restored, store.RestoreOptions{})
	if err != nil || len(res.KeptAs) != 0 || res.From.Users != info.Users {
		t.Fatalf("restore: %+v, %v", res, err)
	}
	rdb := MustOpenDBAt(t, restored, newClock())
	if err := rdb.Ready(ctx); err != nil {
		t.Fatal(err)
	}
	// Which writes are in the backup?
	var got []int64
	for n := int64(1); n <= committed.Load(); n++ {
		_, err := rdb.FindUserByEmail(ctx, fmt.Sprintf("w%d@example.com", n))
		switch faultline.ErrorCode(err) {
		case "":
			got = append(got, n)
		case faultline.ENOTFOUND:
		default:
			t.Fatal(err)
		}
	}
	k := int64(len(got))
	for i, n := range got {
		if n != int64(i+1) {
			t.Fatalf("the backup holds writes %v: not a prefix (write %d missing)", got, i+1)
		}
	}
	if k < before || k >= during {
		t.Fatalf("the backup holds writes 1..%d; want at least the %d made before it began and none of those up to %d made during it", k, before, during)
	}
	if info.Users != int(k)+20 {
		t.Fatalf("backup says %d users, holds %d", info.Users, k+20)
	}
	files, err := rdb.Files(ctx, 1, "saga")
	if err != nil || len(files) != 4 || !bytes.Equal(files[3].Content, append(blob, 3)) {
		t.Fatalf("bulk files in the backup: %d files, %v", len(files), err)
	}
}

// TestBackupRefuses: an existing destination, a missing or foreign source.
func TestBackupRefuses(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	src := filepath.Join(dir, "faultline.db")
	db := MustOpenDBAt(t, src, newClock())
	MustCreateUser(t, db, "a@example.com", faultline.RoleAdmin)
	taken := filepath.Join(dir, "taken.db")
	os.WriteFile(taken, []byte("mine"), 0o600)
	if _, err := store.Backup(ctx, src, taken, store.BackupOptions{}); faultline.ErrorCode(err) != faultline.ECONFLICT {
		t.Errorf("backup over an existing file: %v", err)
	}
	if b, _ := os.ReadFile(taken); string(b) != "mine" {
		t.Error("the existing file was changed")
	}
	if _, err := store.Backup(ctx, filepath.Join(dir, "none.db"), filepath.Join(dir, "b1.db"), store.BackupOptions{}); faultline.ErrorCode(err) != faultline.ENOTFOUND {
		t.Errorf("backup of a missing database: %v", err)
	}
	if _, err := store.Backup(ctx, taken, filepath.Join(dir, "b2.db"), store.BackupOptions{}); faultline.ErrorCode(err) != faultline.EINVALID {
		t.Errorf("backup of a file that is not a database: %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "b2.db")); err == nil {
		t.Error("a failed backup left a file")
	}
}

// TestRestore: restoring over a stopped portal's database keeps the old
// files aside and puts the backup's data in place; a bad backup changes
// nothing; a database another process holds open is refused until that
// process stops.
func TestRestore(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	live := filepath.Join(dir, "faultline.db")
	db := MustOpenDBAt(t, live, newClock())
	MustCreateUser(t, db, "old@example.com", faultline.RoleAdmin)
	backup := filepath.Join(t.TempDir(), "b.db")
	if _, err := store.Backup(ctx, live, backup, store.BackupOptions{}); err != nil {
		t.Fatal(err)
	}
	MustCreateUser(t, db, "after@example.com", faultline.RoleLearner)
	db.Close()

	garbage := filepath.Join(t.TempDir(), "g.db")
	os.WriteFile(garbage, bytes.Repeat([]byte("not sqlite "), 500), 0o600)
	if _, err := store.Restore(ctx, garbage, live, store.RestoreOptions{}); faultline.ErrorCode(err) != faultline.EINVALID {
		t.Fatalf("restore of garbage: %v, want EINVALID", err)
	}
	if _, err := store.Restore(ctx, filepath.Join(dir, "missing.db"), live, store.RestoreOptions{}); faultline.ErrorCode(err) != faultline.ENOTFOUND {
		t.Fatalf("restore of a missing file: %v, want ENOTFOUND", err)
	}

	// Another process (a portal) holds the database open.
	holder := exec.Command(os.Args[0], "-test.run=^TestHelperHoldDatabase$")
	holder.Env = append(os.Environ(), "FAULTLINE_HOLD_DB="+live)
	stdin, _ := holder.StdinPipe()
	stdout, _ := holder.StdoutPipe()
	if err := holder.Start(); err != nil {
		t.Fatal(err)
	}
	line, _ := bufio.NewReader(stdout).ReadString('\n')
	if !strings.HasPrefix(line, "holding") {
		holder.Process.Kill()
		t.Fatalf("the holder process said %q", line)
	}
	_, err := store.Restore(ctx, backup, live, store.RestoreOptions{})
	stdin.Close()
	holder.Wait()
	if faultline.ErrorCode(err) != faultline.ECONFLICT {
		t.Fatalf("restore while another process has the database open: %v, want ECONFLICT", err)
	}

	when := time.Date(2026, 4, 1, 8, 30, 0, 0, time.UTC)
	res, err := store.Restore(ctx, backup, live, store.RestoreOptions{Now: func() time.Time { return when }})
	if err != nil {
		t.Fatalf("restore: %v", err)
	}
	if len(res.KeptAs) == 0 || res.KeptAs[0] != live+".before-restore-20260401T083000Z" {
		t.Fatalf("kept as %v", res.KeptAs)
	}
	for _, p := range res.KeptAs {
		if _, err := os.Stat(p); err != nil {
			t.Errorf("kept file %s: %v", p, err)
		}
	}
	rdb := MustOpenDBAt(t, live, newClock())
	if _, err := rdb.FindUserByEmail(ctx, "old@example.com"); err != nil {
		t.Errorf("restored database lacks the backup's account: %v", err)
	}
	if _, err := rdb.FindUserByEmail(ctx, "after@example.com"); faultline.ErrorCode(err) != faultline.ENOTFOUND {
		t.Errorf("restored database has an account made after the backup: %v", err)
	}
	old := MustOpenDBAt(t, res.KeptAs[0], newClock())
	if _, err := old.FindUserByEmail(ctx, "after@example.com"); err != nil {
		t.Errorf("the database kept aside lost an account: %v", err)
	}
}

// TestHelperHoldDatabase is not a test: TestRestore runs it in a child
// process to hold a database open, as a running portal would.
func TestHelperHoldDatabase(t *testing.T) {
	path := os.Getenv("FAULTLINE_HOLD_DB")
	if path == "" {
		t.Skip("helper process for TestRestore")
	}
	db, err := store.Open(path)
	if err != nil {
		fmt.Println("error", err)
		os.Exit(1)
	}
	if _, err := db.CountUsers(context.Background()); err != nil {
		fmt.Println("error", err)
		os.Exit(1)
	}
	fmt.Println("holding")
	bufio.NewReader(os.Stdin).ReadString('\n')
	db.Close()
	os.Exit(0)
}
