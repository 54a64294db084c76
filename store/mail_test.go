package store_test

import (
	"context"
	"testing"
	"time"

	"github.com/faultline-dev/faultline"
)

// TestPasswordReset: a token works once, before it expires, for its user
// only; using it sets the password, ends the user's sessions and voids the
// user's other tokens.
func TestPasswordReset(t *testing.T) {
	ctx := context.Background()
	db, clk := MustOpenDB(t)
	u := MustCreateUser(t, db, "lin@example.com", faultline.RoleLearner)
	other := MustCreateUser(t, db, "oz@example.com", faultline.RoleLearner)
	exp := clk.Now().Add(time.Hour)
	for _, h := range []string{"tok1", "tok2"} {
		if err := db.CreatePasswordReset(ctx, u.ID, h, exp); err != nil {
			t.Fatal(err)
		}
	}
	if err := db.CreatePasswordReset(ctx, other.ID, "tok-other", exp); err != nil {
		t.Fatal(err)
	}
	if err := db.CreatePasswordReset(ctx, 9999, "tok3", exp); faultline.ErrorCode(err) != faultline.ENOTFOUND {
		t.Fatalf("reset for an unknown user: %v", err)
	}
	if err := db.CreatePasswordReset(ctx, u.ID, "tok4", clk.Now()); faultline.ErrorCode(err) != faultline.EINVALID {
		t.Fatalf("reset expiring now: %v", err)
	}
	if err := db.CreateSession(ctx, &faultline.Session{ID: "sess", UserID: u.ID, ExpiresAt: exp}); err != nil {
		t.Fatal(err)
	}
	if err := db.CreateSession(ctx, &faultline.Session{ID: "sess-other", UserID: other.ID, ExpiresAt: exp}); err != nil {
		t.Fatal(err)
	}
	if got, err := db.FindPasswordReset(ctx, "tok1"); err != nil || got.ID != u.ID {
		t.Fatalf("find tok1: %v, %v", got, err)
	}
	got, err := db.ResetPassword(ctx, "tok1", "$2a$10$new")
	if err != nil || got.ID != u.ID || got.PasswordHash != "$2a$10$new" {
		t.Fatalf("reset: %+v, %v", got, err)
	}
	for _, h := range []string{"tok1", "tok2", "nope"} {
		if _, err := db.ResetPassword(ctx, h, "$2a$10$again"); faultline.ErrorCode(err) != faultline.ENOTFOUND {
			t.Errorf("reset with %s after a reset: %v, want ENOTFOUND", h, err)
		}
	}
	if _, _, err := db.FindSession(ctx, "sess"); faultline.ErrorCode(err) != faultline.ENOTFOUND {
		t.Errorf("the user's session survived the reset: %v", err)
	}
	if _, _, err := db.FindSession(ctx, "sess-other"); err != nil {
		t.Errorf("another user's session ended: %v", err)
	}
	clk.Advance(time.Hour)
	if _, err := db.FindPasswordReset(ctx, "tok-other"); faultline.ErrorCode(err) != faultline.ENOTFOUND {
		t.Errorf("an expired token still works: %v", err)
	}
}

// TestMailOutboxClaims: only due mail is claimed, oldest first; a held
// message is not claimed twice until its lease expires; outcomes need the
// lease.
func TestMailOutboxClaims(t *testing.T) {
	ctx := context.Background()
	db, clk := MustOpenDB(t)
	if err := db.EnqueueMail(ctx, &faultline.MailMessage{Kind: "k", To: "a@example.com", Subject: "s"}); faultline.ErrorCode(err) != faultline.EINVALID {
		t.Fatalf("mail without a body: %v", err)
	}
	var ids []int64
	for i := 0; i < 2; i++ {
		m := &faultline.MailMessage{Kind: "k", To: "a@example.com", Subject: "s", Text: "t"}
		if err := db.EnqueueMail(ctx, m); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, m.ID)
		clk.Advance(time.Second)
	}
	a, err := db.ClaimMail(ctx, "w1", time.Minute)
	if err != nil || a.ID != ids[0] || a.Attempts != 1 || a.State != faultline.MailSending {
		t.Fatalf("first claim: %+v, %v", a, err)
	}
	b, err := db.ClaimMail(ctx, "w2", time.Minute)
	if err != nil || b.ID != ids[1] {
		t.Fatalf("second claim: %+v, %v", b, err)
	}
	if _, err := db.ClaimMail(ctx, "w3", time.Minute); faultline.ErrorCode(err) != faultline.ENOTFOUND {
		t.Fatalf("third claim: %v, want ENOTFOUND", err)
	}
	if err := db.RetryMail(ctx, a.ID, "w2", "x", clk.Now()); faultline.ErrorCode(err) != faultline.ECONFLICT {
		t.Fatalf("retry by the wrong worker: %v", err)
	}
	if err := db.RetryMail(ctx, a.ID, "w1", "421 busy", clk.Now().Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	if _, err := db.ClaimMail(ctx, "w3", time.Minute); faultline.ErrorCode(err) != faultline.ENOTFOUND {
		t.Fatalf("claimed during the backoff: %v", err)
	}
	clk.Advance(time.Minute)
	// Now a is due again and b's lease has run out; b was due first.
	c, err := db.ClaimMail(ctx, "w3", time.Minute)
	if err != nil || c.ID != b.ID || c.Attempts != 2 {
		t.Fatalf("claim after backoff: %+v, %v; want b on its second attempt", c, err)
	}
	if err := db.MarkMailSent(ctx, b.ID, "w2"); faultline.ErrorCode(err) != faultline.ECONFLICT {
		t.Fatalf("w2 marked sent after losing its lease: %v", err)
	}
	if d, err := db.ClaimMail(ctx, "w4", time.Minute); err != nil || d.ID != a.ID || d.LastError != "421 busy" {
		t.Fatalf("claim of a: %+v, %v", d, err)
	}
	st, err := db.MailStats(ctx)
	if err != nil || st.Pending != 2 || st.OldestPending.IsZero() {
		t.Fatalf("stats: %+v, %v", st, err)
	}
}
