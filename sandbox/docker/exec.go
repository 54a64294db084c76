package docker

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"path"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/docker/docker/api/types"
	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/pkg/stdcopy"

	"github.com/faultline-dev/faultline"
	"github.com/faultline-dev/faultline/sandbox/backend"
)

// running is an exec started through the API, its output not yet read.
type running struct {
	b      *Backend
	id     string // container
	execID string
	op     string
	att    types.HijackedResponse
}

// startExec creates and attaches an exec (attaching starts it). An exec in a
// container that is gone or not running is ENOTFOUND.
func (b *Backend) startExec(ctx context.Context, id string, spec backend.ExecSpec) (*running, error) {
	op := fmt.Sprintf("exec %q in %s", strings.Join(spec.Cmd, " "), short(id))
	created, err := b.cli.ContainerExecCreate(ctx, id, container.ExecOptions{
		User:         user,
		AttachStdin:  spec.Stdin != nil,
		AttachStdout: true,
		AttachStderr: true,
		Env:          spec.Env,
		WorkingDir:   spec.WorkDir,
		Cmd:          spec.Cmd,
	})
	if err != nil {
		if cerrdefs.IsNotFound(err) || cerrdefs.IsConflict(err) {
			return nil, errNotRunning(op, err)
		}
		return nil, b.fail(op, err)
	}
	att, err := b.cli.ContainerExecAttach(ctx, created.ID, container.ExecAttachOptions{})
	if err != nil {
		if cerrdefs.IsNotFound(err) || cerrdefs.IsConflict(err) {
			return nil, errNotRunning(op, err)
		}
		return nil, b.fail("start "+op, err)
	}
	if spec.Stdin != nil {
		go func() {
			_, _ = io.Copy(att.Conn, spec.Stdin)
			_ = att.CloseWrite()
		}()
	}
	return &running{b: b, id: id, execID: created.ID, op: op, att: att}, nil
}

// execWatch is how often finish checks that the container still runs while
// an exec's output is open: a runtime that dies whole (gVisor's sandbox) can
// leave the stream open for good.
const execWatch = 2 * time.Second

