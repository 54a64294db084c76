package store

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"database/sql"
	"encoding/base32"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/faultline-dev/faultline"
)

// tokenPrefix starts every personal access token, so leaked ones are easy
// to recognise and scan for.
const tokenPrefix = "flt_"

// tokenTouchEvery bounds how often AuthenticateToken writes LastUsedAt.
const tokenTouchEvery = time.Minute

func hashToken(secret string) string {
	h := sha256.Sum256([]byte(secret))
	return hex.EncodeToString(h[:])
}

// CreateToken makes a personal access token for the user and returns it
// with its plaintext secret ("flt_" and 32 random base32 characters), which
// is not stored anywhere: only its SHA-256 is. expiresAt zero means it never
// expires. EINVALID for an empty name or one over 100 characters, or an
// expiry not in the future; ENOTFOUND for an unknown user.
func (db *DB) CreateToken(ctx context.Context, userID int64, name string, expiresAt time.Time) (*faultline.APIToken, string, error) {
	name = strings.TrimSpace(name)
	if name == "" || len(name) > 100 {
		return nil, "", faultline.Errorf(faultline.EINVALID, "Token name must be 1 to 100 characters.")
	}
	var raw [20]byte
	if _, err := rand.Read(raw[:]); err != nil {
		return nil, "", fmt.Errorf("create token: random: %w", err)
	}
	secret := tokenPrefix + strings.ToLower(base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString(raw[:]))
	tx, err := db.beginWrite(ctx)
	if err != nil {
		return nil, "", err
	}
	defer tx.Rollback()
	if !expiresAt.IsZero() && !expiresAt.After(tx.now) {
		return nil, "", faultline.Errorf(faultline.EINVALID, "A token's expiry must be in the future.")
	}
	t := &faultline.APIToken{UserID: userID, Name: name, Prefix: secret[:len(tokenPrefix)+6], CreatedAt: tx.now, ExpiresAt: expiresAt.UTC()}
	if expiresAt.IsZero() {
		t.ExpiresAt = time.Time{}
	}
	err = tx.QueryRowContext(ctx, `INSERT INTO api_tokens (user_id, name, hash, prefix, created_at, expires_at)
		VALUES (?, ?, ?, ?, ?, ?) RETURNING id`, userID, name, hashToken(secret), t.Prefix, encodeTime(tx.now), encodeTime(expiresAt)).Scan(&t.ID)
	if isForeignKey(err) {
		return nil, "", faultline.Errorf(faultline.ENOTFOUND, "User not found.")
	} else if err != nil {
		return nil, "", fmt.Errorf("create token %q for user %d: %w", name, userID, err)
	}
	if err := tx.Commit(); err != nil {
		return nil, "", fmt.Errorf("create token %q for user %d: commit: %w", name, userID, err)
	}
	return t, secret, nil
}

const tokenColumns = `id, user_id, name, prefix, created_at, last_used_at, expires_at, revoked_at`

func scanToken(sc interface{ Scan(...any) error }, t *faultline.APIToken) error {
	return sc.Scan(&t.ID, &t.UserID, &t.Name, &t.Prefix, timeText{&t.CreatedAt}, timeText{&t.LastUsedAt},
		timeText{&t.ExpiresAt}, timeText{&t.RevokedAt})
}

// ListTokens returns the user's tokens, newest first, revoked and expired
// ones included; an empty slice if none.
func (db *DB) ListTokens(ctx context.Context, userID int64) ([]*faultline.APIToken, error) {
	tx, err := db.beginRead(ctx)
	if err != nil {
		return nil, err
	}
	defer tx.Rollback()
	rows, err := tx.QueryContext(ctx, `SELECT `+tokenColumns+` FROM api_tokens WHERE user_id = ? ORDER BY id DESC`, userID)
	if err != nil {
		return nil, fmt.Errorf("list tokens of user %d: %w", userID, err)
	}
	defer rows.Close()
	out := []*faultline.APIToken{}
	for rows.Next() {
		t := &faultline.APIToken{}
		if err := scanToken(rows, t); err != nil {
			return nil, fmt.Errorf("list tokens of user %d: %w", userID, err)
		}
		out = append(out, t)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list tokens of user %d: %w", userID, err)
	}
	return out, nil
}

// RevokeToken revokes one of the user's tokens at once; revoking a revoked
// token keeps the first revocation time. ENOTFOUND if the token is not the
// user's.
func (db *DB) RevokeToken(ctx context.Context, userID, tokenID int64) error {
	tx, err := db.beginWrite(ctx)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	res, err := tx.ExecContext(ctx, `UPDATE api_tokens SET revoked_at = COALESCE(revoked_at, ?) WHERE id = ? AND user_id = ?`,
		encodeTime(tx.now), tokenID, userID)
	if err != nil {
		return fmt.Errorf("revoke token %d of user %d: %w", tokenID, userID, err)
	}
	if n, err := res.RowsAffected(); err != nil {
		return fmt.Errorf("revoke token %d of user %d: %w", tokenID, userID, err)
	} else if n == 0 {
		return faultline.Errorf(faultline.ENOTFOUND, "Token not found.")
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("revoke token %d of user %d: commit: %w", tokenID, userID, err)
	}
	return nil
}

// AuthenticateToken looks the secret up by its SHA-256 (an indexed equality
// on the hash, so no secret is ever compared byte by byte) and returns the
// token and its user. LastUsedAt is written at most once a minute per token.
// EUNAUTHORIZED for a malformed, unknown, revoked or expired secret (one
// message for all, so callers cannot tell which).
func (db *DB) AuthenticateToken(ctx context.Context, secret string) (*faultline.APIToken, *faultline.User, error) {
	bad := faultline.Errorf(faultline.EUNAUTHORIZED, "Invalid or expired access token.")
	if !strings.HasPrefix(secret, tokenPrefix) || len(secret) > 200 {
		return nil, nil, bad
	}
	tx, err := db.beginRead(ctx)
	if err != nil {
		return nil, nil, err
	}
	defer tx.Rollback()
	t := &faultline.APIToken{}
	err = scanToken(tx.QueryRowContext(ctx, `SELECT `+tokenColumns+` FROM api_tokens WHERE hash = ?`, hashToken(secret)), t)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil, bad
	} else if err != nil {
		return nil, nil, fmt.Errorf("authenticate token: %w", err)
	}
	if !t.RevokedAt.IsZero() || (!t.ExpiresAt.IsZero() && !tx.now.Before(t.ExpiresAt)) {
		return nil, nil, bad
	}
	u, err := findUser(ctx, tx, "id = ?", t.UserID)
	if err != nil {
		return nil, nil, fmt.Errorf("authenticate token %d: %w", t.ID, err)
	}
	tx.Rollback()
	// Only a token not used for a minute costs a write.
	if t.LastUsedAt.IsZero() || tx.now.Sub(t.LastUsedAt) >= tokenTouchEvery {
		if _, err := db.write.ExecContext(ctx, `UPDATE api_tokens SET last_used_at = ? WHERE id = ?`, encodeTime(tx.now), t.ID); err != nil {
			return nil, nil, fmt.Errorf("authenticate token %d: touch: %w", t.ID, err)
		}
		t.LastUsedAt = tx.now
	}
	return t, u, nil
}
