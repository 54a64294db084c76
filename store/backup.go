package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/mattn/go-sqlite3"

	"github.com/faultline-dev/faultline"
)

// BackupOptions tune Backup.
type BackupOptions struct {
	// PagesPerStep is how many pages each backup step copies (default 1024,
	// 4 MiB with the default page size). The portal keeps writing between
	// steps: the copy reads one snapshot throughout.
	PagesPerStep int
	// Progress, if set, is called after each step with the pages left and
	// the total.
	Progress func(remaining, total int)
}

// BackupInfo describes a database file: what Backup wrote or Restore read.
type BackupInfo struct {
	Path          string
	Bytes         int64
	SchemaVersion int // newest migration recorded
	Users         int
	Submissions   int
}

// Backup copies the SQLite database at src to a new file dst with SQLite's
// online backup API while the portal may be serving and writing. The copy
// is one consistent snapshot: the source connection holds a read
// transaction across every step (in WAL mode that blocks no writer), so
// the backup holds exactly the transactions committed before it began. It
// is written next to dst under a temporary name, checked with PRAGMA
// integrity_check, synced and renamed into place. It never migrates src.
//
// Backup returns ECONFLICT if dst exists, ENOTFOUND if src does not, and
// EINVALID if src is not a Faultline database.
func Backup(ctx context.Context, src, dst string, opt BackupOptions) (*BackupInfo, error) {
	if opt.PagesPerStep <= 0 {
		opt.PagesPerStep = 1024
	}
	if _, err := os.Stat(src); errors.Is(err, fs.ErrNotExist) {
		return nil, faultline.Errorf(faultline.ENOTFOUND, "There is no database at %s.", src)
	}
	if _, err := os.Lstat(dst); err == nil {
		return nil, faultline.Errorf(faultline.ECONFLICT, "%s exists already; backups never overwrite a file. Choose a new name.", dst)
	}
	tmp := filepath.Join(filepath.Dir(dst), "."+filepath.Base(dst)+".partial")
	_ = os.Remove(tmp) // left by an interrupted backup
	defer os.Remove(tmp)

	srcDB, err := sql.Open("sqlite3", "file:"+src+"?mode=ro&_busy_timeout=10000&_txlock=deferred")
	if err != nil {
		return nil, fmt.Errorf("backup: open %s: %w", src, err)
	}
	defer srcDB.Close()
	srcConn, err := srcDB.Conn(ctx)
	if err != nil {
		return nil, notDatabase(fmt.Errorf("backup: open %s: %w", src, err))
	}
	defer srcConn.Close()
	// One read transaction for the whole copy: the snapshot every step reads.
	if _, err := srcConn.ExecContext(ctx, "BEGIN"); err != nil {
		return nil, notDatabase(fmt.Errorf("backup: begin read of %s: %w", src, err))
	}
	defer srcConn.ExecContext(context.WithoutCancel(ctx), "ROLLBACK")
	if _, err := schemaVersion(ctx, srcConn); err != nil {
		return nil, err
	}

	dstDB, err := sql.Open("sqlite3", tmp)
	if err != nil {
		return nil, fmt.Errorf("backup: create %s: %w", tmp, err)
	}
	defer dstDB.Close()
	dstConn, err := dstDB.Conn(ctx)
	if err != nil {
		return nil, fmt.Errorf("backup: create %s: %w", tmp, err)
	}
	defer dstConn.Close()

	err = dstConn.Raw(func(dc any) error {
		return srcConn.Raw(func(sc any) error {
			d, ok1 := dc.(*sqlite3.SQLiteConn)
			s, ok2 := sc.(*sqlite3.SQLiteConn)
			if !ok1 || !ok2 {
				return fmt.Errorf("backup: unexpected driver connections %T, %T", dc, sc)
			}
			bk, err := d.Backup("main", s, "main")
			if err != nil {
				return fmt.Errorf("backup: start: %w", err)
			}
			for {
				if err := ctx.Err(); err != nil {
					bk.Close()
					return err
				}
				done, err := bk.Step(opt.PagesPerStep)
				if err != nil {
					bk.Close()
					return fmt.Errorf("backup: step: %w", err)
				}
				if opt.Progress != nil {
					opt.Progress(bk.Remaining(), bk.PageCount())
				}
				if done {
					break
				}
			}
			if err := bk.Finish(); err != nil {
				return fmt.Errorf("backup: finish: %w", err)
			}
			return nil
		})
	})
	if err != nil {
		return nil, err
	}
	if err := checkIntegrity(ctx, dstConn); err != nil {
		return nil, err
	}
	// A backup is one self-contained file: no WAL beside it.
	if _, err := dstConn.ExecContext(ctx, "PRAGMA journal_mode=DELETE"); err != nil {
		return nil, fmt.Errorf("backup: journal mode: %w", err)
	}
	info, err := describeDB(ctx, dstConn)
	if err != nil {
		return nil, err
	}
	dstConn.Close()
	dstDB.Close()
	if err := syncFile(tmp); err != nil {
		return nil, err
	}
	// Link, not rename: never replace a dst that appeared meanwhile.
	if err := os.Link(tmp, dst); err != nil {
		if errors.Is(err, fs.ErrExist) {
			return nil, faultline.Errorf(faultline.ECONFLICT, "%s exists already; backups never overwrite a file. Choose a new name.", dst)
		}
		return nil, fmt.Errorf("backup: write %s: %w", dst, err)
	}
	if err := syncDir(filepath.Dir(dst)); err != nil {
		return nil, err
	}
	st, err := os.Stat(dst)
	if err != nil {
		return nil, fmt.Errorf("backup: %w", err)
	}
	info.Path, info.Bytes = dst, st.Size()
	return info, nil
}

