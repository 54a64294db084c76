package web

import (
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/go-chi/chi/v5"

	"github.com/faultline-dev/faultline"
	"github.com/faultline-dev/faultline/course"
	"github.com/faultline-dev/faultline/web/views"
)

// The JSON API under /api/v1 and the personal access tokens that open it.
// API requests authenticate with "Authorization: Bearer <token>" only: the
// session cookie is never read there (the routes sit outside authenticate),
// so a browser cannot be tricked into making API calls with its login and
// the API needs no CSRF defence. Every API route is a GET, which
// http.CrossOriginProtection lets through.

func (s *Server) apiRoutes(r chi.Router) {
	r.Use(s.bearer)
	r.NotFound(s.api(func(r *http.Request) (any, error) {
		return nil, faultline.Errorf(faultline.ENOTFOUND, "There is no API endpoint at this address.")
	}))
	r.MethodNotAllowed(func(w http.ResponseWriter, r *http.Request) {
		_ = writeJSON(w, http.StatusMethodNotAllowed, apiError{Error: "This endpoint does not accept that method."})
	})
	r.Get("/cohorts", s.api(s.apiCohorts))
	r.Get("/cohorts/{id}/gradebook", s.api(s.apiGradebook))
	r.Get("/cohorts/{id}/matrix", s.api(s.apiMatrix))
	s.discussionAPIRoutes(r) // discuss_api.go
}

type apiError struct {
	Error string `json:"error"`
}

// apiFail writes err as {"error": "..."} with its status; internal errors
// are logged and answered with a generic message.
func (s *Server) apiFail(w http.ResponseWriter, r *http.Request, err error) {
	code, msg, ok := userError(err)
	if !ok {
		s.log.ErrorContext(r.Context(), "internal error", "method", r.Method, "path", r.URL.Path, "err", err)
		msg = "Something went wrong on our side; please try again in a moment."
	}
	if code == faultline.EUNAUTHORIZED {
		w.Header().Set("WWW-Authenticate", `Bearer realm="faultline"`)
	}
	_ = writeJSON(w, statusOf(code), apiError{Error: msg})
}

// api adapts an API handler: its value becomes the JSON body, its error a
// JSON error.
func (s *Server) api(fn func(r *http.Request) (any, error)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		v, err := fn(r)
		if err != nil {
			s.apiFail(w, r, err)
			return
		}
		if err := writeJSON(w, http.StatusOK, v); err != nil {
			s.apiFail(w, r, err)
		}
	}
}

// bearer authenticates an API request by its personal access token.
func (s *Server) bearer(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		scheme, secret, _ := strings.Cut(r.Header.Get("Authorization"), " ")
		secret = strings.TrimSpace(secret)
		if !strings.EqualFold(scheme, "Bearer") || secret == "" || len(secret) > 200 {
			s.apiFail(w, r, faultline.Errorf(faultline.EUNAUTHORIZED, "Send a personal access token as \"Authorization: Bearer <token>\"."))
			return
		}
		u, err := s.c.AuthenticateToken(r.Context(), secret)
		if err != nil {
			if faultline.ErrorCode(err) == faultline.EUNAUTHORIZED {
				s.apiFail(w, r, faultline.Errorf(faultline.EUNAUTHORIZED, "The token is unknown, revoked or expired."))
				return
			}
			s.apiFail(w, r, err)
			return
		}
		if ru := requestUserFrom(r.Context()); ru != nil {
			ru.id = u.ID
		}
		next.ServeHTTP(w, r.WithContext(newContextWithAuth(r.Context(), u, nil)))
	})
}

type apiCohort struct {
	ID        int64     `json:"id"`
	Name      string    `json:"name"`
	CreatedAt time.Time `json:"created_at"`
	URL       string    `json:"url"`
}

// apiCohorts lists the cohorts the caller teaches (every cohort for admins).
func (s *Server) apiCohorts(r *http.Request) (any, error) {
	cs, err := s.c.TaughtCohorts(r.Context(), UserFromContext(r.Context()))
	if err != nil {
		return nil, err
	}
	out := []apiCohort{}
	for _, c := range cs {
		out = append(out, apiCohort{ID: c.ID, Name: c.Name, CreatedAt: c.CreatedAt.UTC(), URL: cohortURL(c.ID)})
	}
	return map[string]any{"cohorts": out}, nil
}

type apiLab struct {
	Slug     string `json:"slug"`
	Title    string `json:"title"`
	MaxScore int    `json:"max_score"`
}

func (s *Server) apiLabs() ([]apiLab, int) {
	var out []apiLab
	total := 0
	for _, l := range s.d.Labs.All() {
		out = append(out, apiLab{Slug: l.Slug, Title: l.Title, MaxScore: l.MaxScore()})
		total += l.MaxScore()
	}
	return out, total
}

type apiGradebookRow struct {
	UserID int64          `json:"user_id"`
	Name   string         `json:"name"`
	Email  string         `json:"email"`
	Best   map[string]int `json:"best"` // by lab slug; absent: nothing graded
	Total  int            `json:"total"`
}

func (s *Server) apiGradebook(r *http.Request) (any, error) {
	c, err := s.taughtCohort(r)
	if err != nil {
		return nil, err
	}
	rows, err := s.c.Gradebook(r.Context(), UserFromContext(r.Context()), c.ID)
	if err != nil {
		return nil, err
	}
	labs, maxTotal := s.apiLabs()
	out := []apiGradebookRow{}
	for _, row := range rows {
		best := map[string]int{}
		for k, v := range row.Best {
			best[k] = v
		}
		out = append(out, apiGradebookRow{UserID: row.UserID, Name: row.Name, Email: row.Email, Best: best, Total: row.Total})
	}
	return map[string]any{"cohort": apiCohort{ID: c.ID, Name: c.Name, CreatedAt: c.CreatedAt.UTC(), URL: cohortURL(c.ID)},
		"labs": labs, "max_total": maxTotal, "learners": out}, nil
}

