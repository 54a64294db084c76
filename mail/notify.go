package mail

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"net/mail"
	"strconv"
	"strings"
	"text/template"
	"time"
	"unicode/utf8"

	"github.com/a-h/templ"

	"github.com/faultline-dev/faultline"
)

// Site names the portal in every message.
type Site struct {
	Name    string // "Faultline"
	BaseURL string // "https://faultline.example.org", no trailing slash
}

// Notifier renders notices and stores them in the outbox. It implements
// faultline.Notifier.
type Notifier struct {
	box  faultline.Outbox
	site Site
	log  *slog.Logger
	// Kick, if set, is called after a message is stored (Queue.Kick), so it
	// goes out without waiting for the next poll.
	Kick func()
	// Location is the time zone expiry times are written in (default UTC).
	Location *time.Location
}

var _ faultline.Notifier = (*Notifier)(nil)

// NewNotifier returns a Notifier that queues into box.
func NewNotifier(box faultline.Outbox, site Site, log *slog.Logger) *Notifier {
	if site.Name == "" {
		site.Name = "Faultline"
	}
	site.BaseURL = strings.TrimRight(site.BaseURL, "/")
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Notifier{box: box, site: site, log: log, Location: time.UTC}
}

// Notify renders n and stores it in the outbox. It returns EINVALID for a
// recipient without a valid address, a link that is not http(s), or a kind
// of notice it does not know, and the outbox's errors.
func (n *Notifier) Notify(ctx context.Context, notice faultline.Notice) error {
	m, err := n.Render(notice)
	if err != nil {
		return err
	}
	if err := n.box.EnqueueMail(ctx, m); err != nil {
		return fmt.Errorf("queue %s mail for user %d: %w", m.Kind, m.UserID, err)
	}
	// Never the address, the subject or the body: a reset link is a secret.
	n.log.InfoContext(ctx, "mail queued", "kind", m.Kind, "mail", m.ID, "user", m.UserID)
	if n.Kick != nil {
		n.Kick()
	}
	return nil
}

// Render turns a notice into an outbox message: subject, plain text and HTML.
func (n *Notifier) Render(notice faultline.Notice) (*faultline.MailMessage, error) {
	to := notice.NoticeTo()
	addr, err := mail.ParseAddress(to.Email)
	if err != nil || addr.Name != "" || addr.Address != strings.TrimSpace(to.Email) {
		return nil, faultline.Errorf(faultline.EINVALID, "Cannot email %q: not an email address.", to.Email)
	}
	name := oneLine(to.Name)
	if name == "" {
		name = addr.Address
	}
	m := &faultline.MailMessage{Kind: notice.NoticeKind(), UserID: to.UserID, To: addr.Address, ToName: oneLine(to.Name)}
	var html templ.Component
	var text *template.Template
	var data any
	switch v := notice.(type) {
	case faultline.PasswordResetNotice:
		if err := checkLink(v.Link); err != nil {
			return nil, err
		}
		d := resetModel{Name: name, Email: addr.Address, Link: v.Link, Expires: v.Expires.In(n.loc()).Format("15:04 MST on Monday 2 January")}
		m.Subject = "Reset your " + n.site.Name + " password"
		m.Sensitive = true
		html, text, data = resetHTML(n.site, d), resetText, d
	case faultline.GradeNotice:
		if err := checkLink(v.URL); err != nil {
			return nil, err
		}
		d := gradeModel{Name: name, LabTitle: oneLine(v.LabTitle), Score: v.Score, MaxScore: v.MaxScore, Previous: v.Previous, URL: v.URL}
		if d.LabTitle == "" {
			d.LabTitle = v.Lab
		}
		m.Subject = fmt.Sprintf("Your grade for %s: %d/%d", d.LabTitle, v.Score, v.MaxScore)
		html, text, data = gradeHTML(n.site, d), gradeText, d
	case faultline.DiscussionNotice:
		if err := checkLink(v.URL); err != nil {
			return nil, err
		}
		d := discussionModel{Name: name, Cohort: oneLine(v.Cohort), Thread: oneLine(v.Thread), Author: oneLine(v.Author),
			Excerpt: excerpt(v.Excerpt, 600), URL: v.URL}
		if d.Author == "" {
			d.Author = "Someone"
		}
		if v.Reply {
			d.Heading = "New reply in " + d.Thread
		} else {
			d.Heading = "New thread: " + d.Thread
		}
		m.Subject = d.Heading
		html, text, data = discussionHTML(n.site, d), discussionText, d
	default:
		return nil, faultline.Errorf(faultline.EINVALID, "No email is written for notices of kind %q.", notice.NoticeKind())
	}
	m.Subject = oneLine(m.Subject)
	var hb, tb bytes.Buffer
	if err := html.Render(context.Background(), &hb); err != nil {
		return nil, fmt.Errorf("render %s mail html: %w", m.Kind, err)
	}
	if err := text.Execute(&tb, struct {
		Site Site
		M    any
	}{n.site, data}); err != nil {
		return nil, fmt.Errorf("render %s mail text: %w", m.Kind, err)
	}
	m.HTML, m.Text = hb.String(), tb.String()
	return m, nil
}

