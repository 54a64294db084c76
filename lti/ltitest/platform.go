// Package ltitest runs an LTI 1.3 platform (an LMS) over real HTTP for
// tests. It starts launches the way an LMS does (third-party login
// initiation, then an id_token posted back through the browser), answers
// the LTI Advantage services (an OAuth2 token endpoint taking JWT client
// assertions, Assignment and Grade Services line items and scores, Names
// and Role Provisioning with paging) and takes Deep Linking responses.
// Every message the tool sends is checked against the specifications; what
// fails is recorded as a violation for the test to report, and what the
// tool sent (scores, line items, deep-linked items) is kept to be read.
package ltitest

import (
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"html"
	"io"
	"mime"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
)

const (
	roleLearner    = "http://purl.imsglobal.org/vocab/lis/v2/membership#Learner"
	roleInstructor = "http://purl.imsglobal.org/vocab/lis/v2/membership#Instructor"
	scopeLineItem  = "https://purl.imsglobal.org/spec/lti-ags/scope/lineitem"
	scopeScore     = "https://purl.imsglobal.org/spec/lti-ags/scope/score"
	scopeResult    = "https://purl.imsglobal.org/spec/lti-ags/scope/result.readonly"
	scopeMembers   = "https://purl.imsglobal.org/spec/lti-nrps/scope/contextmembership.readonly"
)

// Person is someone enrolled in the platform's course.
type Person struct {
	Sub        string
	Name       string
	Email      string
	Instructor bool
	Status     string // roster status: "" or "Active", "Inactive", "Deleted"
}

// Link is a resource link placed in the course (by deep linking or by hand).
type Link struct {
	ID         string
	Title      string
	Custom     map[string]string
	LineItemID string // the line item coupled to it, "" if none
}

// LineItem is a gradebook column.
type LineItem struct {
	ID             string // its URL
	Label          string
	ScoreMaximum   float64
	ResourceID     string
	ResourceLinkID string
	Tag            string
	Scores         []Score
}

// Score is one score the tool posted.
type Score struct {
	UserID           string
	ScoreGiven       float64
	ScoreMaximum     float64
	ActivityProgress string
	GradingProgress  string
	Timestamp        time.Time
}

// Launch is a token about to be signed; Tamper may change it.
type Launch struct {
	Claims map[string]any
	Key    *rsa.PrivateKey
	KeyID  string
}

// Platform is a running LMS.
type Platform struct {
	URL          string // the issuer
	ClientID     string
	DeploymentID string
	CourseID     string
	CourseTitle  string

	// The tool's addresses; set them before the first launch.
	ToolLogin, ToolLaunch, ToolJWKS string

	srv *httptest.Server
	key *rsa.PrivateKey
	kid string

	mu          sync.Mutex
	people      map[string]Person
	links       map[string]*Link
	lineItems   map[string]*LineItem
	launches    map[string]launchSpec // by login_hint
	tokens      map[string][]string   // access token → scopes
	jtis        map[string]bool
	tamper      func(*Launch)
	violations  []string
	deepLinks   int
	scorePosts  int
	issuedNonce map[string]bool
	failScores  []int
	PageSize    int // roster page size (default 2)
}

type launchSpec struct {
	user, link string
	deep       bool
	hint       string
}

// Start runs a platform with one course until the test ends.
func Start(tb testing.TB) *Platform {
	tb.Helper()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		tb.Fatal(err)
	}
	p := &Platform{ClientID: "faultline-tool", DeploymentID: "dep-1", CourseID: "course-42", CourseTitle: "Distributed Systems 101",
		key: key, kid: "platform-key-1", people: map[string]Person{}, links: map[string]*Link{}, lineItems: map[string]*LineItem{},
		launches: map[string]launchSpec{}, tokens: map[string][]string{}, jtis: map[string]bool{}, issuedNonce: map[string]bool{}, PageSize: 2}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /launch", p.startLaunch)
	mux.HandleFunc("GET /auth", p.auth)
	mux.HandleFunc("POST /auth", p.auth)
	mux.HandleFunc("GET /jwks", p.jwks)
	mux.HandleFunc("POST /token", p.token)
	mux.HandleFunc("POST /deep-link-return", p.deepLinkReturn)
	mux.HandleFunc("GET /courses/{course}/lineitems", p.listLineItems)
	mux.HandleFunc("POST /courses/{course}/lineitems", p.createLineItem)
	mux.HandleFunc("POST /lineitems/{id}/scores", p.postScore)
	mux.HandleFunc("GET /courses/{course}/memberships", p.memberships)
	p.srv = httptest.NewServer(mux)
	p.URL = p.srv.URL
	tb.Cleanup(p.srv.Close)
	return p
}

