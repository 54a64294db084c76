package sandbox

import (
	"context"
	"fmt"
	"io"
	"sync"
)

// Gated runs. A RunSpec with a Gate runs in two steps: a first one that runs
// nothing untrusted (the grader compiles) and may use BuildCPUs, and a second
// one held to Limits.CPUs. The job reads its Stdin content in a bounded way,
// prints the Gate line and waits for one more line on stdin; the Engine,
// seeing the line, lowers the container's CPU limit (when it had raised it)
// and only then writes that newline. When lowering fails the Engine closes
// stdin without it and stops the container, and the run returns an error.
//
// The container gets BuildCPUs only when the backend can change a running
// container's CPU limit for the spec's runtime (backend.CPUResizer: Docker
// with runc, not gVisor) and never more CPUs than the machine has; otherwise
// both steps run at Limits.CPUs and only the newline is written.

// gateWatch is an output writer that notices the first complete line equal
// to line. It keeps at most len(line) bytes of the line being read. Like any
// io.Writer given to Attach it is written by one goroutine at a time.
type gateWatch struct {
	line  string
	cur   []byte
	long  bool // the current line is already longer than line
	fired bool
	seen  chan struct{} // closed when the line was seen
}

func newGateWatch(line string) *gateWatch {
	return &gateWatch{line: line, cur: make([]byte, 0, len(line)), seen: make(chan struct{})}
}

func (g *gateWatch) Write(p []byte) (int, error) {
	if g.fired {
		return len(p), nil
	}
	for _, c := range p {
		switch {
		case c == '\n':
			if !g.long && string(g.cur) == g.line {
				g.fired = true
				close(g.seen)
				return len(p), nil
			}
			g.cur, g.long = g.cur[:0], false
		case g.long:
		case len(g.cur) == len(g.line):
			g.long = true
		default:
			g.cur = append(g.cur, c)
		}
	}
	return len(p), nil
}

// outputWriter is w, watched for spec's gate line when it has one.
func outputWriter(w io.Writer, g *gateWatch) io.Writer {
	if g == nil {
		return w
	}
	return io.MultiWriter(w, g)
}

// gated reports whether spec's Gate applies: only a job that has a stdin
// (its Stdin, or a pre-started container's) can be held at the gate.
func (spec RunSpec) gated() bool {
	return spec.Gate != "" && (spec.Stdin != nil || spec.Prestart)
}

// startCPUs returns the CPU limit to create spec's container with, and
// whether it is above the spec's limit (so the gate must lower it).
func (e *Engine) startCPUs(ctx context.Context, spec RunSpec) (float64, bool) {
	lim := withDefaults(spec.Limits)
	if !spec.gated() || spec.BuildCPUs <= lim.CPUs {
		return lim.CPUs, false
	}
	most := e.resizableCPUs(ctx, spec.Runtime)
	if up := min(spec.BuildCPUs, most); up > lim.CPUs {
		return up, true
	}
	return lim.CPUs, false
}

// resizableCPUs is the backend's ResizableCPUs for runtime, asked once per
// runtime; a failed question counts as 0 and is asked again next time.
func (e *Engine) resizableCPUs(ctx context.Context, runtime string) float64 {
	e.mu.Lock()
	n, ok := e.resizable[runtime]
	e.mu.Unlock()
	if ok {
		return n
	}
	n, err := e.counted.ResizableCPUs(ctx, runtime)
	if err != nil {
		e.log.Warn("ask whether containers' CPU limits can change", "runtime", runtime, "err", err)
		return 0
	}
	e.mu.Lock()
	if e.resizable == nil {
		e.resizable = map[string]float64{}
	}
	e.resizable[runtime] = n
	e.mu.Unlock()
	return n
}

// gatedStdin is what feedGated tells its caller: whether lowering the CPU
// limit failed (the container was then stopped).
type gatedStdin struct {
	mu  sync.Mutex
	err error
}

// feedGated writes a job's stdin to w in the background: in's content, then,
// when g is not nil and once its line was seen, the CPU limit lowered to cpus
// (when raised) and a newline; then it closes w. It gives up, closing w, when
// done closes first.
func (e *Engine) feedGated(id string, w *io.PipeWriter, in io.Reader, g *gateWatch, raised bool, cpus float64, done <-chan struct{}) *gatedStdin {
	gs := &gatedStdin{}
	go func() {
		defer w.Close()
		if _, err := io.Copy(w, in); err != nil || g == nil {
			return
		}
		select {
		case <-g.seen:
		case <-done:
			return
		}
		if raised {
			ctx, cancel := context.WithTimeout(context.Background(), cleanupTimeout)
			err := e.counted.SetCPUs(ctx, id, cpus)
			cancel()
			if err != nil {
				gs.mu.Lock()
				gs.err = fmt.Errorf("lower the CPU limit of container %s to %g before running the job's second step: %w", short(id), cpus, err)
				gs.mu.Unlock()
				e.stopContainer(id)
				return
			}
		}
		_, _ = w.Write([]byte("\n"))
	}()
	return gs
}

// Err is the failure to lower the CPU limit, if any.
func (gs *gatedStdin) Err() error {
	gs.mu.Lock()
	defer gs.mu.Unlock()
	return gs.err
}
