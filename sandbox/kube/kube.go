// Package kube implements backend.Backend on Kubernetes, through the API
// server with client-go, so that sandboxes and grading runs can be spread
// over a cluster's nodes instead of one Docker engine.
//
// How the verbs map:
//
//   - a container is a single-container Pod in the backend's namespace, with
//     the hardening of the backend package comment as a security context
//     (user 65534:65534, non-root, read-only root filesystem, all
//     capabilities dropped, no privilege escalation, the runtime's default
//     seccomp profile), no service-account token and no service links, the
//     Spec's memory and CPU as limits (memory requested in full, CPU in part),
//     and its tmpfs as memory-backed emptyDir volumes of the size given;
//   - Create makes the Pod with a scheduling gate, so it exists (and List
//     finds it) but does not run; Start lifts the gate and waits until the
//     container runs;
//   - Spec.Init shares the Pod's process namespace, so the Pod's pause
//     process is PID 1 and reaps orphans;
//   - Spec.Deadline is the Pod's activeDeadlineSeconds (whole seconds,
//     rounded up): the kubelet kills the Pod and says DeadlineExceeded;
//   - Stop kills every process of the sandbox user in the container (an
//     exec of kill -KILL -1) and, to be sure, cuts the Pod's deadline to one
//     second; the Pod is marked stopped, so that end is not a deadline's;
//   - Attach streams the container's log from its start (so no output is
//     missed, whenever the copy begins) and sends stdin through the attach
//     subresource (the container is created with stdin open, once);
//   - exec, the TTY and its resize are the exec subresource; CopyIn and
//     CopyOut pipe tar through it, as kubectl cp does; CPU reads the
//     container's cgroup CPU usage twice, a second apart, through exec;
//   - every Pod is selected by a deny-all NetworkPolicy; a network is one
//     more NetworkPolicy that lets the Pods carrying its label reach each
//     other and nothing else (the cluster's network plugin must enforce
//     policies);
//   - images are built by a local engine (the Builder), pushed to the
//     configured registry, and pulled by the nodes; HasImage and PruneImages
//     speak the registry's HTTP API.
//
// What differs from the Docker backend: a Pod always has a network
// interface (isolation is the deny-all policy, not the absence of one); the
// kubelet keeps container logs (bounded by its container-log-max-size); the
// Pod spec has no process limit, so Spec.Pids is checked but the node's
// podPidsLimit is what caps a Pod.
package kube

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/faultline-dev/faultline"
	"github.com/faultline-dev/faultline/sandbox/backend"
)

// unavailableMessage is what users read when the cluster cannot be reached.
const unavailableMessage = "The Kubernetes cluster is not reachable, so lab sandboxes and grading are unavailable right now. Try again in a few minutes."

// registryUnavailableMessage is what users read when the image registry
// cannot be reached.
const registryUnavailableMessage = "The image registry is not reachable, so lab sandboxes and grading are unavailable right now. Try again in a few minutes."

// cleanupTimeout bounds the calls made on a fresh context after the caller's
// ended.
const cleanupTimeout = 30 * time.Second

// Labels and annotations the backend puts on what it makes.
const (
	// labelPod marks every Pod of this backend; the deny-all policy
	// selects it.
	labelPod = "faultline.pod"
	// labelNetwork on a Pod names (or hashes) the network it joins.
	labelNetwork = "faultline.network"
	// labelPolicy marks this backend's NetworkPolicies: "deny-all" or
	// "network".
	labelPolicy = "faultline.policy"
	// annLabels holds the caller's labels as given (label values that
	// Kubernetes refuses are hashed in the labels).
	annLabels = "faultline.dev/labels"
	// annNetwork holds a network's name on its policy.
	annNetwork = "faultline.dev/network"
	// annStopped marks a Pod Stop ended.
	annStopped = "faultline.dev/stopped"
	// startGate is the scheduling gate that holds a created Pod.
	startGate = "faultline.dev/start"
	// denyAll is the name of the namespace's deny-all policy.
	denyAll = "faultline-deny-all"
	// mainContainer is the one container of every Pod.
	mainContainer = "main"
)

// Builder builds images on a local engine and pushes them to a registry:
// the Docker backend is one.
type Builder interface {
	// BuildImage builds buildContext into ref on the local engine.
	BuildImage(ctx context.Context, ref string, buildContext io.Reader, labels map[string]string) error
	// PushImage pushes the local ref to target, a registry reference.
	PushImage(ctx context.Context, ref, target string) error
	// PruneImages removes the local tags of repo not in keep.
	PruneImages(ctx context.Context, repo string, keep []string, before time.Time) ([]string, error)
}

