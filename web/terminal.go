package web

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/coder/websocket"
	"github.com/go-chi/chi/v5"

	"github.com/faultline-dev/faultline"
)

// The terminal WebSocket, GET /labs/{slug}/terminal?cols=N&rows=M:
//
//   - The query sets the initial size (default 80x24; integers outside the
//     faultline.Min/MaxTerm bounds are clamped; anything else is a 400 before
//     the upgrade).
//   - Only same-origin upgrades are accepted (a foreign Origin gets 403 before
//     the upgrade); the session cookie names the learner, and the sandbox is
//     looked up by that learner and the slug, never by anything the client
//     sends.
//   - Browser to server: binary messages are keystrokes, raw bytes for the
//     TTY; text messages are JSON control messages, of which
//     {"type":"resize","cols":N,"rows":M} is the only one; others, and
//     malformed ones, are ignored.
//   - Server to browser: binary messages of raw TTY output.
//   - The server closes with one of the codes below and a short reason. When
//     the socket drops, the shell and everything it started are killed; each
//     connection gets a new shell. When the portal shuts down
//     (Server.CloseTerminals), every open terminal is closed with 1001 and its
//     shell killed, and new upgrades are closed with 1001 at once.
const (
	closeShellExited  = websocket.StatusNormalClosure // 1000: the shell exited (or the sandbox stopped under it)
	closeGoingAway    = websocket.StatusGoingAway     // 1001: the portal is shutting down
	closeUnavailable  = websocket.StatusTryAgainLater // 1013: the container engine is down
	closeInternal     = websocket.StatusInternalError // 1011: a bug or an outage; logged
	closeNotSignedIn  = websocket.StatusCode(4401)    // no valid session
	closeNoSandbox    = websocket.StatusCode(4404)    // no such lab, or no running sandbox of this learner
	termReadLimit     = 1 << 20                       // largest message from the browser (a big paste)
	termOpenTimeout   = time.Minute                   // bounds starting the shell
	termWriteTimeout  = time.Minute                   // a browser that takes no output for this long is dropped
	termPingInterval  = 30 * time.Second              // keepalive, so a dead peer is noticed and its shell killed
	termPingTimeout   = 20 * time.Second
	maxTermQueryDigit = 6
)

// Close reasons (at most 123 bytes each, as WebSocket requires).
const (
	reasonShellExited = "shell exited"
	reasonGoingAway   = "the portal is shutting down: reconnect in a moment"
	reasonNotSignedIn = "not signed in: sign in again"
	reasonNoSandbox   = "no running sandbox: press Start lab"
	reasonNoLab       = "no such lab"
	reasonUnavailable = "sandboxes are unavailable right now: try again later"
	reasonInternal    = "internal error"
)

// termControl is a JSON control message from the browser.
type termControl struct {
	Type string `json:"type"`
	Cols int    `json:"cols"`
	Rows int    `json:"rows"`
}

// termSizeQuery reads the initial size from the query: absent means the
// default, an integer is clamped, anything else is EINVALID.
func termSizeQuery(r *http.Request) (faultline.TermSize, error) {
	q := r.URL.Query()
	size := faultline.TermSize{Cols: faultline.DefaultTermCols, Rows: faultline.DefaultTermRows}
	for _, f := range []struct {
		name string
		dst  *int
	}{{"cols", &size.Cols}, {"rows", &size.Rows}} {
		v := q.Get(f.name)
		if v == "" {
			continue
		}
		n, err := strconv.Atoi(v)
		if err != nil || len(v) > maxTermQueryDigit {
			return size, faultline.Errorf(faultline.EINVALID, "The terminal size %s=%q is not a whole number.", f.name, v)
		}
		*f.dst = n
	}
	return size.Clamp(), nil
}

