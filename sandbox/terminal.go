package sandbox

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/faultline-dev/faultline"
	"github.com/faultline-dev/faultline/sandbox/backend"
)

// termTouchEvery is how often, at most, terminal input is recorded as sandbox
// activity (so the idle reaper spares a sandbox someone is typing in, without
// a database write per keystroke).
const termTouchEvery = 30 * time.Second

// termShell starts the learner's shell. The wrapper prints its PID (which
// exec keeps for the login shell) as the first line, so Close can end the
// shell's whole session: closing a backend's TTY may leave it running.
var termShell = []string{"sh", "-c", `echo "$$"; exec sh -l`}

// killSessionScript SIGKILLs every process of the session whose ID is $1 (a
// TTY exec is a session leader, so this is the shell and everything it
// started that did not call setsid itself), repeating while it finds some, so
// a process forked mid-sweep is caught too. A killed process takes a moment
// to become a zombie (longer on a loaded machine), so later sweeps wait a
// little first; zombies and dead entries are left to init.
const killSessionScript = `s=$1
pass=0
while [ $pass -lt 60 ]; do
	pass=$((pass + 1))
	[ $pass -gt 1 ] && sleep 0.05
	found=
	for f in /proc/[0-9]*/stat; do
		read -r l < "$f" 2>/dev/null || continue
		set -- ${l##*) }
		[ "$4" = "$s" ] || continue
		case "$1" in Z|X|x) continue ;; esac
		p=${f#/proc/}
		kill -9 "${p%/stat}" 2>/dev/null && found=1
	done
	[ -n "$found" ] || exit 0
done
exit 1`

var _ faultline.Terminals = (*Manager)(nil)

// Terminal starts a new login shell (busybox `sh -l`) on a TTY of size
// (clamped) in the learner's running sandbox for lab, as the sandbox user, in
// WorkDir, with the sandbox's environment plus TERM=xterm-256color. The
// sandbox is looked up by userID and lab only. Opening the terminal, and
// typing into it (at most every 30 seconds), count as sandbox activity.
// ENOTFOUND when no sandbox is running, EUNAVAILABLE when the orchestrator is
// down.
func (m *Manager) Terminal(ctx context.Context, userID int64, lab string, size faultline.TermSize) (faultline.Terminal, error) {
	sb, err := m.running(ctx, userID, lab)
	if err != nil {
		return nil, err
	}
	size = size.Clamp()
	op := fmt.Sprintf("terminal user %d lab %q in %s", userID, lab, short(sb.ContainerID))
	conn, err := m.e.b.ExecTTY(ctx, sb.ContainerID, backend.TTYSpec{
		Cmd:     termShell,
		Env:     []string{"TERM=xterm-256color"},
		WorkDir: WorkDir,
		Size:    size,
	})
	if faultline.ErrorCode(err) == faultline.ENOTFOUND {
		return nil, faultline.Errorf(faultline.ENOTFOUND, "This lab's sandbox is not running; start it first.")
	} else if err != nil {
		return nil, fmt.Errorf("start %s: %w", op, err)
	}
	t := &tty{m: m, sandboxID: sb.ID, containerID: sb.ContainerID, conn: conn, touched: m.opt.Now()}
	// Until the shell has said who it is, ctx bounds the wait.
	stop := context.AfterFunc(ctx, func() { conn.Close() })
	pid, err := t.readPID()
	if !stop() || err != nil {
		conn.Close()
		if err == nil {
			err = ctx.Err()
		}
		// The shell may have started: end it if its PID is known.
		if pid > 0 {
			t.pid = pid
			_ = t.kill()
		}
		return nil, fmt.Errorf("start %s: %w", op, err)
	}
	t.pid = pid
	// Some engines ignore the size given at the start (Docker before API
	// 1.42): size the TTY now that the shell runs.
	if err := t.Resize(ctx, size); err != nil {
		t.Close()
		return nil, err
	}
	return t, nil
}

