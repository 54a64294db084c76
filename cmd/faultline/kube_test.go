package main

import (
	"context"
	"log/slog"
	"os"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
)

func TestBackendFlags(t *testing.T) {
	tols, err := parseTolerations("faultline=labs:NoSchedule, gpu")
	if err != nil || len(tols) != 2 || tols[0].Operator != corev1.TolerationOpEqual || tols[0].Value != "labs" ||
		tols[0].Effect != corev1.TaintEffectNoSchedule || tols[1].Operator != corev1.TolerationOpExists || tols[1].Effect != "" {
		t.Errorf("tolerations: %+v, %v", tols, err)
	}
	if _, err := parseTolerations("a=b:Sometimes"); err == nil || !strings.Contains(err.Error(), "Sometimes") {
		t.Errorf("bad effect: %v", err)
	}
	sel, err := parseNodeSelector("pool=labs,zone=a")
	if err != nil || sel["pool"] != "labs" || sel["zone"] != "a" || len(sel) != 2 {
		t.Errorf("node selector: %v, %v", sel, err)
	}
	if _, err := parseNodeSelector("pool"); err == nil {
		t.Errorf("node selector without a value accepted")
	}
	log := slog.New(slog.DiscardHandler)
	for name, c := range map[string]struct {
		cfg  BackendConfig
		want string
	}{
		"unknown backend":  {BackendConfig{Name: "nomad"}, "-backend"},
		"no registry":      {BackendConfig{Name: "kubernetes", Kubeconfig: "x"}, "-k8s-registry"},
		"bad kubeconfig":   {BackendConfig{Name: "kubernetes", Kubeconfig: "/nonexistent/kubeconfig", Registry: "127.0.0.1:5000"}, "-kubeconfig"},
		"bad toleration":   {BackendConfig{Name: "kubernetes", Registry: "r:1", Tolerations: "=x"}, "-k8s-tolerations"},
		"bad nodeselector": {BackendConfig{Name: "kubernetes", Registry: "r:1", NodeSelector: "x"}, "-k8s-node-selector"},
	} {
		if _, err := newBackend(Config{Backend: c.cfg}, log); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v, want an error naming %s", name, err, c.want)
		}
	}
}

// TestKubernetesEngine: -backend kubernetes reaches the test cluster of
// scripts/k3s.sh (make test-k8s exports KUBECONFIG and
// FAULTLINE_K8S_REGISTRY).
func TestKubernetesEngine(t *testing.T) {
	kc, reg := os.Getenv("KUBECONFIG"), os.Getenv("FAULTLINE_K8S_REGISTRY")
	if kc == "" || reg == "" {
		t.Skip("SKIPPED: NO KUBERNETES CLUSTER: KUBECONFIG and FAULTLINE_K8S_REGISTRY are not set (make test-k8s sets them)")
	}
	e, err := newEngine(Config{Backend: BackendConfig{Name: "kubernetes", Kubeconfig: kc, Registry: reg, Namespace: "default"}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := e.Ping(ctx); err != nil {
		t.Fatalf("Ping through -backend kubernetes: %v", err)
	}
}
