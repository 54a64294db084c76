package web

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/go-chi/chi/v5"

	"github.com/faultline-dev/faultline"
	"github.com/faultline-dev/faultline/course"
	"github.com/faultline-dev/faultline/web/views"
)

func submissionURL(id int64) string { return "/submissions/" + strconv.FormatInt(id, 10) }

var errNoSubmission = faultline.Errorf(faultline.ENOTFOUND, "There is no such submission.")

// submissionID is the submission ID in the URL; ENOTFOUND when it is not one.
func submissionID(r *http.Request) (int64, error) {
	id, ok := course.ParseID(chi.URLParam(r, "id"))
	if !ok {
		return 0, errNoSubmission
	}
	return id, nil
}

// shown loads the submission in the URL as the viewer may see it.
func (s *Server) shown(r *http.Request) (*course.Shown, error) {
	id, err := submissionID(r)
	if err != nil {
		return nil, err
	}
	return s.c.Submission(r.Context(), UserFromContext(r.Context()), id)
}

var statusText = map[faultline.ResultStatus]string{
	faultline.StatusGraded:       "graded",
	faultline.StatusBuildFailed:  "build failed",
	faultline.StatusTimeLimit:    "time limit exceeded",
	faultline.StatusMemoryLimit:  "memory limit exceeded",
	faultline.StatusOutputLimit:  "output limit exceeded",
	faultline.StatusProcessLimit: "process limit exceeded",
	faultline.StatusDiskLimit:    "disk limit exceeded",
	faultline.StatusError:        "could not be graded",
}

// resultView is the result model of what the viewer may see of a
// submission (course.Shown): the score under the owner's policy with a note
// on lateness, hidden tests left out where the policy hides them, flags for
// teachers, pictures and Replay buttons beside their tests.
func resultView(sh *course.Shown) views.ResultView {
	sub := sh.Submission
	v := views.ResultView{ID: sub.ID, State: string(sub.State)}
	if !sh.Finished() || sh.Result == nil {
		return v
	}
	v.Finished = true
	res := sh.Result
	v.Status = string(res.Status)
	v.StatusText = statusText[res.Status]
	if v.StatusText == "" {
		v.StatusText = string(res.Status)
	}
	v.Score, v.MaxScore, v.Message, v.Output = res.Score, res.MaxScore, res.Message, res.Output
	v.Tests = testRows(res.Tests)
	seen := map[string]string{} // picture SVG → the first test that attached it
	for i, t := range res.Tests {
		for n, a := range t.Attachments {
			if a.Trace != nil {
				v.Tests[i].Trace = traceURL(sub.ID, pictureIndex(sh, i)) // trace.go
				continue
			}
			v.Tests[i].Pictures = addPicture(v.Tests[i].Pictures, seen, a, views.PictureView{
				Test: t.Name, Name: a.Name,
				URL: fmt.Sprintf("/submissions/%d/pictures/%d/%d/%s", sub.ID, pictureIndex(sh, i), n, url.PathEscape(a.Name)),
			})
		}
		if seed, ok := sh.Replayable[i]; ok {
			v.Tests[i].Replay = &views.ReplayLink{
				Action: fmt.Sprintf("/submissions/%d/replay", sub.ID),
				Index:  strconv.Itoa(i), Test: t.Name, Hidden: t.Hidden,
				Seed: strconv.FormatInt(seed, 10), Run: t.FailedRun,
			}
		}
	}
	v.Flags = res.Flags
	v.Parts = partScores(sh)
	if len(v.Parts) > 0 {
		partOf := map[string]string{}
		for _, t := range sh.Lab.Tests {
			partOf[t.Name] = t.Part
		}
		for i := range v.Tests {
			v.Tests[i].Part = partOf[v.Tests[i].Name]
		}
	}
	if note := sh.Scored.Note(); note != "" && sh.Scored.Score != sh.Scored.Raw {
		v.LateNote = fmt.Sprintf("%s Score before the penalty: %s.", note, scoreString(sh.Scored.Raw, res.MaxScore))
	} else if note != "" {
		v.LateNote = note
	}
	if h := sh.Hidden; h.Tests > 0 {
		unit := "hidden tests"
		if h.Tests == 1 {
			unit = "hidden test"
		}
		v.HiddenSummary = fmt.Sprintf("%d %s: %d of %d points", h.Tests, unit, h.Score, h.MaxScore)
	}
	if res.Duration > 0 {
		v.Duration = res.Duration.Round(100 * time.Millisecond).String()
	}
	return v
}

