package web

import (
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
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

// progress is a learner's reading and quiz progress.
type progress struct {
	read   map[string]time.Time
	scores map[string]faultline.QuizScore
}

func (s *Server) progress(r *http.Request) (progress, error) {
	p, err := s.c.Progress(r.Context(), UserFromContext(r.Context()))
	if err != nil {
		return progress{}, err
	}
	return progress{read: p.Read, scores: p.Quiz}, nil
}

func outlineItem(l *faultline.Lesson, p progress) views.OutlineItem {
	_, ok := p.read[l.Slug]
	it := views.OutlineItem{Slug: l.Slug, Title: l.Title, Summary: l.Summary, URL: lessonURL(l), Read: ok}
	if sc, ok := p.scores[l.Slug]; ok {
		it.Quiz = fmt.Sprintf("%d/%d", sc.Best, sc.Total)
		it.Perfect = sc.Best == sc.Total
	}
	return it
}

// outline builds the course outline with the user's progress.
func (s *Server) outline(r *http.Request) ([]views.OutlineModule, []views.OutlineItem, error) {
	p, err := s.progress(r)
	if err != nil {
		return nil, nil, err
	}
	mods, cases := s.outlineWith(p)
	return mods, cases, nil
}

// outlineWith builds the course outline with progress p.
func (s *Server) outlineWith(p progress) ([]views.OutlineModule, []views.OutlineItem) {
	var mods []views.OutlineModule
	for _, m := range s.d.Content.Modules() {
		om := views.OutlineModule{Title: m.Title}
		for _, l := range m.Lessons {
			om.Items = append(om.Items, outlineItem(l, p))
		}
		mods = append(mods, om)
	}
	var cases []views.OutlineItem
	for _, l := range s.d.Content.Cases() {
		cases = append(cases, outlineItem(l, p))
	}
	return mods, cases
}

// serveHome is the start page: an introduction for visitors; for a
// signed-in user where they left off, what to read next, their labs with
// due dates and the scores they hold, their latest results and cohorts,
// and the course outline.
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
	h, err := s.c.Home(r.Context(), u)
	if err != nil {
		return err
	}
	now := s.now()
	p := progress{read: h.Progress.Read, scores: h.Progress.Quiz}
	m.Modules, m.Cases = s.outlineWith(p)
	for _, items := range append(moduleItems(m.Modules), m.Cases) {
		for _, it := range items {
			m.Readable++
			if it.Read {
				m.Read++
			} else if m.NextRead == nil {
				next := it
				m.NextRead = &next
			}
			if it.Quiz != "" {
				m.Quizzes++
			}
		}
	}
	for _, hl := range h.Labs {
		row := views.HomeLabRow{Slug: hl.Lab.Slug, Title: hl.Lab.Title, Pattern: hl.Lab.Pattern, URL: labURL(hl.Lab.Slug), Worked: !hl.Worked.IsZero()}
		if hl.Held.Has {
			row.Score = scoreString(hl.Held.Score, hl.Held.MaxScore)
			row.Full = hl.Held.MaxScore > 0 && hl.Held.Score >= hl.Held.MaxScore
			if row.Full {
				m.Finished++
			}
		}
		if due := hl.Policy.DueAt; !due.IsZero() {
			row.Due, row.DueISO = "due "+fmtTime(due), due.UTC().Format(time.RFC3339)
			row.Overdue = now.After(due) && !row.Full
			row.DueSoon = !row.Overdue && !row.Full && due.Sub(now) < 48*time.Hour
		}
		if opens := hl.Policy.OpensAt; !opens.IsZero() && now.Before(opens) {
			row.Opens = "opens " + fmtTime(opens)
		}
		m.Labs = append(m.Labs, row)
	}
	if h.ContinueOK {
		c := h.Continue
		m.Continue = &views.ContinueView{Title: c.Lab.Title, URL: labURL(c.Lab.Slug), Worked: ago(now, c.Worked)}
		if c.Held.Has {
			m.Continue.Score = scoreString(c.Held.Score, c.Held.MaxScore)
		}
	}
	for _, rr := range h.Recent {
		row := views.RecentRow{URL: submissionURL(rr.ID), LabTitle: rr.LabTitle, When: ago(now, rr.CreatedAt), State: string(rr.State)}
		if rr.Graded {
			row.Score = scoreString(rr.Scored.Score, rr.Scored.MaxScore)
			row.Full = rr.Scored.MaxScore > 0 && rr.Scored.Score >= rr.Scored.MaxScore
			row.Note = rr.Scored.Note()
		} else if res := rr.Result; res != nil {
			row.State = statusText[res.Status]
		}
		m.Recent = append(m.Recent, row)
	}
	for _, c := range h.Cohorts {
		link := views.CohortLink{Name: c.Name, Created: fmtDate(c.CreatedAt)}
		if c.Teaches {
			link.URL = cohortURL(c.ID)
		}
		m.Cohorts = append(m.Cohorts, link)
	}
	return s.render(w, r, http.StatusOK, views.Home(m))
}

