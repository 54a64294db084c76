package sandbox

import (
	"bytes"
	"io"
	"strconv"
	"sync"
)

// Blobs. A job may hand its caller one block of bytes apart from its output
// (RunSpec.BlobLimit): the grader's job hands over the test binaries it
// compiled, before any learner code runs, so that a later grade of the same
// files can skip compiling. The block must be the very first thing the job
// writes: a line "##blob <n>" and then n bytes. Only the first bytes can be
// one, so nothing the job runs later (learner code) can make one; a job
// whose first line is anything else has no blob and all of its output is
// Output, as without BlobLimit.

// blobHeader starts the first line of a job's output that hands over a blob.
const blobHeader = "##blob "

// maxBlobHeader bounds the first line while it may still be a blob header.
const maxBlobHeader = len(blobHeader) + 20

// blobWriter is a job's output writer that takes a leading blob out of the
// stream and passes the rest to w. Like any io.Writer given to Attach it is
// written by one goroutine at a time; Blob may be called from another.
type blobWriter struct {
	w     io.Writer
	limit int64

	mu    sync.Mutex // held while writing to w too (w never calls back)
	state int        // blobLine, blobBody or blobPass
	line  []byte     // the first line so far, until it is known not to be a header
	need  int64      // bytes of the blob still to come, in blobBody
	blob  []byte
}

const (
	blobLine = iota // reading the first line
	blobBody        // reading the blob
	blobPass        // everything else goes to w
)

func newBlobWriter(w io.Writer, limit int64) *blobWriter {
	return &blobWriter{w: w, limit: limit}
}

// blobOutput is w with a leading blob taken out when limit > 0, and the
// blobWriter (nil when limit is 0).
func blobOutput(w io.Writer, limit int64) (io.Writer, *blobWriter) {
	if limit <= 0 {
		return w, nil
	}
	b := newBlobWriter(w, limit)
	return b, b
}

func (b *blobWriter) Write(p []byte) (int, error) {
	n := len(p)
	b.mu.Lock()
	defer b.mu.Unlock()
	for len(p) > 0 && b.state != blobPass {
		switch b.state {
		case blobLine:
			i := bytes.IndexByte(p, '\n')
			if i < 0 {
				i = len(p)
			}
			if room := maxBlobHeader + 1 - len(b.line); i >= room {
				// Longer than any header: ordinary output from here.
				b.state = blobPass
				break
			}
			b.line = append(b.line, p[:i]...)
			if i == len(p) {
				return n, nil
			}
			p = p[i+1:]
			if size, ok := b.header(); ok {
				b.state, b.need, b.line = blobBody, size, nil
				b.blob = make([]byte, 0, size)
				continue
			}
			b.line = append(b.line, '\n')
			b.state = blobPass
		case blobBody:
			k := int(min(int64(len(p)), b.need))
			b.blob = append(b.blob, p[:k]...)
			b.need -= int64(k)
			p = p[k:]
			if b.need == 0 {
				b.state = blobPass
			}
		}
	}
	if len(b.line) > 0 { // a first line that is no header
		line := b.line
		b.line = nil
		if _, err := b.w.Write(line); err != nil {
			return n, err
		}
	}
	if len(p) > 0 {
		if _, err := b.w.Write(p); err != nil {
			return n, err
		}
	}
	return n, nil
}

// header parses the first line as a blob header of at most limit bytes.
func (b *blobWriter) header() (int64, bool) {
	rest, ok := bytes.CutPrefix(b.line, []byte(blobHeader))
	if !ok {
		return 0, false
	}
	size, err := strconv.ParseInt(string(rest), 10, 64)
	if err != nil || size < 1 || size > b.limit || strconv.FormatInt(size, 10) != string(rest) {
		return 0, false
	}
	return size, true
}

// finish passes on a first line that never ended (the output was shorter
// than a line); call it once the output has ended.
func (b *blobWriter) finish() {
	if b == nil {
		return
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.state == blobLine && len(b.line) > 0 {
		b.state = blobPass
		_, _ = b.w.Write(b.line)
		b.line = nil
	}
}

// Blob returns the blob once all of it came, else nil.
func (b *blobWriter) Blob() []byte {
	if b == nil {
		return nil
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.state != blobPass { // no header yet, or the blob cut short
		return nil
	}
	return b.blob // nil when the first line was no header
}
