package lti

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"

	"github.com/faultline-dev/faultline"
)

// Media types of the LTI Advantage services.
const (
	mediaScore      = "application/vnd.ims.lis.v1.score+json"
	mediaLineItem   = "application/vnd.ims.lis.v2.lineitem+json"
	mediaLineItems  = "application/vnd.ims.lis.v2.lineitemcontainer+json"
	mediaMembership = "application/vnd.ims.lti-nrps.v2.membershipcontainer+json"
)

type cachedToken struct {
	token   string
	expires time.Time
}

// accessToken returns a bearer token for the platform's services with the
// scopes, from the client-credentials grant with a JWT assertion signed by
// the tool's key (LTI Security Framework §4.1). Tokens are kept until a
// minute before they expire.
func (s *Service) accessToken(ctx context.Context, p *faultline.LTIPlatform, scopes ...string) (string, error) {
	if p.TokenURL == "" {
		return "", faultline.Errorf(faultline.EINVALID, "The platform %s has no access token URL registered.", p.Name)
	}
	slices.Sort(scopes)
	key := fmt.Sprintf("%d %s", p.ID, strings.Join(scopes, " "))
	s.mu.Lock()
	if t, ok := s.tokens[key]; ok && s.cfg.Now().Before(t.expires) {
		s.mu.Unlock()
		return t.token, nil
	}
	s.mu.Unlock()
	now := s.cfg.Now()
	assertion, err := s.sign(ctx, map[string]any{
		"iss": p.ClientID, "sub": p.ClientID, "aud": p.TokenURL,
		"iat": now.Unix(), "exp": now.Add(5 * time.Minute).Unix(), "jti": randomString(24),
	})
	if err != nil {
		return "", err
	}
	cc := clientcredentials.Config{
		TokenURL: p.TokenURL, Scopes: scopes, AuthStyle: oauth2.AuthStyleInParams,
		EndpointParams: url.Values{
			"client_assertion_type": {"urn:ietf:params:oauth:client-assertion-type:jwt-bearer"},
			"client_assertion":      {assertion},
		},
	}
	tok, err := cc.Token(context.WithValue(ctx, oauth2.HTTPClient, s.cfg.HTTPClient))
	if err != nil {
		var re *oauth2.RetrieveError
		if errors.As(err, &re) {
			return "", fmt.Errorf("lti: %s refused an access token (%d %s)", p.Name, re.Response.StatusCode, re.ErrorCode)
		}
		return "", fmt.Errorf("lti: access token from %s: %w", p.Name, err)
	}
	exp := tok.Expiry
	if exp.IsZero() {
		exp = now.Add(time.Hour)
	}
	s.mu.Lock()
	s.tokens[key] = cachedToken{token: tok.AccessToken, expires: exp.Add(-time.Minute)}
	s.mu.Unlock()
	return tok.AccessToken, nil
}

// httpError is a service call the platform answered with an error status.
type httpError struct {
	status int
	body   string
}

func (e *httpError) Error() string { return fmt.Sprintf("status %d: %s", e.status, e.body) }

// permanent reports whether retrying cannot help (a 4xx other than 401,
// 408 and 429).
func permanent(err error) bool {
	var he *httpError
	return errors.As(err, &he) && he.status >= 400 && he.status < 500 && he.status != 401 && he.status != 408 && he.status != 429
}

// call makes one service request with the bearer token and decodes a JSON
// answer into out (if not nil); it returns the response headers.
func (s *Service) call(ctx context.Context, token, method, u, contentType, accept string, body any, out any) (http.Header, error) {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return nil, err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, u, rd)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Authorization", "Bearer "+token)
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	if accept != "" {
		req.Header.Set("Accept", accept)
	}
	res, err := s.cfg.HTTPClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(res.Body, 4<<20))
	if res.StatusCode < 200 || res.StatusCode > 299 {
		msg := strings.TrimSpace(string(b))
		if len(msg) > 200 {
			msg = msg[:200]
		}
		if res.StatusCode == http.StatusUnauthorized {
			s.forgetTokens()
		}
		return nil, &httpError{status: res.StatusCode, body: msg}
	}
	if out != nil && len(b) > 0 {
		if err := json.Unmarshal(b, out); err != nil {
			return nil, fmt.Errorf("decode %s: %w", u, err)
		}
	}
	return res.Header, nil
}

