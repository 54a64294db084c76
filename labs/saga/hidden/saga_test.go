package hidden

import (
	"testing"
	"time"

	"faultline.dev/labkit"
	"faultline.dev/labs/saga"
)

func TestCommitsInOrder(t *testing.T) {
	r := newRig(t, "a", "b", "c").withOrchestrator()
	r.begin("trip-1", "a", "b", "c")
	r.expect("a", saga.Do{Saga: "trip-1", Step: 0}, "Begin sends Do for step 0 to Steps[0]")
	r.quiet("one command at a time")
	r.status("trip-1", running(0), "a begun saga is running step 0")
	for i, node := range []string{"a", "b", "c"} {
		r.reply(node, orch, saga.DoReply{Saga: "trip-1", Step: i, OK: true})
		if i < 2 {
			next := []string{"a", "b", "c"}[i+1]
			r.expect(next, saga.Do{Saga: "trip-1", Step: i + 1}, "a done step is followed by Do for the next step")
			r.quiet("one command at a time")
			r.status("trip-1", running(i+1), "Status reports the step in flight")
		}
	}
	r.run(5 * time.Millisecond)
	r.status("trip-1", committed, "a saga whose last step is done is committed")
	r.begin("trip-1", "a", "b", "c")
	r.run(time.Second)
	r.quiet("a committed saga sends nothing more, and Begin of a known ID does nothing")
	r.status("trip-1", committed, "Begin of a known ID does nothing")

	// The same participant may run several steps: the key is (saga, step).
	r.begin("trip-2", "b", "a", "b")
	steps := []string{"b", "a", "b"}
	for i, node := range steps {
		r.expect(node, saga.Do{Saga: "trip-2", Step: i}, "steps run in order, each on Steps[i]")
		r.quiet("one command at a time")
		r.reply(node, orch, saga.DoReply{Saga: "trip-2", Step: i, OK: true})
	}
	r.run(5 * time.Millisecond)
	r.status("trip-2", committed, "a saga whose last step is done is committed")
	r.run(time.Second)
	r.quiet("a committed saga sends nothing more")
}

// compensate runs id forward on steps until refusedAt refuses, then expects
// the compensations in reverse order.
func compensate(r *rig, id string, steps []string, refusedAt int) {
	r.t.Helper()
	r.begin(id, steps...)
	for i := 0; i <= refusedAt; i++ {
		r.expect(steps[i], saga.Do{Saga: id, Step: i}, "steps run in order, each on Steps[i]")
		r.quiet("one command at a time")
		r.reply(steps[i], orch, saga.DoReply{Saga: id, Step: i, OK: i < refusedAt})
	}
	for j := refusedAt - 1; j >= 0; j-- {
		r.expect(steps[j], saga.Undo{Saga: id, Step: j},
			"after a refusal, the done steps are compensated one at a time in reverse order, starting with the step before the refused one")
		r.quiet("one command at a time; the refused step is not compensated")
		r.status(id, compensating(j), "Status reports the step being compensated")
		r.reply(steps[j], orch, saga.UndoReply{Saga: id, Step: j})
	}
	r.run(5 * time.Millisecond)
	r.status(id, compensated, "a saga whose step 0 is compensated is compensated")
	r.run(time.Second)
	r.quiet("a compensated saga sends nothing more")
}

func TestCompensatesInReverse(t *testing.T) {
	r := newRig(t, "a", "b", "c", "d").withOrchestrator()
	compensate(r, "trip-1", []string{"a", "b", "c", "d"}, 3)
	compensate(r, "trip-2", []string{"a", "b", "a", "c", "d"}, 3)
	compensate(r, "trip-3", []string{"c", "d", "b"}, 1)
}

func TestFirstStepRefused(t *testing.T) {
	r := newRig(t, "a", "b").withOrchestrator()
	compensate(r, "trip-1", []string{"a", "b"}, 0)
	compensate(r, "trip-2", []string{"b"}, 0)
}

func countOf(msgs []any, want any) (n int, other []any) {
	for _, m := range msgs {
		if m == want {
			n++
		} else {
			other = append(other, m)
		}
	}
	return n, other
}

