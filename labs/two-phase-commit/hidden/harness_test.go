package hidden

import (
	"fmt"
	"strings"
	"time"

	"faultline.dev/labkit"
	tpc "faultline.dev/labs/twophasecommit"
)

// coord is the coordinator's node name in every test.
const coord = "coordinator"

// The timing every test uses unless it says otherwise.
const (
	voteTimeout = 100 * time.Millisecond
	retryAfter  = 50 * time.Millisecond
)

var cfg = tpc.Config{VoteTimeout: voteTimeout, RetryAfter: retryAfter}

// env adapts a labkit node environment to the lab's Env. Every message the
// node sends passes through onSend first, which may crash the node (see
// crashNow): then the message is not sent, and nothing the node does for the
// rest of that call reaches the disk or the network. Writes to the disk are
// counted in ds.
type env struct {
	e      *labkit.Env
	ds     *disks
	onSend func(to string, msg any)
}

func (a env) Name() string   { return a.e.Name() }
func (a env) Disk() tpc.Disk { return disk{a.e, a.ds} }
func (a env) After(d time.Duration, fn func()) tpc.Timer {
	return a.e.After(d, "timer", fn)
}
func (a env) Send(to string, msg any) {
	if !a.e.Alive() {
		return
	}
	if a.onSend != nil {
		a.onSend(to, msg)
	}
	a.e.Send(to, msg) // does nothing if onSend crashed the node
}

// disk is a node's disk as the node's current incarnation sees it: once the
// node has crashed, the rest of the call it was in writes nothing.
type disk struct {
	e  *labkit.Env
	ds *disks
}

func (d disk) Get(key string) ([]byte, bool) { return d.e.Disk().Get(key) }
func (d disk) Keys(prefix string) []string   { return d.e.Disk().Keys(prefix) }
func (d disk) Put(key string, value []byte) {
	if d.e.Alive() {
		d.e.Disk().Put(key, value) // a crash just before the write unwinds here
		d.ds.wrote(d.e.Name())
	}
}
func (d disk) Delete(key string) {
	if d.e.Alive() {
		d.e.Disk().Delete(key)
		d.ds.wrote(d.e.Name())
	}
}

// disks answers what a node restarted from its disk right now would report.
// It rebuilds the node from a copy of the disk once per state of the disk
// (it counts the writes), not once per question.
type disks struct {
	net     *labkit.Net
	writes  map[string]int
	rebuilt map[string]rebuilt
}

type rebuilt struct {
	writes int
	c      *tpc.Coordinator
	p      *tpc.Participant
	err    error
}

func newDisks(net *labkit.Net) *disks {
	return &disks{net: net, writes: map[string]int{}, rebuilt: map[string]rebuilt{}}
}

func (ds *disks) wrote(node string) { ds.writes[node]++ }

// coord returns what a coordinator restarted from its disk right now would
// report for transaction id.
func (ds *disks) coord(id string) tpc.State {
	r, ok := ds.rebuilt[coord]
	if !ok || r.writes != ds.writes[coord] {
		r = rebuilt{writes: ds.writes[coord], c: tpc.NewCoordinator(deadEnv{coord, snapshot(ds.net.Disk(coord))}, cfg)}
		ds.rebuilt[coord] = r
	}
	return r.c.Status(id)
}

// part returns what participant name restarted from its disk right now would
// report for transaction id.
func (ds *disks) part(name, id string) (tpc.State, error) {
	r, ok := ds.rebuilt[name]
	if !ok || r.writes != ds.writes[name] {
		var called string
		r = rebuilt{writes: ds.writes[name], p: tpc.NewParticipant(deadEnv{name, snapshot(ds.net.Disk(name))}, cfg, touchySvc{&called})}
		if called != "" {
			r.err = labkit.Violationf("NewParticipant calls no Service method", "%s, restarted from its disk, called Service.%s", name, called)
		}
		ds.rebuilt[name] = r
	}
	return r.p.Status(id), r.err
}

// deadEnv is the world of a node built on a copy of a disk only to read its
// records back: it sends nothing and its timers never fire.
type deadEnv struct {
	name string
	d    *labkit.Disk
}

type noTimer struct{}

func (noTimer) Stop() bool { return false }

func (e deadEnv) Name() string                        { return e.name }
func (deadEnv) Send(string, any)                      {}
func (deadEnv) After(time.Duration, func()) tpc.Timer { return noTimer{} }
func (e deadEnv) Disk() tpc.Disk                      { return e.d }

func snapshot(d *labkit.Disk) *labkit.Disk {
	snap := labkit.NewDisk()
	for _, k := range d.Keys("") {
		v, _ := d.Get(k)
		snap.Put(k, v)
	}
	return snap
}

// touchySvc is the service of a participant built only to read its disk: it
// records any call, which NewParticipant must not make.
type touchySvc struct{ called *string }

