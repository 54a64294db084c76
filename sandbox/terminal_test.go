package sandbox

import (
	"bytes"
	"context"
	"errors"
	"io"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/faultline-dev/faultline"
)

// termReader collects a terminal's output in the background so tests can
// wait for text to appear.
type termReader struct {
	mu   sync.Mutex
	buf  bytes.Buffer
	more chan struct{} // closed and replaced on every read
	err  error         // set when Read failed (io.EOF when the shell ended)
}

func startTermReader(term io.Reader) *termReader {
	r := &termReader{more: make(chan struct{})}
	go func() {
		b := make([]byte, 4096)
		for {
			n, err := term.Read(b)
			r.mu.Lock()
			r.buf.Write(b[:n])
			if err != nil {
				r.err = err
			}
			close(r.more)
			r.more = make(chan struct{})
			r.mu.Unlock()
			if err != nil {
				return
			}
		}
	}()
	return r
}

// MustSee waits until want appears in the output after the offset from, and
// returns the offset just past it. ctx is only a hang guard.
func (r *termReader) MustSee(tb testing.TB, ctx context.Context, from int, want string) int {
	tb.Helper()
	for {
		r.mu.Lock()
		out, err, more := r.buf.String(), r.err, r.more
		r.mu.Unlock()
		if i := strings.Index(out[from:], want); i >= 0 {
			return from + i + len(want)
		}
		if err != nil {
			tb.Fatalf("terminal ended (%v) before %q appeared; output:\n%s", err, want, out)
		}
		select {
		case <-more:
		case <-ctx.Done():
			tb.Fatalf("%q never appeared; output:\n%s", want, out)
		}
	}
}

// MustEnd waits until reading failed and returns the error.
func (r *termReader) MustEnd(tb testing.TB, ctx context.Context) error {
	tb.Helper()
	for {
		r.mu.Lock()
		err, more := r.err, r.more
		r.mu.Unlock()
		if err != nil {
			return err
		}
		select {
		case <-more:
		case <-ctx.Done():
			tb.Fatalf("terminal output never ended")
		}
	}
}

// MustWrite types s into term.
func MustWrite(tb testing.TB, term io.Writer, s string) {
	tb.Helper()
	if _, err := io.WriteString(term, s); err != nil {
		tb.Fatalf("write %q: %v", s, err)
	}
}

// MustPS returns the container's process list (PID and arguments).
func MustPS(tb testing.TB, id string) string {
	tb.Helper()
	code, out := MustExec(tb, id, "ps", "-o", "pid,args")
	if code != 0 {
		tb.Fatalf("ps exited %d: %s", code, out)
	}
	return out
}

