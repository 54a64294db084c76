package hidden

import (
	"testing"
	"time"

	tpc "faultline.dev/labs/twophasecommit"
)

// TestStateNames: State.String spells every state.
func TestStateNames(t *testing.T) {
	for s, want := range map[tpc.State]string{
		tpc.Unknown: "unknown", tpc.Voting: "voting", tpc.Uncertain: "uncertain",
		tpc.Committed: "committed", tpc.Aborted: "aborted",
	} {
		if got := s.String(); got != want {
			t.Errorf("State(%d).String() = %q, want %q", int(s), got, want)
		}
	}
}

func TestBeginPrepares(t *testing.T) {
	r := newRig(t, "a", "b", "c", "d").withCoordinator()
	r.begin("t1", "a", "b", "c")
	r.expectAll([]string{"a", "b", "c"}, prepare("t1", "a", "b", "c"), "Begin sends one Prepare to each participant, naming every participant in order")
	r.status("t1", tpc.Voting, "a begun transaction is voting")
	r.status("t2", tpc.Unknown, "Status of an ID never begun is Unknown")
	r.begin("t1", "d")
	r.run(5 * time.Millisecond)
	r.quiet("Begin of a known ID does nothing")
	r.status("t1", tpc.Voting, "Begin of a known ID does nothing")

	r.begin("t2", "c", "a")
	r.expectAll([]string{"c", "a"}, prepare("t2", "c", "a"), "Prepare names the participants in the order given to Begin")
	r.begin("t3", "d")
	r.expectAll([]string{"d"}, prepare("t3", "d"), "a transaction may have one participant")
	r.send("d", coord, yes("t3"))
	r.expectAll([]string{"d"}, commit("t3"), "the only participant's yes commits")
	r.status("t3", tpc.Committed, "the only participant's yes commits")
	r.begin("t3", "d")
	r.run(time.Second)
	r.status("t1", tpc.Aborted, "a transaction without votes is aborted at its vote timeout")
	// Nothing but the timeouts' aborts since: no second Prepare.
	for f, want := range map[string][]any{"a": {abort("t1"), abort("t2")}, "b": {abort("t1")}, "c": {abort("t1"), abort("t2")}, "d": nil} {
		got := r.take(f)
		ok := len(got) == len(want)
		for _, w := range want {
			n, _ := count(got, w)
			ok = ok && n == 1
		}
		r.sim.Check(t, ok, "Prepare is sent once, and Begin of a decided ID does nothing",
			"in the second after, %s received %s; want only %s", f, describeAll(got), describeAll(want))
	}
}

func TestCommitNeedsEveryYes(t *testing.T) {
	r := newRig(t, "a", "b", "c", "d").withCoordinator()
	r.begin("t1", "a", "b", "c")
	r.run(5 * time.Millisecond)
	r.take("a")
	r.take("b")
	r.take("c")
	for range 3 {
		r.send("a", coord, yes("t1")) // duplicated by the network
	}
	r.run(5 * time.Millisecond)
	r.quiet("each participant's yes counts once")
	r.status("t1", tpc.Voting, "each participant's yes counts once")
	r.send("d", coord, yes("t1"))
	r.run(5 * time.Millisecond)
	r.quiet("a vote from a node that is not a participant is ignored")
	r.status("t1", tpc.Voting, "a vote from a node that is not a participant does not count")
	r.send("b", coord, yes("t1"))
	r.send("b", coord, yes("t1"))
	r.run(5 * time.Millisecond)
	r.quiet("no decision before every participant voted yes")
	r.status("t1", tpc.Voting, "no decision before every participant voted yes")
	r.send("c", coord, yes("t1"))
	r.expectAll([]string{"a", "b", "c"}, commit("t1"), "when every participant voted yes, the commit goes once to each")
	r.status("t1", tpc.Committed, "when every participant voted yes, the transaction commits")
	r.send("d", coord, yes("t1"))
	r.run(time.Second)
	r.quiet("a committed transaction sends nothing more on its own, and a stranger's vote gets no answer")
	r.status("t1", tpc.Committed, "a decision is final")

	// Two participants: a stranger's yes must not stand in for the second.
	r.begin("t2", "a", "b")
	r.run(5 * time.Millisecond)
	r.take("a")
	r.take("b")
	r.send("a", coord, yes("t2"))
	r.send("d", coord, yes("t2"))
	r.run(5 * time.Millisecond)
	r.quiet("a vote from a node that is not a participant does not count")
	r.status("t2", tpc.Voting, "a vote from a node that is not a participant does not count")
	r.send("b", coord, yes("t2"))
	r.expectAll([]string{"a", "b"}, commit("t2"), "when every participant voted yes, the commit goes once to each")
}