func (s *Service) forgetTokens() {
	s.mu.Lock()
	defer s.mu.Unlock()
	clear(s.tokens)
}

// withPath adds a path segment to a service URL, keeping its query
// (a line item's scores live at <lineitem>/scores).
func withPath(raw, seg string) (string, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return "", err
	}
	u.Path = strings.TrimRight(u.Path, "/") + "/" + seg
	return u.String(), nil
}

// lineItem finds the line item of the link's lab in the course's
// container, or creates it.
func (s *Service) lineItem(ctx context.Context, p *faultline.LTIPlatform, t *faultline.LTIGradeTarget, max int) (string, error) {
	if t.LineItemsURL == "" {
		return "", &httpError{status: 400, body: "the platform offers no line items for this course"}
	}
	token, err := s.accessToken(ctx, p, ScopeLineItem, ScopeScore)
	if err != nil {
		return "", err
	}
	u, err := url.Parse(t.LineItemsURL)
	if err != nil {
		return "", err
	}
	q := u.Query()
	q.Set("resource_link_id", t.ResourceLinkID)
	q.Set("resource_id", "lab:"+t.Lab)
	u.RawQuery = q.Encode()
	var items []struct {
		ID             string `json:"id"`
		ResourceID     string `json:"resourceId"`
		ResourceLinkID string `json:"resourceLinkId"`
	}
	if _, err := s.call(ctx, token, http.MethodGet, u.String(), "", mediaLineItems, nil, &items); err != nil {
		return "", fmt.Errorf("list line items: %w", err)
	}
	for _, it := range items {
		if it.ResourceID == "lab:"+t.Lab && (it.ResourceLinkID == "" || it.ResourceLinkID == t.ResourceLinkID) && it.ID != "" {
			return it.ID, nil
		}
	}
	title := t.Lab
	if l, err := s.cfg.Lab(t.Lab); err == nil {
		title = l.Title
	}
	var created struct {
		ID string `json:"id"`
	}
	body := map[string]any{"scoreMaximum": max, "label": title, "resourceId": "lab:" + t.Lab, "resourceLinkId": t.ResourceLinkID, "tag": "faultline"}
	if _, err := s.call(ctx, token, http.MethodPost, t.LineItemsURL, mediaLineItem, mediaLineItem, body, &created); err != nil {
		return "", fmt.Errorf("create line item: %w", err)
	}
	if created.ID == "" {
		return "", fmt.Errorf("create line item: the platform returned no id")
	}
	return created.ID, nil
}

// sendScore posts one score to its line item (finding or creating the
// line item first if the launch named none).
func (s *Service) sendScore(ctx context.Context, j *faultline.LTIScoreJob) error {
	p, err := s.st.FindLTIPlatform(ctx, j.Target.PlatformID)
	if err != nil {
		return err
	}
	t := j.Target
	if t.LineItemURL == "" {
		li, err := s.lineItem(ctx, p, &t, j.MaxScore)
		if err != nil {
			return err
		}
		if err := s.st.SetLTILineItem(ctx, t.PlatformID, t.ContextID, t.ResourceLinkID, t.Lab, li); err != nil {
			return err
		}
		t.LineItemURL = li
	}
	token, err := s.accessToken(ctx, p, ScopeLineItem, ScopeScore)
	if err != nil {
		return err
	}
	u, err := withPath(t.LineItemURL, "scores")
	if err != nil {
		return err
	}
	score := map[string]any{
		"userId": t.Subject, "scoreGiven": j.Score, "scoreMaximum": j.MaxScore,
		"activityProgress": "Completed", "gradingProgress": "FullyGraded",
		"timestamp": j.UpdatedAt.UTC().Format("2006-01-02T15:04:05.000Z07:00"),
	}
	if _, err := s.call(ctx, token, http.MethodPost, u, mediaScore, "", score, nil); err != nil {
		return fmt.Errorf("post score: %w", err)
	}
	return nil
}

