// Package lti makes Faultline an LTI 1.3 tool (IMS LTI Core 1.3 with the
// Security Framework 1.0, Deep Linking 2.0, Assignment and Grade Services
// 2.0, Names and Role Provisioning Services 2.0).
//
// A platform (an LMS) is registered by an admin with its issuer, the client
// id it gave the tool, its deployment ids and its authentication request,
// token and key set URLs. A launch is the OIDC third-party login: the
// platform calls Login, the tool sends the browser to the platform's
// authentication endpoint with a state and a nonce, and the platform posts
// back an id_token that Launch verifies (go-oidc: signature against the
// platform's JWKS, issuer, audience, expiry; here: the nonce this login
// sent and never seen before, the azp, the LTI version, the message type
// and a registered deployment). The person's account is linked by the
// platform's (issuer, subject), never by email; the course becomes a
// cohort; LMS roles become cohort roles.
//
// Scores go back through AGS: every result stored for a lab a learner
// launched from the LMS queues the one score they hold (ScoreSource) for
// the link's line item, and a worker sends it with a token obtained by the
// client-credentials grant and a JWT assertion signed with the tool's key
// (kept in the database, published at /lti/jwks). JOSE work is go-jose's.
package lti

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"

	"github.com/faultline-dev/faultline"
)

// Claim names of LTI 1.3 and its services.
const (
	ClaimMessageType  = "https://purl.imsglobal.org/spec/lti/claim/message_type"
	ClaimVersion      = "https://purl.imsglobal.org/spec/lti/claim/version"
	ClaimDeploymentID = "https://purl.imsglobal.org/spec/lti/claim/deployment_id"
	ClaimTargetLink   = "https://purl.imsglobal.org/spec/lti/claim/target_link_uri"
	ClaimResourceLink = "https://purl.imsglobal.org/spec/lti/claim/resource_link"
	ClaimRoles        = "https://purl.imsglobal.org/spec/lti/claim/roles"
	ClaimContext      = "https://purl.imsglobal.org/spec/lti/claim/context"
	ClaimCustom       = "https://purl.imsglobal.org/spec/lti/claim/custom"
	ClaimAGS          = "https://purl.imsglobal.org/spec/lti-ags/claim/endpoint"
	ClaimNRPS         = "https://purl.imsglobal.org/spec/lti-nrps/claim/namesroleservice"
	ClaimDLSettings   = "https://purl.imsglobal.org/spec/lti-dl/claim/deep_linking_settings"
	ClaimDLData       = "https://purl.imsglobal.org/spec/lti-dl/claim/data"
	ClaimDLItems      = "https://purl.imsglobal.org/spec/lti-dl/claim/content_items"

	MessageResourceLink    = "LtiResourceLinkRequest"
	MessageDeepLinking     = "LtiDeepLinkingRequest"
	MessageDeepLinkingResp = "LtiDeepLinkingResponse"

	ScopeLineItem   = "https://purl.imsglobal.org/spec/lti-ags/scope/lineitem"
	ScopeScore      = "https://purl.imsglobal.org/spec/lti-ags/scope/score"
	ScopeMembership = "https://purl.imsglobal.org/spec/lti-nrps/scope/contextmembership.readonly"

	roleBase = "http://purl.imsglobal.org/vocab/lis/v2/membership#"
)

// Store is what the tool keeps in the database.
type Store interface {
	faultline.LTIStore
	faultline.IdentityService
	faultline.AuthStateService
	faultline.GradeEventService
	faultline.CohortService
}

// Config configures a Service.
type Config struct {
	BaseURL string // the portal's public URL; the tool's URLs hang off it
	// Lab and Lesson look slugs up in the catalogs.
	Lab    func(slug string) (*faultline.Lab, error)
	Lesson func(slug string) (*faultline.Lesson, bool)
	// Scores gives the one score a learner holds for a lab (CourseScores).
	Scores     faultline.ScoreSource
	HTTPClient *http.Client
	Now        func() time.Time
	Logger     *slog.Logger
}

