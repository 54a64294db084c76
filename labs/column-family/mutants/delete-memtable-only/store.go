// Package columnfamily is a small Bigtable-style store: sorted rows, column
// families with garbage-collection policies, timestamped versions, and a
// log-structured layout of one memtable plus immutable sorted tables.
package columnfamily

import (
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"
)

// ErrUnknownFamily is returned by Apply when a mutation names a column family
// the store was not opened with.
var ErrUnknownFamily = errors.New("columnfamily: unknown column family")

// ErrInvalidMutation is returned by Apply for a mutation with an empty row key.
var ErrInvalidMutation = errors.New("columnfamily: invalid mutation")

// FamilySpec declares a column family and its garbage-collection policy.
type FamilySpec struct {
	Name        string
	MaxVersions int           // keep the newest MaxVersions versions per column; 0 means no limit
	MaxAge      time.Duration // drop versions older than MaxAge; 0 means no limit
}

// Options configure a store.
type Options struct {
	Families []FamilySpec
	Now      func() time.Time // the clock MaxAge is measured against; nil means time.Now
}

// Cell is one version of one column of a row.
type Cell struct {
	Family    string
	Qualifier string
	Timestamp int64 // microseconds since the Unix epoch
	Value     string
}

// Row is what a read returns: the row key and its visible cells sorted by
// family, then qualifier (both ascending), then timestamp (newest first).
type Row struct {
	Key   string
	Cells []Cell
}

// OpKind says what one operation of a mutation does.
type OpKind int

const (
	SetCell      OpKind = iota + 1 // write Value at (Family, Qualifier, Timestamp)
	DeleteColumn                   // delete every version of (Family, Qualifier)
	DeleteFamily                   // delete every column of Family
	DeleteRow                      // delete every cell of the row
)

// Op is one operation of a mutation.
type Op struct {
	Kind      OpKind
	Family    string
	Qualifier string
	Timestamp int64
	Value     string
}

// Mutation is a list of operations on one row, applied atomically and in order.
type Mutation struct {
	Row string
	Ops []Op
}

// NewMutation starts a mutation of row.
func NewMutation(row string) *Mutation { return &Mutation{Row: row} }

// Set adds a SetCell operation.
func (m *Mutation) Set(family, qualifier string, ts int64, value string) *Mutation {
	m.Ops = append(m.Ops, Op{Kind: SetCell, Family: family, Qualifier: qualifier, Timestamp: ts, Value: value})
	return m
}

// DeleteColumn adds a DeleteColumn operation.
func (m *Mutation) DeleteColumn(family, qualifier string) *Mutation {
	m.Ops = append(m.Ops, Op{Kind: DeleteColumn, Family: family, Qualifier: qualifier})
	return m
}

// DeleteFamily adds a DeleteFamily operation.
func (m *Mutation) DeleteFamily(family string) *Mutation {
	m.Ops = append(m.Ops, Op{Kind: DeleteFamily, Family: family})
	return m
}

// DeleteRow adds a DeleteRow operation.
func (m *Mutation) DeleteRow() *Mutation {
	m.Ops = append(m.Ops, Op{Kind: DeleteRow})
	return m
}

// entry is one stored record: a cell version or a tombstone. seq orders every
// record by when it was written; a tombstone shadows records of its scope
// with a smaller seq.
type entry struct {
	row, family, qualifier string
	ts                     int64
	seq                    uint64
	kind                   OpKind
	value                  string
}

// less orders entries as tables store them: by row, family, qualifier,
// timestamp (newest first), then seq (newest first).
func less(a, b entry) bool {
	if a.row != b.row {
		return a.row < b.row
	}
	if a.family != b.family {
		return a.family < b.family
	}
	if a.qualifier != b.qualifier {
		return a.qualifier < b.qualifier
	}
	if a.ts != b.ts {
		return a.ts > b.ts
	}
	return a.seq > b.seq
}

// table is an immutable sorted run of entries.
type table []entry