// queueScore queues the score the learner holds now for the target; no
// graded submission means nothing to send.
func (s *Service) queueScore(ctx context.Context, t *faultline.LTIGradeTarget) error {
	score, max, err := s.cfg.Scores.HeldScore(ctx, t.UserID, t.Lab)
	if faultline.ErrorCode(err) == faultline.ENOTFOUND {
		return nil
	} else if err != nil {
		return err
	}
	if err := s.st.EnqueueLTIScore(ctx, &faultline.LTIScoreJob{Target: *t, Score: score, MaxScore: max}); err != nil {
		return err
	}
	s.Kick()
	return nil
}

// Kick wakes the passback loop.
func (s *Service) Kick() {
	select {
	case s.kick <- struct{}{}:
	default:
	}
}

// PassbackOptions tune RunPassback.
type PassbackOptions struct {
	Worker      string
	Poll        time.Duration // how often new results are looked for (default 3s)
	Lease       time.Duration // default 1m
	MaxAttempts int           // default 10
	Backoff     time.Duration // first retry wait, doubling (default 30s, at most 1h)
}

func (o *PassbackOptions) defaults() {
	if o.Worker == "" {
		o.Worker = "lti-" + randomString(6)
	}
	if o.Poll <= 0 {
		o.Poll = 3 * time.Second
	}
	if o.Lease <= 0 {
		o.Lease = time.Minute
	}
	if o.MaxAttempts <= 0 {
		o.MaxAttempts = 10
	}
	if o.Backoff <= 0 {
		o.Backoff = 30 * time.Second
	}
}

// cursorName is the passback's cursor over the results table;
// settingsCursor its cursor (unix nanoseconds) over cohort lab settings.
// changesCursor its cursor over score changes (adjustments, extensions).
const (
	cursorName     = "lti-passback"
	settingsCursor = "lti-settings"
	changesCursor  = "lti-score-changes"
)

// RunPassback follows the results table and sends scores until ctx ends.
func (s *Service) RunPassback(ctx context.Context, opt PassbackOptions) error {
	opt.defaults()
	t := time.NewTicker(opt.Poll)
	defer t.Stop()
	for {
		if err := s.PassbackOnce(ctx, opt); err != nil && ctx.Err() == nil {
			s.log.WarnContext(ctx, "lti passback", "err", err)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		case <-s.kick:
		}
	}
}

// PassbackOnce queues scores for the results stored since the last call
// and sends every due score once.
func (s *Service) PassbackOnce(ctx context.Context, opt PassbackOptions) error {
	opt.defaults()
	if err := s.follow(ctx); err != nil {
		return err
	}
	for ctx.Err() == nil {
		j, err := s.st.ClaimLTIScore(ctx, opt.Worker, opt.Lease)
		if faultline.ErrorCode(err) == faultline.ENOTFOUND {
			return nil
		} else if err != nil {
			return err
		}
		serr := s.sendScore(ctx, j)
		rec := context.WithoutCancel(ctx)
		switch {
		case serr == nil:
			if err := s.st.FinishLTIScore(rec, j.ID, opt.Worker, "", time.Time{}); err != nil {
				return err
			}
			s.log.InfoContext(ctx, "lti score sent", "user", j.Target.UserID, "lab", j.Target.Lab, "score", j.Score, "platform", j.Target.PlatformID)
		case permanent(serr) || j.Attempts >= opt.MaxAttempts:
			if err := s.st.FinishLTIScore(rec, j.ID, opt.Worker, serr.Error(), time.Time{}); err != nil {
				return err
			}
			s.log.WarnContext(ctx, "lti score given up", "user", j.Target.UserID, "lab", j.Target.Lab, "attempts", j.Attempts, "err", serr)
		default:
			wait := float64(opt.Backoff) * math.Pow(2, float64(j.Attempts-1))
			next := s.cfg.Now().Add(time.Duration(min(wait, float64(time.Hour))))
			if err := s.st.FinishLTIScore(rec, j.ID, opt.Worker, serr.Error(), next); err != nil {
				return err
			}
			s.log.WarnContext(ctx, "lti score not sent; will retry", "user", j.Target.UserID, "lab", j.Target.Lab, "retry_at", next, "err", serr)
		}
	}
	return nil
}

