package kube

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"

	"github.com/faultline-dev/faultline/sandbox/backend/backendtest"
	"github.com/faultline-dev/faultline/sandbox/docker"
)

// These tests run against a real Kubernetes: the single-node k3s of
// scripts/k3s.sh (`make test-k8s` brings it up first; `go test` alone
// brings it up when its binaries are already built), with its registry, and
// the Docker engine as the image builder. Everything they create carries
// labelTest=testRun in the namespace testNS, and is removed at the end.

const (
	labelTest = "faultline.test"
	testNS    = "faultline-test"
)

var (
	testBackend *Backend
	testRun     string
	// testSkip says why the cluster is not there; the tests then skip.
	testSkip string
	testCfg  *rest.Config
	testReg  string
	builder  *docker.Backend
)

// repoRoot is the checkout's root, from this file's place.
func repoRoot() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..")
}

// cluster returns the kubeconfig and registry of the test cluster: from the
// environment (KUBECONFIG and FAULTLINE_K8S_REGISTRY, as `scripts/k3s.sh
// env` prints them), else from scripts/k3s.sh, bringing the cluster up when
// its binaries are built. An error says why there is no cluster.
func cluster() (string, string, error) {
	if kc, reg := os.Getenv("KUBECONFIG"), os.Getenv("FAULTLINE_K8S_REGISTRY"); kc != "" && reg != "" {
		return kc, reg, nil
	}
	script := filepath.Join(repoRoot(), "scripts", "k3s.sh")
	if os.Getuid() != 0 {
		return "", "", fmt.Errorf("no KUBECONFIG and FAULTLINE_K8S_REGISTRY set, and scripts/k3s.sh needs root to bring k3s up")
	}
	if err := exec.Command(script, "status").Run(); err != nil {
		cache := os.Getenv("FAULTLINE_K3S_CACHE")
		if cache == "" {
			cache = "/var/cache/faultline/k3s"
		}
		if _, err := os.Stat(filepath.Join(cache, "bin", "k3s")); err != nil {
			return "", "", fmt.Errorf("k3s is not built on this machine (run `make test-k8s` or scripts/k3s.sh build, ~15 minutes once)")
		}
		cmd := exec.Command(script, "up")
		cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
		if err := cmd.Run(); err != nil {
			return "", "", fmt.Errorf("scripts/k3s.sh up: %v", err)
		}
	}
	out, err := exec.Command(script, "env").Output()
	if err != nil {
		return "", "", fmt.Errorf("scripts/k3s.sh env: %v", err)
	}
	var kc, reg string
	for _, line := range strings.Split(string(out), "\n") {
		if v, ok := strings.CutPrefix(line, "export KUBECONFIG="); ok {
			kc = strings.Trim(v, `'"`)
		}
		if v, ok := strings.CutPrefix(line, "export FAULTLINE_K8S_REGISTRY="); ok {
			reg = strings.Trim(v, `'"`)
		}
	}
	return kc, reg, nil
}

func TestMain(m *testing.M) {
	var b [4]byte
	_, _ = rand.Read(b[:])
	testRun = hex.EncodeToString(b[:])
	level := slog.LevelWarn
	if os.Getenv("SANDBOX_TEST_DEBUG") != "" {
		level = slog.LevelDebug
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
	code := func() int {
		kc, reg, err := cluster()
		if err != nil {
			testSkip = err.Error()
			return m.Run()
		}
		testReg = reg
		testCfg, err = Config(kc)
		if err != nil {
			testSkip = err.Error()
			return m.Run()
		}
		builder, err = docker.New("", log)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		defer builder.Close()
		testBackend, err = New(Options{Config: testCfg, Namespace: testNS, Registry: reg, Builder: builder, Log: log})
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: testNS}}
		if _, err := testBackend.cs.CoreV1().Namespaces().Create(ctx, ns, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
			testSkip = fmt.Sprintf("the cluster does not answer: %v", err)
			return m.Run()
		}
		defer func() {
			// Belt and braces: remove whatever this run left behind.
			match := map[string]string{labelTest: testRun}
			if cs, err := testBackend.List(ctx, match); err == nil {
				for _, c := range cs {
					_ = testBackend.Remove(ctx, c.ID)
				}
			}
			if nets, err := testBackend.ListNetworks(ctx, match); err == nil {
				for _, n := range nets {
					_ = testBackend.RemoveNetwork(ctx, n.Name)
				}
			}
		}()
		return m.Run()
	}()
	os.Exit(code)
}

// needCluster skips, loudly, when the test cluster could not be brought up.
func needCluster(t *testing.T) {
	t.Helper()
	if testSkip != "" {
		t.Skipf("SKIPPED: NO KUBERNETES CLUSTER: %s", testSkip)
	}
}

// deadBackend is a backend whose API server and registry do not answer.
func deadBackend(t *testing.T) *Backend {
	t.Helper()
	dead, err := New(Options{
		Config:    &rest.Config{Host: "https://127.0.0.1:1", Timeout: 5 * time.Second},
		Namespace: testNS, Registry: "127.0.0.1:1", Builder: builder,
	})
	if err != nil {
		t.Fatal(err)
	}
	return dead
}

func TestConformance(t *testing.T) {
	needCluster(t)
	backendtest.Run(t, backendtest.Harness{
		Backend:      testBackend,
		Unavailable:  deadBackend(t),
		Labels:       map[string]string{labelTest: testRun},
		PodNetwork:   "every Pod has an interface on the cluster's network; the namespace's deny-all NetworkPolicy is what isolates it",
		NoBackground: "a Pod's CPU weight follows its CPU request, a tenth of its limit for every Pod; lowering it for grading Pods starved them on a busy node",
	})
}
