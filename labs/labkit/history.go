package labkit

import (
	"fmt"
	"math"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/anishathalye/porcupine"
)

// Op is one client operation in a History.
type Op struct {
	Client string
	Input  any
	Output any           // meaningful only when Done
	Call   time.Duration // virtual time of the invocation
	Return time.Duration // virtual time of the completion, when Done
	Done   bool          // completed with a known outcome

	call, ret int64 // order of invocation and completion among all history events
}

// History records client operations with their invoke and complete times.
// Invocations and completions are ordered as they happened in the
// simulation, which is what the linearizability checker uses: an operation
// that completed before another was invoked must appear to take effect
// first. It is safe for concurrent use.
type History struct {
	mu      sync.Mutex
	sim     *Sim
	ops     []*Op
	stamp   int64
	clients map[string]int
	// Describe renders an operation in the trace and in reports; nil uses
	// Describe on the input and output.
	Describe func(input, output any) string
}

// NewHistory returns an empty history timed by sim's clock, which also gets
// a trace event for every invocation and completion.
func NewHistory(sim *Sim) *History {
	return &History{sim: sim, clients: map[string]int{}}
}

func (h *History) describe(input, output any, done bool) string {
	if h.Describe != nil {
		if !done {
			output = nil
		}
		return h.Describe(input, output)
	}
	if !done {
		return Describe(input)
	}
	if output == nil {
		return Describe(input)
	}
	if str, ok := output.(string); ok {
		return Describe(input) + " -> " + strconv.Quote(str)
	}
	return Describe(input) + " -> " + Describe(output)
}

// Call is an operation in progress.
type Call struct {
	h  *History
	op *Op
}

// Invoke records that client started an operation with the given input.
func (h *History) Invoke(client string, input any) *Call {
	h.mu.Lock()
	h.stamp++
	op := &Op{Client: client, Input: input, Call: h.sim.Elapsed(), call: h.stamp, ret: math.MaxInt64}
	if _, ok := h.clients[client]; !ok {
		h.clients[client] = len(h.clients)
	}
	h.ops = append(h.ops, op)
	h.mu.Unlock()
	h.sim.trace.Add(KindOp, client, "", "invoke "+h.describe(input, nil, false))
	return &Call{h: h, op: op}
}

// Complete records that the operation returned output. Completing twice
// panics.
func (c *Call) Complete(output any) {
	h := c.h
	h.mu.Lock()
	if c.op.Done {
		h.mu.Unlock()
		panic("labkit: operation completed twice")
	}
	h.stamp++
	c.op.ret = h.stamp
	c.op.Return = h.sim.Elapsed()
	c.op.Output = output
	c.op.Done = true
	h.mu.Unlock()
	h.sim.trace.Add(KindOp, c.op.Client, "", "ok "+h.describe(c.op.Input, output, true))
}

// Ops returns a copy of the recorded operations in invocation order.
// Operations never completed (timed out, client gave up) have Done false:
// they may or may not have taken effect.
func (h *History) Ops() []Op {
	h.mu.Lock()
	defer h.mu.Unlock()
	out := make([]Op, len(h.ops))
	for i, op := range h.ops {
		out[i] = *op
	}
	return out
}

// Model is a sequential specification that a history must be linearizable
// against. Step must not modify its arguments.
type Model struct {
	Name string
	// Init returns the initial state.
	Init func() any
	// Step reports whether applying input to state could return output,
	// and the next state.
	Step func(state, input, output any) (bool, any)
	// ApplyUnknown returns the state after input took effect with an
	// unknown result (an operation that never completed). Nil means the
	// operation does not change state, and such operations are ignored.
	ApplyUnknown func(state, input any) any
	// Equal compares states; nil means ==.
	Equal func(a, b any) bool
	// Key partitions the history: operations on different keys are checked
	// separately. Nil means one partition.
	Key func(input any) string
	// ReadOnly reports whether an input never changes state; incomplete
	// read-only operations are left out of the check.
	ReadOnly func(input any) bool
	// DescribeOp renders an operation, e.g. "put(x, 1)" or "get(x) -> 1".
	DescribeOp func(input, output any) string
}