func TestNoVoteAborts(t *testing.T) {
	r := newRig(t, "a", "b", "c").withCoordinator()
	r.begin("t1", "a", "b", "c")
	r.run(5 * time.Millisecond)
	r.take("a")
	r.take("b")
	r.take("c")
	r.send("a", coord, yes("t1"))
	r.run(2 * time.Millisecond)
	r.send("b", coord, no("t1"))
	r.expectAll([]string{"a", "b", "c"}, abort("t1"), "a no vote aborts at once, and the abort goes once to each participant")
	r.status("t1", tpc.Aborted, "a no vote aborts the transaction")
	r.send("c", coord, yes("t1"))
	r.expectAll([]string{"c"}, abort("t1"), "a vote for a decided transaction is answered with the decision")
	r.send("a", coord, yes("t1"))
	r.expectAll([]string{"a"}, abort("t1"), "a vote for a decided transaction is answered with the decision")
	r.send("b", coord, no("t1"))
	r.expectAll([]string{"b"}, abort("t1"), "a vote for a decided transaction is answered with the decision")
	r.status("t1", tpc.Aborted, "a decision is final")

	r.begin("t2", "a", "b")
	r.run(5 * time.Millisecond)
	r.take("a")
	r.take("b")
	r.send("a", coord, no("t2"))
	r.expectAll([]string{"a", "b"}, abort("t2"), "a first vote of no aborts at once")
	r.send("b", coord, yes("t2"))
	r.expectAll([]string{"b"}, abort("t2"), "a late yes does not turn an abort into a commit")
	r.status("t2", tpc.Aborted, "a decision is final")
	r.run(time.Second)
	r.quiet("an aborted transaction sends nothing more on its own")
}

func TestVoteTimeoutAborts(t *testing.T) {
	r := newRig(t, "a", "b").withCoordinator()
	r.begin("t1", "a", "b")
	r.run(2 * time.Millisecond)
	r.take("a")
	r.take("b")
	r.send("a", coord, yes("t1"))
	r.run(96 * time.Millisecond) // 98ms after Begin
	r.quiet("no decision before VoteTimeout")
	r.status("t1", tpc.Voting, "no decision before VoteTimeout")
	r.run(1 * time.Millisecond) // 99ms
	r.quiet("no decision before VoteTimeout")
	r.run(2 * time.Millisecond) // 101ms: an abort sent at 100ms has arrived
	got := r.take("a")
	r.sim.Check(t, len(got) == 1 && same(got[0], abort("t1")), "a transaction still voting at VoteTimeout is aborted then",
		"VoteTimeout (100ms) after Begin, with one of two yes votes in, a received %s; want exactly %s", describeAll(got), describe(abort("t1")))
	got = r.take("b")
	r.sim.Check(t, len(got) == 1 && same(got[0], abort("t1")), "a transaction still voting at VoteTimeout is aborted then",
		"VoteTimeout (100ms) after Begin, b received %s; want exactly %s", describeAll(got), describe(abort("t1")))
	r.status("t1", tpc.Aborted, "a transaction still voting at VoteTimeout is aborted")
	r.send("b", coord, yes("t1")) // late: now every participant has said yes
	r.expectAll([]string{"b"}, abort("t1"), "a late yes is answered with the abort")
	r.status("t1", tpc.Aborted, "a late yes never turns an abort into a commit")
	r.send("a", coord, yes("t1"))
	r.expectAll([]string{"a"}, abort("t1"), "a late yes is answered with the abort")
	r.status("t1", tpc.Aborted, "a late yes never turns an abort into a commit")

	// A committed transaction's vote timer does nothing.
	r.begin("t2", "a", "b")
	r.run(2 * time.Millisecond)
	r.take("a")
	r.take("b")
	r.send("a", coord, yes("t2"))
	r.send("b", coord, yes("t2"))
	r.expectAll([]string{"a", "b"}, commit("t2"), "every yes commits")
	r.run(200 * time.Millisecond)
	r.quiet("the vote timer of a decided transaction does nothing")
	r.status("t2", tpc.Committed, "the vote timer of a decided transaction does nothing")

	// Each transaction has its own timer, started by its own Begin.
	r.begin("t3", "a")
	r.run(60 * time.Millisecond)
	r.begin("t4", "b")
	r.run(45 * time.Millisecond) // t3 timed out at 100ms; t4 is 45ms old
	r.status("t3", tpc.Aborted, "each transaction's vote timer starts at its own Begin")
	r.status("t4", tpc.Voting, "each transaction's vote timer starts at its own Begin")
	r.take("a")
	r.take("b")
	r.send("b", coord, yes("t4"))
	r.expectAll([]string{"b"}, commit("t4"), "each transaction's vote timer starts at its own Begin")
}

