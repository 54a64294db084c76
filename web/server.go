// Package web is Faultline's HTTP front end: the chi router, middleware,
// handlers (parse → one call of the course layer → render a templ view),
// static assets and Server-Sent Events for live grading results. It reaches
// storage, sandboxes and the grader only through package course; it reads
// the content and labs catalogs to render them.
package web

import (
	"bytes"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/a-h/templ"
	"github.com/go-chi/chi/v5"
	"github.com/go-chi/chi/v5/middleware"

	"github.com/faultline-dev/faultline"
	"github.com/faultline-dev/faultline/content"
	"github.com/faultline-dev/faultline/course"
	"github.com/faultline-dev/faultline/labs"
	"github.com/faultline-dev/faultline/web/views"
)

// Deps are what a Server needs. Course, Content and Labs are required.
type Deps struct {
	// Course is the use-case layer: every verb a page calls, with every
	// permission check and policy decision.
	Course *course.Service
	// Content and Labs are the read-only catalogs the pages render.
	Content *content.Catalog
	Labs    *labs.Catalog
	Logger  *slog.Logger
	Now     func() time.Time
	// BaseURL prefixes invite links, e.g. http://localhost:8080.
	BaseURL       string
	SecureCookies bool

	// Institution features (password.go, sso.go, lti.go, health.go).
	// Recovery resets passwords through one-time links: emailed when it is
	// Enabled (the portal sends email), and issued by administrators and
	// instructors from the cohort page always (course.IssueResetLink).
	// Nil turns both off.
	Recovery faultline.PasswordRecovery
	// SSOOnly hides the password form: people sign in through single
	// sign-on or their LMS (the setup admin keeps /login?password=1).
	SSOOnly bool
	// Probes are what /readyz checks; Metrics, if set, serves /metrics
	// (already guarded). See health.go.
	Probes  []faultline.Probe
	Metrics http.Handler
	// SSO signs people in through an OpenID provider (sso.go); Identities
	// lists an account's links. Either may be nil.
	SSO        faultline.SingleSignOn
	Identities faultline.IdentityService
	// LTI is the LTI 1.3 tool (lti.go); nil when not set up.
	LTI faultline.LTITool
}

// Server is the portal's http.Handler: it parses a request, calls one verb
// of the course layer and renders the answer. The exported fields are
// tuning knobs with production defaults set by New; tests may lower them
// before serving.
type Server struct {
	d      Deps
	c      *course.Service
	log    *slog.Logger
	now    func() time.Time
	router chi.Router

	// MaxBody caps every request body (default 1 MiB).
	MaxBody int64
	// PollInterval is how often the SSE endpoint checks a submission (default 300 ms).
	PollInterval time.Duration
	// StreamLimit ends an SSE stream that has not finished after this long (default 10 min).
	StreamLimit time.Duration

	assets *assets

	readmeMu sync.Mutex
	readmes  map[string]string

	search *content.Index

	terms termSessions // live terminal sockets, closed at shutdown (terminal.go)

	lessonParts lessonParts    // lesson bodies rendered once (lessonpage.go)
	dashboards  dashboardCache // cohort dashboards' heat maps and member lists (dashboard_cache.go)
}

// New returns a Server for d. It returns EINVALID if a required dependency
// is missing.
func New(d Deps) (*Server, error) {
	if d.Course == nil || d.Content == nil || d.Labs == nil {
		return nil, faultline.Errorf(faultline.EINVALID, "web: Deps.Course, Deps.Content and Deps.Labs are required")
	}
	if d.Logger == nil {
		d.Logger = slog.Default()
	}
	if d.Now == nil {
		d.Now = time.Now
	}
	s := &Server{
		d:            d,
		c:            d.Course,
		log:          d.Logger,
		now:          d.Now,
		MaxBody:      1 << 20,
		PollInterval: 300 * time.Millisecond,
		StreamLimit:  10 * time.Minute,
		readmes:      map[string]string{},
	}
	a, err := newAssets(content.HighlightCSS())
	if err != nil {
		return nil, err
	}
	s.assets = a
	s.search = newSearchIndex(d.Content, d.Labs)
	s.router = s.routes()
	return s, nil
}

// ServeHTTP serves the portal.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.router.ServeHTTP(w, r)
}

