package labkit_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/faultline-dev/faultline/labs/labkit"
)

// step advances the simulation so operations get distinct times.
func step(sim *labkit.Sim) { sim.RunFor(time.Millisecond) }

func TestRegisterLinearizability(t *testing.T) {
	model := labkit.RegisterModel()

	// Sequential and correct.
	sim := labkit.NewSim(1)
	h := labkit.NewHistory(sim)
	h.Invoke("c1", labkit.RegisterWrite("1")).Complete(nil)
	step(sim)
	h.Invoke("c2", labkit.RegisterRead()).Complete("1")
	if err := labkit.CheckLinearizable(h, model); err != nil {
		t.Fatalf("correct history rejected: %v", err)
	}

	// Stale read after the write completed.
	sim = labkit.NewSim(1)
	h = labkit.NewHistory(sim)
	h.Invoke("c1", labkit.RegisterWrite("1")).Complete(nil)
	step(sim)
	h.Invoke("c2", labkit.RegisterRead()).Complete("")
	err := labkit.CheckLinearizable(h, model)
	var v *labkit.Violation
	if !errors.As(err, &v) || !strings.Contains(v.Property, "linearizability") || !strings.Contains(v.Detail, `read() -> ""`) {
		t.Fatalf("stale read accepted or badly described: %v", err)
	}

	// Concurrent write: either read result is fine.
	for _, r := range []string{"", "1"} {
		sim = labkit.NewSim(1)
		h = labkit.NewHistory(sim)
		w := h.Invoke("c1", labkit.RegisterWrite("1"))
		step(sim)
		h.Invoke("c2", labkit.RegisterRead()).Complete(r)
		step(sim)
		w.Complete(nil)
		if err := labkit.CheckLinearizable(h, model); err != nil {
			t.Fatalf("concurrent read of %q rejected: %v", r, err)
		}
	}

	// A write that never completed may have taken effect...
	sim = labkit.NewSim(1)
	h = labkit.NewHistory(sim)
	h.Invoke("c1", labkit.RegisterWrite("lost?"))
	step(sim)
	h.Invoke("c2", labkit.RegisterRead()).Complete("lost?")
	h.Invoke("c3", labkit.RegisterRead()) // incomplete read: ignored
	if err := labkit.CheckLinearizable(h, model); err != nil {
		t.Fatalf("read of a pending write rejected: %v", err)
	}
	// ...but nobody wrote "ghost".
	h.Invoke("c2", labkit.RegisterRead()).Complete("ghost")
	if labkit.CheckLinearizable(h, model) == nil {
		t.Fatal("read of a value never written accepted")
	}

	// Values flip-flopping back is not linearizable: after reading "2",
	// reading the older "1" again is impossible.
	sim = labkit.NewSim(1)
	h = labkit.NewHistory(sim)
	h.Invoke("c1", labkit.RegisterWrite("1")).Complete(nil)
	w := h.Invoke("c1", labkit.RegisterWrite("2"))
	h.Invoke("c2", labkit.RegisterRead()).Complete("2")
	h.Invoke("c2", labkit.RegisterRead()).Complete("1")
	w.Complete(nil)
	if labkit.CheckLinearizable(h, model) == nil {
		t.Fatal("new-then-old reads accepted")
	}
}

