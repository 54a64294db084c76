// Package docker implements backend.Backend on the Docker engine, through the
// Engine API. It is the only package of Faultline that imports Docker's
// packages: everything above it (package sandbox, the grader, the portal)
// sees only the backend interface.
//
// How the verbs map: a container is a Docker container with the hardening of
// the backend package comment (user 65534:65534, read-only root, all
// capabilities dropped, no-new-privileges, private IPC, log driver none,
// network mode none unless Spec.Network names an internal bridge network);
// Attach is the attach API opened before start; Spec.Deadline is a timer in
// this process that kills the container (Docker has no deadline of its own);
// exec, a TTY exec and its resize are the exec API; CopyIn and CopyOut pipe a
// tar stream through `tar` run by exec, since the engine's copy API cannot
// reach into tmpfs mounts; CPU is one sample of the stats API; a network is an
// internal bridge network with inter-container traffic on and masquerading
// off; images are built by the engine's builder from the context given and
// stay in the engine (no registry).
package docker

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"sync"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/client"

	"github.com/faultline-dev/faultline"
	"github.com/faultline-dev/faultline/sandbox/backend"
)

// unavailableMessage is what users read when the engine cannot be reached.
const unavailableMessage = "The container engine is not reachable, so lab sandboxes and grading are unavailable right now. Try again in a few minutes."

// cleanupTimeout bounds the calls made on a fresh context after the caller's
// ended (removing what a cancelled create left, reading an exit status).
const cleanupTimeout = 30 * time.Second

// user is the user every process runs as.
var user = fmt.Sprintf("%d:%d", backend.UID, backend.GID)

// Backend is the Docker engine as a backend.Backend. It is safe for
// concurrent use.
type Backend struct {
	cli *client.Client
	log *slog.Logger

	mu        sync.Mutex
	deadlines map[string]*deadline // by container ID, from Create to Remove
}

var _ backend.Backend = (*Backend)(nil)

// New connects to the Docker engine at host (a DOCKER_HOST style URL such as
// unix:///var/run/docker.sock); host "" uses the environment's default
// (DOCKER_HOST or the default socket). It does not contact the engine: use
// Ping for that. It returns an error only for a malformed host.
func New(host string, log *slog.Logger) (*Backend, error) {
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
	return &Backend{cli: cli, log: log, deadlines: map[string]*deadline{}}, nil
}

// Ping checks that the engine answers.
func (b *Backend) Ping(ctx context.Context) error {
	if _, err := b.cli.Ping(ctx); err != nil {
		return b.fail("ping engine", err)
	}
	return nil
}

// HasRuntime reports whether the engine knows the OCI runtime name (e.g.
// "runsc" for gVisor), the values Spec.Runtime may take. EUNAVAILABLE when
// the engine is down.
func (b *Backend) HasRuntime(ctx context.Context, name string) (bool, error) {
	info, err := b.cli.Info(ctx)
	if err != nil {
		return false, b.fail("engine info", err)
	}
	_, ok := info.Runtimes[name]
	return ok, nil
}

// resizingRuntimes are the OCI runtimes whose containers take a new CPU
// limit while they run (gVisor's runsc has no update command).
var resizingRuntimes = map[string]bool{"runc": true, "io.containerd.runc.v2": true, "crun": true}

// ResizableCPUs returns the engine machine's CPU count for runtimes that
// apply a new limit to a running container's cgroup (runc, crun) and 0 for
// others (gVisor). "" is the engine's default runtime. EUNAVAILABLE when the
// engine is down.
func (b *Backend) ResizableCPUs(ctx context.Context, runtime string) (float64, error) {
	info, err := b.cli.Info(ctx)
	if err != nil {
		return 0, b.fail("engine info", err)
	}
	if runtime == "" {
		runtime = info.DefaultRuntime
	}
	if !resizingRuntimes[runtime] {
		return 0, nil
	}
	return float64(info.NCPU), nil
}

// SetCPUs sets the running container's CPU limit; the engine has written it
// to the container's cgroup when it returns.
func (b *Backend) SetCPUs(ctx context.Context, id string, cpus float64) error {
	if cpus <= 0 {
		return faultline.Errorf(faultline.EINVALID, "A container needs a CPU limit (got %g CPUs).", cpus)
	}
	_, err := b.cli.ContainerUpdate(ctx, id, container.UpdateConfig{Resources: container.Resources{NanoCPUs: int64(cpus * 1e9)}})
	if err != nil {
		return b.failAs("set the CPU limit of container "+short(id), err, "The container is gone.", "The container's CPU limit cannot change now.")
	}
	return nil
}

var _ backend.CPUResizer = (*Backend)(nil)

// Close releases the client's connections and the deadline timers (the
// containers stay).
func (b *Backend) Close() error {
	b.mu.Lock()
	for id, d := range b.deadlines {
		if d.timer != nil {
			d.timer.Stop()
		}
		delete(b.deadlines, id)
	}
	b.mu.Unlock()
	return b.cli.Close()
}

// fail wraps an engine error with the operation. A connection failure becomes
// EUNAVAILABLE with a user-safe message (the cause is logged); the engine's
// "not found" and "conflict" answers become ENOTFOUND and ECONFLICT with the
// given messages.
func (b *Backend) fail(op string, err error) error {
	return b.failAs(op, err, "Not found.", "The object changed meanwhile.")
}

func (b *Backend) failAs(op string, err error, notFound, conflict string) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded):
		return fmt.Errorf("%s: %w", op, err)
	case isUnavailable(err):
		b.log.Warn("container engine unreachable", "op", op, "err", err)
		return fmt.Errorf("%s: %w", op, faultline.Errorf(faultline.EUNAVAILABLE, unavailableMessage))
	case cerrdefs.IsNotFound(err):
		return fmt.Errorf("%s: %v: %w", op, err, faultline.Errorf(faultline.ENOTFOUND, "%s", notFound))
	case cerrdefs.IsConflict(err):
		return fmt.Errorf("%s: %v: %w", op, err, faultline.Errorf(faultline.ECONFLICT, "%s", conflict))
	}
	return fmt.Errorf("%s: %w", op, err)
}

func isUnavailable(err error) bool {
	if client.IsErrConnectionFailed(err) {
		return true
	}
	// The attach and exec calls dial on their own and wrap the failure
	// differently.
	var op *net.OpError
	if errors.As(err, &op) && op.Op == "dial" {
		return true
	}
	var fe *faultline.Error
	if errors.As(err, &fe) && fe.Code == faultline.EUNAVAILABLE {
		return true
	}
	return cerrdefs.IsUnavailable(err)
}

// errNotRunning is the error of the verbs that need a running container.
func errNotRunning(op string, cause error) error {
	if cause == nil {
		return fmt.Errorf("%s: %w", op, faultline.Errorf(faultline.ENOTFOUND, "The container is not running."))
	}
	return fmt.Errorf("%s: %v: %w", op, cause, faultline.Errorf(faultline.ENOTFOUND, "The container is not running."))
}

// short abbreviates a container ID for messages.
func short(id string) string {
	if len(id) > 12 {
		return id[:12]
	}
	return id
}

// randomHex returns n random bytes in hex (crypto/rand never fails on Linux).
func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// capBuffer keeps the first limit bytes written to it and never fails.
type capBuffer struct {
	mu    sync.Mutex
	buf   []byte
	limit int
}

func (w *capBuffer) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if room := w.limit - len(w.buf); room > 0 {
		w.buf = append(w.buf, p[:min(room, len(p))]...)
	}
	return len(p), nil
}

func (w *capBuffer) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return strings.TrimSpace(string(w.buf))
}
