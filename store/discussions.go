package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/faultline-dev/faultline"
)

var (
	_ faultline.DiscussionService = (*DB)(nil)
	_ faultline.GroupService      = (*DB)(nil)
	_ faultline.ModerationService = (*DB)(nil)
)

var (
	errNoThread = faultline.Errorf(faultline.ENOTFOUND, "There is no such thread.")
	errNoPost   = faultline.Errorf(faultline.ENOTFOUND, "There is no such post.")
	errNoGroup  = faultline.Errorf(faultline.ENOTFOUND, "There is no such group.")
)

func nullID(id int64) any {
	if id == 0 {
		return nil
	}
	return id
}

const threadColumns = `t.id, t.cohort_id, t.place_kind, t.place_slug, t.kind, t.title, COALESCE(t.author_id, 0),
	t.anonymous, t.private, COALESCE(t.group_id, 0), t.prompt, t.shared, t.pinned, t.locked, COALESCE(t.answer_id, 0),
	t.run, t.version, t.created_at, t.last_activity_at, t.first_staff_reply_at`

func scanThread(sc interface{ Scan(...any) error }, t *faultline.Thread, extra ...any) error {
	var run sql.NullString
	var kind, place string
	dest := []any{&t.ID, &t.CohortID, &place, &t.Place.Slug, &kind, &t.Title, &t.AuthorID,
		&t.Anonymous, &t.Private, &t.GroupID, &t.Prompt, &t.Shared, &t.Pinned, &t.Locked, &t.AnswerID,
		&run, &t.Version, timeText{&t.CreatedAt}, timeText{&t.LastActivityAt}, timeText{&t.FirstStaffReplyAt}}
	if err := sc.Scan(append(dest, extra...)...); err != nil {
		return err
	}
	t.Place.Kind, t.Kind = faultline.PlaceKind(place), faultline.ThreadKind(kind)
	if run.Valid && run.String != "" {
		t.Run = &faultline.RunAttachment{}
		if err := json.Unmarshal([]byte(run.String), t.Run); err != nil {
			return fmt.Errorf("thread %d: decode run: %w", t.ID, err)
		}
	}
	return nil
}

func encodeRun(r *faultline.RunAttachment) (any, error) {
	if r == nil {
		return nil, nil
	}
	b, err := json.Marshal(r)
	if err != nil {
		return nil, fmt.Errorf("encode run: %w", err)
	}
	return string(b), nil
}

// CreateThread inserts t and its opening post (nil for a group's prompt
// thread) in one transaction and fills their IDs and times. ECONFLICT when
// the group already has a thread on that prompt; ENOTFOUND for an unknown
// cohort or group; EINVALID for a bad kind or place.
func (db *DB) CreateThread(ctx context.Context, t *faultline.Thread, opening *faultline.Post) error {
	if !t.Kind.Valid() {
		return faultline.Errorf(faultline.EINVALID, "Unknown kind of thread %q.", t.Kind)
	}
	if t.Place.Kind == "" {
		t.Place.Kind = faultline.PlaceCohort
	}
	run, err := encodeRun(t.Run)
	if err != nil {
		return err
	}
	tx, err := db.beginWrite(ctx)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	t.CreatedAt, t.LastActivityAt, t.Version = tx.now, tx.now, 1
	err = tx.QueryRowContext(ctx, `INSERT INTO threads (cohort_id, place_kind, place_slug, kind, title, author_id,
			anonymous, private, group_id, prompt, shared, pinned, locked, run, version, created_at, last_activity_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 1, ?, ?) RETURNING id`,
		t.CohortID, string(t.Place.Kind), t.Place.Slug, string(t.Kind), t.Title, nullID(t.AuthorID),
		boolInt(t.Anonymous), boolInt(t.Private), nullID(t.GroupID), t.Prompt, boolInt(t.Shared), boolInt(t.Pinned),
		boolInt(t.Locked), run, encodeTime(tx.now), encodeTime(tx.now)).Scan(&t.ID)
	switch {
	case isUnique(err):
		return faultline.Errorf(faultline.ECONFLICT, "This group already has a thread on that prompt.")
	case isForeignKey(err):
		return faultline.Errorf(faultline.ENOTFOUND, "There is no such cohort or group.")
	case err != nil:
		return fmt.Errorf("create thread in cohort %d: %w", t.CohortID, err)
	}
	if opening != nil {
		opening.ThreadID, opening.Opening, opening.ParentID = t.ID, true, 0
		if err := insertPost(ctx, tx, opening); err != nil {
			return err
		}
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("create thread in cohort %d: commit: %w", t.CohortID, err)
	}
	return nil
}

func findThread(ctx context.Context, tx *dbTx, id int64) (*faultline.Thread, error) {
	t := &faultline.Thread{}
	err := scanThread(tx.QueryRowContext(ctx, `SELECT `+threadColumns+` FROM threads t WHERE t.id = ?`, id), t)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, errNoThread
	} else if err != nil {
		return nil, fmt.Errorf("find thread %d: %w", id, err)
	}
	return t, nil
}

// FindThread returns the thread (without the list counts); ENOTFOUND if none.
func (db *DB) FindThread(ctx context.Context, id int64) (*faultline.Thread, error) {
	tx, err := db.beginRead(ctx)
	if err != nil {
		return nil, err
	}
	defer tx.Rollback()
	return findThread(ctx, tx, id)
}

