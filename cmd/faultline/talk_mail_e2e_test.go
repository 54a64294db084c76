package main

import (
	"context"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/faultline-dev/faultline"
	"github.com/faultline-dev/faultline/mail"
	"github.com/faultline-dev/faultline/mail/smtptest"
)

// TestDiscussionNotificationsByEmail runs the real portal with an SMTP
// server on loopback: an anonymous answer to a learner's question and a
// staff announcement reach the learners' mailboxes (their settings ask for
// email about answers and announcements, not every reply), the answer from
// "Anonymous" and never by name; a learner who turns email off gets only
// the inbox entry.
func TestDiscussionNotificationsByEmail(t *testing.T) {
	srv := smtptest.Start(t, smtptest.Options{})
	m := MustServeWith(t, t.TempDir(), func(c *Config) {
		c.Inst.SMTP = mail.Config{Host: srv.Host, Port: srv.Port, From: "Faultline <noreply@faultline.test>", TLS: mail.TLSNone}
	})
	ctx := context.Background()
	hash, _ := bcrypt.GenerateFromPassword([]byte("talk password 1"), bcrypt.MinCost)
	user := func(name, email string, role faultline.Role) *faultline.User {
		u := &faultline.User{Email: email, Name: name, Role: role, PasswordHash: string(hash)}
		if err := m.DB.CreateUser(ctx, u); err != nil {
			t.Fatal(err)
		}
		return u
	}
	ines := user("Ines Instructor", "ines@example.com", faultline.RoleInstructor)
	ann := user("Annabel Quill", "ann@example.com", faultline.RoleLearner)
	bob := user("Bob Learner", "bob@example.com", faultline.RoleLearner)
	cara := user("Cara Quiet", "cara@example.com", faultline.RoleLearner)
	c := &faultline.Cohort{Name: "Spring", InviteCode: "spring-invite", CreatedBy: ines.ID}
	if err := m.DB.CreateCohort(ctx, c); err != nil {
		t.Fatal(err)
	}
	for _, u := range []*faultline.User{ann, bob, cara} {
		if err := m.DB.AddMember(ctx, c.ID, u.ID, faultline.MemberLearner); err != nil {
			t.Fatal(err)
		}
	}
	base := m.Config.BaseURL
	disc := base + "/discuss/" + strconv.FormatInt(c.ID, 10)
	login := func(u *faultline.User) *http.Client {
		cl := MustClient(t)
		if code, _ := MustDo(t, cl, "POST", base+"/login", url.Values{"email": {u.Email}, "password": {"talk password 1"}}); code != http.StatusSeeOther {
			t.Fatalf("sign in %s: %d", u.Name, code)
		}
		return cl
	}
	post := func(cl *http.Client, path string, form url.Values) string {
		t.Helper()
		req, _ := http.NewRequest("POST", path, strings.NewReader(form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		res, err := cl.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if res.StatusCode != http.StatusSeeOther {
			t.Fatalf("POST %s: %d", path, res.StatusCode)
		}
		return res.Header.Get("Location")
	}
	// Cara wants no email at all.
	post(login(cara), base+"/settings/notifications", url.Values{"inbox-announcement": {"1"}, "inbox-answer": {"1"}})

	loc := post(login(bob), disc+"/threads", url.Values{"place": {"cohort"}, "kind": {"question"}, "title": {"Where is the due date?"}, "body": {"I cannot find it."}})
	thread := base + strings.Split(loc, "?")[0]
	post(login(ann), thread+"/posts", url.Values{"body": {"On the lab page, under Submit."}, "anonymous": {"1"}})
	post(login(ines), disc+"/threads", url.Values{"place": {"cohort"}, "kind": {"announcement"}, "title": {"Office hours on Friday"}, "body": {"From 2 to 4."}})

	// Bob: the answer and the announcement; Annabel: the announcement.
	// Every notification was queued before its POST answered: once the
	// outbox is empty, every mail there is to send has been sent.
	srv.Wait(t, 3, time.Minute)
	for deadline := time.Now().Add(time.Minute); ; time.Sleep(50 * time.Millisecond) {
		st, err := m.DB.MailStats(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if st.Pending == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the outbox still holds %d mails", st.Pending)
		}
	}
	msgs := srv.Messages()
	byTo := map[string][]*smtptest.Message{}
	for _, msg := range msgs {
		byTo[msg.To[0]] = append(byTo[msg.To[0]], msg)
	}
	if len(byTo["bob@example.com"]) != 2 || len(byTo["ann@example.com"]) != 1 || len(byTo["cara@example.com"]) != 0 {
		for _, msg := range msgs {
			t.Logf("to %v: %s", msg.To, msg.Subject)
		}
		t.Fatalf("mail to Bob %d, Annabel %d, Cara %d; want 2, 1, 0", len(byTo["bob@example.com"]), len(byTo["ann@example.com"]), len(byTo["cara@example.com"]))
	}
	var answer *smtptest.Message
	for _, msg := range byTo["bob@example.com"] {
		if strings.Contains(msg.Subject, "Where is the due date?") {
			answer = msg
		}
	}
	if answer == nil {
		t.Fatalf("Bob has no mail about his question")
	}
	for _, part := range []string{answer.Parts["text/plain"], answer.Parts["text/html"]} {
		if !strings.Contains(part, faultline.Anonymous) || !strings.Contains(part, "On the lab page") || !strings.Contains(part, thread) {
			t.Errorf("the answer mail lacks the author, the text or the link:\n%s", part)
		}
	}
	if strings.Contains(string(answer.Raw), "Annabel") || strings.Contains(string(answer.Raw), "Quill") || strings.Contains(string(answer.Raw), "ann@example.com") {
		t.Errorf("the mail names the anonymous author:\n%s", answer.Raw)
	}
	if !strings.Contains(byTo["ann@example.com"][0].Subject, "Office hours on Friday") {
		t.Errorf("Annabel's mail: %q", byTo["ann@example.com"][0].Subject)
	}
	// Cara still has the announcement in her inbox.
	ns, err := m.DB.Notifications(ctx, cara.ID, 0, false)
	if err != nil || len(ns) != 1 || ns[0].Kind != faultline.NotifyAnnouncement {
		t.Errorf("Cara's inbox: %+v, %v", ns, err)
	}
}