// finish copies the exec's output until it ends (or ctx does, or the
// container stops) and returns its exit status. The engine has no call to
// kill an exec: when ctx ends this only stops listening.
func (r *running) finish(ctx context.Context, stdout, stderr io.Writer) (int, error) {
	defer r.att.Close()
	if stdout == nil {
		stdout = io.Discard
	}
	if stderr == nil {
		stderr = io.Discard
	}
	done := make(chan error, 1)
	go func() {
		_, err := stdcopy.StdCopy(stdout, stderr, r.att.Reader)
		done <- err
	}()
	watch := time.NewTicker(execWatch)
	defer watch.Stop()
wait:
	for {
		select {
		case err := <-done:
			if err != nil && ctx.Err() == nil {
				return -1, r.b.fail("read output of "+r.op, err)
			}
			break wait
		case <-ctx.Done():
			r.att.Close()
			<-done
			break wait
		case <-watch.C:
			info, err := r.b.cli.ContainerInspect(ctx, r.id)
			if err == nil && (info.State == nil || info.State.Running) {
				continue
			}
			if cerrdefs.IsNotFound(err) || err == nil {
				r.att.Close()
				<-done
				return -1, errNotRunning(r.op+": the container stopped", nil)
			}
		}
	}
	if ctx.Err() != nil {
		return -1, fmt.Errorf("%s: %w", r.op, ctx.Err())
	}
	// The stream closes a moment before the engine records the exit code.
	ictx, cancel := context.WithTimeout(context.WithoutCancel(ctx), cleanupTimeout)
	defer cancel()
	for {
		info, err := r.b.cli.ContainerExecInspect(ictx, r.execID)
		if err != nil {
			if cerrdefs.IsNotFound(err) {
				return -1, errNotRunning("inspect "+r.op, err)
			}
			return -1, r.b.fail("inspect "+r.op, err)
		}
		if !info.Running {
			return info.ExitCode, nil
		}
		select {
		case <-ictx.Done():
			return -1, fmt.Errorf("%s: still running after its output ended", r.op)
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// Exec runs spec in the running container id.
func (b *Backend) Exec(ctx context.Context, id string, spec backend.ExecSpec) (int, error) {
	r, err := b.startExec(ctx, id, spec)
	if err != nil {
		return -1, err
	}
	// StdCopy writes both streams from one goroutine, in the order they
	// arrive, so one writer may take both.
	return r.finish(ctx, spec.Stdout, spec.Stderr)
}

// CopyIn pipes the archive into `tar -x` run in dir.
func (b *Backend) CopyIn(ctx context.Context, id, dir string, archive io.Reader) error {
	out := &capBuffer{limit: 4 << 10}
	code, err := b.Exec(ctx, id, backend.ExecSpec{
		Cmd:    []string{"tar", "-x", "-o", "-f", "-", "-C", dir},
		Stdin:  archive,
		Stdout: out,
		Stderr: out,
	})
	if err != nil {
		return fmt.Errorf("copy files into %s:%s: %w", short(id), dir, err)
	}
	if code != 0 {
		return fmt.Errorf("copy files into %s:%s: tar exited %d: %s", short(id), dir, code, out.String())
	}
	return nil
}

// CopyOut streams `tar -c` of path's base name, run in its parent folder.
func (b *Backend) CopyOut(ctx context.Context, id, name string) (io.ReadCloser, error) {
	clean := path.Clean(name)
	if !path.IsAbs(clean) || clean == "/" {
		return nil, faultline.Errorf(faultline.EINVALID, "Copy out needs an absolute path below /, not %q.", name)
	}
	dir, base := path.Split(clean)
	r, err := b.startExec(ctx, id, backend.ExecSpec{Cmd: []string{"tar", "-c", "-f", "-", "-C", dir, base}})
	if err != nil {
		return nil, fmt.Errorf("copy %s out of %s: %w", clean, short(id), err)
	}
	pr, pw := io.Pipe()
	go func() {
		stderr := &capBuffer{limit: 4 << 10}
		code, err := r.finish(ctx, pw, stderr)
		switch {
		case err != nil:
			pw.CloseWithError(fmt.Errorf("copy %s out of %s: %w", clean, short(id), err))
		case code != 0 && strings.Contains(stderr.String(), "No such file"):
			pw.CloseWithError(fmt.Errorf("copy %s out of %s: %s: %w", clean, short(id), stderr.String(),
				faultline.Errorf(faultline.ENOTFOUND, "No such file or folder.")))
		case code != 0:
			pw.CloseWithError(fmt.Errorf("copy %s out of %s: tar exited %d: %s", clean, short(id), code, stderr.String()))
		default:
			pw.Close()
		}
	}()
	return pr, nil
}

// ExecTTY starts spec on a TTY exec. Engines before API 1.42 ignore the
// console size given at creation; callers resize once the command runs.
func (b *Backend) ExecTTY(ctx context.Context, id string, spec backend.TTYSpec) (backend.TTY, error) {
	size := spec.Size.Clamp()
	console := &[2]uint{uint(size.Rows), uint(size.Cols)}
	op := fmt.Sprintf("terminal %q in %s", strings.Join(spec.Cmd, " "), short(id))
	created, err := b.cli.ContainerExecCreate(ctx, id, container.ExecOptions{
		User:         user,
		Tty:          true,
		ConsoleSize:  console,
		AttachStdin:  true,
		AttachStdout: true,
		AttachStderr: true,
		Env:          spec.Env,
		WorkingDir:   spec.WorkDir,
		Cmd:          spec.Cmd,
	})
	if err != nil {
		if cerrdefs.IsNotFound(err) || cerrdefs.IsConflict(err) {
			return nil, errNotRunning("create "+op, err)
		}
		return nil, b.fail("create "+op, err)
	}
	att, err := b.cli.ContainerExecAttach(ctx, created.ID, container.ExecAttachOptions{Tty: true, ConsoleSize: console})
	if err != nil {
		if cerrdefs.IsNotFound(err) || cerrdefs.IsConflict(err) {
			return nil, errNotRunning("attach "+op, err)
		}
		return nil, b.fail("attach "+op, err)
	}
	return &tty{b: b, id: id, execID: created.ID, att: att}, nil
}

// tty is a TTY exec and its hijacked connection.
type tty struct {
	b      *Backend
	id     string
	execID string
	att    types.HijackedResponse

	closeOnce sync.Once
	closed    atomic.Bool
}

// Read returns TTY output; io.EOF once the command has exited or the TTY is
// closed.
func (t *tty) Read(p []byte) (int, error) {
	n, err := t.att.Reader.Read(p)
	if err != nil && (errors.Is(err, net.ErrClosed) || t.closed.Load()) {
		err = io.EOF
	}
	return n, err
}

// Write types p.
func (t *tty) Write(p []byte) (int, error) {
	n, err := t.att.Conn.Write(p)
	if err != nil {
		if t.closed.Load() {
			return n, fmt.Errorf("write to terminal: %w", net.ErrClosed)
		}
		return n, fmt.Errorf("write to terminal: %w", err)
	}
	return n, nil
}

// Resize changes the TTY's size.
func (t *tty) Resize(ctx context.Context, size faultline.TermSize) error {
	size = size.Clamp()
	err := t.b.cli.ContainerExecResize(ctx, t.execID, container.ResizeOptions{Height: uint(size.Rows), Width: uint(size.Cols)})
	if err != nil {
		if cerrdefs.IsNotFound(err) || cerrdefs.IsConflict(err) {
			return errNotRunning(fmt.Sprintf("resize terminal in %s", short(t.id)), err)
		}
		return t.b.fail(fmt.Sprintf("resize terminal in %s to %dx%d", short(t.id), size.Cols, size.Rows), err)
	}
	return nil
}

// Close closes the connection.
func (t *tty) Close() error {
	t.closeOnce.Do(func() {
		t.closed.Store(true)
		t.att.Close()
	})
	return nil
}
