package web

import (
	"net/http"
	"strconv"

	"github.com/go-chi/chi/v5"

	"github.com/faultline-dev/faultline"
	"github.com/faultline-dev/faultline/web/views"
)

// The inbox and notification settings. Opening a notification is a POST
// (it marks it read) that leads to where it points.

func (s *Server) inboxRoutes(r chi.Router) {
	r.Get("/inbox", s.h(s.serveInbox))
	r.Post("/inbox/read-all", s.h(s.serveReadAll))
	r.Post("/inbox/{nid}/open", s.h(s.serveOpenNotification))
	r.Get("/settings/notifications", s.h(s.serveNotificationSettings))
	r.Post("/settings/notifications", s.h(s.serveNotificationSettingsPost))
}

func (s *Server) serveInbox(w http.ResponseWriter, r *http.Request) error {
	unreadOnly := r.URL.Query().Get("unread") == "1"
	pg, err := s.c.Inbox(r.Context(), UserFromContext(r.Context()), unreadOnly)
	if err != nil {
		return err
	}
	m := views.InboxPage{Page: s.page(r, "Inbox", "inbox"), Unread: pg.Unread, UnreadOnly: unreadOnly,
		ReadAllURL: "/inbox/read-all", SettingsURL: "/settings/notifications"}
	now := s.now()
	for _, n := range pg.Notifications {
		m.Rows = append(m.Rows, views.NotificationRow{
			ID: n.ID, Kind: string(n.Kind), Title: n.Title, Actor: n.Actor, Excerpt: n.Excerpt,
			When: fmtAgo(n.CreatedAt, now), Unread: n.ReadAt.IsZero(), OpenURL: "/inbox/" + strconv.FormatInt(n.ID, 10) + "/open",
		})
	}
	return s.render(w, r, http.StatusOK, views.Inbox(m))
}

func (s *Server) serveReadAll(w http.ResponseWriter, r *http.Request) error {
	if err := s.c.ReadAllNotifications(r.Context(), UserFromContext(r.Context())); err != nil {
		return err
	}
	return redirect(w, r, "/inbox")
}

func (s *Server) serveOpenNotification(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r, "nid")
	if err != nil {
		return err
	}
	to, err := s.c.OpenNotification(r.Context(), UserFromContext(r.Context()), id)
	if err != nil {
		return err
	}
	return redirect(w, r, to)
}

var kindText = map[faultline.NotificationKind][2]string{
	faultline.NotifyReply:        {"Replies", "New posts in threads you started, posted in or voted on; new questions, for staff."},
	faultline.NotifyAnswer:       {"Answers", "Your question got an answer, or an answer was endorsed or marked."},
	faultline.NotifyMention:      {"Mentions", "Someone wrote @your name."},
	faultline.NotifyAnnouncement: {"Announcements", "Staff announced something to your cohort."},
	faultline.NotifyFeedback:     {"Feedback on your work", "Comments on your submissions, score adjustments, extensions, answers to regrade requests."},
	faultline.NotifyModeration:   {"Moderation", "Your post was held, hidden or released; for staff, posts held or reported."},
}

func (s *Server) settingsModel(r *http.Request) (views.NotificationSettingsPage, error) {
	set, email, err := s.c.NotificationSettings(r.Context(), UserFromContext(r.Context()))
	if err != nil {
		return views.NotificationSettingsPage{}, err
	}
	m := views.NotificationSettingsPage{Page: s.page(r, "Notifications", "inbox"), Email: email}
	for _, k := range faultline.NotificationKinds {
		t := kindText[k]
		m.Rows = append(m.Rows, views.SettingRow{Kind: string(k), Label: t[0], Help: t[1], Inbox: set[k].Inbox, Email: set[k].Email})
	}
	return m, nil
}

func (s *Server) serveNotificationSettings(w http.ResponseWriter, r *http.Request) error {
	m, err := s.settingsModel(r)
	if err != nil {
		return err
	}
	if r.URL.Query().Get("notice") == "saved" {
		m.Notice = "Saved."
	}
	return s.render(w, r, http.StatusOK, views.NotificationSettings(m))
}

func (s *Server) serveNotificationSettingsPost(w http.ResponseWriter, r *http.Request) error {
	if err := r.ParseForm(); err != nil {
		return err
	}
	set := map[faultline.NotificationKind]faultline.NotificationSetting{}
	for _, k := range faultline.NotificationKinds {
		set[k] = faultline.NotificationSetting{Inbox: formBool(r, "inbox-"+string(k)), Email: formBool(r, "email-"+string(k))}
	}
	if err := s.c.SetNotificationSettings(r.Context(), UserFromContext(r.Context()), set); err != nil {
		return err
	}
	return redirect(w, r, "/settings/notifications?notice=saved")
}

// inboxCount is the viewer's unread notifications for the navigation; a
// failure is logged and shows no count rather than failing the page.
func (s *Server) inboxCount(r *http.Request) int {
	u := UserFromContext(r.Context())
	if u == nil {
		return 0
	}
	n, err := s.c.UnreadNotifications(r.Context(), u)
	if err != nil {
		s.log.ErrorContext(r.Context(), "unread notifications", "user", u.ID, "err", err)
		return 0
	}
	return n
}
