package docker

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"sync"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/api/types/network"
	"github.com/docker/docker/pkg/stdcopy"

	"github.com/faultline-dev/faultline"
	"github.com/faultline-dev/faultline/sandbox/backend"
)

// deadline is a container's Spec.Deadline: a timer started by Start that
// kills the container, and whether it did.
type deadline struct {
	after time.Duration

	mu       sync.Mutex
	timer    *time.Timer
	exceeded bool // the timer killed the running container
	ended    bool // Wait saw the container end: the timer must not fire
}

// Create makes a hardened container from spec. It is named
// faultline-<random>, so a create cut short by ctx, whose ID never arrived,
// is removed by name.
func (b *Backend) Create(ctx context.Context, spec backend.Spec) (string, error) {
	if err := validate(spec); err != nil {
		return "", err
	}
	if spec.Network != "" {
		// The engine would only notice at start.
		if _, err := b.cli.NetworkInspect(ctx, spec.Network, network.InspectOptions{}); err != nil {
			return "", b.failAs("create container on network "+spec.Network, err, "The container's network does not exist.", "")
		}
	}
	cfg, host := containerConfig(spec)
	name := "faultline-" + randomHex(8)
	created, err := b.cli.ContainerCreate(ctx, cfg, host, nil, nil, name)
	if err != nil {
		if ctx.Err() != nil {
			b.removeCutShort(name)
			return "", fmt.Errorf("create container from %q: %w", spec.Image, ctx.Err())
		}
		return "", b.failAs(fmt.Sprintf("create container from %q", spec.Image), err,
			"The container image or network is not available.", "The container exists already.")
	}
	if spec.Deadline > 0 {
		b.mu.Lock()
		b.deadlines[created.ID] = &deadline{after: spec.Deadline}
		b.mu.Unlock()
	}
	return created.ID, nil
}

// validate refuses a spec the hardening cannot apply to.
func validate(spec backend.Spec) error {
	switch {
	case spec.Image == "":
		return faultline.Errorf(faultline.EINVALID, "A container needs an image.")
	case len(spec.Cmd) == 0:
		return faultline.Errorf(faultline.EINVALID, "A container needs a command.")
	case spec.MemoryMB <= 0 || spec.CPUs <= 0 || spec.Pids <= 0:
		return faultline.Errorf(faultline.EINVALID, "A container needs memory, CPU and process limits (got %d MiB, %g CPUs, %d processes).", spec.MemoryMB, spec.CPUs, spec.Pids)
	}
	for _, t := range spec.Tmpfs {
		if !strings.HasPrefix(t.Path, "/") || t.SizeMB <= 0 || strings.ContainsAny(t.Path, ",:") {
			return faultline.Errorf(faultline.EINVALID, "Bad in-memory filesystem %q of %d MiB.", t.Path, t.SizeMB)
		}
	}
	return nil
}

// backgroundShares is the CPU weight of a Spec.Background container: a
// quarter of the engine's default, 1024.
const backgroundShares = 256

// containerConfig is the engine's configuration for spec, with the hardening
// every container gets.
func containerConfig(spec backend.Spec) (*container.Config, *container.HostConfig) {
	tmpfs := map[string]string{}
	for _, t := range spec.Tmpfs {
		tmpfs[t.Path] = fmt.Sprintf("rw,exec,nosuid,nodev,size=%dm,mode=1777,uid=%d,gid=%d", t.SizeMB, backend.UID, backend.GID)
	}
	pids := spec.Pids
	mem := spec.MemoryMB << 20
	host := &container.HostConfig{
		NetworkMode:    "none",
		ReadonlyRootfs: true,
		Tmpfs:          tmpfs,
		CapDrop:        []string{"ALL"},
		SecurityOpt:    []string{"no-new-privileges"},
		LogConfig:      container.LogConfig{Type: "none"},
		Runtime:        spec.Runtime,
		IpcMode:        "private",
		Resources: container.Resources{
			Memory:     mem,
			MemorySwap: mem,
			NanoCPUs:   int64(spec.CPUs * 1e9),
			PidsLimit:  &pids,
		},
	}
	if spec.Background {
		host.Resources.CPUShares = backgroundShares
	}
	if spec.Init {
		init := true
		host.Init = &init
	}
	cfg := &container.Config{
		Image:           spec.Image,
		Cmd:             spec.Cmd,
		Env:             spec.Env,
		Labels:          spec.Labels,
		User:            user,
		WorkingDir:      spec.WorkDir,
		Hostname:        spec.Hostname,
		NetworkDisabled: true,
		AttachStdout:    true,
		AttachStderr:    true,
	}
	if spec.Stdin {
		cfg.AttachStdin, cfg.OpenStdin, cfg.StdinOnce = true, true, true
	}
	if spec.Network != "" {
		cfg.NetworkDisabled = false
		host.NetworkMode = container.NetworkMode(spec.Network)
	}
	return cfg, host
}