// UseHost makes the platform call itself by another name for the same
// loopback address (e.g. "localhost", to be the same site as a tool
// there); the issuer and every URL change with it. Call it before use.
func (p *Platform) UseHost(host string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	u, _ := url.Parse(p.srv.URL)
	p.URL = "http://" + host + ":" + u.Port()
}

// AuthURL, TokenURL and JWKSURL are what an admin registers in the tool.
func (p *Platform) AuthURL() string  { return p.URL + "/auth" }
func (p *Platform) TokenURL() string { return p.URL + "/token" }
func (p *Platform) JWKSURL() string  { return p.URL + "/jwks" }

// Enroll adds people to the course.
func (p *Platform) Enroll(people ...Person) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, x := range people {
		p.people[x.Sub] = x
	}
}

// AddLink places a resource link in the course by hand.
func (p *Platform) AddLink(l Link) {
	p.mu.Lock()
	defer p.mu.Unlock()
	c := l
	p.links[l.ID] = &c
}

// Links returns the course's resource links.
func (p *Platform) Links() []Link {
	p.mu.Lock()
	defer p.mu.Unlock()
	var out []Link
	for _, l := range p.links {
		out = append(out, *l)
	}
	slices.SortFunc(out, func(a, b Link) int { return strings.Compare(a.ID, b.ID) })
	return out
}

// LineItems returns the gradebook columns with their scores.
func (p *Platform) LineItems() []LineItem {
	p.mu.Lock()
	defer p.mu.Unlock()
	var out []LineItem
	for _, li := range p.lineItems {
		c := *li
		c.Scores = append([]Score(nil), li.Scores...)
		out = append(out, c)
	}
	slices.SortFunc(out, func(a, b LineItem) int { return strings.Compare(a.ID, b.ID) })
	return out
}

// Tamper changes the next launches' id_tokens before they are signed.
func (p *Platform) Tamper(f func(*Launch)) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.tamper = f
}

// Violations are the protocol errors the tool made.
func (p *Platform) Violations() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]string(nil), p.violations...)
}

// FailScores makes the next score posts answer with these statuses (a
// platform that is down or refuses), one per post.
func (p *Platform) FailScores(statuses ...int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.failScores = append(p.failScores, statuses...)
}

// ScorePosts counts scores accepted.
func (p *Platform) ScorePosts() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.scorePosts
}

func (p *Platform) violate(w http.ResponseWriter, status int, format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	p.violations = append(p.violations, msg)
	http.Error(w, msg, status)
}

