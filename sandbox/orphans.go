package sandbox

import (
	"context"
	"fmt"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/api/types/network"
	"github.com/docker/docker/api/types/volume"
)

// containerInfo is what Faultline needs to know about a listed container.
type containerInfo struct {
	ID      string
	Labels  map[string]string
	Running bool
}

// listContainers lists containers (running or not) carrying every label in
// match (a value of "" matches any value).
func (e *Engine) listContainers(ctx context.Context, match map[string]string) ([]containerInfo, error) {
	args := labelFilter(match)
	list, err := e.cli.ContainerList(ctx, container.ListOptions{All: true, Filters: args})
	if err != nil {
		return nil, e.fail(fmt.Sprintf("list containers %v", match), err)
	}
	out := make([]containerInfo, 0, len(list))
	for _, c := range list {
		out = append(out, containerInfo{ID: c.ID, Labels: c.Labels, Running: c.State == "running"})
	}
	return out, nil
}

func labelFilter(match map[string]string) filters.Args {
	args := filters.NewArgs()
	for k, v := range match {
		if v == "" {
			args.Add("label", k)
		} else {
			args.Add("label", k+"="+v)
		}
	}
	return args
}

// RemoveOrphans removes every container, volume and network labelled
// faultline.kind=kind (any Faultline kind when kind is ""), of the Engine's
// scope when one is set, for which keep
// returns false (keep may be nil: remove all), and returns how many objects
// it removed. Containers go first so their volumes and networks are free.
// It returns EUNAVAILABLE when the engine is down; objects that vanish
// meanwhile are not errors.
func (e *Engine) RemoveOrphans(ctx context.Context, kind string, keep func(labels map[string]string) bool) (int, error) {
	match := map[string]string{LabelKind: kind}
	if e.scope != "" {
		match[LabelScope] = e.scope
	}
	n := 0
	cs, err := e.listContainers(ctx, match)
	if err != nil {
		return n, err
	}
	for _, c := range cs {
		if keep != nil && keep(c.Labels) {
			continue
		}
		err := e.cli.ContainerRemove(ctx, c.ID, container.RemoveOptions{Force: true, RemoveVolumes: true})
		if err != nil && !isNotFound(err) {
			return n, e.fail("remove orphan container "+short(c.ID), err)
		}
		e.log.Info("removed orphan container", "id", short(c.ID), "labels", c.Labels)
		n++
	}
	vols, err := e.cli.VolumeList(ctx, volume.ListOptions{Filters: labelFilter(match)})
	if err != nil {
		return n, e.fail("list orphan volumes", err)
	}
	for _, v := range vols.Volumes {
		if keep != nil && keep(v.Labels) {
			continue
		}
		if err := e.cli.VolumeRemove(ctx, v.Name, true); err != nil && !isNotFound(err) {
			return n, e.fail("remove orphan volume "+v.Name, err)
		}
		n++
	}
	nets, err := e.cli.NetworkList(ctx, network.ListOptions{Filters: labelFilter(match)})
	if err != nil {
		return n, e.fail("list orphan networks", err)
	}
	for _, nw := range nets {
		if keep != nil && keep(nw.Labels) {
			continue
		}
		if err := e.cli.NetworkRemove(ctx, nw.ID); err != nil && !isNotFound(err) {
			return n, e.fail("remove orphan network "+nw.Name, err)
		}
		n++
	}
	return n, nil
}