// Options configure a Backend.
type Options struct {
	// Config is how to reach the API server (see Config).
	Config *rest.Config
	// Namespace holds every Pod and NetworkPolicy of the backend; it must
	// exist.
	Namespace string
	// Registry is the image registry's host[:port]: images are pushed to
	// it and Pods pull "Registry/ref". It must be the same name for the
	// portal and the nodes (a registry on 127.0.0.1 works on a single
	// node, whose container runtime must allow plain HTTP to it).
	Registry string
	// Builder builds and pushes the images.
	Builder Builder
	// NodeSelector and Tolerations are put on every Pod, to keep learner
	// Pods on the nodes meant for them.
	NodeSelector map[string]string
	Tolerations  []corev1.Toleration
	// CPURequest is the share of Spec.CPUs a Pod requests (its limit is
	// the whole); default 0.1. Memory is requested in full.
	CPURequest float64
	// Log receives warnings; nil discards.
	Log *slog.Logger
}

// Backend is a Kubernetes namespace as a backend.Backend. It is safe for
// concurrent use.
type Backend struct {
	cs       kubernetes.Interface
	rest     *rest.Config
	ns       string
	registry string
	builder  Builder
	nodeSel  map[string]string
	tols     []corev1.Toleration
	cpuReq   float64
	log      *slog.Logger
	http     *http.Client

	mu         sync.Mutex
	policyDone bool
}

var _ backend.Backend = (*Backend)(nil)

// Config returns the API server's address and credentials: from the
// kubeconfig file at path, or, for path "", from the Pod's service account
// when running in a cluster. EINVALID when neither works.
func Config(path string) (*rest.Config, error) {
	var (
		cfg *rest.Config
		err error
	)
	if path == "" {
		cfg, err = rest.InClusterConfig()
		if err != nil {
			return nil, faultline.Errorf(faultline.EINVALID, "Not running in a Kubernetes cluster: give a kubeconfig (%v).", err)
		}
	} else {
		cfg, err = clientcmd.BuildConfigFromFlags("", path)
		if err != nil {
			return nil, faultline.Errorf(faultline.EINVALID, "Cannot read the kubeconfig %s: %v", path, err)
		}
	}
	return cfg, nil
}

// New returns a backend on opts. It does not contact the cluster: use Ping
// for that. EINVALID for missing options.
func New(opts Options) (*Backend, error) {
	switch {
	case opts.Config == nil:
		return nil, faultline.Errorf(faultline.EINVALID, "The Kubernetes backend needs a cluster configuration.")
	case opts.Namespace == "":
		return nil, faultline.Errorf(faultline.EINVALID, "The Kubernetes backend needs a namespace.")
	case opts.Registry == "" || strings.Contains(opts.Registry, "/"):
		return nil, faultline.Errorf(faultline.EINVALID, "The Kubernetes backend needs an image registry as host[:port], not %q.", opts.Registry)
	case opts.Builder == nil:
		return nil, faultline.Errorf(faultline.EINVALID, "The Kubernetes backend needs an image builder.")
	}
	cfg := rest.CopyConfig(opts.Config)
	if cfg.QPS == 0 {
		cfg.QPS, cfg.Burst = 50, 100
	}
	if cfg.Timeout == 0 {
		cfg.Timeout = 0 // streams (logs, exec) must not time out; calls use ctx
	}
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return nil, faultline.Errorf(faultline.EINVALID, "Kubernetes client: %v", err)
	}
	log := opts.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	req := opts.CPURequest
	if req <= 0 || req > 1 {
		req = 0.1
	}
	return &Backend{
		cs: cs, rest: cfg, ns: opts.Namespace, registry: opts.Registry, builder: opts.Builder,
		nodeSel: maps.Clone(opts.NodeSelector), tols: append([]corev1.Toleration(nil), opts.Tolerations...),
		cpuReq: req, log: log,
		http: &http.Client{Timeout: 5 * time.Minute},
	}, nil
}

// Ping checks that the API server answers and the namespace exists.
func (b *Backend) Ping(ctx context.Context) error {
	if _, err := b.cs.CoreV1().Namespaces().Get(ctx, b.ns, metav1Get); err != nil {
		if apierrors.IsForbidden(err) {
			// A portal whose Role is limited to its namespace may not
			// read namespaces: listing Pods there proves the same.
			if _, err := b.cs.CoreV1().Pods(b.ns).List(ctx, listOne); err != nil {
				return b.fail("ping cluster", err)
			}
			return nil
		}
		return b.fail("ping cluster", err)
	}
	return nil
}

// Close releases idle connections. Pods live on.
func (b *Backend) Close() error {
	b.http.CloseIdleConnections()
	return nil
}