// retried checks that node got want resent at about every RetryAfter over d.
func retried(r *rig, node string, want any, d time.Duration) {
	r.t.Helper()
	r.run(d)
	n, other := countOf(r.take(node), want)
	lo, hi := int(d/retryAfter)/2, int(d/retryAfter)+2
	r.sim.Check(r.t, len(other) == 0 && n >= lo && n <= hi,
		"an unanswered command is sent again every RetryAfter, unchanged",
		"with no reply for %s (RetryAfter %s), %s received %d copies of %s (want %d to %d) and %s",
		d, retryAfter, node, n, describe(want), lo, hi, describeAll(other))
	r.quiet("only the current command is retried")
}

func TestRetriesUntilAnswered(t *testing.T) {
	r := newRig(t, "a", "b").withOrchestrator()
	r.begin("trip-1", "a", "b")
	retried(r, "a", saga.Do{Saga: "trip-1", Step: 0}, time.Second)
	r.status("trip-1", running(0), "an unanswered step stays in flight (its outcome is unknown)")
	r.reply("a", orch, saga.DoReply{Saga: "trip-1", Step: 0, OK: true})
	r.expect("b", saga.Do{Saga: "trip-1", Step: 1}, "a done step is followed by Do for the next step")
	r.take("a") // a retry may have crossed the reply
	retried(r, "b", saga.Do{Saga: "trip-1", Step: 1}, 2*time.Second)
	r.status("trip-1", running(1), "an unanswered step stays in flight: no timeout turns it into a refusal")
	r.reply("b", orch, saga.DoReply{Saga: "trip-1", Step: 1, OK: false})
	r.expect("a", saga.Undo{Saga: "trip-1", Step: 0}, "a refusal starts compensation")
	r.take("b")
	retried(r, "a", saga.Undo{Saga: "trip-1", Step: 0}, time.Second)
	r.reply("a", orch, saga.UndoReply{Saga: "trip-1", Step: 0})
	r.run(5 * time.Millisecond)
	r.status("trip-1", compensated, "the saga is compensated")
	r.take("a")
	r.run(time.Second)
	r.quiet("a compensated saga sends nothing more")
}

func TestCompensationNeverGivesUp(t *testing.T) {
	r := newRig(t, "a", "b", "c").withOrchestrator()
	r.begin("trip-1", "a", "b", "c")
	for i, node := range []string{"a", "b", "c"} {
		r.expect(node, saga.Do{Saga: "trip-1", Step: i}, "steps run in order")
		r.reply(node, orch, saga.DoReply{Saga: "trip-1", Step: i, OK: i < 2})
	}
	r.expect("b", saga.Undo{Saga: "trip-1", Step: 1}, "a refusal starts compensation with the step before it")
	// b is unreachable for a long time: the compensation must wait for it.
	retried(r, "b", saga.Undo{Saga: "trip-1", Step: 1}, 8*time.Second)
	r.status("trip-1", compensating(1), "a compensation is retried until it is answered, however long that takes")
	r.reply("b", orch, saga.UndoReply{Saga: "trip-1", Step: 1})
	r.expect("a", saga.Undo{Saga: "trip-1", Step: 0}, "compensations run in reverse order")
	r.take("b")
	retried(r, "a", saga.Undo{Saga: "trip-1", Step: 0}, 5*time.Second)
	r.reply("a", orch, saga.UndoReply{Saga: "trip-1", Step: 0})
	r.run(5 * time.Millisecond)
	r.status("trip-1", compensated, "the saga is compensated")
}

