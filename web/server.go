// Package web is Faultline's HTTP front end: the chi router, middleware,
// handlers (parse → call a service → render a templ view), static assets and
// Server-Sent Events for live grading results. It depends only on the root
// interfaces and the read-only content and labs catalogs.
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
	"golang.org/x/crypto/bcrypt"

	"github.com/faultline-dev/faultline"
	"github.com/faultline-dev/faultline/content"
	"github.com/faultline-dev/faultline/labs"
	"github.com/faultline-dev/faultline/web/views"
)

// Deps are the services and settings a Server needs.
type Deps struct {
	Users       faultline.UserService
	Sessions    faultline.SessionService
	Cohorts     faultline.CohortService
	Progress    faultline.ProgressService
	Workspace   faultline.WorkspaceService
	Submissions faultline.SubmissionService
	// Sandboxes may be nil, or fail with EUNAVAILABLE: labs then say that
	// sandboxes are unavailable; lessons, saving and submitting still work.
	Sandboxes faultline.Sandboxes
	// Terminals opens shells into running sandboxes; may be nil (the
	// terminal WebSocket then closes with "unavailable").
	Terminals faultline.Terminals
	Content   *content.Catalog
	Labs      *labs.Catalog
	// Replayer replays one failing run of a grade (its seed) on request;
	// may be nil, and replays then say they are unavailable.
	Replayer faultline.Replayer
	// Similarity compares learners' submissions for the instructor's views
	// (similar.go); may be nil, and those views then say it is unavailable.
	Similarity faultline.SimilarityChecker
	// Instructor serves the dashboards, lab statistics and gradebook, and
	// Tokens the personal access tokens of the JSON API; either may be nil,
	// and those pages then say they are unavailable.
	Instructor faultline.InstructorService
	Tokens     faultline.TokenService
	// Records gates submissions by the cohort's limits; may be nil, and
	// Submissions is used when it implements SubmissionRecords.
	Records faultline.SubmissionRecords
	// Kick wakes the grading worker after a submission; may be nil.
	Kick   func()
	Logger *slog.Logger
	Now    func() time.Time
	// SetupToken is the one-time token for creating the first admin at
	// /setup?token=…; empty disables setup.
	SetupToken string
	// BaseURL prefixes invite links, e.g. http://localhost:8080.
	BaseURL       string
	SecureCookies bool

	// Institution features (password.go, sso.go, lti.go, health.go). Resets
	// and Notifier may be nil: passwords then cannot be reset by email.
	Resets   faultline.PasswordResetService
	Notifier faultline.Notifier
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

// Server is the portal's http.Handler. The exported fields are tuning knobs
// with production defaults set by New; tests may lower them before serving.
type Server struct {
	d      Deps
	log    *slog.Logger
	now    func() time.Time
	router chi.Router

	// BcryptCost is the bcrypt work factor for new passwords (default 10;
	// keep ≥ 10 in production, tests may use bcrypt.MinCost).
	BcryptCost int
	// SessionTTL is how long a login lasts (default 14 days).
	SessionTTL time.Duration
	// MaxBody caps every request body (default 1 MiB).
	MaxBody int64
	// PollInterval is how often the SSE endpoint checks a submission (default 300 ms).
	PollInterval time.Duration
	// StreamLimit ends an SSE stream that has not finished after this long (default 10 min).
	StreamLimit time.Duration
	// StartTimeout bounds starting a sandbox (default 3 min).
	StartTimeout time.Duration
	// RunTimeout bounds "Run tests" in a sandbox (default 2 min).
	RunTimeout time.Duration

	logins  *throttle
	assets  *assets
	setupMu sync.Mutex

	dummyOnce sync.Once
	dummyHash []byte

	readmeMu sync.Mutex
	readmes  map[string]string

	search *content.Index

	replays chan struct{} // replays running now (maxReplays at most)

	terms termSessions // live terminal sockets, closed at shutdown (terminal.go)

	institution institution // password resets, SSO and LTI state (password.go)
}

// New returns a Server for d. It returns EINVALID if a required dependency
// is missing.
func New(d Deps) (*Server, error) {
	switch {
	case d.Users == nil, d.Sessions == nil, d.Cohorts == nil, d.Progress == nil,
		d.Workspace == nil, d.Submissions == nil:
		return nil, faultline.Errorf(faultline.EINVALID, "web: every service in Deps is required (Sandboxes and Kick may be nil)")
	case d.Content == nil || d.Labs == nil:
		return nil, faultline.Errorf(faultline.EINVALID, "web: Deps.Content and Deps.Labs are required")
	}
	if d.Logger == nil {
		d.Logger = slog.Default()
	}
	if d.Now == nil {
		d.Now = time.Now
	}
	s := &Server{
		replays:      make(chan struct{}, maxReplays),
		d:            d,
		log:          d.Logger,
		now:          d.Now,
		BcryptCost:   bcrypt.DefaultCost,
		SessionTTL:   14 * 24 * time.Hour,
		MaxBody:      1 << 20,
		PollInterval: 300 * time.Millisecond,
		StreamLimit:  10 * time.Minute,
		StartTimeout: 3 * time.Minute,
		RunTimeout:   2 * time.Minute,
		readmes:      map[string]string{},
	}
	s.logins = newThrottle(5, 5*time.Minute, d.Now)
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
	s.healthRoutes(r)
	r.Route("/api/v1", s.apiRoutes) // bearer tokens only, never the session cookie

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
			r.Get("/lessons/{slug}", s.h(s.serveLesson("lesson")))
			r.Post("/lessons/{slug}/read", s.h(s.serveMarkRead))
			r.Post("/lessons/{slug}/quiz", s.h(s.serveQuiz))
			r.Get("/cases/{slug}", s.h(s.serveLesson("case")))
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
			r.Post("/submissions/{id}/replay", s.h(s.serveReplay))
			s.tokenRoutes(r)
			s.ssoUserRoutes(r)
			s.ltiUserRoutes(r)

			r.Group(func(r chi.Router) {
				r.Use(s.requireTeacher)
				r.Get("/cohorts", s.h(s.serveCohorts))
				r.Post("/cohorts", s.h(s.serveCreateCohort))
				r.Get("/cohorts/{id}", s.h(s.serveCohort))
				s.dashboardRoutes(r)
				s.similarRoutes(r)
				s.rosterRoutes(r)  // roster.go
				s.regradeRoutes(r) // regrades.go
				s.liveRoutes(r)    // live.go
				s.ltiTeacherRoutes(r)
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
	return faultline.Errorf(faultline.ETOOLARGE, "The request is larger than %s; nothing was saved.", sizeText(limit))
}

func sizeText(n int64) string {
	switch {
	case n >= 1<<20 && n%(1<<20) == 0:
		return fmt.Sprintf("%d MiB", n>>20)
	case n >= 1<<10:
		return fmt.Sprintf("%d KiB", n>>10)
	}
	return fmt.Sprintf("%d bytes", n)
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
	var buf bytes.Buffer
	if err := c.Render(r.Context(), &buf); err != nil {
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
	return views.Page{Title: title, User: UserFromContext(r.Context()), Assets: s.assets.urls, Nav: nav}
}

// redirect sends a 303 See Other, the answer to a successful form POST.
func redirect(w http.ResponseWriter, r *http.Request, to string) error {
	http.Redirect(w, r, to, http.StatusSeeOther)
	return nil
}

// hashPassword hashes a new password with the configured cost.
func (s *Server) hashPassword(pw string) (string, error) {
	h, err := bcrypt.GenerateFromPassword([]byte(pw), s.BcryptCost)
	if err != nil {
		return "", fmt.Errorf("hash password: %w", err)
	}
	return string(h), nil
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