// FindGroupThread returns a group's thread on prompt (1-based) of a case
// study; ENOTFOUND when nobody has posted there yet.
func (db *DB) FindGroupThread(ctx context.Context, groupID int64, caseSlug string, prompt int) (*faultline.Thread, error) {
	tx, err := db.beginRead(ctx)
	if err != nil {
		return nil, err
	}
	defer tx.Rollback()
	t := &faultline.Thread{}
	err = scanThread(tx.QueryRowContext(ctx, `SELECT `+threadColumns+` FROM threads t
		WHERE t.group_id = ? AND t.place_slug = ? AND t.prompt = ?`, groupID, caseSlug, prompt), t)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, errNoThread
	} else if err != nil {
		return nil, fmt.Errorf("find thread of group %d on %s prompt %d: %w", groupID, caseSlug, prompt, err)
	}
	return t, nil
}

// ListThreads returns the matching threads, pinned first, then by latest
// activity, with their counts of visible posts.
func (db *DB) ListThreads(ctx context.Context, f faultline.ThreadFilter) ([]*faultline.Thread, error) {
	if f.IDs != nil && len(f.IDs) == 0 {
		return []*faultline.Thread{}, nil
	}
	tx, err := db.beginRead(ctx)
	if err != nil {
		return nil, err
	}
	defer tx.Rollback()
	q := `SELECT ` + threadColumns + `,
		(SELECT count(*) FROM posts p WHERE p.thread_id = t.id AND p.state = 'visible' AND p.opening = 0),
		(SELECT count(*) FROM posts p WHERE p.thread_id = t.id AND p.state = 'visible' AND p.opening = 0
			AND p.author_id IS NOT t.author_id),
		(SELECT COALESCE(max(p.id), 0) FROM posts p WHERE p.thread_id = t.id AND p.state = 'visible'),
		(SELECT count(*) FROM posts p WHERE p.thread_id = t.id AND p.state = 'visible' AND p.author_id IS NOT +?
			AND p.id > COALESCE((SELECT r.post_id FROM thread_reads r WHERE r.user_id = +? AND r.thread_id = t.id), 0)),
		(SELECT count(*) FROM thread_votes v WHERE v.thread_id = t.id)
		FROM threads t WHERE t.cohort_id = +?` // +?: see db.go
	args := []any{f.Reader, f.Reader, f.CohortID}
	if f.Place != nil {
		q += ` AND t.place_kind = +? AND t.place_slug = +?`
		args = append(args, string(f.Place.Kind), f.Place.Slug)
	}
	if f.Groups {
		q += ` AND t.group_id IS NOT NULL`
		if f.GroupID != 0 {
			q += ` AND t.group_id = +?`
			args = append(args, f.GroupID)
		}
	} else {
		q += ` AND (t.group_id IS NULL OR t.shared = 1)`
	}
	if f.AuthorID != 0 {
		q += ` AND t.author_id = +?`
		args = append(args, f.AuthorID)
	}
	if len(f.IDs) > 0 {
		ids := f.IDs[:min(len(f.IDs), 500)]
		q += ` AND t.id IN (` + placeholders(len(ids)) + `)`
		for _, id := range ids {
			args = append(args, id)
		}
	}
	limit := f.Limit
	if limit <= 0 {
		limit = 500
	}
	q += ` ORDER BY t.pinned DESC, t.last_activity_at DESC, t.id DESC LIMIT +?`
	args = append(args, limit)
	rows, err := tx.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("list threads of cohort %d: %w", f.CohortID, err)
	}
	defer rows.Close()
	out := []*faultline.Thread{}
	for rows.Next() {
		t := &faultline.Thread{}
		if err := scanThread(rows, t, &t.Replies, &t.OthersRepl, &t.LastPostID, &t.Unread, &t.Votes); err != nil {
			return nil, fmt.Errorf("list threads of cohort %d: %w", f.CohortID, err)
		}
		out = append(out, t)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list threads of cohort %d: %w", f.CohortID, err)
	}
	return out, nil
}

// likePattern makes term a LIKE pattern matching it anywhere, with the
// wildcards in it escaped.
func likePattern(term string) string {
	r := strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`)
	return "%" + r.Replace(term) + "%"
}

// SearchThreads returns the IDs of the cohort's threads whose title or some
// visible post contains every term (case-insensitive for ASCII letters),
// newest activity first, at most 200.
func (db *DB) SearchThreads(ctx context.Context, cohortID int64, terms []string) ([]int64, error) {
	if len(terms) == 0 {
		return []int64{}, nil
	}
	tx, err := db.beginRead(ctx)
	if err != nil {
		return nil, err
	}
	defer tx.Rollback()
	q := `SELECT t.id FROM threads t WHERE t.cohort_id = ?`
	args := []any{cohortID}
	for _, term := range terms {
		p := likePattern(term)
		q += ` AND (t.title LIKE ? ESCAPE '\' OR EXISTS (SELECT 1 FROM posts p
			WHERE p.thread_id = t.id AND p.state = 'visible' AND p.body LIKE ? ESCAPE '\'))`
		args = append(args, p, p)
	}
	rows, err := tx.QueryContext(ctx, q+` ORDER BY t.last_activity_at DESC LIMIT 200`, args...)
	if err != nil {
		return nil, fmt.Errorf("search threads of cohort %d: %w", cohortID, err)
	}
	defer rows.Close()
	out := []int64{}
	for rows.Next() {
		var id int64
		if err := rows.Scan(&id); err != nil {
			return nil, fmt.Errorf("search threads of cohort %d: %w", cohortID, err)
		}
		out = append(out, id)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("search threads of cohort %d: %w", cohortID, err)
	}
	return out, nil
}

