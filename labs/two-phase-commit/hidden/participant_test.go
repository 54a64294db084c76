package hidden

import (
	"testing"
	"time"

	tpc "faultline.dev/labs/twophasecommit"
)

func TestParticipantVotes(t *testing.T) {
	r := newRig(t, coord, "p2", "p3").withParticipant("p1", "t2")
	r.ask(coord, prepare("t1", "p1", "p2", "p3"), yes("t1"), "a participant whose service prepares the transaction votes yes")
	r.status("t1", tpc.Uncertain, "after a yes vote the participant is uncertain")
	r.calls("the service is asked to prepare once", "Prepare t1")
	r.ask(coord, prepare("t1", "p1", "p2", "p3"), yes("t1"), "a duplicate Prepare gets the recorded vote")
	r.ask(coord, prepare("t1", "p1", "p2", "p3"), yes("t1"), "a duplicate Prepare gets the recorded vote")
	r.calls("a duplicate Prepare does not ask the service again", "Prepare t1")

	r.ask(coord, prepare("t2", "p1", "p2"), no("t2"), "a participant whose service refuses votes no")
	r.status("t2", tpc.Aborted, "after a no vote the participant has aborted")
	r.ask(coord, prepare("t2", "p1", "p2"), no("t2"), "a duplicate Prepare gets the recorded vote, a no included")
	r.calls("a duplicate Prepare does not ask the service again", "Prepare t1", "Prepare t2")
	r.send(coord, "p1", abort("t2"))
	r.run(5 * time.Millisecond)
	r.calls("a refused transaction is never aborted at the service (it holds nothing)", "Prepare t1", "Prepare t2")
	r.status("t2", tpc.Aborted, "a refused transaction stays aborted")
	r.status("t9", tpc.Unknown, "Status of a transaction never heard of is Unknown")
	r.quiet("a Decision is never answered")

	// The vote goes to the sender of the Prepare.
	r.ask("p3", prepare("t3", "p1", "p3"), yes("t3"), "the vote goes to the sender of the Prepare")
	r.calls("each transaction is prepared once", "Prepare t1", "Prepare t2", "Prepare t3")
}

func TestParticipantStaysUncertain(t *testing.T) {
	r := newRig(t, coord, "p2", "p3").withParticipant("p1")
	r.send(coord, "p1", prepare("t1", "p1", "p2", "p3"))
	r.run(time.Millisecond) // the vote leaves at 1ms
	r.run(2 * time.Millisecond)
	r.take(coord)
	r.run(47 * time.Millisecond) // 49ms after the vote
	r.quiet("the first query goes RetryAfter after the vote, not before")
	r.run(2 * time.Millisecond) // 51ms: queries sent at 50ms have arrived
	for _, f := range []string{coord, "p2", "p3"} {
		got := r.take(f)
		r.sim.Check(t, len(got) == 1 && same(got[0], query("t1")), "RetryAfter after a yes vote, the participant asks the coordinator and every other participant",
			"51ms after the vote %s received %s; want exactly %s", f, describeAll(got), describe(query("t1")))
	}
	r.run(10 * time.Second)
	for _, f := range []string{coord, "p2", "p3"} {
		n, other := count(r.take(f), query("t1"))
		r.sim.Check(t, n >= 199 && n <= 201 && len(other) == 0, "an uncertain participant asks again every RetryAfter, for as long as it takes",
			"in 10s without a decision %s received %d queries and %s; want 200 queries (one every 50ms)", f, n, describeAll(other))
	}
	r.status("t1", tpc.Uncertain, "a participant that voted yes never decides on its own: it stays uncertain")
	r.calls("a participant that voted yes never commits or aborts on its own", "Prepare t1")

	// Another transaction, with other participants, asks its own.
	r.send(coord, "p1", prepare("t2", "p3", "p1"))
	r.send(coord, "p1", prepare("t3", "p1"))
	r.send("p2", "p1", commit("t1")) // a peer tells p1 the outcome of t1
	r.run(5 * time.Millisecond)
	r.calls("a Decision from a peer is applied like one from the coordinator", "Prepare t1", "Prepare t2", "Prepare t3", "Commit t1")
	r.take(coord)
	r.take("p2")
	r.take("p3")
	r.run(time.Second)
	q2, other := count(r.take("p3"), query("t2"))
	r.sim.Check(t, q2 >= 19 && q2 <= 21 && len(other) == 0, "queries go to the participants of that transaction; a participant that knows the outcome stops asking",
		"in 1s p3 received %d queries about t2 and %s; want 20 about t2 and nothing else", q2, describeAll(other))
	got := r.take("p2")
	r.sim.Check(t, len(got) == 0, "queries go to the participants of that transaction; a participant that knows the outcome stops asking",
		"in 1s p2 (a participant of t1 only, now committed) received %s; want nothing", describeAll(got))
	n2, _ := count(r.take(coord), query("t2"))
	r.sim.Check(t, n2 >= 19 && n2 <= 21, "an uncertain participant asks the coordinator every RetryAfter",
		"in 1s the coordinator received %d queries about t2; want 20", n2)
}

