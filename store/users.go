package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"

	"github.com/faultline-dev/faultline"
)

// CreateUser inserts u with its email lower-cased and fills u.ID and
// u.CreatedAt. It returns EINVALID for a bad email, role, name or an empty
// password hash, and ECONFLICT if the email is taken.
func (db *DB) CreateUser(ctx context.Context, u *faultline.User) error {
	tx, err := db.beginWrite(ctx)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	if err := createUser(ctx, tx, u); err != nil {
		return err
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("create user %q: commit: %w", u.Email, err)
	}
	return nil
}

// FindUserByID returns the user; ENOTFOUND if there is none.
func (db *DB) FindUserByID(ctx context.Context, id int64) (*faultline.User, error) {
	tx, err := db.beginRead(ctx)
	if err != nil {
		return nil, err
	}
	defer tx.Rollback()
	return findUser(ctx, tx, "id = ?", id)
}

// FindUserByEmail returns the user with that email, matched
// case-insensitively; ENOTFOUND if there is none.
func (db *DB) FindUserByEmail(ctx context.Context, email string) (*faultline.User, error) {
	tx, err := db.beginRead(ctx)
	if err != nil {
		return nil, err
	}
	defer tx.Rollback()
	return findUser(ctx, tx, "email = ?", normalizeEmail(email))
}

// CountUsers counts all accounts.
func (db *DB) CountUsers(ctx context.Context) (int, error) {
	tx, err := db.beginRead(ctx)
	if err != nil {
		return 0, err
	}
	defer tx.Rollback()
	var n int
	if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM users`).Scan(&n); err != nil {
		return 0, fmt.Errorf("count users: %w", err)
	}
	return n, nil
}

func normalizeEmail(s string) string {
	return strings.ToLower(strings.TrimSpace(s))
}

// validEmail is a deliberately loose check: one '@' with text on both sides,
// a dot in the domain, no spaces or control characters, at most 254 bytes.
func validEmail(s string) bool {
	if len(s) < 3 || len(s) > 254 {
		return false
	}
	local, domain, ok := strings.Cut(s, "@")
	if !ok || local == "" || domain == "" || strings.Contains(domain, "@") {
		return false
	}
	if !strings.Contains(domain, ".") || strings.HasPrefix(domain, ".") || strings.HasSuffix(domain, ".") {
		return false
	}
	for _, r := range s {
		if r <= ' ' || r == 0x7f || r == '<' || r == '>' || r == '"' || r == ',' {
			return false
		}
	}
	return true
}

// createUser validates and inserts u inside tx.
func createUser(ctx context.Context, tx *dbTx, u *faultline.User) error {
	u.Email = normalizeEmail(u.Email)
	u.Name = strings.TrimSpace(u.Name)
	switch {
	case !validEmail(u.Email):
		return faultline.Errorf(faultline.EINVALID, "Enter a valid email address.")
	case !u.Role.Valid():
		return faultline.Errorf(faultline.EINVALID, "Role must be admin, instructor or learner.")
	case len(u.Name) > 200:
		return faultline.Errorf(faultline.EINVALID, "Name must be at most 200 characters.")
	case u.PasswordHash == "":
		return faultline.Errorf(faultline.EINVALID, "A password is required.")
	}
	res, err := tx.ExecContext(ctx, `
		INSERT INTO users (email, name, role, password_hash, created_at)
		VALUES (?, ?, ?, ?, ?)`,
		u.Email, u.Name, string(u.Role), u.PasswordHash, encodeTime(tx.now))
	if isUnique(err) {
		return faultline.Errorf(faultline.ECONFLICT, "An account with email %q already exists.", u.Email)
	} else if err != nil {
		return fmt.Errorf("insert user %q: %w", u.Email, err)
	}
	id, err := res.LastInsertId()
	if err != nil {
		return fmt.Errorf("insert user %q: last id: %w", u.Email, err)
	}
	u.ID = id
	u.CreatedAt = tx.now
	return nil
}

const userColumns = `id, email, name, role, password_hash, created_at`

func scanUser(sc interface{ Scan(...any) error }, u *faultline.User) error {
	var role string
	if err := sc.Scan(&u.ID, &u.Email, &u.Name, &role, &u.PasswordHash, timeText{&u.CreatedAt}); err != nil {
		return err
	}
	u.Role = faultline.Role(role)
	return nil
}

// findUser returns the one user matching where (a trusted SQL fragment).
func findUser(ctx context.Context, tx *dbTx, where string, arg any) (*faultline.User, error) {
	u := &faultline.User{}
	err := scanUser(tx.QueryRowContext(ctx, `SELECT `+userColumns+` FROM users WHERE `+where, arg), u)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, faultline.Errorf(faultline.ENOTFOUND, "User not found.")
	} else if err != nil {
		return nil, fmt.Errorf("find user where %s %v: %w", where, arg, err)
	}
	return u, nil
}

// SetPassword replaces the user's password hash and ends every session of
// theirs but keep (the one they changed it from; "" ends all). EINVALID for
// an empty hash, ENOTFOUND for an unknown user.
func (db *DB) SetPassword(ctx context.Context, userID int64, hash, keep string) error {
	if hash == "" {
		return faultline.Errorf(faultline.EINVALID, "A password hash is required.")
	}
	tx, err := db.beginWrite(ctx)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	res, err := tx.ExecContext(ctx, `UPDATE users SET password_hash = ? WHERE id = ?`, hash, userID)
	if err != nil {
		return fmt.Errorf("set password of user %d: %w", userID, err)
	}
	if n, err := res.RowsAffected(); err != nil {
		return fmt.Errorf("set password of user %d: %w", userID, err)
	} else if n == 0 {
		return faultline.Errorf(faultline.ENOTFOUND, "User not found.")
	}
	if _, err := tx.ExecContext(ctx, `DELETE FROM sessions WHERE user_id = ? AND id <> ?`, userID, keep); err != nil {
		return fmt.Errorf("set password of user %d: end sessions: %w", userID, err)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("set password of user %d: commit: %w", userID, err)
	}
	return nil
}
