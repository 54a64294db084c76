package faultline

import (
	"context"
	"time"
)

// This file holds notifications: the in-app inbox every user has, their
// settings per kind, and the seam email plugs into.

// NotificationKind is what a notification is about.
type NotificationKind string

const (
	NotifyReply        NotificationKind = "reply"        // a new post in a thread the person follows
	NotifyAnswer       NotificationKind = "answer"       // their question was answered or an answer endorsed
	NotifyMention      NotificationKind = "mention"      // someone wrote @their name
	NotifyAnnouncement NotificationKind = "announcement" // staff announced something to the cohort
	NotifyFeedback     NotificationKind = "feedback"     // a comment, score adjustment, extension or regrade answer on their work
	NotifyModeration   NotificationKind = "moderation"   // for staff: a post held or reported; for authors: held, hidden, restored
)

// NotificationKinds lists every kind in the order settings show them.
var NotificationKinds = []NotificationKind{NotifyReply, NotifyAnswer, NotifyMention, NotifyAnnouncement, NotifyFeedback, NotifyModeration}

// Valid reports whether k is a known kind.
func (k NotificationKind) Valid() bool {
	for _, x := range NotificationKinds {
		if k == x {
			return true
		}
	}
	return false
}

// Notification is one entry of a user's inbox. Actor and the texts are
// what the recipient may see: an anonymous author is already "Anonymous".
type Notification struct {
	ID        int64
	UserID    int64
	CohortID  int64
	Kind      NotificationKind
	Actor     string // who did it, as the recipient may see them
	Title     string // one line: "New reply in “Why does my breaker flap?”"
	Excerpt   string // the start of the text, plain
	URL       string // where it leads, a path on this site
	ReadAt    time.Time
	CreatedAt time.Time

	// For email only (not stored): Topic is what it is about in a few
	// words (the thread's title, "submission #12 of Circuit breaker");
	// Started says it starts something (a thread, an announcement) rather
	// than adding to it.
	Topic   string
	Started bool
}

// NotificationSetting says where one kind of notification goes.
type NotificationSetting struct {
	Inbox bool
	Email bool // only when the portal can send email
}

// DefaultNotificationSettings are a user's settings until they change them:
// everything in the inbox; email for answers, mentions, announcements and
// feedback on their work, not for every reply.
func DefaultNotificationSettings() map[NotificationKind]NotificationSetting {
	return map[NotificationKind]NotificationSetting{
		NotifyReply:        {Inbox: true},
		NotifyAnswer:       {Inbox: true, Email: true},
		NotifyMention:      {Inbox: true, Email: true},
		NotifyAnnouncement: {Inbox: true, Email: true},
		NotifyFeedback:     {Inbox: true, Email: true},
		NotifyModeration:   {Inbox: true},
	}
}

// InboxService stores notifications and settings.
type InboxService interface {
	// AddNotifications inserts ns (IDs and times filled) in one transaction.
	AddNotifications(ctx context.Context, ns []*Notification) error
	// Notifications returns the user's notifications, newest first, at most
	// limit (0: 100), only unread ones when unreadOnly.
	Notifications(ctx context.Context, userID int64, limit int, unreadOnly bool) ([]*Notification, error)
	// UnreadNotifications counts the user's unread notifications.
	UnreadNotifications(ctx context.Context, userID int64) (int, error)
	// ReadNotification marks one of the user's notifications read and
	// returns it; ENOTFOUND when it is not theirs.
	ReadNotification(ctx context.Context, userID, id int64) (*Notification, error)
	// ReadAllNotifications marks every notification of the user read.
	ReadAllNotifications(ctx context.Context, userID int64) error
	// NotificationSettings returns the user's settings, defaults filled in.
	NotificationSettings(ctx context.Context, userID int64) (map[NotificationKind]NotificationSetting, error)
	// SetNotificationSettings stores the user's settings for the kinds given.
	SetNotificationSettings(ctx context.Context, userID int64, s map[NotificationKind]NotificationSetting) error
}

// NotificationMailer sends a notification by email to someone whose
// settings ask for it. The portal's email outbox implements it (an adapter
// over the mail package in cmd/faultline); without SMTP there is none and
// notifications go to the inbox only. It returns once the message is
// queued; errors are logged and never undo the notification.
type NotificationMailer interface {
	MailNotification(ctx context.Context, to *User, n *Notification) error
}
