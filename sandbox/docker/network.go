package docker

import (
	"context"
	"fmt"
	"strings"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/docker/docker/api/types/network"

	"github.com/faultline-dev/faultline"
	"github.com/faultline-dev/faultline/sandbox/backend"
)

// networkExhaustedMessage is what a learner reads when the engine has no
// address range left for one more network.
const networkExhaustedMessage = "Every sandbox network is in use right now. Try again in a few minutes; if it keeps happening, tell your instructor."

// CreateNetwork makes an internal bridge network: the engine drops anything
// forwarded into or out of it, inter-container traffic is on (so containers
// on it, and processes of one container on its address, reach each other),
// masquerading is off, and the bridge itself gets no address: an internal
// network's isolation covers forwarded traffic only, so with an address on
// the bridge its containers would reach every service of the host through
// it. The engine keeps separate bridge networks apart.
func (b *Backend) CreateNetwork(ctx context.Context, name string, labels map[string]string) error {
	_, err := b.cli.NetworkCreate(ctx, name, network.CreateOptions{
		Driver:   "bridge",
		Internal: true,
		Labels:   labels,
		Options: map[string]string{
			"com.docker.network.bridge.enable_icc":           "true",
			"com.docker.network.bridge.enable_ip_masquerade": "false",
			"com.docker.network.bridge.inhibit_ipv4":         "true",
		},
	})
	switch {
	case err == nil:
		return nil
	case cerrdefs.IsConflict(err) || strings.Contains(err.Error(), "already exists"):
		return fmt.Errorf("create network %s: %v: %w", name, err, faultline.Errorf(faultline.ECONFLICT, "A network of that name exists."))
	case strings.Contains(err.Error(), "address pool"):
		// "could not find an available, non-overlapping IPv4 address pool"
		b.log.Error("sandbox network: the engine has no address range left; see docs/authoring.md", "network", name, "err", err)
		return fmt.Errorf("create network %s: %w", name, faultline.Errorf(faultline.EUNAVAILABLE, networkExhaustedMessage))
	}
	return b.fail("create network "+name, err)
}

// RemoveNetwork removes the named network.
func (b *Backend) RemoveNetwork(ctx context.Context, name string) error {
	return b.failAs("remove network "+name, b.cli.NetworkRemove(ctx, name), "No such network.", "The network is in use.")
}

// ListNetworks lists networks by label.
func (b *Backend) ListNetworks(ctx context.Context, match map[string]string) ([]backend.Network, error) {
	nets, err := b.cli.NetworkList(ctx, network.ListOptions{Filters: labelFilter(match)})
	if err != nil {
		return nil, b.fail(fmt.Sprintf("list networks %v", match), err)
	}
	out := make([]backend.Network, 0, len(nets))
	for _, nw := range nets {
		out = append(out, backend.Network{Name: nw.Name, Labels: nw.Labels})
	}
	return out, nil
}
