package views

// LabHistory is the lab page's history panel: the learner's submissions of
// the lab with diff links, the compare form and the restore points.
type LabHistory struct {
	Rows       []HistoryRow       // newest first
	DiffURL    string             // GET a=<id>&b=<id|saved>
	ResetURL   string             // POST; confirm=1 performs
	RestoreURL string             // POST point=<id>; confirm=1 performs
	Points     []RestorePointView // newest first
}

// HistoryRow is one submission with links to what changed.
type HistoryRow struct {
	SubmissionRow
	DiffPrevURL  string // against the submission before it; "" for the first
	DiffSavedURL string // against the saved files
}

// RestorePointView is one restore point in the Restore list.
type RestorePointView struct {
	ID    int64
	Label string
	When  string
	Files int
}

// DiffPage is a per-file unified diff of two attempts.
type DiffPage struct {
	Page
	Title   string
	BackURL string
	A, AURL string // the older side
	B, BURL string
	Files   []FileDiff
}

// Changed reports whether any file differs.
func (d DiffPage) Changed() bool {
	for _, f := range d.Files {
		if f.Status != "same" {
			return true
		}
	}
	return false
}

// FileDiff is one path of a diff.
type FileDiff struct {
	Path   string
	Status string // "changed", "added", "removed", "same"
	Hunks  []DiffHunk
	// Comments are staff's comments on the newer side's file (feedback).
	Comments []CommentView
}

// Lines flattens the hunks for the <pre>: each header becomes a line of
// Kind "hunk" (one loop keeps the template from adding whitespace).
func (f FileDiff) Lines() []DiffLine {
	var out []DiffLine
	for _, h := range f.Hunks {
		out = append(out, DiffLine{Kind: "hunk", Text: h.Header})
		out = append(out, h.Lines...)
	}
	return out
}

// DiffHunk is one @@ section.
type DiffHunk struct {
	Header string
	Lines  []DiffLine
}

// DiffLine is one line with its marker: Kind "add", "del", "ctx" or "hunk".
type DiffLine struct {
	Kind string
	Text string
}

// ResetConfirmPage asks before a reset to starter or a restore.
type ResetConfirmPage struct {
	Page
	LabTitle   string
	LabURL     string
	Action     string
	Point      int64  // 0: reset to starter
	PointLabel string // the restore point's label and time
	Saved      []string
	Target     []string // files after the reset or restore
}
