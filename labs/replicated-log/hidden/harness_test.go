package hidden

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"faultline.dev/labkit"
	rl "faultline.dev/labs/replicatedlog"
)

// ---- The broker's environment ----

// env adapts a labkit node environment to the lab's Env. UpdateISR goes to
// the cluster's controller.
type env struct {
	e *labkit.Env
	c *cluster
}

func (a env) Name() string { return a.e.Name() }
func (a env) Send(to string, msg any) {
	if a.e.Alive() {
		a.c.did(a.e.Name(), "send "+describe(msg))
	}
	a.e.Send(to, msg)
}
func (a env) After(d time.Duration, fn func()) { a.e.After(d, "tick", fn) }
func (a env) Now() time.Time                   { return a.e.Now() }
func (a env) Disk() rl.Disk                    { return disk{a} }
func (a env) UpdateISR(partition int, epoch int64, isr []string) error {
	if !a.e.Alive() {
		return rl.ErrControllerUnavailable
	}
	return a.c.ctl.updateISR(a.e.Name(), partition, epoch, isr)
}

// disk passes a broker's disk through, noting every write in its actions.
type disk struct{ a env }

func (d disk) Get(key string) ([]byte, bool) { return d.a.e.Disk().Get(key) }
func (d disk) Keys(prefix string) []string   { return d.a.e.Disk().Keys(prefix) }
func (d disk) Put(key string, value []byte) {
	d.a.e.Disk().Put(key, value)
	d.a.c.did(d.a.e.Name(), "write "+key)
}
func (d disk) Delete(key string) {
	d.a.e.Disk().Delete(key)
	d.a.c.did(d.a.e.Name(), "delete "+key)
}

// describe prints the lab's messages compactly in the trace.
func describe(msg any) string {
	switch m := msg.(type) {
	case rl.LeaderAndISR:
		return fmt.Sprintf("LeaderAndISR{p%d epoch %d leader %s isr %s}", m.Partition, m.Epoch, m.Leader, strings.Join(m.ISR, ","))
	case rl.Produce:
		return fmt.Sprintf("Produce{p%d %s#%d %q}", m.Partition, m.Producer, m.Seq, m.Value)
	case rl.ProduceReply:
		return fmt.Sprintf("ProduceReply{p%d %s#%d offset %d%s}", m.Partition, m.Producer, m.Seq, m.Offset, codeText(m.Err))
	case rl.Fetch:
		return fmt.Sprintf("Fetch{p%d from %d}", m.Partition, m.Offset)
	case rl.FetchReply:
		return fmt.Sprintf("FetchReply{p%d from %d: %d records, hwm %d%s}", m.Partition, m.Offset, len(m.Records), m.HWM, codeText(m.Err))
	case rl.Commit:
		return fmt.Sprintf("Commit{p%d group %s offset %d}", m.Partition, m.Group, m.Offset)
	case rl.CommitReply:
		return fmt.Sprintf("CommitReply{p%d group %s offset %d%s}", m.Partition, m.Group, m.Offset, codeText(m.Err))
	case rl.OffsetFetch:
		return fmt.Sprintf("OffsetFetch{p%d group %s}", m.Partition, m.Group)
	case rl.OffsetReply:
		return fmt.Sprintf("OffsetReply{p%d group %s offset %d%s}", m.Partition, m.Group, m.Offset, codeText(m.Err))
	case rl.ReplicaFetch:
		return fmt.Sprintf("ReplicaFetch{p%d epoch %d from %d, last epoch %d}", m.Partition, m.Epoch, m.Offset, m.LastEpoch)
	case rl.ReplicaFetchReply:
		if m.Diverging {
			return fmt.Sprintf("ReplicaFetchReply{p%d epoch %d from %d: diverging, truncate to %d, hwm %d}", m.Partition, m.Epoch, m.Offset, m.TruncateTo, m.HWM)
		}
		return fmt.Sprintf("ReplicaFetchReply{p%d epoch %d from %d: %d records, hwm %d}", m.Partition, m.Epoch, m.Offset, len(m.Records), m.HWM)
	}
	return labkit.Describe(msg)
}

func codeText(c rl.Code) string {
	if c == rl.OK {
		return ""
	}
	return ", " + string(c)
}

// recText names a record in reports.
func recText(r rl.Record) string {
	if r.Group != "" {
		return fmt.Sprintf("commit{group %s offset %d}@%d", r.Group, r.Commit, r.Offset)
	}
	return fmt.Sprintf("%s#%d %q@%d", r.Producer, r.Seq, r.Value, r.Offset)
}

