package web

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/go-chi/chi/v5"

	"github.com/faultline-dev/faultline"
	"github.com/faultline-dev/faultline/web/views"
)

func submissionURL(id int64) string { return "/submissions/" + strconv.FormatInt(id, 10) }

var errNoSubmission = faultline.Errorf(faultline.ENOTFOUND, "There is no such submission.")

// submission loads the submission in the URL if the user may see it: its
// owner, an instructor of a cohort the owner belongs to, or an admin. Anyone
// else gets ENOTFOUND, as for a submission that does not exist.
func (s *Server) submission(r *http.Request) (*faultline.Submission, error) {
	id, err := strconv.ParseInt(chi.URLParam(r, "id"), 10, 64)
	if err != nil || id <= 0 {
		return nil, errNoSubmission
	}
	sub, err := s.d.Submissions.FindSubmission(r.Context(), id)
	if faultline.ErrorCode(err) == faultline.ENOTFOUND {
		return nil, errNoSubmission
	} else if err != nil {
		return nil, fmt.Errorf("find submission %d: %w", id, err)
	}
	ok, err := s.canSeeWorkOf(r.Context(), UserFromContext(r.Context()), sub.UserID)
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, errNoSubmission
	}
	return sub, nil
}

// canSeeWorkOf reports whether viewer may see the work of the user ownerID.
func (s *Server) canSeeWorkOf(ctx context.Context, viewer *faultline.User, ownerID int64) (bool, error) {
	switch {
	case viewer == nil:
		return false, nil
	case viewer.ID == ownerID || viewer.Role == faultline.RoleAdmin:
		return true, nil
	case viewer.Role != faultline.RoleInstructor:
		return false, nil
	}
	cohorts, err := s.d.Cohorts.ListCohorts(ctx, viewer.ID)
	if err != nil {
		return false, fmt.Errorf("list cohorts of user %d: %w", viewer.ID, err)
	}
	for _, c := range cohorts {
		role, err := s.d.Cohorts.MemberRole(ctx, c.ID, viewer.ID)
		if err != nil {
			return false, fmt.Errorf("role of user %d in cohort %d: %w", viewer.ID, c.ID, err)
		}
		if !role.Teaches() {
			continue
		}
		_, err = s.d.Cohorts.MemberRole(ctx, c.ID, ownerID)
		switch faultline.ErrorCode(err) {
		case "":
			return true, nil
		case faultline.ENOTFOUND:
		default:
			return false, fmt.Errorf("role of user %d in cohort %d: %w", ownerID, c.ID, err)
		}
	}
	return false, nil
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

// resultView builds the result model; flags only when showFlags (the viewer
// teaches: Server.teacher).
func resultView(sub *faultline.Submission, showFlags bool) views.ResultView {
	v := views.ResultView{ID: sub.ID, State: string(sub.State)}
	finished := sub.State == faultline.SubmissionDone || sub.State == faultline.SubmissionFailed
	if !finished {
		return v
	}
	v.Finished = true
	res := sub.Result
	if res == nil {
		res = &faultline.Result{Status: faultline.StatusError, Message: "No result was recorded."}
	}
	v.Status = string(res.Status)
	v.StatusText = statusText[res.Status]
	if v.StatusText == "" {
		v.StatusText = string(res.Status)
	}
	v.Score, v.MaxScore, v.Message, v.Output = res.Score, res.MaxScore, res.Message, res.Output
	v.Tests = testRows(res.Tests)
	for i, t := range res.Tests {
		for n, a := range t.Attachments {
			v.Pictures = append(v.Pictures, views.PictureView{
				Test: t.Name, Name: a.Name,
				URL: fmt.Sprintf("/submissions/%d/pictures/%d/%d/%s", sub.ID, i, n, url.PathEscape(a.Name)),
			})
		}
	}
	if showFlags {
		v.Flags = res.Flags
	}
	v.Replays = replayLinks(sub)
	if res.Duration > 0 {
		v.Duration = res.Duration.Round(100 * time.Millisecond).String()
	}
	return v
}

// serveSubmission shows a submission: its state, then its result.
func (s *Server) serveSubmission(w http.ResponseWriter, r *http.Request) error {
	sub, err := s.submission(r)
	if err != nil {
		return err
	}
	viewer := UserFromContext(r.Context())
	m := views.SubmissionPage{
		Page:     s.page(r, fmt.Sprintf("Submission #%d", sub.ID), "labs"),
		ID:       sub.ID,
		LabTitle: sub.Lab, LabURL: labURL(sub.Lab),
		Created: fmtTime(sub.CreatedAt),
	}
	if m.Result, err = s.displayResult(r.Context(), sub, viewer); err != nil { // labsettings.go
		return err
	}
	if l, err := s.d.Labs.Lab(sub.Lab); err == nil {
		m.LabTitle = l.Title
	}
	if sub.UserID != viewer.ID {
		owner, err := s.d.Users.FindUserByID(r.Context(), sub.UserID)
		if err != nil {
			return fmt.Errorf("find owner %d of submission %d: %w", sub.UserID, sub.ID, err)
		}
		m.Owner = owner.Name
	}
	if !m.Result.Finished {
		m.EventsURL = submissionURL(sub.ID) + "/events"
		m.Refresh = 3
	}
	if m.Review, err = s.submissionReview(r.Context(), sub, viewer); err != nil { // similar.go
		return err
	}
	if m.Regrade, err = s.submissionRegrade(r, sub, viewer); err != nil { // regrades.go
		return err
	}
	return s.render(w, r, http.StatusOK, views.Submission(m))
}

// serveSubmissionEvents streams a submission's progress as Server-Sent
// Events: "state" whenever the state changes, then one "result" event whose
// data is the rendered result fragment, and the stream ends. It polls the
// store every PollInterval and stops when the client goes away.
func (s *Server) serveSubmissionEvents(w http.ResponseWriter, r *http.Request) error {
	sub, err := s.submission(r)
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
		if sub.State != last {
			last = sub.State
			if err := writeEvent(w, "state", string(sub.State)); err != nil {
				return nil // client gone
			}
		}
		if sub.State == faultline.SubmissionDone || sub.State == faultline.SubmissionFailed {
			var buf bytes.Buffer
			rv, err := s.displayResult(ctx, sub, viewer) // labsettings.go
			if err != nil {
				return err
			}
			if err := views.Result(rv).Render(ctx, &buf); err != nil {
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
		if rec := s.records(); rec != nil {
			// Poll the state alone; load files and result only on a change.
			st, err := rec.SubmissionState(ctx, sub.ID)
			if err != nil {
				if ctx.Err() != nil {
					return nil
				}
				return fmt.Errorf("poll submission %d: %w", sub.ID, err)
			}
			if st == sub.State {
				continue
			}
		}
		next, err := s.d.Submissions.FindSubmission(ctx, sub.ID)
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return fmt.Errorf("poll submission %d: %w", sub.ID, err)
		}
		sub = next
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
	sub, err := s.submission(r)
	if err != nil {
		return err
	}
	ti, err1 := strconv.Atoi(chi.URLParam(r, "test"))
	ni, err2 := strconv.Atoi(chi.URLParam(r, "n"))
	res := sub.Result
	if err1 != nil || err2 != nil || res == nil || ti < 0 || ti >= len(res.Tests) || ni < 0 || ni >= len(res.Tests[ti].Attachments) {
		return faultline.Errorf(faultline.ENOTFOUND, "There is no such picture.")
	}
	if res.Tests[ti].Hidden {
		if hide, err := s.hidesTests(r.Context(), sub, UserFromContext(r.Context())); err != nil { // labsettings.go
			return err
		} else if hide {
			return faultline.Errorf(faultline.ENOTFOUND, "There is no such picture.")
		}
	}
	a := res.Tests[ti].Attachments[ni]
	if name := chi.URLParam(r, "name"); name != a.Name {
		return faultline.Errorf(faultline.ENOTFOUND, "There is no such picture.")
	}
	h := w.Header()
	h.Set("Content-Type", "image/svg+xml")
	h.Set("Content-Security-Policy", pictureCSP)
	h.Set("Content-Disposition", "inline")
	h.Set("Cache-Control", "private, max-age=3600")
	_, err = io.WriteString(w, a.SVG)
	return err
}