// MustEventually re-checks cond (a hang-guarded poll, not a timing assertion).
func MustEventually(tb testing.TB, ctx context.Context, what string, cond func() bool) {
	tb.Helper()
	for !cond() {
		select {
		case <-ctx.Done():
			tb.Fatalf("never: %s", what)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

func TestTerminal(t *testing.T) {
	st := newMemStore()
	m := MustManager(t, st)
	ctx := MustContext(t, 90*time.Second)
	lab := testLab()
	const user, other = 7101, 7102

	if _, err := m.Terminal(ctx, user, lab.Slug, faultline.TermSize{Cols: 80, Rows: 24}); faultline.ErrorCode(err) != faultline.ENOTFOUND {
		t.Fatalf("Terminal before Start: %v, want ENOTFOUND", err)
	}
	sb, err := m.Start(ctx, user, lab, learnerFiles, nil)
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	if _, err := m.Terminal(ctx, other, lab.Slug, faultline.TermSize{Cols: 80, Rows: 24}); faultline.ErrorCode(err) != faultline.ENOTFOUND {
		t.Fatalf("Terminal of another learner: %v, want ENOTFOUND", err)
	}

	t.Run("shell", func(t *testing.T) {
		term, err := m.Terminal(ctx, user, lab.Slug, faultline.TermSize{Cols: 101, Rows: 31})
		if err != nil {
			t.Fatalf("Terminal: %v", err)
		}
		defer term.Close()
		out := startTermReader(term)

		MustWrite(t, term, "echo hi-$((6*7)); stty size; pwd; id -u; echo term=$TERM; ls\n")
		at := out.MustSee(t, ctx, 0, "hi-42")
		at = out.MustSee(t, ctx, at, "31 101")
		at = out.MustSee(t, ctx, at, "/work")
		at = out.MustSee(t, ctx, at, "65534")
		at = out.MustSee(t, ctx, at, "term=xterm-256color")
		at = out.MustSee(t, ctx, at, "tiny.go")

		if err := term.Resize(ctx, faultline.TermSize{Cols: 132, Rows: 43}); err != nil {
			t.Fatalf("Resize: %v", err)
		}
		MustWrite(t, term, "stty size\n")
		at = out.MustSee(t, ctx, at, "43 132")

		// Out-of-bounds sizes are clamped, not refused.
		if err := term.Resize(ctx, faultline.TermSize{Cols: 100000, Rows: -3}); err != nil {
			t.Fatalf("Resize huge: %v", err)
		}
		MustWrite(t, term, "stty size\n")
		at = out.MustSee(t, ctx, at, "2 1000")

		// The Go toolchain is there; the lab's tests build and run.
		MustWrite(t, term, "go version && go test -count=1 -run TestAdd . && echo go-ok-$((2+3))\n")
		out.MustSee(t, ctx, at, "go-ok-5")
	})

	t.Run("close kills the session", func(t *testing.T) {
		term, err := m.Terminal(ctx, user, lab.Slug, faultline.TermSize{})
		if err != nil {
			t.Fatalf("Terminal: %v", err)
		}
		out := startTermReader(term)
		MustWrite(t, term, "sleep 4242 & echo bg-$((1+1))\n")
		at := out.MustSee(t, ctx, 0, "bg-2")
		MustWrite(t, term, "sleep 4343\n")
		MustEventually(t, ctx, "both sleeps run", func() bool {
			ps := MustPS(t, sb.ContainerID)
			return strings.Contains(ps, "sleep 4242") && strings.Contains(ps, "sleep 4343")
		})
		_ = at
		if ps := MustPS(t, sb.ContainerID); !strings.Contains(ps, "sh -l") {
			t.Fatalf("the login shell is not in ps:\n%s", ps)
		}
		if err := term.Close(); err != nil {
			t.Fatalf("Close: %v", err)
		}
		if err := term.Close(); err != nil {
			t.Fatalf("second Close: %v", err)
		}
		// Close returns after the kill: nothing of the session is left.
		if ps := MustPS(t, sb.ContainerID); strings.Contains(ps, "sleep 4242") || strings.Contains(ps, "sleep 4343") || strings.Contains(ps, "sh -l") {
			t.Fatalf("processes left after Close:\n%s", ps)
		}
		if err := out.MustEnd(t, ctx); !errors.Is(err, io.EOF) {
			t.Errorf("Read after Close: %v, want io.EOF", err)
		}
		if _, err := term.Write([]byte("echo x\n")); err == nil {
			t.Errorf("Write after Close succeeded")
		}
	})

	t.Run("exit ends the output", func(t *testing.T) {
		term, err := m.Terminal(ctx, user, lab.Slug, faultline.TermSize{Cols: 80, Rows: 24})
		if err != nil {
			t.Fatalf("Terminal: %v", err)
		}
		out := startTermReader(term)
		MustWrite(t, term, "exit 3\n")
		if err := out.MustEnd(t, ctx); !errors.Is(err, io.EOF) {
			t.Errorf("Read after exit: %v, want io.EOF", err)
		}
		if err := term.Close(); err != nil {
			t.Errorf("Close after exit: %v", err)
		}
	})

	t.Run("stopped sandbox", func(t *testing.T) {
		term, err := m.Terminal(ctx, user, lab.Slug, faultline.TermSize{Cols: 80, Rows: 24})
		if err != nil {
			t.Fatalf("Terminal: %v", err)
		}
		out := startTermReader(term)
		if err := m.Stop(ctx, user, lab.Slug); err != nil {
			t.Fatalf("Stop: %v", err)
		}
		out.MustEnd(t, ctx)
		if err := term.Close(); err != nil {
			t.Errorf("Close after the sandbox was removed: %v", err)
		}
		if _, err := m.Terminal(ctx, user, lab.Slug, faultline.TermSize{Cols: 80, Rows: 24}); faultline.ErrorCode(err) != faultline.ENOTFOUND {
			t.Fatalf("Terminal after Stop: %v, want ENOTFOUND", err)
		}
	})
}

// TestTerminalActivity checks that typing counts as sandbox activity, at
// most once per termTouchEvery of the Manager's clock.
func TestTerminalActivity(t *testing.T) {
	st := newMemStore()
	m := MustManager(t, st)
	var mu sync.Mutex
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	m.opt.Now = func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	advance := func(d time.Duration) { mu.Lock(); now = now.Add(d); mu.Unlock() }
	ctx := MustContext(t, 3*time.Minute)
	lab := testLab()
	const user = 7103
	if _, err := m.Start(ctx, user, lab, nil, nil); err != nil {
		t.Fatalf("Start: %v", err)
	}
	lastActive := func() time.Time {
		t.Helper()
		sb, err := st.FindSandbox(ctx, user, lab.Slug)
		if err != nil {
			t.Fatal(err)
		}
		return sb.LastActiveAt
	}
	forget := func() {
		st.mu.Lock()
		st.rows[storeKey(user, lab.Slug)].LastActiveAt = time.Time{}
		st.mu.Unlock()
	}

	forget()
	term, err := m.Terminal(ctx, user, lab.Slug, faultline.TermSize{Cols: 80, Rows: 24})
	if err != nil {
		t.Fatalf("Terminal: %v", err)
	}
	defer term.Close()
	if lastActive().IsZero() {
		t.Fatalf("opening a terminal did not count as activity")
	}
	forget()
	MustWrite(t, term, "true\n")
	if !lastActive().IsZero() {
		t.Fatalf("input right after opening touched the sandbox again")
	}
	advance(termTouchEvery)
	MustWrite(t, term, "true\n")
	if lastActive().IsZero() {
		t.Fatalf("input %s later did not count as activity", termTouchEvery)
	}
}

func TestTermSizeClamp(t *testing.T) {
	for _, c := range []struct{ in, want faultline.TermSize }{
		{faultline.TermSize{Cols: 80, Rows: 24}, faultline.TermSize{Cols: 80, Rows: 24}},
		{faultline.TermSize{}, faultline.TermSize{Cols: faultline.MinTermCols, Rows: faultline.MinTermRows}},
		{faultline.TermSize{Cols: 1 << 30, Rows: 1 << 30}, faultline.TermSize{Cols: faultline.MaxTermCols, Rows: faultline.MaxTermRows}},
	} {
		if got := c.in.Clamp(); got != c.want {
			t.Errorf("%+v.Clamp() = %+v, want %+v", c.in, got, c.want)
		}
	}
}
