package web

import (
	"fmt"
	"net/http"
	"runtime/debug"
	"strings"
	"time"

	"github.com/go-chi/chi/v5"

	"github.com/faultline-dev/faultline"
)

// contentSecurityPolicy allows only our own scripts, styles and images: no
// inline script, no framing, forms only to us.
const contentSecurityPolicy = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; " +
	"object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'"

// securityHeaders sets the standard security headers on every response.
func (s *Server) securityHeaders(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Security-Policy", contentSecurityPolicy)
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "same-origin")
		h.Set("X-Frame-Options", "DENY")
		h.Set("Cross-Origin-Opener-Policy", "same-origin")
		if s.d.SecureCookies {
			h.Set("Strict-Transport-Security", "max-age=31536000")
		}
		next.ServeHTTP(w, r)
	})
}

// crossOrigin refuses cross-origin state-changing requests (CSRF) with 403,
// using net/http's CrossOriginProtection (Sec-Fetch-Site, then Origin vs Host).
func (s *Server) crossOrigin(next http.Handler) http.Handler {
	cop := http.NewCrossOriginProtection()
	// An LMS posts LTI logins and launches from its own site; they are
	// checked by the state cookie and the platform's signed id_token.
	cop.AddInsecureBypassPattern("POST /lti/login")
	cop.AddInsecureBypassPattern("POST /lti/launch")
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := cop.Check(r); err != nil {
			s.log.WarnContext(r.Context(), "cross-origin request refused", "method", r.Method, "path", r.URL.Path,
				"origin", r.Header.Get("Origin"), "sec_fetch_site", r.Header.Get("Sec-Fetch-Site"))
			s.fail(w, r, faultline.Errorf(faultline.EFORBIDDEN, "This request came from another site and was refused."))
			return
		}
		next.ServeHTTP(w, r)
	})
}

// limitBody caps every request body at MaxBody bytes.
func (s *Server) limitBody(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Body != nil && r.Body != http.NoBody {
			r.Body = http.MaxBytesReader(w, r.Body, s.MaxBody)
		}
		next.ServeHTTP(w, r)
	})
}

// readOnly serves a request that only reads inside one read snapshot of
// the database (course.ReadOnly): the session lookup and the page's reads
// cost one read transaction. Only for routes whose handlers never write.
func (s *Server) readOnly(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx, done, err := s.c.ReadOnly(r.Context())
		if err != nil {
			s.fail(w, r, err)
			return
		}
		defer done()
		next.ServeHTTP(w, r.WithContext(ctx))
	})
}

// statusWriter records the status and size of a response for the request log.
type statusWriter struct {
	http.ResponseWriter
	status int
	bytes  int64
}

func (w *statusWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	n, err := w.ResponseWriter.Write(b)
	w.bytes += int64(n)
	return n, err
}

// Unwrap lets http.ResponseController reach Flush and deadlines.
func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// secretParams are URL parameters that are secrets (invite codes): the
// request log shows their route's placeholder instead.
var secretParams = map[string]bool{"code": true}

// loggedPath is the request's path for the log, with secret URL parameters
// replaced by their placeholder, e.g. /join/{code}.
func loggedPath(r *http.Request) string {
	p := r.URL.Path
	rctx := chi.RouteContext(r.Context())
	if rctx == nil {
		return p
	}
	for i, k := range rctx.URLParams.Keys {
		if secretParams[k] && i < len(rctx.URLParams.Values) && rctx.URLParams.Values[i] != "" {
			p = strings.ReplaceAll(p, rctx.URLParams.Values[i], "{"+k+"}")
		}
	}
	return p
}

// logRequests logs every request with slog: method, path (never the query,
// which may hold the setup token; secret path parameters replaced, see
// loggedPath), status, size, duration and user.
func (s *Server) logRequests(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		sw := &statusWriter{ResponseWriter: w}
		// The user is only known inside authenticate; it records into this holder.
		holder := &requestUser{}
		r = r.WithContext(withRequestUser(r.Context(), holder))
		next.ServeHTTP(sw, r)
		status := sw.status
		if status == 0 {
			status = http.StatusOK
		}
		s.log.InfoContext(r.Context(), "request", "method", r.Method, "path", loggedPath(r), "status", status,
			"bytes", sw.bytes, "duration", time.Since(start), "user", holder.id)
	})
}

// recoverPanics turns a panic into a logged, clean 500 page.
func (s *Server) recoverPanics(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		tw := &trackingWriter{ResponseWriter: w}
		defer func() {
			v := recover()
			if v == nil {
				return
			}
			if v == http.ErrAbortHandler {
				panic(v)
			}
			s.log.ErrorContext(r.Context(), "panic", "method", r.Method, "path", r.URL.Path,
				"panic", fmt.Sprint(v), "stack", string(debug.Stack()))
			if !tw.wrote {
				s.renderError(w, r, http.StatusInternalServerError, "Something went wrong",
					"Something went wrong on our side. It has been logged; please try again in a moment.", false)
			}
		}()
		next.ServeHTTP(tw, r)
	})
}
