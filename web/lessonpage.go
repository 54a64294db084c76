package web

import (
	"bytes"
	"compress/flate"
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
// user parts, the quiz, the read mark, the discussions and the pager differ
// per request. serveLessonPage renders the page with a marker where each
// body part goes and writes the cached body parts between the pieces, so a
// request renders a few KB instead of copying the whole lesson through the
// template; the parts are kept deflated too, so a gzip answer compresses only
// the per-request pieces. Each answer carries an ETag over everything it
// holds, and a matching If-None-Match gets 304 Not Modified.

// bodyMark and afterMark stand in for Lesson.HTML and Lesson.AfterQuiz while
// the page renders. Sanitized lesson HTML never holds a NUL byte (Markdown
// turns one into U+FFFD), and a page where a marker is not found exactly
// once is written whole instead.
const (
	bodyMark  = "\x00faultline-lesson-body\x00"
	afterMark = "\x00faultline-lesson-after\x00"
)

// bodyPart is one rendered body part of a lesson, kept for every request:
// its bytes, deflated (a stream of non-final blocks ending on a byte
// boundary, so it can sit between other deflated pieces), its CRC-32 and a
// hash of its bytes for the ETag.
type bodyPart struct {
	src   string // the Lesson field it was made from, to notice a changed lesson
	raw   []byte
	flate []byte
	crc   uint32
	sum   uint64
}

// lessonParts caches the body parts of each lesson, by slug. A lesson whose
// text changed (a new catalog) gets new parts: an entry is used only while
// its src is the lesson's current text.
type lessonParts struct {
	mu    sync.Mutex
	parts map[string][2]*bodyPart
}

var etagSeed = maphash.MakeSeed()

func newBodyPart(src string) *bodyPart {
	p := &bodyPart{src: src, raw: []byte(src)}
	p.crc = crc32.ChecksumIEEE(p.raw)
	p.sum = maphash.Bytes(etagSeed, p.raw)
	var b bytes.Buffer
	fw, _ := flate.NewWriter(&b, flate.BestCompression) // a valid level never errs
	_, _ = fw.Write(p.raw)
	_ = fw.Flush()
	p.flate = b.Bytes()
	return p
}

// get returns the cached parts of l, making them when l is new or changed.
func (c *lessonParts) get(l *faultline.Lesson) (body, after *bodyPart) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.parts == nil {
		c.parts = map[string][2]*bodyPart{}
	}
	ps := c.parts[l.Slug]
	if ps[0] == nil || ps[0].src != l.HTML {
		ps[0] = newBodyPart(l.HTML)
	}
	if ps[1] == nil || ps[1].src != l.AfterQuiz {
		ps[1] = newBodyPart(l.AfterQuiz)
	}
	c.parts[l.Slug] = ps
	return ps[0], ps[1]
}

var pageBufs = sync.Pool{New: func() any { return new(bytes.Buffer) }}

var flateWriters = sync.Pool{New: func() any {
	w, _ := flate.NewWriter(io.Discard, flate.BestSpeed)
	return w
}}

// serveLessonPage writes m (a lesson page) as described above.
func (s *Server) serveLessonPage(w http.ResponseWriter, r *http.Request, m views.LessonPage) error {
	l := m.Lesson
	body, after := s.lessonParts.get(l)
	marked := *l
	marked.HTML, marked.AfterQuiz = bodyMark, afterMark
	m.Lesson = &marked

	buf := pageBufs.Get().(*bytes.Buffer)
	buf.Reset()
	defer func() {
		if buf.Cap() <= 1<<20 {
			pageBufs.Put(buf)
		}
	}()
	if err := views.Lesson(m).Render(r.Context(), buf); err != nil {
		return fmt.Errorf("render %s: %w", r.URL.Path, err)
	}
	page := buf.Bytes()
	i := bytes.Index(page, []byte(bodyMark))
	j := bytes.Index(page, []byte(afterMark))
	if i < 0 || j < i || bytes.Count(page, []byte(bodyMark)) != 1 || bytes.Count(page, []byte(afterMark)) != 1 {
		// Not the expected shape: render it whole the ordinary way.
		m.Lesson = l
		return s.render(w, r, http.StatusOK, views.Lesson(m))
	}
	pieces := [3][]byte{page[:i], page[i+len(bodyMark) : j], page[j+len(afterMark):]}

	h := maphash.Hash{}
	h.SetSeed(etagSeed)
	for k, p := range pieces {
		_, _ = h.Write(p)
		var n [8]byte
		binary.LittleEndian.PutUint64(n[:], uint64(len(p)))
		_, _ = h.Write(n[:])
		if k < 2 {
			part := [2]*bodyPart{body, after}[k]
			binary.LittleEndian.PutUint64(n[:], part.sum)
			_, _ = h.Write(n[:])
			binary.LittleEndian.PutUint64(n[:], uint64(len(part.raw)))
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
			if out.Cap() <= 1<<20 {
				pageBufs.Put(out)
			}
		}()
		out.Grow(len(pieces[0]) + len(body.raw) + len(pieces[1]) + len(after.raw) + len(pieces[2]))
		for _, b := range [][]byte{pieces[0], body.raw, pieces[1], after.raw, pieces[2]} {
			out.Write(b)
		}
		hd.Set("Content-Length", strconv.Itoa(out.Len()))
		w.WriteHeader(http.StatusOK)
		_, _ = w.Write(out.Bytes()) // an error is the client gone
		return nil
	}
	hd.Set("Content-Encoding", "gzip")
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(gzipMember(pieces, body, after))
	return nil
}

// gzipMember returns the page as one gzip member: the header, the deflated
// pieces (each compressed on its own, so none refers to bytes of another)
// with the cached deflated body parts between them, then the CRC-32 and the
// length of the whole page.
func gzipMember(pieces [3][]byte, body, after *bodyPart) []byte {
	out := bytes.NewBuffer(make([]byte, 0, 10+len(body.flate)+len(after.flate)+(len(pieces[0])+len(pieces[1])+len(pieces[2]))/3+64))
	out.Write([]byte{0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 255}) // gzip, deflate, no flags, no mtime, unknown OS
	fw := flateWriters.Get().(*flate.Writer)
	defer flateWriters.Put(fw)
	crc := uint32(0)
	size := 0
	for k, p := range pieces {
		fw.Reset(out)
		_, _ = fw.Write(p)
		if k < 2 {
			_ = fw.Flush()
		} else {
			_ = fw.Close() // the final block
		}
		crc = crc32.Update(crc, crc32.IEEETable, p)
		size += len(p)
		if k < 2 {
			part := [2]*bodyPart{body, after}[k]
			out.Write(part.flate)
			crc = crc32.Update(crc, crc32.IEEETable, part.raw)
			size += len(part.raw)
		}
	}
	var tr [8]byte
	binary.LittleEndian.PutUint32(tr[:4], crc)
	binary.LittleEndian.PutUint32(tr[4:], uint32(size))
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
