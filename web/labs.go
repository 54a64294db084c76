package web

import (
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

// labCards lists every lab with the score the user holds on it.
func (s *Server) labCards(r *http.Request) ([]views.LabCard, error) {
	held, err := s.c.MyScores(r.Context(), UserFromContext(r.Context()))
	if err != nil {
		return nil, err
	}
	var cards []views.LabCard
	for _, l := range s.d.Labs.All() {
		b := ""
		if h := held[l.Slug]; h.Has {
			b = scoreString(h.Score, h.MaxScore)
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
	return s.c.Lab(chi.URLParam(r, "slug"))
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

// labView is what a lab action wants shown besides the defaults.
type labView struct {
	file    string        // ?file= to select
	editor  *views.Editor // the user's unsaved input to keep
	run     *views.RunView
	notice  string
	errMsg  string
	status  int
	sandbox *views.SandboxView // already known
	tab     string             // the tab of the bottom pane to show first
}

// sandboxView is how a sandbox looks on the lab page; err (the course's
// EUNAVAILABLE) shows as unavailable, never as an error page.
func (s *Server) sandboxView(sb *faultline.Sandbox, err error) views.SandboxView {
	if err != nil {
		return views.SandboxView{}
	}
	if sb == nil {
		return views.SandboxView{Available: true}
	}
	return views.SandboxView{Available: true, State: string(sb.State), Error: sb.Error, Life: s.lifeView(sb)}
}

// currentSandbox is the viewer's sandbox of the lab as the page shows it.
func (s *Server) currentSandbox(r *http.Request, l *faultline.Lab) views.SandboxView {
	sb, err := s.c.Sandbox(r.Context(), UserFromContext(r.Context()), l.Slug)
	return s.sandboxView(sb, err)
}

// renderLab renders the lab page for the signed-in learner.
func (s *Server) renderLab(w http.ResponseWriter, r *http.Request, l *faultline.Lab, v labView) error {
	ctx := r.Context()
	ws, err := s.c.Workspace(ctx, UserFromContext(ctx), l.Slug)
	if err != nil {
		return err
	}
	html, err := s.readme(l)
	if err != nil {
		return err
	}
	m := views.LabPage{
		Page:   s.workspacePage(r, l.Title),
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
	m.Lab.Parts = partInfos(l)
	if v.sandbox != nil {
		m.Sandbox = *v.sandbox
	} else {
		m.Sandbox = s.sandboxView(ws.Sandbox, ws.SandboxErr)
	}
	sel := v.file
	if sel == "" && v.editor != nil {
		sel = v.editor.Path
	}
	if sel == "" {
		sel = defaultFile(ws.Files)
	}
	found := false
	ui := views.LabUI{Bundle: s.assets.bundle}
	add := func(f faultline.File, readOnly bool) {
		link := views.FileLink{
			Path: f.Path, URL: labURL(l.Slug) + "?file=" + url.QueryEscape(f.Path),
			Selected: f.Path == sel, ReadOnly: readOnly, Saved: ws.Saved[f.Path],
		}
		if link.Selected {
			found = true
			m.Editor = views.Editor{Path: f.Path, Content: string(f.Content), ReadOnly: readOnly}
		}
		m.Files = append(m.Files, link)
		if ui.Bundle.Present() {
			ui.Files = append(ui.Files, views.EditorFile{Path: f.Path, Content: string(f.Content), ReadOnly: readOnly, Saved: ws.Saved[f.Path]})
		}
	}
	for _, f := range ws.Files {
		add(f, false)
	}
	for _, f := range ws.Tests {
		add(f, true)
	}
	if v.editor != nil {
		m.Editor = *v.editor
	} else if !found && v.file != "" {
		return faultline.Errorf(faultline.ENOTFOUND, "The lab has no file %q.", v.file)
	}
	for _, sub := range ws.Standing.Submissions {
		row := views.SubmissionRow{ID: sub.ID, URL: submissionURL(sub.ID), When: fmtTime(sub.CreatedAt), State: string(sub.State)}
		if sub.State == faultline.SubmissionDone && sub.Graded {
			row.Score = scoreString(sub.Scored.Score, sub.Scored.MaxScore)
		}
		m.Submissions = append(m.Submissions, row)
	}
	m.History = s.labHistory(l, m.Submissions, ws.RestorePoints) // history.go
	m.Rules = rulesLine(ws.Standing, s.now())                    // labsettings.go
	m.Tab = v.tab
	if m.Run != nil {
		m.Tab = "tests"
	}
	if m.Conversation, err = s.labConversation(r, ws.Standing); err != nil { // feedback.go
		return err
	}
	status := v.status
	if status == 0 {
		status = http.StatusOK
	}
	return s.render(w, r, status, views.Lab(m, ui))
}

// workspacePage is the page model of the lab page, which fills the window.
func (s *Server) workspacePage(r *http.Request, title string) views.Page {
	p := s.page(r, title, "labs")
	p.BodyClass = "workspace"
	return p
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
		v.notice, v.tab = replacedNotice, "history"
	}
	if p := q.Get("deleted"); p != "" { // display only, after a delete
		v.notice = "Deleted " + p + ". Its earlier versions are kept in your history."
	}
	return s.renderLab(w, r, l, v)
}

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
	u := UserFromContext(r.Context())
	phase := func(p faultline.SandboxPhase) {
		s.log.DebugContext(r.Context(), "sandbox phase", "user", u.ID, "lab", l.Slug, "phase", p)
	}
	if _, err := s.c.StartLab(r.Context(), u, l.Slug, phase); err != nil {
		setRetryAfter(w, err) // 429 when too many are starting
		return s.labFailed(w, r, l, labView{}, err)
	}
	return redirect(w, r, labURL(l.Slug))
}

// serveSaveFile saves a new version of one workspace file and writes it into
// the running sandbox; with action=delete it deletes the file instead. Bad
// paths and oversized files re-render the page with the input kept. A
// request that accepts application/json (the lab page's editor) gets a
// saveReply instead of a page or a redirect. Forms may be URL-encoded or
// multipart.
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
	raw := formValue(r, "path")
	if formValue(r, "action") == "delete" {
		return s.deleteFile(w, r, l, raw, asJSON)
	}
	text := strings.ReplaceAll(formValue(r, "content"), "\r\n", "\n")
	keep := labView{editor: &views.Editor{Path: raw, Content: text}}
	saved, err := s.c.SaveFile(r.Context(), u, l.Slug, raw, []byte(text))
	if err != nil {
		if asJSON {
			return s.saveFailedJSON(w, err)
		}
		return s.labFailed(w, r, l, keep, err)
	}
	if asJSON {
		return writeJSON(w, http.StatusOK, saveReply{Saved: true, Path: saved.Path, Notice: saved.Notice})
	}
	if saved.Notice != "" {
		return s.renderLab(w, r, l, labView{file: saved.Path, notice: saved.Notice})
	}
	return redirect(w, r, labURL(l.Slug)+"?saved=1&file="+url.QueryEscape(saved.Path))
}

// deleteFile deletes one of the learner's saved files (POST
// /labs/{slug}/files with action=delete, or DELETE-like JSON from the
// editor). Its versions stay in the history; a starter file comes back as
// the starter has it.
func (s *Server) deleteFile(w http.ResponseWriter, r *http.Request, l *faultline.Lab, raw string, asJSON bool) error {
	d, err := s.c.DeleteFile(r.Context(), UserFromContext(r.Context()), l.Slug, raw)
	if err != nil {
		if asJSON {
			return s.saveFailedJSON(w, err)
		}
		return s.labFailed(w, r, l, labView{}, err)
	}
	if asJSON {
		return writeJSON(w, http.StatusOK, saveReply{Deleted: true, Path: d.Path, Notice: d.Notice})
	}
	if d.Notice != "" {
		return s.renderLab(w, r, l, labView{notice: d.Notice})
	}
	return redirect(w, r, labURL(l.Slug)+"?deleted="+url.QueryEscape(d.Path))
}

// saveReply is the JSON answer to an editor save.
type saveReply struct {
	Saved   bool   `json:"saved"`
	Deleted bool   `json:"deleted,omitempty"`
	Path    string `json:"path,omitempty"`
	Notice  string `json:"notice,omitempty"` // saved, but something to tell
	Error   string `json:"error,omitempty"`  // user-safe; nothing was saved
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
	out := &cappedBuffer{max: maxShownOutput}
	text := &testText{out: out} // go test -json events as the text they carry (labstream.go)
	res, err := s.c.RunTests(r.Context(), UserFromContext(r.Context()), l.Slug, text)
	text.flush()
	if err != nil {
		return s.labFailed(w, r, l, labView{}, err)
	}
	return s.renderLab(w, r, l, labView{run: runView(res, out.String())})
}

// serveSubmit snapshots starter plus saved files into a submission and goes
// to the submission's page. A refusal (the cohort's limits, too many
// waiting) re-renders the lab page with the reason; saved files stay as
// they are.
func (s *Server) serveSubmit(w http.ResponseWriter, r *http.Request) error {
	l, err := s.lab(r)
	if err != nil {
		return err
	}
	sub, err := s.c.Submit(r.Context(), UserFromContext(r.Context()), l.Slug)
	if err != nil {
		setRetryAfter(w, err)
		return s.labFailed(w, r, l, labView{}, err)
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

// partInfos lists the parts of a lab with parts for its page, each with
// its visible tests and the count and points of its hidden ones; nil for
// a lab without parts.
func partInfos(l *faultline.Lab) []views.PartInfo {
	if len(l.Parts) == 0 {
		return nil
	}
	out := make([]views.PartInfo, len(l.Parts))
	index := map[string]int{}
	for i, p := range l.Parts {
		out[i] = views.PartInfo{ID: p.ID, Title: p.Title, Summary: p.Summary}
		index[p.ID] = i
	}
	for _, t := range l.Tests {
		i, ok := index[t.Part]
		if !ok {
			continue
		}
		out[i].Points += t.Points
		if t.Hidden {
			out[i].HiddenTests++
			out[i].HiddenPoints += t.Points
		} else {
			out[i].VisibleTests = append(out[i].VisibleTests, views.TestInfo{Name: t.Name, Points: t.Points})
		}
	}
	return out
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
