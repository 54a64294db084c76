package web

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	udiff "github.com/aymanbagabas/go-udiff"

	"github.com/faultline-dev/faultline"
	"github.com/faultline-dev/faultline/web/views"
)

// ---- Submission history and diffs ----

// labHistory builds the lab page's history panel: the learner's submissions
// of this lab (rows already in m.Submissions, newest first) with diff links,
// and the restore points.
func (s *Server) labHistory(ctx context.Context, userID int64, l *faultline.Lab, subs []views.SubmissionRow) (views.LabHistory, error) {
	h := views.LabHistory{
		DiffURL:    labURL(l.Slug) + "/diff",
		ResetURL:   labURL(l.Slug) + "/reset",
		RestoreURL: labURL(l.Slug) + "/restore",
	}
	for i, row := range subs {
		hr := views.HistoryRow{SubmissionRow: row, DiffSavedURL: labDiffURL(l.Slug, row.ID, "saved")}
		if i+1 < len(subs) {
			hr.DiffPrevURL = labDiffURL(l.Slug, subs[i+1].ID, strconv.FormatInt(row.ID, 10))
		}
		h.Rows = append(h.Rows, hr)
	}
	points, err := s.restorePoints(ctx, userID, l.Slug)
	if err != nil {
		return h, err
	}
	for i := len(points) - 1; i >= 0; i-- {
		p := points[i]
		h.Points = append(h.Points, views.RestorePointView{ID: p.ID, Label: p.Label, When: fmtTime(p.At), Files: len(p.Files)})
	}
	return h, nil
}

func labDiffURL(slug string, a int64, b string) string {
	return labURL(slug) + "/diff?a=" + strconv.FormatInt(a, 10) + "&b=" + url.QueryEscape(b)
}

// attempt is one side of a diff: a label and the files.
type attempt struct {
	label string
	url   string
	files []faultline.File
}

func submissionAttempt(sub *faultline.Submission) attempt {
	label := fmt.Sprintf("Submission #%d (%s", sub.ID, fmtTime(sub.CreatedAt))
	if sub.State == faultline.SubmissionDone && sub.Result != nil {
		label += fmt.Sprintf(", %d/%d", sub.Result.Score, sub.Result.MaxScore)
	}
	return attempt{label: label + ")", url: submissionURL(sub.ID), files: sub.Files}
}

// ownSubmission loads submission raw of the learner for lab; anything else
// (no such id, another learner's, another lab's) is ENOTFOUND.
func (s *Server) ownSubmission(ctx context.Context, raw string, userID int64, lab string) (*faultline.Submission, error) {
	id, err := strconv.ParseInt(raw, 10, 64)
	if err != nil || id <= 0 {
		return nil, errNoSubmission
	}
	sub, err := s.d.Submissions.FindSubmission(ctx, id)
	if faultline.ErrorCode(err) == faultline.ENOTFOUND {
		return nil, errNoSubmission
	} else if err != nil {
		return nil, fmt.Errorf("find submission %d: %w", id, err)
	}
	if sub.UserID != userID || sub.Lab != lab {
		return nil, errNoSubmission
	}
	return sub, nil
}

// serveLabDiff is /labs/{slug}/diff?a=<id>&b=<id|saved>: the learner's own
// two attempts side by side as a per-file unified diff.
func (s *Server) serveLabDiff(w http.ResponseWriter, r *http.Request) error {
	l, err := s.lab(r)
	if err != nil {
		return err
	}
	ctx := r.Context()
	u := UserFromContext(ctx)
	q := r.URL.Query()
	sa, err := s.ownSubmission(ctx, q.Get("a"), u.ID, l.Slug)
	if err != nil {
		return err
	}
	a := submissionAttempt(sa)
	var b attempt
	if q.Get("b") == "saved" {
		saved, err := s.savedFiles(ctx, u.ID, l.Slug)
		if err != nil {
			return err
		}
		b = attempt{label: "Your saved files", url: labURL(l.Slug), files: faultline.MergeFiles(l.Starter, saved)}
	} else {
		sb, err := s.ownSubmission(ctx, q.Get("b"), u.ID, l.Slug)
		if err != nil {
			return err
		}
		b = submissionAttempt(sb)
	}
	return s.renderDiff(w, r, l.Title, labURL(l.Slug), a, b)
}

