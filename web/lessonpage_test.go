package web

import (
	"bytes"
	"compress/gzip"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/faultline-dev/faultline"
	"github.com/faultline-dev/faultline/web/views"
)

// servePage calls serveLessonPage for m with the given request headers.
func servePage(t *testing.T, s *Server, m views.LessonPage, hdr map[string]string) *httptest.ResponseRecorder {
	t.Helper()
	req := httptest.NewRequest(http.MethodGet, lessonURL(m.Lesson), nil)
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	rec := httptest.NewRecorder()
	if err := s.serveLessonPage(rec, req, m); err != nil {
		t.Fatal(err)
	}
	return rec
}

func gunzip(t *testing.T, b []byte) string {
	t.Helper()
	zr, err := gzip.NewReader(bytes.NewReader(b))
	if err != nil {
		t.Fatalf("gzip header: %v", err)
	}
	out, err := io.ReadAll(zr) // checks the CRC-32 and the length
	if err != nil {
		t.Fatalf("gunzip: %v", err)
	}
	return string(out)
}

// Every lesson and case study, spliced from its cached body parts (the
// text, the quiz's questions, the text after the quiz), is byte for byte
// the page rendered whole, plain and gzipped, with or without a best quiz
// score and practice labs.
func TestLessonPageSplicedIsTheWholePage(t *testing.T) {
	e := MustEnv(t)
	all := append(e.srv.d.Content.Lessons(), e.srv.d.Content.Cases()...)
	if len(all) < 2 {
		t.Fatalf("only %d lessons", len(all))
	}
	quizzes, labs := 0, 0
	for i, l := range all {
		m := views.LessonPage{Page: views.Page{Title: l.Title, Nav: "lessons"}, Lesson: l, Kind: "Lesson", ReadURL: "/lessons/" + l.Slug + "/read"}
		if len(l.Quiz) > 0 {
			quizzes++
			q := quizForm(l, nil)
			if i%2 == 0 {
				q.Best = "2/3 (best of 2 attempts)"
			}
			m.Quiz = &q
		}
		if m.Labs = e.srv.practiseLabs(l); len(m.Labs) > 0 {
			labs++
		}
		var whole bytes.Buffer
		if err := views.Lesson(m).Render(t.Context(), &whole); err != nil {
			t.Fatal(err)
		}
		plain := servePage(t, e.srv, m, nil)
		if plain.Code != http.StatusOK || plain.Body.String() != whole.String() {
			t.Fatalf("%s: spliced page (%d, %d bytes) differs from the whole page (%d bytes)", l.Slug, plain.Code, plain.Body.Len(), whole.Len())
		}
		if strings.Contains(plain.Body.String(), "\x00") {
			t.Fatalf("%s: a marker was left in the page", l.Slug)
		}
		gz := servePage(t, e.srv, m, map[string]string{"Accept-Encoding": "br, gzip;q=0.8"})
		if gz.Header().Get("Content-Encoding") != "gzip" {
			t.Fatalf("%s: Content-Encoding %q", l.Slug, gz.Header().Get("Content-Encoding"))
		}
		if got := gunzip(t, gz.Body.Bytes()); got != whole.String() {
			t.Fatalf("%s: gunzipped page (%d bytes) differs from the whole page (%d bytes)", l.Slug, len(got), whole.Len())
		}
		if gz.Header().Get("ETag") == plain.Header().Get("ETag") {
			t.Fatalf("%s: gzip and plain answers share the ETag %s", l.Slug, gz.Header().Get("ETag"))
		}
		refused := servePage(t, e.srv, m, map[string]string{"Accept-Encoding": "gzip;q=0"})
		if refused.Header().Get("Content-Encoding") != "" || refused.Body.String() != whole.String() {
			t.Fatalf("%s: gzip;q=0 answered with %q", l.Slug, refused.Header().Get("Content-Encoding"))
		}
	}
	if quizzes == 0 || labs == 0 {
		t.Fatalf("%d lessons with a quiz, %d with labs: the quiz and AfterQuiz parts went untested", quizzes, labs)
	}
}

