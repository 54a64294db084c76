package web

import (
	"fmt"
	"net/http"
	"net/url"
	"time"

	"github.com/go-chi/chi/v5"

	"github.com/faultline-dev/faultline"
	"github.com/faultline-dev/faultline/web/views"
)

// lessonURL is the canonical address of a lesson or case study.
func lessonURL(l *faultline.Lesson) string {
	if l.Kind == "case" {
		return "/cases/" + url.PathEscape(l.Slug)
	}
	return "/lessons/" + url.PathEscape(l.Slug)
}

func outlineItem(l *faultline.Lesson, read map[string]time.Time) views.OutlineItem {
	_, ok := read[l.Slug]
	return views.OutlineItem{Slug: l.Slug, Title: l.Title, Summary: l.Summary, URL: lessonURL(l), Read: ok}
}

// outline builds the course outline with the user's read marks.
func (s *Server) outline(r *http.Request) ([]views.OutlineModule, []views.OutlineItem, error) {
	u := UserFromContext(r.Context())
	read, err := s.d.Progress.LessonsRead(r.Context(), u.ID)
	if err != nil {
		return nil, nil, fmt.Errorf("lessons read by user %d: %w", u.ID, err)
	}
	var mods []views.OutlineModule
	for _, m := range s.d.Content.Modules() {
		om := views.OutlineModule{Title: m.Title}
		for _, l := range m.Lessons {
			om.Items = append(om.Items, outlineItem(l, read))
		}
		mods = append(mods, om)
	}
	var cases []views.OutlineItem
	for _, l := range s.d.Content.Cases() {
		cases = append(cases, outlineItem(l, read))
	}
	return mods, cases, nil
}

// serveHome is the start page: an introduction for visitors, the course,
// labs and cohorts for signed-in users.
func (s *Server) serveHome(w http.ResponseWriter, r *http.Request) error {
	if r.URL.Path != "/" {
		return faultline.Errorf(faultline.ENOTFOUND, "There is no page at this address.")
	}
	m := views.HomePage{Page: s.page(r, "Home", "home")}
	u := UserFromContext(r.Context())
	if u == nil {
		m.Title = "Learn distributed-system patterns"
		return s.render(w, r, http.StatusOK, views.Home(m))
	}
	var err error
	if m.Modules, m.Cases, err = s.outline(r); err != nil {
		return err
	}
	if m.Labs, err = s.labCards(r); err != nil {
		return err
	}
	cohorts, err := s.d.Cohorts.ListCohorts(r.Context(), u.ID)
	if err != nil {
		return fmt.Errorf("list cohorts of user %d: %w", u.ID, err)
	}
	for _, c := range cohorts {
		link := views.CohortLink{Name: c.Name, Created: fmtDate(c.CreatedAt)}
		if u.CanTeach() {
			ok, err := s.teaches(r, c.ID)
			if err != nil {
				return err
			}
			if ok {
				link.URL = cohortURL(c.ID)
			}
		}
		m.Cohorts = append(m.Cohorts, link)
	}
	return s.render(w, r, http.StatusOK, views.Home(m))
}

// serveOutline is /lessons.
func (s *Server) serveOutline(w http.ResponseWriter, r *http.Request) error {
	mods, cases, err := s.outline(r)
	if err != nil {
		return err
	}
	return s.render(w, r, http.StatusOK, views.Outline(views.OutlinePage{Page: s.page(r, "Lessons", "lessons"), Modules: mods, Cases: cases}))
}

// serveLesson serves /lessons/{slug} (kind "lesson") or /cases/{slug} (kind
// "case"); a slug under the other prefix is redirected to its address.
func (s *Server) serveLesson(kind string) func(http.ResponseWriter, *http.Request) error {
	return func(w http.ResponseWriter, r *http.Request) error {
		l, err := s.lesson(chi.URLParam(r, "slug"))
		if err != nil {
			return err
		}
		if (l.Kind == "case") != (kind == "case") {
			http.Redirect(w, r, lessonURL(l), http.StatusMovedPermanently)
			return nil
		}
		u := UserFromContext(r.Context())
		read, err := s.d.Progress.LessonsRead(r.Context(), u.ID)
		if err != nil {
			return fmt.Errorf("lessons read by user %d: %w", u.ID, err)
		}
		m := views.LessonPage{Page: s.page(r, l.Title, "lessons"), Lesson: l, Kind: "Lesson", ReadURL: "/lessons/" + url.PathEscape(l.Slug) + "/read"}
		if l.Kind == "case" {
			m.Kind = "Case study"
		}
		_, m.Read = read[l.Slug]
		prev, next := s.d.Content.Neighbours(l.Slug)
		if prev != nil {
			it := outlineItem(prev, read)
			m.Prev = &it
		}
		if next != nil {
			it := outlineItem(next, read)
			m.Next = &it
		}
		for _, slug := range l.Labs {
			lab, err := s.d.Labs.Lab(slug)
			if err != nil {
				continue // a lesson naming a missing lab is the content check's business
			}
			m.Labs = append(m.Labs, labCard(lab, ""))
		}
		return s.render(w, r, http.StatusOK, views.Lesson(m))
	}
}

func (s *Server) lesson(slug string) (*faultline.Lesson, error) {
	l, err := s.d.Content.Lesson(slug)
	if faultline.ErrorCode(err) == faultline.ENOTFOUND {
		return nil, faultline.Errorf(faultline.ENOTFOUND, "There is no lesson %q.", slug)
	} else if err != nil {
		return nil, fmt.Errorf("lesson %q: %w", slug, err)
	}
	return l, nil
}

// serveMarkRead records that the user read a lesson or case and goes back to it.
func (s *Server) serveMarkRead(w http.ResponseWriter, r *http.Request) error {
	l, err := s.lesson(chi.URLParam(r, "slug"))
	if err != nil {
		return err
	}
	u := UserFromContext(r.Context())
	if err := s.d.Progress.MarkLessonRead(r.Context(), u.ID, l.Slug); err != nil {
		return fmt.Errorf("mark lesson %q read by user %d: %w", l.Slug, u.ID, err)
	}
	return redirect(w, r, lessonURL(l))
}

func fmtDate(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format("2 Jan 2006")
}

func fmtTime(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format("2 Jan 2006 15:04 UTC")
}
