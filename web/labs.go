package web

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync"

	"github.com/go-chi/chi/v5"

	"github.com/faultline-dev/faultline"
	"github.com/faultline-dev/faultline/content"
	"github.com/faultline-dev/faultline/web/views"
)

func labURL(slug string) string { return "/labs/" + url.PathEscape(slug) }

func labCard(l *faultline.Lab, best string) views.LabCard {
	return views.LabCard{
		Slug: l.Slug, Title: l.Title, Pattern: l.Pattern, Summary: l.Summary,
		Difficulty: l.Difficulty, Minutes: l.Minutes, URL: labURL(l.Slug), Best: best,
	}
}

// labCards lists every lab with the user's best score on it.
func (s *Server) labCards(r *http.Request) ([]views.LabCard, error) {
	u := UserFromContext(r.Context())
	subs, err := s.d.Submissions.ListSubmissions(r.Context(), faultline.SubmissionFilter{UserID: u.ID, Limit: 1000})
	if err != nil {
		return nil, fmt.Errorf("list submissions of user %d: %w", u.ID, err)
	}
	best := map[string]*faultline.Result{}
	for _, sub := range subs {
		if sub.State != faultline.SubmissionDone || sub.Result == nil {
			continue
		}
		if b := best[sub.Lab]; b == nil || sub.Result.Score > b.Score {
			best[sub.Lab] = sub.Result
		}
	}
	var cards []views.LabCard
	for _, l := range s.d.Labs.All() {
		b := ""
		if res := best[l.Slug]; res != nil {
			b = fmt.Sprintf("%d/%d", res.Score, res.MaxScore)
		}
		cards = append(cards, labCard(l, b))
	}
	return cards, nil
}

// serveLabs is the lab catalog.
func (s *Server) serveLabs(w http.ResponseWriter, r *http.Request) error {
	cards, err := s.labCards(r)
	if err != nil {
		return err
	}
	return s.render(w, r, http.StatusOK, views.Labs(views.LabsPage{Page: s.page(r, "Labs", "labs"), Labs: cards}))
}

// lab returns the lab named in the URL; ENOTFOUND if there is none.
func (s *Server) lab(r *http.Request) (*faultline.Lab, error) {
	slug := chi.URLParam(r, "slug")
	l, err := s.d.Labs.Lab(slug)
	if faultline.ErrorCode(err) == faultline.ENOTFOUND {
		return nil, faultline.Errorf(faultline.ENOTFOUND, "There is no lab %q.", slug)
	} else if err != nil {
		return nil, fmt.Errorf("lab %q: %w", slug, err)
	}
	return l, nil
}

// readme returns the lab's README rendered to sanitized HTML, cached.
func (s *Server) readme(l *faultline.Lab) (string, error) {
	s.readmeMu.Lock()
	defer s.readmeMu.Unlock()
	if h, ok := s.readmes[l.Slug]; ok {
		return h, nil
	}
	h, err := content.Render([]byte(l.README))
	if err != nil {
		return "", fmt.Errorf("render README of lab %q: %w", l.Slug, err)
	}
	s.readmes[l.Slug] = h
	return h, nil
}

// savedFiles returns the learner's latest live saved files.
func (s *Server) savedFiles(ctx context.Context, userID int64, lab string) ([]faultline.File, error) {
	vs, err := s.d.Workspace.Files(ctx, userID, lab)
	if err != nil {
		return nil, fmt.Errorf("workspace files of user %d lab %q: %w", userID, lab, err)
	}
	files := make([]faultline.File, 0, len(vs))
	for _, v := range vs {
		if !v.Deleted {
			files = append(files, faultline.File{Path: v.Path, Content: v.Content})
		}
	}
	return files, nil
}

// isVisibleTest reports whether path is one of the lab's visible test files.
func isVisibleTest(l *faultline.Lab, path string) bool {
	for _, f := range l.Visible {
		if f.Path == path {
			return true
		}
	}
	return false
}

// labView is what a lab action wants shown besides the defaults.
type labView struct {
	file    string        // ?file= to select
	editor  *views.Editor // the user's unsaved input to keep
	run     *views.RunView
	notice  string
	errMsg  string
	status  int
	sandbox *views.SandboxView // already known
}

