// Package mail sends the portal's email over SMTP (wneessen/go-mail).
//
// Notices (a password reset link, a grade that landed, a discussion post)
// are rendered by Notifier into a plain-text and an HTML part in the style of
// the pages and stored in the outbox (faultline.Outbox, kept in SQLite by
// store) before Notify returns. Queue takes due messages from the outbox and
// hands them to the SMTP server through Sender, retrying with exponential
// backoff; a message leaves the outbox only as sent or, after its attempts,
// as failed (kept, with the server's last words, for the operator). A
// restart loses nothing: a message a dead worker was sending becomes due
// again when its lease runs out. Delivery is at least once; every message
// carries a Message-ID fixed by its outbox row, so a receiver can tell a
// repeat.
//
// Secrets stay out of logs: the package logs kinds, ids and errors, never
// addresses' messages, links or the SMTP password.
package mail

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/mail"
	"strings"
	"time"

	gomail "github.com/wneessen/go-mail"

	"github.com/faultline-dev/faultline"
)

// TLS modes of Config.TLS.
const (
	TLSStartTLS      = "starttls"      // STARTTLS required (the default; port 587)
	TLSImplicit      = "tls"           // TLS from the first byte (port 465)
	TLSOpportunistic = "opportunistic" // STARTTLS when offered, else plain
	TLSNone          = "none"          // plain text: only for a relay on the same machine
)

// Config says how to reach the SMTP server.
type Config struct {
	Host     string // SMTP server; empty turns email off
	Port     int    // 0: 587, or 465 with TLSImplicit
	Username string // empty: no authentication
	Password string
	From     string // "Faultline <noreply@example.org>" or a bare address
	TLS      string // one of the TLS modes; "" means TLSStartTLS
	// TLSConfig overrides the TLS settings (tests trust their own CA here).
	TLSConfig *tls.Config
	// Timeout bounds one delivery: connect, talk, send (default 30s).
	Timeout time.Duration
}

// Validate checks c and fills the defaults. It returns EINVALID naming what
// to fix.
func (c *Config) Validate() error {
	if c.Host == "" {
		return faultline.Errorf(faultline.EINVALID, "mail: the SMTP host is required")
	}
	switch c.TLS {
	case "":
		c.TLS = TLSStartTLS
	case TLSStartTLS, TLSImplicit, TLSOpportunistic, TLSNone:
	default:
		return faultline.Errorf(faultline.EINVALID, "mail: TLS mode must be starttls, tls, opportunistic or none, got %q", c.TLS)
	}
	if c.Port == 0 {
		c.Port = 587
		if c.TLS == TLSImplicit {
			c.Port = 465
		}
	}
	if c.Port < 1 || c.Port > 65535 {
		return faultline.Errorf(faultline.EINVALID, "mail: port must be between 1 and 65535, got %d", c.Port)
	}
	if c.From == "" {
		return faultline.Errorf(faultline.EINVALID, "mail: a From address is required")
	}
	if _, err := mail.ParseAddress(c.From); err != nil {
		return faultline.Errorf(faultline.EINVALID, "mail: From %q is not an email address: %v", c.From, err)
	}
	if c.Password != "" && c.Username == "" {
		return faultline.Errorf(faultline.EINVALID, "mail: a password without a user name")
	}
	if c.Timeout <= 0 {
		c.Timeout = 30 * time.Second
	}
	return nil
}

// Transport delivers one rendered message. Sender is the SMTP one.
type Transport interface {
	// Send delivers m. An error wrapping ErrPermanent means the server
	// refused the message for good (retrying cannot help); any other error
	// is worth another attempt later.
	Send(ctx context.Context, m *faultline.MailMessage) error
}

// ErrPermanent marks a delivery error the server said was final (a 5xx reply).
var ErrPermanent = errors.New("permanent delivery failure")

// Sender delivers messages to one SMTP server, one connection per message.
type Sender struct {
	cfg    Config
	from   *mail.Address
	domain string // for Message-IDs
}

// NewSender returns a Sender for cfg, which it validates (EINVALID).
func NewSender(cfg Config) (*Sender, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	from, _ := mail.ParseAddress(cfg.From) // checked by Validate
	domain := from.Address[strings.LastIndexByte(from.Address, '@')+1:]
	return &Sender{cfg: cfg, from: from, domain: domain}, nil
}