type unknownOutput struct{}

func (m Model) porcupine() porcupine.Model {
	return porcupine.Model{
		Init: m.Init,
		Step: func(state, input, output any) (bool, any) {
			if _, ok := output.(unknownOutput); ok {
				if m.ApplyUnknown == nil {
					return true, state
				}
				return true, m.ApplyUnknown(state, input)
			}
			return m.Step(state, input, output)
		},
		Equal: m.Equal,
	}
}

func (m Model) describeOp(op Op) string {
	out := op.Output
	if !op.Done {
		out = nil
	}
	if m.DescribeOp != nil {
		return m.DescribeOp(op.Input, out)
	}
	if !op.Done {
		return Describe(op.Input)
	}
	return Describe(op.Input) + " -> " + Describe(out)
}

// RegisterOp is an input for RegisterModel. Reads return the value as a
// string; writes return nothing (any output is accepted).
type RegisterOp struct {
	Write bool
	Value string // the value written
}

// String renders the operation as read() or write("v").
func (o RegisterOp) String() string {
	if o.Write {
		return fmt.Sprintf("write(%q)", o.Value)
	}
	return "read()"
}

// RegisterRead returns the input of a read.
func RegisterRead() RegisterOp { return RegisterOp{} }

// RegisterWrite returns the input of a write of v.
func RegisterWrite(v string) RegisterOp { return RegisterOp{Write: true, Value: v} }

// RegisterModel is a single string register, initially "": a read returns the
// last value written.
func RegisterModel() Model {
	return Model{
		Name: "register",
		Init: func() any { return "" },
		Step: func(state, input, output any) (bool, any) {
			in := input.(RegisterOp)
			if in.Write {
				return true, in.Value
			}
			out, _ := output.(string)
			return out == state.(string), state
		},
		ApplyUnknown: func(state, input any) any {
			if in := input.(RegisterOp); in.Write {
				return in.Value
			}
			return state
		},
		ReadOnly: func(input any) bool { return !input.(RegisterOp).Write },
		DescribeOp: func(input, output any) string {
			in := input.(RegisterOp)
			if in.Write || output == nil {
				return in.String()
			}
			return fmt.Sprintf("read() -> %q", output)
		},
	}
}

// KVOp is an input for KVModel. Op is "get", "put" or "append". A get
// returns the value as a string ("" for a missing key); put and append
// return nothing (any output is accepted).
type KVOp struct {
	Op    string
	Key   string
	Value string
}

// String renders the operation as get("k"), put("k", "v") or append("k", "v").
func (o KVOp) String() string {
	if o.Op == "get" {
		return fmt.Sprintf("get(%q)", o.Key)
	}
	return fmt.Sprintf("%s(%q, %q)", o.Op, o.Key, o.Value)
}

// KVGet returns the input of a read of key.
func KVGet(key string) KVOp { return KVOp{Op: "get", Key: key} }

// KVPut sets key to value.
func KVPut(key, value string) KVOp { return KVOp{Op: "put", Key: key, Value: value} }

// KVAppend appends value to key's value.
func KVAppend(key, value string) KVOp { return KVOp{Op: "append", Key: key, Value: value} }

// KVModel is a map from string keys to string values, checked key by key.
func KVModel() Model {
	apply := func(state, input any) any {
		in := input.(KVOp)
		switch in.Op {
		case "put":
			return in.Value
		case "append":
			return state.(string) + in.Value
		}
		return state
	}
	return Model{
		Name: "key-value",
		Init: func() any { return "" },
		Step: func(state, input, output any) (bool, any) {
			in := input.(KVOp)
			if in.Op == "get" {
				out, _ := output.(string)
				return out == state.(string), state
			}
			return true, apply(state, input)
		},
		ApplyUnknown: apply,
		Key:          func(input any) string { return input.(KVOp).Key },
		ReadOnly:     func(input any) bool { return input.(KVOp).Op == "get" },
		DescribeOp: func(input, output any) string {
			in := input.(KVOp)
			if in.Op != "get" || output == nil {
				return in.String()
			}
			return fmt.Sprintf("get(%q) -> %q", in.Key, output)
		},
	}
}

