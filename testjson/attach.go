package testjson

import (
	"fmt"
	"regexp"
	"strings"

	"github.com/faultline-dev/faultline"
)

// The lines labkit.Attach prints around an SVG (see labs/labkit/svg.go;
// TestMarkersMatchLabkit keeps the two in step). go test indents them.
const (
	attachBegin = "--- labkit:svg name="
	attachEnd   = "--- labkit:end"
)

var attachName = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,63}\.svg$`)

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
	name  string
	body  strings.Builder
	over  bool // the block's body passed MaxAttachmentBytes
	found []faultline.Attachment
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
		if l.held.Len() > faultline.MaxAttachmentBytes+1024 {
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
		if !complete && (strings.HasPrefix(attachBegin, h) || strings.HasPrefix(h, attachBegin)) && l.held.Len() < 256 {
			return // could still be a marker: wait for the rest of the line
		}
		line := l.held.String()
		l.held.Reset()
		if complete {
			if name, ok := beginMarker(line); ok {
				l.in, l.name, l.over = true, name, false
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
			l.over = l.body.Len() > faultline.MaxAttachmentBytes
		}
		return
	}
	l.in = false
	svg := l.body.String()
	l.body.Reset()
	switch {
	case l.over:
		l.emit(fmt.Sprintf("[picture %s left out: over %d KiB]\n", l.name, faultline.MaxAttachmentBytes>>10))
	case !strings.HasPrefix(svg, "<svg"):
		l.emit(fmt.Sprintf("[picture %s left out: not an SVG]\n", l.name))
	case !l.keep:
		l.emit(fmt.Sprintf("[picture %s]\n", l.name))
	case len(l.found) >= faultline.MaxTestAttachments:
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

func beginMarker(line string) (string, bool) {
	t := strings.TrimSpace(line)
	if !strings.HasPrefix(t, attachBegin) {
		return "", false
	}
	name := strings.TrimPrefix(t, attachBegin)
	return name, attachName.MatchString(name)
}

// capAttachments drops attachments, last tests first, until the result's
// SVGs fit in MaxResultAttachments bytes together.
func capAttachments(tests []faultline.TestResult) {
	total := 0
	for i := range tests {
		for _, a := range tests[i].Attachments {
			total += len(a.SVG)
		}
	}
	for i := len(tests) - 1; i >= 0 && total > faultline.MaxResultAttachments; i-- {
		for total > faultline.MaxResultAttachments && len(tests[i].Attachments) > 0 {
			n := len(tests[i].Attachments) - 1
			a := tests[i].Attachments[n]
			total -= len(a.SVG)
			tests[i].Attachments = tests[i].Attachments[:n]
			tests[i].Output += fmt.Sprintf("[picture %s left out: the result's pictures are capped at %d KiB]\n", a.Name, faultline.MaxResultAttachments>>10)
		}
	}
}