// partScores is the score of a finished submission in each part of its
// lab, when the lab has parts: over the stored result's every test, hidden
// ones too (the part scores are the grade, as the total is; a policy that
// hides hidden tests still hides which of them failed), and before any
// late penalty. nil for a lab without parts, a lab that left
// the catalog, or a result without tests (one that did not build).
func partScores(sh *course.Shown) []views.PartScoreView {
	res := sh.Submission.Result
	if sh.Lab == nil || res == nil || len(res.Tests) == 0 {
		return nil
	}
	var out []views.PartScoreView
	for _, p := range sh.Lab.PartScores(res.Tests) {
		out = append(out, views.PartScoreView{ID: p.ID, Title: p.Title, Score: p.Score, MaxScore: p.MaxScore, Full: p.Full()})
	}
	return out
}

// withNext adds to v, after full marks on the viewer's own submission,
// what to do next: the next lab and the lessons the lab practises.
func (s *Server) withNext(v views.ResultView, lab string, next *course.NextStep, ok bool) views.ResultView {
	if !ok {
		return v
	}
	n := &views.WhatNext{}
	if next.Lab != nil {
		c := labCard(next.Lab, "")
		n.Lab = &c
	}
	p := progress{read: next.Read}
	for _, l := range s.lessonsOfLab(lab) {
		n.Lessons = append(n.Lessons, outlineItem(l, p))
	}
	v.Next = n
	return v
}

// lessonsOfLab are the lessons and case studies a lab practises: those its
// lab.yaml names, then those whose front matter names it.
func (s *Server) lessonsOfLab(slug string) []*faultline.Lesson {
	var out []*faultline.Lesson
	seen := map[string]bool{}
	add := func(ls string) {
		if seen[ls] {
			return
		}
		if l, err := s.d.Content.Lesson(ls); err == nil {
			seen[ls] = true
			out = append(out, l)
		}
	}
	if l, err := s.d.Labs.Lab(slug); err == nil {
		for _, ls := range l.Lessons {
			add(ls)
		}
	}
	for _, ls := range s.d.Content.LabLinks()[slug] {
		add(ls)
	}
	return out
}

// addPicture appends p to a test's pictures unless the test already shows
// the same picture; one another test showed first is listed as the same as
// that test's, not drawn again (a breaker that never opened draws the same
// bars for every test it fails).
func addPicture(pics []views.PictureView, seen map[string]string, a faultline.Attachment, p views.PictureView) []views.PictureView {
	key := pictureShape(a.SVG)
	first, dup := seen[key]
	if dup && first == p.Test {
		return pics
	}
	if dup {
		for _, q := range pics {
			if q.SameAs == first {
				return pics
			}
		}
		p.SameAs, p.URL = first, ""
	} else {
		seen[key] = p.Test
	}
	return append(pics, p)
}

// shapeAttr finds the digest labkit writes on a picture's root element of
// what it shows (data-shape), the same for pictures that differ only in
// the scale of their axes.
var shapeAttr = regexp.MustCompile(`^<svg\b[^>]*\sdata-shape="([0-9a-f]{16})"`)

// pictureShape is what makes two pictures the same one: their labkit shape
// digest, or for a picture without one, all of its text.
func pictureShape(svg string) string {
	if m := shapeAttr.FindStringSubmatch(svg); m != nil {
		return "shape:" + m[1]
	}
	return svg
}

// pictureIndex maps test i of what the viewer sees to its index in the
// stored result, which picture addresses use.
func pictureIndex(sh *course.Shown, i int) int {
	name := sh.Result.Tests[i].Name
	for j, t := range sh.Submission.Result.Tests {
		if t.Name == name {
			return j
		}
	}
	return i
}

// serveSubmission shows a submission: its state, then its result.
func (s *Server) serveSubmission(w http.ResponseWriter, r *http.Request) error {
	return s.renderSubmission(w, r, http.StatusOK, "")
}

// renderSubmission renders the submission page with status; feedbackErr
// re-shows a refused comment or regrade request (feedback.go).
func (s *Server) renderSubmission(w http.ResponseWriter, r *http.Request, status int, feedbackErr string) error {
	id, err := submissionID(r)
	if err != nil {
		return err
	}
	p, err := s.c.SubmissionPage(r.Context(), UserFromContext(r.Context()), id)
	if err != nil {
		return err
	}
	sh := p.Shown
	sub := sh.Submission
	m := views.SubmissionPage{
		Page:     s.page(r, fmt.Sprintf("Submission #%d", sub.ID), "labs"),
		ID:       sub.ID,
		LabTitle: sh.LabTitle, LabURL: labURL(sub.Lab),
		Created: fmtTime(sub.CreatedAt),
	}
	m.Result = s.withNext(resultView(sh), sub.Lab, p.Next, p.NextOK)
	if !sh.Own {
		m.Owner = sh.Owner.Name
	}
	if !m.Result.Finished {
		m.EventsURL = submissionURL(sub.ID) + "/events"
		m.Refresh = 3
	}
	m.Review = submissionReview(sh, p.Review) // similar.go
	m.Regrade = submissionRegrade(r, p)       // regrades.go

	fb := s.submissionFeedback(sh, p.Feedback, p.Runs, p.RunCohorts) // feedback.go
	m.Feedback, fb.panel.Error = fb.panel, feedbackErr
	m.Review.Files = withLineComments(m.Review.Files, fb, sub.ID, r.URL.Query().Get("comment"))
	return s.render(w, r, status, views.Submission(m))
}