// LinearizabilityTimeout bounds each per-key linearizability check. Keep
// histories small enough (a few hundred operations per key) that it is
// never reached.
var LinearizabilityTimeout = 20 * time.Second

// CheckLinearizable returns nil if the history is linearizable against
// model, or a *Violation describing the first key whose operations no
// sequential order explains.
func CheckLinearizable(h *History, model Model) error {
	ops := h.Ops()
	byKey := map[string][]porcupine.Operation{}
	var keys []string
	for i, op := range ops {
		if !op.Done && model.ReadOnly != nil && model.ReadOnly(op.Input) {
			continue
		}
		if !op.Done && model.ApplyUnknown == nil {
			continue
		}
		key := ""
		if model.Key != nil {
			key = model.Key(op.Input)
		}
		if _, ok := byKey[key]; !ok {
			keys = append(keys, key)
		}
		var out any = op.Output
		if !op.Done {
			out = unknownOutput{}
		}
		byKey[key] = append(byKey[key], porcupine.Operation{
			ClientId: h.clientID(op.Client),
			Input:    op.Input,
			Output:   out,
			Call:     op.call,
			Return:   op.ret,
			Metadata: i,
		})
	}
	sort.Strings(keys)
	pm := model.porcupine()
	for _, key := range keys {
		res, info := porcupine.CheckOperationsVerbose(pm, byKey[key], LinearizabilityTimeout)
		switch res {
		case porcupine.Ok:
			continue
		case porcupine.Unknown:
			return Violationf("linearizability ("+model.Name+")",
				"the checker ran out of time on %s (%d operations); the history is too large or too concurrent to decide",
				keyWords(model, key), len(byKey[key]))
		}
		return linearizabilityViolation(model, key, ops, byKey[key], info)
	}
	return nil
}

func (h *History) clientID(name string) int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.clients[name]
}

func keyWords(model Model, key string) string {
	if model.Key == nil {
		return "the history"
	}
	return fmt.Sprintf("key %q", key)
}

func linearizabilityViolation(model Model, key string, all []Op, part []porcupine.Operation, info porcupine.LinearizationInfo) *Violation {
	var b strings.Builder
	fmt.Fprintf(&b, "No order of the operations on %s explains the results: each operation must appear to take effect\n", keyWords(model, key))
	b.WriteString("at one instant between its invocation and its completion, and reads must return the latest write.\n")
	const maxOps = 40
	fmt.Fprintf(&b, "Operations (%d; virtual invoke .. complete, client, operation):\n", len(part))
	for i, p := range part {
		if i == maxOps {
			fmt.Fprintf(&b, "  ... %d more\n", len(part)-maxOps)
			break
		}
		op := all[p.Metadata.(int)]
		end := "never completed"
		if op.Done {
			end = fmtDur(op.Return)
		}
		fmt.Fprintf(&b, "  %s .. %-16s %-8s %s\n", fmtDur(op.Call), end, op.Client, model.describeOp(op))
	}
	partials := info.PartialLinearizationsOperations()
	var best []porcupine.Operation
	if len(partials) > 0 {
		cands := partials[0]
		for _, c := range cands {
			if len(c) > len(best) || (len(c) == len(best) && lessOps(c, best)) {
				best = c
			}
		}
	}
	if len(best) > 0 {
		var names []string
		for _, p := range best {
			names = append(names, model.describeOp(all[p.Metadata.(int)]))
		}
		fmt.Fprintf(&b, "The longest order that works is: %s;\nno remaining operation can come next.", strings.Join(names, ", "))
	} else {
		b.WriteString("Not even the first operation can be explained from the initial state.")
	}
	return &Violation{Property: "linearizability (" + model.Name + ")", Detail: b.String()}
}

func lessOps(a, b []porcupine.Operation) bool {
	ai := make([]int, len(a))
	for i, p := range a {
		ai[i] = p.Metadata.(int)
	}
	bi := make([]int, len(b))
	for i, p := range b {
		bi[i] = p.Metadata.(int)
	}
	return slices.Compare(ai, bi) < 0
}
