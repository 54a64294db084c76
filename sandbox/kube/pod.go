package kube

import (
	"context"
	"fmt"
	"math"
	"time"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/watch"

	"github.com/faultline-dev/faultline"
	"github.com/faultline-dev/faultline/sandbox/backend"
)

var (
	metav1Get = metav1.GetOptions{}
	listOne   = metav1.ListOptions{Limit: 1}
)

func ptr[T any](v T) *T { return &v }

// validate checks what Create needs.
func validate(spec backend.Spec) error {
	switch {
	case spec.Image == "":
		return faultline.Errorf(faultline.EINVALID, "A container needs an image.")
	case len(spec.Cmd) == 0:
		return faultline.Errorf(faultline.EINVALID, "A container needs a command.")
	case spec.MemoryMB <= 0 || spec.CPUs <= 0 || spec.Pids <= 0:
		return faultline.Errorf(faultline.EINVALID, "A container needs memory, CPU and process limits.")
	}
	for _, t := range spec.Tmpfs {
		if t.SizeMB <= 0 || len(t.Path) < 2 || t.Path[0] != '/' {
			return faultline.Errorf(faultline.EINVALID, "A tmpfs needs an absolute path and a size.")
		}
	}
	return nil
}

// image returns the reference Pods pull for ref.
func (b *Backend) image(ref string) string { return b.registry + "/" + ref }

// ensureDenyAll makes the namespace's deny-all policy once: it selects every
// Pod of the backend and allows nothing, in or out.
func (b *Backend) ensureDenyAll(ctx context.Context) error {
	b.mu.Lock()
	done := b.policyDone
	b.mu.Unlock()
	if done {
		return nil
	}
	np := &networkingv1.NetworkPolicy{
		ObjectMeta: metav1.ObjectMeta{Name: denyAll, Labels: map[string]string{labelPolicy: "deny-all"}},
		Spec: networkingv1.NetworkPolicySpec{
			PodSelector: metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{{Key: labelPod, Operator: metav1.LabelSelectorOpExists}}},
			PolicyTypes: []networkingv1.PolicyType{networkingv1.PolicyTypeIngress, networkingv1.PolicyTypeEgress},
		},
	}
	if _, err := b.cs.NetworkingV1().NetworkPolicies(b.ns).Create(ctx, np, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		return b.fail("create the deny-all network policy", err)
	}
	b.mu.Lock()
	b.policyDone = true
	b.mu.Unlock()
	return nil
}

// Create makes the Pod, held by a scheduling gate until Start. ENOTFOUND
// when the image is not in the registry or the network does not exist.
func (b *Backend) Create(ctx context.Context, spec backend.Spec) (string, error) {
	if err := validate(spec); err != nil {
		return "", fmt.Errorf("create container: %w", err)
	}
	labels, ann, err := kubeLabels(spec.Labels)
	if err != nil {
		return "", fmt.Errorf("create container: %w", err)
	}
	labels[labelPod] = "1"
	ok, err := b.HasImage(ctx, spec.Image)
	if err != nil {
		return "", fmt.Errorf("create container: %w", err)
	}
	if !ok {
		return "", fmt.Errorf("create container: %w", faultline.Errorf(faultline.ENOTFOUND, "The image %s is not in the registry.", spec.Image))
	}
	if err := b.ensureDenyAll(ctx); err != nil {
		return "", fmt.Errorf("create container: %w", err)
	}
	if spec.Network != "" {
		if _, err := b.cs.NetworkingV1().NetworkPolicies(b.ns).Get(ctx, spec.Network, metav1Get); err != nil {
			return "", b.failAs("create container: network "+spec.Network, err, "The network does not exist.", "")
		}
		labels[labelNetwork] = labelValue(spec.Network)
	}
	pod := b.podFor(spec, labels, ann)
	if _, err := b.cs.CoreV1().Pods(b.ns).Create(ctx, pod, metav1.CreateOptions{}); err != nil {
		if ctx.Err() != nil {
			b.removeCutShort(pod.Name)
		}
		return "", b.fail("create container", err)
	}
	return pod.Name, nil
}

// removeCutShort removes the Pod a create cut short may have made, on a
// fresh context; the API server may finish a create whose client went away,
// so it looks once more a moment later.
func (b *Backend) removeCutShort(name string) {
	ctx, cancel := context.WithTimeout(context.Background(), cleanupTimeout)
	defer cancel()
	for range 3 {
		_ = b.cs.CoreV1().Pods(b.ns).Delete(ctx, name, metav1.DeleteOptions{GracePeriodSeconds: ptr(int64(0))})
		time.Sleep(300 * time.Millisecond)
	}
}