func (s touchySvc) Prepare(tx string) bool { *s.called = "Prepare(" + tx + ")"; return false }
func (s touchySvc) Commit(tx string)       { *s.called = "Commit(" + tx + ")" }
func (s touchySvc) Abort(tx string)        { *s.called = "Abort(" + tx + ")" }

// coordWriteAhead checks, at the moment the coordinator sends msg, that its
// log already says what the message says.
func coordWriteAhead(ds *disks, to string, msg any) error {
	switch m := msg.(type) {
	case tpc.Prepare:
		if got := ds.coord(m.Tx); got == tpc.Unknown {
			return labkit.Violationf("the coordinator logs a transaction before it sends Prepare",
				"the coordinator sent %s to %s, but a coordinator restarted from its disk at that moment does not know %s", describe(msg), to, m.Tx)
		}
	case tpc.Decision:
		got := ds.coord(m.Tx)
		if m.Commit && got != tpc.Committed {
			return labkit.Violationf("the coordinator logs a commit before it sends it",
				"the coordinator sent %s to %s, but a coordinator restarted from its disk at that moment reports %s as %s",
				describe(msg), to, m.Tx, got)
		}
		if !m.Commit && got == tpc.Committed {
			return labkit.Violationf("a decision is final",
				"the coordinator sent %s to %s, but its log holds the commit of %s", describe(msg), to, m.Tx)
		}
	case tpc.Vote, tpc.Query:
		return labkit.Violationf("the coordinator sends only Prepare and Decision", "it sent %s to %s", describe(msg), to)
	}
	return nil
}

// partWriteAhead checks, at the moment participant name sends msg, that its
// disk already says what the message says.
func partWriteAhead(ds *disks, name, to string, msg any) error {
	switch m := msg.(type) {
	case tpc.Vote:
		got, err := ds.part(name, m.Tx)
		if err != nil {
			return err
		}
		if m.Yes && got == tpc.Unknown {
			return labkit.Violationf("a participant logs its yes vote before it sends it",
				"%s sent %s to %s, but a participant restarted from its disk at that moment has no record of %s", name, describe(msg), to, m.Tx)
		}
		if !m.Yes && got != tpc.Aborted {
			return labkit.Violationf("a participant logs its no vote before it sends it",
				"%s sent %s to %s, but a participant restarted from its disk at that moment reports %s as %s, not aborted", name, describe(msg), to, m.Tx, got)
		}
	case tpc.Decision:
		got, err := ds.part(name, m.Tx)
		if err != nil {
			return err
		}
		want := tpc.Aborted
		if m.Commit {
			want = tpc.Committed
		}
		if got != want {
			return labkit.Violationf("a participant tells others only an outcome it has recorded",
				"%s sent %s to %s, but a participant restarted from its disk at that moment reports %s as %s", name, describe(msg), to, m.Tx, got)
		}
	case tpc.Prepare:
		return labkit.Violationf("participants send only Vote, Query and Decision", "%s sent %s to %s", name, describe(msg), to)
	}
	return nil
}

func describe(msg any) string {
	switch m := msg.(type) {
	case tpc.Prepare:
		return fmt.Sprintf("Prepare{%s, %s}", m.Tx, strings.Join(m.Participants, " "))
	case tpc.Vote:
		if m.Yes {
			return fmt.Sprintf("Vote{%s, yes}", m.Tx)
		}
		return fmt.Sprintf("Vote{%s, no}", m.Tx)
	case tpc.Decision:
		if m.Commit {
			return fmt.Sprintf("Decision{%s, commit}", m.Tx)
		}
		return fmt.Sprintf("Decision{%s, abort}", m.Tx)
	case tpc.Query:
		return fmt.Sprintf("Query{%s}", m.Tx)
	}
	return labkit.Describe(msg)
}

func describeAll(msgs []any) string {
	if len(msgs) == 0 {
		return "nothing"
	}
	var parts []string
	for _, m := range msgs {
		parts = append(parts, describe(m))
	}
	return strings.Join(parts, ", ")
}

// same compares two messages by what describe shows, which covers every
// field (Prepare holds a slice, so == cannot compare it).
func same(a, b any) bool {
	return describe(a) == describe(b) && fmt.Sprintf("%T", a) == fmt.Sprintf("%T", b)
}

// stateColors colours transaction states in the pictures.
var stateColors = map[string]string{
	"unknown":   "#d7d7d7",
	"voting":    "#76b7b2",
	"uncertain": "#f28e2b",
	"committed": "#4e79a7",
	"aborted":   "#b07aa1",
}

func colors() map[string]string {
	out := map[string]string{}
	for k, v := range labkit.TimelineColors {
		out[k] = v
	}
	for k, v := range stateColors {
		out[k] = v
	}
	return out
}
