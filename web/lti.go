package web

import (
	"crypto/subtle"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/go-chi/chi/v5"

	"github.com/faultline-dev/faultline"
	"github.com/faultline-dev/faultline/web/views"
)

// ltiCookie carries the state of an LTI launch between the login
// initiation and the launch, which the platform posts from its own site.
const ltiCookie = "faultline_lti"

// ltiRoutes are the LTI 1.3 tool's endpoints for platforms (open to
// visitors: they authenticate by the state cookie and the signed id_token)
// and the deep linking choice of a signed-in instructor.
func (s *Server) ltiRoutes(r chi.Router) {
	r.Get("/lti/login", s.h(s.serveLTILogin))
	r.Post("/lti/login", s.h(s.serveLTILogin))
	r.Post("/lti/launch", s.h(s.serveLTILaunch))
	r.Get("/lti/jwks", s.h(s.serveLTIJWKS))
}

func (s *Server) ltiUserRoutes(r chi.Router) {
	r.Post("/lti/deep-link", s.h(s.serveLTIDeepLink))
}

// ltiTeacherRoutes are behind requireTeacher: platform registration for
// admins, and a cohort's LMS link and roster sync for its teachers.
func (s *Server) ltiTeacherRoutes(r chi.Router) {
	r.Get("/admin/lti", s.h(s.serveLTIAdmin))
	r.Post("/admin/lti", s.h(s.serveLTIRegister))
	r.Post("/admin/lti/delete", s.h(s.serveLTIDelete))
	r.Get("/cohorts/{id}/lti", s.h(s.serveCohortLTI))
	r.Post("/cohorts/{id}/lti/sync", s.h(s.serveCohortLTISync))
}

func (s *Server) ltiEnabled() error {
	if s.d.LTI == nil {
		return faultline.Errorf(faultline.ENOTFOUND, "This portal is not set up as an LTI tool.")
	}
	return nil
}

// ltiCookieOptions: the launch is a cross-site POST from the platform, so
// behind TLS the state cookie must be SameSite=None (and so Secure); on
// plain http (a portal on one machine) Lax is the most browsers accept.
func (s *Server) ltiCookieOptions(c *http.Cookie) *http.Cookie {
	c.Path, c.HttpOnly, c.Secure = "/lti/", true, s.d.SecureCookies
	c.SameSite = http.SameSiteLaxMode
	if s.d.SecureCookies {
		c.SameSite = http.SameSiteNoneMode
	}
	return c
}

// serveLTILogin answers a platform's third-party login initiation (GET or
// POST) by sending the browser to the platform's authentication endpoint.
func (s *Server) serveLTILogin(w http.ResponseWriter, r *http.Request) error {
	if err := s.ltiEnabled(); err != nil {
		return err
	}
	if err := s.parseForm(r); err != nil {
		return err
	}
	to, state, err := s.d.LTI.Login(r.Context(), faultline.LTILogin{
		Issuer: r.Form.Get("iss"), LoginHint: r.Form.Get("login_hint"), TargetLinkURI: r.Form.Get("target_link_uri"),
		MessageHint: r.Form.Get("lti_message_hint"), ClientID: r.Form.Get("client_id"), DeploymentID: r.Form.Get("lti_deployment_id"),
	})
	if err != nil {
		return err
	}
	http.SetCookie(w, s.ltiCookieOptions(&http.Cookie{Name: ltiCookie, Value: state, MaxAge: 600}))
	http.Redirect(w, r, to, http.StatusFound)
	return nil
}