func random() string {
	b := make([]byte, 18)
	rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

// LaunchURL is the course page a person clicks to open a link (or, with
// deep set, to add content through deep linking).
func (p *Platform) LaunchURL(user, link string, deep bool) string {
	v := url.Values{"user": {user}, "link": {link}}
	if deep {
		v.Set("deep", "1")
	}
	return p.URL + "/launch?" + v.Encode()
}

// startLaunch begins the third-party login: the browser goes to the tool's
// login initiation URL with the platform's issuer and hints.
func (p *Platform) startLaunch(w http.ResponseWriter, r *http.Request) {
	p.mu.Lock()
	defer p.mu.Unlock()
	q := r.URL.Query()
	if _, ok := p.people[q.Get("user")]; !ok {
		http.Error(w, "no such person in the course", 404)
		return
	}
	spec := launchSpec{user: q.Get("user"), link: q.Get("link"), deep: q.Get("deep") == "1", hint: random()}
	hint := random()
	p.launches[hint] = spec
	v := url.Values{
		"iss": {p.URL}, "login_hint": {hint}, "target_link_uri": {p.ToolLaunch},
		"lti_message_hint": {spec.hint}, "client_id": {p.ClientID}, "lti_deployment_id": {p.DeploymentID},
	}
	http.Redirect(w, r, p.ToolLogin+"?"+v.Encode(), http.StatusFound)
}

// auth is the platform's OIDC authentication endpoint: it checks the
// tool's authentication request and posts a signed id_token back through
// the browser.
func (p *Platform) auth(w http.ResponseWriter, r *http.Request) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if err := r.ParseForm(); err != nil {
		p.violate(w, 400, "auth: unreadable request")
		return
	}
	q := r.Form
	spec, ok := p.launches[q.Get("login_hint")]
	switch {
	case q.Get("scope") != "openid":
		p.violate(w, 400, "auth: scope %q, want openid", q.Get("scope"))
	case q.Get("response_type") != "id_token":
		p.violate(w, 400, "auth: response_type %q, want id_token", q.Get("response_type"))
	case q.Get("response_mode") != "form_post":
		p.violate(w, 400, "auth: response_mode %q, want form_post", q.Get("response_mode"))
	case q.Get("prompt") != "none":
		p.violate(w, 400, "auth: prompt %q, want none", q.Get("prompt"))
	case q.Get("client_id") != p.ClientID:
		p.violate(w, 400, "auth: client_id %q", q.Get("client_id"))
	case q.Get("redirect_uri") != p.ToolLaunch:
		p.violate(w, 400, "auth: redirect_uri %q is not the registered %q", q.Get("redirect_uri"), p.ToolLaunch)
	case !ok:
		p.violate(w, 400, "auth: login_hint %q was not issued by this platform", q.Get("login_hint"))
	case q.Get("lti_message_hint") != spec.hint:
		p.violate(w, 400, "auth: lti_message_hint not echoed")
	case len(q.Get("state")) < 16 || len(q.Get("nonce")) < 16:
		p.violate(w, 400, "auth: state or nonce missing or guessable")
	case p.issuedNonce[q.Get("nonce")]:
		p.violate(w, 400, "auth: the tool reused a nonce")
	default:
		delete(p.launches, q.Get("login_hint"))
		p.issuedNonce[q.Get("nonce")] = true
		l := &Launch{Claims: p.claims(spec, q.Get("nonce")), Key: p.key, KeyID: p.kid}
		if p.tamper != nil {
			p.tamper(l)
		}
		raw, err := sign(l.Key, l.KeyID, l.Claims)
		if err != nil {
			http.Error(w, err.Error(), 500)
			return
		}
		writeAutoPost(w, q.Get("redirect_uri"), map[string]string{"id_token": raw, "state": q.Get("state")})
	}
}

// claims builds the id_token of a launch.
func (p *Platform) claims(spec launchSpec, nonce string) map[string]any {
	who := p.people[spec.user]
	role := roleLearner
	if who.Instructor {
		role = roleInstructor
	}
	now := time.Now()
	c := map[string]any{
		"iss": p.URL, "sub": who.Sub, "aud": p.ClientID, "azp": p.ClientID,
		"iat": now.Unix(), "exp": now.Add(5 * time.Minute).Unix(), "nonce": nonce,
		"name": who.Name, "email": who.Email,
		"https://purl.imsglobal.org/spec/lti/claim/version":         "1.3.0",
		"https://purl.imsglobal.org/spec/lti/claim/deployment_id":   p.DeploymentID,
		"https://purl.imsglobal.org/spec/lti/claim/target_link_uri": p.ToolLaunch,
		"https://purl.imsglobal.org/spec/lti/claim/roles":           []string{role},
		"https://purl.imsglobal.org/spec/lti/claim/context":         map[string]any{"id": p.CourseID, "label": "DS101", "title": p.CourseTitle},
		"https://purl.imsglobal.org/spec/lti-nrps/claim/namesroleservice": map[string]any{
			"context_memberships_url": p.URL + "/courses/" + p.CourseID + "/memberships", "service_versions": []string{"2.0"},
		},
	}
	ags := map[string]any{"scope": []string{scopeLineItem, scopeResult, scopeScore}, "lineitems": p.URL + "/courses/" + p.CourseID + "/lineitems"}
	if spec.deep {
		c["https://purl.imsglobal.org/spec/lti/claim/message_type"] = "LtiDeepLinkingRequest"
		c["https://purl.imsglobal.org/spec/lti-dl/claim/deep_linking_settings"] = map[string]any{
			"deep_link_return_url": p.URL + "/deep-link-return", "accept_types": []string{"ltiResourceLink"},
			"accept_presentation_document_targets": []string{"window"}, "accept_multiple": true, "data": "platform-opaque-" + spec.hint,
		}
	} else {
		c["https://purl.imsglobal.org/spec/lti/claim/message_type"] = "LtiResourceLinkRequest"
		l := p.links[spec.link]
		if l != nil {
			c["https://purl.imsglobal.org/spec/lti/claim/resource_link"] = map[string]any{"id": l.ID, "title": l.Title}
			if len(l.Custom) > 0 {
				c["https://purl.imsglobal.org/spec/lti/claim/custom"] = l.Custom
			}
			if l.LineItemID != "" {
				ags["lineitem"] = l.LineItemID
			}
		} else {
			c["https://purl.imsglobal.org/spec/lti/claim/resource_link"] = map[string]any{"id": spec.link}
		}
	}
	c["https://purl.imsglobal.org/spec/lti-ags/claim/endpoint"] = ags
	return c
}