// podFor returns the Pod of spec.
func (b *Backend) podFor(spec backend.Spec, labels map[string]string, ann string) *corev1.Pod {
	mem := resource.NewQuantity(spec.MemoryMB<<20, resource.BinarySI)
	cpuLimit := resource.NewMilliQuantity(int64(math.Ceil(spec.CPUs*1000)), resource.DecimalSI)
	// The request also sets the container's CPU weight on its node. It is
	// the same for a Spec.Background Pod: at a tenth of the limit it is
	// low already, and a quarter of that starved a grade beside the node's
	// own services (a single-node cluster's control plane) past its time
	// limit.
	cpuReq := resource.NewMilliQuantity(max(10, int64(spec.CPUs*1000*b.cpuReq)), resource.DecimalSI)
	var env []corev1.EnvVar
	for _, kv := range spec.Env {
		k, v, _ := cutEnv(kv)
		env = append(env, corev1.EnvVar{Name: k, Value: v})
	}
	var (
		vols   []corev1.Volume
		mounts []corev1.VolumeMount
	)
	for i, t := range spec.Tmpfs {
		name := fmt.Sprintf("tmpfs-%d", i)
		vols = append(vols, corev1.Volume{Name: name, VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{
			Medium: corev1.StorageMediumMemory, SizeLimit: resource.NewQuantity(t.SizeMB<<20, resource.BinarySI),
		}}})
		mounts = append(mounts, corev1.VolumeMount{Name: name, MountPath: t.Path})
	}
	uid, gid := int64(backend.UID), int64(backend.GID)
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{
			Name:        "fl-" + randomHex(8),
			Labels:      labels,
			Annotations: map[string]string{annLabels: ann},
		},
		Spec: corev1.PodSpec{
			RestartPolicy:                 corev1.RestartPolicyNever,
			AutomountServiceAccountToken:  ptr(false),
			EnableServiceLinks:            ptr(false),
			ShareProcessNamespace:         ptr(spec.Init),
			Hostname:                      spec.Hostname,
			TerminationGracePeriodSeconds: ptr(int64(0)),
			SchedulingGates:               []corev1.PodSchedulingGate{{Name: startGate}},
			NodeSelector:                  b.nodeSel,
			Tolerations:                   b.tols,
			SecurityContext: &corev1.PodSecurityContext{
				RunAsUser: &uid, RunAsGroup: &gid, RunAsNonRoot: ptr(true),
				SeccompProfile: &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault},
			},
			Volumes: vols,
			Containers: []corev1.Container{{
				Name:            mainContainer,
				Image:           b.image(spec.Image),
				ImagePullPolicy: corev1.PullIfNotPresent,
				Command:         spec.Cmd,
				Env:             env,
				WorkingDir:      spec.WorkDir,
				Stdin:           spec.Stdin,
				StdinOnce:       spec.Stdin,
				VolumeMounts:    mounts,
				Resources: corev1.ResourceRequirements{
					Limits:   corev1.ResourceList{corev1.ResourceMemory: *mem, corev1.ResourceCPU: *cpuLimit},
					Requests: corev1.ResourceList{corev1.ResourceMemory: *mem, corev1.ResourceCPU: *cpuReq},
				},
				TerminationMessagePolicy: corev1.TerminationMessageReadFile,
				SecurityContext: &corev1.SecurityContext{
					RunAsUser: &uid, RunAsGroup: &gid, RunAsNonRoot: ptr(true),
					AllowPrivilegeEscalation: ptr(false),
					Privileged:               ptr(false),
					ReadOnlyRootFilesystem:   ptr(true),
					Capabilities:             &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}},
				},
			}},
		},
	}
	if spec.Deadline > 0 {
		pod.Spec.ActiveDeadlineSeconds = ptr(max(1, int64(math.Ceil(spec.Deadline.Seconds()))))
	}
	if spec.Runtime != "" {
		pod.Spec.RuntimeClassName = ptr(spec.Runtime)
	}
	return pod
}

func cutEnv(kv string) (string, string, bool) {
	for i := range len(kv) {
		if kv[i] == '=' {
			return kv[:i], kv[i+1:], true
		}
	}
	return kv, "", false
}

// getPod returns the Pod id of this backend.
func (b *Backend) getPod(ctx context.Context, op, id string) (*corev1.Pod, error) {
	pod, err := b.cs.CoreV1().Pods(b.ns).Get(ctx, id, metav1Get)
	if err != nil {
		return nil, b.failAs(op, err, "The container is gone.", "")
	}
	if pod.Labels[labelPod] == "" {
		return nil, fmt.Errorf("%s: %w", op, faultline.Errorf(faultline.ENOTFOUND, "The container is gone."))
	}
	return pod, nil
}

