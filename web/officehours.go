package web

import (
	"encoding/base64"
	"net/http"
	"strconv"
	"time"

	"github.com/go-chi/chi/v5"

	"github.com/faultline-dev/faultline"
	"github.com/faultline-dev/faultline/content"
	"github.com/faultline-dev/faultline/web/views"
)

// Office hours: staff see a learner's current files read-only (the panel
// refreshes itself through live.js) and, while the learner shares it,
// watch their terminal (an event stream of its output).

func (s *Server) officeHourLearnerRoutes(r chi.Router) {
	r.Post("/labs/{slug}/share-terminal", s.h(s.serveShareTerminal))
}

func (s *Server) officeHourRoutes(r chi.Router) {
	r.Get("/cohorts/{id}/learners/{uid}/labs/{slug}/files", s.h(s.serveOfficeHours))
	r.Get("/cohorts/{id}/learners/{uid}/labs/{slug}/files/panel", s.h(s.serveOfficeHoursPanel))
	r.Get("/cohorts/{id}/learners/{uid}/labs/{slug}/terminal", s.h(s.serveTerminalWatch))
	r.Get("/cohorts/{id}/learners/{uid}/labs/{slug}/terminal/stream", s.h(s.serveTerminalStream))
}

func (s *Server) serveShareTerminal(w http.ResponseWriter, r *http.Request) error {
	slug := chi.URLParam(r, "slug")
	if err := s.c.ShareTerminal(r.Context(), UserFromContext(r.Context()), slug, formBool(r, "on")); err != nil {
		return err
	}
	return redirect(w, r, labURL(slug))
}

func (s *Server) officeModel(r *http.Request) (views.OfficeHoursPage, error) {
	cid, uid, lab, err := learnerLabTarget(r)
	if err != nil {
		return views.OfficeHoursPage{}, err
	}
	oh, err := s.c.OfficeHours(r.Context(), UserFromContext(r.Context()), cid, uid, lab)
	if err != nil {
		return views.OfficeHoursPage{}, err
	}
	base := learnerLabURL(cid, uid, oh.Lab.Slug)
	m := views.OfficeHoursPage{
		Page: s.page(r, "Office hours · "+oh.Learner.Name, "cohorts"), Learner: oh.Learner.Name, Lab: oh.Lab.Title,
		BackURL: base, PanelURL: base + "/files/panel", TerminalURL: base + "/terminal", Shared: oh.Shared,
		Updated: fmtTime(oh.LastSaved), Sandbox: "not started",
	}
	if m.Updated == "" {
		m.Updated = "never (the starter files)"
	}
	if oh.Sandbox != nil {
		m.Sandbox = string(oh.Sandbox.State)
	}
	for i, f := range oh.Files {
		of := views.OfficeFile{Path: f.Path, Saved: oh.Saved[f.Path], Anchor: "file-" + strconv.Itoa(i+1), Text: string(f.Content)}
		if lang := codeLang(f.Path); lang != "" && len(f.Content) <= maxHighlight {
			if h, err := content.Render([]byte(fenced(lang, string(f.Content)))); err == nil {
				of.HTML = h
			}
		}
		m.Files = append(m.Files, of)
	}
	return m, nil
}

func (s *Server) serveOfficeHours(w http.ResponseWriter, r *http.Request) error {
	m, err := s.officeModel(r)
	if err != nil {
		return err
	}
	m.Refresh = 10
	return s.render(w, r, http.StatusOK, views.OfficeHoursFiles(m))
}

// serveOfficeHoursPanel is the live fragment live.js swaps in.
func (s *Server) serveOfficeHoursPanel(w http.ResponseWriter, r *http.Request) error {
	m, err := s.officeModel(r)
	if err != nil {
		return err
	}
	return s.render(w, r, http.StatusOK, views.OfficeHoursPanel(m))
}

func (s *Server) serveTerminalWatch(w http.ResponseWriter, r *http.Request) error {
	m, err := s.officeModel(r)
	if err != nil {
		return err
	}
	return s.render(w, r, http.StatusOK, views.TerminalWatch(views.TerminalWatchPage{
		Page: s.page(r, m.Learner+"'s terminal", "cohorts"), Learner: m.Learner, Lab: m.Lab, BackURL: m.BackURL + "/files",
		StreamURL: m.TerminalURL + "/stream", Shared: m.Shared,
	}))
}

// serveTerminalStream streams a shared terminal's output as Server-Sent
// Events: "out" events of base64 bytes (the backlog first), and "end" when
// the learner stops sharing. ECONFLICT (before the stream) when it is not
// shared.
func (s *Server) serveTerminalStream(w http.ResponseWriter, r *http.Request) error {
	cid, uid, lab, err := learnerLabTarget(r)
	if err != nil {
		return err
	}
	tw, err := s.c.WatchTerminal(r.Context(), UserFromContext(r.Context()), cid, uid, lab)
	if faultline.ErrorCode(err) == faultline.ECONFLICT {
		rc := sseStart(w) // a stream that says so and ends: EventSource would retry an error
		_ = writeEvent(w, "end", "not shared")
		return rc.Flush()
	} else if err != nil {
		return err
	}
	defer tw.Close()
	rc := sseStart(w)
	if len(tw.Backlog) > 0 {
		if err := writeEvent(w, "out", base64.StdEncoding.EncodeToString(tw.Backlog)); err != nil {
			return nil
		}
	}
	_ = rc.Flush()
	limit := time.NewTimer(s.StreamLimit)
	defer limit.Stop()
	for {
		select {
		case <-r.Context().Done():
			return nil
		case <-limit.C:
			return nil
		case b, ok := <-tw.Output:
			if !ok {
				_ = writeEvent(w, "end", "stopped sharing")
				_ = rc.Flush()
				return nil
			}
			if err := writeEvent(w, "out", base64.StdEncoding.EncodeToString(b)); err != nil {
				return nil
			}
			if err := rc.Flush(); err != nil {
				return nil
			}
		}
	}
}
