// Package store persists Faultline's data in SQLite (mattn/go-sqlite3).
//
// One *DB implements every storage interface of the root package. Each method
// runs raw SQL in one explicit transaction that takes a single "now" from
// DB.Now, so every timestamp written by one call is the same instant.
//
// Concurrency: writes go through a pool of one connection whose transactions
// start with BEGIN IMMEDIATE, so in-process writers queue in Go and never meet
// SQLITE_BUSY; writers in other processes wait on busy_timeout. Reads use a
// separate query-only pool of deferred transactions, which WAL lets run beside
// the writer.
//
// Times are stored as fixed-width UTC text (2006-01-02T15:04:05.000000000Z),
// which sorts and compares correctly as text; zero times are stored as NULL.
//
// One file per aggregate: users.go (accounts), sessions.go, tokens.go (API
// tokens), cohorts.go (cohorts, memberships, invites and per-lab settings),
// progress.go (lessons read, quiz attempts), workspace.go (saved file
// versions and the storage budget) with restorepoints.go, submissions.go
// (the grading queue, results and their history), regrades.go, replays.go,
// sandboxes.go; dashboards.go holds the read models across them (progress
// matrix, lab statistics, the live queue, what held scores are decided
// from). db.go, migrate.go and seed.go (benchmark data) are the plumbing.
package store

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"time"

	"github.com/mattn/go-sqlite3"

	"github.com/faultline-dev/faultline"
)

// Compile-time checks that *DB implements the root interfaces.
var (
	_ faultline.UserService       = (*DB)(nil)
	_ faultline.SessionService    = (*DB)(nil)
	_ faultline.CohortService     = (*DB)(nil)
	_ faultline.ProgressService   = (*DB)(nil)
	_ faultline.WorkspaceService  = (*DB)(nil)
	_ faultline.SandboxStore      = (*DB)(nil)
	_ faultline.SubmissionService = (*DB)(nil)
	_ faultline.SubmissionRecords = (*DB)(nil)
	_ faultline.InstructorService = (*DB)(nil)
	_ faultline.ScoreService      = (*DB)(nil)
	_ faultline.LiveService       = (*DB)(nil)
	_ faultline.RegradeService    = (*DB)(nil)
	_ faultline.RegradeCanceler   = (*DB)(nil)
	_ faultline.TokenService      = (*DB)(nil)
	_ faultline.RestorePoints     = (*DB)(nil)
	_ faultline.ReplayLog         = (*DB)(nil)
)

// driverName is mattn/go-sqlite3 with each connection's temporary files
// kept in memory (PRAGMA temp_store = MEMORY): statement journals above
// all. A statement that fires a trigger inside a larger transaction (the
// dashboard versions of migration 0030) keeps one, and on disk each is a
// temporary file created, written and removed per statement, which made a
// large write transaction many times slower.
const driverName = "sqlite3_faultline"

func init() {
	sql.Register(driverName, &sqlite3.SQLiteDriver{ConnectHook: func(c *sqlite3.SQLiteConn) error {
		if _, err := c.Exec(`PRAGMA temp_store = MEMORY`, nil); err != nil {
			return fmt.Errorf("keep temporary files in memory: %w", err)
		}
		return nil
	}})
}

// busyTimeout is how long (ms) a connection waits for another process's write
// lock before failing with SQLITE_BUSY.
const busyTimeout = 10000

// stmtCacheSize is how many prepared statements each connection keeps for
// reuse (the driver's _stmt_cache_size), so a query run again on the same
// connection skips parsing and planning. The store runs a few hundred
// distinct statements; the hot paths (session lookup, progress, the
// dashboards) fit many times over.
//
// A kept statement is parsed and planned again anyway when SQLite's
// planner looked at the value of one of its parameters (an equality some
// candidate index leaves to be checked row by row, a LIMIT ?, a LIKE ?):
// the driver clears the bindings before each execution, and SQLite then
// treats the plan as stale. The queries of the pages read most write such
// parameters as +? (the value, unchanged, as an expression the planner does
// not look into), which keeps their plans (the same indexes) and their
// statements for reuse.
const stmtCacheSize = 256