// mainStatus returns the main container's status, nil before the kubelet
// reports one.
func mainStatus(pod *corev1.Pod) *corev1.ContainerStatus {
	for i := range pod.Status.ContainerStatuses {
		if pod.Status.ContainerStatuses[i].Name == mainContainer {
			return &pod.Status.ContainerStatuses[i]
		}
	}
	return nil
}

func gated(pod *corev1.Pod) bool { return len(pod.Spec.SchedulingGates) > 0 }

func running(pod *corev1.Pod) bool {
	st := mainStatus(pod)
	return st != nil && st.State.Running != nil && pod.DeletionTimestamp == nil
}

func terminated(pod *corev1.Pod) bool {
	st := mainStatus(pod)
	return (st != nil && st.State.Terminated != nil) || pod.Status.Phase == corev1.PodSucceeded
}

// startFailure returns why the container cannot start (a bad image, a
// config the runtime refuses), "" while it may still start.
func startFailure(pod *corev1.Pod) string {
	st := mainStatus(pod)
	if st == nil || st.State.Waiting == nil {
		if pod.Status.Phase == corev1.PodFailed && !terminated(pod) && pod.Status.Reason != "DeadlineExceeded" {
			return pod.Status.Reason + ": " + pod.Status.Message
		}
		return ""
	}
	switch w := st.State.Waiting; w.Reason {
	case "ErrImagePull", "ImagePullBackOff", "InvalidImageName", "CreateContainerConfigError", "CreateContainerError", "RunContainerError", "ErrImageNeverPull":
		return w.Reason + ": " + w.Message
	}
	return ""
}

// watchPod waits until cond holds for the Pod id and returns it. ENOTFOUND
// when the Pod goes.
func (b *Backend) watchPod(ctx context.Context, op, id string, cond func(*corev1.Pod) (bool, error)) (*corev1.Pod, error) {
	for {
		list, err := b.cs.CoreV1().Pods(b.ns).List(ctx, metav1.ListOptions{FieldSelector: fields.OneTermEqualSelector("metadata.name", id).String()})
		if err != nil {
			return nil, b.fail(op, err)
		}
		if len(list.Items) == 0 {
			return nil, fmt.Errorf("%s: %w", op, faultline.Errorf(faultline.ENOTFOUND, "The container is gone."))
		}
		pod := &list.Items[0]
		if ok, err := cond(pod); err != nil || ok {
			return pod, err
		}
		w, err := b.cs.CoreV1().Pods(b.ns).Watch(ctx, metav1.ListOptions{
			FieldSelector:   fields.OneTermEqualSelector("metadata.name", id).String(),
			ResourceVersion: list.ResourceVersion,
		})
		if err != nil {
			return nil, b.fail(op, err)
		}
		pod, done, err := func() (*corev1.Pod, bool, error) {
			defer w.Stop()
			for {
				select {
				case <-ctx.Done():
					return nil, true, fmt.Errorf("%s: %w", op, ctx.Err())
				case ev, ok := <-w.ResultChan():
					if !ok {
						return nil, false, nil // expired: list again
					}
					switch ev.Type {
					case watch.Deleted:
						return nil, true, fmt.Errorf("%s: %w", op, faultline.Errorf(faultline.ENOTFOUND, "The container is gone."))
					case watch.Error:
						return nil, false, nil
					}
					p, isPod := ev.Object.(*corev1.Pod)
					if !isPod {
						continue
					}
					if ok, err := cond(p); err != nil || ok {
						return p, true, err
					}
				}
			}
		}()
		if done {
			return pod, err
		}
	}
}

// Start lifts the Pod's scheduling gate and waits until its container runs
// (or has already ended). Starting a started Pod waits the same way.
func (b *Backend) Start(ctx context.Context, id string) error {
	op := "start container " + id
	pod, err := b.getPod(ctx, op, id)
	if err != nil {
		return err
	}
	if gated(pod) {
		patch := []byte(`[{"op":"test","path":"/spec/schedulingGates/0/name","value":"` + startGate + `"},{"op":"remove","path":"/spec/schedulingGates"}]`)
		if _, err := b.cs.CoreV1().Pods(b.ns).Patch(ctx, id, types.JSONPatchType, patch, metav1.PatchOptions{}); err != nil && !apierrors.IsInvalid(err) {
			return b.failAs(op, err, "The container is gone.", "")
		}
	}
	_, err = b.watchPod(ctx, op, id, func(p *corev1.Pod) (bool, error) {
		if why := startFailure(p); why != "" {
			return false, fmt.Errorf("%s: the container cannot start: %s", op, why)
		}
		return running(p) || terminated(p) || p.Status.Phase == corev1.PodFailed, nil
	})
	return err
}