// same reports whether two records are the same record (the epoch aside).
func same(a, b rl.Record) bool {
	return a.Offset == b.Offset && a.Producer == b.Producer && a.Seq == b.Seq && a.Value == b.Value &&
		a.Group == b.Group && a.Commit == b.Commit
}

// ---- The controller ----

// ctlPart is the controller's metadata of one partition.
type ctlPart struct {
	id       int
	epoch    int64
	leader   string
	isr      []string // sorted
	replicas []string
	inc      int           // the leader's incarnation when it was elected
	seen     time.Duration // when the controller last reached the leader
}

type isrCall struct {
	at        time.Duration
	broker    string
	partition int
	epoch     int64
	isr       []string
	err       error
}

// controller plays Kafka's controller: it keeps each partition's leader,
// epoch and ISR, accepts the leaders' conditional ISR updates, tells the
// replicas who leads again and again, and (when auto) elects a new leader
// from the ISR when a leader crashes, restarts or stays out of its reach.
type controller struct {
	c       *cluster
	parts   []*ctlPart
	auto    bool
	session time.Duration // how long a leader may be out of reach
	calls   []isrCall
	force   error // when set, UpdateISR fails with it
	ticker  *labkit.Ticker
}

const ctlName = "controller"

func (ct *controller) part(id int) *ctlPart {
	for _, p := range ct.parts {
		if p.id == id {
			return p
		}
	}
	return nil
}

func (ct *controller) reachable(b string) bool {
	n := ct.c.net
	return n.Up(b) && n.Reachable(b, ctlName) && n.Reachable(ctlName, b)
}

func (ct *controller) updateISR(broker string, partition int, epoch int64, isr []string) error {
	call := isrCall{at: ct.c.sim.Elapsed(), broker: broker, partition: partition, epoch: epoch, isr: slices.Clone(isr)}
	err := ct.decide(call)
	call.err = err
	ct.calls = append(ct.calls, call)
	result := "ok"
	if err != nil {
		result = err.Error()
	}
	ct.c.sim.Logf("%s UpdateISR(p%d, epoch %d, [%s]): %s", broker, partition, epoch, strings.Join(isr, " "), result)
	return err
}

func (ct *controller) decide(call isrCall) error {
	if ct.force != nil {
		return ct.force
	}
	if !ct.reachable(call.broker) {
		return rl.ErrControllerUnavailable
	}
	p := ct.part(call.partition)
	if p == nil || call.epoch != p.epoch || call.broker != p.leader {
		return rl.ErrFenced
	}
	seen := map[string]bool{}
	for _, r := range call.isr {
		if seen[r] || !slices.Contains(p.replicas, r) {
			ct.c.fail(labkit.Violationf("the ISR holds replicas of the partition, each once",
				"%s asked the controller to set the ISR of p%d to [%s]; the replicas are [%s]",
				call.broker, call.partition, strings.Join(call.isr, " "), strings.Join(p.replicas, " ")))
			return rl.ErrFenced
		}
		seen[r] = true
	}
	if !seen[call.broker] {
		ct.c.fail(labkit.Violationf("the leader is always in its own ISR",
			"%s, leader of p%d, asked the controller to set the ISR to [%s], without itself",
			call.broker, call.partition, strings.Join(call.isr, " ")))
		return rl.ErrFenced
	}
	p.isr = sortedCopy(call.isr)
	return nil
}

func sortedCopy(s []string) []string {
	s = slices.Clone(s)
	slices.Sort(s)
	return s
}

// tick detects failed leaders (when auto), elects, and tells every replica
// the current state.
func (ct *controller) tick() {
	now := ct.c.sim.Elapsed()
	for _, p := range ct.parts {
		if ct.auto {
			if ct.reachable(p.leader) {
				if ct.c.inc[p.leader] == p.inc {
					p.seen = now
				}
			}
			if !ct.c.net.Up(p.leader) || ct.c.inc[p.leader] != p.inc || now-p.seen > ct.session {
				ct.elect(p, "")
			}
		}
		ct.announce(p)
	}
}

func (ct *controller) announce(p *ctlPart) {
	for _, r := range p.replicas {
		ct.c.net.Send(ctlName, r, rl.LeaderAndISR{Partition: p.id, Epoch: p.epoch, Leader: p.leader, ISR: slices.Clone(p.isr)})
	}
}

