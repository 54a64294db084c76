package web

import (
	"context"
	"encoding/base64"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/faultline-dev/faultline"
	"github.com/faultline-dev/faultline/web/views"
)

// Replays run in a grading container inside the request; a few at a time.
const (
	maxReplays    = 2
	replayTimeout = 3 * time.Minute
)

// replayLinks lists the failing tests of a result whose report names a seed,
// for the "replay this run" buttons on the result page.
func replayLinks(sub *faultline.Submission) []views.ReplayLink {
	if sub.Result == nil {
		return nil
	}
	var out []views.ReplayLink
	for i, t := range sub.Result.Tests {
		if t.Status != faultline.TestFail {
			continue
		}
		rp, ok := faultline.ParseRepro(t.Output)
		if !ok {
			if rp, ok = faultline.ParseRepro(t.Message); !ok {
				continue
			}
		}
		out = append(out, views.ReplayLink{
			Action: fmt.Sprintf("/submissions/%d/replay", sub.ID),
			Index:  strconv.Itoa(i), Test: t.Name, Hidden: t.Hidden,
			Seed: strconv.FormatInt(rp.Seed, 10), Run: rp.Run,
		})
	}
	return out
}

// serveReplay replays the run a failing test's report names (its -run
// pattern and seed), in a fresh grading container, and shows the result.
// The owner replays against their saved files now, to check a fix against
// exactly the run that failed (hidden tests included, without their source);
// an instructor replays against the submitted files.
func (s *Server) serveReplay(w http.ResponseWriter, r *http.Request) error {
	sub, err := s.submission(r)
	if err != nil {
		return err
	}
	viewer := UserFromContext(r.Context())
	if sub.Result == nil {
		return faultline.Errorf(faultline.EINVALID, "This submission has no result to replay yet.")
	}
	i, err := strconv.Atoi(r.PostFormValue("test"))
	if err != nil || i < 0 || i >= len(sub.Result.Tests) {
		return faultline.Errorf(faultline.EINVALID, "Choose a failing test of this submission to replay.")
	}
	t := sub.Result.Tests[i]
	if hide, err := s.hidesTests(r.Context(), sub, viewer); err != nil { // labsettings.go
		return err
	} else if hide && t.Hidden {
		return faultline.Errorf(faultline.EINVALID, "Choose a failing test of this submission to replay.")
	}
	rp, ok := faultline.ParseRepro(t.Output)
	if !ok {
		if rp, ok = faultline.ParseRepro(t.Message); !ok {
			return faultline.Errorf(faultline.EINVALID, "The failure of %s names no seed, so there is no run to replay.", t.Name)
		}
	}
	lab, err := s.d.Labs.Lab(sub.Lab)
	if err != nil {
		return faultline.Errorf(faultline.ENOTFOUND, "Lab %q is no longer in the catalog.", sub.Lab)
	}
	if s.d.Replayer == nil {
		return faultline.Errorf(faultline.EUNAVAILABLE, "Replays need the grader, which this portal runs without.")
	}
	files, against := sub.Files, "the files of this submission"
	if viewer.ID == sub.UserID {
		saved, err := s.savedFiles(r.Context(), viewer.ID, lab.Slug)
		if err != nil {
			return err
		}
		files, against = faultline.MergeFiles(lab.Starter, saved), "your saved files as they are now"
	}
	select {
	case s.replays <- struct{}{}:
		defer func() { <-s.replays }()
	default:
		return faultline.Errorf(faultline.ETOOMANY, "Other replays are running; try again in a few seconds.")
	}
	ctx, cancel := context.WithTimeout(r.Context(), replayTimeout)
	defer cancel()
	res, err := s.d.Replayer.Replay(ctx, lab, files, rp)
	if err != nil {
		return err
	}
	done := &faultline.Submission{ID: sub.ID, UserID: sub.UserID, Lab: sub.Lab, State: faultline.SubmissionDone, Result: res}
	teacher, err := s.teacher(r.Context(), viewer)
	if err != nil {
		return err
	}
	rv := resultView(done, teacher)
	rv.Pictures, rv.Replays = nil, nil
	for _, t := range res.Tests {
		for _, a := range t.Attachments {
			// Not stored, so shown inline as data: images, which run no script.
			rv.Pictures = append(rv.Pictures, views.PictureView{Test: t.Name, Name: a.Name,
				URL: "data:image/svg+xml;base64," + base64.StdEncoding.EncodeToString([]byte(a.SVG)), Inline: true})
		}
	}
	m := views.ReplayPage{
		Page:          s.page(r, fmt.Sprintf("Replay of %s", t.Name), "labs"),
		SubmissionURL: submissionURL(sub.ID), SubmissionID: sub.ID,
		Test: t.Name, Seed: strconv.FormatInt(rp.Seed, 10), Run: rp.Run, Against: against,
		Result: rv,
	}
	return s.render(w, r, http.StatusOK, views.Replay(m))
}
