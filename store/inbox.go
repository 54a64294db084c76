package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/faultline-dev/faultline"
)

var _ faultline.InboxService = (*DB)(nil)

// AddNotifications inserts ns in one transaction, filling IDs and times.
// EINVALID for an unknown kind; ENOTFOUND for an unknown user.
func (db *DB) AddNotifications(ctx context.Context, ns []*faultline.Notification) error {
	if len(ns) == 0 {
		return nil
	}
	for _, n := range ns {
		if !n.Kind.Valid() {
			return faultline.Errorf(faultline.EINVALID, "Unknown kind of notification %q.", n.Kind)
		}
	}
	tx, err := db.beginWrite(ctx)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	for _, n := range ns {
		n.CreatedAt = tx.now
		err := tx.QueryRowContext(ctx, `INSERT INTO notifications (user_id, cohort_id, kind, actor, title, excerpt, url, created_at)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?) RETURNING id`, n.UserID, nullID(n.CohortID), string(n.Kind), n.Actor, n.Title, n.Excerpt,
			n.URL, encodeTime(tx.now)).Scan(&n.ID)
		if isForeignKey(err) {
			return faultline.Errorf(faultline.ENOTFOUND, "User or cohort not found.")
		} else if err != nil {
			return fmt.Errorf("notify user %d: %w", n.UserID, err)
		}
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("add %d notifications: commit: %w", len(ns), err)
	}
	return nil
}

const notificationColumns = `id, user_id, COALESCE(cohort_id, 0), kind, actor, title, excerpt, url, read_at, created_at`

func scanNotification(sc interface{ Scan(...any) error }, n *faultline.Notification) error {
	var kind string
	err := sc.Scan(&n.ID, &n.UserID, &n.CohortID, &kind, &n.Actor, &n.Title, &n.Excerpt, &n.URL, timeText{&n.ReadAt}, timeText{&n.CreatedAt})
	n.Kind = faultline.NotificationKind(kind)
	return err
}

// Notifications returns the user's notifications, newest first, at most
// limit (0: 100), only unread ones when unreadOnly.
func (db *DB) Notifications(ctx context.Context, userID int64, limit int, unreadOnly bool) ([]*faultline.Notification, error) {
	if limit <= 0 {
		limit = 100
	}
	tx, err := db.beginRead(ctx)
	if err != nil {
		return nil, err
	}
	defer tx.Rollback()
	q := `SELECT ` + notificationColumns + ` FROM notifications WHERE user_id = ?`
	if unreadOnly {
		q += ` AND read_at IS NULL`
	}
	rows, err := tx.QueryContext(ctx, q+` ORDER BY id DESC LIMIT ?`, userID, limit)
	if err != nil {
		return nil, fmt.Errorf("notifications of user %d: %w", userID, err)
	}
	defer rows.Close()
	out := []*faultline.Notification{}
	for rows.Next() {
		n := &faultline.Notification{}
		if err := scanNotification(rows, n); err != nil {
			return nil, fmt.Errorf("notifications of user %d: %w", userID, err)
		}
		out = append(out, n)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("notifications of user %d: %w", userID, err)
	}
	return out, nil
}

// UnreadNotifications counts the user's unread notifications.
func (db *DB) UnreadNotifications(ctx context.Context, userID int64) (int, error) {
	tx, err := db.beginRead(ctx)
	if err != nil {
		return 0, err
	}
	defer tx.Rollback()
	var n int
	if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM notifications WHERE user_id = ? AND read_at IS NULL`, userID).Scan(&n); err != nil {
		return 0, fmt.Errorf("unread notifications of user %d: %w", userID, err)
	}
	return n, nil
}

// ReadNotification marks one of the user's notifications read (keeping the
// first time) and returns it; ENOTFOUND when it is not theirs.
func (db *DB) ReadNotification(ctx context.Context, userID, id int64) (*faultline.Notification, error) {
	tx, err := db.beginWrite(ctx)
	if err != nil {
		return nil, err
	}
	defer tx.Rollback()
	if _, err := tx.ExecContext(ctx, `UPDATE notifications SET read_at = COALESCE(read_at, ?) WHERE id = ? AND user_id = ?`,
		encodeTime(tx.now), id, userID); err != nil {
		return nil, fmt.Errorf("read notification %d: %w", id, err)
	}
	n := &faultline.Notification{}
	err = scanNotification(tx.QueryRowContext(ctx, `SELECT `+notificationColumns+` FROM notifications WHERE id = ? AND user_id = ?`, id, userID), n)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, faultline.Errorf(faultline.ENOTFOUND, "There is no such notification.")
	} else if err != nil {
		return nil, fmt.Errorf("read notification %d: %w", id, err)
	}
	if err := tx.Commit(); err != nil {
		return nil, fmt.Errorf("read notification %d: commit: %w", id, err)
	}
	return n, nil
}

// ReadAllNotifications marks every notification of the user read.
func (db *DB) ReadAllNotifications(ctx context.Context, userID int64) error {
	tx, err := db.beginWrite(ctx)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	if _, err := tx.ExecContext(ctx, `UPDATE notifications SET read_at = ? WHERE user_id = ? AND read_at IS NULL`,
		encodeTime(tx.now), userID); err != nil {
		return fmt.Errorf("read all notifications of user %d: %w", userID, err)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("read all notifications of user %d: commit: %w", userID, err)
	}
	return nil
}

// NotificationSettings returns the user's settings for every kind, the
// defaults where they set none.
func (db *DB) NotificationSettings(ctx context.Context, userID int64) (map[faultline.NotificationKind]faultline.NotificationSetting, error) {
	out := faultline.DefaultNotificationSettings()
	tx, err := db.beginRead(ctx)
	if err != nil {
		return nil, err
	}
	defer tx.Rollback()
	rows, err := tx.QueryContext(ctx, `SELECT kind, inbox, email FROM notification_settings WHERE user_id = ?`, userID)
	if err != nil {
		return nil, fmt.Errorf("notification settings of user %d: %w", userID, err)
	}
	defer rows.Close()
	for rows.Next() {
		var kind string
		var s faultline.NotificationSetting
		if err := rows.Scan(&kind, &s.Inbox, &s.Email); err != nil {
			return nil, fmt.Errorf("notification settings of user %d: %w", userID, err)
		}
		if k := faultline.NotificationKind(kind); k.Valid() {
			out[k] = s
		}
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("notification settings of user %d: %w", userID, err)
	}
	return out, nil
}

// SetNotificationSettings stores the user's settings for the kinds given.
// EINVALID for an unknown kind; ENOTFOUND for an unknown user.
func (db *DB) SetNotificationSettings(ctx context.Context, userID int64, s map[faultline.NotificationKind]faultline.NotificationSetting) error {
	for k := range s {
		if !k.Valid() {
			return faultline.Errorf(faultline.EINVALID, "Unknown kind of notification %q.", k)
		}
	}
	tx, err := db.beginWrite(ctx)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	for k, v := range s {
		_, err := tx.ExecContext(ctx, `INSERT INTO notification_settings (user_id, kind, inbox, email) VALUES (?, ?, ?, ?)
			ON CONFLICT (user_id, kind) DO UPDATE SET inbox = excluded.inbox, email = excluded.email`,
			userID, string(k), boolInt(v.Inbox), boolInt(v.Email))
		if isForeignKey(err) {
			return faultline.Errorf(faultline.ENOTFOUND, "User not found.")
		} else if err != nil {
			return fmt.Errorf("set notification settings of user %d: %w", userID, err)
		}
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("set notification settings of user %d: commit: %w", userID, err)
	}
	return nil
}
