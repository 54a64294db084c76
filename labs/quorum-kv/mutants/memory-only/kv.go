package quorumkv

import (
	"errors"
	"hash/fnv"
	"slices"
	"strings"
	"time"
)

// ErrQuorum is what Put and Get report when fewer than W (or R) replicas of
// the key answered before the timeout.
var ErrQuorum = errors.New("quorumkv: quorum not reached")

// Env is what a replica or a coordinator gets from the network it runs on.
type Env interface {
	// Name is this node's name.
	Name() string
	// Send sends msg to another node. It may be lost, duplicated, delayed or
	// cut off by a partition.
	Send(to string, msg any)
	// After calls fn once after d of (virtual) time, unless the node crashed.
	After(d time.Duration, fn func())
	// Disk is storage that survives a crash of the node.
	Disk() Disk
}

// Disk is storage that survives crashes. Values are copied in and out.
type Disk interface {
	Put(key string, value []byte)
	Get(key string) ([]byte, bool)
}

// Version is one value of a key with the clock it was written with.
type Version struct {
	Value string
	Clock VClock
}

// Messages between coordinators and replicas. Treat received messages as
// read-only: copy a clock before changing it.
type (
	// PutRequest asks a replica to store Version under Key and answer PutAck.
	PutRequest struct {
		ID      uint64
		Key     string
		Version Version
	}
	// PutAck tells the coordinator the replica has stored the write on disk.
	PutAck struct{ ID uint64 }
	// GetRequest asks a replica for the versions it holds for Key.
	GetRequest struct {
		ID  uint64
		Key string
	}
	// GetReply carries a replica's versions of the requested key.
	GetReply struct {
		ID       uint64
		Versions []Version
	}
	// Repair gives a replica the reconciled versions of Key; no answer.
	Repair struct {
		Key      string
		Versions []Version
	}
)

// PreferenceList returns the n replicas of key: the node names sorted, then
// rotated to start at index fnv32a(key) mod len(nodes). (Given; do not change.)
func PreferenceList(key string, nodes []string, n int) []string {
	sorted := slices.Clone(nodes)
	slices.Sort(sorted)
	if len(sorted) == 0 || n <= 0 {
		return nil
	}
	h := fnv.New32a()
	h.Write([]byte(key))
	start := int(h.Sum32() % uint32(len(sorted)))
	n = min(n, len(sorted))
	out := make([]string, n)
	for i := range out {
		out[i] = sorted[(start+i)%len(sorted)]
	}
	return out
}

// Reconcile returns the versions no other version in vs supersedes: a
// version is dropped when another one's clock descends its clock and is not
// equal to it; of several versions with equal clocks only the first is kept.
// The result is sorted by Value, then by clock (String); vs is not modified.
func Reconcile(vs []Version) []Version {
	var out []Version
	for i, v := range vs {
		keep := true
		for j, w := range vs {
			if i == j {
				continue
			}
			if w.Clock.Descends(v.Clock) && (!v.Clock.Descends(w.Clock) || j < i) {
				keep = false
				break
			}
		}
		if keep {
			out = append(out, Version{Value: v.Value, Clock: v.Clock.Copy()})
		}
	}
	slices.SortFunc(out, func(a, b Version) int {
		if c := strings.Compare(a.Value, b.Value); c != 0 {
			return c
		}
		return strings.Compare(a.Clock.String(), b.Clock.String())
	})
	return out
}

// Replica stores versions of keys on its disk.
type Replica struct {
	env  Env
	data map[string][]Version
}

// NewReplica returns a replica. It is also called after a crash, with a new
// Env and the same disk.
func NewReplica(env Env) *Replica { return &Replica{env: env, data: map[string][]Version{}} }

// Versions returns the versions the replica holds for key, reconciled.
func (r *Replica) Versions(key string) []Version {
	return r.data[key]
}

func (r *Replica) store(key string, incoming []Version) {
	all := append(r.Versions(key), incoming...)
	r.data[key] = Reconcile(all)
}

// Handle serves one message.
func (r *Replica) Handle(from string, msg any) {
	switch m := msg.(type) {
	case PutRequest:
		r.store(m.Key, []Version{m.Version})
		r.env.Send(from, PutAck{ID: m.ID})
	case GetRequest:
		r.env.Send(from, GetReply{ID: m.ID, Versions: r.Versions(m.Key)})
	case Repair:
		r.store(m.Key, m.Versions)
	}
}

