package hidden

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"faultline.dev/labkit"
	cf "faultline.dev/labs/columnfamily"
)

func open(t *testing.T, sim *labkit.Sim, fams ...cf.FamilySpec) *cf.Store {
	t.Helper()
	s, err := cf.Open(cf.Options{Families: fams, Now: sim.Now})
	if err != nil {
		sim.Failf(t, "Open accepts valid families", "Open returned %v", err)
	}
	return s
}

func mustApply(t *testing.T, sim *labkit.Sim, s *cf.Store, m *cf.Mutation) {
	t.Helper()
	if err := s.Apply(m); err != nil {
		sim.Failf(t, "a valid mutation applies", "%s returned %v", showMutation(m), err)
	}
}

// expectRow compares ReadRow with the wanted cells (none: the row is absent).
func expectRow(t *testing.T, sim *labkit.Sim, s *cf.Store, property, key string, want ...cf.Cell) {
	t.Helper()
	got, ok := s.ReadRow(key)
	w := cf.Row{Key: key, Cells: want}
	if len(want) == 0 {
		sim.Check(t, !ok && len(got.Cells) == 0, property, "ReadRow(%q) = %s, %v; want no visible cells, false", key, showRow(got), ok)
		return
	}
	sim.Check(t, ok && sameRow(got, w), property, "ReadRow(%q)\n  got  %s (found=%v)\n  want %s", key, showRow(got), ok, showRow(w))
}

func cell(fam, qual string, ts int64, v string) cf.Cell {
	return cf.Cell{Family: fam, Qualifier: qual, Timestamp: ts, Value: v}
}

// TestMatchesReferenceModel runs seeded random operation sequences (writes,
// deletes, flushes, compactions, clock advances, reads and scans) against the
// store and a simple reference model, comparing every read.
func TestMatchesReferenceModel(t *testing.T) {
	labkit.RunSeeds(t, 16, func(t *testing.T, seed int64) {
		sim := labkit.NewSim(seed)
		s := open(t, sim, testFamilies...)
		m := newModel(testFamilies)
		r := sim.Rand()
		sim.RunFor(time.Hour) // timestamps stay positive
		for i := 0; i < 300; i++ {
			now := sim.Now()
			switch k := r.IntN(100); {
			case k < 45:
				mu, bad := randomMutation(r, now, i)
				sim.Logf("op %d: %s", i, showMutation(mu))
				err, want := s.Apply(mu), m.apply(mu)
				if bad {
					sim.Check(t, errors.Is(err, cf.ErrUnknownFamily), "a mutation naming an unknown family is refused with ErrUnknownFamily",
						"op %d: %s returned %v", i, showMutation(mu), err)
				} else {
					sim.Check(t, err == nil && want == nil, "a valid mutation applies", "op %d: %s returned %v", i, showMutation(mu), err)
				}
			case k < 53:
				sim.Logf("op %d: Flush()", i)
				s.Flush()
			case k < 56:
				sim.Logf("op %d: Compact()", i)
				s.Compact()
			case k < 66:
				d := time.Duration(1+r.IntN(15)) * time.Second
				sim.Logf("op %d: clock +%s", i, d)
				sim.RunFor(d)
			case k < 86:
				key := testRows[r.IntN(len(testRows))]
				sim.Logf("op %d: ReadRow(%q)", i, key)
				got, ok := s.ReadRow(key)
				want := m.read(key, now)
				match := sameRow(got, want) && ok
				if len(want.Cells) == 0 {
					match = !ok && len(got.Cells) == 0
				}
				sim.Check(t, match, "reads match the reference model",
					"op %d: ReadRow(%q) with %d tables\n  got  %s (found=%v)\n  want %s", i, key, s.Tables(), showRow(got), ok, showRow(want))
			default:
				a, b := testRows[r.IntN(len(testRows))], testRows[r.IntN(len(testRows))]
				if a > b {
					a, b = b, a
				}
				if r.IntN(4) == 0 {
					b = ""
				}
				sim.Logf("op %d: Scan(%q, %q)", i, a, b)
				got, want := s.Scan(a, b), m.scan(a, b, now)
				sim.Check(t, sameRows(got, want), "scans match the reference model",
					"op %d: Scan(%q, %q) with %d tables\n  got:%s\n  want:%s", i, a, b, s.Tables(), showRows(got), showRows(want))
			}
		}
		got, want := s.Scan("", ""), m.scan("", "", sim.Now())
		sim.Check(t, sameRows(got, want), "scans match the reference model", "final full scan\n  got:%s\n  want:%s", showRows(got), showRows(want))
	})
}

