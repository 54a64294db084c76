package replicatedlog

import (
	"errors"
	"time"
)

// This file is given: keep every name and field as it is.

// Env is a broker's window on the world. The tests hand every broker one;
// message handlers and timer functions run one at a time, so a broker needs
// no locks and must never block, sleep or start goroutines.
type Env interface {
	// Name is this broker's name, e.g. "b1".
	Name() string
	// Send sends msg to another node (a broker, a client or the
	// controller). It may be lost, delayed, duplicated or reordered, and
	// nothing is sent while the broker is crashed.
	Send(to string, msg any)
	// After calls fn once after d of virtual time, unless the broker
	// crashes first.
	After(d time.Duration, fn func())
	// Now is the virtual time.
	Now() time.Time
	// Disk survives crashes; memory does not.
	Disk() Disk
	// UpdateISR asks the controller to set the in-sync replica set of
	// partition to isr. It is a conditional write: it succeeds (nil) only
	// if epoch is the partition's current leader epoch and this broker is
	// its leader. It returns ErrFenced when a newer epoch exists, and
	// ErrControllerUnavailable when this broker cannot reach the
	// controller; either way nothing changes.
	UpdateISR(partition int, epoch int64, isr []string) error
}

// Disk is storage that survives crashes. Values are copied in and out, and a
// write is durable as soon as the call returns.
type Disk interface {
	Get(key string) ([]byte, bool)
	Put(key string, value []byte)
	Delete(key string)
	// Keys returns the keys that start with prefix, sorted as strings.
	Keys(prefix string) []string
}

// The errors UpdateISR returns.
var (
	ErrFenced                = errors.New("replicatedlog: fenced: the partition has a newer leader epoch")
	ErrControllerUnavailable = errors.New("replicatedlog: the controller cannot be reached")
)

// Code is the outcome carried by a reply to a client.
type Code string

// The reply codes.
const (
	OK               Code = ""
	NotLeader        Code = "NOT_LEADER"
	OffsetOutOfRange Code = "OFFSET_OUT_OF_RANGE"
)

// Role is what a broker is for one partition.
type Role string

// The roles.
const (
	NoRole   Role = "none"
	Leader   Role = "leader"
	Follower Role = "follower"
)

// Record is one entry of a partition's log. A data record has a Producer;
// a commit record has a Group instead and commits offset Commit for it.
type Record struct {
	Offset   int64  // its position in the log, from 0
	Epoch    int64  // the leader epoch in which it was appended
	Producer string // data records: the producer's ID (never empty)
	Seq      int64  // data records: the producer's sequence number
	Value    string // data records: the payload
	Group    string // commit records: the consumer group
	Commit   int64  // commit records: the offset committed for Group
}

// Messages. Treat received messages, and the slices in them, as read-only.
type (
	// LeaderAndISR is sent by the controller to every replica of
	// Partition, again and again: Leader leads the partition in Epoch,
	// with in-sync replicas ISR (which includes Leader).
	LeaderAndISR struct {
		Partition int
		Epoch     int64
		Leader    string
		ISR       []string
	}

	// Produce asks the leader to append Value for Producer with its
	// sequence number Seq. Answer: ProduceReply.
	Produce struct {
		Partition int
		Producer  string
		Seq       int64
		Value     string
	}
	// ProduceReply acknowledges a Produce: with OK, the record is at Offset
	// and committed.
	ProduceReply struct {
		Partition int
		Producer  string
		Seq       int64
		Offset    int64
		Err       Code
	}

	// Fetch is a consumer reading from Offset. Answer: FetchReply.
	Fetch struct {
		Partition int
		Offset    int64
	}
	// FetchReply carries the records from Offset up to the high-water mark
	// HWM (commit records included).
	FetchReply struct {
		Partition int
		Offset    int64
		Records   []Record
		HWM       int64
		Err       Code
	}

	// Commit records that Group has consumed everything below Offset.
	// Answer: CommitReply.
	Commit struct {
		Partition int
		Group     string
		Offset    int64
	}
	// CommitReply acknowledges a Commit: with OK, it is committed.
	CommitReply struct {
		Partition int
		Group     string
		Offset    int64
		Err       Code
	}

	// OffsetFetch asks for Group's committed offset. Answer: OffsetReply.
	OffsetFetch struct {
		Partition int
		Group     string
	}
	// OffsetReply carries Group's committed offset, -1 if it has none.
	OffsetReply struct {
		Partition int
		Group     string
		Offset    int64
		Err       Code
	}

	// ReplicaFetch is a follower of Epoch asking the leader for the records
	// from Offset, its log end offset; LastEpoch is the epoch of its last
	// record (0 when its log is empty). Answer: ReplicaFetchReply.
	ReplicaFetch struct {
		Partition int
		Epoch     int64
		Offset    int64
		LastEpoch int64
	}
	// ReplicaFetchReply answers a ReplicaFetch, whose Epoch, Offset and
	// LastEpoch it repeats. Either Diverging is true and the follower must
	// truncate its log to TruncateTo, or Records holds the leader's records
	// from Offset to its log end. HWM is the leader's high-water mark.
	ReplicaFetchReply struct {
		Partition  int
		Epoch      int64
		Offset     int64
		LastEpoch  int64
		Records    []Record
		HWM        int64
		Diverging  bool
		TruncateTo int64
	}
)

// Config holds the broker's timing.
type Config struct {
	// FetchInterval is the period of the broker's tick; 0 means 10ms.
	FetchInterval time.Duration
	// ReplicaLag is how long an in-sync follower may go without catching
	// up before the leader removes it from the ISR; 0 means 100ms.
	ReplicaLag time.Duration
}

// Status is what a broker knows about one partition.
type Status struct {
	Role   Role
	Epoch  int64    // the highest epoch it has taken a role in (0: none)
	Leader string   // the leader of that epoch
	LEO    int64    // log end offset: the number of records in its log
	HWM    int64    // high-water mark
	ISR    []string // the in-sync replicas, while it leads (nil otherwise)
}
