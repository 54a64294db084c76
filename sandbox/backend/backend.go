// Package backend is the narrow seam between Faultline's sandbox layer and a
// container orchestrator. Package sandbox (the lab image recipe, throwaway
// grading runs, and the Manager with its warm pool, idle reaping, lifetime
// cap, start gate, reconciliation and network policy) speaks only to the
// Backend interface below; package sandbox/docker implements it on the Docker
// engine, and a Kubernetes implementation can implement the same verbs with
// Pods, exec and attach through the API server, NetworkPolicies and Pod
// deadlines. Package backendtest holds the conformance suite every
// implementation must pass.
//
// The words are the orchestrator's lowest common denominator: a container is
// one isolated process tree with its own root filesystem, made from an image
// and identified by an opaque ID (a Docker container, a single-container
// Pod); a network is a private link between the containers that join it (a
// Docker internal network, a NetworkPolicy); labels are string pairs on every
// object, which is how Faultline finds what it made after a restart.
//
// # Hardening
//
// Every container a Backend makes is hardened the same way, with no option to
// turn it off: it runs as the unprivileged user UID:GID, with a read-only root
// filesystem, no capabilities, no new privileges, a private IPC namespace,
// nothing of the orchestrator's API (no socket, no token) inside, no logs kept
// by the orchestrator, no network unless Spec.Network names one, and the
// limits of its Spec (memory without swap, CPU, processes). Writable space is
// only the Spec's in-memory filesystems.
//
// # Errors
//
// Every verb returns an error carrying faultline.EUNAVAILABLE, with a message
// safe to show to users, when the orchestrator cannot be reached, and one
// wrapping ctx's error when ctx ends first. Verbs taking a container ID return
// ENOTFOUND when no such container exists, and the verbs that run something
// in a container (Exec, ExecTTY, CopyIn, CopyOut) also when it does not run.
// Other failures are internal errors wrapped with the operation. Each verb's
// comment names the codes it adds.
package backend

import (
	"context"
	"io"
	"time"

	"github.com/faultline-dev/faultline"
)

// UID and GID are the unprivileged user and group every process of every
// container runs as, and that owns the files CopyIn writes.
const (
	UID = 65534
	GID = 65534
)

// CPUResizer is implemented by a Backend that can change the CPU limit of a
// running container. The grader uses it to compile with more CPUs than the
// lab allows and lower the limit before any learner code runs, so a new limit
// must be in force when SetCPUs returns.
type CPUResizer interface {
	// ResizableCPUs returns the most CPUs SetCPUs may give a container of
	// the runtime ("" = the backend's default): the CPUs of the machine it
	// runs on, or 0 when the backend cannot change the limit of that
	// runtime's containers (callers then create them with the limit they
	// need throughout). EUNAVAILABLE when the orchestrator is down.
	ResizableCPUs(ctx context.Context, runtime string) (float64, error)

	// SetCPUs sets the CPU limit of container id (CPUs, fractions
	// allowed), in force when it returns. ENOTFOUND when no such
	// container exists.
	SetCPUs(ctx context.Context, id string, cpus float64) error
}

