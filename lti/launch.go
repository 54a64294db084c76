package lti

import (
	"context"
	"crypto"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/coreos/go-oidc/v3/oidc"

	"github.com/faultline-dev/faultline"
)

var cryptoSHA256 = crypto.SHA256

// loginTTL is how long a launch may take between login and launch.
const loginTTL = 10 * time.Minute

// deepLinkTTL is how long an instructor has to pick items.
const deepLinkTTL = time.Hour

func hashValue(v string) string {
	sum := sha256.Sum256([]byte(v))
	return hex.EncodeToString(sum[:])
}

// Login answers the platform's third-party login initiation.
func (s *Service) Login(ctx context.Context, req faultline.LTILogin) (string, string, error) {
	switch {
	case req.Issuer == "" || req.LoginHint == "" || req.TargetLinkURI == "":
		return "", "", faultline.Errorf(faultline.EINVALID, "The login request lacks iss, login_hint or target_link_uri.")
	case !strings.HasPrefix(req.TargetLinkURI, s.cfg.BaseURL+"/"):
		return "", "", faultline.Errorf(faultline.EINVALID, "The target link is not an address of this tool.")
	}
	p, err := s.st.FindLTIPlatformByIssuer(ctx, req.Issuer, req.ClientID)
	if err != nil {
		return "", "", err
	}
	if req.DeploymentID != "" && !slices.Contains(p.Deployments, req.DeploymentID) {
		return "", "", faultline.Errorf(faultline.EINVALID, "Deployment %q of %s is not registered with Faultline.", req.DeploymentID, p.Name)
	}
	state, nonce := randomString(32), randomString(32)
	st := &faultline.AuthState{ID: hashValue(state), Kind: faultline.IdentityLTI, Nonce: nonce,
		Next: req.TargetLinkURI, Data: strconv.FormatInt(p.ID, 10), ExpiresAt: s.cfg.Now().Add(loginTTL)}
	if err := s.st.CreateAuthState(ctx, st); err != nil {
		return "", "", fmt.Errorf("lti login: %w", err)
	}
	u, err := url.Parse(p.AuthURL)
	if err != nil {
		return "", "", fmt.Errorf("lti login: platform %d auth URL: %w", p.ID, err)
	}
	q := u.Query()
	q.Set("scope", "openid")
	q.Set("response_type", "id_token")
	q.Set("response_mode", "form_post")
	q.Set("prompt", "none")
	q.Set("client_id", p.ClientID)
	q.Set("redirect_uri", ToolURLs(s.cfg.BaseURL).Launch)
	q.Set("login_hint", req.LoginHint)
	if req.MessageHint != "" {
		q.Set("lti_message_hint", req.MessageHint)
	}
	q.Set("state", state)
	q.Set("nonce", nonce)
	u.RawQuery = q.Encode()
	return u.String(), state, nil
}

// claims are the parts of a launch's id_token the tool reads.
type claims struct {
	AZP          string         `json:"azp"`
	MessageType  string         `json:"https://purl.imsglobal.org/spec/lti/claim/message_type"`
	Version      string         `json:"https://purl.imsglobal.org/spec/lti/claim/version"`
	DeploymentID string         `json:"https://purl.imsglobal.org/spec/lti/claim/deployment_id"`
	TargetLink   string         `json:"https://purl.imsglobal.org/spec/lti/claim/target_link_uri"`
	Roles        []string       `json:"https://purl.imsglobal.org/spec/lti/claim/roles"`
	Custom       map[string]any `json:"https://purl.imsglobal.org/spec/lti/claim/custom"`
	ResourceLink *struct {
		ID    string `json:"id"`
		Title string `json:"title"`
	} `json:"https://purl.imsglobal.org/spec/lti/claim/resource_link"`
	Context *struct {
		ID    string `json:"id"`
		Label string `json:"label"`
		Title string `json:"title"`
	} `json:"https://purl.imsglobal.org/spec/lti/claim/context"`
	AGS *struct {
		Scope     []string `json:"scope"`
		LineItems string   `json:"lineitems"`
		LineItem  string   `json:"lineitem"`
	} `json:"https://purl.imsglobal.org/spec/lti-ags/claim/endpoint"`
	NRPS *struct {
		MembershipsURL string   `json:"context_memberships_url"`
		Versions       []string `json:"service_versions"`
	} `json:"https://purl.imsglobal.org/spec/lti-nrps/claim/namesroleservice"`
	DeepLinking *struct {
		ReturnURL      string   `json:"deep_link_return_url"`
		AcceptTypes    []string `json:"accept_types"`
		AcceptMultiple *bool    `json:"accept_multiple"`
		Data           string   `json:"data"`
	} `json:"https://purl.imsglobal.org/spec/lti-dl/claim/deep_linking_settings"`
	Email      string `json:"email"`
	Name       string `json:"name"`
	GivenName  string `json:"given_name"`
	FamilyName string `json:"family_name"`
}

