package main

import (
	"context"
	"fmt"

	"github.com/faultline-dev/faultline/mail"
	"github.com/faultline-dev/faultline/web"
)

// institutionParts are the running pieces of email, SSO and LTI.
type institutionParts struct {
	notifier *mail.Notifier // nil without -smtp-host
	queue    *mail.Queue
}

// openInstitution builds the institution parts once the portal's public
// URL is known (links in email point there).
func (m *Main) openInstitution() error {
	cfg := m.Config.Inst
	if cfg.SMTP.Host != "" {
		sender, err := mail.NewSender(cfg.SMTP)
		if err != nil {
			return fmt.Errorf("email: %s", describe(err))
		}
		m.inst.queue = mail.NewQueue(m.DB, sender, mail.QueueOptions{Logger: m.Logger})
		m.inst.notifier = mail.NewNotifier(m.DB, mail.Site{Name: "Faultline", BaseURL: m.Config.BaseURL}, m.Logger)
		m.inst.notifier.Kick = m.inst.queue.Kick
	}
	return nil
}

// withInstitution adds the institution parts to the web server's deps.
func (m *Main) withInstitution(d web.Deps) web.Deps {
	if m.inst.notifier != nil {
		d.Notifier = m.inst.notifier
		d.Resets = m.DB
	}
	d.SSOOnly = m.Config.Inst.SSOOnly
	return d
}

// runInstitution starts the institution's background work (the mail
// queue) until bg ends.
func (m *Main) runInstitution(bg context.Context) {
	if q := m.inst.queue; q != nil {
		m.background.Add(1)
		go func() {
			defer m.background.Done()
			_ = q.Run(bg)
		}()
	}
}