// sandboxView returns how the learner's sandbox looks; an unreachable engine
// shows as unavailable, never as an error page.
func (s *Server) sandboxView(ctx context.Context, userID int64, lab string) views.SandboxView {
	if s.d.Sandboxes == nil {
		return views.SandboxView{}
	}
	sb, err := s.d.Sandboxes.Find(ctx, userID, lab)
	switch code := faultline.ErrorCode(err); code {
	case "":
		return views.SandboxView{Available: true, State: string(sb.State), Error: sb.Error, Life: s.lifeView(sb)}
	case faultline.ENOTFOUND:
		return views.SandboxView{Available: true}
	case faultline.EUNAVAILABLE:
		return views.SandboxView{}
	default:
		s.log.ErrorContext(ctx, "find sandbox", "user", userID, "lab", lab, "err", err)
		return views.SandboxView{}
	}
}

// renderLab renders the lab page for the signed-in learner.
func (s *Server) renderLab(w http.ResponseWriter, r *http.Request, l *faultline.Lab, v labView) error {
	ctx := r.Context()
	u := UserFromContext(ctx)
	html, err := s.readme(l)
	if err != nil {
		return err
	}
	m := views.LabPage{
		Page:   s.page(r, l.Title, "labs"),
		README: html,
		Run:    v.run, Notice: v.notice, Error: v.errMsg,
		Lab: views.LabInfo{
			Slug: l.Slug, Title: l.Title, Pattern: l.Pattern, Summary: l.Summary,
			Difficulty: l.Difficulty, Minutes: l.Minutes, MaxScore: l.MaxScore(), URL: labURL(l.Slug),
		},
	}
	for _, t := range l.Tests {
		if t.Hidden {
			m.Lab.HiddenTests++
			m.Lab.HiddenPoints += t.Points
		} else {
			m.Lab.VisibleTests = append(m.Lab.VisibleTests, views.TestInfo{Name: t.Name, Points: t.Points})
		}
	}
	if v.sandbox != nil {
		m.Sandbox = *v.sandbox
	} else {
		m.Sandbox = s.sandboxView(ctx, u.ID, l.Slug)
	}

	saved, err := s.savedFiles(ctx, u.ID, l.Slug)
	if err != nil {
		return err
	}
	isSaved := map[string]bool{}
	for _, f := range saved {
		isSaved[f.Path] = true
	}
	files := faultline.MergeFiles(l.Starter, saved)
	var visible []faultline.File
	for _, f := range faultline.MergeFiles(nil, l.Visible) {
		if !isSaved[f.Path] {
			visible = append(visible, f)
		}
	}
	sel := v.file
	if sel == "" && v.editor != nil {
		sel = v.editor.Path
	}
	if sel == "" {
		sel = defaultFile(files)
	}
	found := false
	ui := views.LabUI{Bundle: s.assets.bundle}
	add := func(f faultline.File, readOnly bool) {
		link := views.FileLink{
			Path: f.Path, URL: labURL(l.Slug) + "?file=" + url.QueryEscape(f.Path),
			Selected: f.Path == sel, ReadOnly: readOnly, Saved: isSaved[f.Path],
		}
		if link.Selected {
			found = true
			m.Editor = views.Editor{Path: f.Path, Content: string(f.Content), ReadOnly: readOnly}
		}
		m.Files = append(m.Files, link)
		if ui.Bundle.Present() {
			ui.Files = append(ui.Files, views.EditorFile{Path: f.Path, Content: string(f.Content), ReadOnly: readOnly, Saved: isSaved[f.Path]})
		}
	}
	for _, f := range files {
		add(f, false)
	}
	for _, f := range visible {
		add(f, true)
	}
	if v.editor != nil {
		m.Editor = *v.editor
	} else if !found && v.file != "" {
		return faultline.Errorf(faultline.ENOTFOUND, "The lab has no file %q.", v.file)
	}

	subs, err := s.d.Submissions.ListSubmissions(ctx, faultline.SubmissionFilter{UserID: u.ID, Lab: l.Slug, Limit: 20})
	if err != nil {
		return fmt.Errorf("list submissions of user %d lab %q: %w", u.ID, l.Slug, err)
	}
	for _, sub := range subs {
		row := views.SubmissionRow{ID: sub.ID, URL: submissionURL(sub.ID), When: fmtTime(sub.CreatedAt), State: string(sub.State)}
		if sub.State == faultline.SubmissionDone && sub.Result != nil {
			row.Score = fmt.Sprintf("%d/%d", sub.Result.Score, sub.Result.MaxScore)
		}
		m.Submissions = append(m.Submissions, row)
	}
	if m.History, err = s.labHistory(ctx, u.ID, l, m.Submissions); err != nil { // history.go
		return err
	}
	m.Rules = s.labRulesLine(ctx, u.ID, l.Slug) // labsettings.go
	status := v.status
	if status == 0 {
		status = http.StatusOK
	}
	return s.render(w, r, status, views.Lab(m, ui))
}

