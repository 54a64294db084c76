package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"os"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/faultline-dev/faultline/sandbox"
)

// The tests of this file run the portal on -backend kubernetes against the
// test cluster of scripts/k3s.sh (make test-k8s exports KUBECONFIG and
// FAULTLINE_K8S_REGISTRY), each in a namespace of its own that it creates
// and deletes. What they check in the cluster they read with client-go
// directly, not through the backend under test.

// testCluster returns the test cluster's kubeconfig and registry; without
// them the test skips, loudly.
func testCluster(t *testing.T) (kubeconfig, registry string) {
	t.Helper()
	kc, reg := os.Getenv("KUBECONFIG"), os.Getenv("FAULTLINE_K8S_REGISTRY")
	if kc == "" || reg == "" {
		t.Skip("SKIPPED: NO KUBERNETES CLUSTER: KUBECONFIG and FAULTLINE_K8S_REGISTRY are not set (make test-k8s sets them)")
	}
	return kc, reg
}

// kubeBackendConfig is the -backend kubernetes configuration of a test
// portal in namespace ns.
func kubeBackendConfig(kc, reg, ns string) BackendConfig {
	return BackendConfig{Name: "kubernetes", Kubeconfig: kc, Registry: reg, Namespace: ns}
}

// MustNamespace creates a namespace of the test's own on the cluster of
// kubeconfig kc and returns its name and a client. When the test ends
// (after the cleanups registered later, such as the portal's) the
// namespace is deleted and the test waits until it is gone.
func MustNamespace(t *testing.T, kc string) (string, kubernetes.Interface) {
	t.Helper()
	cfg, err := clientcmd.BuildConfigFromFlags("", kc)
	if err != nil {
		t.Fatalf("kubeconfig %s: %v", kc, err)
	}
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	name := "faultline-e2e-" + hex.EncodeToString(b)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{"faultline.test": "cmd-faultline"}}}
	if _, err := cs.CoreV1().Namespaces().Create(ctx, ns, metav1.CreateOptions{}); err != nil {
		t.Fatalf("create namespace %s: %v", name, err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute) // hang guard
		defer cancel()
		if err := cs.CoreV1().Namespaces().Delete(ctx, name, metav1.DeleteOptions{}); err != nil && !apierrors.IsNotFound(err) {
			t.Errorf("delete namespace %s: %v", name, err)
			return
		}
		for {
			_, err := cs.CoreV1().Namespaces().Get(ctx, name, metav1.GetOptions{})
			if apierrors.IsNotFound(err) {
				return
			}
			if ctx.Err() != nil {
				t.Errorf("namespace %s is still there: %v", name, err)
				return
			}
			time.Sleep(500 * time.Millisecond)
		}
	})
	return name, cs
}

// MustLeaveNamespaceEmpty fails the test, when it ends, if namespace ns
// still holds a Pod, or a NetworkPolicy other than the backend's deny-all
// one. Register it before the portal starts, so it runs after the
// portal's own cleanup (which removes everything of its installation) and
// before MustNamespace deletes the namespace.
func MustLeaveNamespaceEmpty(t *testing.T, cs kubernetes.Interface, ns string) {
	t.Helper()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		pods, err := cs.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{})
		if err != nil {
			t.Errorf("list the Pods left: %v", err)
			return
		}
		for _, p := range pods.Items {
			t.Errorf("Pod %s (labels %v, phase %s) left behind after the portal's cleanup", p.Name, p.Labels, p.Status.Phase)
		}
		nps, err := cs.NetworkingV1().NetworkPolicies(ns).List(ctx, metav1.ListOptions{})
		if err != nil {
			t.Errorf("list the NetworkPolicies left: %v", err)
			return
		}
		for _, np := range nps.Items {
			if np.Name != "faultline-deny-all" {
				t.Errorf("NetworkPolicy %s (labels %v) left behind after the portal's cleanup", np.Name, np.Labels)
			}
		}
	})
}

// scopePods lists the Pods of namespace ns of the installation scope in any
// phase (name and labels).
func scopePods(t *testing.T, ctx context.Context, cs kubernetes.Interface, ns, scope string) map[string]map[string]string {
	t.Helper()
	return podsOfScope(t, ctx, cs, ns, scope, func(corev1.Pod) bool { return true })
}