// rows returns the entries of rows in [start, end) ("" end: no bound).
func (t table) rows(start, end string) []entry {
	i := sort.Search(len(t), func(i int) bool { return t[i].row >= start })
	j := len(t)
	if end != "" {
		j = sort.Search(len(t), func(i int) bool { return t[i].row >= end })
	}
	if j < i {
		return nil
	}
	return t[i:j]
}

// Store is a column-family store. It is safe for concurrent use.
type Store struct {
	mu       sync.Mutex
	families map[string]FamilySpec
	now      func() time.Time
	seq      uint64
	memtable []entry
	tables   []table // oldest first
}

// Open returns an empty store with the given families.
func Open(opts Options) (*Store, error) {
	s := &Store{families: map[string]FamilySpec{}, now: opts.Now}
	if s.now == nil {
		s.now = time.Now
	}
	for _, f := range opts.Families {
		if f.Name == "" {
			return nil, fmt.Errorf("columnfamily: open: a family has an empty name")
		}
		if _, dup := s.families[f.Name]; dup {
			return nil, fmt.Errorf("columnfamily: open: family %q declared twice", f.Name)
		}
		if f.MaxVersions < 0 || f.MaxAge < 0 {
			return nil, fmt.Errorf("columnfamily: open: family %q has a negative GC limit", f.Name)
		}
		s.families[f.Name] = f
	}
	return s, nil
}

// Apply applies every operation of m in order, or none of them.
func (s *Store) Apply(m *Mutation) error {
	if m == nil || m.Row == "" {
		return ErrInvalidMutation
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, op := range m.Ops {
		switch op.Kind {
		case SetCell, DeleteColumn, DeleteFamily:
			if _, ok := s.families[op.Family]; !ok {
				return fmt.Errorf("%w %q", ErrUnknownFamily, op.Family)
			}
		case DeleteRow:
		default:
			return fmt.Errorf("%w: operation kind %d", ErrInvalidMutation, op.Kind)
		}
	}
	for _, op := range m.Ops {
		s.seq++
		e := entry{row: m.Row, family: op.Family, qualifier: op.Qualifier, seq: s.seq, kind: op.Kind}
		switch op.Kind {
		case SetCell:
			e.ts, e.value = op.Timestamp, op.Value
		case DeleteFamily:
			e.qualifier = ""
		case DeleteRow:
			e.family, e.qualifier = "", ""
		}
		if op.Kind == SetCell {
			s.memtable = append(s.memtable, e)
			continue
		}
		kept := s.memtable[:0]
		for _, old := range s.memtable {
			if old.row == m.Row && (op.Kind == DeleteRow || old.family == op.Family && (op.Kind == DeleteFamily || old.qualifier == op.Qualifier)) {
				continue
			}
			kept = append(kept, old)
		}
		s.memtable = kept
	}
	return nil
}

// Flush turns the memtable into a new immutable table. An empty memtable
// makes no table.
func (s *Store) Flush() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.flushLocked()
}

func (s *Store) flushLocked() {
	if len(s.memtable) == 0 {
		return
	}
	t := table(slices.Clone(s.memtable))
	slices.SortFunc(t, func(a, b entry) int {
		if less(a, b) {
			return -1
		}
		if less(b, a) {
			return 1
		}
		return 0
	})
	s.tables = append(s.tables, t)
	s.memtable = nil
}

// Tables returns how many immutable tables the store holds.
func (s *Store) Tables() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.tables)
}

// Stored returns how many records (cell versions and tombstones) the memtable
// and the tables hold together.
func (s *Store) Stored() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := len(s.memtable)
	for _, t := range s.tables {
		n += len(t)
	}
	return n
}

// gather returns every record of the rows in [start, end), grouped by row in
// key order.
func (s *Store) gather(start, end string) map[string][]entry {
	byRow := map[string][]entry{}
	for _, t := range s.tables {
		for _, e := range t.rows(start, end) {
			byRow[e.row] = append(byRow[e.row], e)
		}
	}
	for _, e := range s.memtable {
		if e.row >= start && (end == "" || e.row < end) {
			byRow[e.row] = append(byRow[e.row], e)
		}
	}
	return byRow
}