// elect makes a new leader of p: the given one, or one of the ISR other than
// the failed leader that is up and reachable; failing that, the old leader
// again once it is back (it is then the only ISR member left). It reports
// whether it elected anyone.
func (ct *controller) elect(p *ctlPart, to string) bool {
	old := p.leader
	if to == "" {
		var cands []string
		for _, r := range p.isr {
			if r != old && ct.reachable(r) {
				cands = append(cands, r)
			}
		}
		switch {
		case len(cands) > 0:
			to = cands[ct.c.sim.Rand().IntN(len(cands))]
		case slices.Contains(p.isr, old) && ct.reachable(old) && (ct.c.inc[old] != p.inc || ct.c.sim.Elapsed()-p.seen > ct.session):
			to = old
		default:
			return false
		}
	}
	if to != old {
		if i := slices.Index(p.isr, old); i >= 0 && len(p.isr) > 1 {
			p.isr = slices.Delete(slices.Clone(p.isr), i, i+1)
		}
	}
	if !slices.Contains(p.isr, to) {
		p.isr = sortedCopy(append(slices.Clone(p.isr), to))
	}
	p.epoch++
	p.leader = to
	p.inc = ct.c.inc[to]
	p.seen = ct.c.sim.Elapsed()
	ct.c.sim.Logf("controller elects %s leader of p%d in epoch %d, ISR [%s]", to, p.id, p.epoch, strings.Join(p.isr, " "))
	ct.c.sim.NoteFault("controller: %s leads p%d in epoch %d (ISR %s)", to, p.id, p.epoch, strings.Join(p.isr, ","))
	ct.announce(p)
	return true
}

// ---- The cluster ----

type cluster struct {
	t       *testing.T
	sim     *labkit.Sim
	net     *labkit.Net
	cfg     rl.Config
	ctl     *controller
	brokers []string // the learner's brokers
	parts   []int
	inc     map[string]int
	hist    *history
	broken  error

	// what each broker was for each partition over time, for the picture
	changes map[string][]labkit.Change
	// per leadership (broker, partition, epoch): its log end and HWM so far
	leads map[leadKey]*leadState
	// per broker, what it sent and wrote, in order (scripted tests only)
	actions map[string][]string
	// the client finalCheck asks with
	checker *inbox
}

// did notes an action of a broker, when the test records them.
func (c *cluster) did(broker, what string) {
	if c.actions != nil {
		c.actions[broker] = append(c.actions[broker], what)
	}
}

type leadKey struct {
	broker    string
	partition int
	epoch     int64
}

type leadState struct{ leo, hwm int64 }

// newCluster builds brokers with the given names (the learner's code), the
// controller, and partitions 0..nparts-1 replicated on every broker, the
// leader of partition i being brokers[i mod len] in epoch 1. Fake peers can
// be added with addFake before start.
func newCluster(t *testing.T, seed int64, cfg rl.Config, link labkit.Link) *cluster {
	t.Helper()
	sim := labkit.NewSim(seed)
	net := labkit.NewNet(sim)
	net.Format = describe
	net.SetDefaultLink(link)
	c := &cluster{
		t: t, sim: sim, net: net, cfg: cfg,
		inc:     map[string]int{},
		changes: map[string][]labkit.Change{},
		leads:   map[leadKey]*leadState{},
	}
	c.hist = newHistory(c)
	c.ctl = &controller{c: c, session: 100 * time.Millisecond}
	net.AddClient(ctlName, func(string, any) {})
	sim.Invariant(c.check)
	t.Cleanup(func() {
		if t.Failed() {
			labkit.Attach(t, "roles.svg", c.timelineSVG())
		}
	})
	return c
}

// addBrokers adds the learner's brokers.
func (c *cluster) addBrokers(names ...string) {
	for _, name := range names {
		c.brokers = append(c.brokers, name)
		c.net.AddNode(name, func(e *labkit.Env) labkit.Node {
			c.inc[e.Name()]++
			return rl.New(env{e: e, c: c}, c.cfg)
		})
	}
}

// addPartition registers partition id with its replicas; the first one
// leads in epoch 1 with every replica in sync. Nothing is announced yet.
func (c *cluster) addPartition(id int, replicas ...string) *ctlPart {
	p := &ctlPart{id: id, epoch: 1, leader: replicas[0], isr: sortedCopy(replicas), replicas: slices.Clone(replicas)}
	p.inc = c.inc[p.leader]
	c.ctl.parts = append(c.ctl.parts, p)
	c.parts = append(c.parts, id)
	return p
}

