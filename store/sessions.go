package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/faultline-dev/faultline"
)

// CreateSession inserts s and sets s.CreatedAt; s.ID is the hashed cookie
// token. It returns EINVALID for an empty ID or a missing expiry, ENOTFOUND if
// the user does not exist and ECONFLICT if the ID is already in use.
func (db *DB) CreateSession(ctx context.Context, s *faultline.Session) error {
	if s.ID == "" {
		return faultline.Errorf(faultline.EINVALID, "Session id is required.")
	}
	if s.ExpiresAt.IsZero() {
		return faultline.Errorf(faultline.EINVALID, "Session expiry is required.")
	}
	tx, err := db.beginWrite(ctx)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	_, err = tx.ExecContext(ctx, `INSERT INTO sessions (id, user_id, created_at, expires_at) VALUES (?, ?, ?, ?)`,
		s.ID, s.UserID, encodeTime(tx.now), encodeTime(s.ExpiresAt))
	switch {
	case isForeignKey(err):
		return faultline.Errorf(faultline.ENOTFOUND, "User not found.")
	case isUnique(err):
		return faultline.Errorf(faultline.ECONFLICT, "Session already exists.")
	case err != nil:
		return fmt.Errorf("create session for user %d: %w", s.UserID, err)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("create session for user %d: commit: %w", s.UserID, err)
	}
	s.CreatedAt = tx.now
	s.ExpiresAt = s.ExpiresAt.UTC()
	return nil
}

// FindSession returns the session and its user; ENOTFOUND if the session is
// missing or expired.
func (db *DB) FindSession(ctx context.Context, id string) (*faultline.Session, *faultline.User, error) {
	tx, err := db.beginRead(ctx)
	if err != nil {
		return nil, nil, err
	}
	defer tx.Rollback()
	s := &faultline.Session{}
	u := &faultline.User{}
	var role string
	err = tx.QueryRowContext(ctx, `
		SELECT s.id, s.user_id, s.created_at, s.expires_at,
		       u.id, u.email, u.name, u.role, u.password_hash, u.created_at
		FROM sessions s JOIN users u ON u.id = s.user_id
		WHERE s.id = +? AND s.expires_at > +?`, id, encodeTime(tx.now)).Scan( // +?: see db.go
		&s.ID, &s.UserID, timeText{&s.CreatedAt}, timeText{&s.ExpiresAt},
		&u.ID, &u.Email, &u.Name, &role, &u.PasswordHash, timeText{&u.CreatedAt})
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil, faultline.Errorf(faultline.ENOTFOUND, "Session not found or expired.")
	} else if err != nil {
		return nil, nil, fmt.Errorf("find session: %w", err)
	}
	u.Role = faultline.Role(role)
	return s, u, nil
}

// DeleteSession removes one session; deleting a missing one is not an error.
func (db *DB) DeleteSession(ctx context.Context, id string) error {
	tx, err := db.beginWrite(ctx)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	if _, err := tx.ExecContext(ctx, `DELETE FROM sessions WHERE id = ?`, id); err != nil {
		return fmt.Errorf("delete session: %w", err)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("delete session: commit: %w", err)
	}
	return nil
}

// DeleteExpiredSessions removes every session whose expiry has passed and
// returns how many. Not part of the root interfaces; for periodic cleanup.
func (db *DB) DeleteExpiredSessions(ctx context.Context) (int, error) {
	tx, err := db.beginWrite(ctx)
	if err != nil {
		return 0, err
	}
	defer tx.Rollback()
	res, err := tx.ExecContext(ctx, `DELETE FROM sessions WHERE expires_at <= ?`, encodeTime(tx.now))
	if err != nil {
		return 0, fmt.Errorf("delete expired sessions: %w", err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return 0, fmt.Errorf("delete expired sessions: %w", err)
	}
	if err := tx.Commit(); err != nil {
		return 0, fmt.Errorf("delete expired sessions: commit: %w", err)
	}
	return int(n), nil
}