func TestStaleRepliesIgnored(t *testing.T) {
	r := newRig(t, "a", "b", "c").withOrchestrator()
	r.begin("trip-1", "a", "b", "c")
	r.expect("a", saga.Do{Saga: "trip-1", Step: 0}, "Begin sends Do for step 0")
	r.reply("a", orch, saga.DoReply{Saga: "trip-1", Step: 0, OK: true})
	r.reply("a", orch, saga.DoReply{Saga: "trip-1", Step: 0, OK: true}) // duplicated by the network
	r.expect("b", saga.Do{Saga: "trip-1", Step: 1}, "a duplicate reply is ignored")
	r.quiet("a duplicate reply is ignored")
	// Late and mismatched replies while step 1 is in flight.
	for _, m := range []any{
		saga.DoReply{Saga: "trip-1", Step: 0, OK: true},
		saga.DoReply{Saga: "trip-1", Step: 0, OK: false},
		saga.DoReply{Saga: "trip-1", Step: 2, OK: true},
		saga.UndoReply{Saga: "trip-1", Step: 1},
		saga.UndoReply{Saga: "trip-1", Step: 0},
		saga.DoReply{Saga: "no-such-saga", Step: 1, OK: true},
		// Not replies at all: a command sent to the orchestrator.
		saga.Do{Saga: "trip-1", Step: 1},
		saga.Undo{Saga: "trip-1", Step: 0},
	} {
		r.reply("c", orch, m)
		r.run(5 * time.Millisecond)
		r.quiet("a reply that does not answer the command in flight (saga, step, Do or Undo) is ignored")
		r.status("trip-1", running(1), "a reply that does not answer the command in flight is ignored")
	}
	r.status("no-such-saga", saga.Status{}, "Status of an ID never begun is Status{} (Unknown)")
	r.reply("b", orch, saga.DoReply{Saga: "trip-1", Step: 1, OK: false})
	r.expect("a", saga.Undo{Saga: "trip-1", Step: 0}, "a refusal starts compensation")
	for _, m := range []any{
		saga.DoReply{Saga: "trip-1", Step: 1, OK: true},
		saga.DoReply{Saga: "trip-1", Step: 0, OK: true},
		saga.DoReply{Saga: "trip-1", Step: 0, OK: false},
		saga.UndoReply{Saga: "trip-1", Step: 1},
	} {
		r.reply("c", orch, m)
		r.run(5 * time.Millisecond)
		r.quiet("a reply that does not answer the command in flight is ignored")
		r.status("trip-1", compensating(0), "a reply that does not answer the command in flight is ignored")
	}
	r.reply("a", orch, saga.UndoReply{Saga: "trip-1", Step: 0})
	r.reply("a", orch, saga.UndoReply{Saga: "trip-1", Step: 0})
	r.run(5 * time.Millisecond)
	r.status("trip-1", compensated, "the saga is compensated")
	r.reply("a", orch, saga.DoReply{Saga: "trip-1", Step: 0, OK: true})
	r.run(time.Second)
	r.status("trip-1", compensated, "an ended saga stays ended")
	r.quiet("an ended saga sends nothing more")
}

// TestResumeAfterCrash crashes the orchestrator while each command of a saga
// is in flight and checks that the restarted one sends it again at once.
func TestResumeAfterCrash(t *testing.T) {
	steps := []string{"a", "b", "c"}
	type exchange struct {
		node  string
		cmd   any
		reply any
		want  saga.Status
	}
	flow := []exchange{
		{"a", saga.Do{Saga: "trip-1", Step: 0}, saga.DoReply{Saga: "trip-1", Step: 0, OK: true}, running(0)},
		{"b", saga.Do{Saga: "trip-1", Step: 1}, saga.DoReply{Saga: "trip-1", Step: 1, OK: true}, running(1)},
		{"c", saga.Do{Saga: "trip-1", Step: 2}, saga.DoReply{Saga: "trip-1", Step: 2, OK: false}, running(2)},
		{"b", saga.Undo{Saga: "trip-1", Step: 1}, saga.UndoReply{Saga: "trip-1", Step: 1}, compensating(1)},
		{"a", saga.Undo{Saga: "trip-1", Step: 0}, saga.UndoReply{Saga: "trip-1", Step: 0}, compensating(0)},
	}
	for crashAt := range flow {
		r := newRig(t, "a", "b", "c").withOrchestrator()
		r.begin("trip-1", steps...)
		if crashAt == 0 {
			r.net.Crash(orch) // before any event: Begin alone must have written the log
		}
		for i, x := range flow {
			r.expect(x.node, x.cmd, "the saga moves on")
			if i == crashAt {
				r.net.Crash(orch)
				r.run(200 * time.Millisecond)
				r.quiet("a crashed orchestrator sends nothing")
				r.net.Restart(orch)
				r.status("trip-1", x.want, "a restarted orchestrator resumes each saga from its log")
				r.sim.Logf("test: restarted; the command in flight must be sent again at once")
				r.run(2 * time.Millisecond)
				n, other := countOf(r.take(x.node), x.cmd)
				r.sim.Check(t, n == 1 && len(other) == 0, "a restarted orchestrator sends each unfinished saga's current command at once",
					"the orchestrator crashed while %s was in flight; within 2ms of the restart %s received %d copies of it and %s",
					describe(x.cmd), x.node, n, describeAll(other))
				r.quiet("only the command in flight is sent again")
			}
			r.reply(x.node, orch, x.reply)
		}
		r.run(5 * time.Millisecond)
		r.status("trip-1", compensated, "the saga ends compensated")
		r.net.Crash(orch)
		r.net.Restart(orch)
		r.status("trip-1", compensated, "the outcome of an ended saga is in the log")
		r.run(time.Second)
		r.quiet("an ended saga sends nothing after a restart")
	}
}