func refuse(reason string) error {
	return faultline.Errorf(faultline.EUNAUTHORIZED, "The launch from your learning platform could not be verified (%s). Open the link from your course again.", reason)
}

// keySet returns the platform's key set, kept between launches so its keys
// are fetched once (and again when a token names a key it has not seen).
func (s *Service) keySet(ctx context.Context, p *faultline.LTIPlatform) *oidc.RemoteKeySet {
	s.mu.Lock()
	defer s.mu.Unlock()
	if ks, ok := s.keys[p.ID]; ok && s.jwks[p.ID] == p.JWKSURL {
		return ks
	}
	ks := oidc.NewRemoteKeySet(oidc.ClientContext(context.WithoutCancel(ctx), s.cfg.HTTPClient), p.JWKSURL)
	s.keys[p.ID], s.jwks[p.ID] = ks, p.JWKSURL
	return ks
}

// Launch verifies the id_token the platform posted with the state and acts
// on its message.
func (s *Service) Launch(ctx context.Context, state, idToken string) (*faultline.LTILaunchResult, error) {
	if state == "" || idToken == "" {
		return nil, refuse("no state or id_token")
	}
	st, err := s.st.TakeAuthState(ctx, hashValue(state))
	if faultline.ErrorCode(err) == faultline.ENOTFOUND {
		return nil, refuse("unknown, used or expired state")
	} else if err != nil {
		return nil, fmt.Errorf("lti launch: %w", err)
	}
	if st.Kind != faultline.IdentityLTI {
		return nil, refuse("unknown state")
	}
	pid, _ := strconv.ParseInt(st.Data, 10, 64)
	p, err := s.st.FindLTIPlatform(ctx, pid)
	if err != nil {
		if faultline.ErrorCode(err) == faultline.ENOTFOUND {
			return nil, refuse("the platform is no longer registered")
		}
		return nil, err
	}
	v := oidc.NewVerifier(p.Issuer, s.keySet(ctx, p), &oidc.Config{ClientID: p.ClientID, Now: s.cfg.Now})
	tok, err := v.Verify(oidc.ClientContext(ctx, s.cfg.HTTPClient), idToken)
	if err != nil {
		s.log.WarnContext(ctx, "lti: id_token refused", "platform", p.ID, "reason", err)
		return nil, refuse("bad token")
	}
	var c claims
	if err := tok.Claims(&c); err != nil {
		return nil, refuse("unreadable claims")
	}
	switch {
	case len(tok.Audience) > 1 && c.AZP != p.ClientID:
		return nil, refuse("azp is not this tool")
	case tok.Nonce != st.Nonce:
		s.log.WarnContext(ctx, "lti: nonce does not match the login", "platform", p.ID)
		return nil, refuse("nonce")
	case c.Version != "1.3.0":
		return nil, refuse("LTI version " + strconv.Quote(c.Version))
	case c.DeploymentID == "" || !slices.Contains(p.Deployments, c.DeploymentID):
		s.log.WarnContext(ctx, "lti: unknown deployment", "platform", p.ID, "deployment", c.DeploymentID)
		return nil, refuse("unknown deployment")
	case tok.Subject == "":
		return nil, refuse("anonymous launch")
	case c.MessageType != MessageResourceLink && c.MessageType != MessageDeepLinking:
		return nil, refuse("message type " + strconv.Quote(c.MessageType))
	}
	if err := s.st.UseNonce(ctx, p.Issuer, tok.Nonce, tok.Expiry.Add(time.Hour)); err != nil {
		if code := faultline.ErrorCode(err); code == faultline.ECONFLICT || code == faultline.EINVALID {
			s.log.WarnContext(ctx, "lti: nonce replayed", "platform", p.ID)
			return nil, refuse("replayed token")
		}
		return nil, fmt.Errorf("lti launch: record nonce: %w", err)
	}

	role := contextRole(c.Roles)
	u, err := s.account(ctx, p, tok.Subject, c.Email, displayName(c))
	if err != nil {
		return nil, err
	}
	var lc *faultline.LTIContext
	if c.Context != nil && c.Context.ID != "" {
		in := &faultline.LTIContext{PlatformID: p.ID, ContextID: c.Context.ID, Title: c.Context.Title, Label: c.Context.Label}
		if c.AGS != nil {
			in.LineItemsURL = c.AGS.LineItems
		}
		if c.NRPS != nil {
			in.MembershipsURL = c.NRPS.MembershipsURL
		}
		if lc, err = s.st.LinkLTIContext(ctx, in, p.CreatedBy, randomString(18)); err != nil {
			return nil, fmt.Errorf("lti launch: link course: %w", err)
		}
		if err := s.st.AddMember(ctx, lc.CohortID, u.ID, role); err != nil {
			return nil, fmt.Errorf("lti launch: add member: %w", err)
		}
	}
	s.log.InfoContext(ctx, "lti launch", "platform", p.ID, "user", u.ID, "message", c.MessageType, "role", role)

	if c.MessageType == MessageDeepLinking {
		return s.deepLinkRequest(ctx, p, u, role, c, lc)
	}
	if c.ResourceLink == nil || c.ResourceLink.ID == "" {
		return nil, refuse("no resource link")
	}
	res := &faultline.LTILaunchResult{User: u, Redirect: "/"}
	if lc != nil && role.Teaches() {
		res.Redirect = "/cohorts/" + strconv.FormatInt(lc.CohortID, 10)
	}
	lab, lesson := custom(c.Custom, "lab"), custom(c.Custom, "lesson")
	switch {
	case lab != "":
		l, err := s.cfg.Lab(lab)
		if err != nil {
			return nil, faultline.Errorf(faultline.ENOTFOUND, "This course links to a lab Faultline does not have (%q). Ask your instructor.", lab)
		}
		res.Redirect = "/labs/" + url.PathEscape(l.Slug)
		if lc != nil && role == faultline.MemberLearner && c.AGS != nil && slices.Contains(c.AGS.Scope, ScopeScore) {
			t := &faultline.LTIGradeTarget{PlatformID: p.ID, ContextID: lc.ContextID, ResourceLinkID: c.ResourceLink.ID,
				UserID: u.ID, Subject: tok.Subject, Lab: l.Slug, LineItemURL: c.AGS.LineItem, LineItemsURL: c.AGS.LineItems}
			if err := s.st.UpsertLTIGradeTarget(ctx, t); err != nil {
				return nil, fmt.Errorf("lti launch: grade target: %w", err)
			}
			// A score held from before this link still goes to the course.
			if err := s.queueScore(ctx, t); err != nil {
				s.log.WarnContext(ctx, "lti: queue held score", "user", u.ID, "lab", l.Slug, "err", err)
			}
		}
	case lesson != "":
		if _, ok := s.cfg.Lesson(lesson); !ok {
			return nil, faultline.Errorf(faultline.ENOTFOUND, "This course links to a lesson Faultline does not have (%q). Ask your instructor.", lesson)
		}
		res.Redirect = "/lessons/" + url.PathEscape(lesson)
	}
	return res, nil
}

