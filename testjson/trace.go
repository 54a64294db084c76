package testjson

import (
	"encoding/json"
	"errors"
	"regexp"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/faultline-dev/faultline"
)

// A run's trace as labkit prints it (labs/labkit/svg.go, "Run traces"):
// one line of JSON; times are virtual microseconds; an event is [at, kind,
// node, peer, detail] with node and peer indexes into nodes (-1: none).
type traceDoc struct {
	V        int               `json:"v"`
	Test     string            `json:"test"`
	Seed     int64             `json:"seed"`
	Property string            `json:"property"`
	Detail   string            `json:"detail"`
	At       int64             `json:"at"`
	Total    int               `json:"total"`
	Nodes    []string          `json:"nodes"`
	Events   []json.RawMessage `json:"events"`
}

var traceKind = regexp.MustCompile(`^[a-z][a-z-]{0,15}$`)

// Bounds on what a trace's text may hold; it came out of a run of learner
// code, so nothing in it is trusted.
const (
	maxTraceNodes  = 200
	maxTraceName   = 100  // runes of a node or test name
	maxTraceDetail = 400  // runes of an event's detail
	maxTraceText   = 4000 // runes of the property and the detail of the failure
)

var errNotTrace = errors.New("not a labkit trace")

// decodeTrace reads a trace block's body into a RunTrace, checking every
// field: the version, sizes, node indexes, times that never go back, kinds
// made of lower-case letters. Anything else is errNotTrace.
func decodeTrace(body string) (*faultline.RunTrace, error) {
	var d traceDoc
	if err := json.Unmarshal([]byte(body), &d); err != nil || d.V != 1 {
		return nil, errNotTrace
	}
	if len(d.Nodes) > maxTraceNodes || len(d.Events) > faultline.MaxTraceEvents || d.At < 0 || d.Total < len(d.Events) {
		return nil, errNotTrace
	}
	rt := &faultline.RunTrace{
		Test: text(d.Test, maxTraceName), Seed: d.Seed, Property: text(d.Property, maxTraceText),
		Detail: text(d.Detail, maxTraceText), At: time.Duration(d.At) * time.Microsecond, Total: d.Total,
	}
	for _, n := range d.Nodes {
		if n == "" {
			return nil, errNotTrace
		}
		rt.Nodes = append(rt.Nodes, text(n, maxTraceName))
	}
	node := func(i int) (string, bool) {
		if i == -1 {
			return "", true
		}
		if i < 0 || i >= len(rt.Nodes) {
			return "", false
		}
		return rt.Nodes[i], true
	}
	var last int64
	for _, raw := range d.Events {
		var at int64
		var kind, detail string
		var from, to int
		fields := []any{&at, &kind, &from, &to, &detail}
		if err := json.Unmarshal(raw, &fields); err != nil || len(fields) != 5 {
			return nil, errNotTrace
		}
		n, ok1 := node(from)
		p, ok2 := node(to)
		if !ok1 || !ok2 || at < last || !traceKind.MatchString(kind) {
			return nil, errNotTrace
		}
		last = at
		rt.Events = append(rt.Events, faultline.TraceEvent{
			At: time.Duration(at) * time.Microsecond, Kind: kind, Node: n, Peer: p, Detail: text(detail, maxTraceDetail),
		})
	}
	return rt, nil
}

// text is s as valid UTF-8 without control characters, cut to n runes.
func text(s string, n int) string {
	s = strings.ToValidUTF8(s, "\uFFFD")
	s = strings.Map(func(r rune) rune {
		if r < 0x20 && r != '\n' || r == 0x7f {
			return ' '
		}
		return r
	}, s)
	if utf8.RuneCountInString(s) > n {
		s = string([]rune(s)[:n-1]) + "…"
	}
	return s
}

// traceSize is about how many bytes a trace takes, for the result's cap.
func traceSize(rt *faultline.RunTrace) int {
	b, err := json.Marshal(rt)
	if err != nil {
		return faultline.MaxResultTraceBytes + 1
	}
	return len(b)
}
