package recovery_test

import (
	"context"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/faultline-dev/faultline"
	"github.com/faultline-dev/faultline/mail"
	"github.com/faultline-dev/faultline/recovery"
	"github.com/faultline-dev/faultline/store"
)

type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// TestRecovery: a request queues one email with a link only for an
// existing account; the link works until it is used or an hour passes;
// the limits per address and per client hold.
func TestRecovery(t *testing.T) {
	ctx := context.Background()
	clk := &clock{t: time.Date(2026, 4, 1, 9, 0, 0, 0, time.UTC)}
	db, err := store.Open(filepath.Join(t.TempDir(), "f.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	db.Now = clk.Now
	u := &faultline.User{Email: "lin@example.com", Name: "Lin", Role: faultline.RoleLearner, PasswordHash: "x"}
	if err := db.CreateUser(ctx, u); err != nil {
		t.Fatal(err)
	}
	r := &recovery.Service{Users: db, Resets: db, Notifier: mail.NewNotifier(db, mail.Site{BaseURL: "https://f.test"}, nil),
		BaseURL: "https://f.test", BcryptCost: bcrypt.MinCost, Now: clk.Now}
	if !r.Enabled() || (&recovery.Service{}).Enabled() {
		t.Fatal("Enabled does not follow the notifier")
	}
	if err := r.Request(ctx, "nobody@example.com", "c1"); err != nil {
		t.Fatalf("unknown address: %v", err)
	}
	if err := r.Request(ctx, "not an address", "c1"); faultline.ErrorCode(err) != faultline.EINVALID {
		t.Fatalf("bad address: %v", err)
	}
	if err := r.Request(ctx, " LIN@example.com", "c1"); err != nil {
		t.Fatal(err)
	}
	m, err := db.ClaimMail(ctx, "t", time.Minute)
	if err != nil || m.To != "lin@example.com" || !m.Sensitive {
		t.Fatalf("queued mail: %+v %v", m, err)
	}
	if _, err := db.ClaimMail(ctx, "t", time.Minute); faultline.ErrorCode(err) != faultline.ENOTFOUND {
		t.Fatal("more than one mail was queued")
	}
	i := strings.Index(m.Text, "token=")
	token := strings.Fields(m.Text[i+6:])[0]
	if got, err := r.Check(ctx, token); err != nil || got.ID != u.ID {
		t.Fatalf("check: %v %v", got, err)
	}
	if _, err := r.Reset(ctx, token, "short", "short"); faultline.ErrorCode(err) != faultline.EINVALID {
		t.Fatalf("short password: %v", err)
	}
	got, err := r.Reset(ctx, token, "long enough pw", "long enough pw")
	if err != nil || bcrypt.CompareHashAndPassword([]byte(got.PasswordHash), []byte("long enough pw")) != nil {
		t.Fatalf("reset: %v", err)
	}
	if _, err := r.Reset(ctx, token, "another one 1", "another one 1"); faultline.ErrorCode(err) != faultline.ENOTFOUND {
		t.Fatalf("token used twice: %v", err)
	}
	// Two more are allowed this hour for the address (3 in all), then no more.
	r.Request(ctx, "lin@example.com", "c2")
	r.Request(ctx, "lin@example.com", "c3")
	if err := r.Request(ctx, "lin@example.com", "c4"); faultline.ErrorCode(err) != faultline.ETOOMANY {
		t.Fatalf("fourth request for one address in an hour: %v", err)
	}
	clk.Add(time.Hour)
	if err := r.Request(ctx, "lin@example.com", "c3"); err != nil {
		t.Fatalf("an hour later: %v", err)
	}
	for i := 0; i < 10; i++ {
		r.Request(ctx, "x"+strings.Repeat("y", i)+"@example.com", "busy-client")
	}
	if err := r.Request(ctx, "z@example.com", "busy-client"); faultline.ErrorCode(err) != faultline.ETOOMANY {
		t.Fatalf("eleventh request from one client: %v", err)
	}
	// Links expire after an hour.
	clk.Add(2 * time.Minute)
	for {
		m, err := db.ClaimMail(ctx, "t", time.Minute)
		if err != nil {
			break
		}
		if strings.Contains(m.Text, "token=") {
			token = strings.Fields(m.Text[strings.Index(m.Text, "token=")+6:])[0]
		}
	}
	clk.Add(time.Hour)
	if _, err := r.Check(ctx, token); faultline.ErrorCode(err) != faultline.ENOTFOUND {
		t.Fatalf("a link older than an hour: %v", err)
	}
}
