package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/faultline-dev/faultline"
)

var (
	_ faultline.LTIStore          = (*DB)(nil)
	_ faultline.GradeEventService = (*DB)(nil)
)

func httpURL(s string) bool {
	u, err := url.Parse(s)
	return err == nil && (u.Scheme == "https" || u.Scheme == "http") && u.Host != ""
}

// CreateLTIPlatform registers p with its deployments and fills ID and
// CreatedAt. EINVALID for a missing field or a URL that is not http(s),
// ECONFLICT for a taken (issuer, client id).
func (db *DB) CreateLTIPlatform(ctx context.Context, p *faultline.LTIPlatform) error {
	p.Name, p.Issuer, p.ClientID = strings.TrimSpace(p.Name), strings.TrimSpace(p.Issuer), strings.TrimSpace(p.ClientID)
	var deps []string
	for _, d := range p.Deployments {
		if d = strings.TrimSpace(d); d != "" {
			deps = append(deps, d)
		}
	}
	p.Deployments = deps
	switch {
	case p.Name == "" || len(p.Name) > 100:
		return faultline.Errorf(faultline.EINVALID, "Give the platform a name (up to 100 characters).")
	case p.Issuer == "":
		return faultline.Errorf(faultline.EINVALID, "The platform's issuer is required.")
	case p.ClientID == "":
		return faultline.Errorf(faultline.EINVALID, "The client id the platform gave this tool is required.")
	case !httpURL(p.AuthURL):
		return faultline.Errorf(faultline.EINVALID, "The authentication request URL must be an http(s) address.")
	case !httpURL(p.JWKSURL):
		return faultline.Errorf(faultline.EINVALID, "The platform's key set (JWKS) URL must be an http(s) address.")
	case p.TokenURL != "" && !httpURL(p.TokenURL):
		return faultline.Errorf(faultline.EINVALID, "The access token URL must be an http(s) address.")
	case len(deps) == 0:
		return faultline.Errorf(faultline.EINVALID, "Add at least one deployment id.")
	}
	tx, err := db.beginWrite(ctx)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	res, err := tx.ExecContext(ctx, `INSERT INTO lti_platforms (name, issuer, client_id, auth_url, token_url, jwks_url, created_by, created_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?)`, p.Name, p.Issuer, p.ClientID, p.AuthURL, p.TokenURL, p.JWKSURL, p.CreatedBy, encodeTime(tx.now))
	switch {
	case isUnique(err):
		return faultline.Errorf(faultline.ECONFLICT, "A platform with this issuer and client id is registered already.")
	case isForeignKey(err):
		return faultline.Errorf(faultline.ENOTFOUND, "User not found.")
	case err != nil:
		return fmt.Errorf("create lti platform: %w", err)
	}
	id, _ := res.LastInsertId()
	for _, d := range deps {
		if _, err := tx.ExecContext(ctx, `INSERT OR IGNORE INTO lti_deployments (platform_id, deployment_id) VALUES (?, ?)`, id, d); err != nil {
			return fmt.Errorf("create lti platform: deployment: %w", err)
		}
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("create lti platform: commit: %w", err)
	}
	p.ID, p.CreatedAt = id, tx.now
	return nil
}

