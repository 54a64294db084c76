// Package sso signs people in through any OpenID Connect provider
// (coreos/go-oidc and golang.org/x/oauth2): the authorization code flow
// with state, nonce and PKCE (S256).
//
// Accounts are linked to the provider's (issuer, subject), which never
// change, and never by email: the first sign-in creates a learner account
// with the email and name the provider gives; if that email already
// belongs to an account, the sign-in is refused and the person is told to
// sign in with their password and link the provider from their settings.
//
// Every id_token is checked by go-oidc against the provider's published
// keys (signature), issuer, audience (our client id) and expiry; the nonce
// must be the one this sign-in sent and must never have been seen before.
// The state is single-use, expires after ten minutes, and must come back
// in the same browser (the web layer keeps it in a cookie).
package sso

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"

	"github.com/faultline-dev/faultline"
)

// stateTTL is how long a sign-in may take at the provider.
const stateTTL = 10 * time.Minute

// Config names the provider and this client.
type Config struct {
	Issuer       string
	ClientID     string
	ClientSecret string
	RedirectURL  string // BaseURL + "/sso/callback"
	Name         string // for the button; default: the issuer's host
	// HTTPClient talks to the provider (default: a client with a 15 s timeout).
	HTTPClient *http.Client
	Now        func() time.Time
	Logger     *slog.Logger
}

// Service implements faultline.SingleSignOn.
type Service struct {
	cfg    Config
	ids    faultline.IdentityService
	states faultline.AuthStateService
	log    *slog.Logger

	mu       sync.Mutex
	provider *oidc.Provider // discovered on first use, so a provider down at start is retried
	verifier *oidc.IDTokenVerifier
	oauth    oauth2.Config
}

var _ faultline.SingleSignOn = (*Service)(nil)

