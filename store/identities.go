package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/faultline-dev/faultline"
)

var (
	_ faultline.IdentityService  = (*DB)(nil)
	_ faultline.AuthStateService = (*DB)(nil)
)

func validIdentity(id *faultline.Identity) error {
	switch {
	case id.Kind != faultline.IdentityOIDC && id.Kind != faultline.IdentityLTI:
		return faultline.Errorf(faultline.EINVALID, "Unknown kind of identity %q.", id.Kind)
	case id.Issuer == "" || len(id.Issuer) > 500:
		return faultline.Errorf(faultline.EINVALID, "An identity needs its issuer (at most 500 characters).")
	case id.Subject == "" || len(id.Subject) > 255:
		return faultline.Errorf(faultline.EINVALID, "An identity needs its subject (at most 255 characters).")
	}
	return nil
}

// FindIdentity returns the link and its account; ENOTFOUND if none.
func (db *DB) FindIdentity(ctx context.Context, kind faultline.IdentityKind, issuer, subject string) (*faultline.Identity, *faultline.User, error) {
	tx, err := db.beginRead(ctx)
	if err != nil {
		return nil, nil, err
	}
	defer tx.Rollback()
	id, err := findIdentity(ctx, tx, kind, issuer, subject)
	if err != nil {
		return nil, nil, err
	}
	u, err := findUser(ctx, tx, "id = ?", id.UserID)
	if err != nil {
		return nil, nil, err
	}
	return id, u, nil
}

func findIdentity(ctx context.Context, tx *dbTx, kind faultline.IdentityKind, issuer, subject string) (*faultline.Identity, error) {
	id := &faultline.Identity{}
	var k string
	err := tx.QueryRowContext(ctx, `SELECT kind, issuer, subject, user_id, email, created_at, last_seen_at
		FROM identities WHERE kind = ? AND issuer = ? AND subject = ?`, string(kind), issuer, subject).
		Scan(&k, &id.Issuer, &id.Subject, &id.UserID, &id.Email, timeText{&id.CreatedAt}, timeText{&id.LastSeenAt})
	if errors.Is(err, sql.ErrNoRows) {
		return nil, faultline.Errorf(faultline.ENOTFOUND, "No account is linked to this identity.")
	} else if err != nil {
		return nil, fmt.Errorf("find %s identity: %w", kind, err)
	}
	id.Kind = faultline.IdentityKind(k)
	return id, nil
}

func insertIdentity(ctx context.Context, tx *dbTx, id *faultline.Identity) error {
	_, err := tx.ExecContext(ctx, `INSERT INTO identities (kind, issuer, subject, user_id, email, created_at, last_seen_at)
		VALUES (?, ?, ?, ?, ?, ?, ?)`, string(id.Kind), id.Issuer, id.Subject, id.UserID, id.Email, encodeTime(tx.now), encodeTime(tx.now))
	switch {
	case isUnique(err):
		return faultline.Errorf(faultline.ECONFLICT, "This identity is linked to an account already.")
	case isForeignKey(err):
		return faultline.Errorf(faultline.ENOTFOUND, "User not found.")
	case err != nil:
		return fmt.Errorf("link %s identity to user %d: %w", id.Kind, id.UserID, err)
	}
	id.CreatedAt, id.LastSeenAt = tx.now, tx.now
	return nil
}

// CreateUserWithIdentity creates u and links id to it in one transaction.
// ECONFLICT when the email is taken (the identity is not linked to that
// account: email alone never links) or the identity is linked already.
func (db *DB) CreateUserWithIdentity(ctx context.Context, u *faultline.User, id *faultline.Identity) error {
	if err := validIdentity(id); err != nil {
		return err
	}
	tx, err := db.beginWrite(ctx)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	if _, err := findIdentity(ctx, tx, id.Kind, id.Issuer, id.Subject); err == nil {
		return faultline.Errorf(faultline.ECONFLICT, "This identity is linked to an account already.")
	} else if faultline.ErrorCode(err) != faultline.ENOTFOUND {
		return err
	}
	if err := createUser(ctx, tx, u); err != nil {
		return err
	}
	id.UserID = u.ID
	if err := insertIdentity(ctx, tx, id); err != nil {
		return err
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("create user with %s identity: commit: %w", id.Kind, err)
	}
	return nil
}

