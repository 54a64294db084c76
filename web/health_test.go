package web

import (
	"context"
	"encoding/json"
	"net/http"
	"testing"

	"github.com/faultline-dev/faultline"
)

// TestHealthAndReadiness: /healthz always answers; /readyz follows the
// database (a real store: closed, it is unready) and reports the engine
// without failing on it; both are open to visitors and change nothing.
func TestHealthAndReadiness(t *testing.T) {
	engineErr := faultline.Errorf(faultline.EUNAVAILABLE, "The container engine is not reachable.")
	e := MustInstEnv(t, func(e *env, d *Deps) {
		d.Probes = []faultline.Probe{
			{Name: "database", Check: func(ctx context.Context) error { return e.db.Ready(ctx) }},
			{Name: "engine", Check: func(context.Context) error { return engineErr }, Optional: true},
		}
	})
	b := e.browser()
	if res := b.get("/healthz"); res.status != http.StatusOK || res.body != "ok\n" {
		t.Fatalf("/healthz: %d %q", res.status, res.body)
	}
	read := func() (int, readiness) {
		res := b.get("/readyz")
		var r readiness
		if err := json.Unmarshal([]byte(res.body), &r); err != nil {
			t.Fatalf("/readyz is not JSON: %v\n%s", err, res.body)
		}
		return res.status, r
	}
	code, r := read()
	if code != http.StatusOK || !r.Ready || len(r.Checks) != 2 || !r.Checks[0].OK || r.Checks[1].OK ||
		!r.Checks[1].Optional || r.Checks[1].Error != "The container engine is not reachable." {
		t.Fatalf("/readyz with the engine down: %d %+v; want ready, the engine reported failing", code, r)
	}
	e.db.Close()
	code, r = read()
	if code != http.StatusServiceUnavailable || r.Ready || r.Checks[0].OK {
		t.Fatalf("/readyz with the database closed: %d %+v; want 503", code, r)
	}
	if res := b.get("/metrics"); res.status != http.StatusNotFound {
		t.Fatalf("/metrics without metrics configured: %d", res.status)
	}
}