// MessageID is the Message-ID of outbox message m (without angle brackets):
// the same for every attempt, so a receiver can tell a repeat.
func (s *Sender) MessageID(m *faultline.MailMessage) string {
	return fmt.Sprintf("faultline.%d.%d@%s", m.ID, m.CreatedAt.UnixNano(), s.domain)
}

// Build returns the MIME message for m: From, To, Subject, Date, a fixed
// Message-ID, Auto-Submitted, and a multipart/alternative body of the plain
// text and the HTML part.
func (s *Sender) Build(m *faultline.MailMessage) (*gomail.Msg, error) {
	msg := gomail.NewMsg()
	msg.FromMailAddress(s.from)
	to, err := mail.ParseAddress(m.To)
	if err != nil || to.Name != "" {
		return nil, fmt.Errorf("mail %d: %w: recipient is not a bare email address", m.ID, ErrPermanent)
	}
	msg.ToMailAddress(&mail.Address{Name: m.ToName, Address: to.Address})
	msg.Subject(m.Subject)
	msg.SetDate()
	msg.SetMessageIDWithValue(s.MessageID(m))
	// RFC 3834: an automatic message; well-behaved responders stay quiet.
	msg.SetGenHeader("Auto-Submitted", "auto-generated")
	msg.SetGenHeader("X-Faultline-Kind", string(m.Kind))
	switch {
	case m.Text != "" && m.HTML != "":
		msg.SetBodyString(gomail.TypeTextPlain, m.Text)
		msg.AddAlternativeString(gomail.TypeTextHTML, m.HTML)
	case m.HTML != "":
		msg.SetBodyString(gomail.TypeTextHTML, m.HTML)
	default:
		msg.SetBodyString(gomail.TypeTextPlain, m.Text)
	}
	return msg, nil
}

// client returns a go-mail client for the configured server.
func (s *Sender) client() (*gomail.Client, error) {
	opts := []gomail.Option{
		gomail.WithPort(s.cfg.Port),
		gomail.WithTimeout(s.cfg.Timeout),
	}
	switch s.cfg.TLS {
	case TLSStartTLS:
		opts = append(opts, gomail.WithTLSPolicy(gomail.TLSMandatory))
	case TLSOpportunistic:
		opts = append(opts, gomail.WithTLSPolicy(gomail.TLSOpportunistic))
	case TLSImplicit:
		opts = append(opts, gomail.WithSSL())
	case TLSNone:
		opts = append(opts, gomail.WithTLSPolicy(gomail.NoTLS))
	}
	if s.cfg.Username != "" {
		// PLAIN and LOGIN are refused by go-mail without TLS, except to
		// localhost; AutoDiscover picks the strongest the server offers.
		opts = append(opts, gomail.WithSMTPAuth(gomail.SMTPAuthAutoDiscover),
			gomail.WithUsername(s.cfg.Username), gomail.WithPassword(s.cfg.Password))
	}
	c, err := gomail.NewClient(s.cfg.Host, opts...)
	if err != nil {
		return nil, fmt.Errorf("smtp client for %s: %w", s.cfg.Host, err)
	}
	tc := s.cfg.TLSConfig
	if tc == nil {
		tc = &tls.Config{ServerName: s.cfg.Host, MinVersion: tls.VersionTLS12}
	}
	if err := c.SetTLSConfig(tc); err != nil {
		return nil, fmt.Errorf("smtp tls config: %w", err)
	}
	return c, nil
}

// Send delivers m over a fresh connection. A 5xx reply wraps ErrPermanent.
func (s *Sender) Send(ctx context.Context, m *faultline.MailMessage) error {
	msg, err := s.Build(m)
	if err != nil {
		return err
	}
	c, err := s.client()
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, s.cfg.Timeout)
	defer cancel()
	if err := c.DialAndSendWithContext(ctx, msg); err != nil {
		return classify(err)
	}
	return nil
}

// classify marks a final refusal (an SMTP 5xx reply) as ErrPermanent;
// network trouble and 4xx replies stay temporary.
func classify(err error) error {
	var se *gomail.SendError
	if errors.As(err, &se) {
		if code := se.ErrorCode(); code >= 500 && code < 600 {
			return fmt.Errorf("smtp: %w: %w", ErrPermanent, err)
		}
		return fmt.Errorf("smtp: %w", err)
	}
	var ne net.Error
	if errors.As(err, &ne) {
		return fmt.Errorf("smtp connection: %w", err)
	}
	return fmt.Errorf("smtp: %w", err)
}
