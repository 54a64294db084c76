package sandbox

import (
	"context"
	"fmt"
	"io"
	"maps"
	"strings"
	"sync"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/pkg/stdcopy"

	"github.com/faultline-dev/faultline"
)

// RunSpec describes one throwaway container run.
type RunSpec struct {
	Image       string
	Cmd         []string
	Env         []string          // added to the image's environment (keep goindex=0 in any GODEBUG you set)
	Labels      map[string]string // the engine adds faultline.instance
	Limits      faultline.Limits  // Time is wall clock for the whole run; zero fields take faultline.DefaultGradeLimits
	Stdin       io.Reader         // streamed to the container's stdin, then closed (may be nil)
	OutputLimit int64             // bytes of combined stdout+stderr kept; past it the container is killed (0: 1 MiB)
	TmpfsMB     int64             // size of the /tmp tmpfs, exec allowed (0: 256)
	Runtime     string            // optional OCI runtime ("" = engine default)
	WorkDir     string            // optional working directory ("" = image default, /tmp)
}

// RunResult is what happened in a run. Limits hit are reported here, not as
// errors.
type RunResult struct {
	Output         []byte // combined stdout+stderr, at most OutputLimit bytes
	ExitCode       int
	TimedOut       bool // killed at Limits.Time
	OOMKilled      bool
	OutputExceeded bool
	Duration       time.Duration
}

// Defaults for zero RunSpec fields.
const (
	defaultOutputLimit = 1 << 20
	defaultTmpfsMB     = 256
	cleanupTimeout     = 30 * time.Second
)

// withDefaults fills zero limits from faultline.DefaultGradeLimits.
func withDefaults(l faultline.Limits) faultline.Limits {
	d := faultline.DefaultGradeLimits
	if l.Time <= 0 {
		l.Time = d.Time
	}
	if l.MemoryMB <= 0 {
		l.MemoryMB = d.MemoryMB
	}
	if l.CPUs <= 0 {
		l.CPUs = d.CPUs
	}
	if l.Pids <= 0 {
		l.Pids = d.Pids
	}
	return l
}

// hardenedHostConfig is the host configuration every Faultline container
// gets: no network, read-only root, no capabilities, no new privileges,
// memory without swap, CPU and process caps, no logs on disk.
func hardenedHostConfig(l faultline.Limits, tmpfs map[string]string, runtime string) *container.HostConfig {
	pids := l.Pids
	mem := l.MemoryMB << 20
	return &container.HostConfig{
		NetworkMode:    "none",
		ReadonlyRootfs: true,
		Tmpfs:          tmpfs,
		CapDrop:        []string{"ALL"},
		SecurityOpt:    []string{"no-new-privileges"},
		LogConfig:      container.LogConfig{Type: "none"},
		Runtime:        runtime,
		IpcMode:        "private",
		Resources: container.Resources{
			Memory:     mem,
			MemorySwap: mem,
			NanoCPUs:   int64(l.CPUs * 1e9),
			PidsLimit:  &pids,
		},
	}
}

// labels returns a copy of l with the instance label added.
func (e *Engine) labels(l map[string]string) map[string]string {
	out := maps.Clone(l)
	if out == nil {
		out = map[string]string{}
	}
	out[LabelInstance] = e.instance
	if e.scope != "" {
		out[LabelScope] = e.scope
	}
	return out
}