// DB is the SQLite-backed store.
type DB struct {
	write *sql.DB // one connection, BEGIN IMMEDIATE
	read  *sql.DB // query-only, deferred transactions
	path  string

	// Now returns the current time; read once per transaction and stored in
	// UTC. Defaults to time.Now. Set it before the DB is shared.
	Now func() time.Time
	// StorageBudget is each learner's budget, in bytes, for saved file
	// versions (0: faultline.DefaultFairness.StorageBytes). Set it before
	// the DB is shared.
	StorageBudget int64
}

// Open opens (creating if needed) the SQLite database file at path, applies
// pending migrations and returns the store. The path must be a file name:
// ":memory:" and names containing '?' are refused because the store opens
// two connection pools that must see the same database.
func Open(path string) (*DB, error) {
	if path == "" || path == ":memory:" || strings.HasPrefix(path, "file:") || strings.ContainsAny(path, "?#") {
		return nil, fmt.Errorf("open store %q: need a plain file path", path)
	}
	common := fmt.Sprintf("_busy_timeout=%d&_foreign_keys=on&_synchronous=FULL&_stmt_cache_size=%d", busyTimeout, stmtCacheSize)
	w, err := sql.Open(driverName, path+"?_journal_mode=WAL&_txlock=immediate&"+common)
	if err != nil {
		return nil, fmt.Errorf("open store %q: %w", path, err)
	}
	w.SetMaxOpenConns(1)
	w.SetMaxIdleConns(1)
	w.SetConnMaxLifetime(0)
	w.SetConnMaxIdleTime(0)

	db := &DB{write: w, path: path, Now: time.Now}
	// Touch the connection now so the file exists in WAL mode before the
	// query-only pool opens it.
	if err := w.Ping(); err != nil {
		w.Close()
		return nil, fmt.Errorf("open store %q: %w", path, err)
	}
	if err := migrate(context.Background(), w, migrationFS, db.now()); err != nil {
		w.Close()
		return nil, fmt.Errorf("open store %q: %w", path, err)
	}
	r, err := sql.Open(driverName, path+"?_txlock=deferred&_query_only=on&"+common)
	if err != nil {
		w.Close()
		return nil, fmt.Errorf("open store %q for reading: %w", path, err)
	}
	r.SetMaxOpenConns(8)
	r.SetMaxIdleConns(4)
	if err := r.Ping(); err != nil {
		w.Close()
		r.Close()
		return nil, fmt.Errorf("open store %q for reading: %w", path, err)
	}
	db.read = r
	return db, nil
}

// Close closes both connection pools.
func (db *DB) Close() error {
	var errs []error
	if db.read != nil {
		errs = append(errs, db.read.Close())
	}
	if db.write != nil {
		errs = append(errs, db.write.Close())
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("close store %q: %w", db.path, err)
	}
	return nil
}

func (db *DB) now() time.Time {
	f := db.Now
	if f == nil {
		f = time.Now
	}
	return f().UTC()
}

// dbTx is a transaction with the one "now" all its writes use. A read made
// inside a ReadSnapshot gets a dbTx over the snapshot's connection instead
// (Tx is nil): its queries go to that connection, and the snapshot's done,
// never the method that read, ends it (Commit and Rollback do nothing).
type dbTx struct {
	*sql.Tx
	snap *snapshot
	now  time.Time
}

// ExecContext runs a statement in the transaction.
func (tx *dbTx) ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error) {
	if tx.snap != nil {
		return tx.snap.conn.ExecContext(context.WithoutCancel(ctx), query, args...)
	}
	return tx.Tx.ExecContext(ctx, query, args...)
}

// QueryContext runs a query in the transaction.
func (tx *dbTx) QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	if tx.snap != nil {
		return tx.snap.conn.QueryContext(context.WithoutCancel(ctx), query, args...)
	}
	return tx.Tx.QueryContext(ctx, query, args...)
}