// notDatabase turns SQLite's "file is not a database" into EINVALID.
func notDatabase(err error) error {
	if err != nil && strings.Contains(err.Error(), "file is not a database") {
		return faultline.Errorf(faultline.EINVALID, "This file is not a Faultline database.")
	}
	return err
}

type querier interface {
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
}

// schemaVersion returns the newest recorded migration, or EINVALID when
// the file is not a Faultline database.
func schemaVersion(ctx context.Context, q querier) (int, error) {
	var v sql.NullInt64
	if err := q.QueryRowContext(ctx, `SELECT MAX(version) FROM schema_migrations`).Scan(&v); err != nil {
		if strings.Contains(err.Error(), "no such table") {
			return 0, faultline.Errorf(faultline.EINVALID, "This file is not a Faultline database.")
		}
		return 0, notDatabase(fmt.Errorf("read schema version: %w", err))
	}
	if !v.Valid {
		return 0, faultline.Errorf(faultline.EINVALID, "This file is not a Faultline database (no migrations recorded).")
	}
	return int(v.Int64), nil
}

// checkIntegrity runs PRAGMA integrity_check and foreign_key_check.
func checkIntegrity(ctx context.Context, q querier) error {
	var res string
	if err := q.QueryRowContext(ctx, `PRAGMA integrity_check`).Scan(&res); err != nil {
		return notDatabase(fmt.Errorf("integrity check: %w", err))
	}
	if res != "ok" {
		return faultline.Errorf(faultline.EINVALID, "The database fails SQLite's integrity check: %s", res)
	}
	rows, err := q.QueryContext(ctx, `PRAGMA foreign_key_check`)
	if err != nil {
		return fmt.Errorf("foreign key check: %w", err)
	}
	defer rows.Close()
	if rows.Next() {
		return faultline.Errorf(faultline.EINVALID, "The database has rows whose references are broken (PRAGMA foreign_key_check).")
	}
	return rows.Err()
}

// describeDB counts what a database holds, for the operator's summary.
func describeDB(ctx context.Context, q querier) (*BackupInfo, error) {
	v, err := schemaVersion(ctx, q)
	if err != nil {
		return nil, err
	}
	info := &BackupInfo{SchemaVersion: v}
	if err := q.QueryRowContext(ctx, `SELECT (SELECT COUNT(*) FROM users), (SELECT COUNT(*) FROM submissions)`).
		Scan(&info.Users, &info.Submissions); err != nil {
		return nil, fmt.Errorf("describe database: %w", err)
	}
	return info, nil
}

func syncFile(path string) error {
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		return fmt.Errorf("sync %s: %w", path, err)
	}
	defer f.Close()
	if err := f.Sync(); err != nil {
		return fmt.Errorf("sync %s: %w", path, err)
	}
	return nil
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("sync %s: %w", dir, err)
	}
	defer d.Close()
	_ = d.Sync() // not every file system syncs folders
	return nil
}

// RestoreOptions tune Restore.
type RestoreOptions struct {
	// Now names the folder-aside copy of the database being replaced
	// (default time.Now).
	Now func() time.Time
}