// follow queues the held score of every learner and lab with a new result,
// or whose cohort changed the lab's settings (a due date or late policy
// changes the score held), that has an LMS line item to go to. The cursors
// move only after the scores are queued (queueing twice replaces, so a
// crash between the two sends nothing twice). The first run starts now.
func (s *Service) follow(ctx context.Context) error {
	if err := s.followResults(ctx); err != nil {
		return err
	}
	if err := s.followScoreChanges(ctx); err != nil {
		return err
	}
	return s.followSettings(ctx)
}

// followScoreChanges queues the score held after each adjustment or
// extension change since the last call.
func (s *Service) followScoreChanges(ctx context.Context) error {
	after, err := s.st.EventCursor(ctx, changesCursor)
	if faultline.ErrorCode(err) == faultline.ENOTFOUND {
		latest, err := s.st.LatestScoreChangeID(ctx)
		if err != nil {
			return err
		}
		return s.st.SetEventCursor(ctx, changesCursor, latest)
	} else if err != nil {
		return err
	}
	for {
		cs, err := s.st.ScoreChanges(ctx, after, 500)
		if err != nil || len(cs) == 0 {
			return err
		}
		seen := map[string]bool{}
		for _, c := range cs {
			if err := s.queueLearner(ctx, c.UserID, c.Lab, seen); err != nil {
				return err
			}
		}
		after = cs[len(cs)-1].ID
		if err := s.st.SetEventCursor(ctx, changesCursor, after); err != nil {
			return err
		}
	}
}

// queueLearner queues the score the learner holds for lab for each of its
// grade targets, once per (learner, lab) in seen.
func (s *Service) queueLearner(ctx context.Context, userID int64, lab string, seen map[string]bool) error {
	k := fmt.Sprintf("%d/%s", userID, lab)
	if seen[k] {
		return nil
	}
	seen[k] = true
	ts, err := s.st.LTIGradeTargets(ctx, userID, lab)
	if err != nil {
		return err
	}
	for _, t := range ts {
		if err := s.queueScore(ctx, t); err != nil {
			return err
		}
	}
	return nil
}

func (s *Service) followSettings(ctx context.Context) error {
	ns, err := s.st.EventCursor(ctx, settingsCursor)
	if faultline.ErrorCode(err) == faultline.ENOTFOUND {
		return s.st.SetEventCursor(ctx, settingsCursor, s.cfg.Now().UnixNano())
	} else if err != nil {
		return err
	}
	since := time.Unix(0, ns).UTC()
	ts, newest, err := s.st.LTITargetsSettingsChanged(ctx, since)
	if err != nil || len(ts) == 0 {
		return err
	}
	for _, t := range ts {
		if err := s.queueScore(ctx, t); err != nil {
			return err
		}
	}
	return s.st.SetEventCursor(ctx, settingsCursor, newest.UnixNano())
}

func (s *Service) followResults(ctx context.Context) error {
	after, err := s.st.EventCursor(ctx, cursorName)
	if faultline.ErrorCode(err) == faultline.ENOTFOUND {
		latest, err := s.st.LatestResultID(ctx)
		if err != nil {
			return err
		}
		return s.st.SetEventCursor(ctx, cursorName, latest)
	} else if err != nil {
		return err
	}
	for {
		evs, err := s.st.GradeEvents(ctx, after, 500)
		if err != nil || len(evs) == 0 {
			return err
		}
		seen := map[string]bool{}
		for _, e := range evs {
			if err := s.queueLearner(ctx, e.UserID, e.Lab, seen); err != nil {
				return err
			}
		}
		after = evs[len(evs)-1].ResultID
		if err := s.st.SetEventCursor(ctx, cursorName, after); err != nil {
			return err
		}
	}
}

// ---- Names and Role Provisioning ----

type member struct {
	Status     string   `json:"status"`
	Name       string   `json:"name"`
	GivenName  string   `json:"given_name"`
	FamilyName string   `json:"family_name"`
	Email      string   `json:"email"`
	UserID     string   `json:"user_id"`
	Roles      []string `json:"roles"`
}