// serveSubmissionDiff is /submissions/{id}/diff?against=<id>: the same diff
// for whoever may see the submission (its owner, an instructor of the owner's
// cohort, an admin); both submissions must be the same learner's on one lab.
func (s *Server) serveSubmissionDiff(w http.ResponseWriter, r *http.Request) error {
	sub, err := s.submission(r)
	if err != nil {
		return err
	}
	other, err := s.ownSubmission(r.Context(), r.URL.Query().Get("against"), sub.UserID, sub.Lab)
	if err != nil {
		return err
	}
	title := sub.Lab
	if l, err := s.d.Labs.Lab(sub.Lab); err == nil {
		title = l.Title
	}
	return s.renderDiff(w, r, title, submissionURL(sub.ID), submissionAttempt(other), submissionAttempt(sub))
}

func (s *Server) renderDiff(w http.ResponseWriter, r *http.Request, title, back string, a, b attempt) error {
	m := views.DiffPage{
		Page:  s.page(r, "Changes · "+title, "labs"),
		Title: title, BackURL: back,
		A: a.label, AURL: a.url, B: b.label, BURL: b.url,
		Files: diffFiles(a.files, b.files),
	}
	return s.render(w, r, http.StatusOK, views.Diff(m))
}

// diffFiles compares two file sets path by path, sorted by path.
func diffFiles(a, b []faultline.File) []views.FileDiff {
	before := map[string]string{}
	for _, f := range a {
		before[f.Path] = string(f.Content)
	}
	after := map[string]string{}
	for _, f := range b {
		after[f.Path] = string(f.Content)
	}
	var out []views.FileDiff
	for _, f := range faultline.MergeFiles(a, b) { // every path once, sorted
		old, inA := before[f.Path]
		cur, inB := after[f.Path]
		d := views.FileDiff{Path: f.Path}
		switch {
		case !inA:
			d.Status = "added"
		case !inB:
			d.Status = "removed"
		case old == cur:
			d.Status = "same"
		default:
			d.Status = "changed"
		}
		if d.Status != "same" {
			d.Hunks = hunks(f.Path, old, cur)
		}
		out = append(out, d)
	}
	return out
}

// hunks is the unified diff of old and cur as hunks of classed lines.
func hunks(path, old, cur string) []views.DiffHunk {
	ud, err := udiff.ToUnifiedDiff(path, path, old, udiff.Lines(old, cur), udiff.DefaultContextLines)
	if err != nil { // edits computed from old itself always apply
		return []views.DiffHunk{{Header: "(the difference could not be shown)"}}
	}
	var out []views.DiffHunk
	for _, h := range ud.Hunks {
		var dh views.DiffHunk
		nOld, nNew := 0, 0
		for _, ln := range h.Lines {
			text := strings.TrimSuffix(ln.Content, "\n")
			switch ln.Kind {
			case udiff.Delete:
				nOld++
				dh.Lines = append(dh.Lines, views.DiffLine{Kind: "del", Text: "-" + text})
			case udiff.Insert:
				nNew++
				dh.Lines = append(dh.Lines, views.DiffLine{Kind: "add", Text: "+" + text})
			default:
				nOld++
				nNew++
				dh.Lines = append(dh.Lines, views.DiffLine{Kind: "ctx", Text: " " + text})
			}
		}
		dh.Header = fmt.Sprintf("@@ -%s +%s @@", hunkRange(h.FromLine, nOld), hunkRange(h.ToLine, nNew))
		out = append(out, dh)
	}
	return out
}

func hunkRange(start, n int) string {
	if n == 0 {
		start-- // an empty range names the line before it, as diff -u does
	}
	if start < 0 {
		start = 0
	}
	return fmt.Sprintf("%d,%d", start, n)
}

// ---- Reset to starter and restore points ----

// resetRequest is a reset or restore: what the confirm page says and what
// performing it does.
type resetRequest struct {
	l      *faultline.Lab
	point  *restorePoint // nil: reset to the starter files
	action string        // form action
}

// serveReset (POST /labs/{slug}/reset) without confirm=1 shows what will
// happen; with it, makes a restore point of the saved files and saves the
// starter files over them.
func (s *Server) serveReset(w http.ResponseWriter, r *http.Request) error {
	l, err := s.lab(r)
	if err != nil {
		return err
	}
	if err := s.parseForm(r); err != nil {
		return s.labFailed(w, r, l, labView{}, err)
	}
	req := resetRequest{l: l, action: labURL(l.Slug) + "/reset"}
	if r.PostFormValue("confirm") != "1" {
		return s.renderConfirm(w, r, req)
	}
	return s.performReset(w, r, req)
}

