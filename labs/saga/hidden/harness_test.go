package hidden

import (
	"fmt"
	"strings"
	"time"

	"faultline.dev/labkit"
	"faultline.dev/labs/saga"
)

// orch is the orchestrator's node name in every test.
const orch = "orchestrator"

// retryAfter is the orchestrator's Config.RetryAfter in every test.
const retryAfter = 50 * time.Millisecond

// env adapts a labkit node environment to the lab's Env. Every message the
// node sends passes through onSend first.
type env struct {
	e      *labkit.Env
	onSend func(to string, msg any)
}

func (a env) Name() string    { return a.e.Name() }
func (a env) Disk() saga.Disk { return a.e.Disk() }
func (a env) After(d time.Duration, fn func()) saga.Timer {
	return a.e.After(d, "retry timer", fn)
}
func (a env) Send(to string, msg any) {
	if a.onSend != nil && a.e.Alive() {
		a.onSend(to, msg)
	}
	a.e.Send(to, msg)
}

// deadEnv is the world of an orchestrator built on a copy of the disk only
// to read its log back: it sends nothing and its timers never fire.
type deadEnv struct{ d *labkit.Disk }

type noTimer struct{}

func (noTimer) Stop() bool { return false }

func (deadEnv) Name() string                           { return orch }
func (deadEnv) Send(string, any)                       {}
func (deadEnv) After(time.Duration, func()) saga.Timer { return noTimer{} }
func (e deadEnv) Disk() saga.Disk                      { return e.d }

// fromDisk returns what an orchestrator restarted from d right now would
// report for saga id.
func fromDisk(d *labkit.Disk, id string) saga.Status {
	snap := labkit.NewDisk()
	for _, k := range d.Keys("") {
		v, _ := d.Get(k)
		snap.Put(k, v)
	}
	return saga.NewOrchestrator(deadEnv{snap}, saga.Config{RetryAfter: retryAfter}).Status(id)
}

func describe(msg any) string {
	switch m := msg.(type) {
	case saga.Do:
		return fmt.Sprintf("Do{%s step %d}", m.Saga, m.Step)
	case saga.Undo:
		return fmt.Sprintf("Undo{%s step %d}", m.Saga, m.Step)
	case saga.DoReply:
		if m.OK {
			return fmt.Sprintf("DoReply{%s step %d, done}", m.Saga, m.Step)
		}
		return fmt.Sprintf("DoReply{%s step %d, refused}", m.Saga, m.Step)
	case saga.UndoReply:
		return fmt.Sprintf("UndoReply{%s step %d}", m.Saga, m.Step)
	}
	return labkit.Describe(msg)
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

func statusString(s saga.Status) string {
	if s.State == saga.Running || s.State == saga.Compensating {
		return fmt.Sprintf("%s (step %d)", s.State, s.Step)
	}
	return s.State.String()
}

// sameStatus compares two statuses the way the README defines them: Step
// counts only while the saga is running or compensating.
func sameStatus(a, b saga.Status) bool {
	if a.State != b.State {
		return false
	}
	return a.Step == b.Step || (a.State != saga.Running && a.State != saga.Compensating)
}

// writeAhead checks, at the moment the orchestrator sends a command, that
// its log already records it and that it goes to the step's participant.
func writeAhead(net *labkit.Net, steps func(id string) []string, to string, msg any) error {
	var id string
	var want saga.Status
	switch m := msg.(type) {
	case saga.Do:
		id, want = m.Saga, saga.Status{State: saga.Running, Step: m.Step}
	case saga.Undo:
		id, want = m.Saga, saga.Status{State: saga.Compensating, Step: m.Step}
	default:
		return labkit.Violationf("the orchestrator sends only Do and Undo", "it sent %s to %s", describe(msg), to)
	}
	if s := steps(id); s != nil {
		if want.Step < 0 || want.Step >= len(s) {
			return labkit.Violationf("commands name a step of the saga", "the orchestrator sent %s, but saga %s has steps 0..%d", describe(msg), id, len(s)-1)
		}
		if s[want.Step] != to {
			return labkit.Violationf("step i's commands go to the participant Steps[i]",
				"the orchestrator sent %s to %s, but step %d of %s runs on %s", describe(msg), to, want.Step, id, s[want.Step])
		}
	}
	if got := fromDisk(net.Disk(orch), id); !sameStatus(got, want) {
		return labkit.Violationf("the log is written before the command is sent",
			"the orchestrator sent %s to %s, but an orchestrator restarted from its disk at that moment reports %s as %s, not %s",
			describe(msg), to, id, statusString(got), statusString(want))
	}
	return nil
}