func TestCoordinatorAnswers(t *testing.T) {
	r := newRig(t, "a", "b", "x").withCoordinator()
	r.send("x", coord, query("nope"))
	r.expectAll([]string{"x"}, abort("nope"), "a query about a transaction the coordinator has no record of is answered abort (presumed abort)")
	r.send("a", coord, yes("nope"))
	r.expectAll([]string{"a"}, abort("nope"), "a vote for a transaction the coordinator has no record of is answered abort (presumed abort)")
	r.send("a", coord, no("nope"))
	r.expectAll([]string{"a"}, abort("nope"), "a vote for a transaction the coordinator has no record of is answered abort (presumed abort)")
	r.status("nope", tpc.Unknown, "answering about an unknown transaction does not create it")

	r.begin("t1", "a", "b")
	r.run(5 * time.Millisecond)
	r.take("a")
	r.take("b")
	r.send("a", coord, query("t1"))
	r.send("x", coord, query("t1"))
	r.run(5 * time.Millisecond)
	r.quiet("a query about a transaction still voting gets no answer")
	r.send("a", coord, yes("t1"))
	r.send("b", coord, yes("t1"))
	r.expectAll([]string{"a", "b"}, commit("t1"), "every yes commits")
	r.send("b", coord, query("t1"))
	r.expectAll([]string{"b"}, commit("t1"), "a query about a decided transaction is answered with the decision")
	r.send("x", coord, query("t1"))
	r.expectAll([]string{"x"}, commit("t1"), "a query from anyone is answered with the decision")

	// Messages that are not votes or queries.
	for _, m := range []any{abort("t1"), commit("t2"), prepare("t3", "a"), abort("t4")} {
		r.send("x", coord, m)
		r.run(5 * time.Millisecond)
		r.quiet("a Prepare or Decision sent to the coordinator is ignored")
	}
	r.status("t1", tpc.Committed, "a Decision sent to the coordinator is ignored")
	for _, id := range []string{"t2", "t3", "t4"} {
		r.status(id, tpc.Unknown, "a Prepare or Decision sent to the coordinator is ignored")
	}
}

// TestCommitLoggedFirst: the coordinator crashes while sending its commit,
// after it logged it.
func TestCommitLoggedFirst(t *testing.T) {
	for _, crashAt := range []int{1, 2} {
		r := newRig(t, "a", "b", "c").withCoordinator()
		r.begin("t1", "a", "b", "c")
		r.run(5 * time.Millisecond)
		r.take("a")
		r.take("b")
		r.take("c")
		r.crashAt = crashAt
		for _, f := range []string{"a", "b", "c"} {
			r.send(f, coord, yes("t1"))
		}
		r.run(200 * time.Millisecond)
		got := r.take("a")
		r.sim.Check(t, !r.net.Up(coord) && len(got) == crashAt-1, "the test harness works",
			"the coordinator is up: %v; a received %s", r.net.Up(coord), describeAll(got))
		r.quiet("a crashed coordinator sends nothing")
		r.net.Restart(coord)
		r.status("t1", tpc.Committed, "a commit is in the log before it is sent: a restarted coordinator reports it")
		r.run(2 * time.Millisecond)
		for _, f := range []string{"a", "b", "c"} {
			n, other := count(r.take(f), commit("t1"))
			r.sim.Check(t, n == 1 && len(other) == 0, "a restarted coordinator sends every logged decision to every participant at once",
				"the coordinator crashed while sending the commit of t1 (copy %d); within 2ms of its restart %s received %d commits and %s",
				crashAt, f, n, describeAll(other))
		}
		r.run(time.Second)
		r.quiet("a restarted coordinator sends nothing else on its own")
	}

	// An abort, likewise: a restarted coordinator aborts what it did not
	// commit.
	r := newRig(t, "a", "b").withCoordinator()
	r.begin("t2", "a", "b")
	r.run(5 * time.Millisecond)
	r.take("a")
	r.take("b")
	r.crashAt = 1
	r.send("a", coord, yes("t2"))
	r.send("b", coord, no("t2"))
	r.run(200 * time.Millisecond)
	r.quiet("a crashed coordinator sends nothing")
	r.net.Restart(coord)
	r.status("t2", tpc.Aborted, "a restarted coordinator reports a transaction without a logged commit as aborted")
	r.run(2 * time.Millisecond)
	for _, f := range []string{"a", "b"} {
		n, other := count(r.take(f), abort("t2"))
		r.sim.Check(t, n == 1 && len(other) == 0, "a restarted coordinator sends every logged decision to every participant at once",
			"within 2ms of the restart %s received %d aborts of t2 and %s", f, n, describeAll(other))
	}
}