// start announces every partition now and then every 20ms; with auto the
// controller also replaces failed leaders.
func (c *cluster) start(auto bool) {
	c.ctl.auto = auto
	for _, p := range c.ctl.parts {
		p.seen = c.sim.Elapsed()
		c.ctl.announce(p)
	}
	c.ctl.ticker = c.sim.Every(20*time.Millisecond, c.ctl.tick)
}

// broker returns a running broker, or nil while it is down.
func (c *cluster) broker(name string) *rl.Broker {
	n := c.net.Node(name)
	if n == nil {
		return nil
	}
	b, _ := n.(*rl.Broker)
	return b
}

func (c *cluster) status(name string, p int) (rl.Status, bool) {
	b := c.broker(name)
	if b == nil {
		return rl.Status{}, false
	}
	return b.Status(p), true
}

func (c *cluster) fail(err error) {
	if c.broken == nil {
		c.broken = err
	}
}

// check runs after every event: it records roles for the picture, and
// checks every leader it sees (once per leadership, against every record
// acknowledged or read so far), that a leader's log and HWM never shrink,
// and that its HWM stays within its log.
func (c *cluster) check() error {
	if c.broken != nil {
		return c.broken
	}
	now := c.sim.Elapsed()
	for _, name := range c.brokers {
		for _, p := range c.parts {
			label := "crashed"
			st, up := c.status(name, p)
			if up {
				label = string(st.Role)
				if st.Role == rl.Leader {
					label = fmt.Sprintf("leader e%d", st.Epoch)
					if err := c.checkLeader(name, p, st); err != nil {
						return err
					}
				}
			}
			lane := fmt.Sprintf("%s p%d", name, p)
			ch := c.changes[lane]
			if len(ch) == 0 || ch[len(ch)-1].State != label {
				c.changes[lane] = append(ch, labkit.Change{At: now, State: label})
			}
		}
	}
	return nil
}

func (c *cluster) checkLeader(name string, p int, st rl.Status) error {
	k := leadKey{name, p, st.Epoch}
	ls := c.leads[k]
	if ls == nil {
		ls = &leadState{leo: st.LEO, hwm: st.HWM}
		c.leads[k] = ls
		if err := c.hist.checkLog(p, c.broker(name).Log(p), fmt.Sprintf("%s, which just became leader of p%d in epoch %d,", name, p, st.Epoch)); err != nil {
			return err
		}
	}
	if st.LEO < ls.leo {
		return labkit.Violationf("a leader never truncates its own log",
			"%s, leader of p%d in epoch %d, had %d records and now has %d", name, p, st.Epoch, ls.leo, st.LEO)
	}
	if st.HWM < ls.hwm {
		return labkit.Violationf("a leader's high-water mark never goes down",
			"%s, leader of p%d in epoch %d, had HWM %d and now has HWM %d", name, p, st.Epoch, ls.hwm, st.HWM)
	}
	if st.HWM > st.LEO {
		return labkit.Violationf("the high-water mark is never above the log end",
			"%s, leader of p%d in epoch %d, has HWM %d but only %d records", name, p, st.Epoch, st.HWM, st.LEO)
	}
	ls.leo, ls.hwm = st.LEO, st.HWM
	return nil
}

// require fails the test if a property broke.
func (c *cluster) require() {
	c.t.Helper()
	if c.broken != nil {
		c.sim.Require(c.t, c.broken)
	}
	c.sim.Require(c.t, c.sim.Err())
}

// run advances virtual time and checks.
func (c *cluster) run(d time.Duration) {
	c.t.Helper()
	c.sim.RunFor(d)
	c.require()
}

// runUntil runs until cond holds, for at most limit; it reports whether it
// did.
func (c *cluster) runUntil(cond func() bool, limit time.Duration) bool {
	c.t.Helper()
	ok := c.sim.RunUntil(func() bool { return c.broken != nil || cond() }, limit)
	c.require()
	return ok
}

// leaderOf returns the controller's current leader of p.
func (c *cluster) leaderOf(p int) string { return c.ctl.part(p).leader }