func TestParticipantApplies(t *testing.T) {
	r := newRig(t, coord, "p2").withParticipant("p1")
	r.ask(coord, prepare("t1", "p1", "p2"), yes("t1"), "vote yes")
	r.ask(coord, prepare("t2", "p1", "p2"), yes("t2"), "vote yes")
	r.send(coord, "p1", commit("t1"))
	r.run(5 * time.Millisecond)
	r.calls("a commit is applied at the service", "Prepare t1", "Prepare t2", "Commit t1")
	r.status("t1", tpc.Committed, "a committed transaction is committed")
	r.send(coord, "p1", commit("t1"))
	r.send("p2", "p1", commit("t1"))
	r.send(coord, "p1", abort("t1"))
	r.run(5 * time.Millisecond)
	r.calls("a duplicate Decision does nothing", "Prepare t1", "Prepare t2", "Commit t1")
	r.status("t1", tpc.Committed, "a participant's outcome never changes")
	r.send("p2", "p1", abort("t2"))
	r.run(5 * time.Millisecond)
	r.calls("an abort is applied at the service", "Prepare t1", "Prepare t2", "Commit t1", "Abort t2")
	r.status("t2", tpc.Aborted, "an aborted transaction is aborted")
	r.send(coord, "p1", abort("t2"))
	r.send(coord, "p1", commit("t2"))
	r.run(5 * time.Millisecond)
	r.calls("a duplicate Decision does nothing", "Prepare t1", "Prepare t2", "Commit t1", "Abort t2")
	r.status("t2", tpc.Aborted, "a participant's outcome never changes")
	r.take(coord)
	r.take("p2")

	// An abort that arrives before its Prepare.
	r.send(coord, "p1", abort("t3"))
	r.run(5 * time.Millisecond)
	r.status("t3", tpc.Aborted, "an abort before the Prepare is recorded")
	r.ask(coord, prepare("t3", "p1", "p2"), no("t3"), "a Prepare that arrives after its abort is answered no")
	r.calls("a Prepare that arrives after its abort does not ask the service", "Prepare t1", "Prepare t2", "Commit t1", "Abort t2")

	// A commit of something never prepared here is ignored.
	r.send(coord, "p1", commit("t4"))
	r.run(5 * time.Millisecond)
	r.status("t4", tpc.Unknown, "a commit of a transaction never prepared here is ignored")
	r.calls("a commit of a transaction never prepared here is ignored", "Prepare t1", "Prepare t2", "Commit t1", "Abort t2")
	r.ask(coord, prepare("t4", "p1", "p2"), yes("t4"), "a commit of a transaction never prepared here is ignored: it is prepared as usual later")
	r.calls("a commit of a transaction never prepared here is ignored", "Prepare t1", "Prepare t2", "Commit t1", "Abort t2", "Prepare t4")
	r.run(time.Second)
	for _, f := range []string{coord, "p2"} {
		n, other := count(r.take(f), query("t4"))
		r.sim.Check(t, n >= 19 && len(other) == 0, "a participant that knows an outcome sends nothing about it; a Decision is never answered",
			"in 1s %s received %d queries about t4 (uncertain) and %s; want only queries about t4", f, n, describeAll(other))
	}
}

func TestParticipantAnswers(t *testing.T) {
	r := newRig(t, coord, "p2", "x").withParticipant("p1", "t2")
	r.ask(coord, prepare("t1", "p1", "p2"), yes("t1"), "vote yes")
	r.ask("p2", query("t1"), nil, "an uncertain participant does not answer queries")
	r.ask(coord, query("t1"), nil, "an uncertain participant does not answer queries")
	r.ask(coord, prepare("t2", "p1", "p2"), no("t2"), "vote no")
	r.ask("p2", query("t2"), abort("t2"), "a participant that voted no answers a query with the abort")
	r.ask("p2", query("t9"), nil, "a participant with no record does not answer queries")
	r.send(coord, "p1", commit("t1"))
	r.run(5 * time.Millisecond)
	r.take("p2")
	r.ask("p2", query("t1"), commit("t1"), "a participant that knows the outcome answers a query with it")
	r.ask("x", query("t1"), commit("t1"), "a participant that knows the outcome answers anyone's query")
	r.ask("p2", query("t1"), commit("t1"), "every query is answered, duplicates included")
	r.send(coord, "p1", abort("t3"))
	r.run(5 * time.Millisecond)
	r.ask("x", query("t3"), abort("t3"), "a participant that learned an abort before the Prepare answers a query with it")
	r.ask("x", yes("t1"), nil, "a Vote sent to a participant is ignored")
	r.calls("queries change nothing at the service", "Prepare t1", "Prepare t2", "Commit t1")
}