// TestRecovery: a coordinator with transactions in every state crashes and
// restarts.
func TestRecovery(t *testing.T) {
	r := newRig(t, "a", "b", "c").withCoordinator()
	r.begin("t1", "a", "b")
	r.begin("t2", "b", "c")
	r.begin("t3", "a", "c")
	r.run(5 * time.Millisecond)
	r.send("a", coord, yes("t1"))
	r.send("b", coord, yes("t1"))
	r.send("c", coord, no("t2"))
	r.run(100 * time.Millisecond) // t3 times out
	r.begin("t4", "a", "b", "c")
	r.run(5 * time.Millisecond)
	r.send("a", coord, yes("t4"))
	r.run(5 * time.Millisecond)
	for id, want := range map[string]tpc.State{"t1": tpc.Committed, "t2": tpc.Aborted, "t3": tpc.Aborted, "t4": tpc.Voting} {
		r.status(id, want, "decisions as the rules say, before the crash")
	}
	r.take("a")
	r.take("b")
	r.take("c")
	r.net.Crash(coord)
	r.run(200 * time.Millisecond)
	r.quiet("a crashed coordinator sends nothing")
	r.net.Restart(coord)
	for id, want := range map[string]tpc.State{"t1": tpc.Committed, "t2": tpc.Aborted, "t3": tpc.Aborted, "t4": tpc.Aborted} {
		r.status(id, want, "a restarted coordinator reports a logged commit as committed and every other logged transaction as aborted")
	}
	r.run(2 * time.Millisecond)
	want := map[string][]any{
		"a": {commit("t1"), abort("t3"), abort("t4")},
		"b": {commit("t1"), abort("t2"), abort("t4")},
		"c": {abort("t2"), abort("t3"), abort("t4")},
	}
	for _, f := range []string{"a", "b", "c"} {
		got := r.take(f)
		ok := len(got) == len(want[f])
		for i := 0; ok && i < len(got); i++ {
			ok = same(got[i], want[f][i])
		}
		r.sim.Check(t, ok, "a restarted coordinator sends each logged transaction's decision to each participant at once, in transaction ID order",
			"within 2ms of the restart %s received %s; want %s", f, describeAll(got), describeAll(want[f]))
	}
	r.send("b", coord, yes("t4"))
	r.send("c", coord, yes("t4"))
	r.run(5 * time.Millisecond)
	r.sim.Check(t, len(r.take("a")) == 0, "a restarted coordinator aborts a transaction that was still voting", "a heard something after late votes")
	for _, f := range []string{"b", "c"} {
		got := r.take(f)
		r.sim.Check(t, len(got) == 1 && same(got[0], abort("t4")), "a restarted coordinator aborts a transaction that was still voting; late votes get the abort",
			"%s voted yes on t4 after the restart and received %s; want exactly %s", f, describeAll(got), describe(abort("t4")))
	}
	r.begin("t4", "a", "b", "c")
	r.begin("t1", "a")
	r.run(time.Second)
	r.quiet("Begin of an ID in the log does nothing; a restarted coordinator starts no vote timers")
	r.status("t4", tpc.Aborted, "a decision is final")
	r.status("t1", tpc.Committed, "a decision is final")

	r.net.Crash(coord)
	r.net.Restart(coord)
	for id, want := range map[string]tpc.State{"t1": tpc.Committed, "t2": tpc.Aborted, "t3": tpc.Aborted, "t4": tpc.Aborted} {
		r.status(id, want, "outcomes survive every restart")
	}
	r.run(2 * time.Millisecond)
	for _, f := range []string{"a", "b", "c"} {
		got := r.take(f)
		r.sim.Check(t, len(got) == 3, "a restarted coordinator sends each logged transaction's decision to each participant at once",
			"within 2ms of the second restart %s received %s", f, describeAll(got))
	}
}