// New returns a Service for cfg. It does not contact the provider: its
// discovery document is read at the first sign-in (and again after a
// failure). EINVALID for a config missing the issuer, client id or
// redirect URL.
func New(cfg Config, ids faultline.IdentityService, states faultline.AuthStateService) (*Service, error) {
	if cfg.Issuer == "" || cfg.ClientID == "" || cfg.RedirectURL == "" {
		return nil, faultline.Errorf(faultline.EINVALID, "sso: the issuer, client id and redirect URL are required")
	}
	if cfg.Name == "" {
		if u, err := url.Parse(cfg.Issuer); err == nil && u.Host != "" {
			cfg.Name = u.Hostname()
		} else {
			cfg.Name = cfg.Issuer
		}
	}
	if cfg.HTTPClient == nil {
		cfg.HTTPClient = &http.Client{Timeout: 15 * time.Second}
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Service{cfg: cfg, ids: ids, states: states, log: log}, nil
}

// Name is the provider's name for the sign-in button.
func (s *Service) Name() string { return s.cfg.Name }

// discover reads the provider's discovery document once it answers.
func (s *Service) discover(ctx context.Context) (*oidc.IDTokenVerifier, oauth2.Config, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.provider != nil {
		return s.verifier, s.oauth, nil
	}
	// The key set keeps the context it was made with for later fetches.
	bg := oidc.ClientContext(context.WithoutCancel(ctx), s.cfg.HTTPClient)
	dctx, cancel := context.WithTimeout(bg, 15*time.Second)
	defer cancel()
	p, err := oidc.NewProvider(dctx, s.cfg.Issuer)
	if err != nil {
		s.log.WarnContext(ctx, "sso: provider discovery failed", "issuer", s.cfg.Issuer, "err", err)
		return nil, oauth2.Config{}, faultline.Errorf(faultline.EUNAVAILABLE, "The sign-in service %s cannot be reached right now. Try again in a moment.", s.cfg.Name)
	}
	// Re-bind the key set to the long-lived context, not the timed one.
	var meta struct {
		JWKS string `json:"jwks_uri"`
	}
	if err := p.Claims(&meta); err != nil || meta.JWKS == "" {
		return nil, oauth2.Config{}, faultline.Errorf(faultline.EUNAVAILABLE, "The sign-in service %s publishes no keys.", s.cfg.Name)
	}
	keys := oidc.NewRemoteKeySet(bg, meta.JWKS)
	s.verifier = oidc.NewVerifier(s.cfg.Issuer, keys, &oidc.Config{ClientID: s.cfg.ClientID, Now: s.cfg.Now})
	s.oauth = oauth2.Config{
		ClientID: s.cfg.ClientID, ClientSecret: s.cfg.ClientSecret, RedirectURL: s.cfg.RedirectURL,
		Endpoint: p.Endpoint(), Scopes: []string{oidc.ScopeOpenID, "email", "profile"},
	}
	s.provider = p
	return s.verifier, s.oauth, nil
}

func random(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

// HashState is how a state value is stored: SHA-256, hex.
func HashState(state string) string {
	sum := sha256.Sum256([]byte(state))
	return hex.EncodeToString(sum[:])
}

// Start begins a sign-in; see faultline.SingleSignOn.
func (s *Service) Start(ctx context.Context, next string, linkUserID int64) (string, string, error) {
	_, oc, err := s.discover(ctx)
	if err != nil {
		return "", "", err
	}
	state, nonce, verifier := random(32), random(32), oauth2.GenerateVerifier()
	now := s.cfg.Now()
	st := &faultline.AuthState{ID: HashState(state), Kind: faultline.IdentityOIDC, Nonce: nonce, Verifier: verifier,
		Next: next, LinkUserID: linkUserID, ExpiresAt: now.Add(stateTTL)}
	if err := s.states.CreateAuthState(ctx, st); err != nil {
		return "", "", fmt.Errorf("sso: store sign-in state: %w", err)
	}
	u := oc.AuthCodeURL(state, oidc.Nonce(nonce), oauth2.S256ChallengeOption(verifier))
	return u, state, nil
}

// Claims are what the portal takes from a verified id_token.
type Claims struct {
	Issuer        string
	Subject       string
	Email         string
	EmailVerified bool
	Name          string
}

var errBadToken = faultline.Errorf(faultline.EUNAUTHORIZED, "The sign-in could not be verified. Start again.")

// Complete finishes a sign-in; see faultline.SingleSignOn.
func (s *Service) Complete(ctx context.Context, state, code string) (*faultline.User, string, error) {
	if state == "" || code == "" {
		return nil, "", faultline.Errorf(faultline.EUNAUTHORIZED, "The sign-in came back without its state or code. Start again.")
	}
	st, err := s.states.TakeAuthState(ctx, HashState(state))
	if faultline.ErrorCode(err) == faultline.ENOTFOUND {
		return nil, "", faultline.Errorf(faultline.EUNAUTHORIZED, "%s", faultline.ErrorMessage(err))
	} else if err != nil {
		return nil, "", fmt.Errorf("sso: take state: %w", err)
	}
	if st.Kind != faultline.IdentityOIDC {
		return nil, "", errBadToken
	}
	c, err := s.exchange(ctx, st, code)
	if err != nil {
		return nil, "", err
	}
	u, err := s.account(ctx, st, c)
	if err != nil {
		return nil, "", err
	}
	return u, st.Next, nil
}

// exchange trades the code for tokens and verifies the id_token.
func (s *Service) exchange(ctx context.Context, st *faultline.AuthState, code string) (*Claims, error) {
	verifier, oc, err := s.discover(ctx)
	if err != nil {
		return nil, err
	}
	tctx, cancel := context.WithTimeout(oidc.ClientContext(ctx, s.cfg.HTTPClient), 15*time.Second)
	defer cancel()
	tok, err := oc.Exchange(context.WithValue(tctx, oauth2.HTTPClient, s.cfg.HTTPClient), code, oauth2.VerifierOption(st.Verifier))
	if err != nil {
		var re *oauth2.RetrieveError
		if errors.As(err, &re) {
			s.log.WarnContext(ctx, "sso: the provider refused the code", "status", re.Response.StatusCode, "error", re.ErrorCode)
			return nil, errBadToken
		}
		s.log.WarnContext(ctx, "sso: token request failed", "err", err)
		return nil, faultline.Errorf(faultline.EUNAVAILABLE, "The sign-in service %s cannot be reached right now. Try again in a moment.", s.cfg.Name)
	}
	raw, ok := tok.Extra("id_token").(string)
	if !ok || raw == "" {
		s.log.WarnContext(ctx, "sso: the token response has no id_token")
		return nil, errBadToken
	}
	idt, err := verifier.Verify(tctx, raw)
	if err != nil {
		s.log.WarnContext(ctx, "sso: id_token refused", "reason", err)
		return nil, errBadToken
	}
	if idt.Nonce != st.Nonce {
		s.log.WarnContext(ctx, "sso: id_token nonce does not match the sign-in")
		return nil, errBadToken
	}
	if err := s.states.UseNonce(ctx, idt.Issuer, idt.Nonce, idt.Expiry.Add(time.Hour)); err != nil {
		if faultline.ErrorCode(err) == faultline.ECONFLICT || faultline.ErrorCode(err) == faultline.EINVALID {
			s.log.WarnContext(ctx, "sso: id_token nonce replayed")
			return nil, errBadToken
		}
		return nil, fmt.Errorf("sso: record nonce: %w", err)
	}
	var cl struct {
		Email         string `json:"email"`
		EmailVerified any    `json:"email_verified"`
		Name          string `json:"name"`
		GivenName     string `json:"given_name"`
		FamilyName    string `json:"family_name"`
		PreferredName string `json:"preferred_username"`
	}
	if err := idt.Claims(&cl); err != nil {
		s.log.WarnContext(ctx, "sso: id_token claims", "err", err)
		return nil, errBadToken
	}
	c := &Claims{Issuer: idt.Issuer, Subject: idt.Subject, Email: strings.ToLower(strings.TrimSpace(cl.Email)), Name: strings.TrimSpace(cl.Name)}
	switch v := cl.EmailVerified.(type) {
	case bool:
		c.EmailVerified = v
	case string:
		c.EmailVerified = v == "true"
	}
	if c.Name == "" {
		c.Name = strings.TrimSpace(cl.GivenName + " " + cl.FamilyName)
	}
	if c.Name == "" {
		c.Name = cl.PreferredName
	}
	return c, nil
}

// account returns the account for c: the linked one, a newly linked one
// (when the sign-in links), or a new learner account.
func (s *Service) account(ctx context.Context, st *faultline.AuthState, c *Claims) (*faultline.User, error) {
	if st.LinkUserID != 0 {
		id := &faultline.Identity{Kind: faultline.IdentityOIDC, Issuer: c.Issuer, Subject: c.Subject, UserID: st.LinkUserID, Email: c.Email}
		if err := s.ids.LinkIdentity(ctx, id); err != nil {
			if faultline.ErrorCode(err) == faultline.ECONFLICT {
				return nil, faultline.Errorf(faultline.ECONFLICT, "This %s account is linked to another Faultline account already.", s.cfg.Name)
			}
			return nil, fmt.Errorf("sso: link identity to user %d: %w", st.LinkUserID, err)
		}
		_, u, err := s.ids.FindIdentity(ctx, faultline.IdentityOIDC, c.Issuer, c.Subject)
		if err != nil {
			return nil, fmt.Errorf("sso: find linked identity: %w", err)
		}
		s.log.InfoContext(ctx, "sso: identity linked", "user", u.ID)
		return u, nil
	}
	_, u, err := s.ids.FindIdentity(ctx, faultline.IdentityOIDC, c.Issuer, c.Subject)
	if err == nil {
		if err := s.ids.TouchIdentity(ctx, faultline.IdentityOIDC, c.Issuer, c.Subject, c.Email); err != nil {
			return nil, fmt.Errorf("sso: touch identity: %w", err)
		}
		return u, nil
	} else if faultline.ErrorCode(err) != faultline.ENOTFOUND {
		return nil, fmt.Errorf("sso: find identity: %w", err)
	}
	if c.Email == "" {
		return nil, faultline.Errorf(faultline.EUNAUTHORIZED, "%s did not share your email address, which a new account needs. Allow it and try again.", s.cfg.Name)
	}
	name := c.Name
	if name == "" {
		name, _, _ = strings.Cut(c.Email, "@")
	}
	if utf8.RuneCountInString(name) > 100 {
		name = string([]rune(name)[:100])
	}
	u = &faultline.User{Email: c.Email, Name: name, Role: faultline.RoleLearner, PasswordHash: faultline.NoPassword}
	id := &faultline.Identity{Kind: faultline.IdentityOIDC, Issuer: c.Issuer, Subject: c.Subject, Email: c.Email}
	if err := s.ids.CreateUserWithIdentity(ctx, u, id); err != nil {
		switch faultline.ErrorCode(err) {
		case faultline.ECONFLICT:
			return nil, faultline.Errorf(faultline.ECONFLICT, "An account with the email %s exists already. Sign in with its password, then link %s under Settings → Sign-in.", c.Email, s.cfg.Name)
		case faultline.EINVALID:
			return nil, err
		}
		return nil, fmt.Errorf("sso: create account: %w", err)
	}
	s.log.InfoContext(ctx, "sso: account created on first sign-in", "user", u.ID)
	return u, nil
}