func (s *Server) routes() chi.Router {
	r := chi.NewRouter()
	r.Use(s.logRequests, s.recoverPanics, s.securityHeaders, s.crossOrigin, s.limitBody, middleware.GetHead)
	r.NotFound(s.h(func(w http.ResponseWriter, r *http.Request) error {
		return faultline.Errorf(faultline.ENOTFOUND, "There is no page at this address.")
	}))
	r.MethodNotAllowed(func(w http.ResponseWriter, r *http.Request) {
		s.renderError(w, r, http.StatusMethodNotAllowed, "Method not allowed", "This address does not accept that kind of request.", false)
	})
	r.Get("/static/{name}", s.serveStatic)
	r.Get("/favicon.ico", func(w http.ResponseWriter, r *http.Request) { // browsers ask for it by this name
		http.Redirect(w, r, s.assets.urls.Icon, http.StatusMovedPermanently)
	})
	s.healthRoutes(r)
	r.Route("/api/v1", s.apiRoutes) // bearer tokens only, never the session cookie

	// Pages that only read, and are read most: their session lookup and
	// the page's reads share one read snapshot (middleware.go): lessons,
	// case studies and the cohort dashboard.
	r.Group(func(r chi.Router) {
		r.Use(s.readOnly, s.authenticate, s.requireUser)
		r.Get("/lessons/{slug}", s.h(s.serveLesson("lesson")))
		r.Get("/cases/{slug}", s.h(s.serveLesson("case")))
		r.With(s.requireTeacher).Get("/cohorts/{id}", s.h(s.serveCohort))
	})

	r.Group(func(r chi.Router) {
		r.Use(s.authenticate)
		r.Get("/", s.h(s.serveHome))
		r.Get("/setup", s.h(s.serveSetup))
		r.Post("/setup", s.h(s.serveSetupPost))
		r.Get("/login", s.h(s.serveLogin))
		r.Post("/login", s.h(s.serveLoginPost))
		r.Post("/logout", s.h(s.serveLogout))
		r.Get("/join/{code}", s.h(s.serveJoin))
		r.Post("/join/{code}", s.h(s.serveJoinPost))
		r.Get("/labs/{slug}/terminal", s.h(s.serveTerminal)) // WebSocket; answers a visitor with close code 4401
		s.passwordRoutes(r)
		s.ssoRoutes(r)
		s.ltiRoutes(r)

		r.Group(func(r chi.Router) {
			r.Use(s.requireUser)
			r.Get("/lessons", s.h(s.serveOutline))
			r.Post("/lessons/{slug}/read", s.h(s.serveMarkRead))
			r.Post("/lessons/{slug}/quiz", s.h(s.serveQuiz))
			r.Get("/cases", s.h(s.serveCases))
			r.Get("/diagrams/{name}", s.h(s.serveDiagram))
			r.Get("/search", s.h(s.serveSearch))

			r.Get("/labs", s.h(s.serveLabs))
			r.Get("/labs/{slug}", s.h(s.serveLab))
			r.Post("/labs/{slug}/sandbox", s.h(s.serveStartSandbox))
			r.Post("/labs/{slug}/files", s.h(s.serveSaveFile))
			r.Post("/labs/{slug}/run", s.h(s.serveRunTests))
			r.Post("/labs/{slug}/submissions", s.h(s.serveSubmit))
			r.Get("/labs/{slug}/diff", s.h(s.serveLabDiff))     // history.go
			r.Post("/labs/{slug}/reset", s.h(s.serveReset))     // history.go
			r.Post("/labs/{slug}/restore", s.h(s.serveRestore)) // history.go

			r.Get("/submissions/{id}", s.h(s.serveSubmission))
			r.Get("/submissions/{id}/events", s.h(s.serveSubmissionEvents))
			r.Get("/submissions/{id}/diff", s.h(s.serveSubmissionDiff)) // history.go
			r.Get("/submissions/{id}/pictures/{test}/{n}/{name}", s.h(s.servePicture))
			r.Get("/submissions/{id}/trace/{test}", s.h(s.serveTrace)) // trace.go
			r.Post("/submissions/{id}/replay", s.h(s.serveReplay))
			s.tokenRoutes(r)
			s.accountRoutes(r) // account.go
			s.ssoUserRoutes(r)
			s.ltiUserRoutes(r)
			s.conversationRoutes(r) // discuss.go

			r.Group(func(r chi.Router) {
				r.Use(s.requireTeacher)
				r.Get("/cohorts", s.h(s.serveCohorts))
				r.Post("/cohorts", s.h(s.serveCreateCohort))
				s.dashboardRoutes(r)
				s.similarRoutes(r)
				s.rosterRoutes(r)  // roster.go
				s.regradeRoutes(r) // regrades.go
				s.liveRoutes(r)    // live.go
				s.ltiTeacherRoutes(r)
				s.conversationTeacherRoutes(r)
			})
		})
	})
	return r
}

// h adapts a handler that returns an error: the error becomes one response
// through the single error mapping in fail.
func (s *Server) h(fn func(w http.ResponseWriter, r *http.Request) error) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		tw := &trackingWriter{ResponseWriter: w}
		if err := fn(tw, r); err != nil {
			if tw.wrote {
				// Too late for an error page (e.g. a stream): log it only.
				s.log.ErrorContext(r.Context(), "handler failed after writing", "method", r.Method, "path", r.URL.Path, "err", err)
				return
			}
			s.fail(w, r, err)
		}
	}
}

// statusOf maps an error code to its HTTP status. It is the only such mapping.
func statusOf(code string) int {
	switch code {
	case faultline.EINVALID:
		return http.StatusUnprocessableEntity
	case faultline.EUNAUTHORIZED:
		return http.StatusUnauthorized
	case faultline.EFORBIDDEN:
		return http.StatusForbidden
	case faultline.ENOTFOUND:
		return http.StatusNotFound
	case faultline.ECONFLICT:
		return http.StatusConflict
	case faultline.ETOOMANY:
		return http.StatusTooManyRequests
	case faultline.ETOOLARGE:
		return http.StatusRequestEntityTooLarge
	case faultline.EUNAVAILABLE:
		return http.StatusServiceUnavailable
	}
	return http.StatusInternalServerError
}