func moduleItems(mods []views.OutlineModule) [][]views.OutlineItem {
	out := make([][]views.OutlineItem, 0, len(mods))
	for _, m := range mods {
		out = append(out, m.Items)
	}
	return out
}

// ago says how long before now t was, roughly: "just now", "5 minutes
// ago", "3 hours ago", "2 days ago", or the date for older times.
func ago(now, t time.Time) string {
	d := now.Sub(t)
	switch {
	case d < time.Minute:
		return "just now"
	case d < time.Hour:
		return plural(int(d/time.Minute), "minute", "minutes") + " ago"
	case d < 48*time.Hour:
		return plural(int(d/time.Hour), "hour", "hours") + " ago"
	case d < 14*24*time.Hour:
		return plural(int(d/(24*time.Hour)), "day", "days") + " ago"
	}
	return "on " + fmtDate(t)
}

// serveOutline is /lessons: the modules and their lessons.
func (s *Server) serveOutline(w http.ResponseWriter, r *http.Request) error {
	mods, cases, err := s.outline(r)
	if err != nil {
		return err
	}
	return s.render(w, r, http.StatusOK, views.Outline(views.OutlinePage{Page: s.page(r, "Lessons", "lessons"), Modules: mods, Cases: cases}))
}

// serveCases is /cases: the case studies.
func (s *Server) serveCases(w http.ResponseWriter, r *http.Request) error {
	_, cases, err := s.outline(r)
	if err != nil {
		return err
	}
	return s.render(w, r, http.StatusOK, views.Cases(views.OutlinePage{Page: s.page(r, "Case studies", "cases"), Cases: cases}))
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
		m, err := s.lessonPage(r, l)
		if err != nil {
			return err
		}
		m.JustRead = m.Read && r.URL.Query().Get("read") == "1" // display only, after the POST
		return s.serveLessonPage(w, r, m)                       // lessonpage.go
	}
}

// lessonPage builds the page of a lesson or case study with the user's
// progress and an ungraded quiz form.
func (s *Server) lessonPage(r *http.Request, l *faultline.Lesson) (views.LessonPage, error) {
	lp, err := s.c.LessonPage(r.Context(), UserFromContext(r.Context()), l)
	if err != nil {
		return views.LessonPage{}, err
	}
	p := progress{read: lp.Progress.Read, scores: lp.Progress.Quiz}
	m := views.LessonPage{Page: s.pageWithInbox(r, l.Title, "lessons", lp.Unread), Lesson: l, Kind: "Lesson", ReadURL: "/lessons/" + url.PathEscape(l.Slug) + "/read"}
	if l.Kind == "case" {
		m.Kind, m.Nav = "Case study", "cases"
	}
	_, m.Read = p.read[l.Slug]
	prev, next := s.d.Content.Neighbours(l.Slug)
	if prev != nil {
		it := outlineItem(prev, p)
		m.Prev = &it
	}
	if next != nil {
		it := outlineItem(next, p)
		m.Next = &it
	}
	m.Labs = s.practiseLabs(l)
	place := faultline.Place{Kind: faultline.PlaceLesson, Slug: l.Slug}
	if l.Kind == "case" {
		place.Kind = faultline.PlaceCase
	}
	m.Discussions = placeDiscussionViews(place, lp.Discussions) // discuss.go
	if len(l.Quiz) > 0 {
		q, err := s.ungradedQuiz(r.Context(), l) // lessonpage.go
		if err != nil {
			return m, err
		}
		if sc, ok := p.scores[l.Slug]; ok {
			q.Best = bestText(sc)
		}
		m.Quiz = &q
	}
	return m, nil
}

