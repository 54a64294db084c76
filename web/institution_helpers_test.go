package web

import (
	"log/slog"
	"testing"
	"time"
)

// webOption changes the web server's own deps (the institution features)
// in MustInstEnv.
type webOption func(e *env, d *Deps)

// MustInstEnv is MustEnv with the web server rebuilt on the same course
// service after the options set its institution deps (email, SSO, LTI,
// probes).
func MustInstEnv(t *testing.T, opts ...webOption) *env {
	t.Helper()
	e := MustEnv(t)
	cc, lc := MustCatalogs(t)
	d := Deps{Course: e.course, Content: cc, Labs: lc, Now: e.clock.Now, BaseURL: "http://portal.test",
		Logger: slog.New(slog.NewTextHandler(&lockedWriter{w: e.logs}, nil))}
	for _, o := range opts {
		o(e, &d)
	}
	srv, err := New(d)
	if err != nil {
		t.Fatalf("new server: %v", err)
	}
	srv.PollInterval = 5 * time.Millisecond
	e.srv = srv
	return e
}