// Service implements faultline.LTITool and runs the score passback.
type Service struct {
	cfg Config
	st  Store
	log *slog.Logger

	mu     sync.Mutex
	keys   map[int64]*oidc.RemoteKeySet // per platform, by JWKS URL
	jwks   map[int64]string
	tokens map[string]cachedToken
	kick   chan struct{}
}

var _ faultline.LTITool = (*Service)(nil)

// New returns a tool. EINVALID without a base URL or catalogs.
func New(cfg Config, st Store) (*Service, error) {
	if cfg.BaseURL == "" || cfg.Lab == nil || cfg.Lesson == nil || cfg.Scores == nil {
		return nil, faultline.Errorf(faultline.EINVALID, "lti: the base URL, catalogs and score source are required")
	}
	cfg.BaseURL = strings.TrimRight(cfg.BaseURL, "/")
	if cfg.HTTPClient == nil {
		cfg.HTTPClient = &http.Client{Timeout: 20 * time.Second}
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Service{cfg: cfg, st: st, log: log, keys: map[int64]*oidc.RemoteKeySet{}, jwks: map[int64]string{},
		tokens: map[string]cachedToken{}, kick: make(chan struct{}, 1)}, nil
}

// MyScores is the course layer's verb for the scores a learner holds
// (course.Service).
type MyScores interface {
	MyScores(ctx context.Context, viewer *faultline.User) (map[string]faultline.HeldScore, error)
}

// CourseScores gives the one score through the course layer: what the
// learner holds for the lab under their cohort's rules (late penalties,
// adjustments), the number every grade surface shows.
type CourseScores struct {
	Course MyScores
	Users  faultline.UserService
}

// HeldScore implements faultline.ScoreSource; ENOTFOUND when the learner
// holds no score for the lab.
func (c CourseScores) HeldScore(ctx context.Context, userID int64, lab string) (int, int, error) {
	u, err := c.Users.FindUserByID(ctx, userID)
	if err != nil {
		return 0, 0, err
	}
	held, err := c.Course.MyScores(ctx, u)
	if err != nil {
		return 0, 0, err
	}
	h, ok := held[lab]
	if !ok || !h.Has {
		return 0, 0, faultline.Errorf(faultline.ENOTFOUND, "No graded submission.")
	}
	return h.Score, h.MaxScore, nil
}

// URLs are the tool's addresses a platform is configured with.
type URLs struct {
	Login, Launch, DeepLink, JWKS string
}

// ToolURLs returns the tool's URLs under base.
func ToolURLs(base string) URLs {
	base = strings.TrimRight(base, "/")
	return URLs{Login: base + "/lti/login", Launch: base + "/lti/launch", DeepLink: base + "/lti/launch", JWKS: base + "/lti/jwks"}
}

func randomString(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

// ---- the tool's keys ----

func newKey() (*faultline.LTIKey, error) {
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return nil, err
	}
	der, err := x509.MarshalPKCS8PrivateKey(k)
	if err != nil {
		return nil, err
	}
	jwk := jose.JSONWebKey{Key: &k.PublicKey}
	tp, err := jwk.Thumbprint(cryptoSHA256)
	if err != nil {
		return nil, err
	}
	return &faultline.LTIKey{KID: base64.RawURLEncoding.EncodeToString(tp)[:16],
		PrivatePEM: pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})}, nil
}

func parseKey(k *faultline.LTIKey) (*rsa.PrivateKey, error) {
	b, _ := pem.Decode(k.PrivatePEM)
	if b == nil {
		return nil, fmt.Errorf("lti key %s: not PEM", k.KID)
	}
	key, err := x509.ParsePKCS8PrivateKey(b.Bytes)
	if err != nil {
		return nil, fmt.Errorf("lti key %s: %w", k.KID, err)
	}
	rk, ok := key.(*rsa.PrivateKey)
	if !ok {
		return nil, fmt.Errorf("lti key %s: not RSA", k.KID)
	}
	return rk, nil
}