// defaultFile picks the file to open first: the first Go file, else the first.
func defaultFile(files []faultline.File) string {
	for _, f := range files {
		if strings.HasSuffix(f.Path, ".go") {
			return f.Path
		}
	}
	if len(files) > 0 {
		return files[0].Path
	}
	return ""
}

// labFailed re-renders the lab page with a user error's message and status;
// internal errors go to the generic error page.
func (s *Server) labFailed(w http.ResponseWriter, r *http.Request, l *faultline.Lab, v labView, err error) error {
	var mbe *http.MaxBytesError
	if errors.As(err, &mbe) {
		err = tooLarge(mbe.Limit)
	}
	code, msg, ok := userError(err)
	if !ok {
		return err
	}
	v.errMsg, v.status = msg, statusOf(code)
	return s.renderLab(w, r, l, v)
}

// serveLab is the lab page; ?file=path selects a file.
func (s *Server) serveLab(w http.ResponseWriter, r *http.Request) error {
	l, err := s.lab(r)
	if err != nil {
		return err
	}
	q := r.URL.Query()
	v := labView{file: q.Get("file")}
	if q.Get("saved") == "1" && v.file != "" {
		// Display only: the save itself was the POST that redirected here.
		v.notice = "Saved " + v.file + ". Every saved version is kept."
	}
	if q.Get("replaced") == "1" { // display only, after a reset or restore (history.go)
		v.notice = replacedNotice
	}
	return s.renderLab(w, r, l, v)
}

// sandboxFiles is what goes into a sandbox: starter and saved files, plus the
// visible tests. Never the hidden tests.
func sandboxFiles(l *faultline.Lab, saved []faultline.File) []faultline.File {
	return faultline.MergeFiles(faultline.MergeFiles(l.Starter, saved), l.Visible)
}

var errNoSandboxes = faultline.Errorf(faultline.EUNAVAILABLE,
	"Lab sandboxes are unavailable right now. Your saved files are safe; try again later.")

// serveStartSandbox starts (or re-opens) the learner's sandbox; with
// Accept: text/event-stream it streams the phases (labstream.go).
func (s *Server) serveStartSandbox(w http.ResponseWriter, r *http.Request) error {
	l, err := s.lab(r)
	if err != nil {
		return err
	}
	if wantsEventStream(r) {
		return s.serveStartSandboxStream(w, r, l)
	}
	if s.d.Sandboxes == nil {
		return s.labFailed(w, r, l, labView{}, errNoSandboxes)
	}
	u := UserFromContext(r.Context())
	saved, err := s.savedFiles(r.Context(), u.ID, l.Slug)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(r.Context(), s.StartTimeout)
	defer cancel()
	phase := func(p faultline.SandboxPhase) {
		s.log.DebugContext(ctx, "sandbox phase", "user", u.ID, "lab", l.Slug, "phase", p)
	}
	if _, err := s.d.Sandboxes.Start(ctx, u.ID, l, sandboxFiles(l, saved), phase); err != nil {
		err = s.startFailure(r.Context(), u.ID, l.Slug, err) // labstream.go
		setRetryAfter(w, err)                                // 429 when too many are starting
		return s.labFailed(w, r, l, labView{}, err)
	}
	return redirect(w, r, labURL(l.Slug))
}