// Start starts the container and its deadline timer.
func (b *Backend) Start(ctx context.Context, id string) error {
	if err := b.cli.ContainerStart(ctx, id, container.StartOptions{}); err != nil {
		return b.failAs("start container "+short(id), err, "The container is gone.", "The container cannot start.")
	}
	b.mu.Lock()
	d := b.deadlines[id]
	b.mu.Unlock()
	if d != nil {
		d.mu.Lock()
		if d.timer == nil {
			d.timer = time.AfterFunc(d.after, func() { b.expire(id, d) })
		}
		d.mu.Unlock()
	}
	return nil
}

// expire kills the container at its deadline, unless Wait already saw it
// end. Holding d.mu while killing makes a Wait that sees the end read the
// final verdict.
func (b *Backend) expire(id string, d *deadline) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.ended {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), cleanupTimeout)
	defer cancel()
	err := b.cli.ContainerKill(ctx, id, "KILL")
	switch {
	case err == nil:
		d.exceeded = true // it was still running
	case cerrdefs.IsConflict(err) || cerrdefs.IsNotFound(err):
		// It had ended by itself.
	default:
		b.log.Warn("kill container at its deadline", "id", short(id), "err", err)
	}
}

// attachment is an attach API connection being copied.
type attachment struct {
	conn interface{ Close() }
	done chan struct{}
	once sync.Once
}

func (a *attachment) Done() <-chan struct{} { return a.done }

func (a *attachment) Close() error {
	a.once.Do(a.conn.Close)
	return nil
}

// Attach opens the attach API. Stdin is written at once: the engine holds
// it in the container's stdin pipe until the process reads it.
func (b *Backend) Attach(ctx context.Context, id string, stdin io.Reader, output io.Writer) (backend.Attachment, error) {
	att, err := b.cli.ContainerAttach(ctx, id, container.AttachOptions{
		Stream: true, Stdin: stdin != nil, Stdout: true, Stderr: true,
	})
	if err != nil {
		// A missing container fails the connection upgrade, which the
		// client does not report as "not found": ask.
		if !isUnavailable(err) && ctx.Err() == nil {
			if _, ierr := b.cli.ContainerInspect(ctx, id); cerrdefs.IsNotFound(ierr) {
				err = ierr
			}
		}
		return nil, b.failAs("attach container "+short(id), err, "The container is gone.", "The container cannot be attached to.")
	}
	if output == nil {
		output = io.Discard
	}
	a := &attachment{conn: &att, done: make(chan struct{})}
	go func() {
		defer close(a.done)
		// Ends when the container's streams close (at exit) or the
		// connection is closed.
		_, _ = stdcopy.StdCopy(output, output, att.Reader)
	}()
	if stdin != nil {
		go func() {
			_, _ = io.Copy(att.Conn, stdin)
			_ = att.CloseWrite()
		}()
	}
	return a, nil
}

// Wait waits for the container to stop running, then reads its exit status
// and OOM flag (on a fresh context: the exit happened, the caller gets it).
func (b *Backend) Wait(ctx context.Context, id string) (backend.Exit, error) {
	waitCh, errCh := b.cli.ContainerWait(ctx, id, container.WaitConditionNotRunning)
	select {
	case <-waitCh:
	case err := <-errCh:
		if ctx.Err() != nil {
			return backend.Exit{}, fmt.Errorf("wait for container %s: %w", short(id), ctx.Err())
		}
		return backend.Exit{}, b.failAs("wait for container "+short(id), err, "The container is gone.", "The container cannot be waited for.")
	}
	ictx, cancel := context.WithTimeout(context.WithoutCancel(ctx), cleanupTimeout)
	defer cancel()
	info, err := b.cli.ContainerInspect(ictx, id)
	if err != nil {
		return backend.Exit{}, b.failAs("inspect container "+short(id), err, "The container is gone.", "")
	}
	var exit backend.Exit
	if info.State != nil {
		exit.Code, exit.OOMKilled = info.State.ExitCode, info.State.OOMKilled
		if info.State.Running {
			// Restarted meanwhile: not an end to report.
			return backend.Exit{}, fmt.Errorf("wait for container %s: it runs again", short(id))
		}
	}
	b.mu.Lock()
	d := b.deadlines[id]
	b.mu.Unlock()
	if d != nil {
		d.mu.Lock()
		d.ended = true
		if d.timer != nil {
			d.timer.Stop()
		}
		exit.DeadlineExceeded = d.exceeded
		d.mu.Unlock()
	}
	return exit, nil
}

