package metrics

import (
	"bufio"
	"context"
	"crypto/subtle"
	"errors"
	"net"
	"net/http"
	"strconv"
	"time"

	"github.com/go-chi/chi/v5"
)

// Instrument wraps the portal's chi router and observes every request's
// duration labelled by the route pattern that served it ("/labs/{slug}",
// never the path with its ids), the method and the status code. Requests
// that matched no route are labelled "unmatched", so scanners cannot grow
// the label set.
//
// It hands chi a fresh route context, which chi fills while routing, and
// reads the pattern from it afterwards.
func (m *Metrics) Instrument(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		rctx := chi.NewRouteContext()
		r = r.WithContext(context.WithValue(r.Context(), chi.RouteCtxKey, rctx))
		sw := &statusWriter{ResponseWriter: w}
		defer func() {
			route := rctx.RoutePattern()
			if route == "" {
				route = "unmatched"
			}
			code := sw.status
			if code == 0 {
				code = http.StatusOK
			}
			if sw.hijacked {
				code = http.StatusSwitchingProtocols
			}
			m.requests.WithLabelValues(route, r.Method, strconv.Itoa(code)).Observe(time.Since(start).Seconds())
		}()
		next.ServeHTTP(sw, r)
	})
}

// statusWriter records the status; it passes Flush and Hijack through
// (SSE streams and the terminal WebSocket need them).
type statusWriter struct {
	http.ResponseWriter
	status   int
	hijacked bool
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
	return w.ResponseWriter.Write(b)
}

func (w *statusWriter) Flush() {
	if f, ok := w.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

func (w *statusWriter) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	h, ok := w.ResponseWriter.(http.Hijacker)
	if !ok {
		return nil, nil, errors.New("metrics: the response writer cannot be hijacked")
	}
	c, rw, err := h.Hijack()
	if err == nil {
		w.hijacked = true
	}
	return c, rw, err
}

// Unwrap lets http.ResponseController reach the writer's other methods.
func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// Guard returns h behind an access rule for /metrics: with a token, only
// requests carrying "Authorization: Bearer <token>"; without one, only
// requests from a loopback address that no proxy forwarded (no
// X-Forwarded-For or Forwarded header), i.e. a Prometheus on the same
// machine scraping the portal directly. Others get 404.
func Guard(h http.Handler, token string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !allowed(r, token) {
			http.NotFound(w, r)
			return
		}
		h.ServeHTTP(w, r)
	})
}

func allowed(r *http.Request, token string) bool {
	if token != "" {
		got := r.Header.Get("Authorization")
		want := "Bearer " + token
		return subtle.ConstantTimeCompare([]byte(got), []byte(want)) == 1
	}
	if r.Header.Get("X-Forwarded-For") != "" || r.Header.Get("Forwarded") != "" || r.Header.Get("X-Real-Ip") != "" {
		return false
	}
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return false
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
