package testjson

import (
	"fmt"
	"regexp"
	"slices"
	"strings"

	"github.com/faultline-dev/faultline"
)

// The lines labkit.Attach prints around an SVG, and a failing run around
// its trace (see labs/labkit/svg.go; TestMarkersMatchLabkit and
// TestTraceFromLabkit keep the two in step). go test indents them.
const (
	attachBegin = "--- labkit:svg name="
	traceBegin  = "--- labkit:trace name="
	attachEnd   = "--- labkit:end"
	markerStart = "--- labkit:" // what both begin markers start with
)

var (
	attachName = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,63}\.svg$`)
	traceName  = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,63}\.json$`)
)

// lifter passes output text through to emit, lifting labkit attachment
// blocks out of it. Text arrives in arbitrary pieces (test2json cuts long
// lines into several output events), so a line that may start a block is
// held back until it is complete; every other byte passes straight through.
// A block's SVG is kept when keep is set, within the attachment limits; in
// its place emit gets one short line naming the picture.
type lifter struct {
	emit func(string)
	keep bool

	held    strings.Builder // start of a line that may be a begin marker
	midLine bool            // passing the rest of a line through

	in    bool // inside a block
	trace bool // the block is a run's trace, not a picture
	name  string
	body  strings.Builder
	over  bool // the block's body passed its limit
	found []faultline.Attachment
}

// limit is the most a block's body may hold.
func (l *lifter) limit() int {
	if l.trace {
		return faultline.MaxTraceBytes
	}
	return faultline.MaxAttachmentBytes
}

func (l *lifter) Write(s string) {
	for s != "" {
		i := strings.IndexByte(s, '\n')
		piece, rest := s, ""
		if i >= 0 {
			piece, rest = s[:i+1], s[i+1:]
		}
		l.piece(piece, i >= 0)
		s = rest
	}
}

// piece handles text up to and including a newline (complete) or a part of a
// line still to be continued.
func (l *lifter) piece(p string, complete bool) {
	switch {
	case l.in:
		l.held.WriteString(p)
		if l.held.Len() > l.limit()+1024 {
			// A body line far over the limit: stop buffering it.
			l.over = true
			l.held.Reset()
		}
		if complete {
			l.blockLine(l.held.String())
			l.held.Reset()
		}
	case l.midLine:
		l.emit(p)
		l.midLine = !complete
	default:
		l.held.WriteString(p)
		h := strings.TrimLeft(l.held.String(), " \t")
		if !complete && (strings.HasPrefix(markerStart, h) || strings.HasPrefix(h, markerStart)) && l.held.Len() < 256 {
			return // could still be a marker: wait for the rest of the line
		}
		line := l.held.String()
		l.held.Reset()
		if complete {
			if name, trace, ok := beginMarker(line); ok {
				l.in, l.trace, l.name, l.over = true, trace, name, false
				l.body.Reset()
				return
			}
		}
		l.emit(line)
		l.midLine = !complete
	}
}

// blockLine handles one complete line inside a block.
func (l *lifter) blockLine(line string) {
	t := strings.TrimSpace(line)
	if t != attachEnd {
		if !l.over {
			if l.body.Len() > 0 {
				l.body.WriteByte('\n')
			}
			l.body.WriteString(t)
			l.over = l.body.Len() > l.limit()
		}
		return
	}
	l.in = false
	svg := l.body.String()
	l.body.Reset()
	if l.trace {
		l.traceEnd(svg)
		return
	}
	switch {
	case l.over:
		l.emit(fmt.Sprintf("[picture %s left out: over %d KiB]\n", l.name, faultline.MaxAttachmentBytes>>10))
	case !strings.HasPrefix(svg, "<svg"):
		l.emit(fmt.Sprintf("[picture %s left out: not an SVG]\n", l.name))
	case !l.keep:
		l.emit(fmt.Sprintf("[picture %s]\n", l.name))
	case pictures(l.found) >= faultline.MaxTestAttachments:
		l.emit(fmt.Sprintf("[picture %s left out: a test keeps at most %d]\n", l.name, faultline.MaxTestAttachments))
	default:
		l.found = append(l.found, faultline.Attachment{Name: l.name, SVG: svg})
		l.emit(fmt.Sprintf("[picture %s: shown with the result]\n", l.name))
	}
}