// Backend is a container orchestrator with the few verbs Faultline needs.
// Implementations are safe for concurrent use.
type Backend interface {
	// Ping checks that the orchestrator answers.
	Ping(ctx context.Context) error

	// Create makes a container from spec, hardened as the package comment
	// says, without starting it, and returns its ID. When Create fails
	// (ctx ending included) nothing is left behind. EINVALID for a spec
	// without an image, a command or every limit; ENOTFOUND when the image
	// or the network does not exist.
	Create(ctx context.Context, spec Spec) (string, error)

	// Start starts the main process of a created container. Its
	// Spec.Deadline, if any, runs from now.
	Start(ctx context.Context, id string) error

	// Attach connects to the main process of a created container: stdin
	// (nil for none; the container must have been created with Spec.Stdin
	// otherwise) is copied to the process once it runs and then closed, and
	// the process's stdout and stderr are copied, in the order they arrive,
	// to output until the process ends. Attach before Start to miss no
	// output. Copying goes on in the background; the Attachment tells when
	// the output ended and can cut it short.
	Attach(ctx context.Context, id string, stdin io.Reader, output io.Writer) (Attachment, error)

	// Wait waits until the container's main process has ended and says how
	// it ended. It returns at once for a container that is not running.
	// When ctx ends first it returns ctx's error and the container runs on.
	Wait(ctx context.Context, id string) (Exit, error)

	// Stop ends every process of the container at once (SIGKILL), so Wait
	// returns. Stopping a container that is not running does nothing.
	Stop(ctx context.Context, id string) error

	// Remove removes the container, stopping it first if it runs, with
	// anything the backend made for it alone (its volumes, its timer).
	// ENOTFOUND when it does not exist (already removed).
	Remove(ctx context.Context, id string) error

	// Inspect returns the container's current state.
	Inspect(ctx context.Context, id string) (*Container, error)

	// List returns the containers, running or not, that carry every label of
	// match; a value of "" matches any value of that label. List fills ID,
	// Labels and Running.
	List(ctx context.Context, match map[string]string) ([]Container, error)

	// Exec runs spec.Cmd in the running container id, alongside its main
	// process, and returns its exit status once the command has ended and
	// its output has been copied. When ctx ends Exec stops waiting and
	// returns ctx's error; the command may run on (commands that can run
	// long bound themselves, e.g. with timeout).
	Exec(ctx context.Context, id string, spec ExecSpec) (int, error)

	// ExecTTY starts spec.Cmd in the running container id on a new TTY of
	// spec.Size (clamped) and returns the TTY: reading gives what the
	// process writes to it, writing types into it.
	ExecTTY(ctx context.Context, id string, spec TTYSpec) (TTY, error)

	// CopyIn unpacks the tar archive into dir, an existing writable folder
	// of the running container id, as the sandbox user (files owned by
	// UID:GID, ownership in the archive ignored). Callers send only regular
	// files and folders with clean relative names. One archive may hold any
	// number of files: a whole tree goes in one stream.
	CopyIn(ctx context.Context, id, dir string, archive io.Reader) error

	// CopyOut returns a tar archive of path (an absolute file or folder
	// name) in the running container id, named relative to path's parent.
	// Entries are whatever the container holds, symbolic links included:
	// callers must not unpack them onto the host as they are. A path that
	// does not exist makes reading the archive fail with ENOTFOUND.
	CopyOut(ctx context.Context, id, path string) (io.ReadCloser, error)

	// CPU samples the CPU time the container's processes use, over a short
	// interval the backend chooses (about a second): Used is CPU time spent
	// over Interval of wall time. A container that just started may give a
	// sample with Interval 0, which says nothing.
	CPU(ctx context.Context, id string) (CPUSample, error)

	// CreateNetwork makes a private network named name with labels:
	// containers created with Spec.Network set to name reach each other on
	// it (each has an address of its own there), nothing outside it reaches
	// them, and it has no route out. Separate networks cannot reach each
	// other. ECONFLICT when a network of that name exists; EUNAVAILABLE,
	// with a message saying so, when the orchestrator has no room for
	// another network.
	CreateNetwork(ctx context.Context, name string, labels map[string]string) error

	// RemoveNetwork removes the named network; its containers must be gone.
	// ENOTFOUND when there is no such network.
	RemoveNetwork(ctx context.Context, name string) error

	// ListNetworks returns the networks carrying every label of match (a
	// value of "" matches any value).
	ListNetworks(ctx context.Context, match map[string]string) ([]Network, error)

	// HasImage reports whether containers can be created from ref (a
	// repo:tag reference) now, without building it.
	HasImage(ctx context.Context, ref string) (bool, error)

	// BuildImage builds an image from buildContext (a tar stream holding a
	// Dockerfile at its root, built with no network), labels it, and makes
	// it available to this backend's containers as ref: a backend whose
	// nodes pull images from a registry pushes it there. A failed build is
	// an internal error carrying the build's last lines of output.
	BuildImage(ctx context.Context, ref string, buildContext io.Reader, labels map[string]string) error

	// PruneImages removes the tags of repository repo (images built by
	// BuildImage) that are not in keep, that no container (running or not)
	// was made from, and that were built before before (zero: any age), and
	// returns the references it removed. A backend whose nodes collect
	// unused images themselves may remove nothing.
	PruneImages(ctx context.Context, repo string, keep []string, before time.Time) ([]string, error)

	// Close releases the backend's connections. Containers live on.
	Close() error
}

