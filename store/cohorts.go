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

// CreateCohort inserts c, fills c.ID and c.CreatedAt, and makes c.CreatedBy
// an instructor member, in one transaction. It returns EINVALID for an empty
// name or invite code, ENOTFOUND if the creator does not exist and ECONFLICT
// if the invite code is taken.
func (db *DB) CreateCohort(ctx context.Context, c *faultline.Cohort) error {
	c.Name = strings.TrimSpace(c.Name)
	switch {
	case c.Name == "":
		return faultline.Errorf(faultline.EINVALID, "Cohort name is required.")
	case len(c.Name) > 200:
		return faultline.Errorf(faultline.EINVALID, "Cohort name must be at most 200 characters.")
	case c.InviteCode == "":
		return faultline.Errorf(faultline.EINVALID, "Invite code is required.")
	}
	tx, err := db.beginWrite(ctx)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	res, err := tx.ExecContext(ctx, `INSERT INTO cohorts (name, invite_code, invite_expires_at, created_by, created_at) VALUES (?, ?, ?, ?, ?)`,
		c.Name, c.InviteCode, encodeTime(c.InviteExpiresAt), c.CreatedBy, encodeTime(tx.now))
	switch {
	case isForeignKey(err):
		return faultline.Errorf(faultline.ENOTFOUND, "User not found.")
	case isUnique(err):
		return faultline.Errorf(faultline.ECONFLICT, "That invite code is already in use.")
	case err != nil:
		return fmt.Errorf("create cohort %q: %w", c.Name, err)
	}
	id, err := res.LastInsertId()
	if err != nil {
		return fmt.Errorf("create cohort %q: last id: %w", c.Name, err)
	}
	if err := addMember(ctx, tx, id, c.CreatedBy, faultline.MemberInstructor); err != nil {
		return err
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("create cohort %q: commit: %w", c.Name, err)
	}
	c.ID = id
	c.CreatedAt = tx.now
	return nil
}

// FindCohortByID returns the cohort; ENOTFOUND if there is none.
func (db *DB) FindCohortByID(ctx context.Context, id int64) (*faultline.Cohort, error) {
	tx, err := db.beginRead(ctx)
	if err != nil {
		return nil, err
	}
	defer tx.Rollback()
	return findCohort(ctx, tx, "id = ?", id)
}

// FindCohortByInvite returns the cohort with that invite code; ENOTFOUND for
// an unknown code, EFORBIDDEN for an expired one (the message says the link
// expired and to ask the instructor for a new one).
func (db *DB) FindCohortByInvite(ctx context.Context, code string) (*faultline.Cohort, error) {
	if code == "" {
		return nil, faultline.Errorf(faultline.ENOTFOUND, "Cohort not found.")
	}
	tx, err := db.beginRead(ctx)
	if err != nil {
		return nil, err
	}
	defer tx.Rollback()
	return findInvite(ctx, tx, code)
}

// findInvite returns the cohort of a live invite code.
func findInvite(ctx context.Context, tx *dbTx, code string) (*faultline.Cohort, error) {
	c, err := findCohort(ctx, tx, "invite_code = ?", code)
	if err != nil {
		return nil, err
	}
	if c.InviteExpired(tx.now) {
		return nil, faultline.Errorf(faultline.EFORBIDDEN, "This invite link expired on %s. Ask your instructor for a new one.",
			c.InviteExpiresAt.UTC().Format("2 Jan 2006 15:04 MST"))
	}
	return c, nil
}