// CohortVersion returns the sum of the versions of the cohort's threads
// and their number: it changes whenever a thread is started or any thread
// or post changes.
func (db *DB) CohortVersion(ctx context.Context, cohortID int64) (int64, error) {
	tx, err := db.beginRead(ctx)
	if err != nil {
		return 0, err
	}
	defer tx.Rollback()
	var v int64
	if err := tx.QueryRowContext(ctx, `SELECT COALESCE(sum(version), 0) + count(*) FROM threads WHERE cohort_id = ?`, cohortID).Scan(&v); err != nil {
		return 0, fmt.Errorf("version of cohort %d's threads: %w", cohortID, err)
	}
	return v, nil
}

// ThreadVersion returns only the thread's version; ENOTFOUND if none.
func (db *DB) ThreadVersion(ctx context.Context, id int64) (int64, error) {
	var v int64
	tx, err := db.beginRead(ctx)
	if err != nil {
		return 0, err
	}
	defer tx.Rollback()
	err = tx.QueryRowContext(ctx, `SELECT version FROM threads WHERE id = ?`, id).Scan(&v)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, errNoThread
	} else if err != nil {
		return 0, fmt.Errorf("version of thread %d: %w", id, err)
	}
	return v, nil
}

// UpdateThread applies change to the thread and stores its title and flags
// (Pinned, Locked, Private, Shared, AnswerID) with a new version. change's
// error is returned as is, with nothing stored.
func (db *DB) UpdateThread(ctx context.Context, id int64, change func(*faultline.Thread) error) (*faultline.Thread, error) {
	tx, err := db.beginWrite(ctx)
	if err != nil {
		return nil, err
	}
	defer tx.Rollback()
	t, err := findThread(ctx, tx, id)
	if err != nil {
		return nil, err
	}
	if err := change(t); err != nil {
		return nil, err
	}
	t.Version++
	_, err = tx.ExecContext(ctx, `UPDATE threads SET title = ?, pinned = ?, locked = ?, private = ?, shared = ?,
		answer_id = ?, version = ? WHERE id = ?`,
		t.Title, boolInt(t.Pinned), boolInt(t.Locked), boolInt(t.Private), boolInt(t.Shared), nullID(t.AnswerID), t.Version, id)
	if err != nil {
		return nil, fmt.Errorf("update thread %d: %w", id, err)
	}
	if err := tx.Commit(); err != nil {
		return nil, fmt.Errorf("update thread %d: commit: %w", id, err)
	}
	return t, nil
}

// bumpThread gives the thread a new version inside tx; activity also moves
// its last activity to now.
func bumpThread(ctx context.Context, tx *dbTx, threadID int64, activity bool) error {
	q := `UPDATE threads SET version = version + 1 WHERE id = ?`
	args := []any{threadID}
	if activity {
		q = `UPDATE threads SET version = version + 1, last_activity_at = ? WHERE id = ?`
		args = []any{encodeTime(tx.now), threadID}
	}
	if _, err := tx.ExecContext(ctx, q, args...); err != nil {
		return fmt.Errorf("bump thread %d: %w", threadID, err)
	}
	return nil
}

const postColumns = `id, thread_id, COALESCE(parent_id, 0), opening, COALESCE(author_id, 0), staff, anonymous,
	body, html, state, held_reason, COALESCE(endorsed_by, 0), edits, created_at, edited_at`

func scanPost(sc interface{ Scan(...any) error }, p *faultline.Post) error {
	var state string
	err := sc.Scan(&p.ID, &p.ThreadID, &p.ParentID, &p.Opening, &p.AuthorID, &p.Staff, &p.Anonymous,
		&p.Body, &p.HTML, &state, &p.HeldReason, &p.EndorsedBy, &p.Edits, timeText{&p.CreatedAt}, timeText{&p.EditedAt})
	p.State = faultline.PostState(state)
	return err
}

// insertPost inserts p inside tx and fills its ID and time.
func insertPost(ctx context.Context, tx *dbTx, p *faultline.Post) error {
	if p.State == "" {
		p.State = faultline.PostVisible
	}
	p.CreatedAt = tx.now
	err := tx.QueryRowContext(ctx, `INSERT INTO posts (thread_id, parent_id, opening, author_id, staff, anonymous,
			body, html, state, held_reason, created_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id`,
		p.ThreadID, nullID(p.ParentID), boolInt(p.Opening), nullID(p.AuthorID), boolInt(p.Staff), boolInt(p.Anonymous),
		p.Body, p.HTML, string(p.State), p.HeldReason, encodeTime(tx.now)).Scan(&p.ID)
	if isForeignKey(err) {
		return errNoThread
	} else if err != nil {
		return fmt.Errorf("add post to thread %d: %w", p.ThreadID, err)
	}
	return nil
}

