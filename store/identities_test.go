package store_test

import (
	"context"
	"testing"
	"time"

	"github.com/faultline-dev/faultline"
)

// TestIdentities: a new account and its link are made together or not at
// all (a taken email makes neither); a link belongs to one account.
func TestIdentities(t *testing.T) {
	ctx := context.Background()
	db, _ := MustOpenDB(t)
	owner := MustCreateUser(t, db, "ada@example.edu", faultline.RoleLearner)
	id := &faultline.Identity{Kind: faultline.IdentityOIDC, Issuer: "https://idp", Subject: "s1"}
	u := &faultline.User{Email: "ADA@example.edu", Name: "Other", Role: faultline.RoleLearner, PasswordHash: faultline.NoPassword}
	if err := db.CreateUserWithIdentity(ctx, u, id); faultline.ErrorCode(err) != faultline.ECONFLICT {
		t.Fatalf("new account with a taken email: %v", err)
	}
	if _, _, err := db.FindIdentity(ctx, faultline.IdentityOIDC, "https://idp", "s1"); faultline.ErrorCode(err) != faultline.ENOTFOUND {
		t.Fatalf("the identity was stored without its account: %v", err)
	}
	u = &faultline.User{Email: "new@example.edu", Name: "New", Role: faultline.RoleLearner, PasswordHash: faultline.NoPassword}
	if err := db.CreateUserWithIdentity(ctx, u, id); err != nil {
		t.Fatal(err)
	}
	// Same subject at another kind or issuer is another identity.
	if err := db.LinkIdentity(ctx, &faultline.Identity{Kind: faultline.IdentityLTI, Issuer: "https://idp", Subject: "s1", UserID: owner.ID}); err != nil {
		t.Fatal(err)
	}
	if err := db.LinkIdentity(ctx, &faultline.Identity{Kind: faultline.IdentityOIDC, Issuer: "https://idp", Subject: "s1", UserID: owner.ID}); faultline.ErrorCode(err) != faultline.ECONFLICT {
		t.Fatalf("linking another account's identity: %v", err)
	}
	if err := db.LinkIdentity(ctx, &faultline.Identity{Kind: faultline.IdentityOIDC, Issuer: "https://idp", Subject: "s1", UserID: u.ID}); err != nil {
		t.Fatalf("linking again to the same account: %v", err)
	}
	_, got, err := db.FindIdentity(ctx, faultline.IdentityOIDC, "https://idp", "s1")
	if err != nil || got.ID != u.ID {
		t.Fatalf("find: %+v %v", got, err)
	}
	if ids, _ := db.ListIdentities(ctx, owner.ID); len(ids) != 1 || ids[0].Kind != faultline.IdentityLTI {
		t.Fatalf("owner's identities: %+v", ids)
	}
	if err := db.LinkIdentity(ctx, &faultline.Identity{Kind: "saml", Issuer: "x", Subject: "y", UserID: u.ID}); faultline.ErrorCode(err) != faultline.EINVALID {
		t.Fatalf("unknown kind: %v", err)
	}
}

// TestAuthStatesAndNonces: a state works once and not after it expires; a
// nonce is accepted once per issuer.
func TestAuthStatesAndNonces(t *testing.T) {
	ctx := context.Background()
	db, clk := MustOpenDB(t)
	st := &faultline.AuthState{ID: "h1", Kind: faultline.IdentityOIDC, Nonce: "n", Verifier: "v", Next: "/x", ExpiresAt: clk.Now().Add(10 * time.Minute)}
	if err := db.CreateAuthState(ctx, st); err != nil {
		t.Fatal(err)
	}
	got, err := db.TakeAuthState(ctx, "h1")
	if err != nil || got.Nonce != "n" || got.Verifier != "v" || got.Next != "/x" {
		t.Fatalf("take: %+v %v", got, err)
	}
	if _, err := db.TakeAuthState(ctx, "h1"); faultline.ErrorCode(err) != faultline.ENOTFOUND {
		t.Fatalf("taken twice: %v", err)
	}
	db.CreateAuthState(ctx, &faultline.AuthState{ID: "h2", Kind: faultline.IdentityLTI, ExpiresAt: clk.Now().Add(time.Minute)})
	clk.Advance(time.Minute)
	if _, err := db.TakeAuthState(ctx, "h2"); faultline.ErrorCode(err) != faultline.ENOTFOUND {
		t.Fatalf("expired state: %v", err)
	}
	exp := clk.Now().Add(time.Hour)
	if err := db.UseNonce(ctx, "iss", "nonce-1", exp); err != nil {
		t.Fatal(err)
	}
	if err := db.UseNonce(ctx, "iss", "nonce-1", exp); faultline.ErrorCode(err) != faultline.ECONFLICT {
		t.Fatalf("replayed nonce: %v", err)
	}
	if err := db.UseNonce(ctx, "other-iss", "nonce-1", exp); err != nil {
		t.Fatalf("same nonce, other issuer: %v", err)
	}
}