func sign(key *rsa.PrivateKey, kid string, claims map[string]any) (string, error) {
	s, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.RS256, Key: jose.JSONWebKey{Key: key, KeyID: kid}}, (&jose.SignerOptions{}).WithType("JWT"))
	if err != nil {
		return "", err
	}
	return jwt.Signed(s).Claims(claims).Serialize()
}

// writeAutoPost answers with the page an LMS sends: a form that posts
// itself to the tool.
func writeAutoPost(w http.ResponseWriter, action string, fields map[string]string) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	var b strings.Builder
	b.WriteString(`<!DOCTYPE html><html><body onload="document.forms[0].submit()"><form method="post" action="` + html.EscapeString(action) + `">`)
	keys := make([]string, 0, len(fields))
	for k := range fields {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		b.WriteString(`<input type="hidden" name="` + html.EscapeString(k) + `" value="` + html.EscapeString(fields[k]) + `">`)
	}
	b.WriteString(`<noscript><button type="submit">Continue</button></noscript></form></body></html>`)
	io.WriteString(w, b.String())
}

func (p *Platform) jwks(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: &p.key.PublicKey, KeyID: p.kid, Algorithm: "RS256", Use: "sig"}}})
}

// toolKeys fetches the tool's published keys over HTTP.
func (p *Platform) toolKeys() (*jose.JSONWebKeySet, error) {
	res, err := http.Get(p.ToolJWKS)
	if err != nil {
		return nil, err
	}
	defer res.Body.Close()
	if res.StatusCode != 200 || !strings.HasPrefix(res.Header.Get("Content-Type"), "application/json") {
		return nil, fmt.Errorf("tool JWKS: status %d, content type %q", res.StatusCode, res.Header.Get("Content-Type"))
	}
	var set jose.JSONWebKeySet
	if err := json.NewDecoder(res.Body).Decode(&set); err != nil {
		return nil, err
	}
	return &set, nil
}

// verifyToolJWT checks a JWT the tool signed against its published keys.
func (p *Platform) verifyToolJWT(raw string, out any) error {
	tok, err := jwt.ParseSigned(raw, []jose.SignatureAlgorithm{jose.RS256})
	if err != nil {
		return fmt.Errorf("not an RS256 JWT: %w", err)
	}
	if len(tok.Headers) != 1 || tok.Headers[0].KeyID == "" {
		return fmt.Errorf("no kid in the JWT header")
	}
	set, err := p.toolKeys()
	if err != nil {
		return err
	}
	keys := set.Key(tok.Headers[0].KeyID)
	if len(keys) == 0 {
		return fmt.Errorf("kid %q is not in the tool's JWKS", tok.Headers[0].KeyID)
	}
	return tok.Claims(keys[0].Key, out)
}