// AddPost inserts p into its thread, bumps the thread's version (and its
// activity, unless the post is held) and records the first visible staff
// reply. ENOTFOUND for an unknown thread, or a parent post of another thread.
func (db *DB) AddPost(ctx context.Context, p *faultline.Post) error {
	tx, err := db.beginWrite(ctx)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	if _, err := findThread(ctx, tx, p.ThreadID); err != nil {
		return err
	}
	if p.ParentID != 0 {
		var tid int64
		err := tx.QueryRowContext(ctx, `SELECT thread_id FROM posts WHERE id = ?`, p.ParentID).Scan(&tid)
		if errors.Is(err, sql.ErrNoRows) || err == nil && tid != p.ThreadID {
			return errNoPost
		} else if err != nil {
			return fmt.Errorf("add post: parent %d: %w", p.ParentID, err)
		}
	}
	p.Opening = false
	if err := insertPost(ctx, tx, p); err != nil {
		return err
	}
	visible := p.State == faultline.PostVisible
	if err := bumpThread(ctx, tx, p.ThreadID, visible); err != nil {
		return err
	}
	if visible && p.Staff {
		if _, err := tx.ExecContext(ctx, `UPDATE threads SET first_staff_reply_at = COALESCE(first_staff_reply_at, ?) WHERE id = ?`,
			encodeTime(tx.now), p.ThreadID); err != nil {
			return fmt.Errorf("add post to thread %d: %w", p.ThreadID, err)
		}
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("add post to thread %d: commit: %w", p.ThreadID, err)
	}
	return nil
}

func findPost(ctx context.Context, tx *dbTx, id int64) (*faultline.Post, error) {
	p := &faultline.Post{}
	err := scanPost(tx.QueryRowContext(ctx, `SELECT `+postColumns+` FROM posts WHERE id = ?`, id), p)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, errNoPost
	} else if err != nil {
		return nil, fmt.Errorf("find post %d: %w", id, err)
	}
	return p, nil
}

// FindPost returns the post; ENOTFOUND if none.
func (db *DB) FindPost(ctx context.Context, id int64) (*faultline.Post, error) {
	tx, err := db.beginRead(ctx)
	if err != nil {
		return nil, err
	}
	defer tx.Rollback()
	return findPost(ctx, tx, id)
}

// ListPosts returns the thread's posts in every state, oldest first.
func (db *DB) ListPosts(ctx context.Context, threadID int64) ([]*faultline.Post, error) {
	tx, err := db.beginRead(ctx)
	if err != nil {
		return nil, err
	}
	defer tx.Rollback()
	rows, err := tx.QueryContext(ctx, `SELECT `+postColumns+` FROM posts WHERE thread_id = ? ORDER BY id`, threadID)
	if err != nil {
		return nil, fmt.Errorf("list posts of thread %d: %w", threadID, err)
	}
	defer rows.Close()
	out := []*faultline.Post{}
	for rows.Next() {
		p := &faultline.Post{}
		if err := scanPost(rows, p); err != nil {
			return nil, fmt.Errorf("list posts of thread %d: %w", threadID, err)
		}
		out = append(out, p)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list posts of thread %d: %w", threadID, err)
	}
	return out, nil
}