// Wait waits until the container has ended. A Pod never started has nothing
// to wait for: it returns a zero Exit at once.
func (b *Backend) Wait(ctx context.Context, id string) (backend.Exit, error) {
	op := "wait for container " + id
	pod, err := b.getPod(ctx, op, id)
	if err != nil {
		return backend.Exit{}, err
	}
	if gated(pod) {
		return backend.Exit{}, nil
	}
	pod, err = b.watchPod(ctx, op, id, func(p *corev1.Pod) (bool, error) {
		if why := startFailure(p); why != "" {
			return false, fmt.Errorf("%s: the container cannot start: %s", op, why)
		}
		if terminated(p) {
			return true, nil
		}
		// Failed without the container's end reported (a deadline
		// reached before it ran): nothing more will come.
		st := mainStatus(p)
		return p.Status.Phase == corev1.PodFailed && (st == nil || st.State.Running == nil), nil
	})
	if err != nil {
		return backend.Exit{}, err
	}
	return exitOf(pod), nil
}

// exitOf reads how an ended Pod's container ended.
func exitOf(pod *corev1.Pod) backend.Exit {
	exit := backend.Exit{Code: 137}
	if st := mainStatus(pod); st != nil && st.State.Terminated != nil {
		t := st.State.Terminated
		exit.Code = int(t.ExitCode)
		exit.OOMKilled = t.Reason == "OOMKilled"
	}
	if pod.Status.Reason == "DeadlineExceeded" && pod.Annotations[annStopped] == "" {
		exit.DeadlineExceeded = true
		if exit.Code == 0 {
			exit.Code = 137
		}
	}
	return exit
}

// Stop marks the Pod stopped, kills every process of the sandbox user in
// it, and cuts its deadline to a second, which ends whatever is left (the
// main process too when it is the container's PID 1). Stopping a Pod that
// is not running does nothing.
func (b *Backend) Stop(ctx context.Context, id string) error {
	op := "stop container " + id
	pod, err := b.getPod(ctx, op, id)
	if err != nil {
		return err
	}
	if gated(pod) || terminated(pod) || pod.Status.Phase == corev1.PodFailed {
		return nil
	}
	patch := []byte(`{"metadata":{"annotations":{"` + annStopped + `":"` + time.Now().UTC().Format(time.RFC3339) + `"}}}`)
	if _, err := b.cs.CoreV1().Pods(b.ns).Patch(ctx, id, types.MergePatchType, patch, metav1.PatchOptions{}); err != nil {
		return b.failAs(op, err, "The container is gone.", "")
	}
	if running(pod) {
		kctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		_, _ = b.exec(kctx, id, []string{"kill", "-KILL", "-1"}, nil, nil, nil)
		cancel()
	}
	patch = []byte(`{"spec":{"activeDeadlineSeconds":1}}`)
	if _, err := b.cs.CoreV1().Pods(b.ns).Patch(ctx, id, types.StrategicMergePatchType, patch, metav1.PatchOptions{}); err != nil && !apierrors.IsInvalid(err) {
		return b.failAs(op, err, "The container is gone.", "")
	}
	return nil
}

// Remove deletes the Pod at once (no grace period): the API forgets it and
// the kubelet kills what runs.
func (b *Backend) Remove(ctx context.Context, id string) error {
	op := "remove container " + id
	if _, err := b.getPod(ctx, op, id); err != nil {
		return err
	}
	err := b.cs.CoreV1().Pods(b.ns).Delete(ctx, id, metav1.DeleteOptions{GracePeriodSeconds: ptr(int64(0))})
	return b.failAs(op, err, "The container is gone.", "")
}

// Inspect returns the Pod's state.
func (b *Backend) Inspect(ctx context.Context, id string) (*backend.Container, error) {
	pod, err := b.getPod(ctx, "inspect container "+id, id)
	if err != nil {
		return nil, err
	}
	c := containerOf(pod)
	if st := mainStatus(pod); st != nil && st.State.Running != nil {
		c.StartedAt = st.State.Running.StartedAt.Time
	}
	return &c, nil
}

func containerOf(pod *corev1.Pod) backend.Container {
	return backend.Container{ID: pod.Name, Labels: givenLabels(pod.Labels, pod.Annotations), Running: running(pod)}
}

// List returns the backend's Pods carrying match.
func (b *Backend) List(ctx context.Context, match map[string]string) ([]backend.Container, error) {
	list, err := b.cs.CoreV1().Pods(b.ns).List(ctx, metav1.ListOptions{LabelSelector: selector(match, labelPod, "1")})
	if err != nil {
		return nil, b.fail("list containers", err)
	}
	out := make([]backend.Container, 0, len(list.Items))
	for i := range list.Items {
		out = append(out, containerOf(&list.Items[i]))
	}
	return out, nil
}