// Config configures a coordinator.
type Config struct {
	Nodes   []string      // every replica node
	N       int           // replicas per key
	R, W    int           // read and write quorums
	Timeout time.Duration // per operation; 0 means DefaultTimeout
}

// DefaultTimeout is the operation timeout when Config.Timeout is 0.
const DefaultTimeout = 100 * time.Millisecond

type putOp struct {
	done  func(error)
	nodes []string
	acked map[string]bool
}

type getOp struct {
	key     string
	done    func([]string, VClock, error)
	nodes   []string
	replies map[string][]Version
	order   []string
}

// Coordinator runs quorum reads and writes on behalf of a client.
type Coordinator struct {
	env  Env
	cfg  Config
	next uint64
	seq  uint64
	puts map[uint64]*putOp
	gets map[uint64]*getOp
}

// NewCoordinator returns a coordinator for the replicas in cfg.
func NewCoordinator(env Env, cfg Config) *Coordinator {
	if cfg.Timeout <= 0 {
		cfg.Timeout = DefaultTimeout
	}
	return &Coordinator{env: env, cfg: cfg, puts: map[uint64]*putOp{}, gets: map[uint64]*getOp{}}
}

// Put writes value under key. ctx is the context of an earlier Get (nil for
// a blind write). done is called once: nil after W acks, ErrQuorum at the
// timeout.
func (c *Coordinator) Put(key, value string, ctx VClock, done func(error)) {
	me := c.env.Name()
	c.seq = max(c.seq, ctx[me]) + 1
	clock := ctx.Copy()
	clock[me] = c.seq
	c.next++
	id := c.next
	op := &putOp{done: done, nodes: PreferenceList(key, c.cfg.Nodes, c.cfg.N), acked: map[string]bool{}}
	c.puts[id] = op
	for _, n := range op.nodes {
		c.env.Send(n, PutRequest{ID: id, Key: key, Version: Version{Value: value, Clock: clock.Copy()}})
	}
	c.env.After(c.cfg.Timeout, func() {
		if c.puts[id] == op {
			delete(c.puts, id)
			done(ErrQuorum)
		}
	})
}

// Get reads key. done is called once: with the values of the reconciled
// versions (sorted) and their merged clock after R replies, or ErrQuorum at
// the timeout.
func (c *Coordinator) Get(key string, done func(values []string, ctx VClock, err error)) {
	c.next++
	id := c.next
	op := &getOp{key: key, done: done, nodes: PreferenceList(key, c.cfg.Nodes, c.cfg.N), replies: map[string][]Version{}}
	c.gets[id] = op
	for _, n := range op.nodes {
		c.env.Send(n, GetRequest{ID: id, Key: key})
	}
	c.env.After(c.cfg.Timeout, func() {
		if c.gets[id] == op {
			delete(c.gets, id)
			done(nil, nil, ErrQuorum)
		}
	})
}

// Handle serves replies from replicas.
func (c *Coordinator) Handle(from string, msg any) {
	switch m := msg.(type) {
	case PutAck:
		op, ok := c.puts[m.ID]
		if !ok || !slices.Contains(op.nodes, from) || op.acked[from] {
			return
		}
		op.acked[from] = true
		if len(op.acked) >= c.cfg.W {
			delete(c.puts, m.ID)
			op.done(nil)
		}
	case GetReply:
		op, ok := c.gets[m.ID]
		if !ok || !slices.Contains(op.nodes, from) {
			return
		}
		if _, seen := op.replies[from]; seen {
			return
		}
		op.replies[from] = m.Versions
		op.order = append(op.order, from)
		if len(op.replies) < c.cfg.R {
			return
		}
		delete(c.gets, m.ID)
		var all []Version
		for _, n := range op.order {
			all = append(all, op.replies[n]...)
		}
		merged := Reconcile(all)
		values := []string{}
		ctx := VClock{}
		for _, v := range merged {
			values = append(values, v.Value)
			ctx = Merge(ctx, v.Clock)
		}
		for _, n := range op.order {
			if !sameVersions(Reconcile(op.replies[n]), merged) {
				c.env.Send(n, Repair{Key: op.key, Versions: merged})
			}
		}
		op.done(values, ctx, nil)
	}
}

func sameVersions(a, b []Version) bool {
	return slices.EqualFunc(a, b, func(x, y Version) bool {
		return x.Value == y.Value && x.Clock.Equal(y.Clock)
	})
}