// EditPost replaces a post's text (and its rendering), keeping the text it
// replaces as a revision, and sets its state: held when the guard holds the
// new text, visible when it passes. ENOTFOUND for an unknown post.
func (db *DB) EditPost(ctx context.Context, postID, editorID int64, body, html string, state faultline.PostState, heldReason string) (*faultline.Post, error) {
	tx, err := db.beginWrite(ctx)
	if err != nil {
		return nil, err
	}
	defer tx.Rollback()
	p, err := findPost(ctx, tx, postID)
	if err != nil {
		return nil, err
	}
	written := p.CreatedAt
	if !p.EditedAt.IsZero() {
		written = p.EditedAt
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO post_revisions (post_id, body, editor_id, created_at) VALUES (?, ?, ?, ?)`,
		postID, p.Body, nullID(editorID), encodeTime(written)); err != nil {
		return nil, fmt.Errorf("edit post %d: keep revision: %w", postID, err)
	}
	p.Body, p.HTML, p.State, p.HeldReason, p.EditedAt = body, html, state, heldReason, tx.now
	p.Edits++
	if _, err := tx.ExecContext(ctx, `UPDATE posts SET body = ?, html = ?, state = ?, held_reason = ?, edits = ?, edited_at = ?
		WHERE id = ?`, body, html, string(state), heldReason, p.Edits, encodeTime(tx.now), postID); err != nil {
		return nil, fmt.Errorf("edit post %d: %w", postID, err)
	}
	if err := bumpThread(ctx, tx, p.ThreadID, false); err != nil {
		return nil, err
	}
	if err := tx.Commit(); err != nil {
		return nil, fmt.Errorf("edit post %d: commit: %w", postID, err)
	}
	return p, nil
}

// PostRevisions returns a post's earlier texts, newest first.
func (db *DB) PostRevisions(ctx context.Context, postID int64) ([]*faultline.PostRevision, error) {
	tx, err := db.beginRead(ctx)
	if err != nil {
		return nil, err
	}
	defer tx.Rollback()
	rows, err := tx.QueryContext(ctx, `SELECT id, post_id, body, COALESCE(editor_id, 0), created_at
		FROM post_revisions WHERE post_id = ? ORDER BY id DESC`, postID)
	if err != nil {
		return nil, fmt.Errorf("revisions of post %d: %w", postID, err)
	}
	defer rows.Close()
	out := []*faultline.PostRevision{}
	for rows.Next() {
		r := &faultline.PostRevision{}
		if err := rows.Scan(&r.ID, &r.PostID, &r.Body, &r.EditorID, timeText{&r.CreatedAt}); err != nil {
			return nil, fmt.Errorf("revisions of post %d: %w", postID, err)
		}
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("revisions of post %d: %w", postID, err)
	}
	return out, nil
}

// SetPostState sets a post's state and the reason shown while it is held.
// A staff post made visible counts as a staff reply. ENOTFOUND if none.
func (db *DB) SetPostState(ctx context.Context, postID int64, state faultline.PostState, reason string) (*faultline.Post, error) {
	switch state {
	case faultline.PostVisible, faultline.PostHeld, faultline.PostHidden, faultline.PostDeleted:
	default:
		return nil, faultline.Errorf(faultline.EINVALID, "Unknown post state %q.", state)
	}
	tx, err := db.beginWrite(ctx)
	if err != nil {
		return nil, err
	}
	defer tx.Rollback()
	p, err := findPost(ctx, tx, postID)
	if err != nil {
		return nil, err
	}
	was := p.State
	p.State, p.HeldReason = state, reason
	if _, err := tx.ExecContext(ctx, `UPDATE posts SET state = ?, held_reason = ? WHERE id = ?`, string(state), reason, postID); err != nil {
		return nil, fmt.Errorf("set state of post %d: %w", postID, err)
	}
	// A held post released now counts as activity, as it would have when made.
	if err := bumpThread(ctx, tx, p.ThreadID, was == faultline.PostHeld && state == faultline.PostVisible); err != nil {
		return nil, err
	}
	if err := tx.Commit(); err != nil {
		return nil, fmt.Errorf("set state of post %d: commit: %w", postID, err)
	}
	return p, nil
}

// SetEndorsed marks the post endorsed by staff member by (0 removes the
// endorsement). ENOTFOUND if none.
func (db *DB) SetEndorsed(ctx context.Context, postID, by int64) (*faultline.Post, error) {
	tx, err := db.beginWrite(ctx)
	if err != nil {
		return nil, err
	}
	defer tx.Rollback()
	p, err := findPost(ctx, tx, postID)
	if err != nil {
		return nil, err
	}
	p.EndorsedBy = by
	if _, err := tx.ExecContext(ctx, `UPDATE posts SET endorsed_by = ? WHERE id = ?`, nullID(by), postID); err != nil {
		return nil, fmt.Errorf("endorse post %d: %w", postID, err)
	}
	if err := bumpThread(ctx, tx, p.ThreadID, false); err != nil {
		return nil, err
	}
	if err := tx.Commit(); err != nil {
		return nil, fmt.Errorf("endorse post %d: commit: %w", postID, err)
	}
	return p, nil
}

// Vote adds (on) or removes the user's "same question" vote and returns the
// thread's votes. ENOTFOUND for an unknown thread.
func (db *DB) Vote(ctx context.Context, threadID, userID int64, on bool) (int, error) {
	tx, err := db.beginWrite(ctx)
	if err != nil {
		return 0, err
	}
	defer tx.Rollback()
	if _, err := findThread(ctx, tx, threadID); err != nil {
		return 0, err
	}
	if on {
		_, err = tx.ExecContext(ctx, `INSERT OR IGNORE INTO thread_votes (thread_id, user_id, created_at) VALUES (?, ?, ?)`,
			threadID, userID, encodeTime(tx.now))
	} else {
		_, err = tx.ExecContext(ctx, `DELETE FROM thread_votes WHERE thread_id = ? AND user_id = ?`, threadID, userID)
	}
	if isForeignKey(err) {
		return 0, faultline.Errorf(faultline.ENOTFOUND, "User not found.")
	} else if err != nil {
		return 0, fmt.Errorf("vote on thread %d: %w", threadID, err)
	}
	var n int
	if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM thread_votes WHERE thread_id = ?`, threadID).Scan(&n); err != nil {
		return 0, fmt.Errorf("vote on thread %d: %w", threadID, err)
	}
	if err := bumpThread(ctx, tx, threadID, false); err != nil {
		return 0, err
	}
	if err := tx.Commit(); err != nil {
		return 0, fmt.Errorf("vote on thread %d: commit: %w", threadID, err)
	}
	return n, nil
}

// Voted reports whether the user voted "same question" on the thread.
func (db *DB) Voted(ctx context.Context, threadID, userID int64) (bool, error) {
	var n int
	tx, err := db.beginRead(ctx)
	if err != nil {
		return false, err
	}
	defer tx.Rollback()
	err = tx.QueryRowContext(ctx, `SELECT count(*) FROM thread_votes WHERE thread_id = ? AND user_id = ?`, threadID, userID).Scan(&n)
	if err != nil {
		return false, fmt.Errorf("vote of user %d on thread %d: %w", userID, threadID, err)
	}
	return n > 0, nil
}

// MarkRead records that the user has read the thread up to post postID; a
// mark never moves back.
func (db *DB) MarkRead(ctx context.Context, userID, threadID, postID int64) error {
	tx, err := db.beginWrite(ctx)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	_, err = tx.ExecContext(ctx, `INSERT INTO thread_reads (user_id, thread_id, post_id) VALUES (?, ?, ?)
		ON CONFLICT (user_id, thread_id) DO UPDATE SET post_id = max(post_id, excluded.post_id)`, userID, threadID, postID)
	if isForeignKey(err) {
		return errNoThread
	} else if err != nil {
		return fmt.Errorf("mark thread %d read by user %d: %w", threadID, userID, err)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("mark thread %d read by user %d: commit: %w", threadID, userID, err)
	}
	return nil
}