// QueryRowContext runs a query expected to return at most one row.
func (tx *dbTx) QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row {
	if tx.snap != nil {
		return tx.snap.conn.QueryRowContext(context.WithoutCancel(ctx), query, args...)
	}
	return tx.Tx.QueryRowContext(ctx, query, args...)
}

// Commit commits the transaction (nothing inside a snapshot).
func (tx *dbTx) Commit() error {
	if tx.snap != nil {
		return nil
	}
	return tx.Tx.Commit()
}

// Rollback rolls the transaction back (nothing inside a snapshot).
func (tx *dbTx) Rollback() error {
	if tx.snap != nil {
		return nil
	}
	return tx.Tx.Rollback()
}

// beginWrite starts an immediate (write-locking) transaction.
func (db *DB) beginWrite(ctx context.Context) (*dbTx, error) {
	tx, err := db.write.BeginTx(ctx, nil)
	if err != nil {
		return nil, fmt.Errorf("begin write: %w", err)
	}
	return &dbTx{Tx: tx, now: db.now()}, nil
}

// beginRead starts a deferred, query-only transaction: a consistent snapshot
// that does not block the writer. Inside a ReadSnapshot of db it returns the
// snapshot's transaction instead.
func (db *DB) beginRead(ctx context.Context) (*dbTx, error) {
	if sn := db.snapshotIn(ctx); sn != nil {
		return &dbTx{snap: sn, now: sn.now}, nil
	}
	tx, err := db.read.BeginTx(ctx, nil)
	if err != nil {
		return nil, fmt.Errorf("begin read: %w", err)
	}
	return &dbTx{Tx: tx, now: db.now()}, nil
}

// snapshotKey is the context key of a read snapshot.
type snapshotKey struct{}

// snapshot is one read transaction, on one connection of the read pool,
// shared by the reads made with a context.
type snapshot struct {
	db    *DB
	conn  *sql.Conn
	now   time.Time
	ended atomic.Bool
}

// snapshotIn returns the live snapshot of db that ctx carries, or nil.
func (db *DB) snapshotIn(ctx context.Context) *snapshot {
	if sn, ok := ctx.Value(snapshotKey{}).(*snapshot); ok && sn.db == db && !sn.ended.Load() {
		return sn
	}
	return nil
}

// ReadSnapshot returns a context in which every read of db runs in one read
// transaction, and done, which ends it. The reads made with the context see
// one consistent state of the database and pay for one transaction instead
// of one each. It is meant for a use case that only reads, such as
// gathering what one page shows: a write made with the context still goes
// through the writer, but a read after it in the same snapshot does not see
// it. Inside a snapshot of db already, it returns ctx and a done that does
// nothing. After done, reads made with the context run in their own
// transactions again. The error is that of taking a connection or beginning
// the transaction.
//
// The transaction is a BEGIN on a connection held for the snapshot rather
// than a *sql.Tx, and its queries do not follow ctx's cancellation: a
// *sql.Tx starts a goroutine for every query to watch the context, which
// costs several times what a small query does. A snapshot is short (one
// page's reads), so a client that leaves waits for it to end.
func (db *DB) ReadSnapshot(ctx context.Context) (context.Context, func(), error) {
	if db.snapshotIn(ctx) != nil {
		return ctx, func() {}, nil
	}
	conn, err := db.read.Conn(ctx)
	if err != nil {
		return nil, nil, fmt.Errorf("begin read snapshot: %w", err)
	}
	bg := context.WithoutCancel(ctx)
	if _, err := conn.ExecContext(bg, "BEGIN"); err != nil {
		discardConn(conn)
		return nil, nil, fmt.Errorf("begin read snapshot: %w", err)
	}
	sn := &snapshot{db: db, conn: conn, now: db.now()}
	done := func() {
		if !sn.ended.CompareAndSwap(false, true) {
			return
		}
		// A read-only transaction: nothing to lose. A connection whose
		// ROLLBACK failed may still be in the transaction, so it is closed
		// instead of going back to the pool.
		if _, err := conn.ExecContext(bg, "ROLLBACK"); err != nil {
			discardConn(conn)
			return
		}
		_ = conn.Close()
	}
	return context.WithValue(ctx, snapshotKey{}, sn), done, nil
}