func TestParticipantRestarts(t *testing.T) {
	r := newRig(t, coord, "p2", "p3").withParticipant("p1", "t2")
	r.ask(coord, prepare("t1", "p1", "p2", "p3"), yes("t1"), "vote yes")
	r.ask(coord, prepare("t2", "p1", "p2"), no("t2"), "vote no")
	r.ask(coord, prepare("t3", "p1", "p2"), yes("t3"), "vote yes")
	r.ask(coord, prepare("t5", "p1", "p2"), yes("t5"), "vote yes")
	r.send(coord, "p1", commit("t3"))
	r.send(coord, "p1", abort("t4"))
	r.run(5 * time.Millisecond)
	r.net.Crash("p1")
	r.run(200 * time.Millisecond)
	r.take(coord)
	r.take("p2")
	r.take("p3")
	r.net.Restart("p1")
	for id, want := range map[string]tpc.State{"t1": tpc.Uncertain, "t2": tpc.Aborted, "t3": tpc.Committed, "t4": tpc.Aborted, "t5": tpc.Uncertain, "t6": tpc.Unknown} {
		r.status(id, want, "a participant's records survive a crash")
	}
	r.calls("NewParticipant calls no Service method", "Prepare t1", "Prepare t2", "Prepare t3", "Prepare t5", "Commit t3")
	r.run(2 * time.Millisecond)
	want := map[string][]any{coord: {query("t1"), query("t5")}, "p2": {query("t1"), query("t5")}, "p3": {query("t1")}}
	for _, f := range []string{coord, "p2", "p3"} {
		got := r.take(f)
		ok := len(got) == len(want[f])
		for i := 0; ok && i < len(got); i++ {
			ok = same(got[i], want[f][i])
		}
		r.sim.Check(t, ok, "a restarted participant asks about every transaction it is uncertain about at once, in ID order",
			"within 2ms of the restart %s received %s; want %s", f, describeAll(got), describeAll(want[f]))
	}
	r.run(47 * time.Millisecond)
	r.quiet("then it asks every RetryAfter")
	r.run(2 * time.Millisecond)
	for _, f := range []string{coord, "p2"} {
		n, _ := count(r.take(f), query("t1"))
		r.sim.Check(t, n == 1, "then it asks every RetryAfter", "51ms after the restart %s received %d queries about t1; want 1", f, n)
	}
	r.take("p3")
	r.ask(coord, prepare("t1", "p1", "p2", "p3"), yes("t1"), "after a crash, a duplicate Prepare gets the recorded vote")
	r.ask(coord, prepare("t2", "p1", "p2"), no("t2"), "after a crash, a duplicate Prepare gets the recorded vote")
	r.ask(coord, prepare("t3", "p1", "p2"), yes("t3"), "after a crash, a duplicate Prepare gets the recorded vote (yes, although committed since)")
	r.ask(coord, prepare("t4", "p1", "p2"), no("t4"), "after a crash, a Prepare that arrives after its abort is answered no")
	r.calls("after a crash, duplicates never ask the service again", "Prepare t1", "Prepare t2", "Prepare t3", "Prepare t5", "Commit t3")
	r.send(coord, "p1", commit("t3"))
	r.send(coord, "p1", abort("t1"))
	r.run(5 * time.Millisecond)
	r.calls("after a crash, an uncertain participant applies the outcome; a duplicate does nothing", "Prepare t1", "Prepare t2", "Prepare t3", "Prepare t5", "Commit t3", "Abort t1")
	r.net.Crash("p1")
	r.net.Restart("p1")
	r.status("t1", tpc.Aborted, "an outcome learned is on disk")
	r.run(2 * time.Millisecond)
	r.take(coord)
	r.take("p2")
	r.take("p3")
	r.ask("p2", query("t1"), abort("t1"), "after a crash, a participant still knows the outcome")
	r.ask("p3", query("t3"), commit("t3"), "after a crash, a participant still knows the outcome")
	r.send(coord, "p1", abort("t5"))
	r.run(time.Second)
	r.take("p2")
	r.quiet("a participant that knows every outcome asks nothing")
	r.calls("each outcome is applied once", "Prepare t1", "Prepare t2", "Prepare t3", "Prepare t5", "Commit t3", "Abort t1", "Abort t5")
}
