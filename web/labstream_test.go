package web

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/PuerkitoBio/goquery"

	"github.com/faultline-dev/faultline"
)

// streamSandboxes is a fake Sandboxes for the streams: Start reports the
// cold-start phases (or fails after failAfter of them), and it caps
// lifetimes like sandbox.Manager.
type streamSandboxes struct {
	*fakeSandboxes
	failAfter int   // phases reported before startErr (with startErr set)
	startErr  error // Start fails with this
	starts    int
	stopsAt   time.Time
	runOutput []string // written to RunTests' out one piece at a time
}

func (f *streamSandboxes) Start(ctx context.Context, userID int64, lab *faultline.Lab, files []faultline.File, phase func(faultline.SandboxPhase)) (*faultline.Sandbox, error) {
	f.starts++
	for i, p := range []faultline.SandboxPhase{faultline.PhaseImage, faultline.PhaseCreate, faultline.PhaseStart, faultline.PhaseFiles} {
		if f.startErr != nil && i == f.failAfter {
			return nil, f.startErr
		}
		phase(p)
	}
	return f.fakeSandboxes.Start(ctx, userID, lab, files, phase)
}

func (f *streamSandboxes) RunTests(ctx context.Context, userID int64, lab *faultline.Lab, out io.Writer) (*faultline.Result, error) {
	for _, s := range f.runOutput {
		_, _ = io.WriteString(out, s)
	}
	return f.fakeSandboxes.RunTests(ctx, userID, lab, io.Discard)
}

func (f *streamSandboxes) StopsAt(sb *faultline.Sandbox) time.Time {
	if sb.State != faultline.SandboxRunning {
		return time.Time{}
	}
	return f.stopsAt
}

func (f *streamSandboxes) MaxLife() time.Duration { return 12 * time.Hour }

// busyErr is what sandbox.Manager returns when too many labs are starting.
type busyErr struct{ after time.Duration }

func (e *busyErr) Error() string { return "busy" }
func (e *busyErr) Unwrap() error {
	return faultline.Errorf(faultline.ETOOMANY, "Many labs are starting right now; retry in %d s.", int(e.after.Seconds()))
}
func (e *busyErr) RetryAfter() time.Duration { return e.after }

func MustStreamEnv(t *testing.T) (*env, *streamSandboxes, *browser, *faultline.User) {
	t.Helper()
	sb := &streamSandboxes{fakeSandboxes: newFakeSandboxes()}
	e := MustEnv(t, func(d *envDeps) { d.Sandboxes = sb })
	u := e.MustUser("lin", faultline.RoleLearner)
	return e, sb, e.MustLogin(u), u
}

// events parses a whole Server-Sent Events body (sseEvent: submissions_test.go).
func events(t *testing.T, body string) []sseEvent {
	t.Helper()
	var out []sseEvent
	for _, block := range strings.Split(body, "\n\n") {
		if strings.TrimSpace(block) == "" {
			continue
		}
		var ev sseEvent
		var data []string
		for _, line := range strings.Split(block, "\n") {
			switch {
			case strings.HasPrefix(line, ":"):
			case strings.HasPrefix(line, "event: "):
				ev.name = strings.TrimPrefix(line, "event: ")
			case strings.HasPrefix(line, "data: "):
				data = append(data, strings.TrimPrefix(line, "data: "))
			default:
				t.Fatalf("bad SSE line %q in\n%s", line, body)
			}
		}
		if ev.name == "" {
			continue // a keep-alive comment
		}
		ev.data = strings.Join(data, "\n")
		out = append(out, ev)
	}
	return out
}

func names(evs []sseEvent) string {
	var n []string
	for _, e := range evs {
		if e.name == "phase" {
			n = append(n, "phase:"+e.data)
		} else {
			n = append(n, e.name)
		}
	}
	return strings.Join(n, " ")
}

// postStream posts as the bundle does: fetch, same origin, asking for SSE.
func (b *browser) postStream(path, site string) *response {
	b.e.t.Helper()
	req := httptest.NewRequest(http.MethodPost, path, strings.NewReader(""))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept", "text/event-stream")
	req.Header.Set("Sec-Fetch-Site", site)
	return b.do(req)
}

