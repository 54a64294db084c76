package faultline

// Attachment is a picture a test attached to its result (labkit.Attach): an
// SVG such as ring ownership, breaker state over time or a partition
// timeline. The grader lifts attachments out of the test's output; the SVG is
// untrusted text produced by code that ran next to the learner's, so it is
// only ever served as an image with a sandboxing CSP, never inlined.
type Attachment struct {
	Name string // e.g. "timeline.svg"
	SVG  string
}

// Attachment limits: what a result keeps of the pictures its tests attach.
const (
	MaxAttachmentBytes   = 256 << 10 // one SVG
	MaxTestAttachments   = 4         // per test
	MaxResultAttachments = 1 << 20   // bytes of SVG across a whole result
)
