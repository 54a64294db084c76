package main

import (
	"flag"
	"fmt"
	"log/slog"
	"strings"

	corev1 "k8s.io/api/core/v1"

	"github.com/faultline-dev/faultline/sandbox/backend"
	"github.com/faultline-dev/faultline/sandbox/docker"
	"github.com/faultline-dev/faultline/sandbox/kube"
)

// BackendConfig says which container orchestrator runs sandboxes and
// grading: the Docker engine (the default) or a Kubernetes namespace.
type BackendConfig struct {
	Name         string // "docker" or "kubernetes"
	Kubeconfig   string // "" in the cluster: the Pod's service account
	Namespace    string // where sandbox and grading Pods go
	Registry     string // host[:port] images are pushed to and pulled from
	NodeSelector string // key=value,... put on every Pod
	Tolerations  string // key[=value]:Effect,... put on every Pod
}

func (b *BackendConfig) fromEnv(getenv func(string) string) {
	for _, e := range []struct {
		dst *string
		key string
	}{
		{&b.Name, "FAULTLINE_BACKEND"}, {&b.Kubeconfig, "FAULTLINE_KUBECONFIG"},
		{&b.Namespace, "FAULTLINE_K8S_NAMESPACE"}, {&b.Registry, "FAULTLINE_K8S_REGISTRY"},
		{&b.NodeSelector, "FAULTLINE_K8S_NODE_SELECTOR"}, {&b.Tolerations, "FAULTLINE_K8S_TOLERATIONS"},
	} {
		if v := getenv(e.key); v != "" {
			*e.dst = v
		}
	}
}

func (b *BackendConfig) registerFlags(fs *flag.FlagSet) {
	fs.StringVar(&b.Name, "backend", b.Name, "where sandboxes and grading run: docker or kubernetes (env FAULTLINE_BACKEND; default docker)")
	fs.StringVar(&b.Kubeconfig, "kubeconfig", b.Kubeconfig, "with -backend kubernetes: kubeconfig file; empty inside the cluster, which uses the Pod's service account (env FAULTLINE_KUBECONFIG)")
	fs.StringVar(&b.Namespace, "k8s-namespace", b.Namespace, "with -backend kubernetes: the namespace of sandbox and grading Pods (env FAULTLINE_K8S_NAMESPACE; default faultline-sandboxes)")
	fs.StringVar(&b.Registry, "k8s-registry", b.Registry, "with -backend kubernetes: image registry host:port the lab images are pushed to and the nodes pull from (env FAULTLINE_K8S_REGISTRY)")
	fs.StringVar(&b.NodeSelector, "k8s-node-selector", b.NodeSelector, "with -backend kubernetes: key=value,... node labels learner Pods must run on (env FAULTLINE_K8S_NODE_SELECTOR)")
	fs.StringVar(&b.Tolerations, "k8s-tolerations", b.Tolerations, "with -backend kubernetes: key[=value]:Effect,... taints learner Pods tolerate, e.g. faultline=labs:NoSchedule (env FAULTLINE_K8S_TOLERATIONS)")
}

// parseNodeSelector reads key=value,...
func parseNodeSelector(s string) (map[string]string, error) {
	if strings.TrimSpace(s) == "" {
		return nil, nil
	}
	out := map[string]string{}
	for _, kv := range strings.Split(s, ",") {
		k, v, ok := strings.Cut(strings.TrimSpace(kv), "=")
		if !ok || k == "" {
			return nil, fmt.Errorf("-k8s-node-selector: %q is not key=value", kv)
		}
		out[k] = v
	}
	return out, nil
}

// parseTolerations reads key[=value][:Effect],... (no value: any value;
// no effect: every effect).
func parseTolerations(s string) ([]corev1.Toleration, error) {
	if strings.TrimSpace(s) == "" {
		return nil, nil
	}
	var out []corev1.Toleration
	for _, item := range strings.Split(s, ",") {
		item = strings.TrimSpace(item)
		kv, effect, _ := strings.Cut(item, ":")
		k, v, hasValue := strings.Cut(kv, "=")
		if k == "" {
			return nil, fmt.Errorf("-k8s-tolerations: %q has no key", item)
		}
		t := corev1.Toleration{Key: k, Operator: corev1.TolerationOpExists}
		if hasValue {
			t.Operator, t.Value = corev1.TolerationOpEqual, v
		}
		switch e := corev1.TaintEffect(effect); e {
		case "", corev1.TaintEffectNoSchedule, corev1.TaintEffectPreferNoSchedule, corev1.TaintEffectNoExecute:
			t.Effect = e
		default:
			return nil, fmt.Errorf("-k8s-tolerations: effect %q of %q is not NoSchedule, PreferNoSchedule or NoExecute", effect, item)
		}
		out = append(out, t)
	}
	return out, nil
}

// newBackend returns the container backend cfg names. It does not contact
// it; a bad configuration is an error naming the flag.
func newBackend(cfg Config, logger *slog.Logger) (backend.Backend, error) {
	d, err := docker.New(cfg.DockerHost, logger)
	if err != nil {
		return nil, fmt.Errorf("docker client: %w", err)
	}
	switch cfg.Backend.Name {
	case "", "docker":
		return d, nil
	case "kubernetes", "k8s":
	default:
		d.Close()
		return nil, fmt.Errorf("-backend must be docker or kubernetes, got %q", cfg.Backend.Name)
	}
	b, err := newKubeBackend(cfg.Backend, d, logger)
	if err != nil {
		d.Close()
		return nil, err
	}
	return b, nil
}

// newKubeBackend builds the Kubernetes backend; the Docker engine d builds
// the images it pushes.
func newKubeBackend(c BackendConfig, d *docker.Backend, logger *slog.Logger) (backend.Backend, error) {
	if c.Registry == "" {
		return nil, fmt.Errorf("-backend kubernetes needs -k8s-registry (the registry the nodes pull lab images from)")
	}
	ns := c.Namespace
	if ns == "" {
		ns = "faultline-sandboxes"
	}
	sel, err := parseNodeSelector(c.NodeSelector)
	if err != nil {
		return nil, err
	}
	tols, err := parseTolerations(c.Tolerations)
	if err != nil {
		return nil, err
	}
	rc, err := kube.Config(c.Kubeconfig)
	if err != nil {
		return nil, fmt.Errorf("-kubeconfig: %w", err)
	}
	b, err := kube.New(kube.Options{Config: rc, Namespace: ns, Registry: c.Registry, Builder: d, NodeSelector: sel, Tolerations: tols, Log: logger})
	if err != nil {
		return nil, err
	}
	return &withBuilder{Backend: b, builder: d}, nil
}

// withBuilder closes the Docker client that builds images with the
// Kubernetes backend.
type withBuilder struct {
	*kube.Backend
	builder *docker.Backend
}

func (w *withBuilder) Close() error {
	err := w.Backend.Close()
	if berr := w.builder.Close(); err == nil {
		err = berr
	}
	return err
}
