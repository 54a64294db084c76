package main

import (
	"context"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/faultline-dev/faultline"
	"github.com/faultline-dev/faultline/mail"
	"github.com/faultline-dev/faultline/mail/smtptest"
)

// MustClient returns an HTTP client that keeps cookies and does not follow
// redirects, so each answer can be checked.
func MustClient(tb testing.TB) *http.Client {
	tb.Helper()
	jar, err := cookiejar.New(nil)
	if err != nil {
		tb.Fatal(err)
	}
	return &http.Client{Jar: jar, Timeout: 30 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}

func MustDo(tb testing.TB, c *http.Client, method, u string, form url.Values) (int, string) {
	tb.Helper()
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, err := http.NewRequest(method, u, body)
	if err != nil {
		tb.Fatal(err)
	}
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	res, err := c.Do(req)
	if err != nil {
		tb.Fatalf("%s %s: %v", method, u, err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res.StatusCode, string(b)
}

// TestPasswordResetOverSMTP runs the real portal with an SMTP server on
// loopback (STARTTLS and AUTH, the password read from a file): a reset
// request becomes an email with the link in both parts, the link sets a new
// password, and the old one stops working.
func TestPasswordResetOverSMTP(t *testing.T) {
	srv := smtptest.Start(t, smtptest.Options{STARTTLS: true, Username: "portal", Password: "smtp-pass"})
	pwFile := MustWriteFiles(t, []faultline.File{{Path: "smtp-password", Content: []byte("smtp-pass\n")}})
	m := MustServeWith(t, t.TempDir(), func(c *Config) {
		c.Inst.SMTP = mail.Config{Host: srv.Host, Port: srv.Port, Username: "portal", From: "Faultline <noreply@faultline.test>",
			TLS: mail.TLSStartTLS, TLSConfig: srv.TLSConfig}
		c.Inst.SMTPPasswordFile = pwFile + "/smtp-password"
	})
	hash, _ := bcrypt.GenerateFromPassword([]byte("old password 1"), bcrypt.MinCost)
	u := &faultline.User{Email: "lin@example.com", Name: "Lin Learner", Role: faultline.RoleLearner, PasswordHash: string(hash)}
	if err := m.DB.CreateUser(context.Background(), u); err != nil {
		t.Fatal(err)
	}
	base := m.Config.BaseURL
	c := MustClient(t)
	if code, body := MustDo(t, c, "POST", base+"/password/forgot", url.Values{"email": {"lin@example.com"}}); code != http.StatusOK || !strings.Contains(body, "reset-sent") {
		t.Fatalf("forgot: %d", code)
	}
	msgs := srv.Wait(t, 1, time.Minute)
	msg := msgs[0]
	if !msg.TLS || msg.AuthUser != "portal" || msg.To[0] != "lin@example.com" || msg.Subject != "Reset your Faultline password" {
		t.Fatalf("reset mail: TLS %v auth %q to %v subject %q", msg.TLS, msg.AuthUser, msg.To, msg.Subject)
	}
	link := regexp.MustCompile(regexp.QuoteMeta(base) + `/password/reset\?token=[A-Za-z0-9_-]+`).FindString(msg.Parts["text/plain"])
	if link == "" || !strings.Contains(msg.Parts["text/html"], link) {
		t.Fatalf("no reset link to %s in both parts:\n%s", base, msg.Raw)
	}
	if code, _ := MustDo(t, c, "GET", link, nil); code != http.StatusOK {
		t.Fatalf("reset form: %d", code)
	}
	token := link[strings.Index(link, "token=")+6:]
	if code, _ := MustDo(t, c, "POST", base+"/password/reset", url.Values{"token": {token}, "password": {"new password 2"}, "confirm": {"new password 2"}}); code != http.StatusSeeOther {
		t.Fatalf("reset: %d", code)
	}
	if code, _ := MustDo(t, MustClient(t), "POST", base+"/login", url.Values{"email": {"lin@example.com"}, "password": {"old password 1"}}); code != http.StatusUnauthorized {
		t.Fatalf("old password: %d", code)
	}
	if code, _ := MustDo(t, MustClient(t), "POST", base+"/login", url.Values{"email": {"lin@example.com"}, "password": {"new password 2"}}); code != http.StatusSeeOther {
		t.Fatalf("new password: %d", code)
	}
}
