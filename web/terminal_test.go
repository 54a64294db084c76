package web

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/faultline-dev/faultline"
	"github.com/faultline-dev/faultline/sandbox"
	"github.com/faultline-dev/faultline/sandbox/docker"
)

func TestTermSizeQuery(t *testing.T) {
	for _, c := range []struct {
		query string
		want  faultline.TermSize
		bad   bool
	}{
		{"", faultline.TermSize{Cols: 80, Rows: 24}, false},
		{"cols=120&rows=40", faultline.TermSize{Cols: 120, Rows: 40}, false},
		{"cols=100", faultline.TermSize{Cols: 100, Rows: 24}, false},
		{"cols=0&rows=-4", faultline.TermSize{Cols: faultline.MinTermCols, Rows: faultline.MinTermRows}, false},
		{"cols=999999&rows=999999", faultline.TermSize{Cols: faultline.MaxTermCols, Rows: faultline.MaxTermRows}, false},
		{"cols=abc", faultline.TermSize{}, true},
		{"rows=12.5", faultline.TermSize{}, true},
		{"cols=1e3", faultline.TermSize{}, true},
		{"cols=99999999999999999999", faultline.TermSize{}, true},
	} {
		r := httptest.NewRequest(http.MethodGet, "/labs/x/terminal?"+c.query, nil)
		got, err := termSizeQuery(r)
		if c.bad {
			if faultline.ErrorCode(err) != faultline.EINVALID {
				t.Errorf("%q: err %v, want EINVALID", c.query, err)
			}
			continue
		}
		if err != nil || got != c.want {
			t.Errorf("%q: %+v, %v; want %+v", c.query, got, err, c.want)
		}
	}
}

// A garbage size is a 400 before any upgrade or sign-in check.
func TestTerminalBadSize(t *testing.T) {
	e := MustEnv(t)
	b := e.MustLogin(e.MustUser("Ada Learner", faultline.RoleLearner))
	if res := b.get("/labs/anything/terminal?cols=wide"); res.status != http.StatusBadRequest {
		t.Fatalf("status %d, want 400\n%s", res.status, res.body)
	}
}

// wsClient reads a terminal socket in the background.
type wsClient struct {
	conn *websocket.Conn
	mu   sync.Mutex
	buf  bytes.Buffer
	more chan struct{}
	err  error // the Read error that ended the socket
}

func startWSClient(conn *websocket.Conn) *wsClient {
	c := &wsClient{conn: conn, more: make(chan struct{})}
	go func() {
		for {
			typ, data, err := conn.Read(context.Background())
			c.mu.Lock()
			if err == nil && typ == websocket.MessageBinary {
				c.buf.Write(data)
			}
			c.err = err
			close(c.more)
			c.more = make(chan struct{})
			c.mu.Unlock()
			if err != nil {
				return
			}
		}
	}()
	return c
}

// MustSee waits until want appears after offset from; returns the offset past it.
func (c *wsClient) MustSee(tb testing.TB, ctx context.Context, from int, want string) int {
	tb.Helper()
	for {
		c.mu.Lock()
		out, err, more := c.buf.String(), c.err, c.more
		c.mu.Unlock()
		if i := strings.Index(out[from:], want); i >= 0 {
			return from + i + len(want)
		}
		if err != nil {
			tb.Fatalf("socket ended (%v) before %q appeared; output:\n%s", err, want, out)
		}
		select {
		case <-more:
		case <-ctx.Done():
			tb.Fatalf("%q never appeared; output:\n%s", want, out)
		}
	}
}

// MustClosed waits for the socket to end and returns the server's close.
func (c *wsClient) MustClosed(tb testing.TB, ctx context.Context) websocket.CloseError {
	tb.Helper()
	for {
		c.mu.Lock()
		err, more := c.err, c.more
		c.mu.Unlock()
		if err != nil {
			var ce websocket.CloseError
			if !errors.As(err, &ce) {
				tb.Fatalf("socket ended without a close frame: %v", err)
			}
			return ce
		}
		select {
		case <-more:
		case <-ctx.Done():
			tb.Fatalf("socket never closed")
		}
	}
}

func (c *wsClient) MustSend(tb testing.TB, ctx context.Context, typ websocket.MessageType, s string) {
	tb.Helper()
	if err := c.conn.Write(ctx, typ, []byte(s)); err != nil {
		tb.Fatalf("send %q: %v", s, err)
	}
}