func custom(m map[string]any, key string) string {
	v, _ := m[key].(string)
	return strings.TrimSpace(v)
}

// contextRole maps LIS context roles to a cohort role: instructors and
// administrators of the course teach it, teaching assistants, mentors and
// content developers co-teach, everyone else learns. Institution and
// system roles grant nothing in the course.
func contextRole(roles []string) faultline.MemberRole {
	best := faultline.MemberLearner
	for _, r := range roles {
		r = strings.TrimSpace(r)
		switch {
		case r == roleBase+"Instructor" || r == roleBase+"Administrator" || r == "Instructor" || r == "Administrator":
			return faultline.MemberInstructor
		case strings.HasPrefix(r, "http://purl.imsglobal.org/vocab/lis/v2/membership/Instructor#") ||
			r == roleBase+"ContentDeveloper" || r == roleBase+"Mentor" || r == "TeachingAssistant" || r == "ContentDeveloper" || r == "Mentor":
			best = faultline.MemberCoInstructor
		}
	}
	return best
}

func displayName(c claims) string {
	name := strings.TrimSpace(c.Name)
	if name == "" {
		name = strings.TrimSpace(c.GivenName + " " + c.FamilyName)
	}
	return name
}

// account returns the account linked to the platform's subject, creating
// it on first launch. The LMS's email fills a new account only when no
// account has it; otherwise (or when the LMS shares none) the account gets
// an address of its own under .invalid, because email never links.
func (s *Service) account(ctx context.Context, p *faultline.LTIPlatform, sub, email, name string) (*faultline.User, error) {
	email = strings.ToLower(strings.TrimSpace(email))
	_, u, err := s.st.FindIdentity(ctx, faultline.IdentityLTI, p.Issuer, sub)
	if err == nil {
		if err := s.st.TouchIdentity(ctx, faultline.IdentityLTI, p.Issuer, sub, email); err != nil {
			return nil, fmt.Errorf("lti: touch identity: %w", err)
		}
		return u, nil
	} else if faultline.ErrorCode(err) != faultline.ENOTFOUND {
		return nil, fmt.Errorf("lti: find identity: %w", err)
	}
	if name == "" {
		name = "Learner " + hashValue(p.Issuer + "\x00" + sub)[:6]
	}
	if utf8.RuneCountInString(name) > 100 {
		name = string([]rune(name)[:100])
	}
	synthetic := "lti-" + hashValue(p.Issuer + "\x00" + sub)[:16] + "@lti.invalid"
	for _, addr := range []string{email, synthetic} {
		if addr == "" {
			continue
		}
		u = &faultline.User{Email: addr, Name: name, Role: faultline.RoleLearner, PasswordHash: faultline.NoPassword}
		id := &faultline.Identity{Kind: faultline.IdentityLTI, Issuer: p.Issuer, Subject: sub, Email: email}
		err := s.st.CreateUserWithIdentity(ctx, u, id)
		switch faultline.ErrorCode(err) {
		case "":
			s.log.InfoContext(ctx, "lti: account created on first launch", "platform", p.ID, "user", u.ID)
			return u, nil
		case faultline.ECONFLICT, faultline.EINVALID:
			if _, linked, ferr := s.st.FindIdentity(ctx, faultline.IdentityLTI, p.Issuer, sub); ferr == nil {
				return linked, nil // a launch at the same moment made it
			}
			continue // the email is taken or unusable: use the tool's own address
		default:
			return nil, fmt.Errorf("lti: create account: %w", err)
		}
	}
	return nil, fmt.Errorf("lti: could not create an account for subject of platform %d", p.ID)
}

