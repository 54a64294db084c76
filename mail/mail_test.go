package mail_test

import (
	"bytes"
	"context"
	"log/slog"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/PuerkitoBio/goquery"

	"github.com/faultline-dev/faultline"
	"github.com/faultline-dev/faultline/mail"
	"github.com/faultline-dev/faultline/mail/smtptest"
	"github.com/faultline-dev/faultline/store"
)

type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// MustStore opens a store on a file in dir with clk.
func MustStore(tb testing.TB, path string, clk *clock) *store.DB {
	tb.Helper()
	db, err := store.Open(path)
	if err != nil {
		tb.Fatal(err)
	}
	db.Now = clk.Now
	tb.Cleanup(func() { db.Close() })
	return db
}

func MustSender(tb testing.TB, srv *smtptest.Server, user, pass string) *mail.Sender {
	tb.Helper()
	cfg := mail.Config{Host: srv.Host, Port: srv.Port, Username: user, Password: pass,
		From: "Faultline <noreply@faultline.test>", TLS: mail.TLSStartTLS, TLSConfig: srv.TLSConfig, Timeout: 10 * time.Second}
	if srv.TLSConfig == nil {
		cfg.TLS = mail.TLSNone
	}
	s, err := mail.NewSender(cfg)
	if err != nil {
		tb.Fatal(err)
	}
	return s
}

var site = mail.Site{Name: "Faultline", BaseURL: "https://faultline.test"}

