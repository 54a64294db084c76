package sandbox

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/faultline-dev/faultline"
	"github.com/faultline-dev/faultline/sandbox/backend"
)

// Per-learner networks. A lab whose lab.yaml says sandbox: {network: private}
// (faultline.Lab.Network) runs each learner's sandbox on a network of its own
// (backend.Backend.CreateNetwork: no route out, nothing outside it reaches
// in, separate networks kept apart) instead of none, so processes in the
// sandbox may talk over its network address while one learner's sandbox
// cannot reach another's. The network carries the sandbox labels (kind,
// scope, user, lab), is created at Start, removed at Stop (and so at Reap),
// and Reconcile removes any whose sandbox is not running. Every other lab
// keeps no network at all.

// needsNetwork reports whether the lab's sandboxes get a network of their own.
func needsNetwork(lab *faultline.Lab) bool {
	return lab != nil && lab.Network == faultline.LabNetworkPrivate
}

// networkName is the name of a learner's sandbox network for lab, unique per
// scope, learner and lab.
func networkName(scope string, userID int64, lab string) string {
	clean := func(s string) string {
		return strings.Map(func(r rune) rune {
			if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_' {
				return r
			}
			return '-'
		}, s)
	}
	if scope != "" {
		return fmt.Sprintf("faultline-net-%s-u%d-%s", clean(scope), userID, clean(lab))
	}
	return fmt.Sprintf("faultline-net-u%d-%s", userID, clean(lab))
}

// ensureNetwork creates the learner's private network for lab, or reuses it
// when it exists already (a start after a crash), and returns its name. It
// refuses a same-named network that is not this sandbox's (its labels
// differ).
func (m *Manager) ensureNetwork(ctx context.Context, userID int64, lab string) (string, error) {
	name := networkName(m.opt.Scope, userID, lab)
	own := m.match(map[string]string{
		LabelUser: strconv.FormatInt(userID, 10),
		LabelLab:  lab,
	})
	err := m.e.b.CreateNetwork(ctx, name, m.e.labels(own))
	switch faultline.ErrorCode(err) {
	case "":
		return name, nil
	case faultline.ECONFLICT:
		nets, lerr := m.e.b.ListNetworks(ctx, own)
		if lerr != nil {
			return "", fmt.Errorf("sandbox network %s: %w", name, lerr)
		}
		if !slices.ContainsFunc(nets, func(n backend.Network) bool { return n.Name == name }) {
			return "", fmt.Errorf("sandbox network %s exists but is not this sandbox's (its labels differ)", name)
		}
		return name, nil
	}
	return "", fmt.Errorf("sandbox network %s: %w", name, err)
}

// removeNetwork removes the learner's network for lab, if there is one.
func (m *Manager) removeNetwork(ctx context.Context, userID int64, lab string) error {
	name := networkName(m.opt.Scope, userID, lab)
	if err := m.e.b.RemoveNetwork(ctx, name); err != nil && faultline.ErrorCode(err) != faultline.ENOTFOUND {
		return fmt.Errorf("remove sandbox network: %w", err)
	}
	return nil
}

// removeOrphanNetworks removes the sandbox networks of the Manager's scope
// whose (user, lab) is not in keep (keys from storeKeyOf), and returns how
// many it removed.
func (m *Manager) removeOrphanNetworks(ctx context.Context, keep map[string]bool) (int, error) {
	nets, err := m.e.b.ListNetworks(ctx, m.match(nil))
	if err != nil {
		return 0, fmt.Errorf("list sandbox networks: %w", err)
	}
	n := 0
	for _, nw := range nets {
		if keep[nw.Labels[LabelUser]+"/"+nw.Labels[LabelLab]] {
			continue
		}
		if err := m.e.b.RemoveNetwork(ctx, nw.Name); err != nil && faultline.ErrorCode(err) != faultline.ENOTFOUND {
			return n, fmt.Errorf("remove orphan sandbox network: %w", err)
		}
		m.log.Info("removed orphan sandbox network", "network", nw.Name, "user", nw.Labels[LabelUser], "lab", nw.Labels[LabelLab])
		n++
	}
	return n, nil
}

// claimWarm is claim for labs that can use a warm container: those without a
// network of their own (warm containers have none).
func (m *Manager) claimWarm(lab *faultline.Lab) (*seeding, bool) {
	if needsNetwork(lab) {
		return nil, false
	}
	return m.claim(lab)
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
