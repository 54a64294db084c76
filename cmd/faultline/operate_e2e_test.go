package main

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// TestOperatorEndpoints runs the real portal (real store, real Docker
// engine): /healthz and /readyz answer, and /metrics, behind its token,
// parses with the Prometheus text parser and reports the engine, the
// queue, the warm pool and the requests just made by route pattern.
func TestOperatorEndpoints(t *testing.T) {
	m := MustServeWith(t, t.TempDir(), func(c *Config) {
		c.Inst.MetricsToken = "scrape-me"
		c.PoolSize = 0
	})
	base := m.Config.BaseURL
	c := MustClient(t)
	if code, body := MustDo(t, c, "GET", base+"/healthz", nil); code != 200 || body != "ok\n" {
		t.Fatalf("/healthz: %d %q", code, body)
	}
	code, body := MustDo(t, c, "GET", base+"/readyz", nil)
	var r struct {
		Ready  bool
		Checks []struct {
			Name     string
			OK       bool
			Optional bool
		}
	}
	if err := json.Unmarshal([]byte(body), &r); err != nil || code != 200 || !r.Ready || len(r.Checks) != 2 ||
		r.Checks[0].Name != "database" || !r.Checks[0].OK || r.Checks[1].Name != "engine" || !r.Checks[1].OK || !r.Checks[1].Optional {
		t.Fatalf("/readyz: %d %s (%v)", code, body, err)
	}
	MustDo(t, c, "GET", base+"/lessons/circuit-breakers", nil) // a visitor: 303 to sign in
	if code, _ := MustDo(t, c, "GET", base+"/metrics", nil); code != http.StatusNotFound {
		t.Fatalf("/metrics without the token: %d, want 404", code)
	}
	req, _ := http.NewRequest("GET", base+"/metrics", nil)
	req.Header.Set("Authorization", "Bearer scrape-me")
	res, err := c.Do(req)
	if err != nil || res.StatusCode != 200 {
		t.Fatalf("/metrics with the token: %v %v", res, err)
	}
	defer res.Body.Close()
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(res.Body)
	if err != nil {
		t.Fatalf("/metrics does not parse: %v", err)
	}
	if g := fams["faultline_engine_up"]; g == nil || g.Metric[0].Gauge.GetValue() != 1 {
		t.Errorf("engine_up: %v", g)
	}
	for _, name := range []string{"faultline_grading_queue_depth", "faultline_sandboxes", "faultline_sandbox_warm_pool_ready", "faultline_mail_pending", "go_goroutines"} {
		if fams[name] == nil {
			t.Errorf("no %s", name)
		}
	}
	routes := map[string]bool{}
	for _, mm := range fams["faultline_http_request_duration_seconds"].GetMetric() {
		for _, l := range mm.Label {
			if l.GetName() == "route" {
				routes[l.GetValue()] = true
			}
		}
	}
	for _, want := range []string{"/healthz", "/readyz", "/lessons/{slug}"} {
		if !routes[want] {
			t.Errorf("no request metric for route %s (have %v)", want, routes)
		}
	}
	for r := range routes {
		if strings.Contains(r, "circuit-breakers") {
			t.Errorf("a route label carries a slug: %s", r)
		}
	}
}