func TestParticipantDeduplicates(t *testing.T) {
	r := newRig(t, "o").withParticipant("t1/1")
	r.ask(saga.Do{Saga: "t1", Step: 0}, saga.DoReply{Saga: "t1", Step: 0, OK: true}, "a participant does a step and replies done")
	r.ask(saga.Do{Saga: "t1", Step: 0}, saga.DoReply{Saga: "t1", Step: 0, OK: true}, "a duplicate Do gets the recorded answer")
	r.calls([]string{"t1/0"}, nil, "a duplicate Do does not run the step again")
	r.ask(saga.Do{Saga: "t1", Step: 1}, saga.DoReply{Saga: "t1", Step: 1, OK: false}, "a refused step is answered OK false")
	r.ask(saga.Do{Saga: "t1", Step: 1}, saga.DoReply{Saga: "t1", Step: 1, OK: false}, "a duplicate Do gets the recorded answer, refusals included")
	r.calls([]string{"t1/0", "t1/1"}, nil, "a duplicate Do does not ask the service again")
	r.ask(saga.Undo{Saga: "t1", Step: 1}, saga.UndoReply{Saga: "t1", Step: 1}, "Undo of a refused step is answered")
	r.calls([]string{"t1/0", "t1/1"}, nil, "a refused step has nothing to compensate")
	r.ask(saga.Undo{Saga: "t1", Step: 0}, saga.UndoReply{Saga: "t1", Step: 0}, "Undo is answered")
	r.ask(saga.Undo{Saga: "t1", Step: 0}, saga.UndoReply{Saga: "t1", Step: 0}, "a duplicate Undo is answered again")
	r.calls([]string{"t1/0", "t1/1"}, []string{"t1/0"}, "a step is compensated exactly once")
	r.ask(saga.Do{Saga: "t1", Step: 0}, saga.DoReply{Saga: "t1", Step: 0, OK: true}, "a late duplicate Do after the Undo gets the recorded answer")
	r.calls([]string{"t1/0", "t1/1"}, []string{"t1/0"}, "a late duplicate Do after its Undo must not run the step again")
	// Another saga with the same step numbers is a different key.
	r.ask(saga.Do{Saga: "t2", Step: 0}, saga.DoReply{Saga: "t2", Step: 0, OK: true}, "each (saga, step) is its own key")
	r.ask(saga.Do{Saga: "t2", Step: 1}, saga.DoReply{Saga: "t2", Step: 1, OK: true}, "each (saga, step) is its own key")
	r.calls([]string{"t1/0", "t1/1", "t2/0", "t2/1"}, []string{"t1/0"}, "each (saga, step) is its own key")
}