// Stop kills the container's processes.
func (b *Backend) Stop(ctx context.Context, id string) error {
	err := b.cli.ContainerKill(ctx, id, "KILL")
	if err != nil && cerrdefs.IsConflict(err) {
		return nil // not running
	}
	return b.failAs("stop container "+short(id), err, "The container is gone.", "")
}

// Remove force-removes the container with its anonymous volumes. Another
// removal of the same container in progress counts as done.
func (b *Backend) Remove(ctx context.Context, id string) error {
	b.mu.Lock()
	if d := b.deadlines[id]; d != nil {
		d.mu.Lock()
		d.ended = true
		if d.timer != nil {
			d.timer.Stop()
		}
		d.mu.Unlock()
		delete(b.deadlines, id)
	}
	b.mu.Unlock()
	err := b.cli.ContainerRemove(ctx, id, container.RemoveOptions{Force: true, RemoveVolumes: true})
	if err != nil && strings.Contains(err.Error(), "is already in progress") {
		return nil
	}
	return b.failAs("remove container "+short(id), err, "The container is gone.", "")
}

// removeCutShort removes the container a create cut short may have made,
// by name, on a fresh context. The engine finishes a create whose client
// went away, so a container not there yet may still appear: it looks again
// for a moment.
func (b *Backend) removeCutShort(name string) {
	ctx, cancel := context.WithTimeout(context.Background(), cleanupTimeout)
	defer cancel()
	for range 10 {
		err := b.Remove(ctx, name)
		switch {
		case err == nil:
			return
		case faultline.ErrorCode(err) != faultline.ENOTFOUND:
			b.log.Error("remove a container whose create was cut short", "name", name, "err", err)
			return
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// Inspect returns the container's labels, whether it runs and since when.
func (b *Backend) Inspect(ctx context.Context, id string) (*backend.Container, error) {
	info, err := b.cli.ContainerInspect(ctx, id)
	if err != nil {
		return nil, b.failAs("inspect container "+short(id), err, "The container is gone.", "")
	}
	c := &backend.Container{ID: info.ID}
	if info.Config != nil {
		c.Labels = info.Config.Labels
	}
	if info.State != nil && info.State.Running {
		c.Running = true
		t, err := time.Parse(time.RFC3339Nano, info.State.StartedAt)
		if err != nil {
			return nil, fmt.Errorf("inspect container %s: start time %q: %w", short(id), info.State.StartedAt, err)
		}
		c.StartedAt = t
	}
	return c, nil
}

// List lists containers by label.
func (b *Backend) List(ctx context.Context, match map[string]string) ([]backend.Container, error) {
	list, err := b.cli.ContainerList(ctx, container.ListOptions{All: true, Filters: labelFilter(match)})
	if err != nil {
		return nil, b.fail(fmt.Sprintf("list containers %v", match), err)
	}
	out := make([]backend.Container, 0, len(list))
	for _, c := range list {
		out = append(out, backend.Container{ID: c.ID, Labels: c.Labels, Running: c.State == "running"})
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

// CPU takes one sample of the stats API, which the engine measures over
// about a second (its previous reading and the current one).
func (b *Backend) CPU(ctx context.Context, id string) (backend.CPUSample, error) {
	resp, err := b.cli.ContainerStats(ctx, id, false)
	if err != nil {
		return backend.CPUSample{}, b.failAs("stats of container "+short(id), err, "The container is gone.", "")
	}
	defer resp.Body.Close()
	var s container.StatsResponse
	if err := json.NewDecoder(resp.Body).Decode(&s); err != nil {
		return backend.CPUSample{}, fmt.Errorf("stats of container %s: %w", short(id), err)
	}
	return cpuSample(s), nil
}

// cpuSample turns a stats reading into a sample; one without a valid
// previous reading (the container just started, or stopped) is empty.
func cpuSample(s container.StatsResponse) backend.CPUSample {
	if s.PreRead.IsZero() || !s.Read.After(s.PreRead) || s.CPUStats.CPUUsage.TotalUsage < s.PreCPUStats.CPUUsage.TotalUsage {
		return backend.CPUSample{}
	}
	return backend.CPUSample{
		Used:     time.Duration(s.CPUStats.CPUUsage.TotalUsage - s.PreCPUStats.CPUUsage.TotalUsage),
		Interval: s.Read.Sub(s.PreRead),
	}
}