func TestGCMaxVersions(t *testing.T) {
	sim := labkit.NewSim(labkit.Seed(t))
	s := open(t, sim, cf.FamilySpec{Name: "f", MaxVersions: 2}, cf.FamilySpec{Name: "g"})
	// Versions arrive out of timestamp order and across flushes.
	for i, ts := range []int64{30, 10, 50, 20, 40} {
		mustApply(t, sim, s, cf.NewMutation("r").Set("f", "q", ts, fmt.Sprintf("v%d", ts)).Set("g", "q", ts, "g"))
		if i%2 == 1 {
			s.Flush()
		}
	}
	const prop = "MaxVersions keeps only the newest versions of each column"
	want := []cf.Cell{cell("f", "q", 50, "v50"), cell("f", "q", 40, "v40"),
		cell("g", "q", 50, "g"), cell("g", "q", 40, "g"), cell("g", "q", 30, "g"), cell("g", "q", 20, "g"), cell("g", "q", 10, "g")}
	expectRow(t, sim, s, prop, "r", want...)
	s.Compact()
	expectRow(t, sim, s, prop+" (after Compact)", "r", want...)
	sim.Check(t, s.Stored() == 7, "Compact drops versions the GC policy removes", "Stored() = %d after Compact, want 7 (2 in f, 5 in g)", s.Stored())
	// An older version written later still ranks by timestamp.
	mustApply(t, sim, s, cf.NewMutation("r").Set("f", "q", 45, "v45"))
	expectRow(t, sim, s, prop, "r", append([]cf.Cell{cell("f", "q", 50, "v50"), cell("f", "q", 45, "v45")}, want[2:]...)...)

	// MaxVersions 1 keeps only the newest version of each column.
	one := open(t, sim, cf.FamilySpec{Name: "one", MaxVersions: 1})
	mustApply(t, sim, one, cf.NewMutation("r").Set("one", "a", 20, "a20").Set("one", "a", 30, "a30").Set("one", "b", 5, "b5"))
	one.Flush()
	mustApply(t, sim, one, cf.NewMutation("r").Set("one", "a", 10, "a10").Set("one", "b", 6, "b6"))
	expectRow(t, sim, one, prop+" (MaxVersions 1)", "r", cell("one", "a", 30, "a30"), cell("one", "b", 6, "b6"))
}

func TestGCMaxAge(t *testing.T) {
	sim := labkit.NewSim(labkit.Seed(t))
	sim.RunFor(time.Hour)
	s := open(t, sim, cf.FamilySpec{Name: "f", MaxAge: 10 * time.Second})
	now := sim.Now()
	at := func(ago time.Duration) int64 { return now.Add(-ago).UnixMicro() }
	mustApply(t, sim, s, cf.NewMutation("r").
		Set("f", "q", at(5*time.Second), "5s").
		Set("f", "q", at(10*time.Second), "10s").
		Set("f", "q", at(10*time.Second+time.Microsecond), "10s+1us"))
	const prop = "MaxAge hides versions older than MaxAge (exactly MaxAge old is kept)"
	expectRow(t, sim, s, prop, "r", cell("f", "q", at(5*time.Second), "5s"), cell("f", "q", at(10*time.Second), "10s"))
	s.Flush()
	sim.RunFor(5 * time.Second)
	expectRow(t, sim, s, prop+" (5s later)", "r", cell("f", "q", at(5*time.Second), "5s"))
	sim.RunFor(time.Microsecond)
	expectRow(t, sim, s, prop+" (5s+1us later)", "r")
	s.Compact()
	sim.Check(t, s.Stored() == 0, "Compact drops versions the GC policy removes", "Stored() = %d after every version expired, want 0", s.Stored())
	sim.Check(t, s.Tables() == 0, "Compact of an empty store leaves no table", "Tables() = %d", s.Tables())

	// Any MaxAge above 0 counts, even 1ns: a version older than now minus
	// 1ns, rounded down to the microsecond, is hidden.
	tiny := open(t, sim, cf.FamilySpec{Name: "f", MaxAge: time.Nanosecond})
	nowUs := sim.Now().UnixMicro()
	mustApply(t, sim, tiny, cf.NewMutation("r").Set("f", "now", nowUs, "now").Set("f", "old", nowUs-5, "old"))
	expectRow(t, sim, tiny, "MaxAge hides versions older than MaxAge, however short", "r", cell("f", "now", nowUs, "now"))
}