// DeleteLTIPlatform removes a registration with its links and queued
// scores; cohorts and accounts stay. ENOTFOUND if unknown.
func (db *DB) DeleteLTIPlatform(ctx context.Context, id int64) error {
	tx, err := db.beginWrite(ctx)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	res, err := tx.ExecContext(ctx, `DELETE FROM lti_platforms WHERE id = ?`, id)
	if err != nil {
		return fmt.Errorf("delete lti platform %d: %w", id, err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return faultline.Errorf(faultline.ENOTFOUND, "No such platform.")
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("delete lti platform %d: commit: %w", id, err)
	}
	return nil
}

const platformColumns = `id, name, issuer, client_id, auth_url, token_url, jwks_url, created_by, created_at`

func (db *DB) platforms(ctx context.Context, where string, args ...any) ([]*faultline.LTIPlatform, error) {
	tx, err := db.beginRead(ctx)
	if err != nil {
		return nil, err
	}
	defer tx.Rollback()
	rows, err := tx.QueryContext(ctx, `SELECT `+platformColumns+` FROM lti_platforms WHERE `+where+` ORDER BY id`, args...)
	if err != nil {
		return nil, fmt.Errorf("list lti platforms: %w", err)
	}
	var out []*faultline.LTIPlatform
	for rows.Next() {
		p := &faultline.LTIPlatform{}
		if err := rows.Scan(&p.ID, &p.Name, &p.Issuer, &p.ClientID, &p.AuthURL, &p.TokenURL, &p.JWKSURL, &p.CreatedBy, timeText{&p.CreatedAt}); err != nil {
			rows.Close()
			return nil, fmt.Errorf("list lti platforms: %w", err)
		}
		out = append(out, p)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list lti platforms: %w", err)
	}
	for _, p := range out {
		drows, err := tx.QueryContext(ctx, `SELECT deployment_id FROM lti_deployments WHERE platform_id = ? ORDER BY deployment_id`, p.ID)
		if err != nil {
			return nil, fmt.Errorf("list lti deployments: %w", err)
		}
		for drows.Next() {
			var d string
			if err := drows.Scan(&d); err != nil {
				drows.Close()
				return nil, fmt.Errorf("list lti deployments: %w", err)
			}
			p.Deployments = append(p.Deployments, d)
		}
		drows.Close()
		if err := drows.Err(); err != nil {
			return nil, fmt.Errorf("list lti deployments: %w", err)
		}
	}
	return out, nil
}

// ListLTIPlatforms lists every registration, oldest first.
func (db *DB) ListLTIPlatforms(ctx context.Context) ([]*faultline.LTIPlatform, error) {
	return db.platforms(ctx, "1 = 1")
}

// FindLTIPlatform returns one registration; ENOTFOUND if unknown.
func (db *DB) FindLTIPlatform(ctx context.Context, id int64) (*faultline.LTIPlatform, error) {
	ps, err := db.platforms(ctx, "id = ?", id)
	if err != nil {
		return nil, err
	}
	if len(ps) == 0 {
		return nil, faultline.Errorf(faultline.ENOTFOUND, "No such platform.")
	}
	return ps[0], nil
}

// FindLTIPlatformByIssuer finds the registration of issuer and client id;
// with no client id the issuer must have exactly one (EINVALID otherwise).
// ENOTFOUND when none matches.
func (db *DB) FindLTIPlatformByIssuer(ctx context.Context, issuer, clientID string) (*faultline.LTIPlatform, error) {
	var ps []*faultline.LTIPlatform
	var err error
	if clientID != "" {
		ps, err = db.platforms(ctx, "issuer = ? AND client_id = ?", issuer, clientID)
	} else {
		ps, err = db.platforms(ctx, "issuer = ?", issuer)
	}
	if err != nil {
		return nil, err
	}
	switch len(ps) {
	case 0:
		return nil, faultline.Errorf(faultline.ENOTFOUND, "This learning platform is not registered with Faultline. Ask the portal's administrator to register it.")
	case 1:
		return ps[0], nil
	}
	return nil, faultline.Errorf(faultline.EINVALID, "Several registrations share this issuer; the platform must send its client id.")
}

// ToolKey returns the newest signing key, storing newKey() first when
// there is none (in one transaction, so two callers agree on one key).
func (db *DB) ToolKey(ctx context.Context, newKey func() (*faultline.LTIKey, error)) (*faultline.LTIKey, error) {
	keys, err := db.ToolKeys(ctx)
	if err != nil {
		return nil, err
	}
	if len(keys) > 0 {
		return keys[0], nil
	}
	k, err := newKey()
	if err != nil {
		return nil, fmt.Errorf("new lti key: %w", err)
	}
	tx, err := db.beginWrite(ctx)
	if err != nil {
		return nil, err
	}
	defer tx.Rollback()
	var n int
	if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM lti_keys`).Scan(&n); err != nil {
		return nil, fmt.Errorf("lti key: %w", err)
	}
	if n == 0 {
		if _, err := tx.ExecContext(ctx, `INSERT INTO lti_keys (kid, private_pem, created_at) VALUES (?, ?, ?)`,
			k.KID, k.PrivatePEM, encodeTime(tx.now)); err != nil {
			return nil, fmt.Errorf("store lti key: %w", err)
		}
	}
	if err := tx.Commit(); err != nil {
		return nil, fmt.Errorf("store lti key: commit: %w", err)
	}
	keys, err = db.ToolKeys(ctx)
	if err != nil || len(keys) == 0 {
		return nil, fmt.Errorf("lti key after storing: %v", err)
	}
	return keys[0], nil
}

// ToolKeys lists the signing keys, newest first.
func (db *DB) ToolKeys(ctx context.Context) ([]*faultline.LTIKey, error) {
	tx, err := db.beginRead(ctx)
	if err != nil {
		return nil, err
	}
	defer tx.Rollback()
	rows, err := tx.QueryContext(ctx, `SELECT kid, private_pem, created_at FROM lti_keys ORDER BY created_at DESC, kid`)
	if err != nil {
		return nil, fmt.Errorf("lti keys: %w", err)
	}
	defer rows.Close()
	var out []*faultline.LTIKey
	for rows.Next() {
		k := &faultline.LTIKey{}
		if err := rows.Scan(&k.KID, &k.PrivatePEM, timeText{&k.CreatedAt}); err != nil {
			return nil, fmt.Errorf("lti keys: %w", err)
		}
		out = append(out, k)
	}
	return out, rows.Err()
}

// LinkLTIContext returns the link of the context, creating its cohort and
// the link on first launch; it refreshes the title and the service URLs the
// launch announced. ENOTFOUND for an unknown platform.
func (db *DB) LinkLTIContext(ctx context.Context, c *faultline.LTIContext, createdBy int64, inviteCode string) (*faultline.LTIContext, error) {
	tx, err := db.beginWrite(ctx)
	if err != nil {
		return nil, err
	}
	defer tx.Rollback()
	var cohortID int64
	err = tx.QueryRowContext(ctx, `SELECT cohort_id FROM lti_contexts WHERE platform_id = ? AND context_id = ?`, c.PlatformID, c.ContextID).Scan(&cohortID)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		name := strings.TrimSpace(c.Title)
		if name == "" {
			name = strings.TrimSpace(c.Label)
		}
		if name == "" {
			name = "Course " + c.ContextID
		}
		if len(name) > 200 {
			name = name[:200]
		}
		res, err := tx.ExecContext(ctx, `INSERT INTO cohorts (name, invite_code, created_by, created_at) VALUES (?, ?, ?, ?)`,
			name, inviteCode, createdBy, encodeTime(tx.now))
		if err != nil {
			return nil, fmt.Errorf("create cohort for lti context: %w", err)
		}
		cohortID, _ = res.LastInsertId()
		if _, err := tx.ExecContext(ctx, `INSERT INTO lti_contexts (platform_id, context_id, title, label, cohort_id, lineitems_url, memberships_url)
			VALUES (?, ?, ?, ?, ?, ?, ?)`, c.PlatformID, c.ContextID, c.Title, c.Label, cohortID, c.LineItemsURL, c.MembershipsURL); err != nil {
			if isForeignKey(err) {
				return nil, faultline.Errorf(faultline.ENOTFOUND, "No such platform.")
			}
			return nil, fmt.Errorf("link lti context: %w", err)
		}
	case err != nil:
		return nil, fmt.Errorf("find lti context: %w", err)
	default:
		if _, err := tx.ExecContext(ctx, `UPDATE lti_contexts SET
			title = CASE WHEN ? <> '' THEN ? ELSE title END, label = CASE WHEN ? <> '' THEN ? ELSE label END,
			lineitems_url = CASE WHEN ? <> '' THEN ? ELSE lineitems_url END,
			memberships_url = CASE WHEN ? <> '' THEN ? ELSE memberships_url END
			WHERE platform_id = ? AND context_id = ?`,
			c.Title, c.Title, c.Label, c.Label, c.LineItemsURL, c.LineItemsURL, c.MembershipsURL, c.MembershipsURL,
			c.PlatformID, c.ContextID); err != nil {
			return nil, fmt.Errorf("update lti context: %w", err)
		}
	}
	out, err := findContext(ctx, tx, "platform_id = ? AND context_id = ?", c.PlatformID, c.ContextID)
	if err != nil {
		return nil, err
	}
	if err := tx.Commit(); err != nil {
		return nil, fmt.Errorf("link lti context: commit: %w", err)
	}
	return out, nil
}

func findContext(ctx context.Context, tx *dbTx, where string, args ...any) (*faultline.LTIContext, error) {
	c := &faultline.LTIContext{}
	err := tx.QueryRowContext(ctx, `SELECT platform_id, context_id, title, label, cohort_id, lineitems_url, memberships_url, last_sync_at
		FROM lti_contexts WHERE `+where+` ORDER BY platform_id LIMIT 1`, args...).
		Scan(&c.PlatformID, &c.ContextID, &c.Title, &c.Label, &c.CohortID, &c.LineItemsURL, &c.MembershipsURL, timeText{&c.LastSyncAt})
	if errors.Is(err, sql.ErrNoRows) {
		return nil, faultline.Errorf(faultline.ENOTFOUND, "This cohort is not linked to a course in a learning platform.")
	} else if err != nil {
		return nil, fmt.Errorf("find lti context: %w", err)
	}
	return c, nil
}

// FindLTIContextByCohort returns the course linked to the cohort;
// ENOTFOUND when none is.
func (db *DB) FindLTIContextByCohort(ctx context.Context, cohortID int64) (*faultline.LTIContext, error) {
	tx, err := db.beginRead(ctx)
	if err != nil {
		return nil, err
	}
	defer tx.Rollback()
	return findContext(ctx, tx, "cohort_id = ?", cohortID)
}

// MarkLTISynced records a roster sync now.
func (db *DB) MarkLTISynced(ctx context.Context, platformID int64, contextID string) error {
	tx, err := db.beginWrite(ctx)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	if _, err := tx.ExecContext(ctx, `UPDATE lti_contexts SET last_sync_at = ? WHERE platform_id = ? AND context_id = ?`,
		encodeTime(tx.now), platformID, contextID); err != nil {
		return fmt.Errorf("mark lti synced: %w", err)
	}
	return tx.Commit()
}

// UpsertLTIGradeTarget records where the learner's score for the lab goes
// from this resource link; a known line item is kept when t has none.
func (db *DB) UpsertLTIGradeTarget(ctx context.Context, t *faultline.LTIGradeTarget) error {
	if t.Subject == "" || t.Lab == "" || t.ResourceLinkID == "" {
		return faultline.Errorf(faultline.EINVALID, "A grade target needs the learner's LTI id, the lab and the resource link.")
	}
	tx, err := db.beginWrite(ctx)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	_, err = tx.ExecContext(ctx, `INSERT INTO lti_grade_targets (platform_id, context_id, resource_link_id, user_id, subject, lab, lineitem_url, lineitems_url)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (platform_id, context_id, resource_link_id, user_id) DO UPDATE SET
			subject = excluded.subject, lab = excluded.lab,
			lineitem_url = CASE WHEN excluded.lineitem_url <> '' THEN excluded.lineitem_url ELSE lineitem_url END,
			lineitems_url = CASE WHEN excluded.lineitems_url <> '' THEN excluded.lineitems_url ELSE lineitems_url END`,
		t.PlatformID, t.ContextID, t.ResourceLinkID, t.UserID, t.Subject, t.Lab, t.LineItemURL, t.LineItemsURL)
	if isForeignKey(err) {
		return faultline.Errorf(faultline.ENOTFOUND, "No such platform or user.")
	} else if err != nil {
		return fmt.Errorf("upsert lti grade target: %w", err)
	}
	return tx.Commit()
}

// LTIGradeTargets lists where the learner's score for the lab goes.
func (db *DB) LTIGradeTargets(ctx context.Context, userID int64, lab string) ([]*faultline.LTIGradeTarget, error) {
	tx, err := db.beginRead(ctx)
	if err != nil {
		return nil, err
	}
	defer tx.Rollback()
	rows, err := tx.QueryContext(ctx, `SELECT platform_id, context_id, resource_link_id, user_id, subject, lab, lineitem_url, lineitems_url
		FROM lti_grade_targets WHERE user_id = ? AND lab = ? ORDER BY platform_id, context_id, resource_link_id`, userID, lab)
	if err != nil {
		return nil, fmt.Errorf("lti grade targets: %w", err)
	}
	defer rows.Close()
	var out []*faultline.LTIGradeTarget
	for rows.Next() {
		t := &faultline.LTIGradeTarget{}
		if err := rows.Scan(&t.PlatformID, &t.ContextID, &t.ResourceLinkID, &t.UserID, &t.Subject, &t.Lab, &t.LineItemURL, &t.LineItemsURL); err != nil {
			return nil, fmt.Errorf("lti grade targets: %w", err)
		}
		out = append(out, t)
	}
	return out, rows.Err()
}

// LTITargetsSettingsChanged lists the grade targets of labs whose cohort
// settings changed after since, and the newest change (since when none).
func (db *DB) LTITargetsSettingsChanged(ctx context.Context, since time.Time) ([]*faultline.LTIGradeTarget, time.Time, error) {
	tx, err := db.beginRead(ctx)
	if err != nil {
		return nil, since, err
	}
	defer tx.Rollback()
	rows, err := tx.QueryContext(ctx, `SELECT t.platform_id, t.context_id, t.resource_link_id, t.user_id, t.subject, t.lab,
			t.lineitem_url, t.lineitems_url, cl.updated_at
		FROM cohort_labs cl
		JOIN lti_contexts c ON c.cohort_id = cl.cohort_id
		JOIN lti_grade_targets t ON t.platform_id = c.platform_id AND t.context_id = c.context_id AND t.lab = cl.lab
		WHERE cl.updated_at > ? ORDER BY cl.updated_at`, encodeTime(since))
	if err != nil {
		return nil, since, fmt.Errorf("lti targets of changed settings: %w", err)
	}
	defer rows.Close()
	newest := since
	var out []*faultline.LTIGradeTarget
	for rows.Next() {
		t := &faultline.LTIGradeTarget{}
		var at time.Time
		if err := rows.Scan(&t.PlatformID, &t.ContextID, &t.ResourceLinkID, &t.UserID, &t.Subject, &t.Lab, &t.LineItemURL, &t.LineItemsURL, timeText{&at}); err != nil {
			return nil, since, fmt.Errorf("lti targets of changed settings: %w", err)
		}
		if at.After(newest) {
			newest = at
		}
		out = append(out, t)
	}
	return out, newest, rows.Err()
}

// SetLTILineItem records the line item of a resource link's lab for every
// learner's target and every waiting score.
func (db *DB) SetLTILineItem(ctx context.Context, platformID int64, contextID, resourceLinkID, lab, lineItemURL string) error {
	tx, err := db.beginWrite(ctx)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	for _, table := range []string{"lti_grade_targets", "lti_scores"} {
		if _, err := tx.ExecContext(ctx, `UPDATE `+table+` SET lineitem_url = ?
			WHERE platform_id = ? AND context_id = ? AND resource_link_id = ? AND lab = ? AND lineitem_url = ''`,
			lineItemURL, platformID, contextID, resourceLinkID, lab); err != nil {
			return fmt.Errorf("set lti line item: %w", err)
		}
	}
	return tx.Commit()
}

// EnqueueLTIScore queues a score, replacing one still pending for the same
// link and learner.
func (db *DB) EnqueueLTIScore(ctx context.Context, j *faultline.LTIScoreJob) error {
	t := j.Target
	tx, err := db.beginWrite(ctx)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	if _, err := tx.ExecContext(ctx, `DELETE FROM lti_scores WHERE state = 'pending' AND platform_id = ? AND context_id = ?
		AND resource_link_id = ? AND user_id = ? AND lab = ?`, t.PlatformID, t.ContextID, t.ResourceLinkID, t.UserID, t.Lab); err != nil {
		return fmt.Errorf("enqueue lti score: %w", err)
	}
	res, err := tx.ExecContext(ctx, `INSERT INTO lti_scores (platform_id, context_id, resource_link_id, user_id, subject, lab,
		lineitem_url, lineitems_url, score, max_score, state, next_attempt_at, updated_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 'pending', ?, ?)`,
		t.PlatformID, t.ContextID, t.ResourceLinkID, t.UserID, t.Subject, t.Lab, t.LineItemURL, t.LineItemsURL,
		j.Score, j.MaxScore, encodeTime(tx.now), encodeTime(tx.now))
	if isForeignKey(err) {
		return faultline.Errorf(faultline.ENOTFOUND, "No such platform or user.")
	} else if err != nil {
		return fmt.Errorf("enqueue lti score: %w", err)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("enqueue lti score: commit: %w", err)
	}
	j.ID, _ = res.LastInsertId()
	j.State, j.UpdatedAt, j.NextAttemptAt = "pending", tx.now, tx.now
	return nil
}

const scoreColumns = `id, platform_id, context_id, resource_link_id, user_id, subject, lab, lineitem_url, lineitems_url,
	score, max_score, state, attempts, next_attempt_at, last_error, updated_at`

func scanScore(sc interface{ Scan(...any) error }) (*faultline.LTIScoreJob, error) {
	j := &faultline.LTIScoreJob{}
	t := &j.Target
	err := sc.Scan(&j.ID, &t.PlatformID, &t.ContextID, &t.ResourceLinkID, &t.UserID, &t.Subject, &t.Lab, &t.LineItemURL, &t.LineItemsURL,
		&j.Score, &j.MaxScore, &j.State, &j.Attempts, timeText{&j.NextAttemptAt}, &j.LastError, timeText{&j.UpdatedAt})
	return j, err
}

// ClaimLTIScore takes the oldest due score with a lease; ENOTFOUND if none.
func (db *DB) ClaimLTIScore(ctx context.Context, worker string, lease time.Duration) (*faultline.LTIScoreJob, error) {
	tx, err := db.beginWrite(ctx)
	if err != nil {
		return nil, err
	}
	defer tx.Rollback()
	now := encodeTime(tx.now)
	var id int64
	err = tx.QueryRowContext(ctx, `SELECT id FROM lti_scores
		WHERE (state = 'pending' AND next_attempt_at <= ?) OR (state = 'sending' AND lease_expires <= ?)
		ORDER BY next_attempt_at, id LIMIT 1`, now, now).Scan(&id)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, faultline.Errorf(faultline.ENOTFOUND, "No score is due.")
	} else if err != nil {
		return nil, fmt.Errorf("claim lti score: %w", err)
	}
	if _, err := tx.ExecContext(ctx, `UPDATE lti_scores SET state = 'sending', attempts = attempts + 1, lease_owner = ?, lease_expires = ?
		WHERE id = ?`, worker, encodeTime(tx.now.Add(lease)), id); err != nil {
		return nil, fmt.Errorf("claim lti score %d: %w", id, err)
	}
	j, err := scanScore(tx.QueryRowContext(ctx, `SELECT `+scoreColumns+` FROM lti_scores WHERE id = ?`, id))
	if err != nil {
		return nil, fmt.Errorf("claim lti score %d: %w", id, err)
	}
	if err := tx.Commit(); err != nil {
		return nil, fmt.Errorf("claim lti score %d: commit: %w", id, err)
	}
	return j, nil
}

// FinishLTIScore records a claimed job's outcome: sent when errText is
// empty, else pending again at next, or failed when next is zero.
// ECONFLICT unless worker holds the lease.
func (db *DB) FinishLTIScore(ctx context.Context, id int64, worker, errText string, next time.Time) error {
	tx, err := db.beginWrite(ctx)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	state, at := "sent", encodeTime(tx.now)
	switch {
	case errText != "" && !next.IsZero():
		state, at = "pending", encodeTime(next)
	case errText != "":
		state = "failed"
	}
	res, err := tx.ExecContext(ctx, `UPDATE lti_scores SET state = ?, next_attempt_at = ?, last_error = ?, updated_at = ?,
		lease_owner = '', lease_expires = NULL
		WHERE id = ? AND state = 'sending' AND lease_owner = ? AND lease_expires > ?`,
		state, at, capText(errText, 1000), encodeTime(tx.now), id, worker, encodeTime(tx.now))
	if err != nil {
		return fmt.Errorf("finish lti score %d: %w", id, err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return faultline.Errorf(faultline.ECONFLICT, "Score %d is not held by %s.", id, worker)
	}
	return tx.Commit()
}

// ListLTIScores lists the learner's queued and sent scores, newest first.
func (db *DB) ListLTIScores(ctx context.Context, userID int64) ([]*faultline.LTIScoreJob, error) {
	tx, err := db.beginRead(ctx)
	if err != nil {
		return nil, err
	}
	defer tx.Rollback()
	rows, err := tx.QueryContext(ctx, `SELECT `+scoreColumns+` FROM lti_scores WHERE user_id = ? ORDER BY id DESC`, userID)
	if err != nil {
		return nil, fmt.Errorf("list lti scores: %w", err)
	}
	defer rows.Close()
	var out []*faultline.LTIScoreJob
	for rows.Next() {
		j, err := scanScore(rows)
		if err != nil {
			return nil, fmt.Errorf("list lti scores: %w", err)
		}
		out = append(out, j)
	}
	return out, rows.Err()
}

// ---- grade events ----

// GradeEvents returns up to limit results with ids above afterID, in order.
func (db *DB) GradeEvents(ctx context.Context, afterID int64, limit int) ([]faultline.GradeEvent, error) {
	if limit <= 0 || limit > 10000 {
		limit = 1000
	}
	tx, err := db.beginRead(ctx)
	if err != nil {
		return nil, err
	}
	defer tx.Rollback()
	rows, err := tx.QueryContext(ctx, `SELECT r.id, r.submission_id, s.user_id, s.lab, r.regrade_job_id IS NOT NULL,
			r.status, r.score, r.max_score,
			COALESCE((SELECT p.score FROM results p WHERE p.submission_id = r.submission_id AND p.id < r.id ORDER BY p.id DESC LIMIT 1), -1)
		FROM results r JOIN submissions s ON s.id = r.submission_id WHERE r.id > ? ORDER BY r.id LIMIT ?`, afterID, limit)
	if err != nil {
		return nil, fmt.Errorf("grade events after %d: %w", afterID, err)
	}
	defer rows.Close()
	var out []faultline.GradeEvent
	for rows.Next() {
		var e faultline.GradeEvent
		var status string
		if err := rows.Scan(&e.ResultID, &e.SubmissionID, &e.UserID, &e.Lab, &e.Regrade, &status, &e.Score, &e.MaxScore, &e.PrevScore); err != nil {
			return nil, fmt.Errorf("grade events: %w", err)
		}
		e.Status = faultline.ResultStatus(status)
		out = append(out, e)
	}
	return out, rows.Err()
}

// EventCursor returns the named cursor; ENOTFOUND if never set.
func (db *DB) EventCursor(ctx context.Context, name string) (int64, error) {
	tx, err := db.beginRead(ctx)
	if err != nil {
		return 0, err
	}
	defer tx.Rollback()
	var id int64
	err = tx.QueryRowContext(ctx, `SELECT last_id FROM event_cursors WHERE name = ?`, name).Scan(&id)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, faultline.Errorf(faultline.ENOTFOUND, "No cursor %q.", name)
	} else if err != nil {
		return 0, fmt.Errorf("event cursor %q: %w", name, err)
	}
	return id, nil
}

// SetEventCursor sets the named cursor.
func (db *DB) SetEventCursor(ctx context.Context, name string, id int64) error {
	tx, err := db.beginWrite(ctx)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	if _, err := tx.ExecContext(ctx, `INSERT INTO event_cursors (name, last_id) VALUES (?, ?)
		ON CONFLICT (name) DO UPDATE SET last_id = excluded.last_id`, name, id); err != nil {
		return fmt.Errorf("set event cursor %q: %w", name, err)
	}
	return tx.Commit()
}