// Followers returns the users who follow a thread: its author, everyone who
// posted in it and everyone who voted "same question", by ID.
func (db *DB) Followers(ctx context.Context, threadID int64) ([]int64, error) {
	tx, err := db.beginRead(ctx)
	if err != nil {
		return nil, err
	}
	defer tx.Rollback()
	rows, err := tx.QueryContext(ctx, `SELECT author_id FROM threads WHERE id = ?1 AND author_id IS NOT NULL
		UNION SELECT author_id FROM posts WHERE thread_id = ?1 AND author_id IS NOT NULL
		UNION SELECT user_id FROM thread_votes WHERE thread_id = ?1
		ORDER BY 1`, threadID)
	if err != nil {
		return nil, fmt.Errorf("followers of thread %d: %w", threadID, err)
	}
	defer rows.Close()
	out := []int64{}
	for rows.Next() {
		var id int64
		if err := rows.Scan(&id); err != nil {
			return nil, fmt.Errorf("followers of thread %d: %w", threadID, err)
		}
		out = append(out, id)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("followers of thread %d: %w", threadID, err)
	}
	return out, nil
}

// FirstStaffReplies returns, for the cohort's questions (group threads
// aside), when each was asked and when staff first replied.
func (db *DB) FirstStaffReplies(ctx context.Context, cohortID int64) ([]faultline.StaffReply, error) {
	tx, err := db.beginRead(ctx)
	if err != nil {
		return nil, err
	}
	defer tx.Rollback()
	rows, err := tx.QueryContext(ctx, `SELECT id, created_at, first_staff_reply_at FROM threads
		WHERE cohort_id = +? AND kind = 'question' AND group_id IS NULL ORDER BY id`, cohortID) // +?: see db.go
	if err != nil {
		return nil, fmt.Errorf("staff replies in cohort %d: %w", cohortID, err)
	}
	defer rows.Close()
	out := []faultline.StaffReply{}
	for rows.Next() {
		var r faultline.StaffReply
		if err := rows.Scan(&r.ThreadID, timeText{&r.AskedAt}, timeText{&r.RepliedAt}); err != nil {
			return nil, fmt.Errorf("staff replies in cohort %d: %w", cohortID, err)
		}
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("staff replies in cohort %d: %w", cohortID, err)
	}
	return out, nil
}

// ---- Groups ----

// ReplaceGroups archives the cohort's current groups and creates groups
// (IDs and times filled) in one transaction. EINVALID for a group without
// a name or a user in two groups; ENOTFOUND for an unknown cohort or user.
func (db *DB) ReplaceGroups(ctx context.Context, cohortID int64, groups []*faultline.Group) error {
	seen := map[int64]bool{}
	for _, g := range groups {
		if strings.TrimSpace(g.Name) == "" {
			return faultline.Errorf(faultline.EINVALID, "Every group needs a name.")
		}
		for _, u := range g.Members {
			if seen[u] {
				return faultline.Errorf(faultline.EINVALID, "A learner can be in only one group.")
			}
			seen[u] = true
		}
	}
	tx, err := db.beginWrite(ctx)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	if _, err := findCohort(ctx, tx, "id = ?", cohortID); err != nil {
		return err
	}
	if _, err := tx.ExecContext(ctx, `UPDATE discussion_groups SET archived_at = ? WHERE cohort_id = ? AND archived_at IS NULL`,
		encodeTime(tx.now), cohortID); err != nil {
		return fmt.Errorf("archive groups of cohort %d: %w", cohortID, err)
	}
	for _, g := range groups {
		g.CohortID, g.CreatedAt, g.Archived = cohortID, tx.now, false
		if err := tx.QueryRowContext(ctx, `INSERT INTO discussion_groups (cohort_id, name, created_at) VALUES (?, ?, ?) RETURNING id`,
			cohortID, g.Name, encodeTime(tx.now)).Scan(&g.ID); err != nil {
			return fmt.Errorf("create group in cohort %d: %w", cohortID, err)
		}
		for _, u := range g.Members {
			_, err := tx.ExecContext(ctx, `INSERT INTO discussion_group_members (group_id, user_id) VALUES (?, ?)`, g.ID, u)
			if isForeignKey(err) {
				return faultline.Errorf(faultline.ENOTFOUND, "User not found.")
			} else if err != nil {
				return fmt.Errorf("add user %d to group %d: %w", u, g.ID, err)
			}
		}
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("replace groups of cohort %d: commit: %w", cohortID, err)
	}
	return nil
}

// AddGroup adds an empty group beside the cohort's current ones (ID and
// time filled). EINVALID for an empty name, ENOTFOUND for an unknown cohort.
func (db *DB) AddGroup(ctx context.Context, g *faultline.Group) error {
	if strings.TrimSpace(g.Name) == "" {
		return faultline.Errorf(faultline.EINVALID, "Every group needs a name.")
	}
	tx, err := db.beginWrite(ctx)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	g.CreatedAt, g.Archived, g.Members = tx.now, false, []int64{}
	err = tx.QueryRowContext(ctx, `INSERT INTO discussion_groups (cohort_id, name, created_at) VALUES (?, ?, ?) RETURNING id`,
		g.CohortID, g.Name, encodeTime(tx.now)).Scan(&g.ID)
	if isForeignKey(err) {
		return faultline.Errorf(faultline.ENOTFOUND, "Cohort not found.")
	} else if err != nil {
		return fmt.Errorf("add group to cohort %d: %w", g.CohortID, err)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("add group to cohort %d: commit: %w", g.CohortID, err)
	}
	return nil
}

