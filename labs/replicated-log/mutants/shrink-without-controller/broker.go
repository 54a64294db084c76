// Package replicatedlog is a Kafka-style replicated log: partitions of
// records with offsets, a leader and followers per partition, an in-sync
// replica set, a high-water mark, and consumer groups' committed offsets.
package replicatedlog

import (
	"encoding/json"
	"fmt"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"
)

// Broker is one server. It holds a replica of every partition the controller
// tells it about.
type Broker struct {
	env   Env
	cfg   Config
	parts map[int]*partition
}

// partition is a broker's replica of one partition.
type partition struct {
	id     int
	epoch  int64
	leader string
	role   Role
	log    []Record
	hwm    int64

	// While leading: the ISR, and per follower the offset of its latest
	// consistent fetch, the leader's log end when it answered the previous
	// one, and when it was last caught up. waiting holds the replies due
	// once an offset is committed.
	isr      []string
	fetched  map[string]int64
	prevEnd  map[string]int64
	caughtUp map[string]time.Time
	waiting  []waiter
}

type waiter struct {
	to     string
	offset int64
	reply  any
}

// epochState is what a broker keeps on disk about a partition's epoch.
type epochState struct {
	Epoch  int64
	Leader string
}

// New builds a broker from its disk and starts its tick. Zero Config fields
// take their defaults.
func New(env Env, cfg Config) *Broker {
	if cfg.FetchInterval <= 0 {
		cfg.FetchInterval = 10 * time.Millisecond
	}
	if cfg.ReplicaLag <= 0 {
		cfg.ReplicaLag = 100 * time.Millisecond
	}
	b := &Broker{env: env, cfg: cfg, parts: map[int]*partition{}}
	for _, key := range env.Disk().Keys("p/") {
		rest, ok := strings.CutSuffix(strings.TrimPrefix(key, "p/"), "/epoch")
		id, err := strconv.Atoi(rest)
		if !ok || err != nil {
			continue
		}
		var st epochState
		data, _ := env.Disk().Get(key)
		if json.Unmarshal(data, &st) != nil {
			continue
		}
		p := b.part(id)
		p.epoch, p.leader = st.Epoch, st.Leader
		if st.Leader != env.Name() {
			p.role = Follower
		}
	}
	for id, p := range b.parts {
		for {
			data, ok := env.Disk().Get(recordKey(id, int64(len(p.log))))
			var r Record
			if !ok || json.Unmarshal(data, &r) != nil {
				break
			}
			p.log = append(p.log, r)
		}
	}
	env.After(cfg.FetchInterval, b.tick)
	return b
}

func recordKey(id int, offset int64) string { return fmt.Sprintf("p/%d/log/%012d", id, offset) }

func (b *Broker) part(id int) *partition {
	p := b.parts[id]
	if p == nil {
		p = &partition{id: id, role: NoRole}
		b.parts[id] = p
	}
	return p
}

// leading returns the partition if this broker leads it, else nil.
func (b *Broker) leading(id int) *partition {
	if p := b.parts[id]; p != nil && p.role == Leader {
		return p
	}
	return nil
}

// Status reports what the broker knows about a partition.
func (b *Broker) Status(id int) Status {
	p := b.parts[id]
	if p == nil {
		return Status{Role: NoRole}
	}
	st := Status{Role: p.role, Epoch: p.epoch, Leader: p.leader, LEO: int64(len(p.log)), HWM: p.hwm}
	if p.role == Leader {
		st.ISR = slices.Clone(p.isr)
	}
	return st
}

// Log returns a copy of the broker's log of a partition.
func (b *Broker) Log(id int) []Record {
	if p := b.parts[id]; p != nil {
		return slices.Clone(p.log)
	}
	return nil
}

func (b *Broker) tick() {
	ids := make([]int, 0, len(b.parts))
	for id := range b.parts {
		ids = append(ids, id)
	}
	sort.Ints(ids)
	for _, id := range ids {
		p := b.parts[id]
		switch p.role {
		case Follower:
			b.env.Send(p.leader, ReplicaFetch{Partition: id, Epoch: p.epoch, Offset: int64(len(p.log)), LastEpoch: p.lastEpoch()})
		case Leader:
			b.shrinkISR(p)
		}
	}
	b.env.After(b.cfg.FetchInterval, b.tick)
}