// TestConfigDefaults: a zero Config takes VoteTimeout 100ms and RetryAfter
// 50ms.
func TestConfigDefaults(t *testing.T) {
	r := newRig(t, "a", "b").withConfig(tpc.Config{}).withCoordinator()
	r.begin("t1", "a", "b")
	r.run(100 * time.Millisecond) // an abort sent at 100ms arrives at 101ms
	n, other := count(r.take("a"), prepare("t1", "a", "b"))
	r.sim.Check(t, n == 1 && len(other) == 0, "a VoteTimeout of 0 means 100ms",
		"100ms after Begin, a received %d Prepares and %s; want the Prepare only (the abort leaves at 100ms and takes 1ms)", n, describeAll(other))
	r.take("b")
	r.run(time.Millisecond)
	got := r.take("a")
	r.sim.Check(t, len(got) == 1 && same(got[0], abort("t1")), "a VoteTimeout of 0 means 100ms",
		"101ms after Begin, with no votes, a received %s; want exactly %s (sent at 100ms)", describeAll(got), describe(abort("t1")))

	p := newRig(t, coord, "p2").withConfig(tpc.Config{}).withParticipant("p1")
	p.send(coord, "p1", prepare("t1", "p1", "p2"))
	p.run(2 * time.Millisecond) // the vote left at 1ms
	p.take(coord)
	p.run(49 * time.Millisecond) // 51ms: queries sent at 51ms arrive at 52ms
	p.quiet("a RetryAfter of 0 means 50ms: no query before")
	p.run(time.Millisecond)
	for _, f := range []string{coord, "p2"} {
		got := p.take(f)
		p.sim.Check(t, len(got) == 1 && same(got[0], query("t1")), "a RetryAfter of 0 means 50ms",
			"51ms after the vote (sent at 1ms, 1ms on the way), %s received %s; want exactly %s", f, describeAll(got), describe(query("t1")))
	}
	p.run(49 * time.Millisecond)
	p.quiet("a RetryAfter of 0 means 50ms: the next query 50ms later, not before")
	p.run(time.Millisecond)
	for _, f := range []string{coord, "p2"} {
		got := p.take(f)
		p.sim.Check(t, len(got) == 1 && same(got[0], query("t1")), "a RetryAfter of 0 means 50ms",
			"101ms after the vote, %s received %s; want exactly %s", f, describeAll(got), describe(query("t1")))
	}
}

// TestTinyConfig: any positive duration is used as it is.
func TestTinyConfig(t *testing.T) {
	r := newRig(t, "a").withConfig(tpc.Config{VoteTimeout: time.Nanosecond}).withCoordinator()
	r.begin("t1", "a")
	r.run(time.Microsecond)
	r.status("t1", tpc.Aborted, "a positive VoteTimeout is used as it is (only 0 means 100ms)")

	p := newRig(t, coord).withConfig(tpc.Config{RetryAfter: time.Nanosecond}).withParticipant("p1")
	p.send(coord, "p1", prepare("t1", "p1"))
	p.run(time.Millisecond) // the vote leaves at 1ms
	p.run(time.Microsecond)
	p.net.Crash("p1") // stop the queries; those sent are still delivered
	p.run(2 * time.Millisecond)
	n, _ := count(p.take(coord), query("t1"))
	p.sim.Check(t, n >= 990 && n <= 1001, "a positive RetryAfter is used as it is (only 0 means 50ms)",
		"with RetryAfter 1ns, an uncertain participant sent %d queries in the 1µs after its vote; want about 1000", n)
}
