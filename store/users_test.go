package store_test

import (
	"context"
	"testing"
	"time"

	"github.com/faultline-dev/faultline"
)

func TestCreateAndFindUser(t *testing.T) {
	ctx := context.Background()
	db, clk := MustOpenDB(t)
	if n, err := db.CountUsers(ctx); err != nil || n != 0 {
		t.Fatalf("CountUsers on empty db = %d, %v", n, err)
	}
	u := &faultline.User{Email: "  Alice@Example.COM ", Name: " Alice ", Role: faultline.RoleAdmin, PasswordHash: "h"}
	if err := db.CreateUser(ctx, u); err != nil {
		t.Fatal(err)
	}
	if u.ID == 0 || u.Email != "alice@example.com" || !u.CreatedAt.Equal(clk.Now()) {
		t.Fatalf("created user = %+v", u)
	}
	for _, email := range []string{"alice@example.com", "ALICE@EXAMPLE.COM", " Alice@example.com"} {
		got, err := db.FindUserByEmail(ctx, email)
		if err != nil {
			t.Fatalf("FindUserByEmail(%q): %v", email, err)
		}
		if got.ID != u.ID || got.Name != "Alice" || got.Role != faultline.RoleAdmin || got.PasswordHash != "h" ||
			!got.CreatedAt.Equal(u.CreatedAt) {
			t.Fatalf("FindUserByEmail(%q) = %+v, want %+v", email, got, u)
		}
	}
	got, err := db.FindUserByID(ctx, u.ID)
	if err != nil || got.Email != u.Email {
		t.Fatalf("FindUserByID = %+v, %v", got, err)
	}
	if n, err := db.CountUsers(ctx); err != nil || n != 1 {
		t.Fatalf("CountUsers = %d, %v; want 1", n, err)
	}
}

func TestCreateUserDuplicateEmailConflicts(t *testing.T) {
	ctx := context.Background()
	db, _ := MustOpenDB(t)
	MustCreateUser(t, db, "bob@example.com", faultline.RoleLearner)
	u := &faultline.User{Email: "BOB@example.com", Role: faultline.RoleLearner, PasswordHash: "h"}
	assertCode(t, db.CreateUser(ctx, u), faultline.ECONFLICT)
	if n, _ := db.CountUsers(ctx); n != 1 {
		t.Fatalf("CountUsers = %d after conflict, want 1", n)
	}
}

func TestCreateUserInvalid(t *testing.T) {
	ctx := context.Background()
	db, _ := MustOpenDB(t)
	for name, u := range map[string]*faultline.User{
		"no at":       {Email: "bob.example.com", Role: faultline.RoleLearner, PasswordHash: "h"},
		"empty":       {Email: "", Role: faultline.RoleLearner, PasswordHash: "h"},
		"space":       {Email: "b ob@example.com", Role: faultline.RoleLearner, PasswordHash: "h"},
		"bad role":    {Email: "bob@example.com", Role: "root", PasswordHash: "h"},
		"no password": {Email: "bob@example.com", Role: faultline.RoleLearner},
	} {
		if err := db.CreateUser(ctx, u); faultline.ErrorCode(err) != faultline.EINVALID {
			t.Errorf("%s: CreateUser error = %v, want EINVALID", name, err)
		}
	}
	if n, _ := db.CountUsers(ctx); n != 0 {
		t.Fatalf("CountUsers = %d after invalid creates, want 0", n)
	}
}

func TestFindUserNotFound(t *testing.T) {
	ctx := context.Background()
	db, _ := MustOpenDB(t)
	_, err := db.FindUserByID(ctx, 42)
	assertCode(t, err, faultline.ENOTFOUND)
	_, err = db.FindUserByEmail(ctx, "nobody@example.com")
	assertCode(t, err, faultline.ENOTFOUND)
}