// RestoreResult says what Restore did.
type RestoreResult struct {
	From *BackupInfo // the backup restored
	// KeptAs lists where the replaced database's files were moved
	// (faultline.db and its -wal and -shm); empty when there was none.
	KeptAs []string
}

// Restore makes the backup file at backup the database at dst. The backup
// must pass SQLite's integrity check and be a Faultline database no newer
// than this build (newer ones would need migrations it does not know). A
// database already at dst is never deleted: its files are moved aside with
// a ".before-restore-<time>" suffix. Restore refuses (ECONFLICT) while any
// process has dst open, such as a running portal: stop it first.
//
// It returns ENOTFOUND for a missing backup, EINVALID for a bad one and
// ECONFLICT for a database in use.
func Restore(ctx context.Context, backup, dst string, opt RestoreOptions) (*RestoreResult, error) {
	if opt.Now == nil {
		opt.Now = time.Now
	}
	if _, err := os.Stat(backup); errors.Is(err, fs.ErrNotExist) {
		return nil, faultline.Errorf(faultline.ENOTFOUND, "There is no backup at %s.", backup)
	}
	info, err := inspectBackup(ctx, backup)
	if err != nil {
		return nil, err
	}
	ms, err := loadMigrations(migrationFS)
	if err != nil {
		return nil, err
	}
	if newest := ms[len(ms)-1].Version; info.SchemaVersion > newest {
		return nil, faultline.Errorf(faultline.EINVALID, "The backup comes from a newer Faultline (schema %d; this one knows up to %d). Restore it with that version.", info.SchemaVersion, newest)
	}
	inUse, err := databaseInUse(dst)
	if err != nil {
		return nil, err
	}
	if inUse {
		return nil, faultline.Errorf(faultline.ECONFLICT, "%s is open in another process (is the portal running?). Stop it, then restore.", dst)
	}
	// Copy first, next to dst, so a failure leaves dst as it was.
	tmp := filepath.Join(filepath.Dir(dst), "."+filepath.Base(dst)+".restoring")
	if err := copyFile(backup, tmp); err != nil {
		os.Remove(tmp)
		return nil, err
	}
	defer os.Remove(tmp)
	res := &RestoreResult{From: info}
	suffix := ".before-restore-" + opt.Now().UTC().Format("20060102T150405Z")
	for _, ext := range []string{"", "-wal", "-shm"} {
		p := dst + ext
		if _, err := os.Lstat(p); errors.Is(err, fs.ErrNotExist) {
			continue
		}
		kept := p + suffix
		if _, err := os.Lstat(kept); err == nil {
			return nil, faultline.Errorf(faultline.ECONFLICT, "%s exists already; try again in a second.", kept)
		}
		if err := os.Rename(p, kept); err != nil {
			return nil, fmt.Errorf("restore: move %s aside: %w", p, err)
		}
		res.KeptAs = append(res.KeptAs, kept)
	}
	if err := os.Rename(tmp, dst); err != nil {
		return nil, fmt.Errorf("restore: put the backup in place: %w", err)
	}
	if err := syncDir(filepath.Dir(dst)); err != nil {
		return nil, err
	}
	return res, nil
}

// inspectBackup checks a backup file and describes it.
func inspectBackup(ctx context.Context, path string) (*BackupInfo, error) {
	db, err := sql.Open("sqlite3", "file:"+path+"?mode=ro&immutable=1")
	if err != nil {
		return nil, fmt.Errorf("open backup %s: %w", path, err)
	}
	defer db.Close()
	if err := checkIntegrity(ctx, db); err != nil {
		return nil, err
	}
	info, err := describeDB(ctx, db)
	if err != nil {
		return nil, err
	}
	st, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("backup: %w", err)
	}
	info.Path, info.Bytes = path, st.Size()
	return info, nil
}

func copyFile(from, to string) error {
	in, err := os.Open(from)
	if err != nil {
		return fmt.Errorf("restore: read %s: %w", from, err)
	}
	defer in.Close()
	out, err := os.OpenFile(to, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return fmt.Errorf("restore: write %s: %w", to, err)
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return fmt.Errorf("restore: copy %s: %w", from, err)
	}
	if err := out.Sync(); err != nil {
		out.Close()
		return fmt.Errorf("restore: sync %s: %w", to, err)
	}
	return out.Close()
}
