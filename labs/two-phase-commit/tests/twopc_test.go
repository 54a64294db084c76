package twophasecommit

import (
	"slices"
	"testing"
	"time"

	"faultline.dev/labkit"
)

func TestLabCommit(t *testing.T) {
	r := newLabRig(t, "stock", "payment")
	r.net.AddNode(labCoord, func(e *labkit.Env) labkit.Node { return NewCoordinator(labEnv{e: e}, labCfg) })
	r.coordinator().Begin(Tx{ID: "order-1", Participants: []string{"stock", "payment"}})
	want := Prepare{Tx: "order-1", Participants: []string{"stock", "payment"}}
	r.expect("stock", want, "Begin sends Prepare to every participant")
	r.expect("payment", want, "Begin sends Prepare to every participant")
	if st := r.coordinator().Status("order-1"); st != Voting {
		r.sim.Failf(t, "a begun transaction is voting", "Status = %s", st)
	}
	r.net.Send("stock", labCoord, Vote{Tx: "order-1", Yes: true})
	r.net.Send("payment", labCoord, Vote{Tx: "order-1", Yes: true})
	r.expect("stock", Decision{Tx: "order-1", Commit: true}, "every yes vote: the coordinator commits")
	r.expect("payment", Decision{Tx: "order-1", Commit: true}, "every yes vote: the coordinator commits")
	if st := r.coordinator().Status("order-1"); st != Committed {
		r.sim.Failf(t, "every yes vote: the transaction commits", "Status = %s", st)
	}
}

func TestLabAbortOnNo(t *testing.T) {
	r := newLabRig(t, "stock", "payment")
	r.net.AddNode(labCoord, func(e *labkit.Env) labkit.Node { return NewCoordinator(labEnv{e: e}, labCfg) })
	r.coordinator().Begin(Tx{ID: "order-1", Participants: []string{"stock", "payment"}})
	r.sim.RunFor(5 * time.Millisecond)
	r.inbox = map[string][]any{}
	r.net.Send("payment", labCoord, Vote{Tx: "order-1", Yes: false})
	r.expect("stock", Decision{Tx: "order-1"}, "one no vote: the coordinator aborts at once")
	r.expect("payment", Decision{Tx: "order-1"}, "one no vote: the coordinator aborts at once")
}

func TestLabParticipantWaits(t *testing.T) {
	r := newLabRig(t, labCoord, "payment")
	r.svc = &labService{}
	r.net.AddNode("stock", func(e *labkit.Env) labkit.Node { return NewParticipant(labEnv{e: e}, labCfg, r.svc) })
	r.net.Send(labCoord, "stock", Prepare{Tx: "order-1", Participants: []string{"stock", "payment"}})
	r.expect(labCoord, Vote{Tx: "order-1", Yes: true}, "a participant whose service prepares votes yes")
	r.sim.RunFor(time.Second)
	p := r.net.Node("stock").(*Participant)
	if st := p.Status("order-1"); st != Uncertain || !slices.Equal(r.svc.calls, []string{"Prepare order-1"}) {
		r.sim.Failf(t, "a participant that voted yes waits for the outcome", "after 1s, Status = %s and the service saw %v", st, r.svc.calls)
	}
	if len(r.inbox[labCoord]) < 10 || len(r.inbox["payment"]) < 10 {
		r.sim.Failf(t, "an uncertain participant asks the coordinator and the other participants every RetryAfter",
			"in 1s the coordinator got %d messages and payment %d", len(r.inbox[labCoord]), len(r.inbox["payment"]))
	}
	r.net.Send("payment", "stock", Decision{Tx: "order-1", Commit: true})
	r.sim.RunFor(5 * time.Millisecond)
	if st := p.Status("order-1"); st != Committed || !slices.Equal(r.svc.calls, []string{"Prepare order-1", "Commit order-1"}) {
		r.sim.Failf(t, "a decision, from anyone, ends the uncertainty", "Status = %s and the service saw %v", st, r.svc.calls)
	}
}

// TestLabBlocking: every participant voted yes, and the coordinator crashes
// right after logging the commit, before it sends it. The participants can
// only wait until it is back.
func TestLabBlocking(t *testing.T) {
	sim := labkit.NewSim(labkit.Seed(t))
	net := labkit.NewNet(sim)
	net.Format = labDescribe
	parts := []string{"stock", "payment", "shipping"}
	crashed := false
	net.AddNode(labCoord, func(e *labkit.Env) labkit.Node {
		return NewCoordinator(labEnv{e: e, onSend: func(to string, msg any) {
			if d, ok := msg.(Decision); ok && d.Commit && !crashed {
				crashed = true
				sim.Logf("test: the coordinator crashes as it sends the commit")
				net.Crash(labCoord)
			}
		}}, labCfg)
	})
	svcs := map[string]*labService{}
	for _, name := range parts {
		svcs[name] = &labService{}
		net.AddNode(name, func(e *labkit.Env) labkit.Node { return NewParticipant(labEnv{e: e}, labCfg, svcs[name]) })
	}
	changes := map[string][]labkit.Change{}
	last := map[string]State{}
	sim.Observe(func() {
		for _, name := range parts {
			if n := net.Node(name); n != nil {
				if st := n.(*Participant).Status("order-1"); st != last[name] || len(changes[name]) == 0 {
					last[name] = st
					changes[name] = append(changes[name], labkit.Change{At: sim.Elapsed(), State: st.String()})
				}
			}
		}
	})
	net.Node(labCoord).(*Coordinator).Begin(Tx{ID: "order-1", Participants: parts})
	sim.RunFor(2 * time.Second)
	sim.Check(t, crashed, "every yes vote: the coordinator commits", "the coordinator never sent a commit")
	for _, name := range parts {
		st := net.Node(name).(*Participant).Status("order-1")
		sim.Check(t, st == Uncertain, "a participant that voted yes waits, uncertain, while nobody knows the outcome",
			"2s after the coordinator crashed (commit logged, not sent), %s reports %s", name, st)
	}
	net.Restart(labCoord)
	sim.RunFor(5 * time.Millisecond)
	for _, name := range parts {
		st := net.Node(name).(*Participant).Status("order-1")
		sim.Check(t, st == Committed && slices.Contains(svcs[name].calls, "Commit order-1"),
			"a restarted coordinator sends its logged decision at once", "5ms after the restart, %s reports %s", name, st)
	}
	sim.RunFor(500 * time.Millisecond) // for the picture: the commit, after the wait
	lanes := net.Timeline()[:1]
	for _, name := range parts {
		lanes = append(lanes, labkit.Lane{Name: name, Spans: labkit.SpansFromChanges(changes[name], sim.Elapsed())})
	}
	colors := map[string]string{"uncertain": "#f28e2b", "committed": "#4e79a7", "unknown": "#d7d7d7"}
	for k, v := range labkit.TimelineColors {
		colors[k] = v
	}
	labkit.Attach(t, "blocking.svg", labkit.Timeline{Title: "order-1: participants stay uncertain while the coordinator is down", Lanes: lanes, Colors: colors}.SVG())
}