// runningPods lists the running Pods of namespace ns of the installation
// scope (name and labels), as listScope does for Docker containers.
func runningPods(t *testing.T, ctx context.Context, cs kubernetes.Interface, ns, scope string) map[string]map[string]string {
	t.Helper()
	return podsOfScope(t, ctx, cs, ns, scope, func(p corev1.Pod) bool {
		return p.Status.Phase == corev1.PodRunning && p.DeletionTimestamp == nil
	})
}

// podsOfScope lists the Pods of namespace ns of the installation scope that
// keep accepts, by name with their labels.
func podsOfScope(t *testing.T, ctx context.Context, cs kubernetes.Interface, ns, scope string, keep func(corev1.Pod) bool) map[string]map[string]string {
	t.Helper()
	pods, err := cs.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: sandbox.LabelScope + "=" + scope})
	if err != nil {
		t.Fatalf("list Pods: %v", err)
	}
	res := map[string]map[string]string{}
	for _, p := range pods.Items {
		if keep(p) {
			res[p.Name] = p.Labels
		}
	}
	return res
}

// learnerPod returns the Pod of the sandbox the portal m has recorded for
// ada@example.com's circuit-breaker lab.
func learnerPod(t *testing.T, m *Main, cs kubernetes.Interface, ns string) *corev1.Pod {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	u, err := m.DB.FindUserByEmail(ctx, "ada@example.com")
	if err != nil {
		t.Fatal(err)
	}
	sb, err := m.DB.FindSandbox(ctx, u.ID, "circuit-breaker")
	if err != nil {
		t.Fatalf("the learner's sandbox record: %v", err)
	}
	p, err := cs.CoreV1().Pods(ns).Get(ctx, sb.ContainerID, metav1.GetOptions{})
	if err != nil {
		t.Fatalf("the learner's sandbox %s (state %s) has no Pod: %v", sb.ContainerID, sb.State, err)
	}
	if p.Labels[sandbox.LabelKind] != sandbox.KindSandbox || p.Labels[sandbox.LabelScope] != m.Engine.Scope() {
		t.Fatalf("the learner's Pod %s lacks the sandbox labels of installation %s: %v", p.Name, m.Engine.Scope(), p.Labels)
	}
	return p
}

// podRuns says whether p's one container runs, and since when.
func podRuns(p *corev1.Pod) (bool, time.Time) {
	if p.Status.Phase != corev1.PodRunning || p.DeletionTimestamp != nil || len(p.Status.ContainerStatuses) != 1 {
		return false, time.Time{}
	}
	r := p.Status.ContainerStatuses[0].State.Running
	if r == nil {
		return false, time.Time{}
	}
	return true, r.StartedAt.Time
}

// podWatch records the Pods of a label selector that appear and go away in
// a namespace while a test runs.
type podWatch struct {
	mu      sync.Mutex
	added   map[string]bool
	deleted map[string]bool
}

// MustWatchPods watches the Pods of namespace ns matching selector until
// the test ends.
func MustWatchPods(t *testing.T, cs kubernetes.Interface, ns, selector string) *podWatch {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	w, err := cs.CoreV1().Pods(ns).Watch(ctx, metav1.ListOptions{LabelSelector: selector})
	if err != nil {
		cancel()
		t.Fatalf("watch Pods %s: %v", selector, err)
	}
	pw := &podWatch{added: map[string]bool{}, deleted: map[string]bool{}}
	done := make(chan struct{})
	go func() {
		defer close(done)
		for ev := range w.ResultChan() {
			p, ok := ev.Object.(*corev1.Pod)
			if !ok {
				continue
			}
			pw.mu.Lock()
			switch ev.Type {
			case watch.Added:
				pw.added[p.Name] = true
			case watch.Deleted:
				pw.deleted[p.Name] = true
			}
			pw.mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		w.Stop()
		cancel()
		<-done
	})
	return pw
}