// Spec describes a container to create.
type Spec struct {
	Image    string   // a reference HasImage knows
	Cmd      []string // the main process
	Env      []string // KEY=value, added to the image's environment
	WorkDir  string   // "" for the image's
	Hostname string   // "" for the backend's choice

	// Labels are put on the container; List finds it by them.
	Labels map[string]string

	// Limits, all required: memory in MiB (no swap), CPUs (fractions
	// allowed) and processes (threads count).
	MemoryMB int64
	CPUs     float64
	Pids     int64

	// Tmpfs are the container's only writable places: in-memory
	// filesystems owned by the sandbox user, executables allowed, no
	// set-user-ID and no devices.
	Tmpfs []Tmpfs

	// Init runs a minimal init as PID 1 that reaps orphaned processes, so
	// a long-lived container does not fill with zombies.
	Init bool

	// Stdin keeps the main process's stdin open for Attach.
	Stdin bool

	// Background marks work that can wait, such as grading: while every
	// CPU of the machine is busy, the container gets about a quarter of
	// the CPU share of a container without it, so the sandboxes people
	// are typing in stay responsive. Its CPU limit is the same either way.
	// A backend whose weights follow something else it must keep (a
	// Kubernetes Pod's CPU request) may ignore it.
	Background bool

	// Network is the name of a network made by CreateNetwork the container
	// joins; "" for no network at all (loopback only).
	Network string

	// Deadline, when positive, is how long the container may run: the
	// backend stops it that long after Start (or sooner, counting from
	// when it accepted the container), and Wait reports DeadlineExceeded.
	Deadline time.Duration

	// Runtime names the isolation the container runs under, e.g. "runsc"
	// for gVisor (an OCI runtime for Docker, a RuntimeClass for
	// Kubernetes); "" for the orchestrator's default.
	Runtime string
}

// Tmpfs is one in-memory filesystem of a container.
type Tmpfs struct {
	Path   string // absolute
	SizeMB int64
}

// Exit is how a container's main process ended.
type Exit struct {
	// Code is the exit status; 128+n when a signal n ended it (137 for
	// SIGKILL).
	Code int
	// OOMKilled says the memory limit was hit and the kernel killed a
	// process of the container for it.
	OOMKilled bool
	// DeadlineExceeded says the backend stopped the container at its
	// Spec.Deadline.
	DeadlineExceeded bool
}

// Container is what a backend says about one container.
type Container struct {
	ID      string
	Labels  map[string]string
	Running bool
	// StartedAt is when it last started running; Inspect sets it for a
	// running container, List may leave it zero.
	StartedAt time.Time
}

// ExecSpec is a command to run in a running container.
type ExecSpec struct {
	Cmd     []string
	Env     []string  // KEY=value, added to the container's environment
	WorkDir string    // "" for the container's
	Stdin   io.Reader // copied to the command, then closed; nil for none
	Stdout  io.Writer // nil discards
	Stderr  io.Writer // nil discards; may be the same writer as Stdout
}

// TTYSpec is a command to run on a TTY in a running container.
type TTYSpec struct {
	Cmd     []string
	Env     []string
	WorkDir string
	Size    faultline.TermSize // clamped
}

// TTY is a command running on a terminal in a container.
type TTY interface {
	// Read returns what the command writes to the terminal; io.EOF once it
	// has ended or the TTY was closed.
	io.Reader
	// Write types into the terminal.
	io.Writer
	// Resize changes the terminal's size (clamped).
	Resize(ctx context.Context, size faultline.TermSize) error
	// Close closes the connection. The command and what it started may run
	// on: end them with Exec. Safe to call more than once.
	Close() error
}

// Attachment is the output of an attached main process being copied.
type Attachment interface {
	// Done is closed once the output has ended: the process ended, or
	// Close was called.
	Done() <-chan struct{}
	// Close stops copying. Safe to call more than once.
	Close() error
}

// CPUSample is the CPU time a container's processes used over an interval.
type CPUSample struct {
	Used     time.Duration
	Interval time.Duration // zero: no sample yet
}

// Network is what a backend says about one network.
type Network struct {
	Name   string
	Labels map[string]string
}
