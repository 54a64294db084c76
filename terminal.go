package faultline

import (
	"context"
	"io"
)

// Bounds of a terminal's size in character cells. Sizes outside are clamped,
// not refused: a browser may briefly measure 0 columns while laying out.
const (
	MinTermCols, MaxTermCols = 2, 1000
	MinTermRows, MaxTermRows = 2, 500

	DefaultTermCols, DefaultTermRows = 80, 24
)

// TermSize is a terminal's size in character cells.
type TermSize struct {
	Cols, Rows int
}

// Clamp returns s with each side brought within the Min/MaxTerm bounds.
func (s TermSize) Clamp() TermSize {
	return TermSize{
		Cols: min(max(s.Cols, MinTermCols), MaxTermCols),
		Rows: min(max(s.Rows, MinTermRows), MaxTermRows),
	}
}

// Terminal is an interactive shell on a TTY in a learner's running sandbox.
// Read returns the TTY's output (io.EOF once the shell has exited), Write
// sends keystrokes. One goroutine may read while another writes, resizes or
// closes.
type Terminal interface {
	io.Reader
	io.Writer
	// Resize changes the TTY's size (clamped).
	Resize(ctx context.Context, size TermSize) error
	// Close ends the shell and every process it started, and releases the
	// connection. It is safe to call more than once.
	Close() error
}

// Terminals opens shells into learners' sandboxes. Implemented by
// sandbox.Manager.
type Terminals interface {
	// Terminal starts a new login shell on a TTY of size in the learner's own
	// running sandbox for lab, in the workspace directory. The sandbox is
	// found by the user and the lab only. ENOTFOUND when no sandbox is
	// running, EUNAVAILABLE when the engine is down.
	Terminal(ctx context.Context, userID int64, lab string, size TermSize) (Terminal, error)
}