func TestKVLinearizabilityPerKey(t *testing.T) {
	sim := labkit.NewSim(1)
	h := labkit.NewHistory(sim)
	h.Invoke("c1", labkit.KVPut("x", "1")).Complete(nil)
	h.Invoke("c1", labkit.KVPut("y", "a")).Complete(nil)
	h.Invoke("c2", labkit.KVAppend("y", "b")).Complete(nil)
	h.Invoke("c2", labkit.KVGet("x")).Complete("1")
	h.Invoke("c3", labkit.KVGet("y")).Complete("ab")
	h.Invoke("c3", labkit.KVGet("z")).Complete("")
	if err := labkit.CheckLinearizable(h, labkit.KVModel()); err != nil {
		t.Fatalf("correct history rejected: %v", err)
	}
	h.Invoke("c3", labkit.KVGet("y")).Complete("a")
	err := labkit.CheckLinearizable(h, labkit.KVModel())
	if err == nil || !strings.Contains(err.Error(), `key "y"`) || strings.Contains(err.Error(), `key "x"`) {
		t.Fatalf("lost append not pinned on key y: %v", err)
	}
	if ops := h.Ops(); len(ops) != 7 || !ops[0].Done || ops[0].Client != "c1" {
		t.Fatalf("Ops = %+v", ops)
	}
}

func TestConverged(t *testing.T) {
	same := map[string]map[string]string{"a": {"k": "1"}, "b": {"k": "1"}}
	if err := labkit.Converged(same); err != nil {
		t.Fatal(err)
	}
	diff := map[string]map[string]string{"a": {"k": "1"}, "b": {"k": "1"}, "c": {"k": "2"}}
	err := labkit.Converged(diff)
	if err == nil || !strings.Contains(err.Error(), "a, b: map[k:1]") || !strings.Contains(err.Error(), "c: map[k:2]") {
		t.Fatalf("Converged = %v", err)
	}
}

func TestAtMostOnePerTerm(t *testing.T) {
	sim := labkit.NewSim(1)
	l := labkit.NewLeaders(sim)
	l.Claim("n1", 1)
	l.Claim("n1", 1) // re-asserting is fine
	l.Claim("n2", 2)
	if err := l.Check(); err != nil {
		t.Fatal(err)
	}
	sim.RunFor(time.Second)
	l.Claim("n3", 2)
	err := l.Check()
	if err == nil || !strings.Contains(err.Error(), "n3 became leader of term 2 at 1.000000s, but n2") {
		t.Fatalf("AtMostOnePerTerm = %v", err)
	}
}

func TestEveryCompensationRan(t *testing.T) {
	done := []string{"reserve", "charge", "ship"}
	cases := []struct {
		comp []string
		want string
	}{
		{[]string{"ship", "charge", "reserve"}, ""},
		{[]string{"ship", "reserve"}, "never compensated: [charge]"},
		{[]string{"ship", "charge", "charge", "reserve"}, "compensated 2 times"},
		{[]string{"reserve", "charge", "ship"}, "reverse order"},
		{[]string{"ship", "charge", "reserve", "email"}, `"email" was compensated but never completed`},
	}
	for _, c := range cases {
		err := labkit.EveryCompensationRan(done, c.comp)
		if (c.want == "") != (err == nil) || (err != nil && !strings.Contains(err.Error(), c.want)) {
			t.Errorf("%v: got %v, want %q", c.comp, err, c.want)
		}
	}
}

func TestNoAckedWriteLost(t *testing.T) {
	writes := []labkit.Write{
		{Key: "k", Value: "1", Invoke: 1, Acked: true},
		{Key: "k", Value: "2", Invoke: 2, Acked: false},
		{Key: "j", Value: "x", Invoke: 1, Acked: true},
	}
	final := map[string][]string{"k": {"2"}, "j": {"x", "y"}}
	if err := labkit.NoAckedWriteLost(writes, func(k string) []string { return final[k] }); err != nil {
		t.Fatalf("overwritten by a later write counted as lost: %v", err)
	}
	final["j"] = []string{"y"}
	err := labkit.NoAckedWriteLost(writes, func(k string) []string { return final[k] })
	if err == nil || !strings.Contains(err.Error(), `"j" = "x" was acknowledged`) {
		t.Fatalf("lost write not reported: %v", err)
	}
	final = map[string][]string{"k": {"0"}, "j": {"x"}}
	if labkit.NoAckedWriteLost(writes, func(k string) []string { return final[k] }) == nil {
		t.Fatal("value from before the acked write accepted")
	}
}