// tty is a faultline.Terminal: a backend TTY running the learner's shell,
// whose session it ends at Close.
type tty struct {
	m           *Manager
	sandboxID   int64
	containerID string
	conn        backend.TTY
	pid         int // the shell's PID inside the container

	pending []byte // output read along with the PID line

	mu      sync.Mutex
	touched time.Time

	closeOnce sync.Once
	closed    atomic.Bool
	closeErr  error
}

// readPID reads the wrapper's first output line, the shell's PID.
func (t *tty) readPID() (int, error) {
	var line []byte
	buf := make([]byte, 512)
	for {
		n, err := t.conn.Read(buf)
		line = append(line, buf[:n]...)
		if i := bytes.IndexByte(line, '\n'); i >= 0 {
			t.pending = append([]byte(nil), line[i+1:]...)
			pid, perr := strconv.Atoi(string(bytes.TrimSpace(line[:i])))
			if perr != nil || pid <= 0 {
				return 0, fmt.Errorf("shell's first line %q is not its PID", line[:i])
			}
			return pid, nil
		}
		if err != nil {
			return 0, fmt.Errorf("read shell PID: %w", err)
		}
		if len(line) > 64 {
			return 0, fmt.Errorf("shell's first output %q is not its PID", line)
		}
	}
}

// Read returns TTY output; io.EOF once the shell has exited or the terminal
// is closed.
func (t *tty) Read(p []byte) (int, error) {
	if len(t.pending) > 0 {
		n := copy(p, t.pending)
		t.pending = t.pending[n:]
		return n, nil
	}
	n, err := t.conn.Read(p)
	if err != nil && t.isClosed() {
		err = io.EOF
	}
	return n, err
}

// Write sends keystrokes to the shell and records activity now and then.
func (t *tty) Write(p []byte) (int, error) {
	n, err := t.conn.Write(p)
	if err != nil {
		if t.isClosed() {
			return n, fmt.Errorf("write to terminal: %w", net.ErrClosed)
		}
		return n, err
	}
	t.activity()
	return n, nil
}

// activity touches the sandbox at most every termTouchEvery.
func (t *tty) activity() {
	now := t.m.opt.Now()
	t.mu.Lock()
	due := now.Sub(t.touched) >= termTouchEvery
	if due {
		t.touched = now
	}
	t.mu.Unlock()
	if !due {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), cleanupTimeout)
	defer cancel()
	if err := t.m.st.TouchSandbox(ctx, t.sandboxID); err != nil {
		t.m.log.Warn("touch sandbox from terminal", "id", t.sandboxID, "err", err)
	}
}

// Resize changes the TTY's size (clamped).
func (t *tty) Resize(ctx context.Context, size faultline.TermSize) error {
	if err := t.conn.Resize(ctx, size.Clamp()); err != nil {
		return fmt.Errorf("resize terminal: %w", err)
	}
	return nil
}

// Close kills the shell's session (the shell and whatever it started), then
// closes the connection. It returns the first call's result every time; a
// sandbox that is already gone is not an error.
func (t *tty) Close() error {
	t.closeOnce.Do(func() {
		t.closed.Store(true)
		t.closeErr = t.kill()
		t.conn.Close()
	})
	return t.closeErr
}

func (t *tty) isClosed() bool { return t.closed.Load() }

// kill SIGKILLs the shell's session inside the container.
func (t *tty) kill() error {
	ctx, cancel := context.WithTimeout(context.Background(), cleanupTimeout)
	defer cancel()
	out := &capWriter{limit: 1 << 10}
	code, err := t.m.e.exec(ctx, t.containerID, []string{"sh", "-c", killSessionScript, "faultline-kill-session", strconv.Itoa(t.pid)}, "", out)
	switch {
	case faultline.ErrorCode(err) == faultline.ENOTFOUND:
		return nil // the sandbox is gone, and the shell with it
	case err != nil:
		return fmt.Errorf("end terminal session %d in %s: %w", t.pid, short(t.containerID), err)
	case code != 0:
		return fmt.Errorf("end terminal session %d in %s: exit %d: %s", t.pid, short(t.containerID), code, bytes.TrimSpace(out.bytes()))
	}
	return nil
}

var _ io.ReadWriteCloser = (*tty)(nil)