// deepLinkSettings is what a deep linking request leaves for the response.
type deepLinkSettings struct {
	PlatformID     int64    `json:"platform"`
	DeploymentID   string   `json:"deployment"`
	ReturnURL      string   `json:"return_url"`
	Data           string   `json:"data,omitempty"`
	AcceptTypes    []string `json:"accept_types"`
	AcceptMultiple bool     `json:"accept_multiple"`
}

func (s *Service) deepLinkRequest(ctx context.Context, p *faultline.LTIPlatform, u *faultline.User, role faultline.MemberRole, c claims, lc *faultline.LTIContext) (*faultline.LTILaunchResult, error) {
	if !role.Teaches() {
		return nil, faultline.Errorf(faultline.EFORBIDDEN, "Only the course's instructors can add Faultline labs and lessons to it.")
	}
	dl := c.DeepLinking
	if dl == nil || dl.ReturnURL == "" {
		return nil, refuse("no deep linking settings")
	}
	if r, err := url.Parse(dl.ReturnURL); err != nil || (r.Scheme != "https" && r.Scheme != "http") {
		return nil, refuse("bad deep linking return URL")
	}
	if !slices.Contains(dl.AcceptTypes, "ltiResourceLink") {
		return nil, faultline.Errorf(faultline.EINVALID, "Your learning platform does not accept links to tools here, so Faultline cannot add anything.")
	}
	set := deepLinkSettings{PlatformID: p.ID, DeploymentID: c.DeploymentID, ReturnURL: dl.ReturnURL, Data: dl.Data,
		AcceptTypes: dl.AcceptTypes, AcceptMultiple: dl.AcceptMultiple == nil || *dl.AcceptMultiple}
	data, _ := json.Marshal(set)
	token := randomString(32)
	if err := s.st.CreateAuthState(ctx, &faultline.AuthState{ID: hashValue("dl:" + token), Kind: faultline.IdentityLTI,
		LinkUserID: u.ID, Data: string(data), ExpiresAt: s.cfg.Now().Add(deepLinkTTL)}); err != nil {
		return nil, fmt.Errorf("lti deep link: %w", err)
	}
	req := &faultline.LTIDeepLinkRequest{Token: token, Platform: p.Name, AcceptMultiple: set.AcceptMultiple}
	if lc != nil {
		req.Course = lc.Title
	}
	return &faultline.LTILaunchResult{User: u, DeepLink: req}, nil
}

