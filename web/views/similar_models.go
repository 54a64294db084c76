package views

import "strings"

// View models of the instructor's submission view (files, the previous
// attempt, flags explained, similar submissions) and of the similar pairs on
// a lab's statistics page.

// SubmissionReview is what /submissions/{id} shows beyond the result.
type SubmissionReview struct {
	Files []CodeFile
	// Prev is the learner's previous submission of the lab; nil for the first.
	Prev *PrevAttempt
	// Teacher: the viewer teaches the learner (and is not the learner), so
	// the page shows the links and similarity below.
	Teacher bool
	// LearnerLinks lead to the learner's submissions of the lab in each
	// cohort the viewer teaches them in.
	LearnerLinks []ReviewLink
	Similar      []SimilarFlag
	Threshold    int // percent
}

// CodeFile is one file of a submission.
type CodeFile struct {
	Path   string
	Anchor string // element id, for the file list's links
	Lines  int
	// HTML is the file highlighted and sanitized by content.Render; when ""
	// the page shows Content in a plain <pre>.
	HTML    string
	Content string
	// LineView, when set, show the file line by line with the comments on
	// each line (talk_models.go); CommentAction is where a line comment posts.
	LineView      []CodeLine
	CommentAction string
}

// PrevAttempt is the learner's previous submission of the same lab.
type PrevAttempt struct {
	ID      int64
	URL     string // the submission
	DiffURL string // this submission against it
	Label   string // "#12, 3 Feb 14:02, 40/60"
	Changes []FileChange
}

// FileChange is one file that differs from the previous attempt.
type FileChange struct {
	Path    string
	Status  string // added, removed, changed
	Added   int    // lines
	Removed int
}

// ReviewLink is a labelled link.
type ReviewLink struct {
	Label string
	URL   string
}

// SimilarFlag says this submission is much like another learner's.
type SimilarFlag struct {
	Learner       string
	SubmissionID  int64
	SubmissionURL string
	CompareURL    string // the two side by side as a diff
	Percent       int
	Cohort        string
}

// SimilarSide is one submission of a similar pair.
type SimilarSide struct {
	Learner       string
	LearnerURL    string // their submissions of the lab in the cohort
	SubmissionID  int64
	SubmissionURL string
}

// SimilarPairView is one pair on the lab's statistics page.
type SimilarPairView struct {
	A, B       SimilarSide
	Percent    int
	CompareURL string
}

// SimilarSection is the lab statistics page's "Similar submissions".
type SimilarSection struct {
	Compared  int // learners whose best submission was compared
	Threshold int // percent
	Pairs     []SimilarPairView
	More      int // pairs beyond those listed
}

// FlagNote is one suspicious-code flag with why it deserves a look.
type FlagNote struct {
	File string
	What string
	Why  string
}

// flagWhy explains each flag the grader raises (grader/flags.go words them;
// web/similar_test.go checks every one has an entry here).
var flagWhy = map[string]string{
	"imports unsafe": "unsafe reads and writes memory around Go's type system. No lab needs it, " +
		"and it can reach into the state of the test harness.",
	"makes raw system calls (syscall or x/sys)": "System calls go around the simulated clock, network " +
		"and disk that the tests control.",
	"imports testing outside a test file (can reach the test runner)": "Solution code has no use for the " +
		"testing package; with it, code can inspect or steer the test run.",
	"uses reflection together with testing": "Reflection on the testing package's values can read or " +
		"change the test runner's private state.",
	"starts processes (os/exec)": "Starting programs leaves the lab's simulation and can probe the " +
		"grading container.",
	"uses //go:linkname": "go:linkname calls unexported functions of other packages (the runtime, the " +
		"harness) by name, around their APIs.",
	"uses //go:embed":   "Embedding files into the build could carry in material such as expected answers.",
	`imports "C" (cgo)`: "cgo runs C code, which none of the Go checks can see into.",
	"calls os.Exit": "Exiting ends the test binary at once, which can cut a failing run short. " +
		"Unfinished tests count as failed, but ask why it is there.",
	"calls runtime.Goexit": "Goexit ends a goroutine without returning; called from a test it ends " +
		"that test early.",
	"contains the test framework's framing byte \\x16 (forged test results)": "That byte frames the " +
		"test framework's own output: printing it is how forged test results are made.",
	"refers to /proc": "/proc describes the grading container and its processes; a solution only " +
		"needs the simulated environment.",
}

// FlagNotes splits the grader's "<file>: <what>" flags and adds why each
// one deserves a look.
func FlagNotes(flags []string) []FlagNote {
	out := make([]FlagNote, 0, len(flags))
	for _, f := range flags {
		n := FlagNote{What: f}
		for what, why := range flagWhy {
			if file, ok := strings.CutSuffix(f, ": "+what); ok {
				n.File, n.What, n.Why = file, what, why
				break
			}
		}
		out = append(out, n)
	}
	return out
}

// HasFlagWhy reports whether FlagNotes explains the flag text what.
func HasFlagWhy(what string) bool { _, ok := flagWhy[what]; return ok }