// TestNoticesOverSMTP renders each kind of notice, queues it in a real
// SQLite outbox and delivers it over STARTTLS with AUTH PLAIN to an SMTP
// server on loopback, then checks every message: envelope, headers, both
// parts, the link in each, escaping of what users typed, and that the
// reset link does not stay in the outbox once sent.
func TestNoticesOverSMTP(t *testing.T) {
	ctx := context.Background()
	clk := &clock{t: time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)}
	db := MustStore(t, filepath.Join(t.TempDir(), "f.db"), clk)
	srv := smtptest.Start(t, smtptest.Options{STARTTLS: true, Username: "portal", Password: "s3cret-smtp"})
	var logs bytes.Buffer
	log := slog.New(slog.NewTextHandler(&logs, nil))
	n := mail.NewNotifier(db, site, log)
	q := mail.NewQueue(db, MustSender(t, srv, "portal", "s3cret-smtp"), mail.QueueOptions{Now: clk.Now, Logger: log})

	u := &faultline.User{Email: "lin@example.com", Name: "Lin <b>Learner</b>", Role: faultline.RoleLearner, PasswordHash: "x"}
	if err := db.CreateUser(ctx, u); err != nil {
		t.Fatal(err)
	}
	to := faultline.Recipient{UserID: u.ID, Email: u.Email, Name: u.Name}
	resetLink := "https://faultline.test/reset?token=TOKEN-abc_123"
	notices := []faultline.Notice{
		faultline.PasswordResetNotice{To: to, Link: resetLink, Expires: clk.Now().Add(time.Hour)},
		faultline.GradeNotice{To: to, Lab: "circuit-breaker", LabTitle: "Circuit breaker", Score: 8, MaxScore: 10, Previous: 6,
			URL: "https://faultline.test/submissions/7"},
		faultline.DiscussionNotice{To: to, Cohort: "Spring", Thread: "Half-open\r\nBcc: x@evil.test", Author: "Anonymous",
			Excerpt: "Why does <script>alert(1)</script> the breaker stay open?", URL: "https://faultline.test/discussions/3", Reply: true},
	}
	for _, nt := range notices {
		if err := n.Notify(ctx, nt); err != nil {
			t.Fatalf("notify %s: %v", nt.NoticeKind(), err)
		}
	}
	if st, err := db.MailStats(ctx); err != nil || st.Pending != 3 {
		t.Fatalf("stats after queueing: %+v, %v; want 3 pending", st, err)
	}
	sent, err := q.Drain(ctx)
	if err != nil || sent != 3 {
		t.Fatalf("drain: sent %d, %v; want 3", sent, err)
	}
	msgs := srv.Wait(t, 3, 10*time.Second)

	type want struct {
		subject, link, text, kind string
	}
	wants := []want{
		{"Reset your Faultline password", resetLink, "works once", "password_reset"},
		{"Your grade for Circuit breaker: 8/10", "https://faultline.test/submissions/7", "went from 6 to 8/10", "grade_released"},
		{"New reply in Half-open Bcc: x@evil.test", "https://faultline.test/discussions/3", "Anonymous wrote in", "discussion"},
	}
	msgID := regexp.MustCompile(`^<faultline\.\d+\.\d+@faultline\.test>$`)
	for i, m := range msgs {
		w := wants[i]
		if m.ParseErr != nil {
			t.Fatalf("message %d does not parse: %v\n%s", i, m.ParseErr, m.Raw)
		}
		if m.From != "noreply@faultline.test" || len(m.To) != 1 || m.To[0] != "lin@example.com" {
			t.Errorf("message %d envelope: from %q to %v", i, m.From, m.To)
		}
		if !m.TLS || m.AuthUser != "portal" {
			t.Errorf("message %d: TLS %v, authenticated as %q; want STARTTLS and portal", i, m.TLS, m.AuthUser)
		}
		h := m.Header
		if m.Subject != w.subject {
			t.Errorf("message %d subject %q, want %q", i, m.Subject, w.subject)
		}
		if got := h.Get("From"); !strings.Contains(got, "noreply@faultline.test") || !strings.Contains(got, "Faultline") {
			t.Errorf("message %d From %q", i, got)
		}
		if got := h.Get("To"); !strings.Contains(got, "<lin@example.com>") {
			t.Errorf("message %d To %q", i, got)
		}
		if h.Get("Bcc") != "" || len(h["Bcc"]) > 0 {
			t.Errorf("message %d has a Bcc header smuggled in through the thread title", i)
		}
		if !msgID.MatchString(h.Get("Message-Id")) {
			t.Errorf("message %d Message-ID %q", i, h.Get("Message-Id"))
		}
		if d, err := h.Date(); err != nil || d.IsZero() {
			t.Errorf("message %d Date %q: %v", i, h.Get("Date"), err)
		}
		if h.Get("Auto-Submitted") != "auto-generated" || h.Get("X-Faultline-Kind") != w.kind {
			t.Errorf("message %d Auto-Submitted %q kind %q", i, h.Get("Auto-Submitted"), h.Get("X-Faultline-Kind"))
		}
		if m.ContentType != "multipart/alternative" {
			t.Errorf("message %d is %s, want multipart/alternative", i, m.ContentType)
		}
		text, html := m.Parts["text/plain"], m.Parts["text/html"]
		if !strings.Contains(text, w.link) || !strings.Contains(text, w.text) {
			t.Errorf("message %d text part lacks %q or %q:\n%s", i, w.link, w.text, text)
		}
		doc, err := goquery.NewDocumentFromReader(strings.NewReader(html))
		if err != nil {
			t.Fatal(err)
		}
		if href, _ := doc.Find(`[data-testid="action"]`).Attr("href"); href != w.link {
			t.Errorf("message %d HTML button links to %q, want %q", i, href, w.link)
		}
		if strings.Contains(html, "<b>Learner</b>") || strings.Contains(html, "<script>") {
			t.Errorf("message %d HTML carries user text unescaped:\n%s", i, html)
		}
		if !strings.Contains(doc.Text(), "Lin <b>Learner</b>") {
			t.Errorf("message %d HTML does not greet the learner by the name they typed", i)
		}
	}
	// The reset link leaves the outbox once sent; other bodies stay.
	for id := int64(1); id <= 3; id++ {
		mm, err := db.FindMail(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		if mm.State != faultline.MailSent || mm.SentAt.IsZero() {
			t.Errorf("mail %d state %s sent %v", id, mm.State, mm.SentAt)
		}
		blank := mm.Text == "" && mm.HTML == ""
		if blank != (mm.Kind == faultline.NoticePasswordReset) {
			t.Errorf("mail %d (%s): body blank %v after sending", id, mm.Kind, blank)
		}
	}
	if strings.Contains(logs.String(), "TOKEN-abc_123") || strings.Contains(logs.String(), "s3cret-smtp") {
		t.Errorf("the logs carry the reset link or the SMTP password:\n%s", logs.String())
	}
	if st, err := db.MailStats(ctx); err != nil || st.Pending != 0 || st.Failed != 0 {
		t.Fatalf("stats after sending: %+v, %v", st, err)
	}
}

