package main

import (
	"context"
	"fmt"
	"net/http"
	"time"

	"github.com/faultline-dev/faultline"
	"github.com/faultline-dev/faultline/course"
	"github.com/faultline-dev/faultline/lti"
	"github.com/faultline-dev/faultline/mail"
	"github.com/faultline-dev/faultline/metrics"
	"github.com/faultline-dev/faultline/recovery"
	"github.com/faultline-dev/faultline/sandbox"
	"github.com/faultline-dev/faultline/sso"
	"github.com/faultline-dev/faultline/web"
)

// institutionParts are the running pieces of email, SSO, LTI and the
// operator's metrics.
type institutionParts struct {
	notifier *mail.Notifier // nil without -smtp-host
	queue    *mail.Queue
	metrics  *metrics.Metrics
	sso      *sso.Service // nil without -oidc-issuer
	lti      *lti.Service
}

// openInstitution builds the institution parts once the portal's public
// URL is known (links in email point there) and the course layer exists
// (LMS passback sends its one score).
func (m *Main) openInstitution(svc *course.Service) error {
	cfg := m.Config.Inst
	if cfg.SMTP.Host != "" && m.inst.notifier == nil { // openMail made it first
		sender, err := mail.NewSender(cfg.SMTP)
		if err != nil {
			return fmt.Errorf("email: %s", describe(err))
		}
		m.inst.queue = mail.NewQueue(m.DB, sender, mail.QueueOptions{Logger: m.Logger})
		m.inst.notifier = mail.NewNotifier(m.DB, mail.Site{Name: "Faultline", BaseURL: m.Config.BaseURL}, m.Logger)
		m.inst.notifier.Kick = m.inst.queue.Kick
	}
	if o := cfg.OIDC; o.Issuer != "" {
		svc, err := sso.New(sso.Config{Issuer: o.Issuer, ClientID: o.ClientID, ClientSecret: o.ClientSecret,
			RedirectURL: m.Config.BaseURL + "/sso/callback", Name: o.Name, Logger: m.Logger}, m.DB, m.DB)
		if err != nil {
			return fmt.Errorf("single sign-on: %s", describe(err))
		}
		m.inst.sso = svc
	}
	tool, err := lti.New(lti.Config{
		BaseURL: m.Config.BaseURL, Lab: m.Labs.Lab,
		Lesson: func(slug string) (*faultline.Lesson, bool) {
			l, err := m.Content.Lesson(slug)
			return l, err == nil
		},
		Scores: lti.CourseScores{Course: svc, Users: m.DB}, Logger: m.Logger,
	}, m.DB)
	if err != nil {
		return fmt.Errorf("lti: %s", describe(err))
	}
	m.inst.lti = tool
	return nil
}

// The engine counts its failed calls for faultline_engine_errors_total.
var _ metrics.EngineErrorSource = (*sandbox.Engine)(nil)

// withInstitution adds the institution parts and the operator's
// endpoints to the web server's deps.
func (m *Main) withInstitution(manager *sandbox.Manager, d web.Deps) web.Deps {
	if m.inst.notifier != nil {
		d.Recovery = &recovery.Service{Users: m.DB, Resets: m.DB, Notifier: m.inst.notifier, BaseURL: m.Config.BaseURL, Logger: m.Logger}
	}
	d.SSOOnly = m.Config.Inst.SSOOnly
	d.Identities = m.DB
	if m.inst.sso != nil {
		d.SSO = m.inst.sso
	}
	d.LTI = m.inst.lti
	d.Probes = []faultline.Probe{
		{Name: "database", Check: m.DB.Ready},
		{Name: "engine", Check: m.Engine.Ping, Optional: true},
	}
	m.inst.metrics = metrics.New(metrics.Sources{
		Queue: m.DB, Sandboxes: m.DB, Grades: m.DB, Mail: m.DB, Engine: m.Engine, Pool: manager,
	}, nil, m.Logger)
	if err := m.inst.metrics.Start(context.Background()); err != nil {
		m.Logger.Warn("metrics: read the newest grade", "err", err)
	}
	d.Metrics = metrics.Guard(m.inst.metrics.Handler(), m.Config.Inst.MetricsToken)
	return d
}

// instrument wraps the portal's handler with request metrics.
func (m *Main) instrument(h http.Handler) http.Handler {
	if m.inst.metrics == nil {
		return h
	}
	return m.inst.metrics.Instrument(h)
}

// runInstitution starts the institution's background work (the mail
// queue, LMS score passback) until bg ends.
func (m *Main) runInstitution(bg context.Context) {
	if t := m.inst.lti; t != nil {
		m.background.Add(1)
		go func() {
			defer m.background.Done()
			_ = t.RunPassback(bg, lti.PassbackOptions{})
		}()
	}
	if q := m.inst.queue; q != nil {
		g := &mail.GradeMailer{Events: m.DB, Users: m.DB, Notifier: m.inst.notifier, BaseURL: m.Config.BaseURL, Logger: m.Logger,
			LabTitle: func(slug string) string {
				if l, err := m.Labs.Lab(slug); err == nil {
					return l.Title
				}
				return slug
			}}
		m.background.Add(2)
		go func() {
			defer m.background.Done()
			_ = q.Run(bg)
		}()
		go func() {
			defer m.background.Done()
			g.Run(bg, 5*time.Second)
		}()
	}
}