// sign signs claims as a JWT with the tool's newest key (RS256, kid).
func (s *Service) sign(ctx context.Context, claims map[string]any) (string, error) {
	k, err := s.st.ToolKey(ctx, newKey)
	if err != nil {
		return "", fmt.Errorf("lti: tool key: %w", err)
	}
	priv, err := parseKey(k)
	if err != nil {
		return "", err
	}
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.RS256, Key: jose.JSONWebKey{Key: priv, KeyID: k.KID}},
		(&jose.SignerOptions{}).WithType("JWT"))
	if err != nil {
		return "", fmt.Errorf("lti: signer: %w", err)
	}
	raw, err := jwt.Signed(signer).Claims(claims).Serialize()
	if err != nil {
		return "", fmt.Errorf("lti: sign: %w", err)
	}
	return raw, nil
}

// JWKS returns the tool's public keys, creating the first key if needed.
func (s *Service) JWKS(ctx context.Context) ([]byte, error) {
	if _, err := s.st.ToolKey(ctx, newKey); err != nil {
		return nil, fmt.Errorf("lti: tool key: %w", err)
	}
	keys, err := s.st.ToolKeys(ctx)
	if err != nil {
		return nil, fmt.Errorf("lti: tool keys: %w", err)
	}
	set := jose.JSONWebKeySet{Keys: []jose.JSONWebKey{}}
	for _, k := range keys {
		priv, err := parseKey(k)
		if err != nil {
			return nil, err
		}
		set.Keys = append(set.Keys, jose.JSONWebKey{Key: &priv.PublicKey, KeyID: k.KID, Algorithm: string(jose.RS256), Use: "sig"})
	}
	return json.Marshal(set)
}

// ---- admin ----

func admin(viewer *faultline.User) error {
	if viewer == nil || viewer.Role != faultline.RoleAdmin {
		return faultline.Errorf(faultline.ENOTFOUND, "There is no page at this address.")
	}
	return nil
}

// Platforms lists the registrations (admins only).
func (s *Service) Platforms(ctx context.Context, viewer *faultline.User) ([]*faultline.LTIPlatform, error) {
	if err := admin(viewer); err != nil {
		return nil, err
	}
	return s.st.ListLTIPlatforms(ctx)
}

// RegisterPlatform registers an LMS (admins only).
func (s *Service) RegisterPlatform(ctx context.Context, viewer *faultline.User, p *faultline.LTIPlatform) error {
	if err := admin(viewer); err != nil {
		return err
	}
	p.CreatedBy = viewer.ID
	if err := s.st.CreateLTIPlatform(ctx, p); err != nil {
		return err
	}
	s.log.InfoContext(ctx, "lti platform registered", "platform", p.ID, "issuer", p.Issuer, "by", viewer.ID)
	return nil
}

// DeletePlatform removes a registration (admins only).
func (s *Service) DeletePlatform(ctx context.Context, viewer *faultline.User, id int64) error {
	if err := admin(viewer); err != nil {
		return err
	}
	return s.st.DeleteLTIPlatform(ctx, id)
}

// teaches returns nil when viewer may manage the cohort.
func (s *Service) teaches(ctx context.Context, viewer *faultline.User, cohortID int64) error {
	notFound := faultline.Errorf(faultline.ENOTFOUND, "There is no page at this address.")
	if viewer == nil {
		return notFound
	}
	if _, err := s.st.FindCohortByID(ctx, cohortID); err != nil {
		if faultline.ErrorCode(err) == faultline.ENOTFOUND {
			return notFound
		}
		return err
	}
	if viewer.Role == faultline.RoleAdmin {
		return nil
	}
	role, err := s.st.MemberRole(ctx, cohortID, viewer.ID)
	if faultline.ErrorCode(err) == faultline.ENOTFOUND || err == nil && !role.Teaches() {
		return notFound
	}
	return err
}

// CohortLink returns the course linked to a cohort the viewer teaches.
func (s *Service) CohortLink(ctx context.Context, viewer *faultline.User, cohortID int64) (*faultline.LTIContext, error) {
	if err := s.teaches(ctx, viewer, cohortID); err != nil {
		return nil, err
	}
	return s.st.FindLTIContextByCohort(ctx, cohortID)
}