// token is the OAuth2 token endpoint for the LTI Advantage services: the
// client-credentials grant with a JWT bearer client assertion.
func (p *Platform) token(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseForm(); err != nil {
		p.mu.Lock()
		p.violate(w, 400, "token: unreadable form")
		p.mu.Unlock()
		return
	}
	f := r.PostForm
	var cl jwt.Claims
	verr := p.verifyToolJWT(f.Get("client_assertion"), &cl)
	p.mu.Lock()
	defer p.mu.Unlock()
	scopes := strings.Fields(f.Get("scope"))
	switch {
	case f.Get("grant_type") != "client_credentials":
		p.violate(w, 400, "token: grant_type %q", f.Get("grant_type"))
	case f.Get("client_assertion_type") != "urn:ietf:params:oauth:client-assertion-type:jwt-bearer":
		p.violate(w, 400, "token: client_assertion_type %q", f.Get("client_assertion_type"))
	case verr != nil:
		p.violate(w, 401, "token: client assertion: %v", verr)
	case cl.Issuer != p.ClientID || cl.Subject != p.ClientID:
		p.violate(w, 401, "token: assertion iss %q sub %q, want the client id", cl.Issuer, cl.Subject)
	case !slices.Contains(cl.Audience, p.TokenURL()):
		p.violate(w, 401, "token: assertion audience %v lacks %s", cl.Audience, p.TokenURL())
	case cl.ValidateWithLeeway(jwt.Expected{Time: time.Now()}, time.Minute) != nil || cl.Expiry == nil || cl.IssuedAt == nil:
		p.violate(w, 401, "token: assertion expired or without exp/iat")
	case cl.ID == "" || p.jtis[cl.ID]:
		p.violate(w, 401, "token: assertion jti missing or replayed")
	case len(scopes) == 0:
		p.violate(w, 400, "token: no scope requested")
	default:
		for _, s := range scopes {
			if s != scopeLineItem && s != scopeScore && s != scopeResult && s != scopeMembers {
				p.violate(w, 400, "token: unknown scope %q", s)
				return
			}
		}
		p.jtis[cl.ID] = true
		at := random()
		p.tokens[at] = scopes
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(map[string]any{"access_token": at, "token_type": "Bearer", "expires_in": 3600, "scope": strings.Join(scopes, " ")})
	}
}

// bearer checks the request's access token carries scope.
func (p *Platform) bearer(w http.ResponseWriter, r *http.Request, scope string) bool {
	tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	scopes, known := p.tokens[tok]
	switch {
	case !ok || !known:
		p.violate(w, 401, "%s %s: no valid bearer token", r.Method, r.URL.Path)
		return false
	case !slices.Contains(scopes, scope):
		p.violate(w, 403, "%s %s: token lacks scope %s", r.Method, r.URL.Path, scope)
		return false
	}
	return true
}

func mediaType(h string) string {
	mt, _, _ := mime.ParseMediaType(h)
	return mt
}

func (p *Platform) listLineItems(w http.ResponseWriter, r *http.Request) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.bearer(w, r, scopeLineItem) {
		return
	}
	if r.PathValue("course") != p.CourseID {
		p.violate(w, 404, "lineitems: unknown course %q", r.PathValue("course"))
		return
	}
	if a := r.Header.Get("Accept"); !strings.Contains(a, "application/vnd.ims.lis.v2.lineitemcontainer+json") {
		p.violate(w, 406, "lineitems: Accept %q", a)
		return
	}
	q := r.URL.Query()
	out := []map[string]any{}
	for _, li := range p.lineItems {
		if v := q.Get("resource_link_id"); v != "" && li.ResourceLinkID != v {
			continue
		}
		if v := q.Get("resource_id"); v != "" && li.ResourceID != v {
			continue
		}
		out = append(out, map[string]any{"id": li.ID, "label": li.Label, "scoreMaximum": li.ScoreMaximum,
			"resourceId": li.ResourceID, "resourceLinkId": li.ResourceLinkID, "tag": li.Tag})
	}
	w.Header().Set("Content-Type", "application/vnd.ims.lis.v2.lineitemcontainer+json")
	json.NewEncoder(w).Encode(out)
}

func (p *Platform) newLineItem(li LineItem) *LineItem {
	li.ID = p.URL + "/lineitems/" + strconv.Itoa(len(p.lineItems)+1)
	c := li
	p.lineItems[c.ID] = &c
	return &c
}

func (p *Platform) createLineItem(w http.ResponseWriter, r *http.Request) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.bearer(w, r, scopeLineItem) {
		return
	}
	if mt := mediaType(r.Header.Get("Content-Type")); mt != "application/vnd.ims.lis.v2.lineitem+json" {
		p.violate(w, 415, "create line item: Content-Type %q", mt)
		return
	}
	var li LineItem
	if err := json.NewDecoder(r.Body).Decode(&li); err != nil || li.Label == "" || li.ScoreMaximum <= 0 {
		p.violate(w, 400, "create line item: needs a label and a positive scoreMaximum (%v)", err)
		return
	}
	if li.ResourceLinkID != "" && p.links[li.ResourceLinkID] == nil {
		p.violate(w, 400, "create line item: unknown resourceLinkId %q", li.ResourceLinkID)
		return
	}
	c := p.newLineItem(li)
	w.Header().Set("Content-Type", "application/vnd.ims.lis.v2.lineitem+json")
	w.WriteHeader(http.StatusCreated)
	json.NewEncoder(w).Encode(map[string]any{"id": c.ID, "label": c.Label, "scoreMaximum": c.ScoreMaximum,
		"resourceId": c.ResourceID, "resourceLinkId": c.ResourceLinkID, "tag": c.Tag})
}

