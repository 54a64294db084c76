// Package replicatedlog is a Kafka-style replicated log: partitions of
// records with offsets, a leader and followers per partition, an in-sync
// replica set, a high-water mark, and consumer groups' committed offsets.
package replicatedlog

// Broker is one server. It holds a replica of every partition the controller
// tells it about. Add the fields you need.
type Broker struct {
	env Env
	cfg Config
	// TODO: per partition: epoch, leader, role, log, HWM; while leading, the
	// ISR, each follower's log end, the log end of the previous answer to
	// it and when it was last caught up, and the replies waiting for a
	// record to be committed.
}

// New builds a broker from its disk and starts its tick. Zero Config fields
// take their defaults (R1).
func New(env Env, cfg Config) *Broker {
	// TODO: defaults; read every partition's log, epoch and leader back from
	// env.Disk() (R4); arm the tick (R2).
	return &Broker{env: env, cfg: cfg}
}

// Status reports what the broker knows about a partition (R17).
func (b *Broker) Status(partition int) Status {
	// TODO
	return Status{Role: NoRole}
}

// Log returns a copy of the broker's log of a partition (R17).
func (b *Broker) Log(partition int) []Record {
	// TODO
	return nil
}

// Handle processes one message.
func (b *Broker) Handle(from string, msg any) {
	switch msg.(type) {
	case LeaderAndISR:
		// TODO: R3.
	case Produce:
		// TODO: R6, R7.
	case Fetch:
		// TODO: R14.
	case Commit:
		// TODO: R15.
	case OffsetFetch:
		// TODO: R16.
	case ReplicaFetch:
		// TODO: R8, R9, R11, R13 (at the leader).
	case ReplicaFetchReply:
		// TODO: R10 (at the follower).
	}
}