func fragment(t *testing.T, html string) *goquery.Document {
	t.Helper()
	d, err := goquery.NewDocumentFromReader(strings.NewReader(html))
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func mustStreamError(t *testing.T, ev sseEvent) streamErrorData {
	t.Helper()
	var e streamErrorData
	if ev.name != "error" || json.Unmarshal([]byte(ev.data), &e) != nil {
		t.Fatalf("event %+v is not an error event", ev)
	}
	return e
}

type streamErrorData struct {
	Message    string `json:"message"`
	Status     int    `json:"status"`
	RetryAfter int    `json:"retryAfter"`
}

// TestStartStream: the bundle's "Start lab" gets every phase in order, then
// the running sandbox's panel; the plain form still redirects.
func TestStartStream(t *testing.T) {
	e, sb, b, u := MustStreamEnv(t)
	sb.stopsAt = e.clock.Now().Add(6 * time.Hour)

	res := b.postStream("/labs/"+labSlug+"/sandbox", "same-origin")
	if res.status != http.StatusOK || !strings.HasPrefix(res.header.Get("Content-Type"), "text/event-stream") {
		t.Fatalf("stream: %d %q\n%s", res.status, res.header.Get("Content-Type"), res.body)
	}
	evs := events(t, res.body)
	if got, want := names(evs), "phase:image phase:create phase:start phase:files phase:ready ready"; got != want {
		t.Fatalf("events %q, want %q", got, want)
	}
	panel := fragment(t, evs[len(evs)-1].data)
	if st, _ := panel.Find(`[data-testid="sandbox-state"]`).Attr("data-state"); st != "running" {
		t.Errorf("ready panel sandbox state %q, want running\n%s", st, evs[len(evs)-1].data)
	}
	if panel.Find(`[data-testid="sandbox"] [data-testid="terminal"]`).Length() != 1 || panel.Find(`[data-testid="start-lab"]`).Length() != 0 {
		t.Errorf("ready panel lacks the terminal or still offers Start lab:\n%s", evs[len(evs)-1].data)
	}
	if ex := panel.Find(`[data-testid="sandbox-expiry"]`); ex.Length() != 1 || ex.AttrOr("data-stops-in", "") != strconv.Itoa(6*3600) {
		t.Errorf("ready panel's lifetime banner: %d, stops in %q", ex.Length(), ex.AttrOr("data-stops-in", ""))
	}
	if len(sb.files[sbKey(u.ID, labSlug)]) == 0 {
		t.Error("the streamed start copied no files into the sandbox")
	}

	// Without JavaScript: the same URL, a plain form POST, a redirect.
	if res := b.post("/labs/"+labSlug+"/sandbox", nil); res.status != http.StatusSeeOther || res.header.Get("Location") != "/labs/"+labSlug {
		t.Fatalf("plain start: %d %q", res.status, res.header.Get("Location"))
	}

	// Another site cannot start one (CSRF): refused before Start is called.
	before := sb.starts
	if res := b.postStream("/labs/"+labSlug+"/sandbox", "cross-site"); res.status != http.StatusForbidden {
		t.Errorf("cross-site stream: %d, want 403", res.status)
	}
	if sb.starts != before {
		t.Error("a cross-site request started a sandbox")
	}
}

// TestStartStreamErrors: an engine that is down answers 503 with an error
// event saying sandboxes are unavailable and files are safe; a failure after
// some phases arrives as an error event after them; too many starts answer
// 429 with Retry-After, streamed and plain.
func TestStartStreamErrors(t *testing.T) {
	_, sb, b, _ := MustStreamEnv(t)
	path := "/labs/" + labSlug + "/sandbox"

	sb.startErr = faultline.Errorf(faultline.EUNAVAILABLE, "The container engine is not reachable, so lab sandboxes and grading are unavailable right now. Try again in a few minutes.")
	res := b.postStream(path, "same-origin")
	evs := events(t, res.body)
	if res.status != http.StatusServiceUnavailable || names(evs) != "error" {
		t.Fatalf("engine down: %d, events %q", res.status, names(evs))
	}
	if e := mustStreamError(t, evs[0]); !strings.Contains(e.Message, "unavailable") || !strings.Contains(e.Message, "saved files are safe") || e.Status != 503 {
		t.Errorf("engine down error %+v", e)
	}
	// The plain form says the same.
	res = b.post(path, nil)
	if res.status != http.StatusServiceUnavailable || !strings.Contains(res.testid("form-error").Text(), "saved files are safe") {
		t.Errorf("plain start with the engine down: %d %q", res.status, res.testid("form-error").Text())
	}

	sb.failAfter = 2 // image and create, then the engine goes away
	evs = events(t, b.postStream(path, "same-origin").body)
	if got := names(evs); got != "phase:image phase:create error" {
		t.Fatalf("failure mid-start: events %q", got)
	}

	sb.failAfter, sb.startErr = 0, fmt.Errorf("start: %w", &busyErr{after: 7 * time.Second})
	res = b.postStream(path, "same-origin")
	evs = events(t, res.body)
	if res.status != http.StatusTooManyRequests || res.header.Get("Retry-After") != "7" || names(evs) != "error" {
		t.Fatalf("busy stream: %d, Retry-After %q, events %q", res.status, res.header.Get("Retry-After"), names(evs))
	}
	if e := mustStreamError(t, evs[0]); e.RetryAfter != 7 || e.Message != "Many labs are starting right now; retry in 7 s." {
		t.Errorf("busy error %+v", e)
	}
	res = b.post(path, nil)
	if res.status != http.StatusTooManyRequests || res.header.Get("Retry-After") != "7" ||
		!strings.Contains(res.testid("form-error").Text(), "retry in 7 s") {
		t.Errorf("busy plain start: %d, Retry-After %q, %q", res.status, res.header.Get("Retry-After"), res.testid("form-error").Text())
	}

	// An internal error is logged and shown generically.
	sb.startErr = fmt.Errorf("docker said something secret")
	evs = events(t, b.postStream(path, "same-origin").body)
	if e := mustStreamError(t, evs[0]); strings.Contains(e.Message, "secret") || !strings.Contains(e.Message, "saved files are safe") {
		t.Errorf("internal error shown as %+v", e)
	}
}

// TestRunStream: output arrives as text events (go test -json turned into
// what it says) before the result, which is the page's own per-test view.
func TestRunStream(t *testing.T) {
	_, sb, b, _ := MustStreamEnv(t)
	path := "/labs/" + labSlug + "/run"

	res := b.postStream(path, "same-origin")
	evs := events(t, res.body)
	if res.status != http.StatusConflict || names(evs) != "error" || !strings.Contains(mustStreamError(t, evs[0]).Message, "Start the lab first") {
		t.Fatalf("run before start: %d, %q", res.status, res.body)
	}

	if res := b.post("/labs/"+labSlug+"/sandbox", nil); res.status != http.StatusSeeOther {
		t.Fatalf("start: %d", res.status)
	}
	sb.result = &faultline.Result{Status: faultline.StatusGraded, Score: 2, MaxScore: 3, Message: "2 of 3 points from the visible tests.", Tests: []faultline.TestResult{
		{Name: "TestA", Status: faultline.TestPass, Score: 2, MaxScore: 2},
		{Name: "TestB", Status: faultline.TestFail, MaxScore: 1, Message: "want <b>open</b>"},
	}}
	sb.runOutput = []string{
		`{"Action":"start","Package":"x"}` + "\n",
		`{"Action":"run","Test":"TestA"}` + "\n" + `{"Action":"output","Test":"TestA","Output":"=== RUN   TestA\n"}` + "\n",
		`{"Action":"output","Test":"TestA","Output":"--- PASS: TestA (0.00s)\n"}` + "\n" + `{"Action":"pa`,
		`ss","Test":"TestA"}` + "\n" + "# a plain line <script>alert(1)</script>\n",
		`{"Action":"output","Test":"TestB","Output":"--- FAIL: TestB"}`, // no newline at the end
	}
	res = b.postStream(path, "same-origin")
	evs = events(t, res.body)
	if res.status != http.StatusOK {
		t.Fatalf("run stream: %d\n%s", res.status, res.body)
	}
	var text strings.Builder
	for i, ev := range evs {
		switch {
		case ev.name == "output":
			text.WriteString(ev.data)
		case ev.name == "result" && i == len(evs)-1:
		default:
			t.Fatalf("events %q: want output events, then one result", names(evs))
		}
	}
	want := "=== RUN   TestA\n--- PASS: TestA (0.00s)\n# a plain line <script>alert(1)</script>\n--- FAIL: TestB"
	if text.String() != want {
		t.Errorf("streamed text %q, want %q", text.String(), want)
	}
	if len(evs) < 3 {
		t.Errorf("output came in %d events; want it streamed piece by piece", len(evs)-1)
	}
	html := evs[len(evs)-1].data
	d := fragment(t, html)
	if d.Find(`[data-testid="run-output"] [data-testid="run-status"]`).Text() != "graded" ||
		d.Find(`[data-testid="run-score"]`).Text() != "2/3" ||
		d.Find(`[data-testid="test-row"]`).Length() != 2 ||
		d.Find(`[data-testid="test-message"]`).Text() != "want <b>open</b>" ||
		!strings.Contains(d.Find(`[data-testid="output"]`).Text(), "--- PASS: TestA") {
		t.Errorf("result fragment is not the per-test view:\n%s", html)
	}
	if strings.Contains(html, "<script>alert(1)") || strings.Contains(html, `{"Action"`) {
		t.Errorf("result fragment shows raw events or unescaped output:\n%s", html)
	}

	// Without JavaScript the page shows the same view, output as text.
	res = b.post(path, nil)
	if res.status != http.StatusOK || res.testid("test-row").Length() != 2 || strings.Contains(res.testid("output").Text(), `"Action"`) ||
		!strings.Contains(res.testid("output").Text(), "--- PASS: TestA") {
		t.Errorf("plain run: %d, output %q", res.status, res.testid("output").Text())
	}

	// The engine going away mid-run is an error event.
	sb.unavailable = true
	evs = events(t, b.postStream(path, "same-origin").body)
	if got := names(evs); !strings.HasSuffix(got, "error") {
		t.Errorf("run with the engine down: events %q", got)
	}
}

// TestLifetimeBanner: the lab page says when a running sandbox will be
// stopped: visible within the warning window, rendered hidden (with the
// seconds until it shows) before it, absent when not running.
func TestLifetimeBanner(t *testing.T) {
	e, sb, b, _ := MustStreamEnv(t)
	page := "/labs/" + labSlug
	if n := b.get(page).testid("sandbox-expiry").Length(); n != 0 {
		t.Errorf("banner before any start: %d", n)
	}
	if res := b.post(page+"/sandbox", nil); res.status != http.StatusSeeOther {
		t.Fatalf("start: %d", res.status)
	}

	sb.stopsAt = e.clock.Now().Add(2 * time.Hour)
	ex := b.get(page).testid("sandbox-expiry")
	if _, hidden := ex.Attr("hidden"); ex.Length() != 1 || !hidden || ex.AttrOr("data-warn-in", "") != strconv.Itoa(90*60) {
		t.Errorf("2 h before the cap: banner %d, hidden %v, warn in %q", ex.Length(), hidden, ex.AttrOr("data-warn-in", ""))
	}

	sb.stopsAt = e.clock.Now().Add(20 * time.Minute)
	ex = b.get(page).testid("sandbox-expiry")
	text := strings.Join(strings.Fields(ex.Text()), " ")
	if _, hidden := ex.Attr("hidden"); hidden || ex.AttrOr("data-warn-in", "") != "0" {
		t.Errorf("20 min before the cap the banner is hidden (%v) or not due (%q)", hidden, ex.AttrOr("data-warn-in", ""))
	}
	for _, want := range []string{"12 h", "in 20 min", sb.stopsAt.UTC().Format("15:04"), "saved files are safe", "Start lab"} {
		if !strings.Contains(text, want) {
			t.Errorf("banner %q lacks %q", text, want)
		}
	}
}

func TestLifeText(t *testing.T) {
	for d, want := range map[time.Duration]string{
		30 * time.Second: "under a minute", 25 * time.Minute: "25 min", 12 * time.Hour: "12 h",
		90 * time.Minute: "1 h 30 min", 59*time.Minute + time.Second: "1 h",
	} {
		if got := lifeText(d); got != want {
			t.Errorf("lifeText(%s) = %q, want %q", d, got, want)
		}
	}
}
