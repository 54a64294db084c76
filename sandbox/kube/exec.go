package kube

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"path"
	"strconv"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/httpstream"
	"k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/tools/remotecommand"
	utilexec "k8s.io/client-go/util/exec"

	"github.com/faultline-dev/faultline"
	"github.com/faultline-dev/faultline/sandbox/backend"
)

// wrapCmd returns cmd run with env added and in dir: the exec API has
// neither, so a shell does it (every lab image has sh and env).
func wrapCmd(cmd, env []string, dir string) []string {
	if len(env) == 0 && dir == "" {
		return cmd
	}
	if dir == "" {
		dir = "."
	}
	out := []string{"/bin/sh", "-c", `cd "$0" || exit 126; exec env "$@"`, dir}
	out = append(out, env...)
	return append(out, cmd...)
}

// lockedWriter serialises writes to w from the exec's stdout and stderr
// copiers.
type lockedWriter struct {
	mu *sync.Mutex
	w  io.Writer
}

func (l lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

// executor returns a stream to the exec subresource of the Pod's container.
func (b *Backend) executor(id string, opts *corev1.PodExecOptions) (remotecommand.Executor, error) {
	req := b.cs.CoreV1().RESTClient().Post().Resource("pods").Namespace(b.ns).Name(id).SubResource("exec").
		VersionedParams(opts, scheme.ParameterCodec)
	// WebSocket first (the API server's v5 streaming protocol: one
	// connection whose frames keep stdin and resizes in order), SPDY when
	// the server or a proxy between cannot upgrade to it, as kubectl does.
	ws, err := remotecommand.NewWebSocketExecutor(b.rest, "GET", req.URL().String())
	if err != nil {
		return nil, err
	}
	spdy, err := remotecommand.NewSPDYExecutor(b.rest, "POST", req.URL())
	if err != nil {
		return nil, err
	}
	return remotecommand.NewFallbackExecutor(ws, spdy, func(err error) bool {
		return httpstream.IsUpgradeFailure(err) || httpstream.IsHTTPSProxyError(err)
	})
}

// runningPod returns the Pod id when its container runs, ENOTFOUND
// otherwise.
func (b *Backend) runningPod(ctx context.Context, op, id string) (*corev1.Pod, error) {
	pod, err := b.getPod(ctx, op, id)
	if err != nil {
		return nil, err
	}
	if !running(pod) {
		return nil, errNotRunning(op)
	}
	return pod, nil
}

// exec runs cmd in the Pod's container and returns its exit status.
func (b *Backend) exec(ctx context.Context, id string, cmd []string, stdin io.Reader, stdout, stderr io.Writer) (int, error) {
	op := "exec in container " + id
	if stdout == nil {
		stdout = io.Discard
	}
	if stderr == nil {
		stderr = io.Discard
	}
	var mu sync.Mutex
	stdout, stderr = lockedWriter{&mu, stdout}, lockedWriter{&mu, stderr}
	ex, err := b.executor(id, &corev1.PodExecOptions{
		Container: mainContainer, Command: cmd, Stdin: stdin != nil, Stdout: true, Stderr: true,
	})
	if err != nil {
		return 0, fmt.Errorf("%s: %w", op, err)
	}
	err = ex.StreamWithContext(ctx, remotecommand.StreamOptions{Stdin: stdin, Stdout: stdout, Stderr: stderr})
	var code utilexec.CodeExitError
	switch {
	case err == nil:
		return 0, nil
	case errors.As(err, &code):
		return code.ExitStatus(), nil
	case ctx.Err() != nil:
		return 0, fmt.Errorf("%s: %w", op, ctx.Err())
	}
	// The container may have ended meanwhile.
	if _, perr := b.runningPod(context.WithoutCancel(ctx), op, id); perr != nil {
		return 0, perr
	}
	return 0, b.fail(op, err)
}

// Exec runs spec.Cmd in the running container.
func (b *Backend) Exec(ctx context.Context, id string, spec backend.ExecSpec) (int, error) {
	if _, err := b.runningPod(ctx, "exec in container "+id, id); err != nil {
		return 0, err
	}
	return b.exec(ctx, id, wrapCmd(spec.Cmd, spec.Env, spec.WorkDir), spec.Stdin, spec.Stdout, spec.Stderr)
}

// CopyIn unpacks the archive into dir with tar run by exec.
func (b *Backend) CopyIn(ctx context.Context, id, dir string, archive io.Reader) error {
	op := "copy into container " + id
	if _, err := b.runningPod(ctx, op, id); err != nil {
		return err
	}
	// A command that fails before reading its stdin leaves the SPDY stream
	// waiting for the input to end: check the folder first.
	code, err := b.exec(ctx, id, []string{"test", "-d", dir, "-a", "-w", dir}, nil, nil, nil)
	if err != nil {
		return err
	}
	if code != 0 {
		return fmt.Errorf("%s: %s is not a writable folder in the container", op, dir)
	}
	var stderr bytes.Buffer
	code, err = b.exec(ctx, id, []string{"tar", "-x", "-f", "-", "-C", dir}, archive, nil, &stderr)
	if err != nil {
		return err
	}
	if code != 0 {
		return fmt.Errorf("%s: tar exited %d: %s", op, code, strings.TrimSpace(stderr.String()))
	}
	return nil
}

// CopyOut streams a tar of name made by tar run by exec.
func (b *Backend) CopyOut(ctx context.Context, id, name string) (io.ReadCloser, error) {
	op := "copy from container " + id
	if _, err := b.runningPod(ctx, op, id); err != nil {
		return nil, err
	}
	name = path.Clean(name)
	code, err := b.exec(ctx, id, []string{"test", "-e", name}, nil, nil, nil)
	if err != nil {
		return nil, err
	}
	if code != 0 {
		return nil, fmt.Errorf("%s: %w", op, faultline.Errorf(faultline.ENOTFOUND, "%s does not exist in the container.", name))
	}
	cctx, cancel := context.WithCancel(ctx)
	pr, pw := io.Pipe()
	go func() {
		defer cancel()
		var stderr bytes.Buffer
		code, err := b.exec(cctx, id, []string{"tar", "-c", "-f", "-", "-C", path.Dir(name), path.Base(name)}, nil, pw, &stderr)
		switch {
		case err != nil:
			pw.CloseWithError(err)
		case code != 0:
			msg := strings.TrimSpace(stderr.String())
			if strings.Contains(msg, "No such file") {
				pw.CloseWithError(fmt.Errorf("%s: %w", op, faultline.Errorf(faultline.ENOTFOUND, "%s does not exist in the container.", name)))
			} else {
				pw.CloseWithError(fmt.Errorf("%s: tar exited %d: %s", op, code, msg))
			}
		default:
			pw.Close()
		}
	}()
	return &cancelReader{PipeReader: pr, cancel: cancel}, nil
}

type cancelReader struct {
	*io.PipeReader
	cancel context.CancelFunc
}

func (r *cancelReader) Close() error {
	r.cancel()
	return r.PipeReader.Close()
}

// CPU reads the container's cgroup CPU usage twice, a second apart.
func (b *Backend) CPU(ctx context.Context, id string) (backend.CPUSample, error) {
	op := "sample CPU of container " + id
	if _, err := b.runningPod(ctx, op, id); err != nil {
		return backend.CPUSample{}, err
	}
	read := func() (time.Duration, time.Time, error) {
		var out bytes.Buffer
		code, err := b.exec(ctx, id, []string{"cat", "/sys/fs/cgroup/cpu.stat", "/sys/fs/cgroup/cpuacct/cpuacct.usage", "/sys/fs/cgroup/cpu,cpuacct/cpuacct.usage"}, nil, &out, nil)
		at := time.Now()
		if err != nil {
			return 0, at, err
		}
		used, ok := parseCPU(out.String())
		if !ok {
			return 0, at, fmt.Errorf("%s: no CPU usage in the container's cgroup (exit %d)", op, code)
		}
		return used, at, nil
	}
	u1, t1, err := read()
	if err != nil {
		return backend.CPUSample{}, err
	}
	select {
	case <-ctx.Done():
		return backend.CPUSample{}, fmt.Errorf("%s: %w", op, ctx.Err())
	case <-time.After(time.Second):
	}
	u2, t2, err := read()
	if err != nil {
		return backend.CPUSample{}, err
	}
	return backend.CPUSample{Used: max(0, u2-u1), Interval: t2.Sub(t1)}, nil
}

// parseCPU reads cgroup v2's cpu.stat (usage_usec) or cgroup v1's
// cpuacct.usage (nanoseconds).
func parseCPU(s string) (time.Duration, bool) {
	for _, line := range strings.Split(s, "\n") {
		f := strings.Fields(line)
		if len(f) == 2 && f[0] == "usage_usec" {
			if n, err := strconv.ParseInt(f[1], 10, 64); err == nil {
				return time.Duration(n) * time.Microsecond, true
			}
		}
		if len(f) == 1 {
			if n, err := strconv.ParseInt(f[0], 10, 64); err == nil {
				return time.Duration(n), true
			}
		}
	}
	return 0, false
}

// ExecTTY starts spec.Cmd on a TTY through the exec subresource.
func (b *Backend) ExecTTY(ctx context.Context, id string, spec backend.TTYSpec) (backend.TTY, error) {
	op := "exec on a terminal in container " + id
	if _, err := b.runningPod(ctx, op, id); err != nil {
		return nil, err
	}
	// The command first writes its terminal's path to a file in /tmp, so
	// that a resize can set the size with stty on that terminal: sizes sent
	// through the exec stream's resize channel, mid-session, sometimes stall
	// the terminal's input for good on containerd (see Resize).
	ttyFile := "/tmp/.faultline-tty-" + randomHex(8)
	cmd := append([]string{"/bin/sh", "-c", `tty >"$0" 2>/dev/null; exec "$@"`, ttyFile}, wrapCmd(spec.Cmd, spec.Env, spec.WorkDir)...)
	ex, err := b.executor(id, &corev1.PodExecOptions{
		Container: mainContainer, Command: cmd,
		Stdin: true, Stdout: true, TTY: true,
	})
	if err != nil {
		return nil, fmt.Errorf("%s: %w", op, err)
	}
	sctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	t := &tty{cancel: cancel, sizes: make(chan remotecommand.TerminalSize, 16), ctx: sctx, b: b, id: id, ttyFile: ttyFile}
	t.inR, t.inW = io.Pipe()
	t.outR, t.outW = io.Pipe()
	size := spec.Size.Clamp()
	t.sizes <- remotecommand.TerminalSize{Width: uint16(size.Cols), Height: uint16(size.Rows)}
	go func() {
		err := ex.StreamWithContext(sctx, remotecommand.StreamOptions{
			Stdin: t.inR, Stdout: t.outW, Tty: true, TerminalSizeQueue: t,
		})
		if err != nil && sctx.Err() == nil {
			var code utilexec.CodeExitError
			if !errors.As(err, &code) {
				b.log.Warn("terminal stream ended", "container", id, "err", err)
			}
		}
		t.outW.Close()
		t.inR.Close()
		cancel()
	}()
	return t, nil
}

// tty is a command on a terminal, streamed through the exec subresource.
type tty struct {
	b       *Backend
	id      string
	ttyFile string // where the command wrote its terminal's path
	ctx     context.Context
	cancel  context.CancelFunc
	sizes   chan remotecommand.TerminalSize
	inR     *io.PipeReader
	inW     *io.PipeWriter
	outR    *io.PipeReader
	outW    *io.PipeWriter
	once    sync.Once
}

func (t *tty) Read(p []byte) (int, error) { return t.outR.Read(p) }

func (t *tty) Write(p []byte) (int, error) {
	n, err := t.inW.Write(p)
	if err != nil {
		return n, fmt.Errorf("write to terminal: %w", io.ErrClosedPipe)
	}
	return n, nil
}

// Next gives the stream the sizes asked, nil once the TTY is done.
func (t *tty) Next() *remotecommand.TerminalSize {
	select {
	case s := <-t.sizes:
		return &s
	case <-t.ctx.Done():
		return nil
	}
}

// Resize sets the terminal's size with stty on the command's terminal, in
// a second exec: the kernel then signals the command (SIGWINCH) as for any
// resize. Only when that cannot be done (no /tmp to note the terminal in, no
// stty) does the size go through the exec stream's resize channel, which
// on containerd sometimes stalls the terminal's input when a size arrives
// mid-session together with typing.
func (t *tty) Resize(ctx context.Context, size faultline.TermSize) error {
	size = size.Clamp()
	if t.ctx.Err() != nil {
		return nil // the command ended: nothing to resize
	}
	code, err := t.b.exec(ctx, t.id, []string{"/bin/sh", "-c",
		`p=$(cat "$0" 2>/dev/null) && [ -n "$p" ] && exec stty -F "$p" rows "$1" cols "$2"`,
		t.ttyFile, strconv.Itoa(size.Rows), strconv.Itoa(size.Cols)}, nil, nil, nil)
	if err == nil && code == 0 {
		return nil
	}
	if ctx.Err() != nil {
		return fmt.Errorf("resize terminal: %w", ctx.Err())
	}
	select {
	case t.sizes <- remotecommand.TerminalSize{Width: uint16(size.Cols), Height: uint16(size.Rows)}:
		return nil
	case <-t.ctx.Done():
		return nil // the command ended: nothing to resize
	case <-ctx.Done():
		return fmt.Errorf("resize terminal: %w", ctx.Err())
	}
}

func (t *tty) Close() error {
	t.once.Do(func() {
		t.cancel()
		t.inW.Close()
		t.outR.Close()
		go func() { // the note of the terminal's path, best effort
			ctx, cancel := context.WithTimeout(context.Background(), cleanupTimeout)
			defer cancel()
			_, _ = t.b.exec(ctx, t.id, []string{"rm", "-f", t.ttyFile}, nil, nil, nil)
		}()
	})
	return nil
}

// attachment is a container's log being copied.
type attachment struct {
	done   chan struct{}
	cancel context.CancelFunc
}

func (a *attachment) Done() <-chan struct{} { return a.done }

func (a *attachment) Close() error {
	a.cancel()
	return nil
}

// Attach copies the container's log, from its start, to output once it
// runs, and stdin through the attach subresource.
func (b *Backend) Attach(ctx context.Context, id string, stdin io.Reader, output io.Writer) (backend.Attachment, error) {
	op := "attach to container " + id
	pod, err := b.getPod(ctx, op, id)
	if err != nil {
		return nil, err
	}
	if stdin != nil && !pod.Spec.Containers[0].Stdin {
		return nil, fmt.Errorf("%s: %w", op, faultline.Errorf(faultline.EINVALID, "The container was created without stdin."))
	}
	if output == nil {
		output = io.Discard
	}
	actx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	a := &attachment{done: make(chan struct{}), cancel: cancel}
	go func() {
		defer close(a.done)
		defer cancel()
		started, err := b.watchPod(actx, op, id, func(p *corev1.Pod) (bool, error) {
			return running(p) || terminated(p) || p.Status.Phase == corev1.PodFailed, nil
		})
		if err != nil {
			return
		}
		if stdin != nil && running(started) {
			go b.sendStdin(actx, id, stdin)
		}
		if mainStatus(started) == nil {
			return // never ran
		}
		rc, err := b.cs.CoreV1().Pods(b.ns).GetLogs(id, &corev1.PodLogOptions{Container: mainContainer, Follow: true}).Stream(actx)
		if err != nil {
			if actx.Err() == nil {
				b.log.Warn("read container log", "container", id, "err", err)
			}
			return
		}
		defer rc.Close()
		_, _ = io.Copy(output, rc)
	}()
	return a, nil
}

// sendStdin writes stdin to the container's main process through the
// attach subresource; the end of stdin closes the process's (it was
// created with stdin once).
func (b *Backend) sendStdin(ctx context.Context, id string, stdin io.Reader) {
	req := b.cs.CoreV1().RESTClient().Post().Resource("pods").Namespace(b.ns).Name(id).SubResource("attach").
		VersionedParams(&corev1.PodAttachOptions{Container: mainContainer, Stdin: true}, scheme.ParameterCodec)
	ex, err := remotecommand.NewSPDYExecutor(b.rest, "POST", req.URL())
	if err != nil {
		b.log.Warn("attach stdin", "container", id, "err", err)
		return
	}
	if err := ex.StreamWithContext(ctx, remotecommand.StreamOptions{Stdin: stdin}); err != nil && ctx.Err() == nil {
		b.log.Debug("attach stdin ended", "container", id, "err", err)
	}
}