// discardConn closes conn's connection for good instead of returning it to
// the pool.
func discardConn(conn *sql.Conn) {
	_ = conn.Raw(func(any) error { return driver.ErrBadConn })
	_ = conn.Close()
}

// ---- time encoding ----

const timeLayout = "2006-01-02T15:04:05.000000000Z"

// encodeTime returns t as fixed-width UTC text, or nil (NULL) for the zero time.
func encodeTime(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return t.UTC().Format(timeLayout)
}

// timeText scans a stored time (text or NULL) into *T.
type timeText struct{ T *time.Time }

func (s timeText) Scan(v any) error {
	switch v := v.(type) {
	case nil:
		*s.T = time.Time{}
		return nil
	case string:
		return s.parse(v)
	case []byte:
		return s.parse(string(v))
	case time.Time:
		*s.T = v.UTC()
		return nil
	}
	return fmt.Errorf("scan time: unexpected %T", v)
}

func (s timeText) parse(v string) error {
	if t, ok := parseStoredTime(v); ok {
		*s.T = t
		return nil
	}
	t, err := time.Parse(timeLayout, v)
	if err != nil {
		if t, err = time.Parse(time.RFC3339Nano, v); err != nil {
			return fmt.Errorf("scan time %q: %w", v, err)
		}
	}
	*s.T = t.UTC()
	return nil
}

// parseStoredTime parses v when it is exactly in timeLayout (as
// encodeTime writes every time), digit by digit: a dashboard reads
// thousands of times per view, and time.Parse, made for any layout, costs
// several times as much. ok is false for anything else (timeText then
// falls back to time.Parse).
func parseStoredTime(v string) (time.Time, bool) {
	if len(v) != len(timeLayout) || v[4] != '-' || v[7] != '-' || v[10] != 'T' || v[13] != ':' || v[16] != ':' || v[19] != '.' || v[29] != 'Z' {
		return time.Time{}, false
	}
	num := func(i, j int) (int, bool) {
		n := 0
		for _, c := range []byte(v[i:j]) {
			if c < '0' || c > '9' {
				return 0, false
			}
			n = n*10 + int(c-'0')
		}
		return n, true
	}
	year, ok1 := num(0, 4)
	month, ok2 := num(5, 7)
	day, ok3 := num(8, 10)
	hour, ok4 := num(11, 13)
	min, ok5 := num(14, 16)
	sec, ok6 := num(17, 19)
	nsec, ok7 := num(20, 29)
	if !(ok1 && ok2 && ok3 && ok4 && ok5 && ok6 && ok7) || month < 1 || month > 12 || day < 1 || hour > 23 || min > 59 || sec > 59 {
		return time.Time{}, false
	}
	t := time.Date(year, time.Month(month), day, hour, min, sec, nsec, time.UTC)
	if t.Day() != day { // 31 April and the like: let time.Parse refuse it
		return time.Time{}, false
	}
	return t, true
}

// ---- constraint errors ----

func sqliteCode(err error) (sqlite3.ErrNoExtended, bool) {
	var se sqlite3.Error
	if errors.As(err, &se) {
		return se.ExtendedCode, true
	}
	return 0, false
}

// isUnique reports whether err is a UNIQUE or PRIMARY KEY violation.
func isUnique(err error) bool {
	c, ok := sqliteCode(err)
	return ok && (c == sqlite3.ErrConstraintUnique || c == sqlite3.ErrConstraintPrimaryKey)
}

// isForeignKey reports whether err is a FOREIGN KEY violation.
func isForeignKey(err error) bool {
	c, ok := sqliteCode(err)
	return ok && c == sqlite3.ErrConstraintForeignKey
}

// placeholders returns "?, ?, ?" for n parameters.
func placeholders(n int) string {
	if n <= 0 {
		return ""
	}
	return strings.Repeat("?, ", n-1) + "?"
}