// leaderReady reports whether the controller's leader of p runs and acts as
// leader of the controller's epoch.
func (c *cluster) leaderReady(p int) bool {
	cp := c.ctl.part(p)
	st, up := c.status(cp.leader, p)
	return up && st.Role == rl.Leader && st.Epoch == cp.epoch
}

// inSync reports whether every replica of p is in the controller's ISR.
func (c *cluster) inSync(p int) bool {
	cp := c.ctl.part(p)
	return slices.Equal(cp.isr, sortedCopy(cp.replicas))
}

var roleColors = map[string]string{
	"follower": "#4e79a7", "none": "#bab0ac", "crashed": "#555555",
	labkit.StateUp: "#59a14f", labkit.StateCutOff: "#edc948",
}

// timelineSVG shows what every broker was for every partition over time
// (leader lanes are red-ish, one shade per epoch), then the network.
func (c *cluster) timelineSVG() string {
	end := c.sim.Elapsed()
	colors := map[string]string{}
	for k, v := range roleColors {
		colors[k] = v
	}
	shades := []string{"#e15759", "#f28e2b", "#b07aa1", "#ff9da7", "#9c755f", "#edc948"}
	var lanes []labkit.Lane
	for _, name := range c.brokers {
		for _, p := range c.parts {
			lane := fmt.Sprintf("%s p%d", name, p)
			for _, ch := range c.changes[lane] {
				if strings.HasPrefix(ch.State, "leader") {
					var e int
					fmt.Sscanf(ch.State, "leader e%d", &e)
					colors[ch.State] = shades[e%len(shades)]
				}
			}
			lanes = append(lanes, labkit.Lane{Name: lane, Spans: labkit.SpansFromChanges(c.changes[lane], end)})
		}
	}
	for _, l := range c.net.Timeline() {
		l.Name += " net"
		lanes = append(lanes, l)
	}
	return labkit.Timeline{Title: "each broker's role per partition (top) and the network (bottom)", Lanes: lanes, Colors: colors}.SVG()
}

// ---- The history checker ----

// fact is a record some client was told about: acknowledged to a producer,
// read by a consumer, or acknowledged as a commit.
type fact struct {
	rec rl.Record
	how string
}

type history struct {
	c *cluster
	// per partition, per offset: the first record a client was told is there
	known map[int]map[int64]fact
	// per partition and group: the highest acknowledged commit
	commits map[int]map[string]int64
	// per partition and group: every offset a commit was sent for
	asked map[int]map[string]map[int64]bool
	acked int
	read  int
}

func newHistory(c *cluster) *history {
	return &history{c: c, known: map[int]map[int64]fact{}, commits: map[int]map[string]int64{}, asked: map[int]map[string]map[int64]bool{}}
}

// learn records that a client was told rec is at its offset of partition p,
// and checks that no other record was ever reported there.
func (h *history) learn(p int, rec rl.Record, how string) {
	if h.known[p] == nil {
		h.known[p] = map[int64]fact{}
	}
	how = fmt.Sprintf("%s at %s", how, fmtTime(h.c.sim.Elapsed()))
	if f, ok := h.known[p][rec.Offset]; ok {
		if !same(f.rec, rec) {
			h.c.fail(labkit.Violationf("an offset is never reused for a different record",
				"p%d offset %d held %s (%s), and later %s (%s)", p, rec.Offset, recText(f.rec), f.how, recText(rec), how))
		}
		return
	}
	h.known[p][rec.Offset] = fact{rec: rec, how: how}
}

func fmtTime(d time.Duration) string { return fmt.Sprintf("%.6fs", d.Seconds()) }

// checkLog checks that log holds every record clients were told about, at
// its offset.
func (h *history) checkLog(p int, log []rl.Record, who string) error {
	offsets := make([]int64, 0, len(h.known[p]))
	for o := range h.known[p] {
		offsets = append(offsets, o)
	}
	slices.Sort(offsets)
	for _, o := range offsets {
		f := h.known[p][o]
		if o >= int64(len(log)) {
			return labkit.Violationf("every acknowledged record is readable at its offset from every later leader",
				"%s has %d records, but %s is at offset %d (%s)", who, len(log), recText(f.rec), o, f.how)
		}
		if !same(log[o], f.rec) {
			return labkit.Violationf("every acknowledged record is readable at its offset from every later leader",
				"%s holds %s at offset %d, but %s was there (%s)", who, recText(log[o]), o, recText(f.rec), f.how)
		}
	}
	return nil
}

// ---- Clients ----

