package web

import (
	"bytes"
	"compress/flate"
	"context"
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"hash/maphash"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"

	"github.com/faultline-dev/faultline"
	"github.com/faultline-dev/faultline/web/views"
)

// A lesson page is mostly its body, the same for everyone; only the layout's
// user parts, the quiz's best score, the read mark, the discussions and the
// pager differ per request. serveLessonPage renders the page with a marker
// where each body part goes (the lesson's text, the questions of its
// ungraded quiz, the text after the quiz) and writes the cached body parts
// between the pieces, so a request renders a few KB instead of copying the
// whole lesson through the template; the parts are kept deflated too, so a
// gzip answer compresses only the per-request pieces. Each answer carries an
// ETag over everything it holds, and a matching If-None-Match gets 304 Not
// Modified.

// bodyMark, quizMark and afterMark stand in for Lesson.HTML, the quiz's
// questions and Lesson.AfterQuiz while the page renders. Sanitized lesson
// HTML never holds a NUL byte (Markdown turns one into U+FFFD), nor does an
// escaped quiz question, and a page where a marker is not found exactly once
// is written whole instead.
const (
	bodyMark  = "\x00faultline-lesson-body\x00"
	quizMark  = "\x00faultline-lesson-quiz\x00"
	afterMark = "\x00faultline-lesson-after\x00"
)

// bodyPart is one rendered body part of a lesson, kept for every request:
// its bytes, deflated (a stream of non-final blocks ending on a byte
// boundary, so it can sit between other deflated pieces) and a hash of its
// bytes for the ETag.
type bodyPart struct {
	raw   []byte
	flate []byte
	sum   uint64
}

// lessonBody is the cached body parts of one lesson.
type lessonBody struct {
	lesson *faultline.Lesson // the catalog entry they were made from
	html   string            // its HTML and AfterQuiz then, to notice a changed entry
	after  string
	parts  [3]*bodyPart   // body, quiz questions (nil without a quiz), after
	quiz   views.QuizView // the ungraded quiz form (quizForm(lesson, nil))
}

// lessonParts caches the body parts of each lesson, by slug. A lesson that
// is another catalog entry (a new catalog) or whose text changed gets new
// parts: an entry is used only for the lesson it was made from.
type lessonParts struct {
	mu    sync.Mutex
	parts map[string]*lessonBody
}

var etagSeed = maphash.MakeSeed()

func newBodyPart(src []byte) *bodyPart {
	return newBodyPartAt(src, flate.BestCompression)
}

// newBodyPartAt is newBodyPart deflating at level (a flate level).
func newBodyPartAt(src []byte, level int) *bodyPart {
	p := &bodyPart{raw: src}
	p.sum = maphash.Bytes(etagSeed, p.raw)
	var b bytes.Buffer
	fw, _ := flate.NewWriter(&b, level) // a valid level never errs
	_, _ = fw.Write(p.raw)
	_ = fw.Flush()
	p.flate = b.Bytes()
	return p
}

// get returns the cached parts of l, making them when l is new or changed.
func (c *lessonParts) get(ctx context.Context, l *faultline.Lesson) (*lessonBody, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.parts == nil {
		c.parts = map[string]*lessonBody{}
	}
	if b := c.parts[l.Slug]; b != nil && b.lesson == l && b.html == l.HTML && b.after == l.AfterQuiz {
		return b, nil
	}
	b := &lessonBody{lesson: l, html: l.HTML, after: l.AfterQuiz}
	b.parts[0] = newBodyPart([]byte(l.HTML))
	if len(l.Quiz) > 0 {
		b.quiz = quizForm(l, nil)
		var q bytes.Buffer
		if err := views.QuizQuestions(b.quiz).Render(ctx, &q); err != nil {
			return nil, fmt.Errorf("render the quiz of %s: %w", l.Slug, err)
		}
		b.parts[1] = newBodyPart(q.Bytes())
	}
	b.parts[2] = newBodyPart([]byte(l.AfterQuiz))
	c.parts[l.Slug] = b
	return b, nil
}

