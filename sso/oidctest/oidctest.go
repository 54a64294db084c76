// Package oidctest runs an OpenID provider over real HTTP for tests: a
// discovery document, a JWKS, an authorization endpoint that signs in a
// configured person at once, and a token endpoint that checks the code,
// the client's secret, the redirect URI and the PKCE verifier before it
// issues an id_token signed with RS256 (go-jose). Every request the client
// makes is checked against the protocol; what fails is recorded as a
// violation for the test to report.
package oidctest

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
)

// Person is who signs in at the provider.
type Person struct {
	Subject       string
	Email         string
	EmailVerified bool
	Name          string
}

// Token is an id_token about to be issued; Tamper may change it.
type Token struct {
	Claims map[string]any
	Key    *rsa.PrivateKey // the signing key (the provider's unless changed)
	KeyID  string
}

// Provider is a running OpenID provider.
type Provider struct {
	URL          string // the issuer
	ClientID     string
	ClientSecret string
	RedirectURI  string // the only redirect URI registered for the client

	srv *httptest.Server
	key *rsa.PrivateKey
	kid string

	mu         sync.Mutex
	person     Person
	tamper     func(*Token)
	codes      map[string]*grant
	violations []string
	authorized int
	tokens     int
	lastNonce  string
	Now        func() time.Time
}

type grant struct {
	clientID, redirectURI, nonce, challenge string
	person                                  Person
	used                                    bool
	issued                                  time.Time
}

// Start runs a provider for one client until the test ends.
func Start(tb testing.TB, clientID, clientSecret, redirectURI string) *Provider {
	tb.Helper()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		tb.Fatal(err)
	}
	p := &Provider{ClientID: clientID, ClientSecret: clientSecret, RedirectURI: redirectURI,
		key: key, kid: "key-1", codes: map[string]*grant{}, Now: time.Now}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /.well-known/openid-configuration", p.discovery)
	mux.HandleFunc("GET /jwks", p.jwks)
	mux.HandleFunc("GET /authorize", p.authorize)
	mux.HandleFunc("POST /token", p.token)
	p.srv = httptest.NewServer(mux)
	p.URL = p.srv.URL
	tb.Cleanup(p.srv.Close)
	return p
}

// SetRedirectURI registers the client's redirect URI (when it is known
// only after the client started).
func (p *Provider) SetRedirectURI(u string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.RedirectURI = u
}

// SignIn sets who signs in at the next authorization request.
func (p *Provider) SignIn(person Person) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.person = person
}

// Tamper changes the next id_tokens before they are signed (nil stops).
func (p *Provider) Tamper(f func(*Token)) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.tamper = f
}

// LastNonce is the nonce of the newest authorization request.
func (p *Provider) LastNonce() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.lastNonce
}

// Violations are the protocol errors the client made.
func (p *Provider) Violations() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]string(nil), p.violations...)
}

// Counts returns how many authorization and token requests succeeded.
func (p *Provider) Counts() (authorized, tokens int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.authorized, p.tokens
}

func (p *Provider) violate(w http.ResponseWriter, status int, code, format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	p.violations = append(p.violations, msg)
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(map[string]string{"error": code, "error_description": msg})
}

func (p *Provider) discovery(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(map[string]any{
		"issuer":                                p.URL,
		"authorization_endpoint":                p.URL + "/authorize",
		"token_endpoint":                        p.URL + "/token",
		"jwks_uri":                              p.URL + "/jwks",
		"response_types_supported":              []string{"code"},
		"subject_types_supported":               []string{"public"},
		"id_token_signing_alg_values_supported": []string{"RS256"},
		"code_challenge_methods_supported":      []string{"S256"},
		"token_endpoint_auth_methods_supported": []string{"client_secret_basic", "client_secret_post"},
		"scopes_supported":                      []string{"openid", "email", "profile"},
	})
}

func (p *Provider) jwks(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{
		{Key: &p.key.PublicKey, KeyID: p.kid, Algorithm: string(jose.RS256), Use: "sig"},
	}})
}

