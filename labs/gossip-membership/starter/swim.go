// Package gossip keeps a group membership list with SWIM: randomized
// round-robin probing, indirect probes through k members, a suspicion phase
// with incarnation numbers so a live member can refute, and dissemination by
// piggybacking updates on protocol messages, plus push-pull anti-entropy.
//
// Read README.md first: it specifies every rule the tests check.
package gossip

import (
	"math/rand/v2"
	"time"
)

// Status is what a member believes about another member (or itself).
type Status int

// The four statuses, in precedence order: at equal incarnation a later one
// overrides an earlier one.
const (
	Alive Status = iota
	Suspect
	Dead
	Left
)

// String returns "alive", "suspect", "dead" or "left".
func (s Status) String() string {
	switch s {
	case Alive:
		return "alive"
	case Suspect:
		return "suspect"
	case Dead:
		return "dead"
	case Left:
		return "left"
	}
	return "unknown"
}

// Update is one piece of membership news: Member has Status at Incarnation.
type Update struct {
	Member      string
	Status      Status
	Incarnation uint64
}

// Ping probes the receiver, which answers Ack{Seq} to the sender.
type Ping struct {
	Seq     uint64
	Updates []Update
}

// Ack answers a Ping (directly, or relayed for a PingReq) with the same Seq.
type Ack struct {
	Seq     uint64
	Updates []Update
}

// PingReq asks the receiver to ping Target and, if Target answers, to send
// Ack{Seq} back to the requester.
type PingReq struct {
	Seq     uint64
	Target  string
	Updates []Update
}

// Sync carries the sender's whole membership list (push-pull anti-entropy,
// also used to join). A Sync with Reply false is answered by a Sync with
// Reply true holding the receiver's list after merging.
type Sync struct {
	Members []Update
	Reply   bool
}

// Timer is a pending callback that can be cancelled.
type Timer interface {
	Stop() bool
}

// Ticker is a repeating callback that can be stopped.
type Ticker interface {
	Stop()
}

// Disk is storage that survives crashes.
type Disk interface {
	Get(key string) ([]byte, bool)
	Put(key string, value []byte)
}

// Env is a member's window on the world.
type Env interface {
	Name() string
	Send(to string, msg any)
	After(d time.Duration, fn func()) Timer
	Every(d time.Duration, fn func()) Ticker
	Now() time.Time
	Rand() *rand.Rand
	Disk() Disk
}

// Config holds the protocol's parameters.
type Config struct {
	Period           time.Duration // T: one probe per period
	AckTimeout       time.Duration // wait this long for a direct Ack before sending PingReqs
	IndirectChecks   int           // k: members asked to probe indirectly
	SuspicionTimeout time.Duration // a suspect not refuted for this long is dead
	SyncInterval     time.Duration // push-pull anti-entropy with one random member
	RetransmitMult   int           // piggyback each update RetransmitMult*ceil(log2(n+1)) times
	MaxPiggyback     int           // at most this many updates per message
	Seeds            []string      // members to contact to join
}

// Member is one member of the group.
type Member struct {
	env Env
	cfg Config
	// TODO: your state: your incarnation, the membership list, the queue of
	// updates to piggyback, the round-robin probe order, the probe of the
	// current period, pending relays for PingReqs, suspicion timers...
}

// New starts a member. It must not block.
//
// TODO:
//   - read your last incarnation from env.Disk() (0 if none), add 1, save it;
//   - hold yourself Alive at that incarnation and queue that news;
//   - send Sync{Members: your list} to every seed other than yourself;
//   - start the protocol periods with env.Every(cfg.Period, ...).
func New(env Env, cfg Config) *Member {
	m := &Member{env: env, cfg: cfg}
	return m
}

// Members returns this member's view of the group, itself included, one
// Update per member it has ever heard of, sorted by Member.
func (m *Member) Members() []Update {
	// TODO
	return []Update{{Member: m.env.Name(), Status: Alive, Incarnation: 1}}
}

// Leave announces that this member leaves the group: it holds itself Left
// at its current incarnation and queues that news. It keeps running (and
// piggybacking) until it is stopped, and never refutes again.
func (m *Member) Leave() {
	// TODO
}

// Handle processes one message from another member.
func (m *Member) Handle(from string, msg any) {
	switch msg.(type) {
	case Ping:
		// TODO: merge the updates, answer Ack{Seq} with piggybacked updates.
	case Ack:
		// TODO: merge; complete your probe, or forward a relayed Ack.
	case PingReq:
		// TODO: merge; ping Target for the requester and relay its Ack.
	case Sync:
		// TODO: merge the list; if !Reply, answer with your own list.
	}
}