// termSite is a portal over httptest with a real sandbox manager.
type termSite struct {
	e   *env
	ts  *httptest.Server
	mgr *sandbox.Manager
}

func MustTermSite(t *testing.T) *termSite {
	t.Helper()
	if testing.Short() {
		t.Skip("needs the container engine")
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	db, err := docker.New("", log)
	if err != nil {
		t.Fatal(err)
	}
	eng := sandbox.New(db, log)
	var b [4]byte
	_, _ = rand.Read(b[:])
	eng.SetScope("webterm-" + hex.EncodeToString(b[:]))
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if _, err := eng.RemoveOrphans(ctx, "", nil); err != nil {
			t.Errorf("cleanup: %v", err)
		}
		eng.Close()
	})
	_, lc := MustCatalogs(t)
	var mgr *sandbox.Manager
	e := MustEnv(t, func(d *envDeps) {
		mgr = sandbox.NewManager(eng, d.DB, sandbox.ManagerOptions{Warm: lc.StdImports()})
		d.Terminals = mgr
	})
	ts := httptest.NewServer(e.srv)
	t.Cleanup(ts.Close)
	return &termSite{e: e, ts: ts, mgr: mgr}
}

// dial opens the terminal of lab as the browser b (nil: signed out) with
// the given Origin ("" for none).
func (s *termSite) dial(ctx context.Context, b *browser, lab, query, origin string) (*websocket.Conn, *http.Response, error) {
	h := http.Header{}
	if b != nil {
		if c := b.cookies[sessionCookie]; c != nil {
			h.Set("Cookie", c.Name+"="+c.Value)
		}
	}
	if origin != "" {
		h.Set("Origin", origin)
	}
	u := "ws" + strings.TrimPrefix(s.ts.URL, "http") + "/labs/" + lab + "/terminal"
	if query != "" {
		u += "?" + query
	}
	return websocket.Dial(ctx, u, &websocket.DialOptions{HTTPHeader: h})
}

func (s *termSite) MustDial(t *testing.T, ctx context.Context, b *browser, lab, query string) *wsClient {
	t.Helper()
	conn, _, err := s.dial(ctx, b, lab, query, s.ts.URL)
	if err != nil {
		t.Fatalf("dial %s: %v", lab, err)
	}
	t.Cleanup(func() { conn.CloseNow() })
	return startWSClient(conn)
}

// MustPS lists the sandbox's processes through a second terminal of the
// manager (the engine, not the socket under test).
func (s *termSite) MustPS(t *testing.T, ctx context.Context, userID int64, lab string) string {
	t.Helper()
	term, err := s.mgr.Terminal(ctx, userID, lab, faultline.TermSize{Cols: 200, Rows: 50})
	if err != nil {
		t.Fatalf("inspecting terminal: %v", err)
	}
	defer term.Close()
	if _, err := term.Write([]byte("ps -o pid,args; echo ps-done-$((40+2))\n")); err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	buf := make([]byte, 4096)
	for !strings.Contains(out.String(), "ps-done-42") {
		if ctx.Err() != nil {
			t.Fatalf("ps never finished: %s", out.String())
		}
		n, err := term.Read(buf)
		out.Write(buf[:n])
		if err != nil {
			t.Fatalf("read ps: %v\n%s", err, out.String())
		}
	}
	return out.String()
}

// loginShells counts the `sh -l` processes in ps output.
func loginShells(ps string) int {
	n := 0
	for _, line := range strings.Split(ps, "\n") {
		if f := strings.Fields(line); len(f) == 3 && f[1] == "sh" && f[2] == "-l" {
			n++
		}
	}
	return n
}