// Run runs spec.Cmd in a new container with network none, user 65534,
// read-only root, a tmpfs /tmp, no capabilities, no-new-privileges and the
// limits, streams spec.Stdin to it, and waits up to spec.Limits.Time. The
// container is always removed, even when ctx is cancelled. A limit hit is a
// RunResult field, not an error; an error means the engine failed
// (EUNAVAILABLE when it cannot be reached) or ctx ended.
func (e *Engine) Run(ctx context.Context, spec RunSpec) (*RunResult, error) {
	lim := withDefaults(spec.Limits)
	outLimit := spec.OutputLimit
	if outLimit <= 0 {
		outLimit = defaultOutputLimit
	}
	tmpMB := spec.TmpfsMB
	if tmpMB <= 0 {
		tmpMB = defaultTmpfsMB
	}
	cfg := &container.Config{
		Image:           spec.Image,
		Cmd:             spec.Cmd,
		Env:             spec.Env,
		Labels:          e.labels(spec.Labels),
		User:            "65534:65534",
		WorkingDir:      spec.WorkDir,
		NetworkDisabled: true,
		AttachStdout:    true,
		AttachStderr:    true,
	}
	if spec.Stdin != nil {
		cfg.AttachStdin, cfg.OpenStdin, cfg.StdinOnce = true, true, true
	}
	tmpfs := map[string]string{"/tmp": fmt.Sprintf("rw,exec,nosuid,nodev,size=%dm,mode=1777", tmpMB)}
	// A known name lets a create interrupted by ctx be cleaned up even though
	// its ID never arrived.
	name := "faultline-run-" + randomHex(8)
	created, err := e.cli.ContainerCreate(ctx, cfg, hardenedHostConfig(lim, tmpfs, spec.Runtime), nil, nil, name)
	if err != nil {
		if ctx.Err() != nil {
			e.removeContainer(name)
		}
		return nil, e.fail(fmt.Sprintf("create container from %q", spec.Image), err)
	}
	id := created.ID
	defer e.removeContainer(id)

	att, err := e.cli.ContainerAttach(ctx, id, container.AttachOptions{
		Stream: true, Stdin: spec.Stdin != nil, Stdout: true, Stderr: true,
	})
	if err != nil {
		return nil, e.fail("attach container "+short(id), err)
	}
	defer att.Close()

	// Register the wait before starting so a fast exit is not missed.
	waitCtx, cancelWait := context.WithCancel(ctx)
	defer cancelWait()
	waitCh, waitErr := e.cli.ContainerWait(waitCtx, id, container.WaitConditionNextExit)

	var killOnce sync.Once
	kill := func() {
		killOnce.Do(func() {
			kctx, cancel := context.WithTimeout(context.Background(), cleanupTimeout)
			defer cancel()
			if err := e.cli.ContainerKill(kctx, id, "KILL"); err != nil && !isConflict(err) && !isNotFound(err) {
				e.log.Warn("kill container", "id", short(id), "err", err)
			}
		})
	}

	out := &capWriter{limit: outLimit, onExceed: func() { go kill() }}
	copied := make(chan struct{})
	go func() {
		defer close(copied)
		// StdCopy ends when the container's streams close (at exit) or the
		// connection is closed below.
		_, _ = stdcopy.StdCopy(out, out, att.Reader)
	}()

	start := time.Now()
	if err := e.cli.ContainerStart(ctx, id, container.StartOptions{}); err != nil {
		return nil, e.fail("start container "+short(id), err)
	}
	if spec.Stdin != nil {
		go func() {
			_, _ = io.Copy(att.Conn, spec.Stdin)
			_ = att.CloseWrite()
		}()
	}

	var timedOut bool
	timer := time.NewTimer(lim.Time)
	defer timer.Stop()
	var status container.WaitResponse
wait:
	for {
		select {
		case status = <-waitCh:
			break wait
		case err := <-waitErr:
			if ctx.Err() != nil {
				kill()
				return nil, fmt.Errorf("run container %s: %w", short(id), ctx.Err())
			}
			return nil, e.fail("wait for container "+short(id), err)
		case <-timer.C:
			timedOut = true
			kill()
		}
	}
	dur := time.Since(start)

	// After exit the output stream ends promptly; do not hang on it anyway.
	select {
	case <-copied:
	case <-time.After(10 * time.Second):
		att.Close()
		<-copied
	}

	res := &RunResult{
		Output:         out.bytes(),
		ExitCode:       int(status.StatusCode),
		TimedOut:       timedOut,
		OutputExceeded: out.exceeded(),
		Duration:       dur,
	}
	ictx, cancel := context.WithTimeout(context.WithoutCancel(ctx), cleanupTimeout)
	defer cancel()
	info, err := e.cli.ContainerInspect(ictx, id)
	if err != nil {
		return nil, e.fail("inspect container "+short(id), err)
	}
	if info.State != nil {
		res.OOMKilled = info.State.OOMKilled
		res.ExitCode = info.State.ExitCode
	}
	return res, nil
}

// removeContainer force-removes a container with its anonymous volumes, on a
// fresh context so it happens even when the caller's context is cancelled.
func (e *Engine) removeContainer(id string) {
	ctx, cancel := context.WithTimeout(context.Background(), cleanupTimeout)
	defer cancel()
	err := e.cli.ContainerRemove(ctx, id, container.RemoveOptions{Force: true, RemoveVolumes: true})
	// "already in progress": someone else (Stop, a drain) is removing it.
	if err != nil && !isNotFound(err) && !strings.Contains(err.Error(), "is already in progress") {
		e.log.Error("remove container", "id", short(id), "err", err)
	}
}

// short abbreviates a container ID for messages.
func short(id string) string {
	if len(id) > 12 {
		return id[:12]
	}
	return id
}

// capWriter keeps the first limit bytes written to it and calls onExceed
// once when more arrive. It always reports full writes so the stream keeps
// draining.
type capWriter struct {
	mu       sync.Mutex
	buf      []byte
	limit    int64
	over     bool
	onExceed func()
}

func (w *capWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	room := w.limit - int64(len(w.buf))
	if int64(len(p)) > room {
		w.buf = append(w.buf, p[:max(room, 0)]...)
		if !w.over {
			w.over = true
			if w.onExceed != nil {
				w.onExceed()
			}
		}
		return len(p), nil
	}
	w.buf = append(w.buf, p...)
	return len(p), nil
}

func (w *capWriter) bytes() []byte {
	w.mu.Lock()
	defer w.mu.Unlock()
	return append([]byte(nil), w.buf...)
}

func (w *capWriter) exceeded() bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.over
}
