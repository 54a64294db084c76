package sandbox

import (
	"context"

	"github.com/faultline-dev/faultline"
	"github.com/faultline-dev/faultline/sandbox/backend"
)

// listContainers lists containers (running or not) carrying every label in
// match (a value of "" matches any value).
func (e *Engine) listContainers(ctx context.Context, match map[string]string) ([]backend.Container, error) {
	return e.b.List(ctx, match)
}

// RemoveOrphans removes every container and network labelled
// faultline.kind=kind (any Faultline kind when kind is ""), of the Engine's
// scope when one is set, for which keep returns false (keep may be nil:
// remove all), and returns how many objects it removed. Containers go first
// so their networks are free. It returns EUNAVAILABLE when the orchestrator
// is down; objects that vanish meanwhile are not errors.
func (e *Engine) RemoveOrphans(ctx context.Context, kind string, keep func(labels map[string]string) bool) (int, error) {
	match := map[string]string{LabelKind: kind}
	if e.scope != "" {
		match[LabelScope] = e.scope
	}
	n := 0
	cs, err := e.b.List(ctx, match)
	if err != nil {
		return n, err
	}
	for _, c := range cs {
		if keep != nil && keep(c.Labels) {
			continue
		}
		if err := e.b.Remove(ctx, c.ID); err != nil && faultline.ErrorCode(err) != faultline.ENOTFOUND {
			return n, err
		}
		e.log.Info("removed orphan container", "id", short(c.ID), "labels", c.Labels)
		n++
	}
	nets, err := e.b.ListNetworks(ctx, match)
	if err != nil {
		return n, err
	}
	for _, nw := range nets {
		if keep != nil && keep(nw.Labels) {
			continue
		}
		if err := e.b.RemoveNetwork(ctx, nw.Name); err != nil && faultline.ErrorCode(err) != faultline.ENOTFOUND {
			return n, err
		}
		e.log.Info("removed orphan network", "network", nw.Name, "labels", nw.Labels)
		n++
	}
	return n, nil
}