// serveLTILaunch verifies the launch the platform posted and signs the
// person in: to the lab or lesson linked, or to the deep linking choice.
func (s *Server) serveLTILaunch(w http.ResponseWriter, r *http.Request) error {
	if err := s.ltiEnabled(); err != nil {
		return err
	}
	if err := s.parseForm(r); err != nil {
		return err
	}
	http.SetCookie(w, s.ltiCookieOptions(&http.Cookie{Name: ltiCookie, Value: "", MaxAge: -1}))
	if e := r.PostFormValue("error"); e != "" {
		return faultline.Errorf(faultline.EFORBIDDEN, "Your learning platform did not launch Faultline: %s", oneLine(r.PostFormValue("error_description")+" ("+e+")", 200))
	}
	state := r.PostFormValue("state")
	c, err := r.Cookie(ltiCookie)
	if err != nil || state == "" || subtle.ConstantTimeCompare([]byte(c.Value), []byte(state)) != 1 {
		return faultline.Errorf(faultline.EFORBIDDEN, "This launch did not start in this browser. Open the link from your course again (if your platform shows Faultline inside its page, set it to open in a new window).")
	}
	res, err := s.d.LTI.Launch(r.Context(), state, r.PostFormValue("id_token"))
	if faultline.ErrorCode(err) == faultline.EUNAUTHORIZED {
		return faultline.Errorf(faultline.EFORBIDDEN, "%s", faultline.ErrorMessage(err))
	} else if err != nil {
		return err
	}
	if err := s.startSession(w, r, res.User); err != nil {
		return err
	}
	if dl := res.DeepLink; dl != nil {
		// Render with the new session's user in the page.
		r = r.WithContext(newContextWithAuth(r.Context(), res.User, nil))
		return s.render(w, r, http.StatusOK, views.LTIDeepLink(s.deepLinkPage(r, dl, "")))
	}
	return redirect(w, r, localPath(res.Redirect))
}

func (s *Server) deepLinkPage(r *http.Request, dl *faultline.LTIDeepLinkRequest, msg string) views.LTIDeepLinkPage {
	m := views.LTIDeepLinkPage{Page: s.page(r, "Add to your course", ""), Token: dl.Token, Platform: dl.Platform,
		Course: dl.Course, Multiple: dl.AcceptMultiple, Error: msg}
	for _, l := range s.d.Labs.All() {
		m.Labs = append(m.Labs, views.LTIChoice{Value: "lab:" + l.Slug, Title: l.Title, Summary: l.Summary, Points: l.MaxScore()})
	}
	for _, l := range s.d.Content.Lessons() {
		m.Lessons = append(m.Lessons, views.LTIChoice{Value: "lesson:" + l.Slug, Title: l.Title, Summary: l.Summary})
	}
	return m
}

// serveLTIDeepLink signs the instructor's choice and hands the browser a
// form that posts it back to the platform.
func (s *Server) serveLTIDeepLink(w http.ResponseWriter, r *http.Request) error {
	if err := s.ltiEnabled(); err != nil {
		return err
	}
	if err := s.parseForm(r); err != nil {
		return err
	}
	var items []faultline.LTIContentItem
	for _, v := range r.PostForm["item"] {
		kind, slug, ok := strings.Cut(v, ":")
		if !ok || (kind != "lab" && kind != "lesson") || slug == "" {
			return faultline.Errorf(faultline.EINVALID, "Unknown item %q.", oneLine(v, 80))
		}
		items = append(items, faultline.LTIContentItem{Kind: kind, Slug: slug})
	}
	token := r.PostFormValue("token")
	if len(items) == 0 {
		// Ask again; the request token is still good.
		dl := &faultline.LTIDeepLinkRequest{Token: token, Platform: r.PostFormValue("platform"), Course: r.PostFormValue("course"),
			AcceptMultiple: r.PostFormValue("multiple") == "1"}
		return s.render(w, r, http.StatusUnprocessableEntity, views.LTIDeepLink(s.deepLinkPage(r, dl, "Pick at least one lab or lesson.")))
	}
	returnURL, jwt, err := s.d.LTI.DeepLinkResponse(r.Context(), UserFromContext(r.Context()), token, items)
	if err != nil {
		return err
	}
	ru, err := url.Parse(returnURL)
	if err != nil {
		return fmt.Errorf("deep link return URL: %w", err)
	}
	// This one form posts to the platform: allow its origin as a form target.
	w.Header().Set("Content-Security-Policy", strings.Replace(contentSecurityPolicy,
		"form-action 'self'", "form-action 'self' "+ru.Scheme+"://"+ru.Host, 1))
	return s.render(w, r, http.StatusOK, views.LTIDeepLinkReturn(views.LTIDeepLinkReturnPage{
		Page: s.page(r, "Back to your course", ""), ReturnURL: returnURL, JWT: jwt, Count: len(items),
	}))
}

