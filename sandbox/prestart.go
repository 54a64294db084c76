package sandbox

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"maps"
	"slices"
	"sync"
	"time"

	"github.com/faultline-dev/faultline/sandbox/backend"
)

// Pre-started runs. A RunSpec with Prestart (and Stdin) is run in a
// container created, attached and started before the job came, waiting for
// its stdin: when a job takes one the Engine starts another of the same kind,
// so the next job skips the container's create and start. Each container
// still runs exactly one job and is removed after it; one not taken within
// PrestartIdle is removed unused. Jobs of specs that differ only in their
// time limit share containers. The run's time limit counts from when its job
// is handed over (the Engine stops the container at Limits.Time from then);
// the container's own backstop deadline is longer by PrestartIdle, the most
// it may have waited, and a container whose backstop would end before a
// job's limit is not given that job.

// PrestartIdle is how long a pre-started container waits for its job before
// it is removed unused.
const PrestartIdle = 5 * time.Minute

// maxPrestarted bounds the containers waiting at once, over all specs.
const maxPrestarted = 4

// prestarted is a container waiting for its job's stdin.
type prestarted struct {
	key      string
	id       string
	stdin    *io.PipeWriter
	out      *capWriter
	gate     *gateWatch  // the spec's Gate line, watched in the output (nil: none)
	blob     *blobWriter // takes the spec's blob out of the output (nil: none)
	raised   bool        // created with more CPUs than the limit, until the gate
	att      backend.Attachment
	cancel   context.CancelFunc // ends the attachment's context
	backstop time.Time          // when the backend's deadline kills it
	expire   *time.Timer
}

// prestartPool holds the waiting containers by spec key.
type prestartPool struct {
	mu      sync.Mutex
	ready   map[string][]*prestarted
	filling map[string]int // containers being started, by key
	running map[string]int // jobs running in pre-started containers, by key
	closed  bool
	wg      sync.WaitGroup // background fills and removals
	idle    time.Duration  // PrestartIdle; shorter in tests
	made    int            // containers pre-started, for tests
}

// runKey identifies the container a spec makes: everything that goes into
// its creation but its stdin's content and its time limit (a container's
// backstop is checked against a job's limit when it is taken).
func runKey(spec RunSpec) string {
	h := sha256.New()
	w := func(s string) { fmt.Fprintf(h, "%d:%s;", len(s), s) }
	w(spec.Image)
	w(spec.Runtime)
	w(spec.WorkDir)
	for _, c := range spec.Cmd {
		w(c)
	}
	w("env")
	for _, e := range spec.Env {
		w(e)
	}
	w("labels")
	for _, k := range slices.Sorted(maps.Keys(spec.Labels)) {
		w(k)
		w(spec.Labels[k])
	}
	lim := withDefaults(spec.Limits)
	w(fmt.Sprintf("%d/%g/%d/%d/%d", lim.MemoryMB, lim.CPUs, lim.Pids, spec.OutputLimit, spec.TmpfsMB))
	w("gate")
	w(spec.Gate)
	w(fmt.Sprintf("%g", spec.BuildCPUs))
	w(fmt.Sprintf("blob %d", spec.BlobLimit))
	return hex.EncodeToString(h.Sum(nil))
}

// createSpec is the backend spec of a run, with the CPU limit it starts
// with (startCPUs); extra lengthens its deadline.
func (e *Engine) createSpec(spec RunSpec, extra time.Duration, cpus float64) backend.Spec {
	lim := withDefaults(spec.Limits)
	tmpMB := spec.TmpfsMB
	if tmpMB <= 0 {
		tmpMB = defaultTmpfsMB
	}
	return backend.Spec{
		Image:    spec.Image,
		Cmd:      spec.Cmd,
		Env:      spec.Env,
		WorkDir:  spec.WorkDir,
		Labels:   e.labels(spec.Labels),
		MemoryMB: lim.MemoryMB,
		CPUs:     cpus,
		Pids:     lim.Pids,
		Tmpfs:    []backend.Tmpfs{{Path: "/tmp", SizeMB: tmpMB}},
		Stdin:    spec.Stdin != nil || spec.Prestart,
		Deadline: lim.Time + extra,
		Runtime:  spec.Runtime,
		// A throwaway run is batch work: a grade waits in a queue
		// anyway, a sandbox has someone at its terminal.
		Background: true,
	}
}