// serveTerminal upgrades to the terminal WebSocket described above and
// bridges it to a new shell in the learner's running sandbox.
func (s *Server) serveTerminal(w http.ResponseWriter, r *http.Request) error {
	size, err := termSizeQuery(r)
	if err != nil {
		s.renderError(w, r, http.StatusBadRequest, titles[faultline.EINVALID], faultline.ErrorMessage(err), false)
		return nil
	}
	// No OriginPatterns: only an Origin naming this very host is accepted.
	conn, err := websocket.Accept(w, r, &websocket.AcceptOptions{})
	if err != nil {
		// Accept has answered (403 for a foreign Origin, 426 without an upgrade).
		s.log.WarnContext(r.Context(), "terminal upgrade refused", "path", r.URL.Path, "origin", r.Header.Get("Origin"), "err", err)
		return nil
	}
	defer conn.CloseNow()
	conn.SetReadLimit(termReadLimit)

	sess := s.terms.add(conn)
	if sess == nil {
		_ = conn.Close(closeGoingAway, reasonGoingAway)
		return nil
	}
	defer s.terms.remove(sess)

	ctx := r.Context()
	code, reason := s.bridgeTerminal(ctx, sess, UserFromContext(ctx), chi.URLParam(r, "slug"), size)
	if code != 0 {
		_ = conn.Close(code, reason)
	}
	return nil
}

// bridgeTerminal opens the shell and copies between it and conn until either
// ends. It returns the close code and reason to send, or 0 when the socket is
// gone or already closed.
func (s *Server) bridgeTerminal(ctx context.Context, sess *termSession, u *faultline.User, slug string, size faultline.TermSize) (websocket.StatusCode, string) {
	conn := sess.conn
	if u == nil {
		return closeNotSignedIn, reasonNotSignedIn
	}
	l, err := s.c.Lab(slug)
	if faultline.ErrorCode(err) == faultline.ENOTFOUND {
		return closeNoSandbox, reasonNoLab
	} else if err != nil {
		s.log.ErrorContext(ctx, "terminal: lab", "lab", slug, "err", err)
		return closeInternal, reasonInternal
	}

	octx, cancel := context.WithTimeout(ctx, termOpenTimeout)
	term, err := s.c.Terminal(octx, u, l.Slug, size)
	cancel()
	switch faultline.ErrorCode(err) {
	case "":
	case faultline.ENOTFOUND:
		return closeNoSandbox, reasonNoSandbox
	case faultline.EUNAVAILABLE:
		return closeUnavailable, reasonUnavailable
	default:
		s.log.ErrorContext(ctx, "terminal: open", "user", u.ID, "lab", l.Slug, "err", err)
		return closeInternal, reasonInternal
	}
	closeTerm := func() {
		if err := term.Close(); err != nil {
			s.log.ErrorContext(ctx, "terminal: close", "user", u.ID, "lab", l.Slug, "err", err)
		}
	}
	defer closeTerm()
	if !s.terms.attach(sess, term) {
		return closeGoingAway, reasonGoingAway // shutdown began while the shell opened
	}

	ctx, cancel = context.WithCancel(ctx)
	defer cancel()

	// Shell to browser. It ends when the shell does (EOF) or the browser
	// stops taking output.
	shellDone := make(chan error, 1)
	go func() {
		buf := make([]byte, 32<<10)
		for {
			n, err := term.Read(buf)
			if n > 0 {
				wctx, wcancel := context.WithTimeout(ctx, termWriteTimeout)
				werr := conn.Write(wctx, websocket.MessageBinary, buf[:n])
				wcancel()
				if werr != nil {
					shellDone <- werr
					return
				}
			}
			if err != nil {
				shellDone <- err
				return
			}
		}
	}()

	// Browser to shell. It ends when the socket does.
	peerDone := make(chan error, 1)
	go func() {
		for {
			typ, data, err := conn.Read(ctx)
			if err != nil {
				peerDone <- err
				return
			}
			if typ == websocket.MessageBinary {
				// A failed write means the shell is gone: its output
				// side ends the session.
				_, _ = term.Write(data)
				continue
			}
			var c termControl
			if json.Unmarshal(data, &c) != nil || c.Type != "resize" {
				continue
			}
			if err := term.Resize(ctx, faultline.TermSize{Cols: c.Cols, Rows: c.Rows}); err != nil {
				s.log.DebugContext(ctx, "terminal: resize", "user", u.ID, "lab", l.Slug, "err", err)
			}
		}
	}()

	ping := time.NewTicker(termPingInterval)
	defer ping.Stop()
	for {
		select {
		case err := <-shellDone:
			if errors.Is(err, io.EOF) {
				closeTerm() // stragglers the shell left behind
				// Close before ctx ends: cancelling a pending Read would
				// drop the socket without the close frame.
				_ = conn.Close(closeShellExited, reasonShellExited)
			}
			return 0, "" // the browser stopped taking output
		case <-peerDone:
			return 0, "" // the socket dropped or the browser closed it
		case <-ping.C:
			pctx, pcancel := context.WithTimeout(ctx, termPingTimeout)
			err := conn.Ping(pctx)
			pcancel()
			if err != nil {
				return 0, ""
			}
		}
	}
}