// seen returns the Pods that appeared and, of those, the ones still there.
func (pw *podWatch) seen() (added, left []string) {
	pw.mu.Lock()
	defer pw.mu.Unlock()
	for name := range pw.added {
		added = append(added, name)
		if !pw.deleted[name] {
			left = append(left, name)
		}
	}
	return added, left
}

// TestKubernetesLabSession is TestLabSessionSurvivesRestart's walk (start
// the lab, type in CodeMirror, the terminal, run tests, submit and get a
// grade, reset, restart the portal, restore) with the portal on -backend
// kubernetes. The grade runs in a Pod of the namespace, removed after
// its job. Across the restart the learner's sandbox is the same Pod,
// still running with the same container (the restarted portal re-adopts it
// by its labels and record); when the test ends nothing of the
// installation is left in the namespace.
func TestKubernetesLabSession(t *testing.T) {
	kc, reg := testCluster(t)
	ns, cs := MustNamespace(t, kc)
	MustLeaveNamespaceEmpty(t, cs, ns)
	grades := MustWatchPods(t, cs, ns, sandbox.LabelKind+"="+sandbox.KindGrade)
	var before *corev1.Pod
	labSessionWalk(t, labWalk{
		edit: func(c *Config) { c.Backend = kubeBackendConfig(kc, reg, ns) },
		beforeRestart: func(m *Main) {
			// The submission was graded in a Pod of the namespace, removed
			// once its job was done (a hang guard bounds the wait). The
			// Pod pre-started for the next job may wait on.
			deadline := time.Now().Add(2 * time.Minute)
			for {
				added, left := grades.seen()
				if len(added) == 0 {
					t.Fatal("the submission was graded, but no grading Pod ever appeared in the namespace")
				}
				if len(left) < len(added) {
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("grading Pods %v are all still there after the grade", left)
				}
				time.Sleep(200 * time.Millisecond)
			}
			before = learnerPod(t, m, cs, ns)
			if ok, _ := podRuns(before); !ok {
				t.Fatalf("before the restart the learner's Pod %s does not run: %+v", before.Name, before.Status)
			}
		},
		afterRestart: func(m *Main) {
			after := learnerPod(t, m, cs, ns)
			if after.Name != before.Name || after.UID != before.UID {
				t.Fatalf("after the restart the learner's sandbox is Pod %s (%s), want the one from before, %s (%s)", after.Name, after.UID, before.Name, before.UID)
			}
			ok, started := podRuns(after)
			_, startedBefore := podRuns(before)
			if !ok {
				t.Fatalf("after the restart the learner's Pod %s does not run: %+v", after.Name, after.Status)
			}
			if !started.Equal(startedBefore) || after.Status.ContainerStatuses[0].RestartCount != before.Status.ContainerStatuses[0].RestartCount {
				t.Fatalf("the learner's Pod %s restarted its container across the portal's restart (started %v, was %v)", after.Name, started, startedBefore)
			}
		},
		sameSandbox: true,
	})
}

// TestKubernetesKilledPortalLeavesNothingBehind is
// TestKilledPortalLeavesNothingBehind with the portal process on -backend
// kubernetes: it is SIGKILLed with sandboxes and its warm pool running, a
// sandbox's Pod is removed behind its back and a stray Pod of the
// installation appears (both through the backend), and the restarted
// portal must leave no orphan Pod, in any phase, and no running sandbox
// it does not know.
func TestKubernetesKilledPortalLeavesNothingBehind(t *testing.T) {
	kc, reg := testCluster(t)
	ns, cs := MustNamespace(t, kc)
	MustLeaveNamespaceEmpty(t, cs, ns)
	killedPortalWalk(t, killWalk{
		backend:   kubeBackendConfig(kc, reg, ns),
		sandboxes: 10,
		list: func(t *testing.T, ctx context.Context, scope string) map[string]map[string]string {
			return runningPods(t, ctx, cs, ns, scope)
		},
		vanish: func(ctx context.Context, e *sandbox.Engine, id string) error {
			return e.Backend().Remove(ctx, id)
		},
		all: func(t *testing.T, ctx context.Context, scope string) map[string]map[string]string {
			return scopePods(t, ctx, cs, ns, scope)
		},
	})
}
