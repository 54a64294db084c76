// Package sandbox is the only package of Faultline that talks to the container
// engine. It builds the lab image locally (no registry), runs throwaway grading
// containers with limits (Engine.Run), keeps learner sandboxes in step with the
// database (Manager, which implements faultline.Sandboxes) and removes
// orphaned objects by label. Callers never see Docker types.
package sandbox

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/docker/docker/client"
	"golang.org/x/sync/singleflight"

	"github.com/faultline-dev/faultline"
)

// Labels put on every container (and volume or network) Faultline creates, so
// orphans can be found and removed after a crash.
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

// unavailableMessage is what users read when the engine cannot be reached.
const unavailableMessage = "The container engine is not reachable, so lab sandboxes and grading are unavailable right now. Try again in a few minutes."

// Engine is a connection to the container engine with the few operations
// Faultline needs. It is safe for concurrent use.
type Engine struct {
	cli      *client.Client
	log      *slog.Logger
	instance string
	scope    string

	builds     singleflight.Group
	buildCount atomic.Int64 // image builds started, for tests
	mu         sync.Mutex
	images     map[string]string // warm-list key -> tag known to exist
	recipe     *recipeInputs     // hashed toolchain and busybox, computed once
}

// New connects to the container engine at host (a DOCKER_HOST style URL such
// as unix:///var/run/docker.sock); host "" uses the environment's default
// (DOCKER_HOST or the default socket). It does not contact the engine: use
// Ping for that. It returns an error only for a malformed host.
func New(host string, log *slog.Logger) (*Engine, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	opts := []client.Opt{client.FromEnv, client.WithAPIVersionNegotiation()}
	if host != "" {
		opts = append(opts, client.WithHost(host))
	}
	cli, err := client.NewClientWithOpts(opts...)
	if err != nil {
		return nil, fmt.Errorf("docker client for host %q: %w", host, err)
	}
	return &Engine{
		cli:      cli,
		log:      log,
		instance: randomHex(6),
		images:   map[string]string{},
	}, nil
}

// randomHex returns n random bytes in hex (crypto/rand never fails on Linux).
func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// SetScope makes the Engine label everything it creates with
// faultline.scope=scope and limits RemoveOrphans (and a Manager's Reconcile)
// to objects of that scope, so installations and test runs sharing one engine
// never remove each other's containers. Call it before the Engine is used.
func (e *Engine) SetScope(scope string) { e.scope = scope }

// Scope returns the scope set by SetScope ("" for none).
func (e *Engine) Scope() string { return e.scope }

// Instance returns the value of the faultline.instance label this Engine puts
// on everything it creates (random per Engine).
func (e *Engine) Instance() string { return e.instance }

// Ping checks that the engine answers. It returns EUNAVAILABLE when the engine
// cannot be reached.
func (e *Engine) Ping(ctx context.Context) error {
	if _, err := e.cli.Ping(ctx); err != nil {
		return e.fail("ping engine", err)
	}
	return nil
}

// HasRuntime reports whether the engine knows the OCI runtime name (e.g.
// "runsc" for gVisor). Errors as Ping.
func (e *Engine) HasRuntime(ctx context.Context, name string) (bool, error) {
	info, err := e.cli.Info(ctx)
	if err != nil {
		return false, e.fail("engine info", err)
	}
	_, ok := info.Runtimes[name]
	return ok, nil
}

// Close releases the client's connections.
func (e *Engine) Close() error {
	return e.cli.Close()
}

// fail wraps an engine error with the operation. A connection failure becomes
// EUNAVAILABLE with a user-safe message (the cause is logged).
func (e *Engine) fail(op string, err error) error {
	if err == nil {
		return nil
	}
	if isUnavailable(err) {
		e.log.Warn("container engine unreachable", "op", op, "err", err)
		return fmt.Errorf("%s: %w", op, faultline.Errorf(faultline.EUNAVAILABLE, unavailableMessage))
	}
	return fmt.Errorf("%s: %w", op, err)
}

func isUnavailable(err error) bool {
	if client.IsErrConnectionFailed(err) {
		return true
	}
	var fe *faultline.Error
	if errors.As(err, &fe) && fe.Code == faultline.EUNAVAILABLE {
		return true
	}
	return cerrdefs.IsUnavailable(err)
}

// isNotFound reports whether the engine said the object does not exist.
func isNotFound(err error) bool { return cerrdefs.IsNotFound(err) }

// isConflict reports whether the engine refused because of the object's state
// (for example killing a container that already exited).
func isConflict(err error) bool { return cerrdefs.IsConflict(err) }