type apiCell struct {
	BestScore        int        `json:"best_score"`
	MaxScore         int        `json:"max_score"`
	Attempts         int        `json:"attempts"`
	Submissions      int        `json:"submissions"`
	BestSubmissionID int64      `json:"best_submission_id,omitempty"`
	LastSubmitAt     *time.Time `json:"last_submit_at,omitempty"`
}

type apiMatrixRow struct {
	UserID      int64              `json:"user_id"`
	Name        string             `json:"name"`
	Email       string             `json:"email"`
	LessonsRead int                `json:"lessons_read"`
	Cells       map[string]apiCell `json:"cells"`
}

func (s *Server) apiMatrix(r *http.Request) (any, error) {
	c, err := s.taughtCohort(r)
	if err != nil {
		return nil, err
	}
	rows, err := s.c.Matrix(r.Context(), UserFromContext(r.Context()), c.ID)
	if err != nil {
		return nil, err
	}
	labs, _ := s.apiLabs()
	out := []apiMatrixRow{}
	for _, row := range rows {
		ar := apiMatrixRow{UserID: row.UserID, Name: row.Name, Email: row.Email, LessonsRead: row.LessonsRead, Cells: map[string]apiCell{}}
		for slug, cell := range row.Cells {
			ac := apiCell{BestScore: cell.BestScore, MaxScore: cell.MaxScore, Attempts: cell.Attempts, Submissions: cell.Submissions, BestSubmissionID: cell.BestID}
			if !cell.LastSubmitAt.IsZero() {
				t := cell.LastSubmitAt.UTC()
				ac.LastSubmitAt = &t
			}
			ar.Cells[slug] = ac
		}
		out = append(out, ar)
	}
	return map[string]any{"cohort": apiCohort{ID: c.ID, Name: c.Name, CreatedAt: c.CreatedAt.UTC(), URL: cohortURL(c.ID)},
		"labs": labs, "lessons": len(s.d.Content.Lessons()), "learners": out}, nil
}

// ---- /settings/tokens ----

func (s *Server) tokenRoutes(r chi.Router) {
	r.Get("/settings/tokens", s.h(s.serveTokens))
	r.Post("/settings/tokens", s.h(s.serveCreateToken))
	r.Post("/settings/tokens/{tid}/revoke", s.h(s.serveRevokeToken))
}

func (s *Server) tokensPage(r *http.Request) (views.TokensPage, error) {
	m := views.TokensPage{Page: s.page(r, "API tokens", "")}
	ts, err := s.c.Tokens(r.Context(), UserFromContext(r.Context()))
	if err != nil {
		return m, err
	}
	for _, t := range ts {
		line := views.TokenLine{ID: t.ID, Name: t.Name, Prefix: t.Prefix, Created: fmtDate(t.CreatedAt),
			LastUsed: fmtTime(t.LastUsedAt), Expires: fmtDate(t.ExpiresAt), Revoked: fmtDate(t.RevokedAt),
			RevokeURL: "/settings/tokens/" + strconv.FormatInt(t.ID, 10) + "/revoke"}
		if line.LastUsed == "" {
			line.LastUsed = "never"
		}
		if line.Expires == "" {
			line.Expires = "never"
		}
		m.Tokens = append(m.Tokens, line)
	}
	return m, nil
}

func (s *Server) serveTokens(w http.ResponseWriter, r *http.Request) error {
	m, err := s.tokensPage(r)
	if err != nil {
		return err
	}
	return s.render(w, r, http.StatusOK, views.Tokens(m))
}

// serveCreateToken creates a token and shows its secret once, in this
// response (no redirect: the secret must never sit in a URL or a later page).
func (s *Server) serveCreateToken(w http.ResponseWriter, r *http.Request) error {
	if err := s.parseForm(r); err != nil {
		return err
	}
	name := strings.TrimSpace(formValue(r, "name"))
	again := func(code, msg string) error {
		m, err := s.tokensPage(r)
		if err != nil {
			return err
		}
		m.Name, m.Error = name, msg
		return s.render(w, r, statusOf(code), views.Tokens(m))
	}
	days := 0
	if d := strings.TrimSpace(formValue(r, "days")); d != "" {
		n, err := strconv.Atoi(d)
		if err != nil || n < 1 {
			return again(faultline.EINVALID, "Expiry must be 1 to 3650 days, or empty for never.")
		}
		days = n
	}
	tok, secret, err := s.c.CreateToken(r.Context(), UserFromContext(r.Context()), name, days)
	if err != nil {
		if code, msg, ok := userError(err); ok && code == faultline.EINVALID {
			return again(code, msg)
		}
		return err
	}
	m, err := s.tokensPage(r)
	if err != nil {
		return err
	}
	m.Secret, m.SecretName = secret, tok.Name
	return s.render(w, r, http.StatusOK, views.Tokens(m))
}

func (s *Server) serveRevokeToken(w http.ResponseWriter, r *http.Request) error {
	id, ok := course.ParseID(chi.URLParam(r, "tid"))
	if !ok {
		return faultline.Errorf(faultline.ENOTFOUND, "There is no such token.")
	}
	if err := s.c.RevokeToken(r.Context(), UserFromContext(r.Context()), id); err != nil {
		return err
	}
	return redirect(w, r, "/settings/tokens")
}
