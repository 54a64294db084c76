package faultline

import "time"

// Attachment is what a test attached to its result: a picture (labkit.Attach)
// — an SVG such as ring ownership, breaker state over time or a partition
// timeline — or the recorded run of a failure (Trace). The grader lifts
// attachments out of the test's output; they are untrusted text produced by
// code that ran next to the learner's, so an SVG is only ever served as an
// image with a sandboxing CSP, never inlined, and a trace's text is always
// escaped where it is drawn.
type Attachment struct {
	Name  string    // e.g. "timeline.svg" or "trace.json"
	SVG   string    // a picture; "" for a trace
	Trace *RunTrace `json:",omitempty"`
}

// Attachment limits: what a result keeps of the pictures its tests attach.
const (
	MaxAttachmentBytes   = 256 << 10 // one SVG
	MaxTestAttachments   = 4         // per test
	MaxResultAttachments = 1 << 20   // bytes of SVG across a whole result
)

// RunTrace is the recorded run of a failing test: the simulation's events
// (labkit's trace: messages sent, delivered and dropped, partitions, crashes,
// timers, client operations, faults) up to the point a property broke, for
// the trace explorer to draw as a space-time diagram. Events keeps the last
// of the run's Total events.
type RunTrace struct {
	Test     string        // the (sub)test whose run it is, e.g. TestX/seed=42
	Seed     int64         // the run's seed (Replay runs it again)
	Property string        // the property that broke
	Detail   string        // how it broke
	At       time.Duration // virtual time when it broke
	Total    int           // events the run recorded
	Nodes    []string      // the nodes and clients, in the order they first appear
	Events   []TraceEvent  // oldest first
}

// TraceEvent is one event of a RunTrace at virtual time At: Kind is one of
// labkit's trace kinds (send, deliver, drop, dup, late, partition, heal,
// crash, restart, timer, op, fault, note); Node is where it happened (the
// sender of a message), Peer the other end of a message or link; Detail
// names the message ("#17 Put{...}") or says what happened.
type TraceEvent struct {
	At     time.Duration
	Kind   string
	Node   string `json:",omitempty"`
	Peer   string `json:",omitempty"`
	Detail string `json:",omitempty"`
}

// Trace limits: what a result keeps of its runs' traces.
const (
	MaxTraceBytes       = 64 << 10  // one trace as the test printed it
	MaxTraceEvents      = 2000      // events of one trace
	MaxResultTraceBytes = 256 << 10 // the traces of a whole result, as printed
)
