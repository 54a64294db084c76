package faultline

import (
	"context"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// Repro names one run of a lab test to replay: the go test -run pattern and
// the labkit seed that a failure report's "Reproduce:" line spells out.
type Repro struct {
	Run  string // e.g. ^TestNoAckedWriteLost$/^seed=42$
	Seed int64
}

// reproLine matches the command labkit prints after "Reproduce:".
var reproLine = regexp.MustCompile(`LABKIT_SEED=(-?\d+) go test -count=1 -run '((?:[^'\n]|'\\'')+)'`)

// ParseRepro finds the first reproduce command in a failure report (a test's
// message or output); ok is false when there is none.
func ParseRepro(report string) (rp Repro, ok bool) {
	m := reproLine.FindStringSubmatch(report)
	if m == nil {
		return Repro{}, false
	}
	seed, err := strconv.ParseInt(m[1], 10, 64)
	if err != nil {
		return Repro{}, false
	}
	return Repro{Run: strings.ReplaceAll(m[2], `'\''`, `'`), Seed: seed}, true
}

// Validate returns EINVALID unless Run is a pattern go test accepts for -run,
// on one line and at most 300 bytes.
func (rp Repro) Validate() error {
	if rp.Run == "" || len(rp.Run) > 300 || strings.ContainsAny(rp.Run, "\x00\n\r") {
		return Errorf(EINVALID, "A replay needs a -run pattern of 1 to 300 characters on one line.")
	}
	for _, part := range strings.Split(rp.Run, "/") {
		if _, err := regexp.Compile(part); err != nil {
			return Errorf(EINVALID, "The -run pattern %q is not a valid regular expression: %v.", rp.Run, err)
		}
	}
	return nil
}

// Replayer replays one run of a lab's tests (hidden ones included) against a
// set of learner files, in a grading container: what a failure report's seed
// names, so a learner can check a fix against exactly the run that failed
// without ever seeing the hidden test's source.
type Replayer interface {
	// Replay returns a Result listing only the tests rp.Run matches.
	// EINVALID for a bad pattern or one that matches no test; other errors
	// as Grader.Grade.
	Replay(ctx context.Context, lab *Lab, files []File, rp Repro) (*Result, error)
}

// ReplayRecord is one replay a viewer started.
type ReplayRecord struct {
	ID           int64
	UserID       int64 // who asked
	SubmissionID int64
	Lab          string
	Test         string
	Seed         int64
	CreatedAt    time.Time
}

// ReplayLog records replays, so a learner's replays count against their
// limits across restarts.
type ReplayLog interface {
	// StartReplay records r (filling ID and CreatedAt) unless admit, which
	// sees how many replays r.UserID started in the hour before now in the
	// same transaction, returns an error; that error is returned with
	// nothing recorded.
	StartReplay(ctx context.Context, r *ReplayRecord, admit func(lastHour int) error) error
}