// Close flushes what is held: a block that never ended is reported, not
// silently swallowed.
func (l *lifter) Close() {
	if l.in {
		l.in = false
		l.emit(fmt.Sprintf("[picture %s left out: it never ended]\n", l.name))
		return
	}
	if l.held.Len() > 0 {
		l.emit(l.held.String())
		l.held.Reset()
	}
}

// pictures counts the pictures among found (a trace is not one).
func pictures(found []faultline.Attachment) int {
	n := 0
	for _, a := range found {
		if a.Trace == nil {
			n++
		}
	}
	return n
}

// traceEnd keeps a trace block's run (one per test), or says why not.
func (l *lifter) traceEnd(body string) {
	if l.over {
		l.emit(fmt.Sprintf("[trace %s left out: over %d KiB]\n", l.name, faultline.MaxTraceBytes>>10))
		return
	}
	rt, err := decodeTrace(body)
	switch {
	case err != nil:
		l.emit(fmt.Sprintf("[trace %s left out: %v]\n", l.name, err))
	case !l.keep:
		l.emit(fmt.Sprintf("[trace of %s]\n", rt.Test))
	case slices.ContainsFunc(l.found, func(a faultline.Attachment) bool { return a.Trace != nil }):
		l.emit(fmt.Sprintf("[trace of %s left out: a test keeps one]\n", rt.Test))
	default:
		l.found = append(l.found, faultline.Attachment{Name: l.name, Trace: rt})
		l.emit(fmt.Sprintf("[trace of %s: explore it with the result]\n", rt.Test))
	}
}

// beginMarker reports whether line begins a block: a picture's or (trace
// true) a run's trace, with an allowed name.
func beginMarker(line string) (name string, trace, ok bool) {
	t := strings.TrimSpace(line)
	switch {
	case strings.HasPrefix(t, attachBegin):
		name = strings.TrimPrefix(t, attachBegin)
		return name, false, attachName.MatchString(name)
	case strings.HasPrefix(t, traceBegin):
		name = strings.TrimPrefix(t, traceBegin)
		return name, true, traceName.MatchString(name)
	}
	return "", false, false
}

// capAttachments drops attachments, last tests first, until the result's
// SVGs fit in MaxResultAttachments bytes together and its traces in
// MaxResultTraceBytes.
func capAttachments(tests []faultline.TestResult) {
	traces := 0
	for i := range tests {
		for j := 0; j < len(tests[i].Attachments); j++ {
			a := tests[i].Attachments[j]
			if a.Trace == nil {
				continue
			}
			if n := traceSize(a.Trace); traces+n <= faultline.MaxResultTraceBytes {
				traces += n
				continue
			}
			tests[i].Attachments = slices.Delete(tests[i].Attachments, j, j+1)
			tests[i].Output += fmt.Sprintf("[trace of %s left out: the result's traces are capped at %d KiB]\n", a.Trace.Test, faultline.MaxResultTraceBytes>>10)
			j--
		}
	}
	total := 0
	for i := range tests {
		for _, a := range tests[i].Attachments {
			total += len(a.SVG)
		}
	}
	for i := len(tests) - 1; i >= 0 && total > faultline.MaxResultAttachments; i-- {
		for n := len(tests[i].Attachments) - 1; n >= 0 && total > faultline.MaxResultAttachments; n-- {
			a := tests[i].Attachments[n]
			if a.Trace != nil {
				continue
			}
			total -= len(a.SVG)
			tests[i].Attachments = slices.Delete(tests[i].Attachments, n, n+1)
			tests[i].Output += fmt.Sprintf("[picture %s left out: the result's pictures are capped at %d KiB]\n", a.Name, faultline.MaxResultAttachments>>10)
		}
	}
}