// SetInvite replaces the cohort's invite code (the old link stops working at
// once) and sets when the new one expires (zero: never), returning the
// updated cohort. EINVALID for an empty code, ECONFLICT if another cohort
// uses the code, ENOTFOUND for an unknown cohort.
func (db *DB) SetInvite(ctx context.Context, cohortID int64, code string, expiresAt time.Time) (*faultline.Cohort, error) {
	if code == "" {
		return nil, faultline.Errorf(faultline.EINVALID, "Invite code is required.")
	}
	tx, err := db.beginWrite(ctx)
	if err != nil {
		return nil, err
	}
	defer tx.Rollback()
	res, err := tx.ExecContext(ctx, `UPDATE cohorts SET invite_code = ?, invite_expires_at = ? WHERE id = ?`,
		code, encodeTime(expiresAt), cohortID)
	if isUnique(err) {
		return nil, faultline.Errorf(faultline.ECONFLICT, "That invite code is already in use.")
	} else if err != nil {
		return nil, fmt.Errorf("set invite of cohort %d: %w", cohortID, err)
	}
	if n, err := res.RowsAffected(); err != nil {
		return nil, fmt.Errorf("set invite of cohort %d: %w", cohortID, err)
	} else if n == 0 {
		return nil, faultline.Errorf(faultline.ENOTFOUND, "Cohort not found.")
	}
	c, err := findCohort(ctx, tx, "id = ?", cohortID)
	if err != nil {
		return nil, err
	}
	if err := tx.Commit(); err != nil {
		return nil, fmt.Errorf("set invite of cohort %d: commit: %w", cohortID, err)
	}
	return c, nil
}

