package main

import (
	"context"
	"fmt"
	"strings"

	"github.com/faultline-dev/faultline"
	"github.com/faultline-dev/faultline/mail"
)

// Email for discussion and feedback notifications: the course layer hands
// each notification someone asked to receive by email to a
// faultline.NotificationMailer; notificationMail renders it as the mail
// package's discussion notice and queues it in the outbox.

// openMail builds the outbox's notifier when the portal has SMTP, before
// the course layer (which mails notifications through it); openInstitution
// keeps it.
func (m *Main) openMail() error {
	cfg := m.Config.Inst
	if cfg.SMTP.Host == "" || m.inst.notifier != nil {
		return nil
	}
	sender, err := mail.NewSender(cfg.SMTP)
	if err != nil {
		return fmt.Errorf("email: %s", describe(err))
	}
	m.inst.queue = mail.NewQueue(m.DB, sender, mail.QueueOptions{Logger: m.Logger})
	m.inst.notifier = mail.NewNotifier(m.DB, mail.Site{Name: "Faultline", BaseURL: m.Config.BaseURL}, m.Logger)
	m.inst.notifier.Kick = m.inst.queue.Kick
	return nil
}

// notificationMailer is the course layer's email for notifications: nil
// (no email) without SMTP.
func (m *Main) notificationMailer() faultline.NotificationMailer {
	if m.inst.notifier == nil {
		return nil
	}
	return &notificationMail{notifier: m.inst.notifier, cohorts: m.DB, baseURL: m.Config.BaseURL}
}

// notificationMail turns notifications into the outbox's discussion notices.
type notificationMail struct {
	notifier faultline.Notifier
	cohorts  faultline.CohortService
	baseURL  string
}

// MailNotification queues n for to. The notice carries what the inbox
// entry does, nothing more: the actor as to may see them (an anonymous
// author is already "Anonymous"), the topic, the excerpt and the link.
func (nm *notificationMail) MailNotification(ctx context.Context, to *faultline.User, n *faultline.Notification) error {
	cohort := ""
	if n.CohortID != 0 {
		if c, err := nm.cohorts.FindCohortByID(ctx, n.CohortID); err == nil {
			cohort = c.Name
		}
	}
	topic := n.Topic
	if topic == "" {
		topic = n.Title
	}
	excerpt := n.Excerpt
	if excerpt == "" {
		excerpt = n.Title
	}
	return nm.notifier.Notify(ctx, faultline.DiscussionNotice{
		To:      faultline.Recipient{UserID: to.ID, Email: to.Email, Name: to.Name},
		Cohort:  cohort,
		Thread:  topic,
		Author:  n.Actor,
		Excerpt: excerpt,
		URL:     strings.TrimRight(nm.baseURL, "/") + n.URL,
		Reply:   !n.Started,
	})
}
