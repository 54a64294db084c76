package labkit

import (
	"fmt"
	"strings"
	"sync"
	"time"
)

// DefaultTraceSize is how many events a Trace keeps before it starts
// forgetting the oldest.
const DefaultTraceSize = 4096

// Trace event kinds.
const (
	KindSend      = "send"      // a node sent a message
	KindDeliver   = "deliver"   // a message reached a live node
	KindDrop      = "drop"      // the network lost a message (Detail says why)
	KindDup       = "dup"       // the network duplicated a message
	KindLate      = "late"      // a message drew a late delay from a HeavyTail
	KindPartition = "partition" // links were cut
	KindHeal      = "heal"      // links were restored
	KindCrash     = "crash"     // a node crashed, losing its memory
	KindRestart   = "restart"   // a node restarted from its disk
	KindTimer     = "timer"     // a node's timer fired
	KindOp        = "op"        // a client operation was invoked or completed
	KindFault     = "fault"     // a fault noted with Sim.NoteFault or a link change
	KindNote      = "note"      // free text from Logf
)

// TraceEvent is one entry of a trace, stamped with virtual time.
type TraceEvent struct {
	At     time.Duration // virtual time since the start
	Kind   string        // one of the Kind constants
	Node   string        // the node it happened at or came from, if any
	Peer   string        // the other end of a message, if any
	Detail string
}

// String formats the event on one line, e.g.
// "    1.250000s deliver  n1 -> n2  #17 Vote{Term:3}".
func (e TraceEvent) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%12s %-9s", fmtDur(e.At), e.Kind)
	switch {
	case e.Node != "" && e.Peer != "":
		fmt.Fprintf(&b, " %s -> %s", e.Node, e.Peer)
	case e.Node != "":
		fmt.Fprintf(&b, " %s", e.Node)
	}
	if e.Detail != "" {
		b.WriteString("  ")
		b.WriteString(e.Detail)
	}
	return b.String()
}

// fmtDur formats a virtual time as seconds with microsecond precision, so
// columns line up and equal times print equally.
func fmtDur(d time.Duration) string {
	return fmt.Sprintf("%.6fs", d.Seconds())
}

// Trace is a bounded log of what happened in a simulation. It keeps the most
// recent events; Total counts all of them.
type Trace struct {
	mu    sync.Mutex
	sim   *Sim
	buf   []TraceEvent
	start int
	total int
	size  int
}

func newTrace(s *Sim, size int) *Trace {
	return &Trace{sim: s, size: size}
}

// SetSize changes how many events the trace keeps (at least 1).
func (t *Trace) SetSize(n int) {
	if n < 1 {
		n = 1
	}
	evs := t.Events()
	t.mu.Lock()
	defer t.mu.Unlock()
	if len(evs) > n {
		evs = evs[len(evs)-n:]
	}
	t.buf, t.start, t.size = evs, 0, n
}

func (t *Trace) add(e TraceEvent) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.total++
	if len(t.buf) < t.size {
		t.buf = append(t.buf, e)
		return
	}
	t.buf[t.start] = e
	t.start = (t.start + 1) % t.size
}

// Add records an event at the current virtual time.
func (t *Trace) Add(kind, node, peer, detail string) {
	t.add(TraceEvent{At: t.sim.Elapsed(), Kind: kind, Node: node, Peer: peer, Detail: detail})
}

// Logf records a free-text note at the current virtual time.
func (t *Trace) Logf(node, format string, args ...any) {
	t.Add(KindNote, node, "", fmt.Sprintf(format, args...))
}

// Events returns the kept events, oldest first.
func (t *Trace) Events() []TraceEvent {
	t.mu.Lock()
	defer t.mu.Unlock()
	out := make([]TraceEvent, 0, len(t.buf))
	out = append(out, t.buf[t.start:]...)
	return append(out, t.buf[:t.start]...)
}

// Last returns up to n of the most recent events, oldest first.
func (t *Trace) Last(n int) []TraceEvent {
	evs := t.Events()
	if n < len(evs) {
		evs = evs[len(evs)-n:]
	}
	return evs
}

// Total returns how many events were ever recorded, kept or not.
func (t *Trace) Total() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.total
}

// Tail formats the last n events, one per line.
func (t *Trace) Tail(n int) string {
	var b strings.Builder
	for _, e := range t.Last(n) {
		b.WriteString("  ")
		b.WriteString(e.String())
		b.WriteByte('\n')
	}
	return b.String()
}

// String formats every kept event, one per line.
func (t *Trace) String() string { return t.Tail(t.size) }

// Describe formats a message for the trace: %+v, cut to 160 bytes. Messages
// should be plain values (no pointers), so that the trace is the same in
// every run.
func Describe(msg any) string {
	s := fmt.Sprintf("%+v", msg)
	if strings.HasPrefix(s, "{") || strings.HasPrefix(s, "&{") {
		name := fmt.Sprintf("%T", msg)
		name = strings.TrimPrefix(name, "*")
		if i := strings.LastIndexByte(name, '.'); i >= 0 {
			name = name[i+1:]
		}
		s = strings.TrimPrefix(s, "&")
		s = name + s
	}
	s = strings.ReplaceAll(s, "\n", " ")
	if r := []rune(s); len(r) > 160 {
		s = string(r[:157]) + "..."
	}
	return s
}
