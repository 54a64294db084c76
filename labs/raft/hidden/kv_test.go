package hidden

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"faultline.dev/labkit"
)

// The key-value service on top of Raft: clients send requests to the node
// they believe leads; its service calls Start with the request as the
// command and answers once that index is applied. A command carries the
// client and a sequence number, so a retried put or append takes effect
// once.

type kvRequest struct {
	Client string
	Seq    int64
	Op     string // get, put or append
	Key    string
	Value  string
}

func (r kvRequest) op() labkit.KVOp {
	return labkit.KVOp{Op: r.Op, Key: r.Key, Value: r.Value}
}

// command is the request as a Raft command.
func (r kvRequest) command() string {
	return strings.Join([]string{r.Client, strconv.FormatInt(r.Seq, 10), r.Op, r.Key, r.Value}, " ")
}

func parseCommand(cmd string) (kvRequest, bool) {
	f := strings.SplitN(cmd, " ", 5)
	if len(f) != 5 {
		return kvRequest{}, false
	}
	seq, err := strconv.ParseInt(f[1], 10, 64)
	if err != nil {
		return kvRequest{}, false
	}
	return kvRequest{Client: f[0], Seq: seq, Op: f[2], Key: f[3], Value: f[4]}, true
}

type kvReply struct {
	Client string
	Seq    int64
	OK     bool // false: this node does not lead (or lost its leadership)
	Value  string
}

// request serves a client's request.
func (s *service) request(from string, m kvRequest) {
	idx, _, ok := s.node.Start(m.command())
	if !ok {
		s.env.Send(from, kvReply{Client: m.Client, Seq: m.Seq})
		return
	}
	c := s.c
	if c.ghosts && c.net.Up(s.name) {
		c.checkDisk(s.name, fmt.Sprintf("when Start(%q) returned", m.command()))
	}
	if s.pending == nil {
		s.pending = map[int64]pendingOp{}
	}
	if old, ok := s.pending[idx]; ok {
		s.env.Send(old.from, kvReply{Client: old.client, Seq: old.seq})
	}
	s.pending[idx] = pendingOp{from: from, client: m.Client, seq: m.Seq}
	if c.crashAfterStart > 0 && c.sim.Rand().Float64() < c.crashAfterStart {
		// The leader crashes right after it accepted the command: the entry
		// is in its log (and on its disk), maybe not yet on any other.
		c.net.Crash(s.name)
		c.sim.AfterFunc(c.down, func() { c.net.Restart(s.name) })
	}
}

// exec applies a command to the key-value state and returns a get's value.
func (s *service) exec(cmd string) string {
	if s.kv == nil {
		s.kv, s.seen = map[string]string{}, map[string]int64{}
	}
	r, ok := parseCommand(cmd)
	if !ok {
		return ""
	}
	switch r.Op {
	case "get":
		return s.kv[r.Key]
	case "put", "append":
		if r.Seq <= s.seen[r.Client] {
			return ""
		}
		s.seen[r.Client] = r.Seq
		if r.Op == "put" {
			s.kv[r.Key] = r.Value
		} else {
			s.kv[r.Key] += r.Value
		}
	}
	return ""
}

// applyKV applies an entry and answers the client waiting for it.
func (s *service) applyKV(index int64, cmd string) {
	v := s.exec(cmd)
	p, ok := s.pending[index]
	if !ok {
		return
	}
	delete(s.pending, index)
	r, _ := parseCommand(cmd)
	if r.Client != p.client || r.Seq != p.seq {
		// Another leader's entry took this index: ours was lost.
		s.env.Send(p.from, kvReply{Client: p.client, Seq: p.seq})
		return
	}
	s.env.Send(p.from, kvReply{Client: p.client, Seq: p.seq, OK: true, Value: v})
}

// client runs operations one at a time against the cluster.
type client struct {
	c       *cluster
	name    string
	env     *labkit.Env
	h       *labkit.History
	servers []string
	guess   int
	seq     int64
	cur     *kvRequest
	call    *labkit.Call
	timer   labkit.Timer
	done    int
	stopped bool
	// timeout is how long it waits for a reply before trying the next node.
	timeout time.Duration
}

// keys the clients use: few, so operations on one key overlap.
var kvKeys = []string{"a", "b", "c"}

