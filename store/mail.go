package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/faultline-dev/faultline"
)

var (
	_ faultline.Outbox               = (*DB)(nil)
	_ faultline.PasswordResetService = (*DB)(nil)
)

// EnqueueMail stores m as pending and due now, and fills m.ID, m.State,
// m.NextAttemptAt and m.CreatedAt. It returns EINVALID for an empty
// recipient, subject or body.
func (db *DB) EnqueueMail(ctx context.Context, m *faultline.MailMessage) error {
	switch {
	case strings.TrimSpace(m.To) == "":
		return faultline.Errorf(faultline.EINVALID, "An email needs a recipient.")
	case strings.TrimSpace(m.Subject) == "":
		return faultline.Errorf(faultline.EINVALID, "An email needs a subject.")
	case m.Text == "" && m.HTML == "":
		return faultline.Errorf(faultline.EINVALID, "An email needs a body.")
	case m.Kind == "":
		return faultline.Errorf(faultline.EINVALID, "An email needs a kind.")
	}
	tx, err := db.beginWrite(ctx)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	var user any
	if m.UserID != 0 {
		user = m.UserID
	}
	res, err := tx.ExecContext(ctx, `
		INSERT INTO mail_outbox (kind, user_id, to_addr, to_name, subject, body_text, body_html, sensitive,
		                         state, next_attempt_at, created_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, 'pending', ?, ?)`,
		string(m.Kind), user, m.To, m.ToName, m.Subject, m.Text, m.HTML, boolInt(m.Sensitive),
		encodeTime(tx.now), encodeTime(tx.now))
	if isForeignKey(err) {
		return faultline.Errorf(faultline.ENOTFOUND, "User not found.")
	} else if err != nil {
		return fmt.Errorf("enqueue %s mail: %w", m.Kind, err)
	}
	id, err := res.LastInsertId()
	if err != nil {
		return fmt.Errorf("enqueue %s mail: last id: %w", m.Kind, err)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("enqueue %s mail: commit: %w", m.Kind, err)
	}
	m.ID, m.State, m.NextAttemptAt, m.CreatedAt = id, faultline.MailPending, tx.now, tx.now
	return nil
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

const mailColumns = `id, kind, COALESCE(user_id, 0), to_addr, to_name, subject, body_text, body_html, sensitive,
	state, attempts, next_attempt_at, last_error, lease_owner, lease_expires, created_at, sent_at`

func scanMail(sc interface{ Scan(...any) error }) (*faultline.MailMessage, error) {
	m := &faultline.MailMessage{}
	var kind, state string
	err := sc.Scan(&m.ID, &kind, &m.UserID, &m.To, &m.ToName, &m.Subject, &m.Text, &m.HTML, &m.Sensitive,
		&state, &m.Attempts, timeText{&m.NextAttemptAt}, &m.LastError, &m.LeaseOwner, timeText{&m.LeaseExpires},
		timeText{&m.CreatedAt}, timeText{&m.SentAt})
	m.Kind, m.State = faultline.NoticeKind(kind), faultline.MailState(state)
	return m, err
}

// ClaimMail takes the oldest due message for worker: a pending one whose
// next attempt is due, or a sending one whose lease expired (its worker
// died). It marks it sending with a lease and counts an attempt; ENOTFOUND
// when nothing is due.
func (db *DB) ClaimMail(ctx context.Context, worker string, lease time.Duration) (*faultline.MailMessage, error) {
	if worker == "" || lease <= 0 {
		return nil, faultline.Errorf(faultline.EINVALID, "A mail worker needs a name and a lease.")
	}
	tx, err := db.beginWrite(ctx)
	if err != nil {
		return nil, err
	}
	defer tx.Rollback()
	now := encodeTime(tx.now)
	var id int64
	err = tx.QueryRowContext(ctx, `
		SELECT id FROM mail_outbox
		WHERE (state = 'pending' AND next_attempt_at <= ?) OR (state = 'sending' AND lease_expires <= ?)
		ORDER BY next_attempt_at, id LIMIT 1`, now, now).Scan(&id)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, faultline.Errorf(faultline.ENOTFOUND, "No email is due.")
	} else if err != nil {
		return nil, fmt.Errorf("claim mail: %w", err)
	}
	if _, err := tx.ExecContext(ctx, `
		UPDATE mail_outbox SET state = 'sending', attempts = attempts + 1, lease_owner = ?, lease_expires = ?
		WHERE id = ?`, worker, encodeTime(tx.now.Add(lease)), id); err != nil {
		return nil, fmt.Errorf("claim mail %d: %w", id, err)
	}
	m, err := scanMail(tx.QueryRowContext(ctx, `SELECT `+mailColumns+` FROM mail_outbox WHERE id = ?`, id))
	if err != nil {
		return nil, fmt.Errorf("claim mail %d: read: %w", id, err)
	}
	if err := tx.Commit(); err != nil {
		return nil, fmt.Errorf("claim mail %d: commit: %w", id, err)
	}
	return m, nil
}