// RemoveMember takes the user off the cohort's roster. Their account,
// submissions, workspace files, sandbox and lesson progress are kept (none
// of them hang off the membership), so re-adding them restores everything.
// ENOTFOUND if the user is not a member, ECONFLICT when it would leave the
// cohort without an instructor.
func (db *DB) RemoveMember(ctx context.Context, cohortID, userID int64) error {
	tx, err := db.beginWrite(ctx)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	role, err := memberRole(ctx, tx, cohortID, userID)
	if err != nil {
		return err
	}
	if role == faultline.MemberInstructor {
		var others int
		if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM memberships
			WHERE cohort_id = ? AND role = 'instructor' AND user_id <> ?`, cohortID, userID).Scan(&others); err != nil {
			return fmt.Errorf("remove member %d from cohort %d: %w", userID, cohortID, err)
		}
		if others == 0 {
			return faultline.Errorf(faultline.ECONFLICT, "A cohort needs an instructor; add another before removing this one.")
		}
	}
	if _, err := tx.ExecContext(ctx, `DELETE FROM memberships WHERE cohort_id = ? AND user_id = ?`, cohortID, userID); err != nil {
		return fmt.Errorf("remove member %d from cohort %d: %w", userID, cohortID, err)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("remove member %d from cohort %d: commit: %w", userID, cohortID, err)
	}
	return nil
}

// MoveMember moves a learner from one cohort to another in one transaction:
// the learner membership of from is removed and one of to is added (joined
// now). Their work is untouched, so it shows in the new cohort's dashboards.
// EINVALID when from == to; ENOTFOUND if the user is not a learner of from or
// to does not exist; ECONFLICT if the user teaches in to.
func (db *DB) MoveMember(ctx context.Context, userID, from, to int64) error {
	if from == to {
		return faultline.Errorf(faultline.EINVALID, "Choose a different cohort to move to.")
	}
	tx, err := db.beginWrite(ctx)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	role, err := memberRole(ctx, tx, from, userID)
	if err != nil {
		return err
	}
	if role != faultline.MemberLearner {
		return faultline.Errorf(faultline.ENOTFOUND, "Only learners can be moved between cohorts.")
	}
	if _, err := findCohort(ctx, tx, "id = ?", to); err != nil {
		return err
	}
	if r, err := memberRole(ctx, tx, to, userID); err == nil && r.Teaches() {
		return faultline.Errorf(faultline.ECONFLICT, "That user teaches the other cohort.")
	} else if err != nil && faultline.ErrorCode(err) != faultline.ENOTFOUND {
		return err
	}
	if _, err := tx.ExecContext(ctx, `DELETE FROM memberships WHERE cohort_id = ? AND user_id = ?`, from, userID); err != nil {
		return fmt.Errorf("move member %d from cohort %d to %d: %w", userID, from, to, err)
	}
	if err := addMember(ctx, tx, to, userID, faultline.MemberLearner); err != nil {
		return err
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("move member %d from cohort %d to %d: commit: %w", userID, from, to, err)
	}
	return nil
}

// memberRole returns the user's role in the cohort inside tx; ENOTFOUND if
// not a member.
func memberRole(ctx context.Context, tx *dbTx, cohortID, userID int64) (faultline.MemberRole, error) {
	var role string
	// +?: see db.go.
	err := tx.QueryRowContext(ctx, `SELECT role FROM memberships WHERE cohort_id = +? AND user_id = +?`, cohortID, userID).Scan(&role)
	if errors.Is(err, sql.ErrNoRows) {
		return "", faultline.Errorf(faultline.ENOTFOUND, "Not a member of this cohort.")
	} else if err != nil {
		return "", fmt.Errorf("member role of user %d in cohort %d: %w", userID, cohortID, err)
	}
	return faultline.MemberRole(role), nil
}

// ListCohorts lists the cohorts userID belongs to in any role, or every
// cohort when userID is 0, newest first.
func (db *DB) ListCohorts(ctx context.Context, userID int64) ([]*faultline.Cohort, error) {
	tx, err := db.beginRead(ctx)
	if err != nil {
		return nil, err
	}
	defer tx.Rollback()
	q := `SELECT ` + cohortColumns + ` FROM cohorts ORDER BY created_at DESC, id DESC`
	args := []any{}
	if userID != 0 {
		q = `SELECT ` + cohortColumns + ` FROM cohorts
			WHERE id IN (SELECT cohort_id FROM memberships WHERE user_id = ?)
			ORDER BY created_at DESC, id DESC`
		args = append(args, userID)
	}
	rows, err := tx.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("list cohorts of user %d: %w", userID, err)
	}
	defer rows.Close()
	out := []*faultline.Cohort{}
	for rows.Next() {
		c := &faultline.Cohort{}
		if err := scanCohort(rows, c); err != nil {
			return nil, fmt.Errorf("list cohorts of user %d: %w", userID, err)
		}
		out = append(out, c)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list cohorts of user %d: %w", userID, err)
	}
	return out, nil
}

// Join creates a learner account from u (its Role is set to learner) and adds
// it to the cohort with the invite code, in one transaction: a bad code
// creates no account. It returns ENOTFOUND for a bad code, EFORBIDDEN for
// an expired one, ECONFLICT for a taken email and EINVALID for what
// CreateUser rejects.
func (db *DB) Join(ctx context.Context, inviteCode string, u *faultline.User) (*faultline.Cohort, error) {
	if inviteCode == "" {
		return nil, faultline.Errorf(faultline.ENOTFOUND, "Cohort not found.")
	}
	tx, err := db.beginWrite(ctx)
	if err != nil {
		return nil, err
	}
	defer tx.Rollback()
	c, err := findInvite(ctx, tx, inviteCode)
	if err != nil {
		return nil, err
	}
	role := u.Role
	u.Role = faultline.RoleLearner
	if err := createUser(ctx, tx, u); err != nil {
		u.Role = role
		return nil, err
	}
	if err := addMember(ctx, tx, c.ID, u.ID, faultline.MemberLearner); err != nil {
		return nil, err
	}
	if err := tx.Commit(); err != nil {
		return nil, fmt.Errorf("join cohort %d as %q: commit: %w", c.ID, u.Email, err)
	}
	return c, nil
}

// AddMember adds an existing user to the cohort; re-adding updates the role
// and keeps the original join time. EINVALID for an unknown role, ENOTFOUND if
// the cohort or user does not exist.
func (db *DB) AddMember(ctx context.Context, cohortID, userID int64, role faultline.MemberRole) error {
	tx, err := db.beginWrite(ctx)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	if err := addMember(ctx, tx, cohortID, userID, role); err != nil {
		return err
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("add member %d to cohort %d: commit: %w", userID, cohortID, err)
	}
	return nil
}

// MemberRole returns the user's role in the cohort; ENOTFOUND if the user is
// not a member.
func (db *DB) MemberRole(ctx context.Context, cohortID, userID int64) (faultline.MemberRole, error) {
	tx, err := db.beginRead(ctx)
	if err != nil {
		return "", err
	}
	defer tx.Rollback()
	return memberRole(ctx, tx, cohortID, userID)
}

// ListMembers lists the cohort's members, instructors first, then
// co-instructors, then learners, each by name
// and id. An unknown cohort has no members (an empty slice).
func (db *DB) ListMembers(ctx context.Context, cohortID int64) ([]*faultline.Member, error) {
	tx, err := db.beginRead(ctx)
	if err != nil {
		return nil, err
	}
	defer tx.Rollback()
	rows, err := tx.QueryContext(ctx, `
		SELECT m.cohort_id, m.role, m.joined_at,
		       u.id, u.email, u.name, u.role, u.password_hash, u.created_at
		FROM memberships m JOIN users u ON u.id = m.user_id
		WHERE m.cohort_id = +? -- see db.go
		ORDER BY CASE m.role WHEN 'instructor' THEN 0 WHEN 'co_instructor' THEN 1 ELSE 2 END, u.name, u.id`, cohortID)
	if err != nil {
		return nil, fmt.Errorf("list members of cohort %d: %w", cohortID, err)
	}
	defer rows.Close()
	out := []*faultline.Member{}
	for rows.Next() {
		m := &faultline.Member{User: &faultline.User{}}
		var mrole, urole string
		if err := rows.Scan(&m.CohortID, &mrole, timeText{&m.JoinedAt},
			&m.User.ID, &m.User.Email, &m.User.Name, &urole, &m.User.PasswordHash, timeText{&m.User.CreatedAt}); err != nil {
			return nil, fmt.Errorf("list members of cohort %d: %w", cohortID, err)
		}
		m.Role = faultline.MemberRole(mrole)
		m.User.Role = faultline.Role(urole)
		out = append(out, m)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list members of cohort %d: %w", cohortID, err)
	}
	return out, nil
}

const cohortColumns = `id, name, invite_code, invite_expires_at, created_by, created_at`

func scanCohort(sc interface{ Scan(...any) error }, c *faultline.Cohort) error {
	return sc.Scan(&c.ID, &c.Name, &c.InviteCode, timeText{&c.InviteExpiresAt}, &c.CreatedBy, timeText{&c.CreatedAt})
}

// findCohort returns the one cohort matching where (a trusted SQL fragment).
func findCohort(ctx context.Context, tx *dbTx, where string, arg any) (*faultline.Cohort, error) {
	c := &faultline.Cohort{}
	err := scanCohort(tx.QueryRowContext(ctx, `SELECT `+cohortColumns+` FROM cohorts WHERE `+where, arg), c)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, faultline.Errorf(faultline.ENOTFOUND, "Cohort not found.")
	} else if err != nil {
		return nil, fmt.Errorf("find cohort where %s: %w", where, err)
	}
	return c, nil
}

// addMember inserts or updates a membership inside tx.
func addMember(ctx context.Context, tx *dbTx, cohortID, userID int64, role faultline.MemberRole) error {
	if !role.Valid() {
		return faultline.Errorf(faultline.EINVALID, "Member role must be instructor, co_instructor or learner.")
	}
	_, err := tx.ExecContext(ctx, `
		INSERT INTO memberships (cohort_id, user_id, role, joined_at) VALUES (?, ?, ?, ?)
		ON CONFLICT (cohort_id, user_id) DO UPDATE SET role = excluded.role`,
		cohortID, userID, string(role), encodeTime(tx.now))
	if isForeignKey(err) {
		return faultline.Errorf(faultline.ENOTFOUND, "Cohort or user not found.")
	} else if err != nil {
		return fmt.Errorf("add member %d to cohort %d: %w", userID, cohortID, err)
	}
	return nil
}

const labSettingsColumns = `cohort_id, lab, opens_at, due_at, late_mode, late_pct_per_day, late_cap_pct,
	max_submissions, per_minute, test_visibility, updated_at`

func scanLabSettings(sc interface{ Scan(...any) error }) (*faultline.LabSettings, error) {
	s := &faultline.LabSettings{}
	var mode, vis string
	if err := sc.Scan(&s.CohortID, &s.Lab, timeText{&s.OpensAt}, timeText{&s.DueAt}, &mode, &s.Late.PercentPerDay,
		&s.Late.CapPercent, &s.MaxSubmissions, &s.PerMinute, &vis, timeText{&s.UpdatedAt}); err != nil {
		return nil, err
	}
	s.Late.Mode = faultline.LateMode(mode)
	s.Visibility = faultline.TestVisibility(vis)
	return s, nil
}

// LabSettings returns the cohort's settings for the lab, or
// faultline.DefaultLabSettings (UpdatedAt zero) when none were set. ENOTFOUND
// for an unknown cohort.
func (db *DB) LabSettings(ctx context.Context, cohortID int64, lab string) (*faultline.LabSettings, error) {
	tx, err := db.beginRead(ctx)
	if err != nil {
		return nil, err
	}
	defer tx.Rollback()
	if _, err := findCohort(ctx, tx, "id = ?", cohortID); err != nil {
		return nil, err
	}
	s, err := scanLabSettings(tx.QueryRowContext(ctx, `SELECT `+labSettingsColumns+` FROM cohort_labs
		WHERE cohort_id = ? AND lab = ?`, cohortID, lab))
	if errors.Is(err, sql.ErrNoRows) {
		return faultline.DefaultLabSettings(cohortID, lab), nil
	} else if err != nil {
		return nil, fmt.Errorf("lab settings of cohort %d lab %q: %w", cohortID, lab, err)
	}
	return s, nil
}

// ListLabSettings returns the settings of every lab of the cohort that has
// been set, ordered by lab; labs never set are absent (use
// faultline.DefaultLabSettings). ENOTFOUND for an unknown cohort.
func (db *DB) ListLabSettings(ctx context.Context, cohortID int64) ([]*faultline.LabSettings, error) {
	tx, err := db.beginRead(ctx)
	if err != nil {
		return nil, err
	}
	defer tx.Rollback()
	if _, err := findCohort(ctx, tx, "id = ?", cohortID); err != nil {
		return nil, err
	}
	rows, err := tx.QueryContext(ctx, `SELECT `+labSettingsColumns+` FROM cohort_labs WHERE cohort_id = ? ORDER BY lab`, cohortID)
	if err != nil {
		return nil, fmt.Errorf("list lab settings of cohort %d: %w", cohortID, err)
	}
	defer rows.Close()
	out := []*faultline.LabSettings{}
	for rows.Next() {
		s, err := scanLabSettings(rows)
		if err != nil {
			return nil, fmt.Errorf("list lab settings of cohort %d: %w", cohortID, err)
		}
		out = append(out, s)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list lab settings of cohort %d: %w", cohortID, err)
	}
	return out, nil
}

// SetLabSettings validates s (EINVALID with what to fix, see
// LabSettings.Validate), fills empty modes with their defaults, stores it
// replacing earlier settings and sets s.UpdatedAt. ENOTFOUND for an unknown
// cohort.
func (db *DB) SetLabSettings(ctx context.Context, s *faultline.LabSettings) error {
	if err := s.Validate(); err != nil {
		return err
	}
	if s.Late.Mode == "" {
		s.Late.Mode = faultline.LateAccept
	}
	if s.Visibility == "" {
		s.Visibility = faultline.TestsVisible
	}
	tx, err := db.beginWrite(ctx)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	_, err = tx.ExecContext(ctx, `INSERT INTO cohort_labs (`+labSettingsColumns+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (cohort_id, lab) DO UPDATE SET opens_at = excluded.opens_at, due_at = excluded.due_at,
			late_mode = excluded.late_mode, late_pct_per_day = excluded.late_pct_per_day,
			late_cap_pct = excluded.late_cap_pct, max_submissions = excluded.max_submissions,
			per_minute = excluded.per_minute, test_visibility = excluded.test_visibility,
			updated_at = excluded.updated_at`,
		s.CohortID, s.Lab, encodeTime(s.OpensAt), encodeTime(s.DueAt), string(s.Late.Mode), s.Late.PercentPerDay,
		s.Late.CapPercent, s.MaxSubmissions, s.PerMinute, string(s.Visibility), encodeTime(tx.now))
	if isForeignKey(err) {
		return faultline.Errorf(faultline.ENOTFOUND, "Cohort not found.")
	} else if err != nil {
		return fmt.Errorf("set lab settings of cohort %d lab %q: %w", s.CohortID, s.Lab, err)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("set lab settings of cohort %d lab %q: commit: %w", s.CohortID, s.Lab, err)
	}
	s.UpdatedAt = tx.now
	return nil
}