// inbox is a test client that records what it receives.
type inbox struct {
	c    *cluster
	name string
	got  []got
	on   func(from string, msg any)
}

type got struct {
	at   time.Duration
	from string
	msg  any
}

func (c *cluster) addClient(name string) *inbox {
	in := &inbox{c: c, name: name}
	c.net.AddClient(name, func(from string, msg any) {
		in.got = append(in.got, got{c.sim.Elapsed(), from, msg})
		if in.on != nil {
			in.on(from, msg)
		}
	})
	return in
}

func (in *inbox) send(to string, msg any) { in.c.net.Send(in.name, to, msg) }

// since returns the messages received at or after at.
func (in *inbox) since(at time.Duration) []any {
	var out []any
	for _, g := range in.got {
		if g.at >= at {
			out = append(out, g.msg)
		}
	}
	return out
}

// ask sends msg to a broker, runs d and returns what came back.
func (in *inbox) ask(to string, msg any, d time.Duration) []any {
	start := in.c.sim.Elapsed()
	in.send(to, msg)
	in.c.run(d)
	return in.since(start)
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

// producer is an idempotent producer with one request in flight: it sends
// Produce(seq) to the controller's leader of its partition, resends it on a
// NotLeader reply or after its timeout, and moves to seq+1 only on OK.
type producer struct {
	c        *cluster
	name     string
	part     int
	seq      int64
	timeout  time.Duration
	running  bool
	gen      int
	acks     int
	sentAt   time.Duration
	attempts int
}

func (c *cluster) addProducer(name string, part int) *producer {
	pr := &producer{c: c, name: name, part: part, seq: 1, timeout: 100 * time.Millisecond}
	c.net.AddClient(name, pr.handle)
	return pr
}

func (pr *producer) value(seq int64) string { return fmt.Sprintf("%s-%d", pr.name, seq) }

func (pr *producer) start() {
	pr.running = true
	pr.send()
}

func (pr *producer) send() {
	if !pr.running {
		return
	}
	pr.gen++
	gen := pr.gen
	pr.attempts++
	pr.sentAt = pr.c.sim.Elapsed()
	pr.c.net.Send(pr.name, pr.c.leaderOf(pr.part), rl.Produce{Partition: pr.part, Producer: pr.name, Seq: pr.seq, Value: pr.value(pr.seq)})
	pr.c.sim.AfterFunc(pr.timeout, func() {
		if pr.gen == gen {
			pr.send()
		}
	})
}

func (pr *producer) handle(from string, msg any) {
	m, ok := msg.(rl.ProduceReply)
	if !ok || m.Producer != pr.name || m.Partition != pr.part {
		return
	}
	if m.Err == rl.OK {
		if m.Seq > pr.seq || m.Seq < 1 {
			pr.c.fail(labkit.Violationf("a produce is acknowledged only after it was sent",
				"%s got an OK for seq %d, but has only sent up to seq %d", pr.name, m.Seq, pr.seq))
			return
		}
		pr.c.hist.learn(pr.part, rl.Record{Offset: m.Offset, Producer: pr.name, Seq: m.Seq, Value: pr.value(m.Seq)},
			fmt.Sprintf("acknowledged by %s to %s", from, pr.name))
		if m.Seq != pr.seq {
			return
		}
		pr.c.hist.acked++
		pr.acks++
		pr.seq++
		pr.gen++
		gen := pr.gen
		pr.c.sim.AfterFunc(time.Duration(1+pr.c.sim.Rand().IntN(15))*time.Millisecond, func() {
			if pr.gen == gen {
				pr.send()
			}
		})
		return
	}
	if m.Seq == pr.seq {
		pr.gen++
		gen := pr.gen
		pr.c.sim.AfterFunc(10*time.Millisecond, func() {
			if pr.gen == gen {
				pr.send()
			}
		})
	}
}

// consumer reads partition part for group from its position, checks every
// record it is given, commits its position now and then, and now and then
// forgets its position and asks for the group's committed offset.
type consumer struct {
	c        *cluster
	name     string
	group    string
	part     int
	pos      int64
	running  bool
	waiting  bool // for an OffsetFetch answer
	reads    int
	commits  int
	restarts int
}

func (c *cluster) addConsumer(name, group string, part int) *consumer {
	co := &consumer{c: c, name: name, group: group, part: part}
	c.net.AddClient(name, co.handle)
	return co
}

func (co *consumer) start() {
	co.running = true
	co.c.sim.Every(15*time.Millisecond, co.poll)
}

func (co *consumer) poll() {
	if !co.running {
		return
	}
	leader := co.c.leaderOf(co.part)
	r := co.c.sim.Rand()
	switch {
	case co.waiting || r.IntN(40) == 0:
		// forget the position: ask for the group's committed offset
		if !co.waiting {
			co.restarts++
		}
		co.waiting = true
		co.c.net.Send(co.name, leader, rl.OffsetFetch{Partition: co.part, Group: co.group})
	case r.IntN(4) == 0:
		h := co.c.hist
		if h.asked[co.part] == nil {
			h.asked[co.part] = map[string]map[int64]bool{}
		}
		if h.asked[co.part][co.group] == nil {
			h.asked[co.part][co.group] = map[int64]bool{}
		}
		h.asked[co.part][co.group][co.pos] = true
		co.c.net.Send(co.name, leader, rl.Commit{Partition: co.part, Group: co.group, Offset: co.pos})
	default:
		co.c.net.Send(co.name, leader, rl.Fetch{Partition: co.part, Offset: co.pos})
	}
}

func (co *consumer) handle(from string, msg any) {
	h := co.c.hist
	switch m := msg.(type) {
	case rl.FetchReply:
		if m.Partition != co.part {
			return
		}
		if m.Err == rl.OffsetOutOfRange && m.Offset <= h.maxCommitted(co.part) {
			co.c.fail(labkit.Violationf("every committed offset stays within the log of every later leader",
				"%s fetched p%d from offset %d, which it had read up to, and %s answered OFFSET_OUT_OF_RANGE", co.name, co.part, m.Offset, from))
			return
		}
		if m.Err != rl.OK {
			return
		}
		for i, r := range m.Records {
			if r.Offset != m.Offset+int64(i) {
				co.c.fail(labkit.Violationf("a fetch returns consecutive records from the offset asked for",
					"%s fetched p%d from offset %d and record %d of the reply has offset %d", co.name, co.part, m.Offset, i, r.Offset))
				return
			}
			if r.Offset >= m.HWM {
				co.c.fail(labkit.Violationf("consumers never see a record at or above the high-water mark",
					"%s fetched p%d from offset %d and got %s with HWM %d", co.name, co.part, m.Offset, recText(r), m.HWM))
				return
			}
			h.learn(co.part, r, fmt.Sprintf("read by %s from %s", co.name, from))
			h.read++
		}
		if m.Offset == co.pos && !co.waiting {
			co.pos += int64(len(m.Records))
			co.reads += len(m.Records)
		}
	case rl.CommitReply:
		if m.Partition != co.part || m.Err != rl.OK {
			return
		}
		if h.commits[co.part] == nil {
			h.commits[co.part] = map[string]int64{}
		}
		if prev, ok := h.commits[co.part][m.Group]; !ok || m.Offset > prev {
			h.commits[co.part][m.Group] = m.Offset
		}
		co.commits++
	case rl.OffsetReply:
		if m.Partition != co.part || m.Err != rl.OK || !co.waiting {
			return
		}
		// A leader elected a moment ago may still have a high-water mark
		// below its predecessor's, and so count fewer commit records: the
		// answer may lag here. Once everything is repaired, finalCheck
		// asks again and then nothing acknowledged may be missing.
		if m.Offset >= 0 && !h.asked[co.part][co.group][m.Offset] {
			co.c.fail(labkit.Violationf("a committed offset is one some consumer of the group committed",
				"%s answered committed offset %d for group %s on p%d, which no consumer of the group sent", from, m.Offset, co.group, co.part))
			return
		}
		co.waiting = false
		co.pos = max(m.Offset, 0)
	}
}

// maxCommitted is the highest offset below which clients know every record
// of p is committed (what consumers read and producers were acknowledged).
func (h *history) maxCommitted(p int) int64 {
	var top int64
	for o := range h.known[p] {
		top = max(top, o+1)
	}
	return top
}

// withContext prefixes a violation's detail with what the test was doing.
func withContext(err error, format string, args ...any) error {
	var v *labkit.Violation
	if errors.As(err, &v) {
		return labkit.Violationf(v.Property, "%s:\n%s", fmt.Sprintf(format, args...), v.Detail)
	}
	return fmt.Errorf("%s: %w", fmt.Sprintf(format, args...), err)
}