// finishMail runs set on the message id if worker holds its live lease.
func (db *DB) finishMail(ctx context.Context, op string, id int64, worker, set string, args func(now time.Time) []any) error {
	tx, err := db.beginWrite(ctx)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	res, err := tx.ExecContext(ctx, `UPDATE mail_outbox SET `+set+`, lease_owner = '', lease_expires = NULL
		WHERE id = ? AND state = 'sending' AND lease_owner = ? AND lease_expires > ?`,
		append(args(tx.now), id, worker, encodeTime(tx.now))...)
	if err != nil {
		return fmt.Errorf("%s mail %d: %w", op, id, err)
	}
	if n, err := res.RowsAffected(); err != nil {
		return fmt.Errorf("%s mail %d: %w", op, id, err)
	} else if n == 0 {
		return faultline.Errorf(faultline.ECONFLICT, "Mail %d is not held by %s.", id, worker)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("%s mail %d: commit: %w", op, id, err)
	}
	return nil
}

// MarkMailSent records delivery, blanking a sensitive message's bodies;
// ECONFLICT unless worker holds a live lease on it.
func (db *DB) MarkMailSent(ctx context.Context, id int64, worker string) error {
	return db.finishMail(ctx, "mark sent", id, worker, `state = 'sent', sent_at = ?, last_error = '',
		body_text = CASE WHEN sensitive = 1 THEN '' ELSE body_text END,
		body_html = CASE WHEN sensitive = 1 THEN '' ELSE body_html END`,
		func(now time.Time) []any { return []any{encodeTime(now)} })
}

// RetryMail makes the message pending again, due at next, with lastError;
// ECONFLICT unless worker holds a live lease on it.
func (db *DB) RetryMail(ctx context.Context, id int64, worker, lastError string, next time.Time) error {
	return db.finishMail(ctx, "retry", id, worker, `state = 'pending', next_attempt_at = ?, last_error = ?`,
		func(time.Time) []any { return []any{encodeTime(next), capText(lastError, 1000)} })
}

// FailMail gives up on the message and keeps it with lastError; ECONFLICT
// unless worker holds a live lease on it.
func (db *DB) FailMail(ctx context.Context, id int64, worker, lastError string) error {
	return db.finishMail(ctx, "fail", id, worker, `state = 'failed', last_error = ?`,
		func(time.Time) []any { return []any{capText(lastError, 1000)} })
}

func capText(s string, n int) string {
	if len(s) > n {
		return s[:n]
	}
	return s
}

// MailStats counts waiting and failed messages and finds the oldest waiting.
func (db *DB) MailStats(ctx context.Context) (faultline.MailStats, error) {
	var st faultline.MailStats
	tx, err := db.beginRead(ctx)
	if err != nil {
		return st, err
	}
	defer tx.Rollback()
	var oldest sql.NullString
	err = tx.QueryRowContext(ctx, `
		SELECT COALESCE(SUM(state IN ('pending', 'sending')), 0), COALESCE(SUM(state = 'failed'), 0),
		       MIN(CASE WHEN state IN ('pending', 'sending') THEN created_at END)
		FROM mail_outbox`).Scan(&st.Pending, &st.Failed, &oldest)
	if err != nil {
		return st, fmt.Errorf("mail stats: %w", err)
	}
	if oldest.Valid {
		if err := (timeText{&st.OldestPending}).Scan(oldest.String); err != nil {
			return st, fmt.Errorf("mail stats: %w", err)
		}
	}
	return st, nil
}

