package grader_test

import (
	"context"
	"log/slog"
	"os"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/faultline-dev/faultline/grader"
	"github.com/faultline-dev/faultline/labs"
	"github.com/faultline-dev/faultline/sandbox"
	"github.com/faultline-dev/faultline/sandbox/docker"
	"github.com/faultline-dev/faultline/sandbox/kube"
)

// The tests in this file grade in Pods on the test cluster of
// scripts/k3s.sh (`make test-k8s` brings it up and exports KUBECONFIG and
// FAULTLINE_K8S_REGISTRY): the same submissions as on Docker, and a real
// lab's solution, starter and mutants.

const kubeNS = "faultline-test-grader"

var (
	kubeOnce   sync.Once
	kubeEngine *sandbox.Engine
	kubeErr    error
)

// MustKubeGrader returns a Grader whose containers are Pods on the test
// cluster, with the lab image built and pushed; it skips, loudly, when no
// cluster is configured, and fails when one is configured but broken.
func MustKubeGrader(tb testing.TB) *grader.Grader {
	tb.Helper()
	kc, reg := os.Getenv("KUBECONFIG"), os.Getenv("FAULTLINE_K8S_REGISTRY")
	if kc == "" || reg == "" {
		tb.Skip("SKIPPED: NO KUBERNETES CLUSTER: KUBECONFIG and FAULTLINE_K8S_REGISTRY are not set (make test-k8s sets them)")
	}
	kubeOnce.Do(func() {
		log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
		cfg, err := kube.Config(kc)
		if err != nil {
			kubeErr = err
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
		defer cancel()
		cs, err := kubernetes.NewForConfig(cfg)
		if err != nil {
			kubeErr = err
			return
		}
		ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: kubeNS}}
		if _, err := cs.CoreV1().Namespaces().Create(ctx, ns, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
			kubeErr = err
			return
		}
		builder, err := docker.New("", log)
		if err != nil {
			kubeErr = err
			return
		}
		b, err := kube.New(kube.Options{Config: cfg, Namespace: kubeNS, Registry: reg, Builder: builder, Log: log})
		if err != nil {
			kubeErr = err
			return
		}
		kubeEngine = sandbox.New(b, log)
		if kubeErr = kubeEngine.Ping(ctx); kubeErr != nil {
			return
		}
		_, kubeErr = kubeEngine.LabImage(ctx, nil)
	})
	if kubeErr != nil {
		tb.Fatalf("kubernetes backend: %v", kubeErr)
	}
	return grader.New(kubeEngine, grader.Options{})
}

// TestGradeKubernetes grades every submission of TestGradeDocker in Pods:
// the same verdicts, limits and containment.
func TestGradeKubernetes(t *testing.T) {
	gradeCases(t, MustKubeGrader(t))
}

// TestCheckKubernetes grades a built-in lab's solution, starter and every
// hand-written mutant in Pods, twice each: full marks for the solution
// only, the same verdict both times.
func TestCheckKubernetes(t *testing.T) {
	g := MustKubeGrader(t)
	cat, err := labs.Load(labs.FS)
	if err != nil {
		t.Fatal(err)
	}
	lab, err := cat.Lab("circuit-breaker")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Minute)
	defer cancel()
	rep, err := grader.Check(ctx, g, lab, 2)
	if err != nil {
		t.Fatalf("Check: %v", err)
	}
	if want := 2 + len(lab.Mutants); len(rep.Rows) != want {
		t.Fatalf("rows = %d, want solution, starter and %d mutants", len(rep.Rows), len(lab.Mutants))
	}
	for _, row := range rep.Rows {
		t.Logf("%+v", row)
		if !row.OK || !row.Stable {
			t.Errorf("row %+v not OK", row)
		}
	}
	if !rep.OK {
		t.Errorf("the lab's check failed on Kubernetes")
	}
}