// resolve merges the records of one row into its visible cells.
func (s *Store) resolve(key string, records []entry, now time.Time) Row {
	var rowDel uint64
	famDel := map[string]uint64{}
	colDel := map[[2]string]uint64{}
	for _, e := range records {
		switch e.kind {
		case DeleteRow:
			rowDel = max(rowDel, e.seq)
		case DeleteFamily:
			famDel[e.family] = max(famDel[e.family], e.seq)
		case DeleteColumn:
			k := [2]string{e.family, e.qualifier}
			colDel[k] = max(colDel[k], e.seq)
		}
	}
	// Newest write of each (family, qualifier, timestamp) that no tombstone shadows.
	type version struct {
		family, qualifier string
		ts                int64
	}
	live := map[version]entry{}
	for _, e := range records {
		if e.kind != SetCell {
			continue
		}
		if e.seq <= rowDel || e.seq <= famDel[e.family] || e.seq <= colDel[[2]string{e.family, e.qualifier}] {
			continue
		}
		v := version{e.family, e.qualifier, e.ts}
		if old, ok := live[v]; !ok || e.seq > old.seq {
			live[v] = e
		}
	}
	cells := make([]entry, 0, len(live))
	for _, e := range live {
		cells = append(cells, e)
	}
	slices.SortFunc(cells, func(a, b entry) int {
		if less(a, b) {
			return -1
		}
		return 1
	})
	row := Row{Key: key}
	count := 0
	for i, e := range cells {
		if i == 0 || e.family != cells[i-1].family || e.qualifier != cells[i-1].qualifier {
			count = 0
		}
		count++
		f := s.families[e.family]
		if f.MaxVersions > 0 && count > f.MaxVersions {
			continue
		}
		if f.MaxAge > 0 && e.ts < now.Add(-f.MaxAge).UnixMicro() {
			continue
		}
		row.Cells = append(row.Cells, Cell{Family: e.family, Qualifier: e.qualifier, Timestamp: e.ts, Value: e.value})
	}
	return row
}

// ReadRow returns the visible cells of one row; false when it has none.
func (s *Store) ReadRow(key string) (Row, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var records []entry
	for _, t := range s.tables {
		records = append(records, t.rows(key, key+"\x00")...)
	}
	for _, e := range s.memtable {
		if e.row == key {
			records = append(records, e)
		}
	}
	row := s.resolve(key, records, s.now())
	return row, len(row.Cells) > 0
}

// Scan returns the rows with visible cells whose keys are in [start, end), in
// key order. An empty end means no upper bound.
func (s *Store) Scan(start, end string) []Row {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	byRow := s.gather(start, end)
	keys := make([]string, 0, len(byRow))
	for k := range byRow {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, strings.Compare)
	var out []Row
	for _, k := range keys {
		if r := s.resolve(k, byRow[k], now); len(r.Cells) > 0 {
			out = append(out, r)
		}
	}
	return out
}

// Compact flushes the memtable, then merges every table into one that holds
// exactly the visible cells: shadowed versions, tombstones and versions the
// GC policies remove are dropped. Reads return the same before and after.
func (s *Store) Compact() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.flushLocked()
	now := s.now()
	byRow := s.gather("", "")
	var merged table
	for k, records := range byRow {
		r := s.resolve(k, records, now)
		for _, c := range r.Cells {
			// Keep the newest seq among the records of this version so order is preserved.
			var seq uint64
			for _, e := range records {
				if e.kind == SetCell && e.family == c.Family && e.qualifier == c.Qualifier && e.ts == c.Timestamp && e.seq > seq {
					seq = e.seq
				}
			}
			merged = append(merged, entry{row: k, family: c.Family, qualifier: c.Qualifier, ts: c.Timestamp, seq: seq, kind: SetCell, value: c.Value})
		}
	}
	slices.SortFunc(merged, func(a, b entry) int {
		if less(a, b) {
			return -1
		}
		return 1
	})
	s.tables = nil
	if len(merged) > 0 {
		s.tables = []table{merged}
	}
}
