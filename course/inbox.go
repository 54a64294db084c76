package course

import (
	"context"
	"fmt"
	"regexp"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/faultline-dev/faultline"
)

// Notifications: every event worth telling someone about becomes an inbox
// entry for each person whose settings keep that kind in the inbox, and an
// email (through Deps.Mailer, when the portal has one) for each whose
// settings ask for email. What a notification says is what its recipient
// may see: the actor's name is worked out per recipient, so an anonymous
// author stays "Anonymous" to classmates in the inbox and in email alike.

// notice is one event for one recipient.
type notice struct {
	to       int64
	kind     faultline.NotificationKind
	cohortID int64
	actor    string
	title    string
	excerpt  string
	url      string
	topic    string // for email: the thread's title, or the submission
	started  bool   // for email: a new thread or announcement
}

// notify stores the notices (one per recipient and kind; a recipient's own
// actions never notify them) and mails those whose settings ask for it.
// Failures are logged: a notification never undoes what caused it.
func (s *Service) notify(ctx context.Context, actorID int64, ns []notice) {
	seen := map[int64]bool{}
	var inbox []*faultline.Notification
	var mail []*faultline.Notification
	for _, n := range ns {
		if n.to == 0 || n.to == actorID || seen[n.to] {
			continue
		}
		seen[n.to] = true
		set, err := s.d.Inbox.NotificationSettings(ctx, n.to)
		if err != nil {
			s.log.ErrorContext(ctx, "notification settings", "user", n.to, "err", err)
			continue
		}
		st := set[n.kind]
		if !st.Inbox && !(st.Email && s.d.Mailer != nil) {
			continue
		}
		fn := &faultline.Notification{UserID: n.to, CohortID: n.cohortID, Kind: n.kind, Actor: oneLine(n.actor, 100),
			Title: oneLine(n.title, 200), Excerpt: oneLine(n.excerpt, 300), URL: n.url, Topic: oneLine(n.topic, 200), Started: n.started}
		if fn.Topic == "" {
			fn.Topic = fn.Title
		}
		if st.Inbox {
			inbox = append(inbox, fn)
		}
		if st.Email && s.d.Mailer != nil {
			mail = append(mail, fn)
		}
	}
	if err := s.d.Inbox.AddNotifications(ctx, inbox); err != nil {
		s.log.ErrorContext(ctx, "store notifications", "count", len(inbox), "err", err)
	}
	for _, n := range mail {
		u, err := s.d.Users.FindUserByID(ctx, n.UserID)
		if err == nil {
			err = s.d.Mailer.MailNotification(ctx, u, n)
		}
		if err != nil {
			s.log.ErrorContext(ctx, "mail notification", "user", n.UserID, "kind", n.Kind, "err", err)
		}
	}
}

// oneLine folds whitespace and control characters into single spaces and
// keeps at most n runes (cut with an ellipsis).
func oneLine(s string, n int) string {
	s = strings.Join(strings.FieldsFunc(s, func(r rune) bool { return unicode.IsSpace(r) || unicode.IsControl(r) }), " ")
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	return string([]rune(s)[:n-1]) + "…"
}

var fenceLine = regexp.MustCompile("(?m)^ {0,3}(```|~~~)")

// excerptOf is the start of a Markdown text as plain words, code blocks
// left out.
func excerptOf(md string) string {
	var b strings.Builder
	inCode := false
	for _, ln := range strings.Split(md, "\n") {
		if fenceLine.MatchString(ln) {
			inCode = !inCode
			if inCode {
				b.WriteString(" [code] ")
			}
			continue
		}
		if !inCode {
			b.WriteString(strings.NewReplacer("*", "", "`", "", "#", "", ">", "").Replace(ln))
			b.WriteByte(' ')
		}
	}
	return oneLine(b.String(), 200)
}

