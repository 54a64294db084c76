package saga

import (
	"slices"
	"testing"
	"time"
)

func TestHappyPath(t *testing.T) {
	r := newTestRig(t, "flight", "hotel").addOrchestrator()
	r.orchestrator().Begin(Saga{ID: "trip-1", Steps: []string{"flight", "hotel"}})
	r.expect("flight", Do{Saga: "trip-1", Step: 0}, "Begin sends Do for step 0 to Steps[0]")
	r.status("trip-1", Status{State: Running, Step: 0}, "a begun saga is running step 0")
	r.net.Send("flight", testOrch, DoReply{Saga: "trip-1", Step: 0, OK: true})
	r.expect("hotel", Do{Saga: "trip-1", Step: 1}, "a done step is followed by Do for the next step")
	r.net.Send("hotel", testOrch, DoReply{Saga: "trip-1", Step: 1, OK: true})
	r.run(5 * time.Millisecond)
	r.status("trip-1", Status{State: Committed}, "a saga whose last step is done is committed")
	r.run(time.Second)
	r.quiet("a committed saga sends nothing more")
}

func TestRefusalCompensates(t *testing.T) {
	r := newTestRig(t, "flight", "hotel").addOrchestrator()
	r.orchestrator().Begin(Saga{ID: "trip-1", Steps: []string{"flight", "hotel"}})
	r.expect("flight", Do{Saga: "trip-1", Step: 0}, "Begin sends Do for step 0 to Steps[0]")
	r.net.Send("flight", testOrch, DoReply{Saga: "trip-1", Step: 0, OK: true})
	r.expect("hotel", Do{Saga: "trip-1", Step: 1}, "a done step is followed by Do for the next step")
	r.net.Send("hotel", testOrch, DoReply{Saga: "trip-1", Step: 1, OK: false})
	r.expect("flight", Undo{Saga: "trip-1", Step: 0}, "a refused step starts compensation with the step before it")
	r.quiet("the refused step itself is not compensated")
	r.status("trip-1", Status{State: Compensating, Step: 0}, "Status reports the step being compensated")
	r.net.Send("flight", testOrch, UndoReply{Saga: "trip-1", Step: 0})
	r.run(5 * time.Millisecond)
	r.status("trip-1", Status{State: Compensated}, "a saga whose step 0 is compensated is compensated")
}

func TestResumesAfterRestart(t *testing.T) {
	r := newTestRig(t, "flight", "hotel").addOrchestrator()
	r.orchestrator().Begin(Saga{ID: "trip-1", Steps: []string{"flight", "hotel"}})
	r.expect("flight", Do{Saga: "trip-1", Step: 0}, "Begin sends Do for step 0 to Steps[0]")
	r.net.Send("flight", testOrch, DoReply{Saga: "trip-1", Step: 0, OK: true})
	r.expect("hotel", Do{Saga: "trip-1", Step: 1}, "a done step is followed by Do for the next step")
	r.net.Crash(testOrch)
	r.run(time.Second)
	r.net.Restart(testOrch)
	r.status("trip-1", Status{State: Running, Step: 1}, "a restarted orchestrator resumes from its log")
	r.expect("hotel", Do{Saga: "trip-1", Step: 1}, "a restarted orchestrator sends the command in flight again at once")
}

func TestParticipantRemembers(t *testing.T) {
	r := newTestRig(t, "o").addParticipant()
	for range 2 { // the second Do is a duplicate
		r.net.Send("o", "p", Do{Saga: "trip-1", Step: 0})
		r.expect("o", DoReply{Saga: "trip-1", Step: 0, OK: true}, "a participant answers every Do, duplicates included")
	}
	if !slices.Equal(r.svc.dos, []string{"trip-1/0"}) {
		r.sim.Failf(t, "a duplicate Do does not run the step again", "Service.Do was called for %v", r.svc.dos)
	}
}