func TestTerminalWebSocket(t *testing.T) {
	site := MustTermSite(t)
	e := site.e
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute) // hang guard
	defer cancel()
	_, lc := MustCatalogs(t)
	all := lc.All()
	lab, otherLab := all[0], all[1]

	ada := e.MustUser("Ada Learner", faultline.RoleLearner)
	bob := e.MustUser("Bob Learner", faultline.RoleLearner)
	adaB, bobB := e.MustLogin(ada), e.MustLogin(bob)

	start := time.Now()
	if _, err := site.mgr.Start(ctx, ada.ID, lab, nil, nil); err != nil {
		t.Fatalf("Start: %v", err)
	}
	t.Logf("sandbox started in %s", time.Since(start).Round(time.Millisecond))

	t.Run("owner gets a shell", func(t *testing.T) {
		c := site.MustDial(t, ctx, adaB, lab.Slug, "cols=90&rows=30")
		c.MustSend(t, ctx, websocket.MessageBinary, "echo hi-$((6*7)); stty size\n")
		at := c.MustSee(t, ctx, 0, "hi-42")
		at = c.MustSee(t, ctx, at, "30 90")

		// Unknown and malformed control messages are ignored.
		c.MustSend(t, ctx, websocket.MessageText, `{"type":"bogus"}`)
		c.MustSend(t, ctx, websocket.MessageText, `not json`)
		c.MustSend(t, ctx, websocket.MessageText, `{"type":"resize","cols":123,"rows":45}`)
		c.MustSend(t, ctx, websocket.MessageBinary, "stty size; pwd\n")
		at = c.MustSee(t, ctx, at, "45 123")
		c.MustSee(t, ctx, at, "/work")

		c.MustSend(t, ctx, websocket.MessageBinary, "exit\n")
		if ce := c.MustClosed(t, ctx); ce.Code != websocket.StatusNormalClosure {
			t.Errorf("after exit: close %d %q, want 1000", ce.Code, ce.Reason)
		}
	})

	t.Run("dropping the socket kills the shell", func(t *testing.T) {
		c := site.MustDial(t, ctx, adaB, lab.Slug, "")
		c.MustSend(t, ctx, websocket.MessageBinary, "sleep 4242 & echo bg-$((1+1))\n")
		c.MustSee(t, ctx, 0, "bg-2")
		ps := site.MustPS(t, ctx, ada.ID, lab.Slug)
		if !strings.Contains(ps, "sleep 4242") || loginShells(ps) != 2 {
			t.Fatalf("before the drop, want the sleep and two login shells:\n%s", ps)
		}
		c.conn.CloseNow()
		for {
			ps = site.MustPS(t, ctx, ada.ID, lab.Slug)
			if !strings.Contains(ps, "sleep 4242") && loginShells(ps) == 1 {
				break
			}
			select {
			case <-ctx.Done():
				t.Fatalf("the dropped terminal's processes live on:\n%s", ps)
			case <-time.After(100 * time.Millisecond):
			}
		}
	})

	t.Run("another learner is refused", func(t *testing.T) {
		c := site.MustDial(t, ctx, bobB, lab.Slug, "")
		if ce := c.MustClosed(t, ctx); ce.Code != 4404 || ce.Reason != "no running sandbox: press Start lab" {
			t.Errorf("close %d %q, want 4404", ce.Code, ce.Reason)
		}
	})

	t.Run("no running sandbox", func(t *testing.T) {
		c := site.MustDial(t, ctx, adaB, otherLab.Slug, "")
		if ce := c.MustClosed(t, ctx); ce.Code != 4404 || ce.Reason != "no running sandbox: press Start lab" {
			t.Errorf("close %d %q, want 4404", ce.Code, ce.Reason)
		}
		c = site.MustDial(t, ctx, adaB, "no-such-lab", "")
		if ce := c.MustClosed(t, ctx); ce.Code != 4404 {
			t.Errorf("unknown lab: close %d %q, want 4404", ce.Code, ce.Reason)
		}
	})

	t.Run("signed out", func(t *testing.T) {
		c := site.MustDial(t, ctx, nil, lab.Slug, "")
		if ce := c.MustClosed(t, ctx); ce.Code != 4401 {
			t.Errorf("close %d %q, want 4401", ce.Code, ce.Reason)
		}
	})

	t.Run("cross-origin upgrade is refused", func(t *testing.T) {
		for _, origin := range []string{"http://evil.example", "null", strings.Replace(site.ts.URL, "127.0.0.1", "localhost", 1)} {
			conn, res, err := site.dial(ctx, adaB, lab.Slug, "", origin)
			if err == nil {
				conn.CloseNow()
				t.Fatalf("Origin %s: upgraded", origin)
			}
			if res == nil || res.StatusCode != http.StatusForbidden {
				t.Errorf("Origin %s: %v, want 403", origin, err)
			}
		}
	})

	t.Run("bad size", func(t *testing.T) {
		_, res, err := site.dial(ctx, adaB, lab.Slug, "cols=wide", site.ts.URL)
		if err == nil || res == nil || res.StatusCode != http.StatusBadRequest {
			t.Errorf("cols=wide: %v, want 400", err)
		}
	})
}