// termSessions are the live terminal sockets. They are hijacked connections,
// which http.Server.Shutdown neither closes nor waits for, so the Server
// tracks them to close them itself (CloseTerminals). The zero value is ready.
type termSessions struct {
	mu      sync.Mutex
	closing bool
	live    map[*termSession]struct{}
	active  sync.WaitGroup // handlers of live sessions
}

// termSession is one terminal socket and, once opened, its shell.
type termSession struct {
	conn *websocket.Conn
	term faultline.Terminal // nil until the shell is open
}

// add registers a new socket; nil when the portal is shutting down.
func (t *termSessions) add(conn *websocket.Conn) *termSession {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closing {
		return nil
	}
	if t.live == nil {
		t.live = map[*termSession]struct{}{}
	}
	sess := &termSession{conn: conn}
	t.live[sess] = struct{}{}
	t.active.Add(1)
	return sess
}

// attach records the session's shell; false when shutdown has begun (the
// caller then closes the shell itself).
func (t *termSessions) attach(sess *termSession, term faultline.Terminal) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closing {
		return false
	}
	sess.term = term
	return true
}

// remove unregisters a session whose handler is returning.
func (t *termSessions) remove(sess *termSession) {
	t.mu.Lock()
	delete(t.live, sess)
	t.mu.Unlock()
	t.active.Done()
}

// CloseTerminals closes every open terminal socket with 1001 (going away)
// and kills its shell, and makes new terminal upgrades close at once with
// 1001. It returns when every terminal handler has finished, or when ctx
// ends (then ctx's error). Call it when the portal shuts down, before
// http.Server.Shutdown, which does not see hijacked connections.
func (s *Server) CloseTerminals(ctx context.Context) error {
	t := &s.terms
	t.mu.Lock()
	t.closing = true
	sessions := make([]termSession, 0, len(t.live))
	for sess := range t.live {
		sessions = append(sessions, *sess) // term is fixed from here on: attach refuses
	}
	t.mu.Unlock()
	if len(sessions) > 0 {
		s.log.Info("closing open terminals", "count", len(sessions))
	}
	for _, sess := range sessions {
		go func() {
			// Close sends 1001 and waits (a few seconds at most) for the
			// browser's answer; the handler's reader sees the close and
			// returns, killing the shell too. Killing it here as well
			// covers a handler stuck elsewhere; Close is idempotent.
			_ = sess.conn.Close(closeGoingAway, reasonGoingAway)
			if sess.term != nil {
				if err := sess.term.Close(); err != nil {
					s.log.Error("terminal: close at shutdown", "err", err)
				}
			}
		}()
	}
	done := make(chan struct{})
	go func() {
		t.active.Wait()
		close(done)
	}()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("close terminals: %w", ctx.Err())
	}
}
