package kube

import (
	"context"
	"fmt"
	"regexp"

	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/faultline-dev/faultline"
	"github.com/faultline-dev/faultline/sandbox/backend"
)

var policyNameRE = regexp.MustCompile(`^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$`)

// CreateNetwork makes a NetworkPolicy named name that lets the Pods joining
// the network (labelled with it) reach each other, in and out, and nothing
// else; the deny-all policy covers the rest. EINVALID for a name Kubernetes
// refuses; ECONFLICT when it exists.
func (b *Backend) CreateNetwork(ctx context.Context, name string, labels map[string]string) error {
	op := "create network " + name
	if !policyNameRE.MatchString(name) || name == denyAll {
		return fmt.Errorf("%s: %w", op, faultline.Errorf(faultline.EINVALID, "%q is not a valid network name here (lower-case letters, digits, '-' and '.').", name))
	}
	kl, ann, err := kubeLabels(labels)
	if err != nil {
		return fmt.Errorf("%s: %w", op, err)
	}
	if err := b.ensureDenyAll(ctx); err != nil {
		return fmt.Errorf("%s: %w", op, err)
	}
	kl[labelPolicy] = "network"
	members := metav1.LabelSelector{MatchLabels: map[string]string{labelNetwork: labelValue(name)}}
	np := &networkingv1.NetworkPolicy{
		ObjectMeta: metav1.ObjectMeta{Name: name, Labels: kl, Annotations: map[string]string{annLabels: ann, annNetwork: name}},
		Spec: networkingv1.NetworkPolicySpec{
			PodSelector: members,
			PolicyTypes: []networkingv1.PolicyType{networkingv1.PolicyTypeIngress, networkingv1.PolicyTypeEgress},
			Ingress:     []networkingv1.NetworkPolicyIngressRule{{From: []networkingv1.NetworkPolicyPeer{{PodSelector: &members}}}},
			Egress:      []networkingv1.NetworkPolicyEgressRule{{To: []networkingv1.NetworkPolicyPeer{{PodSelector: &members}}}},
		},
	}
	_, err = b.cs.NetworkingV1().NetworkPolicies(b.ns).Create(ctx, np, metav1.CreateOptions{})
	return b.failAs(op, err, "", "A network of that name exists.")
}

// RemoveNetwork removes the network's policy. ECONFLICT while Pods of the
// network exist; ENOTFOUND when there is no such network.
func (b *Backend) RemoveNetwork(ctx context.Context, name string) error {
	op := "remove network " + name
	np, err := b.cs.NetworkingV1().NetworkPolicies(b.ns).Get(ctx, name, metav1Get)
	if err != nil {
		return b.failAs(op, err, "The network does not exist.", "")
	}
	if np.Labels[labelPolicy] != "network" {
		return fmt.Errorf("%s: %w", op, faultline.Errorf(faultline.ENOTFOUND, "The network does not exist."))
	}
	pods, err := b.cs.CoreV1().Pods(b.ns).List(ctx, metav1.ListOptions{LabelSelector: labelNetwork + "=" + labelValue(name), Limit: 1})
	if err != nil {
		return b.fail(op, err)
	}
	if len(pods.Items) > 0 {
		return fmt.Errorf("%s: %w", op, faultline.Errorf(faultline.ECONFLICT, "The network still has containers."))
	}
	err = b.cs.NetworkingV1().NetworkPolicies(b.ns).Delete(ctx, name, metav1.DeleteOptions{})
	return b.failAs(op, err, "The network does not exist.", "")
}

// ListNetworks returns the networks carrying match.
func (b *Backend) ListNetworks(ctx context.Context, match map[string]string) ([]backend.Network, error) {
	list, err := b.cs.NetworkingV1().NetworkPolicies(b.ns).List(ctx, metav1.ListOptions{LabelSelector: selector(match, labelPolicy, "network")})
	if err != nil {
		return nil, b.fail("list networks", err)
	}
	out := make([]backend.Network, 0, len(list.Items))
	for _, np := range list.Items {
		out = append(out, backend.Network{Name: np.Name, Labels: givenLabels(np.Labels, np.Annotations)})
	}
	return out, nil
}
