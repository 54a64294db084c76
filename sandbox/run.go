package sandbox

import (
	"context"
	"fmt"
	"io"
	"strings"
	"sync"
	"time"

	"github.com/faultline-dev/faultline"
)

// RunSpec describes one throwaway container run.
type RunSpec struct {
	Image       string
	Cmd         []string
	Env         []string          // added to the image's environment (keep goindex=0 in any GODEBUG you set)
	Labels      map[string]string // the Engine adds faultline.instance (and faultline.scope)
	Limits      faultline.Limits  // Time is wall clock for the whole run; zero fields take faultline.DefaultGradeLimits
	Stdin       io.Reader         // streamed to the container's stdin, then closed (may be nil)
	OutputLimit int64             // bytes of combined stdout+stderr kept; past it the container is killed (0: 1 MiB)
	TmpfsMB     int64             // size of the /tmp tmpfs, exec allowed (0: 256)
	Runtime     string            // optional runtime ("" = the backend's default; "runsc" for gVisor)
	WorkDir     string            // optional working directory ("" = image default, /tmp)
	// Prestart runs the job in a container started ahead of it (see
	// prestart.go): only with Stdin, which then carries the whole job.
	Prestart bool
	// Gate splits a job that has a stdin (Stdin, or Prestart) in two steps
	// (see gate.go): when a line of its output equals Gate, the Engine
	// lowers the container's CPU limit from BuildCPUs to Limits.CPUs, where
	// it had raised it, and then writes one newline to stdin after Stdin's
	// content. The job must read that content in a bounded way, and wait for
	// the newline before it runs anything untrusted. A job without a stdin
	// is not gated and runs at Limits.CPUs throughout.
	Gate string
	// BuildCPUs is the CPU limit before the gate line, when above
	// Limits.CPUs and the backend can change it for the runtime (capped at
	// the machine's CPUs).
	BuildCPUs float64
	// BlobLimit, when above 0, lets the job hand over one block of at most
	// that many bytes apart from its output (see blob.go): RunResult.Blob.
	// Only Docker's output stream carries bytes as they are; Kubernetes'
	// goes through container logs.
	BlobLimit int64
}

// RunResult is what happened in a run. Limits hit are reported here, not as
// errors.
type RunResult struct {
	Output         []byte // combined stdout+stderr, at most OutputLimit bytes
	Blob           []byte // the block the job handed over (RunSpec.BlobLimit), whole, or nil
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

// Run runs spec.Cmd in a new container (hardened as every backend container
// is: no network, user 65534, read-only root, no capabilities,
// no-new-privileges) with a tmpfs /tmp and the limits, streams spec.Stdin to
// it, and lets it run for up to spec.Limits.Time (the container's deadline).
// The container is always removed, even when ctx is cancelled. A limit hit is
// a RunResult field, not an error; an error means the backend failed
// (EUNAVAILABLE when the orchestrator cannot be reached) or ctx ended.
func (e *Engine) Run(ctx context.Context, spec RunSpec) (*RunResult, error) {
	if spec.Prestart && spec.Stdin != nil {
		return e.runPrestarted(ctx, spec) // prestart.go
	}
	outLimit := spec.OutputLimit
	if outLimit <= 0 {
		outLimit = defaultOutputLimit
	}
	cpus, raised := e.startCPUs(ctx, spec)
	id, err := e.b.Create(ctx, e.createSpec(spec, 0, cpus))
	if err != nil {
		return nil, fmt.Errorf("run %q: %w", spec.Image, err)
	}
	defer e.removeContainer(id)

	out := &capWriter{limit: outLimit, onExceed: func() { go e.stopContainer(id) }}
	stdin, gate := spec.Stdin, (*gateWatch)(nil)
	var gated *gatedStdin
	if spec.gated() {
		in := spec.Stdin
		if in == nil { // Prestart without Stdin: the gate's newline is all
			in = strings.NewReader("")
		}
		gate = newGateWatch(spec.Gate)
		pr, pw := io.Pipe()
		done := make(chan struct{})
		defer close(done)
		defer pr.Close() // ends a copy the container never read
		stdin = pr
		gated = e.feedGated(id, pw, in, gate, raised, withDefaults(spec.Limits).CPUs, done)
	}
	output, blob := blobOutput(outputWriter(out, gate), spec.BlobLimit)
	att, err := e.b.Attach(ctx, id, stdin, output)
	if err != nil {
		return nil, fmt.Errorf("run %q: %w", spec.Image, err)
	}
	defer att.Close()

	start := time.Now()
	if err := e.b.Start(ctx, id); err != nil {
		return nil, fmt.Errorf("run %q: %w", spec.Image, err)
	}
	exit, err := e.b.Wait(ctx, id)
	if err != nil {
		if ctx.Err() != nil {
			e.stopContainer(id)
			return nil, fmt.Errorf("run container %s: %w", short(id), ctx.Err())
		}
		return nil, fmt.Errorf("run %q: %w", spec.Image, err)
	}
	dur := time.Since(start)
	if gated != nil && gated.Err() != nil {
		return nil, fmt.Errorf("run %q: %w", spec.Image, gated.Err())
	}

	// After exit the output stream ends promptly; do not hang on it anyway.
	select {
	case <-att.Done():
	case <-time.After(10 * time.Second):
		att.Close()
		<-att.Done()
	}
	blob.finish()
	return &RunResult{
		Output:         out.bytes(),
		Blob:           blob.Blob(),
		ExitCode:       exit.Code,
		TimedOut:       exit.DeadlineExceeded,
		OOMKilled:      exit.OOMKilled,
		OutputExceeded: out.exceeded(),
		Duration:       dur,
	}, nil
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