// ungradedQuiz returns the ungraded quiz form of l (made once per lesson;
// its questions are shared and must not be changed).
func (s *Server) ungradedQuiz(ctx context.Context, l *faultline.Lesson) (views.QuizView, error) {
	lb, err := s.lessonParts.get(ctx, l)
	if err != nil {
		return views.QuizView{}, err
	}
	return lb.quiz, nil
}

// pageBufs are buffers pages are rendered into; one that grew past
// maxPooledPage (a large cohort's dashboard is some hundreds of KB) is left
// to the garbage collector.
var pageBufs = sync.Pool{New: func() any { return new(bytes.Buffer) }}

const maxPooledPage = 4 << 20

var flateWriters = sync.Pool{New: func() any {
	w, _ := flate.NewWriter(io.Discard, flate.BestSpeed)
	return w
}}

// serveLessonPage writes m (a lesson page) as described above.
func (s *Server) serveLessonPage(w http.ResponseWriter, r *http.Request, m views.LessonPage) error {
	l := m.Lesson
	lb, err := s.lessonParts.get(r.Context(), l)
	if err != nil {
		return err
	}
	marked := *l
	marked.HTML, marked.AfterQuiz = bodyMark, afterMark
	m.Lesson = &marked
	parts := make([]*bodyPart, 0, 3)
	marks := make([]string, 0, 3)
	parts, marks = append(parts, lb.parts[0]), append(marks, bodyMark)
	if q := m.Quiz; q != nil && !q.Graded && lb.parts[1] != nil {
		spliced := *q
		spliced.Spliced = quizMark
		m.Quiz = &spliced
		parts, marks = append(parts, lb.parts[1]), append(marks, quizMark)
	}
	parts, marks = append(parts, lb.parts[2]), append(marks, afterMark)

	buf := pageBufs.Get().(*bytes.Buffer)
	buf.Reset()
	defer func() {
		if buf.Cap() <= maxPooledPage {
			pageBufs.Put(buf)
		}
	}()
	if err := views.Lesson(m).Render(r.Context(), buf); err != nil {
		return fmt.Errorf("render %s: %w", r.URL.Path, err)
	}
	page := buf.Bytes()
	// pieces are the rendered page between the markers: parts[k] goes
	// after pieces[k].
	pieces := make([][]byte, 0, len(parts)+1)
	rest := page
	for _, mark := range marks {
		i := bytes.Index(rest, []byte(mark))
		if i < 0 || bytes.Contains(rest[i+len(mark):], []byte(mark)) || bytes.Contains(rest[:i], []byte(mark)) {
			pieces = nil
			break
		}
		pieces = append(pieces, rest[:i])
		rest = rest[i+len(mark):]
	}
	if pieces == nil || bytes.Count(page, []byte(bodyMark)) != 1 || bytes.Count(page, []byte(afterMark)) != 1 {
		// Not the expected shape: render it whole the ordinary way.
		m.Lesson = l
		if q := m.Quiz; q != nil && q.Spliced != "" {
			whole := *q
			whole.Spliced = ""
			m.Quiz = &whole
		}
		return s.render(w, r, http.StatusOK, views.Lesson(m))
	}
	pieces = append(pieces, rest)

	h := maphash.Hash{}
	h.SetSeed(etagSeed)
	var n [8]byte
	for k, p := range pieces {
		_, _ = h.Write(p)
		binary.LittleEndian.PutUint64(n[:], uint64(len(p)))
		_, _ = h.Write(n[:])
		if k < len(parts) {
			binary.LittleEndian.PutUint64(n[:], parts[k].sum)
			_, _ = h.Write(n[:])
			binary.LittleEndian.PutUint64(n[:], uint64(len(parts[k].raw)))
			_, _ = h.Write(n[:])
		}
	}
	gz := acceptsGzip(r)
	etag := `"` + strconv.FormatUint(h.Sum64(), 36)
	if gz {
		etag += `-gz"`
	} else {
		etag += `"`
	}

	hd := w.Header()
	hd.Set("Content-Type", "text/html; charset=utf-8")
	// The page is the signed-in user's own: kept by their browser only, and
	// asked for again each time (answered 304 when nothing changed).
	hd.Set("Cache-Control", "private, no-cache")
	hd.Set("Vary", "Accept-Encoding, Cookie")
	hd.Set("ETag", etag)
	if etagMatches(r.Header.Get("If-None-Match"), etag) {
		w.WriteHeader(http.StatusNotModified)
		return nil
	}
	if !gz {
		// One write of the whole page: a few KB of copying spares the
		// writer several small writes and regrowing its buffer.
		out := pageBufs.Get().(*bytes.Buffer)
		out.Reset()
		defer func() {
			if out.Cap() <= maxPooledPage {
				pageBufs.Put(out)
			}
		}()
		size := 0
		for k, p := range pieces {
			size += len(p)
			if k < len(parts) {
				size += len(parts[k].raw)
			}
		}
		out.Grow(size)
		for k, p := range pieces {
			out.Write(p)
			if k < len(parts) {
				out.Write(parts[k].raw)
			}
		}
		hd.Set("Content-Length", strconv.Itoa(out.Len()))
		w.WriteHeader(http.StatusOK)
		_, _ = w.Write(out.Bytes()) // an error is the client gone
		return nil
	}
	hd.Set("Content-Encoding", "gzip")
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(gzipMember(pieces, parts))
	return nil
}