func TestParticipantSurvivesCrash(t *testing.T) {
	r := newRig(t, "o").withParticipant("t1/2")
	r.ask(saga.Do{Saga: "t1", Step: 0}, saga.DoReply{Saga: "t1", Step: 0, OK: true}, "a participant does a step and replies done")
	r.ask(saga.Do{Saga: "t1", Step: 1}, saga.DoReply{Saga: "t1", Step: 1, OK: true}, "a participant does a step and replies done")
	r.ask(saga.Do{Saga: "t1", Step: 2}, saga.DoReply{Saga: "t1", Step: 2, OK: false}, "a refused step is answered OK false")
	r.ask(saga.Undo{Saga: "t1", Step: 1}, saga.UndoReply{Saga: "t1", Step: 1}, "Undo is answered")
	r.net.Crash("p")
	r.net.Restart("p")
	r.ask(saga.Do{Saga: "t1", Step: 0}, saga.DoReply{Saga: "t1", Step: 0, OK: true}, "after a crash, a duplicate Do gets the recorded answer")
	r.ask(saga.Do{Saga: "t1", Step: 1}, saga.DoReply{Saga: "t1", Step: 1, OK: true}, "after a crash, a duplicate Do gets the recorded answer")
	r.ask(saga.Do{Saga: "t1", Step: 2}, saga.DoReply{Saga: "t1", Step: 2, OK: false}, "after a crash, a duplicate Do gets the recorded refusal")
	r.ask(saga.Undo{Saga: "t1", Step: 1}, saga.UndoReply{Saga: "t1", Step: 1}, "after a crash, a duplicate Undo is answered")
	r.calls([]string{"t1/0", "t1/1", "t1/2"}, []string{"t1/1"}, "the participant's records survive a crash: duplicates never run a step or a compensation twice")
	r.ask(saga.Undo{Saga: "t1", Step: 0}, saga.UndoReply{Saga: "t1", Step: 0}, "Undo is answered")
	r.calls([]string{"t1/0", "t1/1", "t1/2"}, []string{"t1/1", "t1/0"}, "a step done before a crash can be compensated after it")
}

var calm = labkit.Link{Latency: labkit.Uniform(time.Millisecond, 10*time.Millisecond)}

func TestManySagas(t *testing.T) {
	labkit.RunSeeds(t, 3, func(t *testing.T, seed int64) {
		newWorld(t, seed, scenario{Sagas: 20, Link: calm, RefuseRate: 0.5, FaultsFor: time.Second}).run()
	})
}

func TestLossAndDuplication(t *testing.T) {
	labkit.RunSeeds(t, 5, func(t *testing.T, seed int64) {
		// A tenth of the messages arrive late (past RetryAfter, a heavy
		// tail): replies to commands already resent, or already answered.
		// Duplicates arrive up to a second after the first copy, often once
		// the saga has ended.
		newWorld(t, seed, scenario{Sagas: 20, RefuseRate: 0.5, FaultsFor: 2 * time.Second,
			Link: labkit.Link{Latency: labkit.HeavyTail(labkit.Uniform(time.Millisecond, 60*time.Millisecond), 0.1, retryAfter),
				Loss: 0.2, Dup: 0.3, DupDelay: labkit.Uniform(retryAfter, time.Second)}}).run()
	})
}

func TestOrchestratorCrashes(t *testing.T) {
	labkit.RunSeeds(t, 5, func(t *testing.T, seed int64) {
		newWorld(t, seed, scenario{Sagas: 20, RefuseRate: 0.5, FaultsFor: 3 * time.Second, OrchCrash: true, Targeted: true,
			Link: labkit.Link{Latency: labkit.Uniform(time.Millisecond, 30*time.Millisecond), Loss: 0.1, Dup: 0.2}}).run()
	})
}

func TestParticipantCrashes(t *testing.T) {
	labkit.RunSeeds(t, 4, func(t *testing.T, seed int64) {
		newWorld(t, seed, scenario{Sagas: 20, RefuseRate: 0.5, FaultsFor: 3 * time.Second, PartCrash: true,
			Link: labkit.Link{Latency: labkit.Uniform(time.Millisecond, 60*time.Millisecond), Loss: 0.1, Dup: 0.3}}).run()
	})
}