func loadGroupMembers(ctx context.Context, tx *dbTx, groups []*faultline.Group) error {
	for _, g := range groups {
		rows, err := tx.QueryContext(ctx, `SELECT m.user_id FROM discussion_group_members m JOIN users u ON u.id = m.user_id
			WHERE m.group_id = ? ORDER BY u.name, u.id`, g.ID)
		if err != nil {
			return fmt.Errorf("members of group %d: %w", g.ID, err)
		}
		g.Members = []int64{}
		for rows.Next() {
			var id int64
			if err := rows.Scan(&id); err != nil {
				rows.Close()
				return fmt.Errorf("members of group %d: %w", g.ID, err)
			}
			g.Members = append(g.Members, id)
		}
		err = rows.Err()
		rows.Close()
		if err != nil {
			return fmt.Errorf("members of group %d: %w", g.ID, err)
		}
	}
	return nil
}

// ListGroups returns the cohort's current groups (and archived ones when
// archived), by ID, with their members by name.
func (db *DB) ListGroups(ctx context.Context, cohortID int64, archived bool) ([]*faultline.Group, error) {
	tx, err := db.beginRead(ctx)
	if err != nil {
		return nil, err
	}
	defer tx.Rollback()
	q := `SELECT id, cohort_id, name, archived_at IS NOT NULL, created_at FROM discussion_groups WHERE cohort_id = ?`
	if !archived {
		q += ` AND archived_at IS NULL`
	}
	rows, err := tx.QueryContext(ctx, q+` ORDER BY id`, cohortID)
	if err != nil {
		return nil, fmt.Errorf("groups of cohort %d: %w", cohortID, err)
	}
	out := []*faultline.Group{}
	for rows.Next() {
		g := &faultline.Group{}
		if err := rows.Scan(&g.ID, &g.CohortID, &g.Name, &g.Archived, timeText{&g.CreatedAt}); err != nil {
			rows.Close()
			return nil, fmt.Errorf("groups of cohort %d: %w", cohortID, err)
		}
		out = append(out, g)
	}
	err = rows.Err()
	rows.Close()
	if err != nil {
		return nil, fmt.Errorf("groups of cohort %d: %w", cohortID, err)
	}
	if err := loadGroupMembers(ctx, tx, out); err != nil {
		return nil, err
	}
	return out, nil
}

// FindGroup returns the group with its members; ENOTFOUND if none.
func (db *DB) FindGroup(ctx context.Context, id int64) (*faultline.Group, error) {
	tx, err := db.beginRead(ctx)
	if err != nil {
		return nil, err
	}
	defer tx.Rollback()
	g := &faultline.Group{}
	err = tx.QueryRowContext(ctx, `SELECT id, cohort_id, name, archived_at IS NOT NULL, created_at FROM discussion_groups WHERE id = ?`, id).
		Scan(&g.ID, &g.CohortID, &g.Name, &g.Archived, timeText{&g.CreatedAt})
	if errors.Is(err, sql.ErrNoRows) {
		return nil, errNoGroup
	} else if err != nil {
		return nil, fmt.Errorf("find group %d: %w", id, err)
	}
	if err := loadGroupMembers(ctx, tx, []*faultline.Group{g}); err != nil {
		return nil, err
	}
	return g, nil
}