// serveRestore (POST /labs/{slug}/restore, point=<id>) is the same for an
// earlier restore point.
func (s *Server) serveRestore(w http.ResponseWriter, r *http.Request) error {
	l, err := s.lab(r)
	if err != nil {
		return err
	}
	if err := s.parseForm(r); err != nil {
		return s.labFailed(w, r, l, labView{}, err)
	}
	u := UserFromContext(r.Context())
	points, err := s.restorePoints(r.Context(), u.ID, l.Slug)
	if err != nil {
		return err
	}
	id, _ := strconv.Atoi(r.PostFormValue("point"))
	var p *restorePoint
	for i := range points {
		if points[i].ID == id {
			p = &points[i]
		}
	}
	if p == nil {
		return s.labFailed(w, r, l, labView{}, faultline.Errorf(faultline.ENOTFOUND, "There is no such restore point."))
	}
	req := resetRequest{l: l, point: p, action: labURL(l.Slug) + "/restore"}
	if r.PostFormValue("confirm") != "1" {
		return s.renderConfirm(w, r, req)
	}
	return s.performReset(w, r, req)
}

func (s *Server) renderConfirm(w http.ResponseWriter, r *http.Request, req resetRequest) error {
	u := UserFromContext(r.Context())
	saved, err := s.savedFiles(r.Context(), u.ID, req.l.Slug)
	if err != nil {
		return err
	}
	m := views.ResetConfirmPage{
		Page: s.page(r, "Reset · "+req.l.Title, "labs"), LabTitle: req.l.Title, LabURL: labURL(req.l.Slug),
		Action: req.action,
	}
	for _, f := range saved {
		m.Saved = append(m.Saved, f.Path)
	}
	if req.point != nil {
		m.Point = req.point.ID
		m.PointLabel = req.point.Label + " (" + fmtTime(req.point.At) + ")"
		for _, f := range req.point.Files {
			m.Target = append(m.Target, f.Path)
		}
	} else {
		for _, f := range req.l.Starter {
			m.Target = append(m.Target, f.Path)
		}
	}
	return s.render(w, r, http.StatusOK, views.ResetConfirm(m))
}

func (s *Server) performReset(w http.ResponseWriter, r *http.Request, req resetRequest) error {
	ctx := r.Context()
	u := UserFromContext(ctx)
	l := req.l
	label := "Before reset to starter"
	if req.point != nil {
		label = "Before restoring “" + req.point.Label + "”"
	}
	if _, err := s.addRestorePoint(ctx, u.ID, l.Slug, label); err != nil {
		if _, _, ok := userError(err); ok {
			return s.labFailed(w, r, l, labView{}, err)
		}
		return err
	}
	var target []faultline.File
	if req.point != nil {
		files, err := s.pointFiles(ctx, u.ID, l.Slug, req.point)
		if err != nil {
			return err
		}
		target = files
	} else {
		for _, f := range l.Starter {
			if !isVisibleTest(l, f.Path) {
				target = append(target, f)
			}
		}
	}
	if err := s.replaceSaved(ctx, u.ID, l.Slug, target); err != nil {
		if _, _, ok := userError(err); ok {
			return s.labFailed(w, r, l, labView{}, err)
		}
		return err
	}
	if s.d.Sandboxes != nil && s.sandboxView(ctx, u.ID, l.Slug).Running() {
		for _, f := range target {
			if err := s.d.Sandboxes.WriteFile(ctx, u.ID, l.Slug, f); err != nil {
				s.log.ErrorContext(ctx, "write file into sandbox", "user", u.ID, "lab", l.Slug, "path", f.Path, "err", err)
				return s.renderLab(w, r, l, labView{notice: replacedNotice +
					" They could not all be written into your sandbox: restart the lab to copy them in."})
			}
		}
	}
	return redirect(w, r, labURL(l.Slug)+"?replaced=1")
}

// replacedNotice is shown after a reset or a restore (labs.go, ?replaced=1).
const replacedNotice = "Your files were replaced. The previous ones are kept as a restore point: see Restore below."

// replaceSaved makes files the learner's saved files, in one transaction
// (every other live file gets a tombstone; unchanged files keep their
// version), so an interrupted reset never leaves half the files replaced.
func (s *Server) replaceSaved(ctx context.Context, userID int64, lab string, files []faultline.File) error {
	if err := s.d.Workspace.ReplaceFiles(ctx, userID, lab, files); err != nil {
		if _, _, ok := userError(err); ok {
			return err
		}
		return fmt.Errorf("replace files of user %d lab %q: %w", userID, lab, err)
	}
	return nil
}