func (s *Server) serveLTIJWKS(w http.ResponseWriter, r *http.Request) error {
	if err := s.ltiEnabled(); err != nil {
		return err
	}
	b, err := s.d.LTI.JWKS(r.Context())
	if err != nil {
		return err
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "public, max-age=300")
	_, _ = w.Write(b)
	return nil
}

// ---- admin: platform registration ----

func requireAdmin(u *faultline.User) error {
	if u == nil || u.Role != faultline.RoleAdmin {
		return faultline.Errorf(faultline.ENOTFOUND, "There is no page at this address.")
	}
	return nil
}

func (s *Server) ltiAdminPage(r *http.Request, form views.LTIPlatformForm, msg, notice string) (views.LTIAdminPage, error) {
	m := views.LTIAdminPage{Page: s.page(r, "LTI platforms", ""), Enabled: s.d.LTI != nil, Form: form, Error: msg, Notice: notice,
		LoginURL: s.d.BaseURL + "/lti/login", LaunchURL: s.d.BaseURL + "/lti/launch", DeepLinkURL: s.d.BaseURL + "/lti/launch",
		JWKSURL: s.d.BaseURL + "/lti/jwks"}
	if s.d.LTI == nil {
		return m, nil
	}
	ps, err := s.d.LTI.Platforms(r.Context(), UserFromContext(r.Context()))
	if err != nil {
		return m, err
	}
	for _, p := range ps {
		m.Platforms = append(m.Platforms, views.LTIPlatformRow{ID: p.ID, Name: p.Name, Issuer: p.Issuer, ClientID: p.ClientID,
			Deployments: strings.Join(p.Deployments, ", "), AuthURL: p.AuthURL, TokenURL: p.TokenURL, JWKSURL: p.JWKSURL})
	}
	return m, nil
}

func (s *Server) serveLTIAdmin(w http.ResponseWriter, r *http.Request) error {
	if err := requireAdmin(UserFromContext(r.Context())); err != nil {
		return err
	}
	m, err := s.ltiAdminPage(r, views.LTIPlatformForm{}, "", ltiNotices[r.URL.Query().Get("notice")])
	if err != nil {
		return err
	}
	return s.render(w, r, http.StatusOK, views.LTIAdmin(m))
}

var ltiNotices = map[string]string{
	"registered": "Platform registered. Give its administrators the tool's URLs above.",
	"deleted":    "Platform removed. Its cohorts and accounts stay.",
}

func (s *Server) serveLTIRegister(w http.ResponseWriter, r *http.Request) error {
	if err := requireAdmin(UserFromContext(r.Context())); err != nil {
		return err
	}
	if err := s.ltiEnabled(); err != nil {
		return err
	}
	if err := s.parseForm(r); err != nil {
		return err
	}
	f := views.LTIPlatformForm{
		Name: strings.TrimSpace(r.PostFormValue("name")), Issuer: strings.TrimSpace(r.PostFormValue("issuer")),
		ClientID: strings.TrimSpace(r.PostFormValue("client_id")), Deployments: r.PostFormValue("deployments"),
		AuthURL: strings.TrimSpace(r.PostFormValue("auth_url")), TokenURL: strings.TrimSpace(r.PostFormValue("token_url")),
		JWKSURL: strings.TrimSpace(r.PostFormValue("jwks_url")),
	}
	p := &faultline.LTIPlatform{Name: f.Name, Issuer: f.Issuer, ClientID: f.ClientID, AuthURL: f.AuthURL, TokenURL: f.TokenURL,
		JWKSURL: f.JWKSURL, Deployments: strings.FieldsFunc(f.Deployments, func(r rune) bool { return r == ',' || r == '\n' || r == '\r' || r == ' ' })}
	if err := s.d.LTI.RegisterPlatform(r.Context(), UserFromContext(r.Context()), p); err != nil {
		if code, msg, ok := userError(err); ok && (code == faultline.EINVALID || code == faultline.ECONFLICT) {
			m, perr := s.ltiAdminPage(r, f, msg, "")
			if perr != nil {
				return perr
			}
			return s.render(w, r, statusOf(code), views.LTIAdmin(m))
		}
		return err
	}
	return redirect(w, r, "/admin/lti?notice=registered")
}