// practiseLabs are the labs the lesson names in its front matter, then those
// whose lab.yaml names the lesson, so the list never goes stale on either side.
// A name with no lab is the content check's business and is skipped.
func (s *Server) practiseLabs(l *faultline.Lesson) []views.LabCard {
	var cards []views.LabCard
	seen := map[string]bool{}
	for _, slug := range l.Labs {
		lab, err := s.d.Labs.Lab(slug)
		if err != nil || seen[slug] {
			continue
		}
		seen[slug] = true
		cards = append(cards, labCard(lab, ""))
	}
	for _, lab := range s.d.Labs.All() {
		if !seen[lab.Slug] && slices.Contains(lab.Lessons, l.Slug) {
			seen[lab.Slug] = true
			cards = append(cards, labCard(lab, ""))
		}
	}
	return cards
}

func bestText(sc faultline.QuizScore) string {
	if sc.Attempts == 1 {
		return fmt.Sprintf("%d/%d", sc.Best, sc.Total)
	}
	return fmt.Sprintf("%d/%d (best of %d attempts)", sc.Best, sc.Total, sc.Attempts)
}

// quizForm builds the quiz form; with answers (one per question) it is the
// graded form: choices kept checked, right answers and explanations shown.
func quizForm(l *faultline.Lesson, answers []int) views.QuizView {
	q := views.QuizView{Action: "/lessons/" + url.PathEscape(l.Slug) + "/quiz", Total: len(l.Quiz)}
	var right []bool
	if answers != nil {
		q.Graded = true
		q.Score, right = faultline.GradeQuiz(l.Quiz, answers)
	}
	for i, qq := range l.Quiz {
		name := "q" + strconv.Itoa(i+1)
		v := views.QuizQuestionView{Name: name, Number: i + 1, Text: qq.Question}
		for j, c := range qq.Choices {
			cv := views.QuizChoiceView{ID: name + "-" + strconv.Itoa(j+1), Value: strconv.Itoa(j + 1), Text: c}
			if q.Graded {
				cv.Checked = answers[i] == j+1
				cv.Correct = qq.Answer == j+1
			}
			v.Choices = append(v.Choices, cv)
		}
		if q.Graded {
			v.Right = right[i]
			v.Explain = qq.Explain
		}
		q.Questions = append(q.Questions, v)
	}
	return q
}

// serveQuiz grades a submitted quiz on the server, stores the attempt and
// shows the page again with each question marked and explained. A question
// left unanswered counts as wrong.
func (s *Server) serveQuiz(w http.ResponseWriter, r *http.Request) error {
	l, err := s.lesson(chi.URLParam(r, "slug"))
	if err != nil {
		return err
	}
	if err := s.parseForm(r); err != nil {
		return err
	}
	answers := make([]int, len(l.Quiz))
	for i, q := range l.Quiz {
		v := formValue(r, "q"+strconv.Itoa(i+1))
		if v == "" {
			continue
		}
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > len(q.Choices) {
			return faultline.Errorf(faultline.EINVALID, "Question %d has no choice %q.", i+1, v)
		}
		answers[i] = n
	}
	if _, _, err := s.c.AnswerQuiz(r.Context(), UserFromContext(r.Context()), l, answers); err != nil {
		return err
	}
	m, err := s.lessonPage(r, l)
	if err != nil {
		return err
	}
	q := quizForm(l, answers)
	q.Best = m.Quiz.Best
	m.Quiz = &q
	return s.render(w, r, http.StatusOK, views.Lesson(m))
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

// serveMarkRead records that the user read a lesson or case. A form goes
// back to the same place on the page, where it now says so; the page's
// script asks for JSON and confirms in place without leaving the page.
func (s *Server) serveMarkRead(w http.ResponseWriter, r *http.Request) error {
	l, err := s.lesson(chi.URLParam(r, "slug"))
	if err != nil {
		return err
	}
	if err := s.c.MarkRead(r.Context(), UserFromContext(r.Context()), l); err != nil {
		return err
	}
	if wantsJSON(r) {
		return writeJSON(w, http.StatusOK, map[string]any{"read": true, "slug": l.Slug})
	}
	return redirect(w, r, lessonURL(l)+"?read=1#read-state")
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