func (c *cluster) addClients(k int, h *labkit.History, timeout time.Duration) []*client {
	var out []*client
	for i := 1; i <= k; i++ {
		cl := &client{c: c, name: fmt.Sprintf("c%d", i), h: h, servers: c.real, timeout: timeout}
		cl.guess = i % len(c.real)
		cl.env = c.net.AddClient(cl.name, cl.handle)
		out = append(out, cl)
	}
	return out
}

// begin starts the client's next operation.
func (cl *client) begin() {
	if cl.stopped {
		return
	}
	r := cl.c.sim.Rand()
	cl.seq++
	req := kvRequest{Client: cl.name, Seq: cl.seq, Key: kvKeys[r.IntN(len(kvKeys))]}
	switch r.IntN(3) {
	case 0:
		req.Op = "get"
	case 1:
		req.Op, req.Value = "put", fmt.Sprintf("%s.%d;", cl.name, cl.seq)
	default:
		req.Op, req.Value = "append", fmt.Sprintf("%s.%d;", cl.name, cl.seq)
	}
	cl.cur = &req
	cl.call = cl.h.Invoke(cl.name, req.op())
	cl.send()
}

func (cl *client) send() {
	if cl.timer != nil {
		cl.timer.Stop()
	}
	cl.env.Send(cl.servers[cl.guess], *cl.cur)
	seq := cl.seq
	cl.timer = cl.env.After(cl.timeout, "client timeout", func() {
		if cl.cur != nil && cl.cur.Seq == seq {
			cl.guess = (cl.guess + 1) % len(cl.servers)
			cl.send()
		}
	})
}

func (cl *client) handle(from string, msg any) {
	m, ok := msg.(kvReply)
	if !ok || cl.cur == nil || m.Seq != cl.cur.Seq {
		return // a late or duplicated reply to an operation that is over
	}
	if !m.OK {
		cl.guess = (cl.guess + 1) % len(cl.servers)
		if cl.timer != nil {
			cl.timer.Stop()
		}
		seq := cl.seq
		cl.timer = cl.env.After(10*time.Millisecond, "client retry", func() {
			if cl.cur != nil && cl.cur.Seq == seq {
				cl.send()
			}
		})
		return
	}
	if cl.timer != nil {
		cl.timer.Stop()
	}
	var out any
	if cl.cur.Op == "get" {
		out = m.Value
	}
	cl.call.Complete(out)
	cl.cur, cl.call = nil, nil
	cl.done++
	cl.env.After(time.Duration(cl.c.sim.Rand().IntN(20))*time.Millisecond, "client think", cl.begin)
}

// kvRun runs clients against the cluster for d while faults (set up by the
// caller) play out, then repairs everything with repair, lets every
// client finish its operation, and checks that the history is
// linearizable and that the clients got work done.
func kvRun(c *cluster, clients int, d time.Duration, repair func()) {
	c.t.Helper()
	h := labkit.NewHistory(c.sim)
	cls := c.addClients(clients, h, 4*c.timeout())
	for _, cl := range cls {
		cl.begin()
	}
	c.run(d)
	for _, cl := range cls {
		cl.stopped = true
	}
	if repair != nil {
		repair()
	}
	ok := c.sim.RunUntil(func() bool {
		for _, cl := range cls {
			if cl.cur != nil {
				return false
			}
		}
		return true
	}, 40*c.timeout())
	c.require()
	var left []string
	total := 0
	for _, cl := range cls {
		total += cl.done
		if cl.cur != nil {
			left = append(left, cl.name+" "+cl.cur.op().String())
		}
	}
	c.sim.Check(c.t, ok, "once the faults end, every client's operation completes",
		"40T after every fault was repaired these operations had no answer: %s", strings.Join(left, ", "))
	c.t.Logf("%d clients completed %d operations in %s (%d trace events, %d entries applied)", clients, total, c.sim.Elapsed(), c.sim.Trace().Total(), c.maxApp)
	c.sim.Require(c.t, labkit.CheckLinearizable(h, labkit.KVModel()))
	c.sim.Check(c.t, total >= clients*5, "the service makes progress under faults",
		"%d clients completed only %d operations in %s", clients, total, d)
}