// SetGroupMember moves a user into a current group of the cohort, out of
// any other current group of it (groupID 0: out of every one). ENOTFOUND
// for a group that is not a current group of the cohort.
func (db *DB) SetGroupMember(ctx context.Context, cohortID, userID, groupID int64) error {
	tx, err := db.beginWrite(ctx)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	if groupID != 0 {
		var n int
		if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM discussion_groups WHERE id = ? AND cohort_id = ? AND archived_at IS NULL`,
			groupID, cohortID).Scan(&n); err != nil {
			return fmt.Errorf("find group %d: %w", groupID, err)
		}
		if n == 0 {
			return errNoGroup
		}
	}
	if _, err := tx.ExecContext(ctx, `DELETE FROM discussion_group_members WHERE user_id = ? AND group_id IN
		(SELECT id FROM discussion_groups WHERE cohort_id = ? AND archived_at IS NULL)`, userID, cohortID); err != nil {
		return fmt.Errorf("move user %d in cohort %d: %w", userID, cohortID, err)
	}
	if groupID != 0 {
		_, err := tx.ExecContext(ctx, `INSERT INTO discussion_group_members (group_id, user_id) VALUES (?, ?)`, groupID, userID)
		if isForeignKey(err) {
			return faultline.Errorf(faultline.ENOTFOUND, "User not found.")
		} else if err != nil {
			return fmt.Errorf("move user %d to group %d: %w", userID, groupID, err)
		}
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("move user %d in cohort %d: commit: %w", userID, cohortID, err)
	}
	return nil
}

// ---- Moderation ----

// ReportPost records a report of a post (ThreadID filled). ECONFLICT when
// the user already has an open report of it; ENOTFOUND for an unknown post.
func (db *DB) ReportPost(ctx context.Context, r *faultline.PostReport) error {
	tx, err := db.beginWrite(ctx)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	p, err := findPost(ctx, tx, r.PostID)
	if err != nil {
		return err
	}
	r.ThreadID, r.CreatedAt = p.ThreadID, tx.now
	err = tx.QueryRowContext(ctx, `INSERT INTO post_reports (post_id, reporter_id, reason, created_at) VALUES (?, ?, ?, ?) RETURNING id`,
		r.PostID, r.ReporterID, r.Reason, encodeTime(tx.now)).Scan(&r.ID)
	switch {
	case isUnique(err):
		return faultline.Errorf(faultline.ECONFLICT, "You have reported this post already; staff will look at it.")
	case isForeignKey(err):
		return faultline.Errorf(faultline.ENOTFOUND, "User not found.")
	case err != nil:
		return fmt.Errorf("report post %d: %w", r.PostID, err)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("report post %d: commit: %w", r.PostID, err)
	}
	return nil
}

// OpenReports returns the cohort's open reports, oldest first.
func (db *DB) OpenReports(ctx context.Context, cohortID int64) ([]*faultline.PostReport, error) {
	tx, err := db.beginRead(ctx)
	if err != nil {
		return nil, err
	}
	defer tx.Rollback()
	rows, err := tx.QueryContext(ctx, `SELECT r.id, r.post_id, p.thread_id, r.reporter_id, r.reason, r.created_at
		FROM post_reports r JOIN posts p ON p.id = r.post_id JOIN threads t ON t.id = p.thread_id
		WHERE t.cohort_id = ? AND r.resolved_at IS NULL ORDER BY r.id`, cohortID)
	if err != nil {
		return nil, fmt.Errorf("reports in cohort %d: %w", cohortID, err)
	}
	defer rows.Close()
	out := []*faultline.PostReport{}
	for rows.Next() {
		r := &faultline.PostReport{}
		if err := rows.Scan(&r.ID, &r.PostID, &r.ThreadID, &r.ReporterID, &r.Reason, timeText{&r.CreatedAt}); err != nil {
			return nil, fmt.Errorf("reports in cohort %d: %w", cohortID, err)
		}
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("reports in cohort %d: %w", cohortID, err)
	}
	return out, nil
}

// ResolveReports closes every open report of a post.
func (db *DB) ResolveReports(ctx context.Context, postID, by int64) error {
	tx, err := db.beginWrite(ctx)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	if _, err := tx.ExecContext(ctx, `UPDATE post_reports SET resolved_at = ?, resolved_by = ? WHERE post_id = ? AND resolved_at IS NULL`,
		encodeTime(tx.now), nullID(by), postID); err != nil {
		return fmt.Errorf("resolve reports of post %d: %w", postID, err)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("resolve reports of post %d: commit: %w", postID, err)
	}
	return nil
}

// Audit records a staff action (ID and time filled). EINVALID without an
// action; ENOTFOUND for an unknown cohort.
func (db *DB) Audit(ctx context.Context, e *faultline.AuditEntry) error {
	if e.Action == "" {
		return faultline.Errorf(faultline.EINVALID, "An audit entry needs an action.")
	}
	tx, err := db.beginWrite(ctx)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	e.CreatedAt = tx.now
	err = tx.QueryRowContext(ctx, `INSERT INTO audit_log (cohort_id, actor_id, action, target, detail, created_at)
		VALUES (?, ?, ?, ?, ?, ?) RETURNING id`, e.CohortID, nullID(e.ActorID), e.Action, e.Target, e.Detail, encodeTime(tx.now)).Scan(&e.ID)
	if isForeignKey(err) {
		return faultline.Errorf(faultline.ENOTFOUND, "There is no such cohort.")
	} else if err != nil {
		return fmt.Errorf("audit %q in cohort %d: %w", e.Action, e.CohortID, err)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("audit %q in cohort %d: commit: %w", e.Action, e.CohortID, err)
	}
	return nil
}

// AuditLog returns the cohort's audit entries, newest first, at most limit
// (0: 200).
func (db *DB) AuditLog(ctx context.Context, cohortID int64, limit int) ([]*faultline.AuditEntry, error) {
	if limit <= 0 {
		limit = 200
	}
	tx, err := db.beginRead(ctx)
	if err != nil {
		return nil, err
	}
	defer tx.Rollback()
	rows, err := tx.QueryContext(ctx, `SELECT id, cohort_id, COALESCE(actor_id, 0), action, target, detail, created_at
		FROM audit_log WHERE cohort_id = ? ORDER BY id DESC LIMIT ?`, cohortID, limit)
	if err != nil {
		return nil, fmt.Errorf("audit log of cohort %d: %w", cohortID, err)
	}
	defer rows.Close()
	out := []*faultline.AuditEntry{}
	for rows.Next() {
		e := &faultline.AuditEntry{}
		if err := rows.Scan(&e.ID, &e.CohortID, &e.ActorID, &e.Action, &e.Target, &e.Detail, timeText{&e.CreatedAt}); err != nil {
			return nil, fmt.Errorf("audit log of cohort %d: %w", cohortID, err)
		}
		out = append(out, e)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("audit log of cohort %d: %w", cohortID, err)
	}
	return out, nil
}
