package web

// Streamed lab actions. "Start lab" and "Run tests" are plain form POSTs that
// answer with a redirect or a page; the lab page's bundle sends the same
// POSTs with Accept: text/event-stream (fetch with a streamed body: an
// EventSource cannot POST) and gets Server-Sent Events instead:
//
//	POST /labs/{slug}/sandbox   phase* (image, create, start, files, ready),
//	                            then ready (the sandbox panel, HTML) or error
//	POST /labs/{slug}/run       output* (test output as text), then result
//	                            (the per-test view, HTML) or error
//
// An error event's data is JSON {"message", "status", "retryAfter"}. A
// failure before anything was streamed also gets its HTTP status (429 with
// Retry-After when too many sandboxes are starting). The fetch is
// same-origin, so http.CrossOriginProtection lets it through as it does the
// form.

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/faultline-dev/faultline"
	"github.com/faultline-dev/faultline/web/views"
)

// lifeWarning is how long before a sandbox's lifetime cap the lab page
// warns that it will be stopped.
const lifeWarning = 30 * time.Minute

// keepAlive is how often a quiet stream sends a comment, so proxies keep
// the connection open while an image builds or a test runs silently.
const keepAlive = 15 * time.Second

// wantsEventStream reports whether the client asked for Server-Sent Events.
func wantsEventStream(r *http.Request) bool {
	return strings.Contains(r.Header.Get("Accept"), "text/event-stream")
}

// lifeView says when the learner's running sandbox is stopped, for the
// warning on the lab page; zero when not running.
func (s *Server) lifeView(sb *faultline.Sandbox) views.SandboxLife {
	stops, maxLife := s.c.SandboxLife(sb)
	if stops.IsZero() {
		return views.SandboxLife{}
	}
	now := s.now()
	left := max(stops.Sub(now), 0)
	warnIn := max(left-lifeWarning, 0)
	return views.SandboxLife{
		StopsAt: stops,
		WarnIn:  int(math.Ceil(warnIn.Seconds())),
		StopsIn: int(math.Ceil(left.Seconds())),
		Warn:    warnIn == 0,
		MaxLife: lifeText(maxLife),
		Left:    lifeText(left),
	}
}

// lifeText is a duration in words for the page: "12 h", "1 h 30 min",
// "25 min", "under a minute".
func lifeText(d time.Duration) string {
	m := int(math.Ceil(d.Minutes()))
	switch {
	case d < time.Minute:
		return "under a minute"
	case m < 60:
		return strconv.Itoa(m) + " min"
	case m%60 == 0:
		return strconv.Itoa(m/60) + " h"
	}
	return strconv.Itoa(m/60) + " h " + strconv.Itoa(m%60) + " min"
}

// setRetryAfter sets the Retry-After header for an error that suggests a wait.
func setRetryAfter(w http.ResponseWriter, err error) {
	if d, ok := faultline.ErrorRetryAfter(err); ok {
		w.Header().Set("Retry-After", strconv.Itoa(int(math.Ceil(d.Seconds()))))
	}
}

// eventStream writes Server-Sent Events. The status line and headers go out
// with the first event, so a failure before it can still be answered with
// its own status; writes are serialized (test output arrives on the exec's
// goroutines) and each event is flushed.
type eventStream struct {
	w  http.ResponseWriter
	rc *http.ResponseController

	mu      sync.Mutex
	started bool
	gone    bool // the client went away
	stop    chan struct{}
}

func newEventStream(w http.ResponseWriter) *eventStream {
	rc := http.NewResponseController(w)
	_ = rc.SetWriteDeadline(time.Time{}) // a stream outlives the server's write timeout
	return &eventStream{w: w, rc: rc, stop: make(chan struct{})}
}

func (es *eventStream) begin(status int) {
	if es.started {
		return
	}
	es.started = true
	h := es.w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Accel-Buffering", "no")
	es.w.WriteHeader(status)
}

// send writes one event (starting the response with 200 if needed); false
// once the client has gone.
func (es *eventStream) send(event, data string) bool {
	es.mu.Lock()
	defer es.mu.Unlock()
	if es.gone {
		return false
	}
	es.begin(http.StatusOK)
	if writeEvent(es.w, event, data) != nil || es.rc.Flush() != nil {
		es.gone = true
	}
	return !es.gone
}

// keepAlive sends a comment every keepAlive until close.
func (es *eventStream) keepAlive() {
	t := time.NewTicker(keepAlive)
	defer t.Stop()
	for {
		select {
		case <-es.stop:
			return
		case <-t.C:
		}
		es.mu.Lock()
		if !es.gone {
			es.begin(http.StatusOK)
			if _, err := es.w.Write([]byte(": keep-alive\n\n")); err != nil || es.rc.Flush() != nil {
				es.gone = true
			}
		}
		es.mu.Unlock()
	}
}

// close stops the keep-alive; nothing is written afterwards.
func (es *eventStream) close() {
	es.mu.Lock()
	defer es.mu.Unlock()
	select {
	case <-es.stop:
	default:
		close(es.stop)
	}
	es.gone = true
}

// streamError is the data of an error event.
type streamError struct {
	Message    string `json:"message"`
	Status     int    `json:"status"`
	RetryAfter int    `json:"retryAfter,omitempty"` // seconds
}