func (n *Notifier) loc() *time.Location {
	if n.Location == nil {
		return time.UTC
	}
	return n.Location
}

// checkLink accepts only absolute http(s) links without spaces.
func checkLink(s string) error {
	if !(strings.HasPrefix(s, "https://") || strings.HasPrefix(s, "http://")) || strings.ContainsAny(s, " \t\r\n<>\"") {
		return faultline.Errorf(faultline.EINVALID, "An email link must be an absolute http(s) address.")
	}
	return nil
}

// oneLine folds every control character and run of space into one space,
// so nothing a user typed can add a header or break a subject.
func oneLine(s string) string {
	return strings.Join(strings.FieldsFunc(s, func(r rune) bool { return r < ' ' || r == 0x7f || r == ' ' }), " ")
}

// excerpt keeps at most n runes of s, cut at a word where it can be.
func excerpt(s string, n int) string {
	s = strings.TrimSpace(strings.ReplaceAll(s, "\r\n", "\n"))
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	r := []rune(s)[:n]
	cut := string(r)
	if i := strings.LastIndexAny(cut, " \n"); i > n/2 {
		cut = cut[:i]
	}
	return strings.TrimSpace(cut) + " …"
}

func itoa(n int) string { return strconv.Itoa(n) }

type resetModel struct {
	Name, Email, Link, Expires string
}

type gradeModel struct {
	Name, LabTitle  string
	Score, MaxScore int
	Previous        int
	URL             string
}

type discussionModel struct {
	Name, Cohort, Thread, Author, Excerpt, URL, Heading string
}

var (
	resetText = template.Must(template.New("reset").Parse(`Hello {{.M.Name}},

Someone, probably you, asked to reset the password of your {{.Site.Name}}
account ({{.M.Email}}). Open this link to choose a new one; it works once,
until {{.M.Expires}}:

{{.M.Link}}

If you did not ask for this, ignore this message: your password stays as
it is.
{{template "footer" .}}`))

	gradeText = template.Must(template.New("grade").Parse(`Hello {{.M.Name}},

{{if ge .M.Previous 0}}Your submission to {{.M.LabTitle}} was graded again: its score
went from {{.M.Previous}} to {{.M.Score}}/{{.M.MaxScore}}.{{else}}Your submission to {{.M.LabTitle}} was graded: {{.M.Score}}/{{.M.MaxScore}}.{{end}}

See the result: {{.M.URL}}
{{template "footer" .}}`))

	discussionText = template.Must(template.New("discussion").Parse(`Hello {{.M.Name}},

{{.M.Author}} wrote in "{{.M.Thread}}" ({{.M.Cohort}}):

{{.M.Excerpt}}

Open the discussion: {{.M.URL}}
{{template "footer" .}}`))
)

const footerText = `{{define "footer"}}
-- 
This message was sent by {{.Site.Name}} at {{.Site.BaseURL}}.
It was written by a machine; replies are not read.
{{end}}`

func init() {
	for _, t := range []*template.Template{resetText, gradeText, discussionText} {
		template.Must(t.Parse(footerText))
	}
}