func TestTombstonesAcrossFlushes(t *testing.T) {
	sim := labkit.NewSim(labkit.Seed(t))
	s := open(t, sim, cf.FamilySpec{Name: "f"}, cf.FamilySpec{Name: "g"})
	mustApply(t, sim, s, cf.NewMutation("r").Set("f", "a", 100, "fa").Set("f", "b", 100, "fb").Set("g", "a", 100, "ga"))
	mustApply(t, sim, s, cf.NewMutation("s").Set("f", "a", 100, "s"))
	s.Flush()
	mustApply(t, sim, s, cf.NewMutation("r").DeleteColumn("f", "a"))
	s.Flush()
	const prop = "a delete hides the versions written before it, in every table"
	expectRow(t, sim, s, prop+" (DeleteColumn)", "r", cell("f", "b", 100, "fb"), cell("g", "a", 100, "ga"))
	// A write after the delete is visible, even with an older timestamp.
	mustApply(t, sim, s, cf.NewMutation("r").Set("f", "a", 50, "again"))
	expectRow(t, sim, s, "a write after a delete is visible whatever its timestamp", "r",
		cell("f", "a", 50, "again"), cell("f", "b", 100, "fb"), cell("g", "a", 100, "ga"))
	s.Flush()
	mustApply(t, sim, s, cf.NewMutation("r").DeleteFamily("f"))
	expectRow(t, sim, s, prop+" (DeleteFamily)", "r", cell("g", "a", 100, "ga"))
	s.Flush()
	mustApply(t, sim, s, cf.NewMutation("r").DeleteRow())
	s.Flush()
	expectRow(t, sim, s, prop+" (DeleteRow)", "r")
	expectRow(t, sim, s, "a delete touches only its own row", "s", cell("f", "a", 100, "s"))
	s.Compact()
	expectRow(t, sim, s, prop+" (after Compact)", "r")
	sim.Check(t, s.Stored() == 1, "Compact drops tombstones and the data they shadow", "Stored() = %d after Compact, want 1 (row s)", s.Stored())
	mustApply(t, sim, s, cf.NewMutation("r").Set("f", "a", 1, "new"))
	expectRow(t, sim, s, "a write after a compacted delete is visible", "r", cell("f", "a", 1, "new"))
}

func TestSameTimestampLatestWriteWins(t *testing.T) {
	sim := labkit.NewSim(labkit.Seed(t))
	s := open(t, sim, cf.FamilySpec{Name: "f", MaxVersions: 1})
	const prop = "writing an existing (family, qualifier, timestamp) replaces its value"
	mustApply(t, sim, s, cf.NewMutation("r").Set("f", "q", 7, "first"))
	mustApply(t, sim, s, cf.NewMutation("r").Set("f", "q", 7, "second"))
	expectRow(t, sim, s, prop+" (in the memtable)", "r", cell("f", "q", 7, "second"))
	s.Flush()
	mustApply(t, sim, s, cf.NewMutation("r").Set("f", "q", 7, "third"))
	s.Flush()
	expectRow(t, sim, s, prop+" (newer table wins)", "r", cell("f", "q", 7, "third"))
	mustApply(t, sim, s, cf.NewMutation("r").Set("f", "q", 7, "fourth"))
	expectRow(t, sim, s, prop+" (memtable wins over tables)", "r", cell("f", "q", 7, "fourth"))
	s.Compact()
	expectRow(t, sim, s, prop+" (after Compact)", "r", cell("f", "q", 7, "fourth"))
	sim.Check(t, s.Stored() == 1, "Compact drops overwritten versions", "Stored() = %d, want 1", s.Stored())
}

