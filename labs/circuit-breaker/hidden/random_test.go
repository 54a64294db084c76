package hidden

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"faultline.dev/labkit"
	cb "faultline.dev/labs/circuitbreaker"
)

// model is the breaker the README specifies, written out plainly: the tests
// compare every decision and every state of the learner's breaker with it.
type model struct {
	threshold, maxTrials, successesNeeded int
	timeout                               time.Duration

	state                         cb.State
	gen                           int
	failures, successes, inFlight int
	openedAt                      time.Duration
}

func (m *model) set(s cb.State, now time.Duration) {
	m.state, m.gen = s, m.gen+1
	m.failures, m.successes, m.inFlight = 0, 0, 0
	if s == cb.Open {
		m.openedAt = now
	}
}

func (m *model) refresh(now time.Duration) {
	if m.state == cb.Open && now >= m.openedAt+m.timeout {
		m.set(cb.HalfOpen, now)
	}
}

// admit returns the generation a call is admitted in, or false.
func (m *model) admit(now time.Duration) (int, bool) {
	m.refresh(now)
	switch m.state {
	case cb.Open:
		return 0, false
	case cb.HalfOpen:
		if m.inFlight >= m.maxTrials {
			return 0, false
		}
		m.inFlight++
	}
	return m.gen, true
}

func (m *model) record(gen int, failed bool, now time.Duration) {
	if gen != m.gen {
		return
	}
	switch m.state {
	case cb.Closed:
		if !failed {
			m.failures = 0
			return
		}
		m.failures++
		if m.failures >= m.threshold {
			m.set(cb.Open, now)
		}
	case cb.HalfOpen:
		m.inFlight--
		if failed {
			m.set(cb.Open, now)
			return
		}
		m.successes++
		if m.successes >= m.successesNeeded {
			m.set(cb.Closed, now)
		}
	}
}

// slowCall is a call whose function is still running.
type slowCall struct {
	id     int
	g      *gate
	done   <-chan error
	gen    int
	result error
}

