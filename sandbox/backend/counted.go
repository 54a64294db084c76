package backend

import (
	"context"
	"errors"
	"io"
	"maps"
	"sync"
	"time"

	"github.com/faultline-dev/faultline"
)

// Counted is a Backend that counts, by verb, the calls of another Backend
// that failed because of the orchestrator: errors carrying EINTERNAL or
// EUNAVAILABLE. Answers that are part of a verb's contract (ENOTFOUND for a
// container already gone, ECONFLICT, EINVALID, ETOOMANY, ETOOLARGE) and calls
// cut short by their context's end are not failures of the orchestrator and
// are not counted. It is safe for concurrent use.
type Counted struct {
	Backend

	mu     sync.Mutex
	errors map[string]uint64
}

// Count wraps b so that its failed calls are counted. Wrapping a *Counted
// returns it unchanged.
func Count(b Backend) *Counted {
	if c, ok := b.(*Counted); ok {
		return c
	}
	return &Counted{Backend: b, errors: map[string]uint64{}}
}

// Errors returns the failed calls since Count, by verb ("create",
// "copy_in", …); verbs that never failed are absent.
func (c *Counted) Errors() map[string]uint64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return maps.Clone(c.errors)
}

// note counts err against op when it is the orchestrator's failure, and
// returns err unchanged.
func (c *Counted) note(op string, err error) error {
	if err == nil || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	switch faultline.ErrorCode(err) {
	case faultline.EINTERNAL, faultline.EUNAVAILABLE:
		c.mu.Lock()
		c.errors[op]++
		c.mu.Unlock()
	}
	return err
}

func (c *Counted) Ping(ctx context.Context) error {
	return c.note("ping", c.Backend.Ping(ctx))
}

func (c *Counted) Create(ctx context.Context, spec Spec) (string, error) {
	id, err := c.Backend.Create(ctx, spec)
	return id, c.note("create", err)
}

func (c *Counted) Start(ctx context.Context, id string) error {
	return c.note("start", c.Backend.Start(ctx, id))
}

func (c *Counted) Attach(ctx context.Context, id string, stdin io.Reader, output io.Writer) (Attachment, error) {
	a, err := c.Backend.Attach(ctx, id, stdin, output)
	return a, c.note("attach", err)
}

func (c *Counted) Wait(ctx context.Context, id string) (Exit, error) {
	e, err := c.Backend.Wait(ctx, id)
	return e, c.note("wait", err)
}

func (c *Counted) Stop(ctx context.Context, id string) error {
	return c.note("stop", c.Backend.Stop(ctx, id))
}

func (c *Counted) Remove(ctx context.Context, id string) error {
	return c.note("remove", c.Backend.Remove(ctx, id))
}

func (c *Counted) Inspect(ctx context.Context, id string) (*Container, error) {
	ct, err := c.Backend.Inspect(ctx, id)
	return ct, c.note("inspect", err)
}

func (c *Counted) List(ctx context.Context, match map[string]string) ([]Container, error) {
	cs, err := c.Backend.List(ctx, match)
	return cs, c.note("list", err)
}

func (c *Counted) Exec(ctx context.Context, id string, spec ExecSpec) (int, error) {
	code, err := c.Backend.Exec(ctx, id, spec)
	return code, c.note("exec", err)
}

func (c *Counted) ExecTTY(ctx context.Context, id string, spec TTYSpec) (TTY, error) {
	t, err := c.Backend.ExecTTY(ctx, id, spec)
	return t, c.note("exec_tty", err)
}

func (c *Counted) CopyIn(ctx context.Context, id, dir string, archive io.Reader) error {
	return c.note("copy_in", c.Backend.CopyIn(ctx, id, dir, archive))
}

func (c *Counted) CopyOut(ctx context.Context, id, path string) (io.ReadCloser, error) {
	r, err := c.Backend.CopyOut(ctx, id, path)
	return r, c.note("copy_out", err)
}

func (c *Counted) CPU(ctx context.Context, id string) (CPUSample, error) {
	s, err := c.Backend.CPU(ctx, id)
	return s, c.note("cpu", err)
}

func (c *Counted) CreateNetwork(ctx context.Context, name string, labels map[string]string) error {
	return c.note("create_network", c.Backend.CreateNetwork(ctx, name, labels))
}

func (c *Counted) RemoveNetwork(ctx context.Context, name string) error {
	return c.note("remove_network", c.Backend.RemoveNetwork(ctx, name))
}

func (c *Counted) ListNetworks(ctx context.Context, match map[string]string) ([]Network, error) {
	ns, err := c.Backend.ListNetworks(ctx, match)
	return ns, c.note("list_networks", err)
}

func (c *Counted) HasImage(ctx context.Context, ref string) (bool, error) {
	ok, err := c.Backend.HasImage(ctx, ref)
	return ok, c.note("has_image", err)
}

func (c *Counted) BuildImage(ctx context.Context, ref string, buildContext io.Reader, labels map[string]string) error {
	return c.note("build_image", c.Backend.BuildImage(ctx, ref, buildContext, labels))
}

func (c *Counted) PruneImages(ctx context.Context, repo string, keep []string, before time.Time) ([]string, error) {
	refs, err := c.Backend.PruneImages(ctx, repo, keep, before)
	return refs, c.note("prune_images", err)
}

// ResizableCPUs is the wrapped Backend's answer, or 0 when it is no
// CPUResizer.
func (c *Counted) ResizableCPUs(ctx context.Context, runtime string) (float64, error) {
	r, ok := c.Backend.(CPUResizer)
	if !ok {
		return 0, nil
	}
	n, err := r.ResizableCPUs(ctx, runtime)
	return n, c.note("resizable_cpus", err)
}

// SetCPUs changes the container's CPU limit through the wrapped Backend;
// EINVALID when it is no CPUResizer.
func (c *Counted) SetCPUs(ctx context.Context, id string, cpus float64) error {
	r, ok := c.Backend.(CPUResizer)
	if !ok {
		return faultline.Errorf(faultline.EINVALID, "This container backend cannot change a running container's CPU limit.")
	}
	return c.note("set_cpus", r.SetCPUs(ctx, id, cpus))
}

var _ CPUResizer = (*Counted)(nil)
