package kube

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/client-go/util/flowcontrol"

	"github.com/faultline-dev/faultline"
	"github.com/faultline-dev/faultline/sandbox/backend"
)

// TestPodFor checks the Pod a spec becomes, without a cluster: the
// hardening, the limits, the gate, the deadline and the labels.
func TestPodFor(t *testing.T) {
	b := &Backend{registry: "reg.example:5000", cpuReq: 0.1}
	labels, ann, err := kubeLabels(map[string]string{"faultline.lab": "kv store/v2", "faultline.user": "42"})
	if err != nil {
		t.Fatal(err)
	}
	pod := b.podFor(backend.Spec{
		Image: "faultline-lab:abc", Cmd: []string{"sleep", "1"}, MemoryMB: 256, CPUs: 1.5, Pids: 64,
		Tmpfs: []backend.Tmpfs{{Path: "/tmp", SizeMB: 16}}, Init: true, Deadline: 2500 * time.Millisecond,
	}, labels, ann)
	c := pod.Spec.Containers[0]
	sc := c.SecurityContext
	switch {
	case *pod.Spec.AutomountServiceAccountToken, *pod.Spec.EnableServiceLinks:
		t.Errorf("the Pod gets a token or service links")
	case !*sc.ReadOnlyRootFilesystem, *sc.AllowPrivilegeEscalation, *sc.Privileged, !*sc.RunAsNonRoot,
		*sc.RunAsUser != backend.UID, *sc.RunAsGroup != backend.GID, !slices.Equal(sc.Capabilities.Drop, []corev1.Capability{"ALL"}):
		t.Errorf("container security context %+v", sc)
	case c.Image != "reg.example:5000/faultline-lab:abc":
		t.Errorf("image %q", c.Image)
	case c.Resources.Limits.Memory().Value() != 256<<20 || c.Resources.Requests.Memory().Value() != 256<<20:
		t.Errorf("memory %v", c.Resources)
	case c.Resources.Limits.Cpu().MilliValue() != 1500 || c.Resources.Requests.Cpu().MilliValue() != 150:
		t.Errorf("cpu %v", c.Resources)
	case len(pod.Spec.SchedulingGates) != 1 || pod.Spec.SchedulingGates[0].Name != startGate:
		t.Errorf("no start gate: %v", pod.Spec.SchedulingGates)
	case pod.Spec.ActiveDeadlineSeconds == nil || *pod.Spec.ActiveDeadlineSeconds != 3:
		t.Errorf("deadline %v, want 3 s (rounded up)", pod.Spec.ActiveDeadlineSeconds)
	case !*pod.Spec.ShareProcessNamespace:
		t.Errorf("Init without a shared process namespace")
	case pod.Spec.Volumes[0].EmptyDir.SizeLimit.Value() != 16<<20 || c.VolumeMounts[0].MountPath != "/tmp":
		t.Errorf("tmpfs %+v %+v", pod.Spec.Volumes, c.VolumeMounts)
	}
	if got := givenLabels(pod.Labels, pod.Annotations); got["faultline.lab"] != "kv store/v2" || got["faultline.user"] != "42" || len(got) != 2 {
		t.Errorf("labels read back: %v", got)
	}
	if v := pod.Labels["faultline.lab"]; v == "kv store/v2" || !labelValueRE.MatchString(v) {
		t.Errorf("label value %q is not a valid Kubernetes one", v)
	}
	// A background Pod keeps the request (and so the weight) of any
	// other: a quarter of it starved grades on a busy node.
	bg := b.podFor(backend.Spec{Image: "faultline-lab:abc", Cmd: []string{"sleep", "1"}, MemoryMB: 256, CPUs: 1.5, Pids: 64, Background: true}, labels, ann)
	if r := bg.Spec.Containers[0].Resources; r.Requests.Cpu().MilliValue() != 150 || r.Limits.Cpu().MilliValue() != 1500 {
		t.Errorf("background cpu %v, want a request of 150m and a limit of 1500m", r)
	}
	if _, _, err := kubeLabels(map[string]string{"bad key!": "x"}); faultline.ErrorCode(err) != faultline.EINVALID {
		t.Errorf("bad key: %v", err)
	}
}

func TestWrapCmdAndParseCPU(t *testing.T) {
	if got := wrapCmd([]string{"ls"}, nil, ""); !slices.Equal(got, []string{"ls"}) {
		t.Errorf("plain: %q", got)
	}
	if got := wrapCmd([]string{"ls", "-l"}, []string{"A=1"}, "/work"); !slices.Equal(got[3:], []string{"/work", "A=1", "ls", "-l"}) {
		t.Errorf("wrapped: %q", got)
	}
	if d, ok := parseCPU("usage_usec 1500\nuser_usec 1000\n"); !ok || d != 1500*time.Microsecond {
		t.Errorf("cgroup v2: %v %v", d, ok)
	}
	if d, ok := parseCPU("123456789\n"); !ok || d != 123456789 {
		t.Errorf("cgroup v1: %v %v", d, ok)
	}
	if _, ok := parseCPU("cat: no such file\n"); ok {
		t.Errorf("garbage parsed")
	}
}

// TestRateLimiterWaitIsTheDeadline: client-go's rate limiter refuses a wait
// that would outlast ctx with an error of its own; the backend reports it
// as ctx's deadline, as callers (and the conformance suite) expect.
func TestRateLimiterWaitIsTheDeadline(t *testing.T) {
	lim := flowcontrol.NewTokenBucketRateLimiter(1, 1)
	if err := lim.Wait(context.Background()); err != nil {
		t.Fatal(err)
	}
	// The bucket is empty: the next token is a second away, past ctx.
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute/1000)
	defer cancel()
	werr := lim.Wait(ctx)
	if werr == nil || errors.Is(werr, context.DeadlineExceeded) {
		t.Fatalf("the limiter's refusal is %v; this test wants its own error", werr)
	}
	b := &Backend{log: slog.New(slog.DiscardHandler)}
	err := b.fail("create container", fmt.Errorf("client rate limiter Wait returned an error: %w", werr))
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("fail(%v) = %v, want context.DeadlineExceeded", werr, err)
	}
}