// TestSMTPWithoutAuthIsRefused: a server that requires AUTH refuses a
// sender without credentials, and the message waits for a retry.
func TestSMTPWithoutAuthIsRefused(t *testing.T) {
	ctx := context.Background()
	clk := &clock{t: time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)}
	db := MustStore(t, filepath.Join(t.TempDir(), "f.db"), clk)
	srv := smtptest.Start(t, smtptest.Options{STARTTLS: true, Username: "portal", Password: "pw"})
	q := mail.NewQueue(db, MustSender(t, srv, "", ""), mail.QueueOptions{Now: clk.Now})
	MustEnqueue(t, db, "a@example.com")
	if sent, err := q.Drain(ctx); err != nil || sent != 0 {
		t.Fatalf("drain: %d, %v", sent, err)
	}
	m, _ := db.FindMail(ctx, 1)
	if m.State != faultline.MailFailed || !strings.Contains(m.LastError, "authenticate") {
		t.Fatalf("mail after an AUTH refusal: %s %q; want failed with the server's demand to authenticate", m.State, m.LastError)
	}
	if len(srv.Messages()) != 0 {
		t.Fatal("the server accepted mail without AUTH")
	}
}

func MustEnqueue(tb testing.TB, db *store.DB, to string) *faultline.MailMessage {
	tb.Helper()
	m := &faultline.MailMessage{Kind: faultline.NoticeGradeReleased, To: to, Subject: "Subject for " + to, Text: "Hello " + to, HTML: "<p>Hello</p>"}
	if err := db.EnqueueMail(context.Background(), m); err != nil {
		tb.Fatal(err)
	}
	return m
}

// TestQueueRetriesWithBackoff: temporary refusals (451) are retried after
// 30 s, then 60 s; a final refusal (550) is given up at once and kept with
// the server's reply; running out of attempts gives up too.
func TestQueueRetriesWithBackoff(t *testing.T) {
	ctx := context.Background()
	clk := &clock{t: time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)}
	db := MustStore(t, filepath.Join(t.TempDir(), "f.db"), clk)
	srv := smtptest.Start(t, smtptest.Options{})
	q := mail.NewQueue(db, MustSender(t, srv, "", ""), mail.QueueOptions{Now: clk.Now, MaxAttempts: 4})

	m := MustEnqueue(t, db, "a@example.com")
	srv.FailNext(451, 451)
	start := clk.Now()
	if sent, err := q.Drain(ctx); err != nil || sent != 0 {
		t.Fatalf("first drain: %d, %v", sent, err)
	}
	got, _ := db.FindMail(ctx, m.ID)
	if got.State != faultline.MailPending || got.Attempts != 1 || !got.NextAttemptAt.Equal(start.Add(30*time.Second)) || !strings.Contains(got.LastError, "451") {
		t.Fatalf("after one 451: %s attempts %d next %v err %q", got.State, got.Attempts, got.NextAttemptAt.Sub(start), got.LastError)
	}
	clk.Add(29 * time.Second)
	if sent, _ := q.Drain(ctx); sent != 0 || srv.Transactions() != 1 {
		t.Fatalf("retried before the backoff ran out (%d transactions)", srv.Transactions())
	}
	clk.Add(time.Second)
	q.Drain(ctx)
	got, _ = db.FindMail(ctx, m.ID)
	if got.Attempts != 2 || !got.NextAttemptAt.Equal(clk.Now().Add(60*time.Second)) {
		t.Fatalf("after two 451s: attempts %d, next in %v; want 2 and 60s", got.Attempts, got.NextAttemptAt.Sub(clk.Now()))
	}
	clk.Add(time.Minute)
	if sent, err := q.Drain(ctx); err != nil || sent != 1 {
		t.Fatalf("third attempt: sent %d, %v", sent, err)
	}
	if ms := srv.Messages(); len(ms) != 1 || ms[0].Subject != "Subject for a@example.com" {
		t.Fatalf("server got %d messages", len(ms))
	}

	final := MustEnqueue(t, db, "b@example.com")
	srv.FailNext(550)
	q.Drain(ctx)
	got, _ = db.FindMail(ctx, final.ID)
	if got.State != faultline.MailFailed || got.Attempts != 1 || !strings.Contains(got.LastError, "550") || got.Text == "" {
		t.Fatalf("after a 550: %s attempts %d err %q text kept %v; want failed at once, kept", got.State, got.Attempts, got.LastError, got.Text != "")
	}

	tired := MustEnqueue(t, db, "c@example.com")
	for i := 0; i < 4; i++ {
		srv.FailNext(421)
		q.Drain(ctx)
		clk.Add(time.Hour)
	}
	got, _ = db.FindMail(ctx, tired.ID)
	if got.State != faultline.MailFailed || got.Attempts != 4 {
		t.Fatalf("after 4 temporary failures with MaxAttempts 4: %s attempts %d", got.State, got.Attempts)
	}
	if st, _ := db.MailStats(ctx); st.Failed != 2 || st.Pending != 0 {
		t.Fatalf("stats %+v; want 2 failed, 0 pending", st)
	}
}