func (p *Platform) postScore(w http.ResponseWriter, r *http.Request) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.bearer(w, r, scopeScore) {
		return
	}
	if len(p.failScores) > 0 {
		st := p.failScores[0]
		p.failScores = p.failScores[1:]
		http.Error(w, "the gradebook is unavailable", st)
		return
	}
	li := p.lineItems[p.URL+"/lineitems/"+r.PathValue("id")]
	if li == nil {
		p.violate(w, 404, "score: unknown line item %s", r.PathValue("id"))
		return
	}
	if mt := mediaType(r.Header.Get("Content-Type")); mt != "application/vnd.ims.lis.v1.score+json" {
		p.violate(w, 415, "score: Content-Type %q", mt)
		return
	}
	var s struct {
		UserID           string   `json:"userId"`
		ScoreGiven       *float64 `json:"scoreGiven"`
		ScoreMaximum     *float64 `json:"scoreMaximum"`
		ActivityProgress string   `json:"activityProgress"`
		GradingProgress  string   `json:"gradingProgress"`
		Timestamp        string   `json:"timestamp"`
	}
	if err := json.NewDecoder(r.Body).Decode(&s); err != nil {
		p.violate(w, 400, "score: unreadable: %v", err)
		return
	}
	ts, terr := time.Parse(time.RFC3339Nano, s.Timestamp)
	_, enrolled := p.people[s.UserID]
	switch {
	case !enrolled:
		p.violate(w, 400, "score: userId %q is not in the course", s.UserID)
	case s.ScoreGiven == nil || s.ScoreMaximum == nil || *s.ScoreMaximum <= 0 || *s.ScoreGiven < 0:
		p.violate(w, 400, "score: scoreGiven and a positive scoreMaximum are required")
	case !slices.Contains([]string{"Initialized", "Started", "InProgress", "Submitted", "Completed"}, s.ActivityProgress):
		p.violate(w, 400, "score: activityProgress %q", s.ActivityProgress)
	case !slices.Contains([]string{"FullyGraded", "Pending", "PendingManual", "Failed", "NotReady"}, s.GradingProgress):
		p.violate(w, 400, "score: gradingProgress %q", s.GradingProgress)
	case terr != nil:
		p.violate(w, 400, "score: timestamp %q is not RFC 3339", s.Timestamp)
	default:
		for _, old := range li.Scores {
			if old.UserID == s.UserID && !ts.After(old.Timestamp) && !ts.Equal(old.Timestamp) {
				// An older score than one held: ignored, as the spec says.
				w.WriteHeader(http.StatusOK)
				return
			}
		}
		li.Scores = append(li.Scores, Score{UserID: s.UserID, ScoreGiven: *s.ScoreGiven, ScoreMaximum: *s.ScoreMaximum,
			ActivityProgress: s.ActivityProgress, GradingProgress: s.GradingProgress, Timestamp: ts})
		p.scorePosts++
		w.WriteHeader(http.StatusOK)
	}
}

// memberships is the NRPS context membership service, paged by PageSize
// with Link rel="next".
func (p *Platform) memberships(w http.ResponseWriter, r *http.Request) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.bearer(w, r, scopeMembers) {
		return
	}
	if a := r.Header.Get("Accept"); !strings.Contains(a, "application/vnd.ims.lti-nrps.v2.membershipcontainer+json") {
		p.violate(w, 406, "memberships: Accept %q", a)
		return
	}
	var subs []string
	for s := range p.people {
		subs = append(subs, s)
	}
	slices.Sort(subs)
	from, _ := strconv.Atoi(r.URL.Query().Get("from"))
	to := min(from+p.PageSize, len(subs))
	members := []map[string]any{}
	for _, s := range subs[from:to] {
		x := p.people[s]
		role := roleLearner
		if x.Instructor {
			role = roleInstructor
		}
		status := x.Status
		if status == "" {
			status = "Active"
		}
		members = append(members, map[string]any{"status": status, "name": x.Name, "email": x.Email, "user_id": x.Sub, "roles": []string{role}})
	}
	if to < len(subs) {
		w.Header().Set("Link", fmt.Sprintf(`<%s/courses/%s/memberships?from=%d>; rel="next"`, p.URL, p.CourseID, to))
	}
	w.Header().Set("Content-Type", "application/vnd.ims.lti-nrps.v2.membershipcontainer+json")
	json.NewEncoder(w).Encode(map[string]any{"id": r.URL.String(), "context": map[string]any{"id": p.CourseID, "title": p.CourseTitle}, "members": members})
}