func TestScanAcrossTables(t *testing.T) {
	sim := labkit.NewSim(labkit.Seed(t))
	s := open(t, sim, cf.FamilySpec{Name: "f"})
	keys := []string{"m", "a", "x", "b2", "b10", "b1", "c", "ab"}
	for i, k := range keys {
		mustApply(t, sim, s, cf.NewMutation(k).Set("f", "q", int64(i+1), k))
		if i%3 == 2 {
			s.Flush()
		}
	}
	mustApply(t, sim, s, cf.NewMutation("c").DeleteRow()) // c lives in a table
	row := func(k string) cf.Row {
		for i, kk := range keys {
			if kk == k {
				return cf.Row{Key: k, Cells: []cf.Cell{cell("f", "q", int64(i+1), k)}}
			}
		}
		return cf.Row{}
	}
	cases := []struct {
		start, end string
		want       []string
	}{
		{"", "", []string{"a", "ab", "b1", "b10", "b2", "m", "x"}},
		{"ab", "b2", []string{"ab", "b1", "b10"}},
		{"b", "c", []string{"b1", "b10", "b2"}},
		{"b10", "", []string{"b10", "b2", "m", "x"}},
		{"c", "m", nil},
		{"n", "x", nil},
		{"n", "x\x00", []string{"x"}},
		{"m", "m", nil}, // an empty range
		{"x", "b", nil}, // start after end: no rows
		{"zz", "", nil}, // past every key, no upper bound
		{"", "a\x00", []string{"a"}},
	}
	for _, c := range cases {
		var want []cf.Row
		for _, k := range c.want {
			want = append(want, row(k))
		}
		got := s.Scan(c.start, c.end)
		sim.Check(t, sameRows(got, want), "Scan returns the rows in [start, end) with visible cells, in key order, across every table",
			"Scan(%q, %q) with %d tables\n  got:%s\n  want:%s", c.start, c.end, s.Tables(), showRows(got), showRows(want))
	}
}

func TestMutationsAreAtomic(t *testing.T) {
	sim := labkit.NewSim(labkit.Seed(t))
	s := open(t, sim, cf.FamilySpec{Name: "f"})
	mustApply(t, sim, s, cf.NewMutation("r").Set("f", "q", 1, "kept"))
	bad := cf.NewMutation("r").Set("f", "q", 2, "half").DeleteColumn("f", "q").Set("nope", "q", 3, "x")
	err := s.Apply(bad)
	sim.Check(t, errors.Is(err, cf.ErrUnknownFamily), "a mutation naming an unknown family is refused with ErrUnknownFamily", "Apply returned %v", err)
	expectRow(t, sim, s, "a refused mutation applies nothing", "r", cell("f", "q", 1, "kept"))
	err = s.Apply(cf.NewMutation("").Set("f", "q", 1, "x"))
	sim.Check(t, errors.Is(err, cf.ErrInvalidMutation), "a mutation with an empty row key is refused with ErrInvalidMutation", "Apply returned %v", err)
	// An operation of no known kind (the four are 1 to 4) is refused too.
	for _, kind := range []cf.OpKind{0, 5} {
		odd := &cf.Mutation{Row: "r", Ops: []cf.Op{{Kind: cf.SetCell, Family: "f", Qualifier: "q", Timestamp: 9, Value: "odd"}, {Kind: kind, Family: "f"}}}
		err = s.Apply(odd)
		sim.Check(t, errors.Is(err, cf.ErrInvalidMutation), "a mutation with an operation of no known kind is refused with ErrInvalidMutation",
			"Apply of a set and an operation of kind %d returned %v", kind, err)
		expectRow(t, sim, s, "a refused mutation applies nothing", "r", cell("f", "q", 1, "kept"))
	}
	// Operations apply in order: a set after a delete survives it, one before does not.
	mustApply(t, sim, s, cf.NewMutation("r").DeleteRow().Set("f", "a", 5, "after"))
	mustApply(t, sim, s, cf.NewMutation("t").Set("f", "a", 5, "before").DeleteColumn("f", "a"))
	expectRow(t, sim, s, "a mutation's operations apply in order", "r", cell("f", "a", 5, "after"))
	expectRow(t, sim, s, "a mutation's operations apply in order", "t")
}