// DeepLinkResponse signs the LtiDeepLinkingResponse for the chosen items.
func (s *Service) DeepLinkResponse(ctx context.Context, viewer *faultline.User, token string, items []faultline.LTIContentItem) (string, string, error) {
	if viewer == nil || token == "" {
		return "", "", faultline.Errorf(faultline.ENOTFOUND, "This choice is unknown or was sent already. Start again from your course.")
	}
	if len(items) == 0 {
		return "", "", faultline.Errorf(faultline.EINVALID, "Pick at least one lab or lesson.")
	}
	st, err := s.st.TakeAuthState(ctx, hashValue("dl:"+token))
	if faultline.ErrorCode(err) == faultline.ENOTFOUND || err == nil && st.LinkUserID != viewer.ID {
		return "", "", faultline.Errorf(faultline.ENOTFOUND, "This choice is unknown or was sent already. Start again from your course.")
	} else if err != nil {
		return "", "", fmt.Errorf("lti deep link: %w", err)
	}
	var set deepLinkSettings
	if err := json.Unmarshal([]byte(st.Data), &set); err != nil {
		return "", "", fmt.Errorf("lti deep link: settings: %w", err)
	}
	if !set.AcceptMultiple && len(items) > 1 {
		return "", "", faultline.Errorf(faultline.EINVALID, "Your course accepts one item here; pick one.")
	}
	p, err := s.st.FindLTIPlatform(ctx, set.PlatformID)
	if err != nil {
		return "", "", err
	}
	launch := ToolURLs(s.cfg.BaseURL).Launch
	var out []map[string]any
	for _, it := range items {
		switch it.Kind {
		case "lab":
			l, err := s.cfg.Lab(it.Slug)
			if err != nil {
				return "", "", faultline.Errorf(faultline.EINVALID, "There is no lab %q.", it.Slug)
			}
			out = append(out, map[string]any{
				"type": "ltiResourceLink", "title": l.Title, "text": l.Summary, "url": launch,
				"custom":   map[string]string{"lab": l.Slug},
				"lineItem": map[string]any{"scoreMaximum": l.MaxScore(), "label": l.Title, "resourceId": "lab:" + l.Slug, "tag": "faultline"},
			})
		case "lesson":
			les, ok := s.cfg.Lesson(it.Slug)
			if !ok {
				return "", "", faultline.Errorf(faultline.EINVALID, "There is no lesson %q.", it.Slug)
			}
			out = append(out, map[string]any{
				"type": "ltiResourceLink", "title": les.Title, "text": les.Summary, "url": launch,
				"custom": map[string]string{"lesson": les.Slug},
			})
		default:
			return "", "", faultline.Errorf(faultline.EINVALID, "Unknown kind of item %q.", it.Kind)
		}
	}
	now := s.cfg.Now()
	cl := map[string]any{
		"iss": p.ClientID, "aud": p.Issuer, "iat": now.Unix(), "exp": now.Add(5 * time.Minute).Unix(),
		"nonce": randomString(24), "azp": p.ClientID,
		ClaimMessageType: MessageDeepLinkingResp, ClaimVersion: "1.3.0", ClaimDeploymentID: set.DeploymentID,
		ClaimDLItems: out,
	}
	if set.Data != "" {
		cl[ClaimDLData] = set.Data
	}
	raw, err := s.sign(ctx, cl)
	if err != nil {
		return "", "", err
	}
	s.log.InfoContext(ctx, "lti deep link response", "platform", p.ID, "user", viewer.ID, "items", len(out))
	return set.ReturnURL, raw, nil
}
