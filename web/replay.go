package web

import (
	"encoding/base64"
	"fmt"
	"net/http"
	"strconv"

	"github.com/faultline-dev/faultline"
	"github.com/faultline-dev/faultline/course"
	"github.com/faultline-dev/faultline/web/views"
)

// serveReplay replays the run a failing test's report names (its recorded
// run and seed), in a fresh grading container, and shows the result. The
// owner replays against their saved files now, to check a fix against
// exactly the run that failed (hidden tests included, without their source);
// an instructor replays against the submitted files.
func (s *Server) serveReplay(w http.ResponseWriter, r *http.Request) error {
	id, err := submissionID(r)
	if err != nil {
		return err
	}
	if err := s.parseForm(r); err != nil {
		return err
	}
	i, err := strconv.Atoi(formValue(r, "test"))
	if err != nil {
		return faultline.Errorf(faultline.EINVALID, "Choose a failing test of this submission to replay.")
	}
	rp, err := s.c.Replay(r.Context(), UserFromContext(r.Context()), id, i)
	if err != nil {
		return err
	}
	done := &course.Shown{
		Submission: &faultline.Submission{ID: id, State: faultline.SubmissionDone, Result: rp.Result},
		Result:     rp.Result, Teacher: rp.Shown.Teacher,
	}
	rv := resultView(done)
	rv.Pictures, rv.Replays = nil, nil
	if !rp.Shown.Teacher {
		rv.Flags = nil
	}
	for _, t := range rp.Result.Tests {
		for _, a := range t.Attachments {
			// Not stored, so shown inline as data: images, which run no script.
			rv.Pictures = append(rv.Pictures, views.PictureView{Test: t.Name, Name: a.Name,
				URL: "data:image/svg+xml;base64," + base64.StdEncoding.EncodeToString([]byte(a.SVG)), Inline: true})
		}
	}
	m := views.ReplayPage{
		Page:          s.page(r, fmt.Sprintf("Replay of %s", rp.Test), "labs"),
		SubmissionURL: submissionURL(id), SubmissionID: id,
		Test: rp.Test, Seed: strconv.FormatInt(rp.Seed, 10), Run: rp.Run, Against: rp.Against,
		Result: rv,
	}
	return s.render(w, r, http.StatusOK, views.Replay(m))
}