func TestCompactPreservesReads(t *testing.T) {
	labkit.RunSeeds(t, 6, func(t *testing.T, seed int64) {
		sim := labkit.NewSim(seed)
		sim.RunFor(time.Hour)
		s := open(t, sim, testFamilies...)
		r := sim.Rand()
		for i := 0; i < 150; i++ {
			mu, bad := randomMutation(r, sim.Now(), i)
			if bad {
				continue
			}
			sim.Logf("op %d: %s", i, showMutation(mu))
			mustApply(t, sim, s, mu)
			if r.IntN(10) == 0 {
				sim.Logf("op %d: Flush()", i)
				s.Flush()
			}
			if r.IntN(8) == 0 {
				sim.RunFor(time.Duration(r.IntN(10)) * time.Second)
			}
		}
		before := s.Scan("", "")
		s.Compact()
		after := s.Scan("", "")
		sim.Check(t, sameRows(after, before), "Compact does not change what reads return",
			"full scan before Compact:%s\nafter:%s", showRows(before), showRows(after))
		sim.Check(t, s.Tables() <= 1, "Compact merges every table into one", "Tables() = %d after Compact", s.Tables())
		sim.Check(t, s.Stored() == visible(after), "after Compact the store holds exactly the visible cells",
			"Stored() = %d, visible cells = %d", s.Stored(), visible(after))
	})
}

func TestFlushMakesImmutableTables(t *testing.T) {
	sim := labkit.NewSim(labkit.Seed(t))
	s := open(t, sim, cf.FamilySpec{Name: "f"})
	s.Flush()
	sim.Check(t, s.Tables() == 0, "flushing an empty memtable makes no table", "Tables() = %d", s.Tables())
	for i := 1; i <= 3; i++ {
		mustApply(t, sim, s, cf.NewMutation(fmt.Sprintf("r%d", i)).Set("f", "q", 1, "v"))
		s.Flush()
		sim.Check(t, s.Tables() == i, "each Flush of a non-empty memtable adds one table", "Tables() = %d after %d flushes", s.Tables(), i)
	}
	s.Flush()
	sim.Check(t, s.Tables() == 3, "flushing an empty memtable makes no table", "Tables() = %d", s.Tables())
	mustApply(t, sim, s, cf.NewMutation("r1").DeleteRow())
	s.Compact()
	sim.Check(t, s.Tables() == 1 && s.Stored() == 2, "Compact merges every table into one holding the visible cells",
		"Tables() = %d, Stored() = %d, want 1 and 2", s.Tables(), s.Stored())
	expectRow(t, sim, s, "Compact does not change what reads return", "r2", cell("f", "q", 1, "v"))
}

func TestOpenValidatesFamilies(t *testing.T) {
	sim := labkit.NewSim(labkit.Seed(t))
	_, err := cf.Open(cf.Options{Families: []cf.FamilySpec{{Name: "f"}, {Name: "f"}}})
	sim.Check(t, err != nil, "Open refuses a family declared twice", "Open returned nil error")
	_, err = cf.Open(cf.Options{Families: []cf.FamilySpec{{Name: ""}}})
	sim.Check(t, err != nil, "Open refuses an empty family name", "Open returned nil error")
	_, err = cf.Open(cf.Options{Families: []cf.FamilySpec{{Name: "f", MaxVersions: -1}}})
	sim.Check(t, err != nil, "Open refuses a negative GC limit", "Open returned nil error")
	_, err = cf.Open(cf.Options{Families: []cf.FamilySpec{{Name: "f", MaxAge: -time.Second}}})
	sim.Check(t, err != nil, "Open refuses a negative GC limit", "Open with MaxAge -1s returned nil error")
	// A nil Now means time.Now: ages are measured against the real clock.
	s, err := cf.Open(cf.Options{Families: []cf.FamilySpec{{Name: "f", MaxAge: time.Hour}}})
	sim.Check(t, err == nil, "Open accepts valid families", "Open returned %v", err)
	now := time.Now().UnixMicro()
	mustApply(t, sim, s, cf.NewMutation("r").Set("f", "fresh", now, "a").Set("f", "old", now-2*time.Hour.Microseconds(), "b"))
	expectRow(t, sim, s, "a nil Now means time.Now: MaxAge is measured against the real clock", "r", cell("f", "fresh", now, "a"))
}