// fail sends err as an error event. Before anything was streamed the
// response gets err's status (and Retry-After); an internal error is logged
// and shown as a generic message.
func (es *eventStream) fail(s *Server, r *http.Request, err error) {
	code, msg, ok := userError(err)
	if !ok {
		s.log.ErrorContext(r.Context(), "internal error", "method", r.Method, "path", r.URL.Path, "err", err)
		msg = "Something went wrong on our side. It has been logged; please try again in a moment."
	}
	e := streamError{Message: msg, Status: statusOf(code)}
	if d, ok := faultline.ErrorRetryAfter(err); ok {
		e.RetryAfter = int(math.Ceil(d.Seconds()))
	}
	data, _ := json.Marshal(e)
	es.mu.Lock()
	if !es.started {
		if e.RetryAfter > 0 {
			es.w.Header().Set("Retry-After", strconv.Itoa(e.RetryAfter))
		}
		es.begin(e.Status)
	}
	es.mu.Unlock()
	es.send("error", string(data))
}

// serveStartSandboxStream is serveStartSandbox for the bundle: the start's
// phases as they happen, then the running sandbox's panel. A learner who
// leaves the page mid-start finds the sandbox running when they come back:
// the start does not end with the request (course.StartLab).
func (s *Server) serveStartSandboxStream(w http.ResponseWriter, r *http.Request, l *faultline.Lab) error {
	es := newEventStream(w)
	defer es.close()
	go es.keepAlive()
	u := UserFromContext(r.Context())
	phase := func(p faultline.SandboxPhase) {
		s.log.DebugContext(r.Context(), "sandbox phase", "user", u.ID, "lab", l.Slug, "phase", p)
		es.send("phase", string(p))
	}
	sb, err := s.c.StartLab(r.Context(), u, l.Slug, phase)
	if err != nil {
		es.fail(s, r, err)
		return nil
	}
	m := views.LabPage{Lab: views.LabInfo{URL: labURL(l.Slug)}, Sandbox: s.sandboxView(sb, nil)}
	var buf bytes.Buffer
	if err := views.SandboxPanel(m, views.LabUI{Bundle: s.assets.bundle}).Render(r.Context(), &buf); err != nil {
		es.fail(s, r, fmt.Errorf("render sandbox panel of lab %q: %w", l.Slug, err))
		return nil
	}
	es.send("ready", buf.String())
	return nil
}

// serveRunTestsStream is serveRunTests for the bundle: the visible tests'
// output as it comes, then the same per-test view the page shows.
func (s *Server) serveRunTestsStream(w http.ResponseWriter, r *http.Request, l *faultline.Lab) error {
	es := newEventStream(w)
	defer es.close()
	go es.keepAlive()
	shown := &cappedBuffer{max: maxShownOutput}
	live := &liveOutput{es: es, left: maxShownOutput}
	text := &testText{out: io.MultiWriter(shown, live)}
	res, err := s.c.RunTests(r.Context(), UserFromContext(r.Context()), l.Slug, text)
	text.flush()
	if err != nil {
		es.fail(s, r, err)
		return nil
	}
	var buf bytes.Buffer
	if err := views.RunPanel(*runView(res, shown.String())).Render(r.Context(), &buf); err != nil {
		es.fail(s, r, fmt.Errorf("render run of lab %q: %w", l.Slug, err))
		return nil
	}
	es.send("result", buf.String())
	return nil
}

// runView is the per-test view of a run: the result with the output shown
// (the run's text, or the scorer's tail when nothing was captured).
func runView(res *faultline.Result, output string) *views.RunView {
	run := &views.RunView{
		Status: string(res.Status), Message: res.Message, Score: res.Score, MaxScore: res.MaxScore,
		Output: output, Tests: testRows(res.Tests),
	}
	if run.Output == "" {
		run.Output = res.Output
	}
	return run
}

// liveOutput sends test output as "output" events, up to left bytes, then
// says once that the rest is not shown live.
type liveOutput struct {
	es   *eventStream
	left int
	cut  bool
}

func (o *liveOutput) Write(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	switch {
	case o.left >= len(p):
		o.left -= len(p)
		o.es.send("output", string(p))
	case !o.cut:
		o.cut = true
		if o.left > 0 {
			o.es.send("output", string(p[:o.left]))
			o.left = 0
		}
		o.es.send("output", "\n… more output; the rest is not shown live\n")
	}
	return len(p), nil
}

// testText turns `go test -json` output into the text a terminal would
// show: an event's Output as is, other events dropped, and lines that are
// not events (a build log, a crash) kept as they are. It is for display
// only; scoring reads the raw events. Whole lines are passed on (flush
// passes the last, unfinished one); writers may be concurrent (stdout and
// stderr). out must not fail: cappedBuffer and liveOutput never do.
type testText struct {
	mu      sync.Mutex
	out     io.Writer
	partial []byte
}

// flush passes on an unfinished last line.
func (t *testText) flush() {
	t.mu.Lock()
	defer t.mu.Unlock()
	if len(t.partial) > 0 {
		_, _ = t.out.Write(eventText(t.partial))
		t.partial = nil
	}
}

// maxEventLine is the longest line kept whole; longer ones pass as text.
const maxEventLine = 256 << 10

func (t *testText) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.partial = append(t.partial, p...)
	var text []byte
	for {
		i := bytes.IndexByte(t.partial, '\n')
		if i < 0 {
			break
		}
		text = append(text, eventText(t.partial[:i+1])...)
		t.partial = t.partial[i+1:]
	}
	if len(t.partial) > maxEventLine {
		text = append(text, t.partial...)
		t.partial = t.partial[:0]
	}
	if len(text) > 0 {
		_, _ = t.out.Write(text)
	}
	return len(p), nil
}

// eventText is what one line of `go test -json` output shows as.
func eventText(line []byte) []byte {
	trimmed := bytes.TrimSpace(line)
	if len(trimmed) == 0 || trimmed[0] != '{' {
		return line
	}
	var ev struct {
		Action string `json:"Action"`
		Output string `json:"Output"`
	}
	if json.Unmarshal(trimmed, &ev) != nil || ev.Action == "" {
		return line
	}
	switch ev.Action {
	case "output", "build-output":
		return []byte(ev.Output)
	}
	return nil
}