// deepLinkReturn takes the tool's signed LtiDeepLinkingResponse and places
// its items in the course (with their line items).
func (p *Platform) deepLinkReturn(w http.ResponseWriter, r *http.Request) {
	raw := r.FormValue("JWT")
	var std jwt.Claims
	var body map[string]any
	err := p.verifyToolJWT(raw, &std)
	if err == nil {
		err = p.verifyToolJWT(raw, &body)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if err != nil {
		p.violate(w, 401, "deep link response: %v", err)
		return
	}
	items, _ := body["https://purl.imsglobal.org/spec/lti-dl/claim/content_items"].([]any)
	data, _ := body["https://purl.imsglobal.org/spec/lti-dl/claim/data"].(string)
	switch {
	case std.Issuer != p.ClientID:
		p.violate(w, 400, "deep link response: iss %q, want the client id", std.Issuer)
	case !slices.Contains(std.Audience, p.URL):
		p.violate(w, 400, "deep link response: aud %v lacks the platform issuer", std.Audience)
	case std.ValidateWithLeeway(jwt.Expected{Time: time.Now()}, time.Minute) != nil || std.Expiry == nil:
		p.violate(w, 400, "deep link response: expired or without exp")
	case body["nonce"] == nil || body["nonce"] == "":
		p.violate(w, 400, "deep link response: no nonce")
	case body["https://purl.imsglobal.org/spec/lti/claim/message_type"] != "LtiDeepLinkingResponse":
		p.violate(w, 400, "deep link response: message_type %v", body["https://purl.imsglobal.org/spec/lti/claim/message_type"])
	case body["https://purl.imsglobal.org/spec/lti/claim/version"] != "1.3.0":
		p.violate(w, 400, "deep link response: version %v", body["https://purl.imsglobal.org/spec/lti/claim/version"])
	case body["https://purl.imsglobal.org/spec/lti/claim/deployment_id"] != p.DeploymentID:
		p.violate(w, 400, "deep link response: deployment_id %v", body["https://purl.imsglobal.org/spec/lti/claim/deployment_id"])
	case !strings.HasPrefix(data, "platform-opaque-"):
		p.violate(w, 400, "deep link response: data %q not echoed", data)
	case len(items) == 0:
		p.violate(w, 400, "deep link response: no content items")
	default:
		for _, it := range items {
			m, _ := it.(map[string]any)
			if m["type"] != "ltiResourceLink" || m["url"] != p.ToolLaunch {
				p.violate(w, 400, "deep link response: item %v is not an ltiResourceLink to the tool's launch URL", m)
				return
			}
			l := &Link{ID: "link-" + strconv.Itoa(len(p.links)+1), Title: fmt.Sprint(m["title"]), Custom: map[string]string{}}
			if c, ok := m["custom"].(map[string]any); ok {
				for k, v := range c {
					l.Custom[k] = fmt.Sprint(v)
				}
			}
			if li, ok := m["lineItem"].(map[string]any); ok {
				max, _ := li["scoreMaximum"].(float64)
				if max <= 0 {
					p.violate(w, 400, "deep link response: lineItem without a positive scoreMaximum")
					return
				}
				c := p.newLineItem(LineItem{Label: fmt.Sprint(li["label"]), ScoreMaximum: max, ResourceID: fmt.Sprint(li["resourceId"]),
					ResourceLinkID: l.ID, Tag: fmt.Sprint(li["tag"])})
				l.LineItemID = c.ID
			}
			p.links[l.ID] = l
		}
		p.deepLinks++
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		fmt.Fprintf(w, `<!DOCTYPE html><html><body><p data-testid="lms-deep-linked">Added %d items to %s.</p></body></html>`, len(items), html.EscapeString(p.CourseTitle))
	}
}