// mentions returns the members of the cohort written as @Name in body
// (their full name, case-insensitive, not followed by a letter or digit).
func mentions(body string, members []*faultline.Member) []int64 {
	lower := strings.ToLower(body)
	var out []int64
	for _, m := range members {
		name := strings.ToLower(strings.TrimSpace(m.User.Name))
		if name == "" {
			continue
		}
		at := "@" + name
		for i := strings.Index(lower, at); i >= 0; {
			end := i + len(at)
			if r, _ := utf8.DecodeRuneInString(lower[end:]); end == len(lower) || !(unicode.IsLetter(r) || unicode.IsDigit(r)) {
				out = append(out, m.User.ID)
				break
			}
			next := strings.Index(lower[end:], at)
			if next < 0 {
				break
			}
			i = end + next
		}
	}
	return out
}

// ---- The inbox ----

// InboxPage is a user's inbox.
type InboxPage struct {
	Notifications []*faultline.Notification
	Unread        int
}

// Inbox returns the viewer's notifications, newest first (unread ones only
// when unreadOnly).
func (s *Service) Inbox(ctx context.Context, viewer *faultline.User, unreadOnly bool) (*InboxPage, error) {
	if err := signedIn(viewer); err != nil {
		return nil, err
	}
	ns, err := s.d.Inbox.Notifications(ctx, viewer.ID, 100, unreadOnly)
	if err != nil {
		return nil, fmt.Errorf("notifications of user %d: %w", viewer.ID, err)
	}
	n, err := s.d.Inbox.UnreadNotifications(ctx, viewer.ID)
	if err != nil {
		return nil, fmt.Errorf("unread notifications of user %d: %w", viewer.ID, err)
	}
	return &InboxPage{Notifications: ns, Unread: n}, nil
}

// UnreadNotifications counts the viewer's unread notifications (0 for a
// visitor).
func (s *Service) UnreadNotifications(ctx context.Context, viewer *faultline.User) (int, error) {
	if viewer == nil {
		return 0, nil
	}
	n, err := s.d.Inbox.UnreadNotifications(ctx, viewer.ID)
	if err != nil {
		return 0, fmt.Errorf("unread notifications of user %d: %w", viewer.ID, err)
	}
	return n, nil
}

// OpenNotification marks one of the viewer's notifications read and
// returns where it leads (a path on this site); ENOTFOUND when it is not
// theirs.
func (s *Service) OpenNotification(ctx context.Context, viewer *faultline.User, id int64) (string, error) {
	if err := signedIn(viewer); err != nil {
		return "", err
	}
	n, err := s.d.Inbox.ReadNotification(ctx, viewer.ID, id)
	if err != nil {
		return "", internal(err, "read notification %d of user %d", id, viewer.ID)
	}
	if !strings.HasPrefix(n.URL, "/") || strings.HasPrefix(n.URL, "//") {
		return "/inbox", nil
	}
	return n.URL, nil
}

// ReadAllNotifications marks every notification of the viewer read.
func (s *Service) ReadAllNotifications(ctx context.Context, viewer *faultline.User) error {
	if err := signedIn(viewer); err != nil {
		return err
	}
	if err := s.d.Inbox.ReadAllNotifications(ctx, viewer.ID); err != nil {
		return fmt.Errorf("read all notifications of user %d: %w", viewer.ID, err)
	}
	return nil
}

// NotificationSettings returns the viewer's settings per kind and whether
// the portal can send email at all.
func (s *Service) NotificationSettings(ctx context.Context, viewer *faultline.User) (map[faultline.NotificationKind]faultline.NotificationSetting, bool, error) {
	if err := signedIn(viewer); err != nil {
		return nil, false, err
	}
	set, err := s.d.Inbox.NotificationSettings(ctx, viewer.ID)
	if err != nil {
		return nil, false, fmt.Errorf("notification settings of user %d: %w", viewer.ID, err)
	}
	return set, s.d.Mailer != nil, nil
}

// SetNotificationSettings stores the viewer's settings; EINVALID for an
// unknown kind.
func (s *Service) SetNotificationSettings(ctx context.Context, viewer *faultline.User, set map[faultline.NotificationKind]faultline.NotificationSetting) error {
	if err := signedIn(viewer); err != nil {
		return err
	}
	if err := s.d.Inbox.SetNotificationSettings(ctx, viewer.ID, set); err != nil {
		return internal(err, "set notification settings of user %d", viewer.ID)
	}
	return nil
}