// LinkIdentity links id to the existing account id.UserID; ECONFLICT when
// it is linked to another account.
func (db *DB) LinkIdentity(ctx context.Context, id *faultline.Identity) error {
	if err := validIdentity(id); err != nil {
		return err
	}
	tx, err := db.beginWrite(ctx)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	old, err := findIdentity(ctx, tx, id.Kind, id.Issuer, id.Subject)
	switch faultline.ErrorCode(err) {
	case "":
		if old.UserID != id.UserID {
			return faultline.Errorf(faultline.ECONFLICT, "This identity is linked to another account.")
		}
		if _, err := tx.ExecContext(ctx, `UPDATE identities SET last_seen_at = ?, email = ? WHERE kind = ? AND issuer = ? AND subject = ?`,
			encodeTime(tx.now), id.Email, string(id.Kind), id.Issuer, id.Subject); err != nil {
			return fmt.Errorf("touch %s identity: %w", id.Kind, err)
		}
	case faultline.ENOTFOUND:
		if err := insertIdentity(ctx, tx, id); err != nil {
			return err
		}
	default:
		return err
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("link %s identity: commit: %w", id.Kind, err)
	}
	return nil
}

// TouchIdentity records a sign-in now with the email the provider gave.
// ENOTFOUND if the identity is not linked.
func (db *DB) TouchIdentity(ctx context.Context, kind faultline.IdentityKind, issuer, subject, email string) error {
	tx, err := db.beginWrite(ctx)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	res, err := tx.ExecContext(ctx, `UPDATE identities SET last_seen_at = ?, email = ? WHERE kind = ? AND issuer = ? AND subject = ?`,
		encodeTime(tx.now), email, string(kind), issuer, subject)
	if err != nil {
		return fmt.Errorf("touch %s identity: %w", kind, err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return faultline.Errorf(faultline.ENOTFOUND, "No account is linked to this identity.")
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("touch %s identity: commit: %w", kind, err)
	}
	return nil
}

// ListIdentities returns the links of an account, oldest first.
func (db *DB) ListIdentities(ctx context.Context, userID int64) ([]*faultline.Identity, error) {
	tx, err := db.beginRead(ctx)
	if err != nil {
		return nil, err
	}
	defer tx.Rollback()
	rows, err := tx.QueryContext(ctx, `SELECT kind, issuer, subject, user_id, email, created_at, last_seen_at
		FROM identities WHERE user_id = ? ORDER BY created_at, kind, issuer`, userID)
	if err != nil {
		return nil, fmt.Errorf("list identities of user %d: %w", userID, err)
	}
	defer rows.Close()
	var out []*faultline.Identity
	for rows.Next() {
		id := &faultline.Identity{}
		var k string
		if err := rows.Scan(&k, &id.Issuer, &id.Subject, &id.UserID, &id.Email, timeText{&id.CreatedAt}, timeText{&id.LastSeenAt}); err != nil {
			return nil, fmt.Errorf("list identities of user %d: %w", userID, err)
		}
		id.Kind = faultline.IdentityKind(k)
		out = append(out, id)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list identities of user %d: %w", userID, err)
	}
	return out, nil
}

// CreateAuthState stores s (and drops expired states and nonces while it
// holds the write lock). EINVALID without an ID or a future expiry.
func (db *DB) CreateAuthState(ctx context.Context, s *faultline.AuthState) error {
	if s.ID == "" || s.Kind == "" {
		return faultline.Errorf(faultline.EINVALID, "A sign-in state needs an id and a kind.")
	}
	tx, err := db.beginWrite(ctx)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	if !s.ExpiresAt.After(tx.now) {
		return faultline.Errorf(faultline.EINVALID, "A sign-in state must expire in the future.")
	}
	for _, q := range []string{`DELETE FROM auth_states WHERE expires_at <= ?`, `DELETE FROM used_nonces WHERE expires_at <= ?`} {
		if _, err := tx.ExecContext(ctx, q, encodeTime(tx.now)); err != nil {
			return fmt.Errorf("create auth state: sweep: %w", err)
		}
	}
	var link any
	if s.LinkUserID != 0 {
		link = s.LinkUserID
	}
	_, err = tx.ExecContext(ctx, `INSERT INTO auth_states (id, kind, nonce, verifier, next, link_user_id, data, created_at, expires_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`, s.ID, string(s.Kind), s.Nonce, s.Verifier, s.Next, link, s.Data,
		encodeTime(tx.now), encodeTime(s.ExpiresAt))
	switch {
	case isUnique(err):
		return faultline.Errorf(faultline.ECONFLICT, "This sign-in state exists already.")
	case isForeignKey(err):
		return faultline.Errorf(faultline.ENOTFOUND, "User not found.")
	case err != nil:
		return fmt.Errorf("create auth state: %w", err)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("create auth state: commit: %w", err)
	}
	s.CreatedAt = tx.now
	return nil
}

// TakeAuthState returns the state and deletes it; ENOTFOUND when unknown,
// taken already or expired.
func (db *DB) TakeAuthState(ctx context.Context, id string) (*faultline.AuthState, error) {
	tx, err := db.beginWrite(ctx)
	if err != nil {
		return nil, err
	}
	defer tx.Rollback()
	s := &faultline.AuthState{}
	var kind string
	var link sql.NullInt64
	err = tx.QueryRowContext(ctx, `SELECT id, kind, nonce, verifier, next, link_user_id, data, created_at, expires_at
		FROM auth_states WHERE id = ?`, id).Scan(&s.ID, &kind, &s.Nonce, &s.Verifier, &s.Next, &link, &s.Data,
		timeText{&s.CreatedAt}, timeText{&s.ExpiresAt})
	if errors.Is(err, sql.ErrNoRows) {
		return nil, faultline.Errorf(faultline.ENOTFOUND, "This sign-in is unknown or was used already. Start again.")
	} else if err != nil {
		return nil, fmt.Errorf("take auth state: %w", err)
	}
	if _, err := tx.ExecContext(ctx, `DELETE FROM auth_states WHERE id = ?`, id); err != nil {
		return nil, fmt.Errorf("take auth state: %w", err)
	}
	if err := tx.Commit(); err != nil {
		return nil, fmt.Errorf("take auth state: commit: %w", err)
	}
	if !s.ExpiresAt.After(tx.now) {
		return nil, faultline.Errorf(faultline.ENOTFOUND, "This sign-in took too long. Start again.")
	}
	s.Kind, s.LinkUserID = faultline.IdentityKind(kind), link.Int64
	return s, nil
}

// UseNonce records issuer's nonce until expires; ECONFLICT if it was seen.
func (db *DB) UseNonce(ctx context.Context, issuer, nonce string, expires time.Time) error {
	if nonce == "" {
		return faultline.Errorf(faultline.EINVALID, "The token carries no nonce.")
	}
	tx, err := db.beginWrite(ctx)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	_, err = tx.ExecContext(ctx, `INSERT INTO used_nonces (issuer, nonce, expires_at) VALUES (?, ?, ?)`,
		issuer, nonce, encodeTime(expires))
	if isUnique(err) {
		return faultline.Errorf(faultline.ECONFLICT, "This token was used before.")
	} else if err != nil {
		return fmt.Errorf("use nonce: %w", err)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("use nonce: commit: %w", err)
	}
	return nil
}