// serveSaveFile saves a new version of one workspace file and writes it into
// the running sandbox. Bad paths and oversized files re-render the page with
// the input kept. A request that accepts application/json (the lab page's
// editor autosave) gets a saveReply instead of a page or a redirect.
func (s *Server) serveSaveFile(w http.ResponseWriter, r *http.Request) error {
	l, err := s.lab(r)
	if err != nil {
		return err
	}
	asJSON := wantsJSON(r)
	if err := s.parseForm(r); err != nil {
		if asJSON {
			return s.saveFailedJSON(w, err)
		}
		return s.labFailed(w, r, l, labView{}, err)
	}
	u := UserFromContext(r.Context())
	raw := r.PostFormValue("path")
	text := strings.ReplaceAll(r.PostFormValue("content"), "\r\n", "\n")
	keep := labView{editor: &views.Editor{Path: raw, Content: text}}
	failed := func(err error) error {
		if asJSON {
			return s.saveFailedJSON(w, err)
		}
		return s.labFailed(w, r, l, keep, err)
	}
	p, err := faultline.CleanPath(raw)
	if err != nil {
		return failed(err)
	}
	if isVisibleTest(l, p) {
		return failed(faultline.Errorf(faultline.EINVALID,
			"%s is one of the lab's tests and cannot be changed. Save your code under another name.", p))
	}
	if len(text) > faultline.MaxFileSize {
		return failed(faultline.Errorf(faultline.ETOOLARGE,
			"The file is %s; a file may be at most %s. Nothing was saved.", sizeText(int64(len(text))), sizeText(faultline.MaxFileSize)))
	}
	if _, err := s.d.Workspace.SaveFile(r.Context(), u.ID, l.Slug, p, []byte(text)); err != nil {
		return failed(err)
	}
	notice := ""
	if s.d.Sandboxes != nil {
		sb := s.sandboxView(r.Context(), u.ID, l.Slug)
		if sb.Running() {
			if err := s.d.Sandboxes.WriteFile(r.Context(), u.ID, l.Slug, faultline.File{Path: p, Content: []byte(text)}); err != nil {
				notice = "Saved, but the file could not be written into your sandbox. Restart the lab to copy your files in."
				if _, m, ok := userError(err); ok {
					notice = "Saved, but not written into your sandbox: " + m
				} else {
					s.log.ErrorContext(r.Context(), "write file into sandbox", "user", u.ID, "lab", l.Slug, "path", p, "err", err)
				}
			}
		}
	}
	if asJSON {
		return writeJSON(w, http.StatusOK, saveReply{Saved: true, Path: p, Notice: notice})
	}
	if notice != "" {
		return s.renderLab(w, r, l, labView{file: p, notice: notice})
	}
	return redirect(w, r, labURL(l.Slug)+"?saved=1&file="+url.QueryEscape(p))
}

// saveReply is the JSON answer to an editor save.
type saveReply struct {
	Saved  bool   `json:"saved"`
	Path   string `json:"path,omitempty"`
	Notice string `json:"notice,omitempty"` // saved, but something to tell
	Error  string `json:"error,omitempty"`  // user-safe; nothing was saved
}

// wantsJSON reports whether the client asked for a JSON answer.
func wantsJSON(r *http.Request) bool {
	return strings.Contains(r.Header.Get("Accept"), "application/json")
}

// saveFailedJSON answers a failed JSON save: a user error with its message
// and status; an internal error goes to the generic error mapping.
func (s *Server) saveFailedJSON(w http.ResponseWriter, err error) error {
	var mbe *http.MaxBytesError
	if errors.As(err, &mbe) {
		err = tooLarge(mbe.Limit)
	}
	code, msg, ok := userError(err)
	if !ok {
		return err
	}
	return writeJSON(w, statusOf(code), saveReply{Error: msg})
}

// writeJSON writes v as a JSON response that is never cached.
func writeJSON(w http.ResponseWriter, status int, v any) error {
	body, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("encode JSON reply: %w", err)
	}
	h := w.Header()
	h.Set("Content-Type", "application/json; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_, _ = w.Write(body)
	return nil
}