// TestQueueSurvivesRestarts: mail queued while the SMTP server is down and
// the portal restarts (the database closed and opened again) is delivered
// once the server is up, each message exactly once; a message a worker
// claimed and then died with is taken again once its lease runs out.
func TestQueueSurvivesRestarts(t *testing.T) {
	ctx := context.Background()
	clk := &clock{t: time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)}
	path := filepath.Join(t.TempDir(), "f.db")
	db := MustStore(t, path, clk)
	down := smtptest.Start(t, smtptest.Options{})
	down.Close()
	q := mail.NewQueue(db, MustSender(t, down, "", ""), mail.QueueOptions{Now: clk.Now})
	for _, to := range []string{"a@example.com", "b@example.com", "c@example.com"} {
		MustEnqueue(t, db, to)
	}
	if sent, err := q.Drain(ctx); err != nil || sent != 0 {
		t.Fatalf("drain with the server down: %d, %v", sent, err)
	}
	// A worker claims one more and dies before it can say how it went.
	dead := MustEnqueue(t, db, "d@example.com")
	if _, err := db.ClaimMail(ctx, "dead-worker", 2*time.Minute); err != nil {
		t.Fatal(err)
	}
	db.Close()

	db = MustStore(t, path, clk)
	up := smtptest.Start(t, smtptest.Options{})
	q = mail.NewQueue(db, MustSender(t, up, "", ""), mail.QueueOptions{Now: clk.Now})
	clk.Add(time.Minute) // past the first backoff, not past the dead worker's lease
	if sent, err := q.Drain(ctx); err != nil || sent != 3 {
		t.Fatalf("after restart: sent %d, %v; want 3", sent, err)
	}
	if m, _ := db.FindMail(ctx, dead.ID); m.State != faultline.MailSending {
		t.Fatalf("the dead worker's mail is %s before its lease ran out", m.State)
	}
	clk.Add(2 * time.Minute)
	if sent, err := q.Drain(ctx); err != nil || sent != 1 {
		t.Fatalf("after the lease ran out: sent %d, %v; want 1", sent, err)
	}
	seen := map[string]int{}
	for _, m := range up.Messages() {
		seen[m.To[0]]++
	}
	for _, to := range []string{"a@example.com", "b@example.com", "c@example.com", "d@example.com"} {
		if seen[to] != 1 {
			t.Errorf("%s got %d messages, want 1", to, seen[to])
		}
	}
	// The dead worker cannot record an outcome over the live one.
	if err := db.MarkMailSent(ctx, dead.ID, "dead-worker"); faultline.ErrorCode(err) != faultline.ECONFLICT {
		t.Fatalf("dead worker marking sent: %v, want ECONFLICT", err)
	}
}

