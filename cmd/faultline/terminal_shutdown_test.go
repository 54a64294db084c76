package main

import (
	"context"
	"errors"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
	"golang.org/x/crypto/bcrypt"

	"github.com/faultline-dev/faultline"
	"github.com/faultline-dev/faultline/sandbox"
)

// Shutting the portal down closes an open terminal with 1001 (going away)
// instead of leaving the hijacked socket and its shell behind.
func TestShutdownClosesTerminals(t *testing.T) {
	if testing.Short() {
		t.Skip("needs the container engine")
	}
	m := MustServeWith(t, t.TempDir(), func(c *Config) { c.PoolSize = 0 })
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute) // hang guard
	defer cancel()

	const email, password = "ada@example.com", "correct horse battery"
	hash, err := bcrypt.GenerateFromPassword([]byte(password), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	u := &faultline.User{Email: email, Name: "Ada Learner", Role: faultline.RoleLearner, PasswordHash: string(hash)}
	if err := m.DB.CreateUser(ctx, u); err != nil {
		t.Fatal(err)
	}
	jar, _ := cookiejar.New(nil)
	client := &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, m.URL+"/login",
		strings.NewReader(url.Values{"email": {email}, "password": {password}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Sec-Fetch-Site", "same-origin")
	res, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusSeeOther {
		t.Fatalf("login: status %d", res.StatusCode)
	}

	// The sandbox, started through a Manager on the portal's engine and
	// database, as the portal's own would.
	lab := m.Labs.All()[0]
	mgr := sandbox.NewManager(m.Engine, m.DB, sandbox.ManagerOptions{Warm: m.Labs.StdImports()})
	if _, err := mgr.Start(ctx, u.ID, lab, nil, nil); err != nil {
		t.Fatalf("Start: %v", err)
	}

	base, _ := url.Parse(m.URL)
	h := http.Header{"Origin": {m.URL}}
	for _, c := range jar.Cookies(base) {
		h.Add("Cookie", c.Name+"="+c.Value)
	}
	conn, _, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(m.URL, "http")+"/labs/"+lab.Slug+"/terminal", &websocket.DialOptions{HTTPHeader: h})
	if err != nil {
		t.Fatalf("dial terminal: %v", err)
	}
	defer conn.CloseNow()
	if err := conn.Write(ctx, websocket.MessageBinary, []byte("echo up-$((6*7))\n")); err != nil {
		t.Fatal(err)
	}
	var out strings.Builder
	for !strings.Contains(out.String(), "up-42") {
		_, data, err := conn.Read(ctx)
		if err != nil {
			t.Fatalf("terminal ended before the echo: %v\n%s", err, out.String())
		}
		out.Write(data)
	}

	closed := make(chan error, 1)
	go func() { closed <- m.Close() }()
	for {
		_, _, err := conn.Read(ctx)
		if err == nil {
			continue
		}
		var ce websocket.CloseError
		if !errors.As(err, &ce) || ce.Code != websocket.StatusGoingAway {
			t.Fatalf("at shutdown the terminal ended with %v, want close 1001", err)
		}
		break
	}
	if err := <-closed; err != nil {
		t.Errorf("Close: %v", err)
	}
}