// serveRunTests runs the visible tests in the learner's sandbox and shows the
// output and per-test results; with Accept: text/event-stream it streams the
// output, then the same per-test view (labstream.go).
func (s *Server) serveRunTests(w http.ResponseWriter, r *http.Request) error {
	l, err := s.lab(r)
	if err != nil {
		return err
	}
	if wantsEventStream(r) {
		return s.serveRunTestsStream(w, r, l)
	}
	if s.d.Sandboxes == nil {
		return s.labFailed(w, r, l, labView{}, errNoSandboxes)
	}
	u := UserFromContext(r.Context())
	sb := s.sandboxView(r.Context(), u.ID, l.Slug)
	if !sb.Available {
		return s.labFailed(w, r, l, labView{sandbox: &sb}, errNoSandboxes)
	}
	if !sb.Running() {
		return s.labFailed(w, r, l, labView{sandbox: &sb}, errNotStarted)
	}
	ctx, cancel := context.WithTimeout(r.Context(), s.RunTimeout)
	defer cancel()
	out := &cappedBuffer{max: maxShownOutput}
	text := &testText{out: out} // go test -json events as the text they carry (labstream.go)
	res, err := s.d.Sandboxes.RunTests(ctx, u.ID, l, text)
	text.flush()
	switch {
	case err == nil:
	case errors.Is(err, context.DeadlineExceeded):
		run := &views.RunView{Status: "time_limit", Message: fmt.Sprintf("The tests did not finish within %s and were stopped.", s.RunTimeout), Output: out.String()}
		return s.renderLab(w, r, l, labView{run: run, sandbox: &sb})
	default:
		return s.labFailed(w, r, l, labView{sandbox: &sb}, s.runFailure(r.Context(), u.ID, l.Slug, err))
	}
	return s.renderLab(w, r, l, labView{run: runView(res, out.String()), sandbox: &sb})
}

// serveSubmit snapshots starter plus saved files into a submission, wakes the
// grader and goes to the submission's page.
func (s *Server) serveSubmit(w http.ResponseWriter, r *http.Request) error {
	l, err := s.lab(r)
	if err != nil {
		return err
	}
	u := UserFromContext(r.Context())
	saved, err := s.savedFiles(r.Context(), u.ID, l.Slug)
	if err != nil {
		return err
	}
	sub := &faultline.Submission{UserID: u.ID, Lab: l.Slug, Files: faultline.MergeFiles(l.Starter, saved)}
	// createSubmission (labsettings.go) applies the cohort's limits; a
	// refusal leaves the saved files as they are.
	if err := s.createSubmission(w, r, sub); err != nil {
		if _, _, ok := userError(err); ok {
			return s.labFailed(w, r, l, labView{}, err)
		}
		return fmt.Errorf("create submission of user %d lab %q: %w", u.ID, l.Slug, err)
	}
	if s.d.Kick != nil {
		s.d.Kick()
	}
	return redirect(w, r, submissionURL(sub.ID))
}

// maxShownOutput caps the test output kept for a page.
const maxShownOutput = 64 << 10

// cappedBuffer keeps the first max bytes written and counts the rest. It is
// safe for concurrent writers (stdout and stderr copiers).
type cappedBuffer struct {
	mu      sync.Mutex
	max     int
	buf     strings.Builder
	dropped int64
}

func (c *cappedBuffer) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if room := c.max - c.buf.Len(); room > 0 {
		if len(p) <= room {
			c.buf.Write(p)
		} else {
			c.buf.Write(p[:room])
			c.dropped += int64(len(p) - room)
		}
	} else {
		c.dropped += int64(len(p))
	}
	return len(p), nil
}

func (c *cappedBuffer) String() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.dropped > 0 {
		return c.buf.String() + fmt.Sprintf("\n… %d more bytes not shown\n", c.dropped)
	}
	return c.buf.String()
}

func testRows(ts []faultline.TestResult) []views.TestRow {
	rows := make([]views.TestRow, 0, len(ts))
	for _, t := range ts {
		rows = append(rows, views.TestRow{
			Name: t.Name, Hidden: t.Hidden, Status: string(t.Status), Score: t.Score,
			MaxScore: t.MaxScore, Message: t.Message, Output: t.Output,
		})
	}
	return rows
}