// SyncRoster reads the course roster from the platform into the cohort:
// active members get accounts (linked by their LTI user id) and their
// role; learners the platform lists as inactive or deleted leave the
// cohort (their work stays).
func (s *Service) SyncRoster(ctx context.Context, viewer *faultline.User, cohortID int64) (*faultline.LTIRosterReport, error) {
	if err := s.teaches(ctx, viewer, cohortID); err != nil {
		return nil, err
	}
	lc, err := s.st.FindLTIContextByCohort(ctx, cohortID)
	if err != nil {
		return nil, err
	}
	if lc.MembershipsURL == "" {
		return nil, faultline.Errorf(faultline.EINVALID, "The learning platform did not offer its roster for this course (no Names and Role Provisioning service).")
	}
	p, err := s.st.FindLTIPlatform(ctx, lc.PlatformID)
	if err != nil {
		return nil, err
	}
	token, err := s.accessToken(ctx, p, ScopeMembership)
	if err != nil {
		return nil, faultline.Errorf(faultline.EUNAVAILABLE, "%s did not give Faultline access to the roster: %v", p.Name, err)
	}
	rep := &faultline.LTIRosterReport{}
	next := lc.MembershipsURL
	for pages := 0; next != "" && pages < 100; pages++ {
		var page struct {
			Members []member `json:"members"`
		}
		h, err := s.call(ctx, token, http.MethodGet, next, "", mediaMembership, nil, &page)
		if err != nil {
			return nil, faultline.Errorf(faultline.EUNAVAILABLE, "%s did not return the roster: %v", p.Name, err)
		}
		for _, m := range page.Members {
			if err := s.syncMember(ctx, p, lc, m, rep); err != nil {
				return nil, err
			}
		}
		next = nextLink(h.Values("Link"))
	}
	if err := s.st.MarkLTISynced(ctx, p.ID, lc.ContextID); err != nil {
		return nil, err
	}
	s.log.InfoContext(ctx, "lti roster synced", "cohort", cohortID, "members", rep.Members, "created", rep.Created, "removed", rep.Removed)
	return rep, nil
}

func (s *Service) syncMember(ctx context.Context, p *faultline.LTIPlatform, lc *faultline.LTIContext, m member, rep *faultline.LTIRosterReport) error {
	if m.UserID == "" {
		rep.Warnings = append(rep.Warnings, "a member without a user id was skipped")
		return nil
	}
	status := m.Status
	if status == "" {
		status = "Active"
	}
	if status != "Active" {
		_, u, err := s.st.FindIdentity(ctx, faultline.IdentityLTI, p.Issuer, m.UserID)
		if faultline.ErrorCode(err) == faultline.ENOTFOUND {
			return nil
		} else if err != nil {
			return err
		}
		role, err := s.st.MemberRole(ctx, lc.CohortID, u.ID)
		if err == nil && role == faultline.MemberLearner {
			if err := s.st.RemoveMember(ctx, lc.CohortID, u.ID); err != nil {
				return err
			}
			rep.Removed++
		}
		return nil
	}
	rep.Members++
	_, _, err := s.st.FindIdentity(ctx, faultline.IdentityLTI, p.Issuer, m.UserID)
	created := faultline.ErrorCode(err) == faultline.ENOTFOUND
	name := strings.TrimSpace(m.Name)
	if name == "" {
		name = strings.TrimSpace(m.GivenName + " " + m.FamilyName)
	}
	u, err := s.account(ctx, p, m.UserID, m.Email, name)
	if err != nil {
		return err
	}
	if created {
		rep.Created++
	}
	role := contextRole(m.Roles)
	old, err := s.st.MemberRole(ctx, lc.CohortID, u.ID)
	if err != nil && faultline.ErrorCode(err) != faultline.ENOTFOUND {
		return err
	}
	if err != nil || old != role {
		if err := s.st.AddMember(ctx, lc.CohortID, u.ID, role); err != nil {
			return err
		}
		rep.Added++
	}
	return nil
}

// nextLink returns the rel="next" target of Link headers.
func nextLink(links []string) string {
	for _, h := range links {
		for _, part := range strings.Split(h, ",") {
			segs := strings.Split(part, ";")
			if len(segs) < 2 {
				continue
			}
			target := strings.Trim(strings.TrimSpace(segs[0]), "<>")
			for _, p := range segs[1:] {
				if strings.ReplaceAll(strings.TrimSpace(p), " ", "") == `rel="next"` {
					return target
				}
			}
		}
	}
	return ""
}
