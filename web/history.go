package web

import (
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	udiff "github.com/aymanbagabas/go-udiff"

	"github.com/faultline-dev/faultline"
	"github.com/faultline-dev/faultline/course"
	"github.com/faultline-dev/faultline/web/views"
)

// ---- Submission history and diffs ----

// labHistory builds the lab page's history panel: the learner's submissions
// of this lab (rows already built, newest first) with diff links, and the
// restore points (newest first).
func (s *Server) labHistory(l *faultline.Lab, subs []views.SubmissionRow, points []*faultline.RestorePoint) views.LabHistory {
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
	for _, p := range points {
		h.Points = append(h.Points, views.RestorePointView{ID: p.ID, Label: p.Label, When: fmtTime(p.CreatedAt), Files: len(p.Files)})
	}
	return h
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

// serveLabDiff is /labs/{slug}/diff?a=<id>&b=<id|saved>: the learner's own
// two attempts side by side as a per-file unified diff.
func (s *Server) serveLabDiff(w http.ResponseWriter, r *http.Request) error {
	l, err := s.lab(r)
	if err != nil {
		return err
	}
	q := r.URL.Query()
	a, ok := course.ParseID(q.Get("a"))
	if !ok {
		return errNoSubmission
	}
	var b int64
	if q.Get("b") != "saved" {
		if b, ok = course.ParseID(q.Get("b")); !ok {
			return errNoSubmission
		}
	}
	sa, sb, err := s.c.LabDiff(r.Context(), UserFromContext(r.Context()), l.Slug, a, b)
	if err != nil {
		return err
	}
	bs := attempt{label: "Your saved files", url: labURL(l.Slug), files: sb.Files}
	if sb.Submission != nil {
		bs = submissionAttempt(sb.Submission)
	}
	return s.renderDiff(w, r, l.Title, labURL(l.Slug), submissionAttempt(sa.Submission), bs)
}

// serveSubmissionDiff is /submissions/{id}/diff?against=<id>: the same diff
// for whoever may see the submission (its owner, an instructor of the owner's
// cohort, an admin); both submissions must be the same learner's on one lab.
func (s *Server) serveSubmissionDiff(w http.ResponseWriter, r *http.Request) error {
	id, err := submissionID(r)
	if err != nil {
		return err
	}
	against, ok := course.ParseID(r.URL.Query().Get("against"))
	if !ok {
		return errNoSubmission
	}
	sh, other, err := s.c.SubmissionDiff(r.Context(), UserFromContext(r.Context()), id, against)
	if err != nil {
		return err
	}
	return s.renderDiff(w, r, sh.LabTitle, submissionURL(id), submissionAttempt(other), submissionAttempt(sh.Submission),
		func(fs []views.FileDiff) error { return s.diffComments(r.Context(), sh, fs) }) // feedback.go
}

func (s *Server) renderDiff(w http.ResponseWriter, r *http.Request, title, back string, a, b attempt, decorate ...func([]views.FileDiff) error) error {
	m := views.DiffPage{
		Page:  s.page(r, "Changes · "+title, "labs"),
		Title: title, BackURL: back,
		A: a.label, AURL: a.url, B: b.label, BURL: b.url,
		Files: diffFiles(a.files, b.files),
	}
	for _, d := range decorate {
		if err := d(m.Files); err != nil {
			return err
		}
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

// serveReset (POST /labs/{slug}/reset) without confirm=1 shows what will
// happen; with it, makes a restore point of the saved files and saves the
// starter files over them.
func (s *Server) serveReset(w http.ResponseWriter, r *http.Request) error {
	return s.reset(w, r, false)
}

// serveRestore (POST /labs/{slug}/restore, point=<id>) is the same for an
// earlier restore point.
func (s *Server) serveRestore(w http.ResponseWriter, r *http.Request) error {
	return s.reset(w, r, true)
}

func (s *Server) reset(w http.ResponseWriter, r *http.Request, restore bool) error {
	l, err := s.lab(r)
	if err != nil {
		return err
	}
	if err := s.parseForm(r); err != nil {
		return s.labFailed(w, r, l, labView{}, err)
	}
	viewer := UserFromContext(r.Context())
	action := labURL(l.Slug) + "/reset"
	var point int64
	if restore {
		action = labURL(l.Slug) + "/restore"
		var ok bool
		if point, ok = course.ParseID(formValue(r, "point")); !ok {
			return s.labFailed(w, r, l, labView{}, faultline.Errorf(faultline.ENOTFOUND, "There is no such restore point."))
		}
	}
	if formValue(r, "confirm") != "1" {
		plan, err := s.c.PlanReset(r.Context(), viewer, l.Slug, point)
		if err != nil {
			return s.labFailed(w, r, l, labView{}, err)
		}
		m := views.ResetConfirmPage{
			Page: s.page(r, "Reset · "+l.Title, "labs"), LabTitle: l.Title, LabURL: labURL(l.Slug),
			Action: action, Saved: plan.Saved, Target: plan.Target,
		}
		if plan.Point != nil {
			m.Point = plan.Point.ID
			m.PointLabel = plan.Point.Label + " (" + fmtTime(plan.Point.CreatedAt) + ")"
		}
		return s.render(w, r, http.StatusOK, views.ResetConfirm(m))
	}
	notice, err := s.c.Reset(r.Context(), viewer, l.Slug, point)
	if err != nil {
		return s.labFailed(w, r, l, labView{}, err)
	}
	if notice != "" {
		return s.renderLab(w, r, l, labView{notice: replacedNotice + " " + notice})
	}
	return redirect(w, r, labURL(l.Slug)+"?replaced=1")
}

// replacedNotice is shown after a reset or a restore (labs.go, ?replaced=1).
const replacedNotice = "Your files were replaced. The previous ones are kept as a restore point: see Restore below."
