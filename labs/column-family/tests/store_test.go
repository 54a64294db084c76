package columnfamily

import (
	"errors"
	"testing"
	"time"

	"faultline.dev/labkit"
)

// These visible tests check the basics. The grader runs more (hidden) tests,
// among them random operation sequences compared with a reference model: see
// the README for every property graded.

func mustOpen(t *testing.T, sim *labkit.Sim, fams ...FamilySpec) *Store {
	t.Helper()
	s, err := Open(Options{Families: fams, Now: sim.Now})
	if err != nil {
		sim.Failf(t, "Open accepts valid families", "Open returned %v", err)
	}
	return s
}

func TestReadYourWrites(t *testing.T) {
	sim := labkit.NewSim(labkit.Seed(t))
	s := mustOpen(t, sim, FamilySpec{Name: "f"})
	if err := s.Apply(NewMutation("row").Set("f", "q", 10, "hello")); err != nil {
		sim.Failf(t, "a valid mutation applies", "Apply returned %v", err)
	}
	got, ok := s.ReadRow("row")
	want := []Cell{{Family: "f", Qualifier: "q", Timestamp: 10, Value: "hello"}}
	sim.Check(t, ok && len(got.Cells) == 1 && got.Cells[0] == want[0], "a read returns what was written",
		"ReadRow(\"row\") = %+v, %v; want %+v", got, ok, want)
	_, ok = s.ReadRow("other")
	sim.Check(t, !ok, "a row never written is absent", "ReadRow(\"other\") found a row")
}

func TestNewestVersionFirst(t *testing.T) {
	sim := labkit.NewSim(labkit.Seed(t))
	s := mustOpen(t, sim, FamilySpec{Name: "f"})
	s.Apply(NewMutation("r").Set("f", "q", 1, "old").Set("f", "q", 3, "new").Set("f", "q", 2, "mid"))
	got, _ := s.ReadRow("r")
	var ts []int64
	for _, c := range got.Cells {
		ts = append(ts, c.Timestamp)
	}
	sim.Check(t, len(ts) == 3 && ts[0] == 3 && ts[1] == 2 && ts[2] == 1, "versions are returned newest first", "timestamps %v, want [3 2 1]", ts)
}

func TestFlushKeepsData(t *testing.T) {
	sim := labkit.NewSim(labkit.Seed(t))
	s := mustOpen(t, sim, FamilySpec{Name: "f", MaxAge: time.Hour})
	s.Apply(NewMutation("r").Set("f", "q", sim.Now().UnixMicro(), "v"))
	s.Flush()
	sim.Check(t, s.Tables() == 1, "Flush turns the memtable into a table", "Tables() = %d", s.Tables())
	_, ok := s.ReadRow("r")
	sim.Check(t, ok, "data survives a flush", "ReadRow after Flush found nothing")
	err := s.Apply(NewMutation("r").Set("nope", "q", 1, "v"))
	sim.Check(t, errors.Is(err, ErrUnknownFamily), "an unknown family is refused", "Apply returned %v", err)
}
