package docker

import (
	"context"
	"fmt"
	"slices"

	"github.com/docker/docker/api/types/volume"

	"github.com/faultline-dev/faultline/sandbox/backend"
)

// CreateVolume makes a local named volume; the engine answers an existing
// name with that volume, so a second call does nothing. Mounted over a
// directory of the image, an empty volume is filled with a copy of it.
func (b *Backend) CreateVolume(ctx context.Context, name string, labels map[string]string) error {
	_, err := b.cli.VolumeCreate(ctx, volume.CreateOptions{Name: name, Driver: "local", Labels: labels})
	return b.fail("create volume "+name, err)
}

// ListVolumes lists the names of volumes by label, sorted.
func (b *Backend) ListVolumes(ctx context.Context, match map[string]string) ([]string, error) {
	resp, err := b.cli.VolumeList(ctx, volume.ListOptions{Filters: labelFilter(match)})
	if err != nil {
		return nil, b.fail(fmt.Sprintf("list volumes %v", match), err)
	}
	var names []string
	for _, v := range resp.Volumes {
		names = append(names, v.Name)
	}
	slices.Sort(names)
	return names, nil
}

// RemoveVolume removes a volume no container mounts.
func (b *Backend) RemoveVolume(ctx context.Context, name string) error {
	return b.failAs("remove volume "+name, b.cli.VolumeRemove(ctx, name, false), "No such volume.", "The volume is in use.")
}

var _ backend.VolumeKeeper = (*Backend)(nil)
