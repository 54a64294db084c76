package labkit

import (
	"errors"
	"fmt"
	"strings"
	"testing"
)

// DefaultTailEvents is how many trace events a failure report shows.
const DefaultTailEvents = 25

// Violation is a broken property, in words a learner can act on. Checkers
// return it as an error.
type Violation struct {
	Property string // what should have held, e.g. "at most one leader per term"
	Detail   string // what happened instead
}

// Violationf returns a *Violation of property with a formatted detail.
func Violationf(property, format string, args ...any) *Violation {
	return &Violation{Property: property, Detail: fmt.Sprintf(format, args...)}
}

// Error returns "property: detail".
func (v *Violation) Error() string { return v.Property + ": " + v.Detail }

// Require does nothing when err is nil. Otherwise it fails the test with the
// full report (see Failf); a *Violation anywhere in err's chain names the
// property.
func (s *Sim) Require(tb testing.TB, err error) {
	tb.Helper()
	if err == nil {
		return
	}
	var v *Violation
	if errors.As(err, &v) {
		s.Failf(tb, v.Property, "%s", v.Detail)
		return
	}
	s.Failf(tb, "the scenario ran without errors", "%v", err)
}

// Check is Require for a boolean: when ok is false it fails the test saying
// that property broke, with a formatted detail.
func (s *Sim) Check(tb testing.TB, ok bool, property, format string, args ...any) {
	tb.Helper()
	if !ok {
		s.Failf(tb, property, format, args...)
	}
}

// Failf fails and stops the test (tb.Fatal) with a report in plain words:
// the property that broke and how, the faults injected, the seed, the
// command that reruns this seed, and the last trace events.
func (s *Sim) Failf(tb testing.TB, property, format string, args ...any) {
	tb.Helper()
	detail := fmt.Sprintf(format, args...)
	s.attachTrace(tb, property, detail) // svg.go: for the trace explorer, when graded
	tb.Fatal(s.FailureReport(tb.Name(), property, detail))
}

// FailureReport formats the report Failf prints.
func (s *Sim) FailureReport(testName, property, detail string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "\nPROPERTY BROKEN: %s\n", property)
	for _, line := range strings.Split(strings.TrimRight(detail, "\n"), "\n") {
		fmt.Fprintf(&b, "  %s\n", line)
	}
	fmt.Fprintf(&b, "\nVirtual time: %s\n", fmtDur(s.Elapsed()))
	faults := s.Faults()
	if len(faults) == 0 {
		b.WriteString("Faults injected: none\n")
	} else {
		b.WriteString("Faults injected:\n")
		const maxFaults = 30
		if len(faults) > maxFaults {
			fmt.Fprintf(&b, "  (%d earlier faults not shown)\n", len(faults)-maxFaults)
			faults = faults[len(faults)-maxFaults:]
		}
		for _, f := range faults {
			fmt.Fprintf(&b, "  at %s: %s\n", fmtDur(f.At), f.Text)
		}
	}
	fmt.Fprintf(&b, "Seed: %d\n", s.seed)
	fmt.Fprintf(&b, "Reproduce: %s\n", ReproCommand(testName, s.seed))
	tail := s.trace.Last(DefaultTailEvents)
	if len(tail) == 0 {
		b.WriteString("Trace: empty\n")
	} else {
		fmt.Fprintf(&b, "Last %d of %d trace events before it broke:\n", len(tail), s.trace.Total())
		for _, e := range tail {
			fmt.Fprintf(&b, "  %s\n", e)
		}
	}
	return b.String()
}