func TestSessions(t *testing.T) {
	ctx := context.Background()
	db, clk := MustOpenDB(t)
	u := MustCreateUser(t, db, "carol@example.com", faultline.RoleLearner)
	s := &faultline.Session{ID: "abc123", UserID: u.ID, ExpiresAt: clk.Now().Add(time.Hour)}
	if err := db.CreateSession(ctx, s); err != nil {
		t.Fatal(err)
	}
	if !s.CreatedAt.Equal(clk.Now()) {
		t.Fatalf("CreatedAt = %v, want %v", s.CreatedAt, clk.Now())
	}
	assertCode(t, db.CreateSession(ctx, &faultline.Session{ID: "abc123", UserID: u.ID, ExpiresAt: clk.Now().Add(time.Hour)}), faultline.ECONFLICT)
	assertCode(t, db.CreateSession(ctx, &faultline.Session{ID: "x", UserID: 999, ExpiresAt: clk.Now().Add(time.Hour)}), faultline.ENOTFOUND)
	assertCode(t, db.CreateSession(ctx, &faultline.Session{ID: "", UserID: u.ID, ExpiresAt: clk.Now().Add(time.Hour)}), faultline.EINVALID)

	got, gu, err := db.FindSession(ctx, "abc123")
	if err != nil {
		t.Fatal(err)
	}
	if got.UserID != u.ID || !got.ExpiresAt.Equal(s.ExpiresAt) || gu.Email != "carol@example.com" || gu.Role != faultline.RoleLearner {
		t.Fatalf("FindSession = %+v, %+v", got, gu)
	}
	_, _, err = db.FindSession(ctx, "missing")
	assertCode(t, err, faultline.ENOTFOUND)

	// One nanosecond before expiry it is live; at expiry it is gone.
	clk.Advance(time.Hour - time.Nanosecond)
	if _, _, err := db.FindSession(ctx, "abc123"); err != nil {
		t.Fatalf("session just before expiry: %v", err)
	}
	clk.Advance(time.Nanosecond)
	_, _, err = db.FindSession(ctx, "abc123")
	assertCode(t, err, faultline.ENOTFOUND)

	if n, err := db.DeleteExpiredSessions(ctx); err != nil || n != 1 {
		t.Fatalf("DeleteExpiredSessions = %d, %v; want 1", n, err)
	}
	live := &faultline.Session{ID: "live", UserID: u.ID, ExpiresAt: clk.Now().Add(time.Hour)}
	if err := db.CreateSession(ctx, live); err != nil {
		t.Fatal(err)
	}
	if err := db.DeleteSession(ctx, "live"); err != nil {
		t.Fatal(err)
	}
	_, _, err = db.FindSession(ctx, "live")
	assertCode(t, err, faultline.ENOTFOUND)
	if err := db.DeleteSession(ctx, "never-existed"); err != nil {
		t.Fatalf("deleting a missing session: %v", err)
	}
}

func TestLessonProgress(t *testing.T) {
	ctx := context.Background()
	db, clk := MustOpenDB(t)
	u := MustCreateUser(t, db, "dave@example.com", faultline.RoleLearner)
	if got, err := db.LessonsRead(ctx, u.ID); err != nil || len(got) != 0 {
		t.Fatalf("LessonsRead before reading = %v, %v", got, err)
	}
	first := clk.Now()
	if err := db.MarkLessonRead(ctx, u.ID, "partial-failure"); err != nil {
		t.Fatal(err)
	}
	clk.Advance(time.Hour)
	if err := db.MarkLessonRead(ctx, u.ID, "partial-failure"); err != nil {
		t.Fatalf("second mark: %v", err)
	}
	if err := db.MarkLessonRead(ctx, u.ID, "circuit-breakers"); err != nil {
		t.Fatal(err)
	}
	got, err := db.LessonsRead(ctx, u.ID)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || !got["partial-failure"].Equal(first) || !got["circuit-breakers"].Equal(clk.Now()) {
		t.Fatalf("LessonsRead = %v", got)
	}
	assertCode(t, db.MarkLessonRead(ctx, u.ID, ""), faultline.EINVALID)
	assertCode(t, db.MarkLessonRead(ctx, 999, "partial-failure"), faultline.ENOTFOUND)
}

func TestSetUserName(t *testing.T) {
	ctx := context.Background()
	db, _ := MustOpenDB(t)
	u := &faultline.User{Email: "bo@example.com", Name: "Bo", Role: faultline.RoleLearner, PasswordHash: "h"}
	if err := db.CreateUser(ctx, u); err != nil {
		t.Fatal(err)
	}
	if err := db.SetUserName(ctx, u.ID, "Bo Björk"); err != nil {
		t.Fatal(err)
	}
	if got, err := db.FindUserByID(ctx, u.ID); err != nil || got.Name != "Bo Björk" || got.Email != u.Email {
		t.Fatalf("after SetUserName: %+v, %v", got, err)
	}
	if err := db.SetUserName(ctx, u.ID, ""); faultline.ErrorCode(err) != faultline.EINVALID {
		t.Errorf("empty name: %v", err)
	}
	if err := db.SetUserName(ctx, u.ID+99, "X"); faultline.ErrorCode(err) != faultline.ENOTFOUND {
		t.Errorf("unknown user: %v", err)
	}
}