// fail wraps a cluster error with the operation: a connection failure
// becomes EUNAVAILABLE with a user-safe message (the cause is logged); the
// API server's "not found" and "already exists"/"conflict" answers become
// ENOTFOUND and ECONFLICT.
func (b *Backend) fail(op string, err error) error {
	return b.failAs(op, err, "Not found.", "The object changed meanwhile.")
}

func (b *Backend) failAs(op string, err error, notFound, conflict string) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded):
		return fmt.Errorf("%s: %w", op, err)
	case strings.Contains(err.Error(), "would exceed context deadline"):
		// client-go's rate limiter refuses a wait that would outlast ctx
		// (x/time/rate's error, which does not wrap ctx's): to the caller
		// it is ctx's deadline, as if the request had been sent.
		return fmt.Errorf("%s: %w (%v)", op, context.DeadlineExceeded, err)
	case isUnavailable(err):
		b.log.Warn("kubernetes cluster unreachable", "op", op, "err", err)
		return fmt.Errorf("%s: %w", op, faultline.Errorf(faultline.EUNAVAILABLE, unavailableMessage))
	case apierrors.IsNotFound(err):
		return fmt.Errorf("%s: %v: %w", op, err, faultline.Errorf(faultline.ENOTFOUND, "%s", notFound))
	case apierrors.IsAlreadyExists(err) || apierrors.IsConflict(err):
		return fmt.Errorf("%s: %v: %w", op, err, faultline.Errorf(faultline.ECONFLICT, "%s", conflict))
	}
	return fmt.Errorf("%s: %w", op, err)
}

// isUnavailable says err is a failure to reach the API server (or one it
// gave because it cannot serve now), not an answer about the request.
func isUnavailable(err error) bool {
	var fe *faultline.Error
	if errors.As(err, &fe) {
		return fe.Code == faultline.EUNAVAILABLE
	}
	if apierrors.IsServiceUnavailable(err) || apierrors.IsServerTimeout(err) || apierrors.IsTooManyRequests(err) {
		return true
	}
	var status apierrors.APIStatus
	if errors.As(err, &status) {
		return false
	}
	var op *net.OpError
	var ue *url.Error
	return errors.As(err, &op) || errors.As(err, &ue) || errors.Is(err, syscall.ECONNREFUSED)
}

// errNotRunning is the error of the verbs that need a running container.
func errNotRunning(op string) error {
	return fmt.Errorf("%s: %w", op, faultline.Errorf(faultline.ENOTFOUND, "The container is not running."))
}

// randomHex returns n random bytes in hex.
func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

var labelValueRE = regexp.MustCompile(`^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$`)

// labelValue returns v as a Kubernetes label value: itself when Kubernetes
// takes it, else a hash of it (the value as given is kept in annLabels).
func labelValue(v string) string {
	if len(v) <= 63 && labelValueRE.MatchString(v) {
		return v
	}
	h := sha256.Sum256([]byte(v))
	return "h-" + hex.EncodeToString(h[:])[:40]
}

var labelKeyRE = regexp.MustCompile(`^([a-z0-9]([-a-z0-9.]*[a-z0-9])?/)?[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$`)

// kubeLabels returns labels as Kubernetes labels and the annotation that
// keeps them as given. EINVALID for a key Kubernetes refuses.
func kubeLabels(labels map[string]string) (map[string]string, string, error) {
	out := make(map[string]string, len(labels)+2)
	for k, v := range labels {
		if name := k[strings.LastIndex(k, "/")+1:]; len(name) > 63 || !labelKeyRE.MatchString(k) {
			return nil, "", faultline.Errorf(faultline.EINVALID, "The label %q is not a valid Kubernetes label key.", k)
		}
		if k == labelPod || k == labelNetwork || k == labelPolicy {
			return nil, "", faultline.Errorf(faultline.EINVALID, "The label %q is the backend's own.", k)
		}
		out[k] = labelValue(v)
	}
	raw, _ := json.Marshal(labels)
	return out, string(raw), nil
}

// givenLabels reads the labels as given back from an object's annotations.
func givenLabels(labels, annotations map[string]string) map[string]string {
	out := map[string]string{}
	if raw := annotations[annLabels]; raw != "" && json.Unmarshal([]byte(raw), &out) == nil {
		return out
	}
	for k, v := range labels {
		if k != labelPod && k != labelNetwork && k != labelPolicy {
			out[k] = v
		}
	}
	return out
}

// selector returns a label selector for match ("" values match any value)
// plus the extra pairs.
func selector(match map[string]string, extra ...string) string {
	var parts []string
	for k, v := range match {
		if v == "" {
			parts = append(parts, k)
		} else {
			parts = append(parts, k+"="+labelValue(v))
		}
	}
	for i := 0; i+1 < len(extra); i += 2 {
		parts = append(parts, extra[i]+"="+extra[i+1])
	}
	return strings.Join(parts, ",")
}
