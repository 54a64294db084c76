// Package columnfamily is a small Bigtable-style store: sorted rows, column
// families with garbage-collection policies, timestamped versions, and a
// log-structured layout of one memtable plus immutable sorted tables.
//
// Keep every exported name and signature as it is; fill in the TODOs. The
// types above Store (Cell, Row, Mutation, ...) are complete.
package columnfamily

import (
	"errors"
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

// Store is a column-family store. It is safe for concurrent use.
type Store struct {
	mu  sync.Mutex
	now func() time.Time
	// TODO: the declared families, a memtable of records (cell versions and
	// tombstones) and the immutable sorted tables, oldest first.
}

// Open returns an empty store with the given families. It refuses an empty
// family name, a name declared twice and negative GC limits.
func Open(opts Options) (*Store, error) {
	s := &Store{now: opts.Now}
	if s.now == nil {
		s.now = time.Now
	}
	// TODO: validate and remember opts.Families.
	return s, nil
}

// Apply applies every operation of m in order, or none of them.
func (s *Store) Apply(m *Mutation) error {
	// TODO: validate first (empty row → ErrInvalidMutation, unknown family →
	// ErrUnknownFamily), then add one record per operation to the memtable.
	return errors.New("columnfamily: Apply is not implemented yet")
}

// Flush turns the memtable into a new immutable table. An empty memtable
// makes no table.
func (s *Store) Flush() {
	// TODO
}

// Tables returns how many immutable tables the store holds.
func (s *Store) Tables() int {
	// TODO
	return 0
}

// Stored returns how many records (cell versions and tombstones) the memtable
// and the tables hold together.
func (s *Store) Stored() int {
	// TODO
	return 0
}

// ReadRow returns the visible cells of one row; false when it has none.
func (s *Store) ReadRow(key string) (Row, bool) {
	// TODO: merge the row's records from every table and the memtable.
	return Row{Key: key}, false
}

// Scan returns the rows with visible cells whose keys are in [start, end), in
// key order. An empty end means no upper bound.
func (s *Store) Scan(start, end string) []Row {
	// TODO
	return nil
}

// Compact flushes the memtable, then merges every table into one that holds
// exactly the visible cells: shadowed versions, tombstones and versions the
// GC policies remove are dropped. Reads return the same before and after.
func (s *Store) Compact() {
	// TODO
}