func TestNemesis(t *testing.T) {
	labkit.RunSeeds(t, 4, func(t *testing.T, seed int64) {
		newWorld(t, seed, scenario{Sagas: 24, RefuseRate: 0.5, FaultsFor: 4 * time.Second, Nemesis: true, OrchCrash: true,
			Link: labkit.Link{Latency: labkit.Uniform(time.Millisecond, 40*time.Millisecond), Loss: 0.1, Dup: 0.2}}).run()
	})
}

// TestDefaultRetryAfter: a RetryAfter of 0 means 50ms.
func TestDefaultRetryAfter(t *testing.T) {
	r := newRig(t, "a")
	r.net.AddNode(orch, func(e *labkit.Env) labkit.Node {
		return saga.NewOrchestrator(env{e: e}, saga.Config{})
	})
	r.begin("trip-1", "a")
	r.run(48 * time.Millisecond)
	n, other := countOf(r.take("a"), saga.Do{Saga: "trip-1", Step: 0})
	r.sim.Check(t, n == 1 && len(other) == 0, "a RetryAfter of 0 means 50ms",
		"in the first 48ms a got %d copies of the first Do (and %s); want 1: the first resend comes 50ms after the send", n, describeAll(other))
	r.run(4 * time.Millisecond)
	n, _ = countOf(r.take("a"), saga.Do{Saga: "trip-1", Step: 0})
	r.sim.Check(t, n == 1, "a RetryAfter of 0 means 50ms", "between 48ms and 52ms a got %d copies of the Do; want the one resent at 50ms", n)
	r.run(10 * time.Second)
	n, _ = countOf(r.take("a"), saga.Do{Saga: "trip-1", Step: 0})
	r.sim.Check(t, n >= 199 && n <= 201, "a RetryAfter of 0 means 50ms",
		"over the next 10s a got %d copies of the Do; want 200, one every 50ms (49ms or 51ms would be 204 or 196)", n)

	// A restart reads the same Config: the command in flight is sent at
	// once, and its next copy 50ms later.
	r.net.Crash(orch)
	r.run(time.Second)
	r.take("a")
	r.net.Restart(orch)
	r.run(48 * time.Millisecond)
	n, other = countOf(r.take("a"), saga.Do{Saga: "trip-1", Step: 0})
	r.sim.Check(t, n == 1 && len(other) == 0, "a RetryAfter of 0 means 50ms, also after a restart",
		"in the first 48ms after a restart a got %d copies of the Do (and %s); want 1: the one sent at once, the next 50ms later", n, describeAll(other))
	r.run(4 * time.Millisecond)
	n, _ = countOf(r.take("a"), saga.Do{Saga: "trip-1", Step: 0})
	r.sim.Check(t, n == 1, "a RetryAfter of 0 means 50ms, also after a restart", "between 48ms and 52ms after a restart a got %d copies of the Do; want the one resent at 50ms", n)
}

// TestTinyRetryAfter: only 0 means 50ms; any positive RetryAfter, however
// small, is used as it is.
func TestTinyRetryAfter(t *testing.T) {
	r := newRig(t, "a")
	sent := 0
	r.net.AddNode(orch, func(e *labkit.Env) labkit.Node {
		return saga.NewOrchestrator(env{e: e, onSend: func(string, any) { sent++ }}, saga.Config{RetryAfter: time.Nanosecond})
	})
	r.begin("trip-1", "a")
	r.run(100 * time.Nanosecond)
	n := sent
	r.net.Crash(orch) // stop the retries
	r.sim.Check(t, n >= 90 && n <= 102, "a positive RetryAfter is used as it is (only 0 means 50ms)",
		"with RetryAfter 1ns the orchestrator sent the first Do %d times in its first 100ns; want about 100", n)
}

// TestStateNames: State.String spells every state.
func TestStateNames(t *testing.T) {
	for s, want := range map[saga.State]string{
		saga.Unknown: "unknown", saga.Running: "running", saga.Compensating: "compensating",
		saga.Committed: "committed", saga.Compensated: "compensated",
	} {
		if got := s.String(); got != want {
			t.Errorf("State(%d).String() = %q, want %q", int(s), got, want)
		}
	}
}