func (s *Server) serveLTIDelete(w http.ResponseWriter, r *http.Request) error {
	if err := requireAdmin(UserFromContext(r.Context())); err != nil {
		return err
	}
	if err := s.ltiEnabled(); err != nil {
		return err
	}
	if err := s.parseForm(r); err != nil {
		return err
	}
	id, err := strconv.ParseInt(r.PostFormValue("id"), 10, 64)
	if err != nil {
		return faultline.Errorf(faultline.EINVALID, "Which platform?")
	}
	if err := s.d.LTI.DeletePlatform(r.Context(), UserFromContext(r.Context()), id); err != nil {
		return err
	}
	return redirect(w, r, "/admin/lti?notice=deleted")
}

// ---- a cohort's LMS course ----

func (s *Server) cohortLTIPage(r *http.Request, c *faultline.Cohort, notice, msg string, rep *faultline.LTIRosterReport) (views.CohortLTIPage, error) {
	m := views.CohortLTIPage{Page: s.page(r, c.Name+": learning platform", "cohorts"), CohortID: c.ID, CohortName: c.Name,
		CohortURL: cohortURL(c.ID), Notice: notice, Error: msg}
	if rep != nil {
		m.Report = fmt.Sprintf("%d active members in the course: %d new accounts, %d memberships added or changed, %d learners taken off.",
			rep.Members, rep.Created, rep.Added, rep.Removed)
		m.Warnings = rep.Warnings
	}
	if s.d.LTI == nil {
		return m, nil
	}
	lc, err := s.d.LTI.CohortLink(r.Context(), UserFromContext(r.Context()), c.ID)
	switch faultline.ErrorCode(err) {
	case "":
		m.Linked, m.Course, m.CanSync = true, lc.Title, lc.MembershipsURL != ""
		if !lc.LastSyncAt.IsZero() {
			m.LastSync = lc.LastSyncAt.Format("2 January 2006 15:04 MST")
		}
	case faultline.ENOTFOUND:
	default:
		return m, err
	}
	return m, nil
}

func (s *Server) serveCohortLTI(w http.ResponseWriter, r *http.Request) error {
	c, err := s.taughtCohort(r)
	if err != nil {
		return err
	}
	m, err := s.cohortLTIPage(r, c, "", "", nil)
	if err != nil {
		return err
	}
	return s.render(w, r, http.StatusOK, views.CohortLTI(m))
}

func (s *Server) serveCohortLTISync(w http.ResponseWriter, r *http.Request) error {
	c, err := s.taughtCohort(r)
	if err != nil {
		return err
	}
	if err := s.ltiEnabled(); err != nil {
		return err
	}
	rep, err := s.d.LTI.SyncRoster(r.Context(), UserFromContext(r.Context()), c.ID)
	status, msg := http.StatusOK, ""
	if err != nil {
		code, m, ok := userError(err)
		if !ok {
			return err
		}
		status, msg, rep = statusOf(code), m, nil
	}
	m, err := s.cohortLTIPage(r, c, "", msg, rep)
	if err != nil {
		return err
	}
	return s.render(w, r, status, views.CohortLTI(m))
}