// prestart creates, attaches and starts a container for spec whose stdin
// waits on a pipe. The attachment lives on its own context, not the
// caller's.
func (e *Engine) prestart(ctx context.Context, spec RunSpec, key string) (*prestarted, error) {
	cpus, raised := e.startCPUs(ctx, spec)
	cs := e.createSpec(spec, e.pre.idle, cpus)
	id, err := e.b.Create(ctx, cs)
	if err != nil {
		return nil, fmt.Errorf("run %q: %w", spec.Image, err)
	}
	outLimit := spec.OutputLimit
	if outLimit <= 0 {
		outLimit = defaultOutputLimit
	}
	pr, pw := io.Pipe()
	actx, cancel := context.WithCancel(context.Background())
	p := &prestarted{key: key, id: id, stdin: pw, cancel: cancel, raised: raised}
	p.out = &capWriter{limit: outLimit, onExceed: func() { go e.stopContainer(id) }}
	if spec.Gate != "" {
		p.gate = newGateWatch(spec.Gate)
	}
	fail := func(err error) (*prestarted, error) {
		pw.Close()
		cancel()
		e.removeContainer(id)
		return nil, fmt.Errorf("run %q: %w", spec.Image, err)
	}
	var output io.Writer
	output, p.blob = blobOutput(outputWriter(p.out, p.gate), spec.BlobLimit)
	if p.att, err = e.b.Attach(actx, id, pr, output); err != nil {
		return fail(err)
	}
	if err := e.b.Start(ctx, id); err != nil {
		p.att.Close()
		return fail(err)
	}
	p.backstop = time.Now().Add(cs.Deadline)
	return p, nil
}

// discard ends an unused or used pre-started container and removes it.
func (e *Engine) discard(p *prestarted) {
	p.stdin.Close()
	p.att.Close()
	p.cancel()
	e.removeContainer(p.id)
}

// discardLater removes a used container in the background, so the job's
// result goes back while the engine removes its container (it has ended, or
// is being stopped by the caller's cancellation); ClosePrestarted waits for
// those removals. Once the pool is closed it removes at once.
func (e *Engine) discardLater(p *prestarted) {
	e.pre.mu.Lock()
	if e.pre.closed {
		e.pre.mu.Unlock()
		e.discard(p)
		return
	}
	e.pre.wg.Add(1)
	e.pre.mu.Unlock()
	go func() {
		defer e.pre.wg.Done()
		e.discard(p)
	}()
}

// takePrestarted returns a waiting container for key whose backstop
// leaves the job its limit, if there is one, and counts the job as running.
// Waiting containers whose backstop is too near are removed.
func (e *Engine) takePrestarted(key string, limit time.Duration) *prestarted {
	e.pre.mu.Lock()
	if e.pre.running == nil {
		e.pre.running = map[string]int{}
	}
	e.pre.running[key]++
	var p *prestarted
	var stale []*prestarted
	for len(e.pre.ready[key]) > 0 && p == nil {
		q := e.pre.ready[key][0]
		e.pre.ready[key] = e.pre.ready[key][1:]
		q.expire.Stop()
		if time.Until(q.backstop) < limit+backstopMargin {
			stale = append(stale, q)
			continue
		}
		p = q
	}
	if len(e.pre.ready[key]) == 0 {
		delete(e.pre.ready, key)
	}
	e.pre.mu.Unlock()
	for _, q := range stale {
		e.discardLater(q)
	}
	return p
}

// backstopMargin is how much longer than a job's limit a pre-started
// container's backstop must last for the job to be given it.
const backstopMargin = 10 * time.Second

// doneRunning counts a job taken by takePrestarted as ended.
func (e *Engine) doneRunning(key string) {
	e.pre.mu.Lock()
	defer e.pre.mu.Unlock()
	if e.pre.running[key]--; e.pre.running[key] <= 0 {
		delete(e.pre.running, key)
	}
}

// refill starts, in the background, another container for spec unless as
// many wait or are being made for its key as jobs of the key run (so each
// running job has one for its successor), or the pool is full or closed.
func (e *Engine) refill(spec RunSpec, key string) {
	e.pre.mu.Lock()
	n := 0 // waiting or being made, over all keys
	for _, ps := range e.pre.ready {
		n += len(ps)
	}
	for _, f := range e.pre.filling {
		n += f
	}
	if e.pre.closed || len(e.pre.ready[key])+e.pre.filling[key] >= e.pre.running[key] || n >= maxPrestarted {
		e.pre.mu.Unlock()
		return
	}
	if e.pre.filling == nil {
		e.pre.filling = map[string]int{}
		e.pre.ready = map[string][]*prestarted{}
	}
	e.pre.filling[key]++
	e.pre.wg.Add(1)
	e.pre.mu.Unlock()
	spec.Stdin = nil // the job's, not the next one's
	go func() {
		defer e.pre.wg.Done()
		ctx, cancel := context.WithTimeout(context.Background(), cleanupTimeout)
		defer cancel()
		p, err := e.prestart(ctx, spec, key)
		e.pre.mu.Lock()
		if e.pre.filling[key]--; e.pre.filling[key] <= 0 {
			delete(e.pre.filling, key)
		}
		if err != nil {
			e.pre.mu.Unlock()
			e.log.Warn("pre-start a grading container", "err", err)
			return
		}
		if e.pre.closed {
			e.pre.mu.Unlock()
			e.discard(p)
			return
		}
		e.pre.made++
		p.expire = time.AfterFunc(e.pre.idle, func() { e.expire(p) })
		e.pre.ready[key] = append(e.pre.ready[key], p)
		e.pre.mu.Unlock()
	}()
}

