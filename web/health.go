package web

import (
	"context"
	"encoding/json"
	"net/http"
	"time"

	"github.com/go-chi/chi/v5"
)

// healthRoutes are the operator's endpoints, outside sign-in:
//
//   - /healthz answers 200 while the process serves HTTP at all (a liveness
//     probe: restart the process when it fails);
//   - /readyz answers 200 when the portal can do its work: the database
//     answers and its migrations are applied. The container engine is
//     reported but never makes the portal unready, because lessons, saved
//     work, results and dashboards all serve without it (labs then say
//     sandboxes are unavailable, and grading waits); taking the portal out
//     of a load balancer for an engine outage would hide what still works;
//   - /metrics serves Prometheus metrics when Deps.Metrics is set (it is
//     guarded by a token or to loopback scrapes by the caller).
func (s *Server) healthRoutes(r chi.Router) {
	r.Get("/healthz", s.serveHealthz)
	r.Get("/readyz", s.serveReadyz)
	if s.d.Metrics != nil {
		r.Handle("/metrics", s.d.Metrics)
	}
}

func (s *Server) serveHealthz(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	_, _ = w.Write([]byte("ok\n"))
}

// readiness is the /readyz answer.
type readiness struct {
	Ready  bool         `json:"ready"`
	Checks []probeState `json:"checks"`
}

type probeState struct {
	Name     string `json:"name"`
	OK       bool   `json:"ok"`
	Optional bool   `json:"optional,omitempty"`
	Error    string `json:"error,omitempty"` // user-safe; details go to the log
}

// probeTimeout bounds each readiness probe.
const probeTimeout = 3 * time.Second

func (s *Server) serveReadyz(w http.ResponseWriter, r *http.Request) {
	out := readiness{Ready: true, Checks: []probeState{}}
	for _, p := range s.d.Probes {
		ctx, cancel := context.WithTimeout(r.Context(), probeTimeout)
		err := p.Check(ctx)
		cancel()
		st := probeState{Name: p.Name, OK: err == nil, Optional: p.Optional}
		if err != nil {
			st.Error = "failing"
			if _, msg, ok := userError(err); ok {
				st.Error = msg
			}
			s.log.WarnContext(r.Context(), "readiness probe failed", "probe", p.Name, "optional", p.Optional, "err", err)
			if !p.Optional {
				out.Ready = false
			}
		}
		out.Checks = append(out.Checks, st)
	}
	status := http.StatusOK
	if !out.Ready {
		status = http.StatusServiceUnavailable
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(out)
}