// A lesson page answers 304 to its own ETag, and a new ETag (with the new
// page) once anything on it changed for the viewer.
func TestLessonPageETag(t *testing.T) {
	e := MustEnv(t)
	b := e.MustLogin(e.MustUser("Lea Learner", faultline.RoleLearner))
	const path = "/lessons/circuit-breakers"
	first := b.get(path)
	etag := first.header.Get("ETag")
	if first.status != http.StatusOK || etag == "" || first.header.Get("Cache-Control") != "private, no-cache" {
		t.Fatalf("first: %d, ETag %q, Cache-Control %q", first.status, etag, first.header.Get("Cache-Control"))
	}
	b.header.Set("If-None-Match", etag)
	again := b.get(path)
	if again.status != http.StatusNotModified || again.body != "" || again.header.Get("ETag") != etag {
		t.Fatalf("If-None-Match: %d, %d bytes, ETag %q", again.status, len(again.body), again.header.Get("ETag"))
	}
	b.header.Set("If-None-Match", `W/"other", `+etag)
	if r := b.get(path); r.status != http.StatusNotModified {
		t.Fatalf("If-None-Match list: %d", r.status)
	}
	b.header.Del("If-None-Match")
	if r := b.post(path+"/read", nil); r.status != http.StatusSeeOther {
		t.Fatalf("mark read: %d", r.status)
	}
	b.header.Set("If-None-Match", etag)
	read := b.get(path)
	if read.status != http.StatusOK || read.header.Get("ETag") == etag || read.testid("read-mark").Length() != 1 {
		t.Fatalf("after marking read: %d, ETag %q (was %q), read mark %d", read.status, read.header.Get("ETag"), etag, read.testid("read-mark").Length())
	}
	// Another user's page is not this user's, though the lesson is the same.
	other := e.MustLogin(e.MustUser("Ola Other", faultline.RoleLearner))
	other.header.Set("If-None-Match", read.header.Get("ETag"))
	if r := other.get(path); r.status != http.StatusOK || !strings.Contains(r.body, "Ola Other") {
		t.Fatalf("another user with the first user's ETag: %d", r.status)
	}
}

// A lesson whose text changed (a new catalog) is served with its new text
// and a new ETag, never from the parts cached for the old one.
func TestLessonPageFollowsChangedLesson(t *testing.T) {
	e := MustEnv(t)
	orig, err := e.srv.d.Content.Lesson("circuit-breakers")
	if err != nil {
		t.Fatal(err)
	}
	page := func(l *faultline.Lesson) *httptest.ResponseRecorder {
		return servePage(t, e.srv, views.LessonPage{Page: views.Page{Title: l.Title}, Lesson: l, Kind: "Lesson", ReadURL: "/r"}, nil)
	}
	before := page(orig)
	changed := *orig
	changed.HTML = strings.Replace(orig.HTML, "</p>", " Revised.</p>", 1) + "<p>A new closing paragraph.</p>"
	after := page(&changed)
	if !strings.Contains(after.Body.String(), "A new closing paragraph.") || !strings.Contains(after.Body.String(), " Revised.</p>") {
		t.Fatal("the changed lesson was served from the old parts")
	}
	if after.Header().Get("ETag") == before.Header().Get("ETag") {
		t.Fatalf("same ETag %s for the old and the changed lesson", before.Header().Get("ETag"))
	}
	if back := page(orig); back.Body.String() != before.Body.String() {
		t.Fatal("the original lesson, served again, differs from its first answer")
	}

	// A changed quiz question, the text unchanged.
	if len(orig.Quiz) == 0 {
		t.Fatalf("%s has no quiz", orig.Slug)
	}
	quizPage := func(l *faultline.Lesson) *httptest.ResponseRecorder {
		q := quizForm(l, nil)
		return servePage(t, e.srv, views.LessonPage{Page: views.Page{Title: l.Title}, Lesson: l, Kind: "Lesson", ReadURL: "/r", Quiz: &q}, nil)
	}
	withQuiz := quizPage(orig)
	requizzed := *orig
	requizzed.Quiz = append([]faultline.QuizQuestion(nil), orig.Quiz...)
	requizzed.Quiz[0].Question = "A question asked anew?"
	if got := quizPage(&requizzed); !strings.Contains(got.Body.String(), "A question asked anew?") || got.Header().Get("ETag") == withQuiz.Header().Get("ETag") {
		t.Fatal("the changed quiz was served from the old parts")
	}
}