// TestRandomFailureSequences drives the breaker through random traffic from
// labkit seeds: a dependency that goes down and comes back, quick calls,
// slow calls that finish after the breaker changed state, and clock moves
// that often land exactly on the end of an open period (or 1ns before it).
// Every answer of Call and every state must match the README's breaker.
func TestRandomFailureSequences(t *testing.T) {
	parent := t
	labkit.RunSeeds(t, 24, func(t *testing.T, seed int64) {
		if parent.Failed() {
			t.Skip("an earlier seed already failed; fix that one first")
		}
		rnd := labkit.NewSim(seed).Rand()
		m := &model{
			threshold:       1 + rnd.IntN(4),
			timeout:         []time.Duration{250 * time.Millisecond, time.Second, 5 * time.Second, 30 * time.Second}[rnd.IntN(4)],
			maxTrials:       1 + rnd.IntN(3),
			successesNeeded: 1 + rnd.IntN(3),
		}
		r := newRigSeed(t, seed, cb.Settings{
			FailureThreshold: m.threshold, OpenTimeout: m.timeout,
			HalfOpenMaxCalls: m.maxTrials, SuccessThreshold: m.successesNeeded,
		})
		r.note(&r.expected, cb.Closed)
		var slow []*slowCall
		defer func() {
			for _, c := range slow {
				c.g.open()
			}
		}()
		down := false
		calls := 0
		settings := fmt.Sprintf("settings: FailureThreshold %d, OpenTimeout %s, HalfOpenMaxCalls %d, SuccessThreshold %d",
			m.threshold, m.timeout, m.maxTrials, m.successesNeeded)
		outcome := func() error {
			p := 0.1
			if down {
				p = 0.85
			}
			if rnd.Float64() < p {
				return errDown
			}
			return nil
		}
		finish := func(i int) {
			c := slow[i]
			slow = append(slow[:i], slow[i+1:]...)
			c.g.open()
			err := r.await(fmt.Sprintf("slow call #%d", c.id), c.done)
			r.sim.Logf("slow call #%d finished: returned %s", c.id, describe(err))
			r.check(err == c.result, "Call returns the function's error unchanged",
				"slow call #%d returned %s, want %s\n%s", c.id, describe(err), describe(c.result), settings)
			m.record(c.gen, c.result != nil, r.sim.Elapsed())
		}
		for step := 1; step <= 160; step++ {
			if rnd.Float64() < 0.08 {
				down = !down
				r.sim.NoteFault("dependency %s", map[bool]string{true: "goes down (85% of calls fail)", false: "recovers (10% of calls fail)"}[down])
			}
			now := r.sim.Elapsed()
			switch x := rnd.Float64(); {
			case x < 0.3:
				d := time.Duration(rnd.Int64N(int64(m.timeout/2) + 1))
				if m.state == cb.Open && rnd.IntN(2) == 0 {
					if d = m.openedAt + m.timeout - now; d > 0 && rnd.IntN(2) == 0 {
						d -= time.Nanosecond
					}
				}
				r.advance(max(d, 0))
			case x < 0.75 || len(slow) >= 4:
				calls++
				id, result, ran := calls, outcome(), false
				gen, admitted := m.admit(now)
				err := r.call(fmt.Sprintf("#%d, %s", id, map[bool]string{true: "will fail", false: "will succeed"}[result != nil]),
					func() error { ran = true; return result })
				if admitted {
					r.check(ran && err == result, "a call the breaker should admit runs and returns the function's error",
						"step %d: call #%d in state %s: ran=%v, Call returned %s; want the function run and %s\n%s",
						step, id, name(m.state), ran, describe(err), describe(result), settings)
					m.record(gen, result != nil, now)
				} else {
					r.check(!ran && errors.Is(err, cb.ErrOpen), "a call the breaker should reject gets ErrOpen without running",
						"step %d: call #%d (breaker %s, %d trials in flight): ran=%v, Call returned %s; want ErrOpen and the function not run\n%s",
						step, id, name(m.state), m.inFlight, ran, describe(err), settings)
				}
			case x < 0.9:
				calls++
				c := &slowCall{id: calls, g: newGate(), result: outcome()}
				gen, admitted := m.admit(now)
				c.done = r.async(c.g.fn(c.result))
				select {
				case <-c.g.entered:
					r.sim.Logf("slow call #%d admitted and running", c.id)
					r.check(admitted, "a call the breaker should reject gets ErrOpen without running",
						"step %d: slow call #%d was admitted in state %s with %d trials in flight; want ErrOpen\n%s",
						step, c.id, name(m.state), m.inFlight, settings)
					c.gen = gen
					slow = append(slow, c)
				case err := <-c.done:
					r.sim.Logf("slow call #%d returned %s without running", c.id, describe(err))
					r.check(!admitted && errors.Is(err, cb.ErrOpen), "a call the breaker should admit runs its function",
						"step %d: slow call #%d returned %s without running in state %s; want it admitted\n%s",
						step, c.id, describe(err), name(m.state), settings)
				case <-time.After(patience):
					r.fail("Call decides at once and never waits for another call",
						"step %d: slow call #%d neither ran nor returned while %d other calls were running\n%s",
						step, c.id, len(slow), settings)
				}
			default:
				if len(slow) > 0 {
					finish(rnd.IntN(len(slow)))
				}
			}
			got := r.state()
			m.refresh(r.sim.Elapsed())
			r.note(&r.expected, m.state)
			if got != m.state {
				r.fail("the breaker is in the state the README specifies",
					"after step %d the breaker is %s, want %s (consecutive failures %d, successful trials %d, trials in flight %d in the reference)\n%s",
					step, name(got), name(m.state), m.failures, m.successes, m.inFlight, settings)
			}
		}
		for len(slow) > 0 {
			finish(0)
			got := r.state()
			m.refresh(r.sim.Elapsed())
			r.note(&r.expected, m.state)
			if got != m.state {
				r.fail("the breaker is in the state the README specifies",
					"after the slow calls finished the breaker is %s, want %s\n%s", name(got), name(m.state), settings)
			}
		}
	})
}
