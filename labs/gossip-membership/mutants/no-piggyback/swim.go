// Package gossip keeps a group membership list with SWIM: randomized
// round-robin probing, indirect probes through k members, a suspicion phase
// with incarnation numbers so a live member can refute, and dissemination by
// piggybacking updates on protocol messages, plus push-pull anti-entropy.
package gossip

import (
	"encoding/json"
	"math/bits"
	"math/rand/v2"
	"slices"
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

const diskKey = "incarnation"

type entry struct {
	status Status
	inc    uint64
}

type queued struct {
	u    Update
	sent int
}

// Member is one member of the group.
type Member struct {
	env  Env
	cfg  Config
	name string
	inc  uint64
	left bool

	members map[string]entry
	queue   []*queued

	order []string // round-robin probe order
	next  int

	seq       uint64
	probing   string // target of the probe of this period, "" if none
	probeSeq  uint64
	acked     bool
	relays    map[uint64]relay
	suspicion map[string]Timer
	periods   int
	ticker    Ticker
}

type relay struct {
	requester string
	seq       uint64
}

// New starts a member: it bumps and saves its incarnation, then joins
// through cfg.Seeds and starts its protocol periods.
func New(env Env, cfg Config) *Member {
	m := &Member{
		env: env, cfg: cfg, name: env.Name(),
		members:   map[string]entry{},
		relays:    map[uint64]relay{},
		suspicion: map[string]Timer{},
	}
	if b, ok := env.Disk().Get(diskKey); ok {
		_ = json.Unmarshal(b, &m.inc)
	}
	m.inc++
	m.save()
	m.members[m.name] = entry{Alive, m.inc}
	m.enqueue(Update{m.name, Alive, m.inc})
	m.join()
	m.ticker = env.Every(cfg.Period, m.tick)
	return m
}

func (m *Member) save() {
	b, _ := json.Marshal(m.inc)
	m.env.Disk().Put(diskKey, b)
}

func (m *Member) join() {
	for _, s := range m.cfg.Seeds {
		if s != m.name {
			m.env.Send(s, Sync{Members: m.snapshot()})
		}
	}
}

// Members returns the member's view, self included, sorted by name.
func (m *Member) Members() []Update {
	return m.snapshot()
}

func (m *Member) snapshot() []Update {
	out := make([]Update, 0, len(m.members))
	for name, e := range m.members {
		out = append(out, Update{name, e.status, e.inc})
	}
	slices.SortFunc(out, func(a, b Update) int {
		switch {
		case a.Member < b.Member:
			return -1
		case a.Member > b.Member:
			return 1
		}
		return 0
	})
	return out
}

// Leave marks this member Left; it keeps running so the news spreads.
func (m *Member) Leave() {
	if m.left {
		return
	}
	m.left = true
	m.members[m.name] = entry{Left, m.inc}
	m.enqueue(Update{m.name, Left, m.inc})
}

// Handle processes one message.
func (m *Member) Handle(from string, msg any) {
	switch v := msg.(type) {
	case Ping:
		m.merge(v.Updates)
		m.env.Send(from, Ack{Seq: v.Seq, Updates: m.piggyback()})
	case Ack:
		m.merge(v.Updates)
		if m.probing != "" && v.Seq == m.probeSeq {
			m.acked = true
		}
		if r, ok := m.relays[v.Seq]; ok {
			delete(m.relays, v.Seq)
			m.env.Send(r.requester, Ack{Seq: r.seq, Updates: m.piggyback()})
		}
	case PingReq:
		m.merge(v.Updates)
		m.seq++
		s := m.seq
		m.relays[s] = relay{from, v.Seq}
		m.env.After(m.cfg.Period, func() { delete(m.relays, s) })
		m.env.Send(v.Target, Ping{Seq: s, Updates: m.piggyback()})
	case Sync:
		m.merge(v.Members)
		if !v.Reply {
			m.env.Send(from, Sync{Members: m.snapshot(), Reply: true})
		}
	}
}

func (m *Member) tick() {
	m.periods++
	if m.probing != "" && !m.acked {
		if e, ok := m.members[m.probing]; ok && e.status == Alive {
			m.apply(Update{m.probing, Suspect, e.inc})
		}
	}
	m.probing = ""
	if m.cfg.SyncInterval > 0 && m.periods%m.syncEvery() == 0 {
		m.sync()
	}
	if len(m.known()) == 1 {
		m.join()
	}
	target := m.nextTarget()
	if target == "" {
		return
	}
	m.seq++
	m.probing, m.probeSeq, m.acked = target, m.seq, false
	m.env.Send(target, Ping{Seq: m.seq, Updates: m.piggyback()})
	seq := m.seq
	m.env.After(m.cfg.AckTimeout, func() {
		if m.probing != target || m.probeSeq != seq || m.acked {
			return
		}
		var helpers []string
		for name, e := range m.members {
			if name != m.name && name != target && e.status == Alive {
				helpers = append(helpers, name)
			}
		}
		slices.Sort(helpers)
		m.env.Rand().Shuffle(len(helpers), func(i, j int) { helpers[i], helpers[j] = helpers[j], helpers[i] })
		for i := 0; i < len(helpers) && i < m.cfg.IndirectChecks; i++ {
			m.env.Send(helpers[i], PingReq{Seq: seq, Target: target, Updates: m.piggyback()})
		}
	})
}

func (m *Member) syncEvery() int {
	n := int(m.cfg.SyncInterval / m.cfg.Period)
	if n < 1 {
		n = 1
	}
	return n
}

// known lists every member that is not Left, self included.
func (m *Member) known() []string {
	var out []string
	for name, e := range m.members {
		if e.status != Left {
			out = append(out, name)
		}
	}
	slices.Sort(out)
	return out
}

func (m *Member) sync() {
	var peers []string
	for _, name := range m.known() {
		if name != m.name {
			peers = append(peers, name)
		}
	}
	if len(peers) == 0 {
		return
	}
	p := peers[m.env.Rand().IntN(len(peers))]
	m.env.Send(p, Sync{Members: m.snapshot()})
}

func probeable(e entry) bool { return e.status == Alive || e.status == Suspect }

func (m *Member) nextTarget() string {
	for range 2 {
		for m.next < len(m.order) {
			t := m.order[m.next]
			m.next++
			if e, ok := m.members[t]; ok && t != m.name && probeable(e) {
				return t
			}
		}
		m.order = m.order[:0]
		for name, e := range m.members {
			if name != m.name && probeable(e) {
				m.order = append(m.order, name)
			}
		}
		slices.Sort(m.order)
		m.env.Rand().Shuffle(len(m.order), func(i, j int) { m.order[i], m.order[j] = m.order[j], m.order[i] })
		m.next = 0
	}
	return ""
}

func (m *Member) merge(us []Update) {
	for _, u := range us {
		m.apply(u)
	}
}

func rank(s Status) int { return int(s) }

func overrides(u Update, cur entry) bool {
	if u.Incarnation != cur.inc {
		return u.Incarnation > cur.inc
	}
	return rank(u.Status) > rank(cur.status)
}

func (m *Member) apply(u Update) {
	if u.Member == m.name {
		if m.left || u.Incarnation < m.inc || (u.Status == Alive && u.Incarnation == m.inc) {
			return
		}
		m.inc = u.Incarnation + 1
		m.save()
		m.members[m.name] = entry{Alive, m.inc}
		m.enqueue(Update{m.name, Alive, m.inc})
		return
	}
	cur, ok := m.members[u.Member]
	if ok && !overrides(u, cur) {
		return
	}
	m.members[u.Member] = entry{u.Status, u.Incarnation}
	m.enqueue(u)
	if t, ok := m.suspicion[u.Member]; ok {
		t.Stop()
		delete(m.suspicion, u.Member)
	}
	if !ok && probeable(entry{u.Status, u.Incarnation}) {
		// insert new members at a random place in the probe order
		i := m.next + m.env.Rand().IntN(len(m.order)-m.next+1)
		m.order = slices.Insert(m.order, i, u.Member)
	}
	if u.Status == Suspect {
		name, inc := u.Member, u.Incarnation
		m.suspicion[name] = m.env.After(m.cfg.SuspicionTimeout, func() {
			delete(m.suspicion, name)
			if e := m.members[name]; e.status == Suspect && e.inc == inc {
				m.apply(Update{name, Dead, inc})
			}
		})
	}
}

func (m *Member) enqueue(u Update) {
	for i, q := range m.queue {
		if q.u.Member == u.Member {
			m.queue = slices.Delete(m.queue, i, i+1)
			break
		}
	}
	m.queue = append(m.queue, &queued{u: u})
}

func (m *Member) limit() int {
	n := len(m.members)
	return m.cfg.RetransmitMult * bits.Len(uint(n))
}

func (m *Member) piggyback() []Update {
	if len(m.queue) >= 0 {
		return nil // news travels only with Sync
	}
	// The queue stays in the order updates were queued; a sorted copy picks
	// the fewest-sent first and, among equals, the one queued first.
	order := slices.Clone(m.queue)
	slices.SortStableFunc(order, func(a, b *queued) int { return a.sent - b.sent })
	var out []Update
	for _, q := range order {
		if len(out) == m.cfg.MaxPiggyback {
			break
		}
		out = append(out, q.u)
		q.sent++
	}
	lim := m.limit()
	m.queue = slices.DeleteFunc(m.queue, func(q *queued) bool { return q.sent >= lim })
	return out
}