func (p *partition) lastEpoch() int64 {
	if len(p.log) == 0 {
		return 0
	}
	return p.log[len(p.log)-1].Epoch
}

// Handle processes one message.
func (b *Broker) Handle(from string, msg any) {
	switch m := msg.(type) {
	case LeaderAndISR:
		b.leaderAndISR(m)
	case Produce:
		b.produce(from, m)
	case Fetch:
		b.fetch(from, m)
	case Commit:
		b.commit(from, m)
	case OffsetFetch:
		b.offsetFetch(from, m)
	case ReplicaFetch:
		b.replicaFetch(from, m)
	case ReplicaFetchReply:
		b.replicaFetchReply(m)
	}
}

func (b *Broker) leaderAndISR(m LeaderAndISR) {
	p := b.part(m.Partition)
	if m.Epoch <= p.epoch {
		return
	}
	data, _ := json.Marshal(epochState{Epoch: m.Epoch, Leader: m.Leader})
	b.env.Disk().Put(fmt.Sprintf("p/%d/epoch", p.id), data)
	if p.role == Leader {
		for _, w := range p.waiting {
			b.env.Send(w.to, refuse(w.reply))
		}
		p.waiting = nil
	}
	p.epoch, p.leader = m.Epoch, m.Leader
	if m.Leader != b.env.Name() {
		p.role = Follower
		return
	}
	p.role = Leader
	p.isr = slices.Clone(m.ISR)
	p.fetched = map[string]int64{}
	p.prevEnd = map[string]int64{}
	p.caughtUp = map[string]time.Time{}
	for _, r := range p.isr {
		p.caughtUp[r] = b.env.Now()
	}
	b.advance(p)
}

// refuse turns a pending reply into a NotLeader one.
func refuse(reply any) any {
	switch r := reply.(type) {
	case ProduceReply:
		r.Err = NotLeader
		return r
	case CommitReply:
		r.Err = NotLeader
		return r
	}
	return reply
}

func (b *Broker) appendRecord(p *partition, r Record) int64 {
	r.Offset = int64(len(p.log))
	r.Epoch = p.epoch
	data, _ := json.Marshal(r)
	b.env.Disk().Put(recordKey(p.id, r.Offset), data)
	p.log = append(p.log, r)
	return r.Offset
}

func (b *Broker) produce(from string, m Produce) {
	reply := ProduceReply{Partition: m.Partition, Producer: m.Producer, Seq: m.Seq}
	p := b.leading(m.Partition)
	if p == nil {
		reply.Err = NotLeader
		b.env.Send(from, reply)
		return
	}
	offset := int64(-1)
	for _, r := range p.log {
		if r.Producer == m.Producer && r.Seq == m.Seq {
			offset = r.Offset
			break
		}
	}
	if offset < 0 {
		offset = b.appendRecord(p, Record{Producer: m.Producer, Seq: m.Seq, Value: m.Value})
	}
	reply.Offset = offset
	p.waiting = append(p.waiting, waiter{to: from, offset: offset, reply: reply})
	b.advance(p)
}

// advance recomputes the high-water mark and answers what it committed.
func (b *Broker) advance(p *partition) {
	hwm := int64(len(p.log))
	for _, r := range p.isr {
		if r != b.env.Name() && p.fetched[r] < hwm {
			hwm = p.fetched[r]
		}
	}
	if hwm > p.hwm {
		p.hwm = hwm
	}
	var still []waiter
	for _, w := range p.waiting {
		if w.offset < p.hwm {
			b.env.Send(w.to, w.reply)
		} else {
			still = append(still, w)
		}
	}
	p.waiting = still
}

func (b *Broker) fetch(from string, m Fetch) {
	reply := FetchReply{Partition: m.Partition, Offset: m.Offset}
	p := b.leading(m.Partition)
	switch {
	case p == nil:
		reply.Err = NotLeader
	case m.Offset < 0 || m.Offset > int64(len(p.log)):
		reply.Err = OffsetOutOfRange
		reply.HWM = p.hwm
	default:
		reply.HWM = p.hwm
		if m.Offset < p.hwm {
			reply.Records = slices.Clone(p.log[m.Offset:p.hwm])
		}
	}
	b.env.Send(from, reply)
}

