package hidden

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"time"

	cf "faultline.dev/labs/columnfamily"
)

// model is the reference: a plain map of every version ever written, with
// deletes applied at once and the GC policies applied when reading.
type model struct {
	families map[string]cf.FamilySpec
	rows     map[string]map[version]string
}

type version struct {
	family, qualifier string
	ts                int64
}

func newModel(fams []cf.FamilySpec) *model {
	m := &model{families: map[string]cf.FamilySpec{}, rows: map[string]map[version]string{}}
	for _, f := range fams {
		m.families[f.Name] = f
	}
	return m
}

func (m *model) apply(mu *cf.Mutation) error {
	if mu.Row == "" {
		return cf.ErrInvalidMutation
	}
	for _, op := range mu.Ops {
		if op.Kind != cf.DeleteRow {
			if _, ok := m.families[op.Family]; !ok {
				return cf.ErrUnknownFamily
			}
		}
	}
	for _, op := range mu.Ops {
		cells := m.rows[mu.Row]
		switch op.Kind {
		case cf.SetCell:
			if cells == nil {
				cells = map[version]string{}
				m.rows[mu.Row] = cells
			}
			cells[version{op.Family, op.Qualifier, op.Timestamp}] = op.Value
		case cf.DeleteColumn:
			for v := range cells {
				if v.family == op.Family && v.qualifier == op.Qualifier {
					delete(cells, v)
				}
			}
		case cf.DeleteFamily:
			for v := range cells {
				if v.family == op.Family {
					delete(cells, v)
				}
			}
		case cf.DeleteRow:
			delete(m.rows, mu.Row)
		}
	}
	return nil
}

func (m *model) read(key string, now time.Time) cf.Row {
	row := cf.Row{Key: key}
	var vs []version
	for v := range m.rows[key] {
		vs = append(vs, v)
	}
	slices.SortFunc(vs, func(a, b version) int {
		if c := strings.Compare(a.family, b.family); c != 0 {
			return c
		}
		if c := strings.Compare(a.qualifier, b.qualifier); c != 0 {
			return c
		}
		switch {
		case a.ts > b.ts:
			return -1
		case a.ts < b.ts:
			return 1
		}
		return 0
	})
	n := 0
	for i, v := range vs {
		if i == 0 || v.family != vs[i-1].family || v.qualifier != vs[i-1].qualifier {
			n = 0
		}
		n++
		f := m.families[v.family]
		if f.MaxVersions > 0 && n > f.MaxVersions {
			continue
		}
		if f.MaxAge > 0 && v.ts < now.Add(-f.MaxAge).UnixMicro() {
			continue
		}
		row.Cells = append(row.Cells, cf.Cell{Family: v.family, Qualifier: v.qualifier, Timestamp: v.ts, Value: m.rows[key][v]})
	}
	return row
}

func (m *model) scan(start, end string, now time.Time) []cf.Row {
	var keys []string
	for k := range m.rows {
		if k >= start && (end == "" || k < end) {
			keys = append(keys, k)
		}
	}
	slices.Sort(keys)
	var out []cf.Row
	for _, k := range keys {
		if r := m.read(k, now); len(r.Cells) > 0 {
			out = append(out, r)
		}
	}
	return out
}

// visible counts the cells a full scan returns.
func visible(rows []cf.Row) int {
	n := 0
	for _, r := range rows {
		n += len(r.Cells)
	}
	return n
}

func sameRow(a, b cf.Row) bool {
	return a.Key == b.Key && slices.Equal(a.Cells, b.Cells)
}

func sameRows(a, b []cf.Row) bool {
	return slices.EqualFunc(a, b, sameRow)
}

func showRow(r cf.Row) string {
	if len(r.Cells) == 0 {
		return fmt.Sprintf("%q: (no cells)", r.Key)
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%q:", r.Key)
	for _, c := range r.Cells {
		fmt.Fprintf(&b, " %s:%s@%d=%q", c.Family, c.Qualifier, c.Timestamp, c.Value)
	}
	return b.String()
}

func showRows(rows []cf.Row) string {
	if len(rows) == 0 {
		return "\n      (no rows)"
	}
	var b strings.Builder
	for _, r := range rows {
		b.WriteString("\n      " + showRow(r))
	}
	return b.String()
}

func showMutation(m *cf.Mutation) string {
	var parts []string
	for _, op := range m.Ops {
		switch op.Kind {
		case cf.SetCell:
			parts = append(parts, fmt.Sprintf("set %s:%s@%d=%q", op.Family, op.Qualifier, op.Timestamp, op.Value))
		case cf.DeleteColumn:
			parts = append(parts, fmt.Sprintf("delete column %s:%s", op.Family, op.Qualifier))
		case cf.DeleteFamily:
			parts = append(parts, fmt.Sprintf("delete family %s", op.Family))
		case cf.DeleteRow:
			parts = append(parts, "delete row")
		}
	}
	return fmt.Sprintf("Apply(row %q: %s)", m.Row, strings.Join(parts, ", "))
}

// families used by the random scenarios: one per kind of GC policy.
var testFamilies = []cf.FamilySpec{
	{Name: "ver", MaxVersions: 2},
	{Name: "age", MaxAge: 30 * time.Second},
	{Name: "both", MaxVersions: 3, MaxAge: time.Minute},
	{Name: "all"},
}

var testRows = []string{"a", "ab", "b", "b0", "ba", "c", "row-1", "row-10", "row-2", "z"}

// randomMutation builds a mutation over a small key space so versions,
// overwrites and deletes collide often. bad says whether it names an
// unknown family.
func randomMutation(r *rand.Rand, now time.Time, n int) (m *cf.Mutation, bad bool) {
	m = cf.NewMutation(testRows[r.IntN(len(testRows))])
	ops := 1 + r.IntN(4)
	for i := 0; i < ops; i++ {
		k := r.IntN(100)
		fam := testFamilies[r.IntN(len(testFamilies))].Name
		if k < 96 && r.IntN(40) == 0 {
			fam, bad = "nope", true
		}
		qual := []string{"q", "r", ""}[r.IntN(3)]
		switch {
		case k < 75:
			ts := now.Add(-time.Duration(r.IntN(50)) * time.Second).UnixMicro()
			m.Set(fam, qual, ts, fmt.Sprintf("v%d.%d", n, i))
		case k < 88:
			m.DeleteColumn(fam, qual)
		case k < 96:
			m.DeleteFamily(fam)
		default:
			m.DeleteRow()
		}
	}
	return m, bad
}