// gzipMember returns the page as one gzip member: the header, the deflated
// pieces (each compressed on its own, so none refers to bytes of another)
// with the cached deflated body parts between them (parts[k] after
// pieces[k]), then the CRC-32 and the length of the whole page.
func gzipMember(pieces [][]byte, parts []*bodyPart) []byte {
	size := 10 + 8 + 64
	for k, p := range pieces {
		size += len(p) / 3
		if k < len(parts) {
			size += len(parts[k].flate)
		}
	}
	out := bytes.NewBuffer(make([]byte, 0, size))
	out.Write([]byte{0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 255}) // gzip, deflate, no flags, no mtime, unknown OS
	fw := flateWriters.Get().(*flate.Writer)
	defer flateWriters.Put(fw)
	crc := uint32(0)
	total := 0
	for k, p := range pieces {
		fw.Reset(out)
		_, _ = fw.Write(p)
		last := k == len(pieces)-1
		if !last {
			_ = fw.Flush()
		} else {
			_ = fw.Close() // the final block
		}
		crc = crc32.Update(crc, crc32.IEEETable, p)
		total += len(p)
		if k < len(parts) {
			out.Write(parts[k].flate)
			crc = crc32.Update(crc, crc32.IEEETable, parts[k].raw)
			total += len(parts[k].raw)
		}
	}
	var tr [8]byte
	binary.LittleEndian.PutUint32(tr[:4], crc)
	binary.LittleEndian.PutUint32(tr[4:], uint32(total))
	out.Write(tr[:])
	return out.Bytes()
}

// acceptsGzip reports whether the request's Accept-Encoding allows gzip (a
// q=0 refuses it).
func acceptsGzip(r *http.Request) bool {
	for _, v := range r.Header.Values("Accept-Encoding") {
		for _, e := range strings.Split(v, ",") {
			name, params, _ := strings.Cut(strings.TrimSpace(e), ";")
			if !strings.EqualFold(strings.TrimSpace(name), "gzip") {
				continue
			}
			q := strings.ReplaceAll(strings.TrimSpace(params), " ", "")
			return q != "q=0" && q != "q=0.0" && q != "q=0.00" && q != "q=0.000"
		}
	}
	return false
}

// etagMatches reports whether an If-None-Match header names etag (or is *).
func etagMatches(header, etag string) bool {
	for _, t := range strings.Split(header, ",") {
		t = strings.TrimSpace(t)
		t = strings.TrimPrefix(t, "W/")
		if t == "*" || t == etag {
			return true
		}
	}
	return false
}