func (b *Broker) commit(from string, m Commit) {
	reply := CommitReply{Partition: m.Partition, Group: m.Group, Offset: m.Offset}
	p := b.leading(m.Partition)
	switch {
	case p == nil:
		reply.Err = NotLeader
	case m.Offset < 0 || m.Offset > p.hwm:
		reply.Err = OffsetOutOfRange
	default:
		offset := b.appendRecord(p, Record{Group: m.Group, Commit: m.Offset})
		p.waiting = append(p.waiting, waiter{to: from, offset: offset, reply: reply})
		b.advance(p)
		return
	}
	b.env.Send(from, reply)
}

func (b *Broker) offsetFetch(from string, m OffsetFetch) {
	reply := OffsetReply{Partition: m.Partition, Group: m.Group, Offset: -1}
	p := b.leading(m.Partition)
	if p == nil {
		reply.Err = NotLeader
	} else {
		for _, r := range p.log[:p.hwm] {
			if r.Group == m.Group && r.Commit > reply.Offset {
				reply.Offset = r.Commit
			}
		}
	}
	b.env.Send(from, reply)
}

func (b *Broker) replicaFetch(from string, m ReplicaFetch) {
	p := b.leading(m.Partition)
	if p == nil || m.Epoch != p.epoch {
		return
	}
	end := int64(len(p.log))
	reply := ReplicaFetchReply{Partition: m.Partition, Epoch: m.Epoch, Offset: m.Offset, LastEpoch: m.LastEpoch}
	if m.Offset > 0 && (m.Offset > end || p.log[m.Offset-1].Epoch != m.LastEpoch) {
		upTo := int64(0)
		for upTo < end && p.log[upTo].Epoch <= m.LastEpoch {
			upTo++
		}
		reply.Diverging = true
		reply.TruncateTo = min(m.Offset-1, upTo)
		reply.HWM = p.hwm
		b.env.Send(from, reply)
		return
	}
	if m.Offset >= p.prevEnd[from] {
		p.caughtUp[from] = b.env.Now()
	}
	p.prevEnd[from] = end
	p.fetched[from] = m.Offset
	if !slices.Contains(p.isr, from) && m.Offset >= p.hwm {
		isr := append(slices.Clone(p.isr), from)
		if b.env.UpdateISR(p.id, p.epoch, isr) == nil {
			p.isr = isr
			p.caughtUp[from] = b.env.Now()
		}
	}
	b.advance(p)
	reply.Records = slices.Clone(p.log[m.Offset:])
	reply.HWM = p.hwm
	b.env.Send(from, reply)
}

func (b *Broker) shrinkISR(p *partition) {
	now := b.env.Now()
	var keep []string
	for _, r := range p.isr {
		if r == b.env.Name() || now.Sub(p.caughtUp[r]) <= b.cfg.ReplicaLag {
			keep = append(keep, r)
		}
	}
	if len(keep) == len(p.isr) {
		return
	}
	_ = b.env.UpdateISR(p.id, p.epoch, keep) // tell the controller, best effort
	p.isr = keep
	b.advance(p)
}

func (b *Broker) replicaFetchReply(m ReplicaFetchReply) {
	p := b.parts[m.Partition]
	if p == nil || p.role != Follower || m.Epoch != p.epoch || m.Offset != int64(len(p.log)) || m.LastEpoch != p.lastEpoch() {
		return
	}
	if m.Diverging {
		for int64(len(p.log)) > m.TruncateTo {
			last := int64(len(p.log)) - 1
			b.env.Disk().Delete(recordKey(p.id, last))
			p.log = p.log[:last]
		}
	} else {
		for _, r := range m.Records {
			data, _ := json.Marshal(r)
			b.env.Disk().Put(recordKey(p.id, r.Offset), data)
			p.log = append(p.log, r)
		}
	}
	p.hwm = min(m.HWM, int64(len(p.log)))
}