func random() string {
	b := make([]byte, 24)
	rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

// authorize checks the authorization request and signs the configured
// person in at once, redirecting back with a code and the state.
func (p *Provider) authorize(w http.ResponseWriter, r *http.Request) {
	p.mu.Lock()
	defer p.mu.Unlock()
	q := r.URL.Query()
	switch {
	case q.Get("response_type") != "code":
		p.violate(w, 400, "unsupported_response_type", "authorize: response_type %q, want code", q.Get("response_type"))
	case q.Get("client_id") != p.ClientID:
		p.violate(w, 400, "unauthorized_client", "authorize: client_id %q", q.Get("client_id"))
	case q.Get("redirect_uri") != p.RedirectURI:
		p.violate(w, 400, "invalid_request", "authorize: redirect_uri %q is not the registered %q", q.Get("redirect_uri"), p.RedirectURI)
	case !slices.Contains(strings.Fields(q.Get("scope")), "openid"):
		p.violate(w, 400, "invalid_scope", "authorize: scope %q lacks openid", q.Get("scope"))
	case len(q.Get("state")) < 16:
		p.violate(w, 400, "invalid_request", "authorize: no unguessable state (%q)", q.Get("state"))
	case len(q.Get("nonce")) < 16:
		p.violate(w, 400, "invalid_request", "authorize: no unguessable nonce (%q)", q.Get("nonce"))
	case q.Get("code_challenge_method") != "S256" || len(q.Get("code_challenge")) != 43:
		p.violate(w, 400, "invalid_request", "authorize: PKCE challenge %q method %q, want S256", q.Get("code_challenge"), q.Get("code_challenge_method"))
	default:
		code := random()
		p.codes[code] = &grant{clientID: q.Get("client_id"), redirectURI: q.Get("redirect_uri"), nonce: q.Get("nonce"),
			challenge: q.Get("code_challenge"), person: p.person, issued: p.Now()}
		p.lastNonce = q.Get("nonce")
		p.authorized++
		to, _ := url.Parse(q.Get("redirect_uri"))
		back := to.Query()
		back.Set("code", code)
		back.Set("state", q.Get("state"))
		to.RawQuery = back.Encode()
		http.Redirect(w, r, to.String(), http.StatusFound)
	}
}

// token checks the client, the code, the redirect URI and the PKCE
// verifier, then issues an access token and a signed id_token.
func (p *Provider) token(w http.ResponseWriter, r *http.Request) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if err := r.ParseForm(); err != nil {
		p.violate(w, 400, "invalid_request", "token: unreadable form: %v", err)
		return
	}
	id, secret, basic := r.BasicAuth()
	if basic {
		id, _ = url.QueryUnescape(id)
		secret, _ = url.QueryUnescape(secret)
	} else {
		id, secret = r.PostForm.Get("client_id"), r.PostForm.Get("client_secret")
	}
	g := p.codes[r.PostForm.Get("code")]
	switch {
	case r.PostForm.Get("grant_type") != "authorization_code":
		p.violate(w, 400, "unsupported_grant_type", "token: grant_type %q", r.PostForm.Get("grant_type"))
	case id != p.ClientID || subtle.ConstantTimeCompare([]byte(secret), []byte(p.ClientSecret)) != 1:
		p.violate(w, 401, "invalid_client", "token: client authentication failed for %q", id)
	case g == nil:
		p.violate(w, 400, "invalid_grant", "token: unknown code")
	case g.used:
		p.violate(w, 400, "invalid_grant", "token: code used twice")
	case g.clientID != id:
		p.violate(w, 400, "invalid_grant", "token: code issued to another client")
	case r.PostForm.Get("redirect_uri") != g.redirectURI:
		p.violate(w, 400, "invalid_grant", "token: redirect_uri %q differs from the authorization request's", r.PostForm.Get("redirect_uri"))
	case !pkceMatches(r.PostForm.Get("code_verifier"), g.challenge):
		p.violate(w, 400, "invalid_grant", "token: code_verifier does not match the challenge")
	case p.Now().Sub(g.issued) > time.Minute:
		p.violate(w, 400, "invalid_grant", "token: code expired")
	default:
		g.used = true
		now := p.Now()
		tok := &Token{Key: p.key, KeyID: p.kid, Claims: map[string]any{
			"iss": p.URL, "sub": g.person.Subject, "aud": []string{p.ClientID},
			"iat": now.Unix(), "exp": now.Add(5 * time.Minute).Unix(), "auth_time": now.Unix(),
			"nonce": g.nonce, "email": g.person.Email, "email_verified": g.person.EmailVerified, "name": g.person.Name,
		}}
		if p.tamper != nil {
			p.tamper(tok)
		}
		signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.RS256, Key: jose.JSONWebKey{Key: tok.Key, KeyID: tok.KeyID}},
			(&jose.SignerOptions{}).WithType("JWT"))
		if err != nil {
			http.Error(w, err.Error(), 500)
			return
		}
		raw, err := jwt.Signed(signer).Claims(tok.Claims).Serialize()
		if err != nil {
			http.Error(w, err.Error(), 500)
			return
		}
		p.tokens++
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "no-store")
		json.NewEncoder(w).Encode(map[string]any{
			"access_token": random(), "token_type": "Bearer", "expires_in": 300, "id_token": raw,
		})
	}
}

func pkceMatches(verifier, challenge string) bool {
	if len(verifier) < 43 || len(verifier) > 128 {
		return false
	}
	sum := sha256.Sum256([]byte(verifier))
	return base64.RawURLEncoding.EncodeToString(sum[:]) == challenge
}
