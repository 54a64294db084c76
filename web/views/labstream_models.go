package views

import "time"

// SandboxLife is when a running sandbox reaches its hard lifetime cap. The
// lab page warns within a window before it: the banner is rendered visible
// once Warn is set, and hidden before, for the bundle to show at the right
// moment without a reload.
type SandboxLife struct {
	StopsAt time.Time // zero: no cap known (not running, or no manager)
	WarnIn  int       // seconds from this render until the warning shows (0 when Warn)
	StopsIn int       // seconds from this render until the stop
	Warn    bool      // inside the warning window now
	MaxLife string    // the cap in words, e.g. "12 h"
	Left    string    // time left in words, e.g. "25 min"
}

// Known reports whether the page has a stop time to show.
func (l SandboxLife) Known() bool { return !l.StopsAt.IsZero() }

// StopsAtText is the stop time as the page shows it without the bundle.
func (l SandboxLife) StopsAtText() string { return l.StopsAt.UTC().Format("15:04 UTC") }

// StopsAtISO is the stop time for a <time datetime>.
func (l SandboxLife) StopsAtISO() string { return l.StopsAt.UTC().Format(time.RFC3339) }