// TestRunDeliversOnKick: the running queue sends a message as soon as the
// notifier kicks it, without waiting for its poll.
func TestRunDeliversOnKick(t *testing.T) {
	clk := &clock{t: time.Now()}
	db := MustStore(t, filepath.Join(t.TempDir(), "f.db"), clk)
	srv := smtptest.Start(t, smtptest.Options{})
	q := mail.NewQueue(db, MustSender(t, srv, "", ""), mail.QueueOptions{Poll: time.Hour})
	n := mail.NewNotifier(db, site, nil)
	n.Kick = q.Kick
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- q.Run(ctx) }()
	err := n.Notify(ctx, faultline.GradeNotice{To: faultline.Recipient{Email: "x@example.com"}, LabTitle: "Saga", Score: 1, MaxScore: 2, Previous: -1, URL: "https://faultline.test/submissions/1"})
	if err != nil {
		t.Fatal(err)
	}
	ms := srv.Wait(t, 1, 30*time.Second)
	if !strings.Contains(ms[0].Parts["text/plain"], "was graded: 1/2") {
		t.Fatalf("text part:\n%s", ms[0].Parts["text/plain"])
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

func TestRenderRefusesBadInput(t *testing.T) {
	n := mail.NewNotifier(nil, site, nil)
	to := faultline.Recipient{Email: "a@example.com"}
	for name, nt := range map[string]faultline.Notice{
		"no address":       faultline.GradeNotice{To: faultline.Recipient{Email: "not an address"}, URL: "https://x.test/"},
		"address and name": faultline.GradeNotice{To: faultline.Recipient{Email: "Eve <e@example.com>"}, URL: "https://x.test/"},
		"javascript link":  faultline.PasswordResetNotice{To: to, Link: "javascript:alert(1)"},
		"relative link":    faultline.DiscussionNotice{To: to, URL: "/discussions/1"},
		"unknown kind":     otherNotice{to},
	} {
		if _, err := n.Render(nt); faultline.ErrorCode(err) != faultline.EINVALID {
			t.Errorf("%s: %v, want EINVALID", name, err)
		}
	}
}

type otherNotice struct{ to faultline.Recipient }

func (o otherNotice) NoticeKind() faultline.NoticeKind { return "other" }
func (o otherNotice) NoticeTo() faultline.Recipient    { return o.to }

func TestConfigValidate(t *testing.T) {
	good := mail.Config{Host: "smtp.example.org", From: "Faultline <noreply@example.org>"}
	if err := good.Validate(); err != nil || good.Port != 587 || good.TLS != mail.TLSStartTLS || good.Timeout == 0 {
		t.Fatalf("defaults: %+v, %v", good, err)
	}
	implicit := mail.Config{Host: "smtp.example.org", From: "a@example.org", TLS: "tls"}
	if err := implicit.Validate(); err != nil || implicit.Port != 465 {
		t.Fatalf("implicit TLS: port %d, %v", implicit.Port, err)
	}
	for name, c := range map[string]mail.Config{
		"no host":       {From: "a@example.org"},
		"no from":       {Host: "h"},
		"bad from":      {Host: "h", From: "not an address"},
		"bad tls":       {Host: "h", From: "a@example.org", TLS: "ssl3"},
		"bad port":      {Host: "h", From: "a@example.org", Port: 70000},
		"password only": {Host: "h", From: "a@example.org", Password: "x"},
	} {
		if err := c.Validate(); faultline.ErrorCode(err) != faultline.EINVALID {
			t.Errorf("%s: %v, want EINVALID", name, err)
		}
	}
}