// serveSubmissionEvents streams a submission's progress as Server-Sent
// Events: "state" whenever the state changes, then one "result" event whose
// data is the rendered result fragment, and the stream ends. It polls the
// store every PollInterval and stops when the client goes away.
func (s *Server) serveSubmissionEvents(w http.ResponseWriter, r *http.Request) error {
	sh, err := s.shown(r)
	if err != nil {
		return err
	}
	viewer := UserFromContext(r.Context())
	rc := http.NewResponseController(w)
	_ = rc.SetWriteDeadline(time.Time{}) // a stream outlives the server's write timeout
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)

	ctx := r.Context()
	limit := time.NewTimer(s.StreamLimit)
	defer limit.Stop()
	tick := time.NewTicker(s.PollInterval)
	defer tick.Stop()
	last := faultline.SubmissionState("")
	for {
		sub := sh.Submission
		if sub.State != last {
			last = sub.State
			if err := writeEvent(w, "state", string(sub.State)); err != nil {
				return nil // client gone
			}
		}
		if sh.Finished() {
			var buf bytes.Buffer
			next, ok, err := s.c.NextStep(ctx, viewer, sh)
			if err != nil {
				return err
			}
			if err := views.Result(s.withNext(resultView(sh), sub.Lab, next, ok)).Render(ctx, &buf); err != nil {
				return fmt.Errorf("render result of submission %d: %w", sub.ID, err)
			}
			_ = writeEvent(w, "result", buf.String())
			_ = rc.Flush()
			return nil
		}
		if err := rc.Flush(); err != nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return nil
		case <-limit.C:
			return nil
		case <-tick.C:
		}
		// Poll the state alone; load files and result only on a change.
		st, err := s.c.SubmissionState(ctx, viewer, sub.ID, true)
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return fmt.Errorf("poll submission %d: %w", sub.ID, err)
		}
		if st == sub.State {
			continue
		}
		next, err := s.c.Submission(ctx, viewer, sub.ID)
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return fmt.Errorf("poll submission %d: %w", sub.ID, err)
		}
		sh = next
	}
}

// writeEvent writes one SSE event; multi-line data becomes several data lines.
func writeEvent(w http.ResponseWriter, event, data string) error {
	var b strings.Builder
	b.WriteString("event: ")
	b.WriteString(event)
	b.WriteByte('\n')
	for _, line := range strings.Split(strings.ReplaceAll(data, "\r\n", "\n"), "\n") {
		b.WriteString("data: ")
		b.WriteString(strings.ReplaceAll(line, "\r", ""))
		b.WriteByte('\n')
	}
	b.WriteByte('\n')
	_, err := w.Write([]byte(b.String()))
	return err
}

// pictureCSP lets an attached SVG draw and nothing else: no scripts, no
// fetches, no forms, in a sandbox of its own even when opened directly.
const pictureCSP = "default-src 'none'; style-src 'unsafe-inline'; img-src data:; sandbox"

// servePicture serves one SVG a test attached to a submission's result, to
// whoever may see the submission. The SVG came out of a run of learner code,
// so it is served as an image under pictureCSP; pages only show it in <img>.
func (s *Server) servePicture(w http.ResponseWriter, r *http.Request) error {
	id, err := submissionID(r)
	if err != nil {
		return err
	}
	ti, err1 := strconv.Atoi(chi.URLParam(r, "test"))
	ni, err2 := strconv.Atoi(chi.URLParam(r, "n"))
	if err1 != nil || err2 != nil {
		return faultline.Errorf(faultline.ENOTFOUND, "There is no such picture.")
	}
	a, err := s.c.Picture(r.Context(), UserFromContext(r.Context()), id, ti, ni, chi.URLParam(r, "name"))
	if err != nil {
		return err
	}
	h := w.Header()
	h.Set("Content-Type", "image/svg+xml")
	h.Set("Content-Security-Policy", pictureCSP)
	h.Set("Content-Disposition", "inline")
	h.Set("Cache-Control", "private, max-age=3600")
	_, err = io.WriteString(w, a.SVG)
	return err
}
