package sandbox

import (
	"context"
	"fmt"
	"strconv"
	"strings"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/network"

	"github.com/faultline-dev/faultline"
)

// Per-learner networks. A lab whose lab.yaml says sandbox: {network: private}
// (faultline.Lab.Network) runs each learner's sandbox on a bridge network of
// its own instead of none: Internal, so the engine gives it no route out and
// drops anything that would leave it, and with inter-container traffic on, so
// everything inside may talk over the interface. The engine keeps separate
// bridge networks apart, so one learner's sandbox cannot reach another's. The
// network carries the sandbox labels (kind, scope, user, lab), is created at
// Start, removed at Stop (and so at Reap), and Reconcile removes any whose
// sandbox is not running. Every other lab keeps network none.

// networkExhaustedMessage is what a learner reads when the engine has no
// address range left for one more network.
const networkExhaustedMessage = "Every sandbox network is in use right now. Try again in a few minutes; if it keeps happening, tell your instructor."

// needsNetwork reports whether the lab's sandboxes get a network of their own.
func needsNetwork(lab *faultline.Lab) bool {
	return lab != nil && lab.Network == faultline.LabNetworkPrivate
}

// networkName is the engine-level name of a learner's sandbox network for
// lab: the sandbox container's name with "net" for "sandbox", so it is unique
// per scope, learner and lab.
func networkName(scope string, userID int64, lab string) string {
	return "faultline-net-" + strings.TrimPrefix(containerName(scope, userID, lab), "faultline-sandbox-")
}

// ensureNetwork creates the learner's private network for lab, or reuses it
// when it exists already (a start after a crash), and returns its name. It
// refuses a same-named network that is not one of this Manager's internal
// sandbox networks.
func (m *Manager) ensureNetwork(ctx context.Context, userID int64, lab string) (string, error) {
	name := networkName(m.opt.Scope, userID, lab)
	labels := m.e.labels(m.match(map[string]string{
		LabelUser: strconv.FormatInt(userID, 10),
		LabelLab:  lab,
	}))
	_, err := m.e.cli.NetworkCreate(ctx, name, network.CreateOptions{
		Driver:   "bridge",
		Internal: true,
		Labels:   labels,
		Options: map[string]string{
			"com.docker.network.bridge.enable_icc":           "true",
			"com.docker.network.bridge.enable_ip_masquerade": "false",
		},
	})
	switch {
	case err == nil:
		return name, nil
	case isConflict(err) || strings.Contains(err.Error(), "already exists"):
		nw, ierr := m.e.cli.NetworkInspect(ctx, name, network.InspectOptions{})
		if ierr != nil {
			return "", m.e.fail("inspect sandbox network "+name, ierr)
		}
		for _, k := range []string{LabelKind, LabelScope, LabelUser, LabelLab} {
			if nw.Labels[k] != labels[k] {
				return "", fmt.Errorf("sandbox network %s exists but is not this sandbox's (label %s = %q)", name, k, nw.Labels[k])
			}
		}
		if !nw.Internal {
			return "", fmt.Errorf("sandbox network %s exists but is not internal", name)
		}
		return name, nil
	case strings.Contains(err.Error(), "address pool"):
		// "could not find an available, non-overlapping IPv4 address pool"
		m.log.Error("sandbox network: the engine has no address range left; see docs/authoring.md", "network", name, "err", err)
		return "", fmt.Errorf("create sandbox network %s: %w", name, faultline.Errorf(faultline.EUNAVAILABLE, networkExhaustedMessage))
	default:
		return "", m.e.fail("create sandbox network "+name, err)
	}
}

// onNetwork changes a sandbox's container config from network none to the
// named network.
func onNetwork(cfg *container.Config, host *container.HostConfig, name string) {
	cfg.NetworkDisabled = false
	host.NetworkMode = container.NetworkMode(name)
}

// removeNetwork removes the learner's network for lab, if there is one.
func (m *Manager) removeNetwork(ctx context.Context, userID int64, lab string) error {
	name := networkName(m.opt.Scope, userID, lab)
	if err := m.e.cli.NetworkRemove(ctx, name); err != nil && !isNotFound(err) {
		return m.e.fail("remove sandbox network "+name, err)
	}
	return nil
}

// removeOrphanNetworks removes the sandbox networks of the Manager's scope
// whose (user, lab) is not in keep (keys from storeKeyOf), and returns how
// many it removed.
func (m *Manager) removeOrphanNetworks(ctx context.Context, keep map[string]bool) (int, error) {
	nets, err := m.e.cli.NetworkList(ctx, network.ListOptions{Filters: labelFilter(m.match(nil))})
	if err != nil {
		return 0, m.e.fail("list sandbox networks", err)
	}
	n := 0
	for _, nw := range nets {
		if keep[nw.Labels[LabelUser]+"/"+nw.Labels[LabelLab]] {
			continue
		}
		if err := m.e.cli.NetworkRemove(ctx, nw.ID); err != nil && !isNotFound(err) {
			return n, m.e.fail("remove orphan sandbox network "+nw.Name, err)
		}
		m.log.Info("removed orphan sandbox network", "network", nw.Name, "user", nw.Labels[LabelUser], "lab", nw.Labels[LabelLab])
		n++
	}
	return n, nil
}

// claimWarm is claim for labs that can use a warm container: those without a
// network of their own (warm containers have network none).
func (m *Manager) claimWarm(ctx context.Context, userID int64, lab *faultline.Lab) (string, bool) {
	if needsNetwork(lab) {
		return "", false
	}
	return m.claim(ctx, userID, lab)
}

// dropNetwork removes the learner's network after a failed start, on a
// fresh context (the caller's may be what failed).
func (m *Manager) dropNetwork(userID int64, lab string) {
	ctx, cancel := context.WithTimeout(context.Background(), cleanupTimeout)
	defer cancel()
	if err := m.removeNetwork(ctx, userID, lab); err != nil {
		m.log.Error("remove sandbox network after a failed start", "user", userID, "lab", lab, "err", err)
	}
}

// storeKeyOf is the "user/lab" key removeOrphanNetworks matches network
// labels against.
func storeKeyOf(userID int64, lab string) string {
	return strconv.FormatInt(userID, 10) + "/" + lab
}