// FindMail returns one message of the outbox; ENOTFOUND if there is none.
// Not part of the root interfaces; for tests and the operator.
func (db *DB) FindMail(ctx context.Context, id int64) (*faultline.MailMessage, error) {
	tx, err := db.beginRead(ctx)
	if err != nil {
		return nil, err
	}
	defer tx.Rollback()
	m, err := scanMail(tx.QueryRowContext(ctx, `SELECT `+mailColumns+` FROM mail_outbox WHERE id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, faultline.Errorf(faultline.ENOTFOUND, "Mail %d not found.", id)
	} else if err != nil {
		return nil, fmt.Errorf("find mail %d: %w", id, err)
	}
	return m, nil
}

// ---- password resets ----

// CreatePasswordReset stores the hash of a reset token for the user, valid
// until expires. ENOTFOUND for an unknown user, EINVALID for an empty hash
// or an expiry not in the future.
func (db *DB) CreatePasswordReset(ctx context.Context, userID int64, tokenHash string, expires time.Time) error {
	if tokenHash == "" {
		return faultline.Errorf(faultline.EINVALID, "A reset token is required.")
	}
	tx, err := db.beginWrite(ctx)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	if !expires.After(tx.now) {
		return faultline.Errorf(faultline.EINVALID, "A reset token must expire in the future.")
	}
	_, err = tx.ExecContext(ctx, `INSERT INTO password_resets (token_hash, user_id, created_at, expires_at) VALUES (?, ?, ?, ?)`,
		tokenHash, userID, encodeTime(tx.now), encodeTime(expires))
	switch {
	case isForeignKey(err):
		return faultline.Errorf(faultline.ENOTFOUND, "User not found.")
	case isUnique(err):
		return faultline.Errorf(faultline.ECONFLICT, "This reset token exists already.")
	case err != nil:
		return fmt.Errorf("create password reset for user %d: %w", userID, err)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("create password reset for user %d: commit: %w", userID, err)
	}
	return nil
}

var errResetInvalid = faultline.Errorf(faultline.ENOTFOUND, "This reset link is not valid any more. Ask for a new one.")

// liveReset returns the user id of a live (unused, unexpired) token.
func liveReset(ctx context.Context, tx *dbTx, tokenHash string) (int64, error) {
	var uid int64
	err := tx.QueryRowContext(ctx, `SELECT user_id FROM password_resets WHERE token_hash = ? AND used_at IS NULL AND expires_at > ?`,
		tokenHash, encodeTime(tx.now)).Scan(&uid)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, errResetInvalid
	} else if err != nil {
		return 0, fmt.Errorf("find password reset: %w", err)
	}
	return uid, nil
}

// FindPasswordReset returns the user a live token belongs to; ENOTFOUND for
// an unknown, used or expired token.
func (db *DB) FindPasswordReset(ctx context.Context, tokenHash string) (*faultline.User, error) {
	tx, err := db.beginRead(ctx)
	if err != nil {
		return nil, err
	}
	defer tx.Rollback()
	uid, err := liveReset(ctx, tx, tokenHash)
	if err != nil {
		return nil, err
	}
	return findUser(ctx, tx, "id = ?", uid)
}

// ResetPassword uses a live token once: it sets the user's password hash,
// deletes every session of the user and marks every token of theirs used,
// in one transaction. ENOTFOUND for an unknown, used or expired token,
// EINVALID for an empty hash.
func (db *DB) ResetPassword(ctx context.Context, tokenHash, passwordHash string) (*faultline.User, error) {
	if passwordHash == "" {
		return nil, faultline.Errorf(faultline.EINVALID, "A password is required.")
	}
	tx, err := db.beginWrite(ctx)
	if err != nil {
		return nil, err
	}
	defer tx.Rollback()
	uid, err := liveReset(ctx, tx, tokenHash)
	if err != nil {
		return nil, err
	}
	if _, err := tx.ExecContext(ctx, `UPDATE users SET password_hash = ? WHERE id = ?`, passwordHash, uid); err != nil {
		return nil, fmt.Errorf("reset password of user %d: %w", uid, err)
	}
	if _, err := tx.ExecContext(ctx, `UPDATE password_resets SET used_at = ? WHERE user_id = ? AND used_at IS NULL`,
		encodeTime(tx.now), uid); err != nil {
		return nil, fmt.Errorf("reset password of user %d: void tokens: %w", uid, err)
	}
	if _, err := tx.ExecContext(ctx, `DELETE FROM sessions WHERE user_id = ?`, uid); err != nil {
		return nil, fmt.Errorf("reset password of user %d: end sessions: %w", uid, err)
	}
	u, err := findUser(ctx, tx, "id = ?", uid)
	if err != nil {
		return nil, err
	}
	if err := tx.Commit(); err != nil {
		return nil, fmt.Errorf("reset password of user %d: commit: %w", uid, err)
	}
	return u, nil
}