// expire removes p if it still waits.
func (e *Engine) expire(p *prestarted) {
	e.pre.mu.Lock()
	ps := e.pre.ready[p.key]
	i := slices.Index(ps, p)
	if i < 0 {
		e.pre.mu.Unlock()
		return
	}
	e.pre.ready[p.key] = slices.Delete(ps, i, i+1)
	if len(e.pre.ready[p.key]) == 0 {
		delete(e.pre.ready, p.key)
	}
	e.pre.mu.Unlock()
	e.discard(p)
}

// ClosePrestarted removes every waiting container and starts no more; it
// returns once background starts and removals have ended. Engine.Close
// calls it.
func (e *Engine) ClosePrestarted() {
	e.pre.mu.Lock()
	e.pre.closed = true
	var all []*prestarted
	for _, ps := range e.pre.ready {
		all = append(all, ps...)
	}
	e.pre.ready = nil
	e.pre.mu.Unlock()
	for _, p := range all {
		p.expire.Stop()
		e.discard(p)
	}
	e.pre.wg.Wait()
}

// prestartedWaiting is the number of containers waiting, for tests.
func (e *Engine) prestartedWaiting() int {
	e.pre.mu.Lock()
	defer e.pre.mu.Unlock()
	n := 0
	for _, ps := range e.pre.ready {
		n += len(ps)
	}
	return n
}

// runPrestarted runs spec in a pre-started container (or one started now
// the same way when none waits), and starts another for the next job.
func (e *Engine) runPrestarted(ctx context.Context, spec RunSpec) (*RunResult, error) {
	key := runKey(spec)
	lim := withDefaults(spec.Limits)
	p := e.takePrestarted(key, lim.Time)
	defer e.doneRunning(key)
	if p != nil {
		select {
		case <-p.att.Done(): // it ended while waiting (removed by someone, or the engine restarted)
			e.discardLater(p)
			p = nil
		default:
		}
	}
	e.refill(spec, key)
	if p == nil {
		var err error
		if p, err = e.prestart(ctx, spec, key); err != nil {
			return nil, err
		}
	}
	defer e.discardLater(p)

	start := time.Now()
	done := make(chan struct{})
	defer close(done)
	gated := e.feedGated(p.id, p.stdin, spec.Stdin, p.gate, p.raised, lim.CPUs, done)
	// The job's time limit counts from now, however long the container
	// waited; the backend's deadline (longer by the wait allowed) is the
	// backstop.
	timedOut := make(chan struct{})
	limit := time.AfterFunc(lim.Time, func() {
		close(timedOut)
		e.stopContainer(p.id)
	})
	exit, err := e.b.Wait(ctx, p.id)
	stopped := !limit.Stop()
	if err != nil {
		if ctx.Err() != nil {
			e.stopContainer(p.id)
			return nil, fmt.Errorf("run container %s: %w", short(p.id), ctx.Err())
		}
		return nil, fmt.Errorf("run %q: %w", spec.Image, err)
	}
	if stopped {
		<-timedOut
	}
	dur := time.Since(start)
	if err := gated.Err(); err != nil {
		return nil, fmt.Errorf("run %q: %w", spec.Image, err)
	}
	select {
	case <-p.att.Done():
	case <-time.After(10 * time.Second):
		p.att.Close()
		<-p.att.Done()
	}
	p.blob.finish()
	return &RunResult{
		Output:         p.out.bytes(),
		Blob:           p.blob.Blob(),
		ExitCode:       exit.Code,
		TimedOut:       exit.DeadlineExceeded || stopped,
		OOMKilled:      exit.OOMKilled,
		OutputExceeded: p.out.exceeded(),
		Duration:       dur,
	}, nil
}

// prestartedMade is how many containers were pre-started, for tests.
func (e *Engine) prestartedMade() int {
	e.pre.mu.Lock()
	defer e.pre.mu.Unlock()
	return e.pre.made
}