// userError returns err's code and user-safe message, or ok=false for an
// internal error (which must be logged and not shown).
func userError(err error) (code, msg string, ok bool) {
	code = faultline.ErrorCode(err)
	if code == faultline.EINTERNAL {
		return code, "", false
	}
	return code, faultline.ErrorMessage(err), true
}

var titles = map[string]string{
	faultline.EINVALID:      "Please check your input",
	faultline.EUNAUTHORIZED: "Please sign in",
	faultline.EFORBIDDEN:    "Not allowed",
	faultline.ENOTFOUND:     "Not found",
	faultline.ECONFLICT:     "Conflict",
	faultline.ETOOMANY:      "Too many requests",
	faultline.ETOOLARGE:     "Too large",
	faultline.EUNAVAILABLE:  "Temporarily unavailable",
}

// fail writes the response for err: a redirect to /login for a signed-out GET,
// else an error page with the code's status. Internal errors are logged and
// shown only as a generic message.
func (s *Server) fail(w http.ResponseWriter, r *http.Request, err error) {
	var mbe *http.MaxBytesError
	if errors.As(err, &mbe) {
		err = tooLarge(mbe.Limit)
	}
	setRetryAfter(w, err)
	code, msg, ok := userError(err)
	if !ok {
		s.log.ErrorContext(r.Context(), "internal error", "method", r.Method, "path", r.URL.Path, "err", err)
		s.renderError(w, r, http.StatusInternalServerError, "Something went wrong",
			"Something went wrong on our side. It has been logged; please try again in a moment.", false)
		return
	}
	if code == faultline.EUNAUTHORIZED && (r.Method == http.MethodGet || r.Method == http.MethodHead) {
		http.Redirect(w, r, "/login?next="+urlQueryEscape(r.URL.RequestURI()), http.StatusSeeOther)
		return
	}
	s.renderError(w, r, statusOf(code), titles[code], msg, code == faultline.EUNAUTHORIZED)
}

func tooLarge(limit int64) error {
	return faultline.Errorf(faultline.ETOOLARGE, "The request is larger than %s; nothing was saved.", faultline.SizeText(limit))
}

// renderError writes an error page; if even that fails, plain text.
func (s *Server) renderError(w http.ResponseWriter, r *http.Request, status int, title, msg string, signIn bool) {
	p := s.page(r, title, "")
	if err := s.render(w, r, status, views.Error(views.ErrorPage{Page: p, Status: status, Message: msg, SignIn: signIn})); err != nil {
		s.log.ErrorContext(r.Context(), "render error page", "err", err)
		http.Error(w, msg, status)
	}
}

// render renders c fully into a buffer and only then writes the status and
// body, so a failed render is a clean error, never half a page.
func (s *Server) render(w http.ResponseWriter, r *http.Request, status int, c templ.Component) error {
	return s.renderSized(w, r, status, c, 0)
}

// renderSized is render for a page of about size bytes: its buffer is made
// that large at once instead of growing (and copying) as the page is
// written.
func (s *Server) renderSized(w http.ResponseWriter, r *http.Request, status int, c templ.Component, size int) error {
	buf := pageBufs.Get().(*bytes.Buffer) // lessonpage.go
	buf.Reset()
	buf.Grow(size)
	defer func() {
		if buf.Cap() <= maxPooledPage {
			pageBufs.Put(buf)
		}
	}()
	if err := c.Render(r.Context(), buf); err != nil {
		return fmt.Errorf("render %s: %w", r.URL.Path, err)
	}
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_, _ = buf.WriteTo(w)
	return nil
}

// page returns the shared page model for r.
func (s *Server) page(r *http.Request, title, nav string) views.Page {
	return s.pageWithInbox(r, title, nav, s.inboxCount(r))
}

// pageWithInbox is page with the unread count a course verb returned.
func (s *Server) pageWithInbox(r *http.Request, title, nav string, unread int) views.Page {
	return views.Page{Title: title, User: UserFromContext(r.Context()), Assets: s.assets.urls, Nav: nav, Inbox: unread}
}

// redirect sends a 303 See Other, the answer to a successful form POST.
func redirect(w http.ResponseWriter, r *http.Request, to string) error {
	http.Redirect(w, r, to, http.StatusSeeOther)
	return nil
}

// trackingWriter records whether anything was written, so h knows whether an
// error page can still be sent.
type trackingWriter struct {
	http.ResponseWriter
	wrote bool
}

func (t *trackingWriter) WriteHeader(code int) {
	t.wrote = true
	t.ResponseWriter.WriteHeader(code)
}

func (t *trackingWriter) Write(b []byte) (int, error) {
	t.wrote = true
	return t.ResponseWriter.Write(b)
}

// Unwrap lets http.ResponseController reach Flush and deadlines.
func (t *trackingWriter) Unwrap() http.ResponseWriter { return t.ResponseWriter }
