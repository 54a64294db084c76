package quorumkv

import (
	"errors"
	"hash/fnv"
	"slices"
	"time"
)

// ErrQuorum is what Put and Get report when fewer than W (or R) replicas of
// the key answered before the timeout.
var ErrQuorum = errors.New("quorumkv: quorum not reached")

var errNotImplemented = errors.New("quorumkv: not implemented")

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
	// TODO
	return nil
}

// Replica stores versions of keys on its disk.
type Replica struct {
	env Env
	// TODO: anything kept only in memory is lost when the node crashes.
}

// NewReplica returns a replica. It is also called after a crash, with a new
// Env and the same disk.
func NewReplica(env Env) *Replica { return &Replica{env: env} }

// Versions returns the versions the replica holds for key, reconciled.
func (r *Replica) Versions(key string) []Version {
	// TODO
	return nil
}

// Handle serves one message.
func (r *Replica) Handle(from string, msg any) {
	// TODO: serve PutRequest, GetRequest and Repair.
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

// Coordinator runs quorum reads and writes on behalf of a client.
type Coordinator struct {
	env Env
	cfg Config
	// TODO: operation ids, the write counter, operations in progress.
}

// NewCoordinator returns a coordinator for the replicas in cfg.
func NewCoordinator(env Env, cfg Config) *Coordinator {
	if cfg.Timeout <= 0 {
		cfg.Timeout = DefaultTimeout
	}
	return &Coordinator{env: env, cfg: cfg}
}

// Put writes value under key. ctx is the context of an earlier Get (nil for
// a blind write). done is called once: nil after W acks, ErrQuorum at the
// timeout.
func (c *Coordinator) Put(key, value string, ctx VClock, done func(error)) {
	// TODO
	done(errNotImplemented)
}

// Get reads key. done is called once: with the values of the reconciled
// versions (sorted) and their merged clock after R replies, or ErrQuorum at
// the timeout.
func (c *Coordinator) Get(key string, done func(values []string, ctx VClock, err error)) {
	// TODO
	done(nil, nil, errNotImplemented)
}

// Handle serves replies from replicas.
func (c *Coordinator) Handle(from string, msg any) {
	// TODO: count PutAck and GetReply messages.
}
