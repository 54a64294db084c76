// Package sandbox runs Faultline's containers through a backend.Backend (the
// Docker engine, package sandbox/docker, or a Kubernetes cluster, package
// sandbox/kube): it
// builds the lab image from the host's toolchain (Engine.LabImage), runs
// throwaway grading containers with limits (Engine.Run), keeps learners'
// sandboxes in step with the database (Manager, which implements
// faultline.Sandboxes and faultline.Terminals, with its warm pool, idle
// reaping, lifetime cap, start gate and per-learner networks) and removes
// orphaned objects by label. Nothing here knows which orchestrator runs the
// containers, and callers see neither.
package sandbox

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"log/slog"
	"maps"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sync/singleflight"

	"github.com/faultline-dev/faultline"
	"github.com/faultline-dev/faultline/sandbox/backend"
)

// Labels put on every container (and network) Faultline creates, so orphans
// can be found and removed after a crash.
const (
	LabelKind     = "faultline.kind"     // KindGrade or KindSandbox
	LabelUser     = "faultline.user"     // learner user ID (decimal)
	LabelLab      = "faultline.lab"      // lab slug
	LabelInstance = "faultline.instance" // the Engine that created the object
	LabelScope    = "faultline.scope"    // optional: the portal installation (Engine.SetScope)
)

// Kinds of containers, the values of LabelKind.
const (
	KindGrade   = "grade"
	KindSandbox = "sandbox"
)

// cleanupTimeout bounds cleanups done on a fresh context after the caller's
// context ended.
const cleanupTimeout = 30 * time.Second

// Engine runs Faultline's containers on a backend: it labels everything it
// creates with its instance and scope, builds the lab image once, and offers
// the operations the grader and the Manager share. It is safe for concurrent
// use.
type Engine struct {
	b        backend.Backend
	counted  *backend.Counted // b, counting the orchestrator's failures
	log      *slog.Logger
	instance string
	scope    string

	builds     singleflight.Group
	buildCount atomic.Int64 // image builds started, for tests
	mu         sync.Mutex
	images     map[string]string  // warm-list key -> tag known to exist
	recipe     *recipeInputs      // hashed toolchain and busybox, computed once
	resizable  map[string]float64 // runtime -> the backend's ResizableCPUs (gate.go)

	pre prestartPool // grading containers started ahead of their job (prestart.go)
}

// New returns an Engine running containers on b. It does not contact the
// orchestrator: use Ping for that.
func New(b backend.Backend, log *slog.Logger) *Engine {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	c := backend.Count(b)
	return &Engine{b: c, counted: c, log: log, instance: randomHex(6), images: map[string]string{}, pre: prestartPool{idle: PrestartIdle}}
}

// EngineErrors returns the orchestrator calls that failed (internal errors
// and outages, not answers such as "no such container") since New, by verb.
// It feeds the engine_errors_total metric.
func (e *Engine) EngineErrors() map[string]uint64 {
	return e.counted.Errors()
}

// randomHex returns n random bytes in hex (crypto/rand never fails on Linux).
func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// Backend returns the backend the Engine runs containers on.
func (e *Engine) Backend() backend.Backend { return e.b }

// SetScope makes the Engine label everything it creates with
// faultline.scope=scope and limits RemoveOrphans (and a Manager's Reconcile)
// to objects of that scope, so installations and test runs sharing one
// orchestrator never remove each other's containers. Call it before the
// Engine is used.
func (e *Engine) SetScope(scope string) { e.scope = scope }

// Scope returns the scope set by SetScope ("" for none).
func (e *Engine) Scope() string { return e.scope }

// Instance returns the value of the faultline.instance label this Engine puts
// on everything it creates (random per Engine).
func (e *Engine) Instance() string { return e.instance }

// Ping checks that the orchestrator answers. It returns EUNAVAILABLE when it
// cannot be reached.
func (e *Engine) Ping(ctx context.Context) error {
	return e.b.Ping(ctx)
}

// Close removes the pre-started grading containers still waiting and
// releases the backend's connections; other containers live on.
func (e *Engine) Close() error {
	e.ClosePrestarted()
	return e.b.Close()
}

// labels returns a copy of l with the instance and scope labels added.
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

// removeContainer removes a container on a fresh context, so it happens even
// when the caller's context is cancelled; a container already gone is fine.
func (e *Engine) removeContainer(id string) {
	ctx, cancel := context.WithTimeout(context.Background(), cleanupTimeout)
	defer cancel()
	if err := e.b.Remove(ctx, id); err != nil && faultline.ErrorCode(err) != faultline.ENOTFOUND {
		e.log.Error("remove container", "id", short(id), "err", err)
	}
}

// stopContainer kills a container's processes on a fresh context.
func (e *Engine) stopContainer(id string) {
	ctx, cancel := context.WithTimeout(context.Background(), cleanupTimeout)
	defer cancel()
	if err := e.b.Stop(ctx, id); err != nil && faultline.ErrorCode(err) != faultline.ENOTFOUND {
		e.log.Warn("stop container", "id", short(id), "err", err)
	}
}

// containerRunning reports whether the container exists and runs.
func (e *Engine) containerRunning(ctx context.Context, id string) (bool, error) {
	c, err := e.b.Inspect(ctx, id)
	if faultline.ErrorCode(err) == faultline.ENOTFOUND {
		return false, nil
	} else if err != nil {
		return false, err
	}
	return c.Running, nil
}

// short abbreviates a container ID for messages.
func short(id string) string {
	if len(id) > 12 {
		return id[:12]
	}
	return id
}
