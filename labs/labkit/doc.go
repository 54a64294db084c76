// Package labkit is the simulation harness Faultline labs are tested with.
//
// Distributed behaviour is hard to test with real goroutines, sockets and
// sleeps: runs are slow and never the same twice. labkit runs everything as
// a discrete-event simulation instead. There is one virtual clock and one
// queue of events; the simulation pops the earliest event, moves the clock
// to its time and runs it. Nothing reads the wall clock, so an hour of
// simulated time takes milliseconds, and a seed fixes every random choice,
// so a failing run can be replayed exactly.
//
// # Time
//
// A *Sim is a Clock: Now, Since, AfterFunc, After and Sleep. Code under test
// takes a Clock instead of calling the time package (pass RealClock{} in
// production). The test drives time with RunFor, RunUntil, Run or Step;
// Every starts a ticker. Sleep runs the simulation forward, so sequential
// code such as a retry loop can sleep between attempts and still finish
// instantly. Code that runs on its own goroutines can wait on After; the
// test calls WaitPending(n) until n waits are queued, then advances time.
// A run that executes more than MaxEvents events in one call panics with the
// end of the trace (a zero-delay loop or a message storm).
//
// # Network
//
// A *Net carries messages between named nodes. A node implements Node
// (Handle(from, msg)) and is built by a Constructor that receives an *Env:
// its name, Send, Broadcast, Peers, timers (After, Every), the seeded Rand,
// Logf, and its Disk. Each direction of each link has a Link: a Latency
// distribution (Fixed, Uniform, Exponential, HeavyTail), a Loss and a Dup
// probability, and DupDelay for duplicates that arrive long after the
// first copy; random latency reorders messages. HeavyTail(body, p, timeout)
// makes a fraction p of the messages arrive after timeout, some of them
// much later: give it the timeout of the operation that waits, and replies,
// acknowledgements and votes arrive after their operation gave up on them.
// Partition, Isolate and Block (one way) cut links until Heal or Unblock.
//
// Events due at the same virtual instant (two timers, a timer and a
// delivery) run in an order drawn from the seed, so across seeds every
// order is tried; messages on one link keep their order. Set Sim.FIFOTies
// for scheduling order.
//
// A Nemesis injects random partitions, one-way cuts and crashes (of a
// minority) from the seed, and repairs everything when stopped. Targeted
// crashes nodes at the worst moments: right after a node changes the state
// its State function reads (a new leader, the first suspicion), or in the
// middle of a handler just before a disk write, so an earlier write or
// message stands and the rest is lost. Sim.Observe runs a function after
// every event, for watching state as it changes.
//
// Crash(name) throws the node's memory away: its object, its timers, the
// messages that reach it while down. Its Disk survives. Restart(name) calls
// the constructor again with a fresh Env and the same Disk, so whatever the
// node must remember across crashes it has to write to disk (and read back in
// its constructor).
//
// # Seeds and failures
//
// Seed(t) gives a test its seed: a fixed one derived from the test name, or
// the value of LABKIT_SEED to reproduce a run. RunSeeds runs one subtest per
// seed. When a property breaks, Sim.Failf (or Require with a *Violation)
// fails the test with a report in plain words: the property, what happened,
// the faults injected, the seed, the exact command to rerun it, e.g.
//
//	LABKIT_SEED=12345 go test -count=1 -run '^TestElection$/^seed=12345$' ./...
//
// and the last events of the trace. Sim.Invariant checks a property after
// every event and stops the simulation the moment it breaks, so the trace
// ends where things went wrong.
//
// # Goroutines
//
// Code that is shared by goroutines (a limiter, a breaker) is tested with
// real goroutines, which Go schedules as it likes. An Interleaver makes
// their interleaving follow a seed: Run starts them with GOMAXPROCS at 1,
// and the clock the code reads (Interleaver.Clock) yields a seed-drawn
// number of times on every call, so a goroutine that checks, reads the
// clock and then acts lets others run right there. Loop over a few seeds
// and a check-then-act race is caught on every run.
//
// # Checkers
//
// History records client operations (Invoke, then Complete) and
// CheckLinearizable checks them with porcupine against RegisterModel,
// KVModel or a Model of your own. Operations that never complete count as
// possibly applied. Converged, AtMostOnePerTerm (and the Leaders recorder),
// EveryCompensationRan and NoAckedWriteLost check the other properties labs
// grade.
//
// # Pictures
//
// LineChart, Timeline and Ring render small SVGs (rate over time, breaker
// state over time, a partition timeline from Net.Timeline, ring ownership).
// Attach prints one into the test output between marker lines; the grader
// finds it there with ParseAttachments and shows it with the result.
//
// # Example
//
// A node that counts pings, tested under loss and a crash:
//
//	type counter struct {
//		env *labkit.Env
//		n   int
//	}
//
//	func (c *counter) Handle(from string, msg any) {
//		c.n++
//		c.env.Disk().PutJSON("n", c.n) // survive crashes
//	}
//
//	func newCounter(env *labkit.Env) labkit.Node {
//		c := &counter{env: env}
//		env.Disk().GetJSON("n", &c.n)
//		return c
//	}
//
//	func TestCounter(t *testing.T) {
//		sim := labkit.NewSim(labkit.Seed(t))
//		net := labkit.NewNet(sim)
//		net.SetDefaultLink(labkit.Link{Latency: labkit.Uniform(time.Millisecond, 20*time.Millisecond), Loss: 0.1})
//		net.AddNode("counter", newCounter)
//		client := net.AddClient("client", func(string, any) {})
//		client.Every(10*time.Millisecond, func() { client.Send("counter", "ping") })
//		sim.AfterFunc(time.Second, func() { net.Crash("counter") })
//		sim.AfterFunc(2*time.Second, func() { net.Restart("counter") })
//		sim.RunFor(3 * time.Second)
//		c := net.Node("counter").(*counter)
//		sim.Check(t, c.n > 150, "the count survives a crash", "count is %d after 3s", c.n)
//		labkit.Attach(t, "timeline.svg", labkit.Timeline{Title: "nodes", Lanes: net.Timeline(), Colors: labkit.TimelineColors}.SVG())
//	}
//
// Everything runs on the goroutine that calls Run*: nodes need no locks, and
// messages should be plain values (no pointers), so a node never shares
// memory with another and the trace prints the same in every run.
package labkit
