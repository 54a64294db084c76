package faultline_test

import (
	"testing"
	"time"

	"github.com/faultline-dev/faultline"
)

var due = time.Date(2026, 3, 10, 17, 0, 0, 0, time.UTC)

func TestPolicyForCombinesStrictest(t *testing.T) {
	if p := faultline.PolicyFor("saga", nil); p != (faultline.LabPolicy{Lab: "saga"}) {
		t.Fatalf("no settings: %+v, want the zero policy", p)
	}
	one := &faultline.LabSettings{Lab: "saga", DueAt: due, Late: faultline.LatePolicy{Mode: faultline.LatePenalty, PercentPerDay: 10, CapPercent: 30},
		MaxSubmissions: 5, Visibility: faultline.TestsVisible}
	if p := faultline.PolicyFor("saga", []*faultline.LabSettings{one}); p != one.Policy() {
		t.Fatalf("one cohort: %+v, want its settings %+v", p, one.Policy())
	}
	two := &faultline.LabSettings{Lab: "saga", OpensAt: due.Add(-48 * time.Hour), DueAt: due.Add(-time.Hour),
		Late: faultline.LatePolicy{Mode: faultline.LatePenalty, PercentPerDay: 5, CapPercent: 50}, PerMinute: 3, Visibility: faultline.TestsAfterDue}
	p := faultline.PolicyFor("saga", []*faultline.LabSettings{one, two})
	want := faultline.LabPolicy{Lab: "saga", OpensAt: two.OpensAt, DueAt: two.DueAt,
		Late:           faultline.LatePolicy{Mode: faultline.LatePenalty, PercentPerDay: 10, CapPercent: 50},
		MaxSubmissions: 5, PerMinute: 3, Visibility: faultline.TestsAfterDue}
	if p != want {
		t.Fatalf("two cohorts:\n got %+v\nwant %+v", p, want)
	}
	three := &faultline.LabSettings{Lab: "saga", Late: faultline.LatePolicy{Mode: faultline.LateRefuse}, MaxSubmissions: 2, Visibility: faultline.TestsHidden}
	p = faultline.PolicyFor("saga", []*faultline.LabSettings{one, two, three})
	if p.Late.Mode != faultline.LateRefuse || p.MaxSubmissions != 2 || p.Visibility != faultline.TestsHidden || p.DueAt != two.DueAt {
		t.Fatalf("three cohorts: %+v", p)
	}
}

func TestScoreUnderLateRules(t *testing.T) {
	penalty := faultline.LabPolicy{DueAt: due, Late: faultline.LatePolicy{Mode: faultline.LatePenalty, PercentPerDay: 10, CapPercent: 25}}
	refuse := faultline.LabPolicy{DueAt: due, Late: faultline.LatePolicy{Mode: faultline.LateRefuse}}
	accept := faultline.LabPolicy{DueAt: due}
	for _, tc := range []struct {
		name      string
		p         faultline.LabPolicy
		at        time.Time
		want, pct int
		refused   bool
		note      string
	}{
		{"on time", penalty, due, 40, 0, false, ""},
		{"a minute late", penalty, due.Add(time.Minute), 36, 10, false, "Late by 1 day: −10%."},
		{"capped", penalty, due.Add(10 * 24 * time.Hour), 30, 25, false, "Late by 10 days: −25%."},
		{"refused", refuse, due.Add(time.Hour), 0, 100, true, "Late by 1 day after the due date; late submissions count zero."},
		{"accepted late", accept, due.Add(time.Hour), 40, 0, false, "Late by 1 day (late work is accepted in full)."},
		{"no due date", faultline.LabPolicy{}, due.Add(1000 * time.Hour), 40, 0, false, ""},
	} {
		sc := tc.p.Score(faultline.Attempt{At: tc.at, Graded: true, Score: 40, MaxScore: 40})
		if sc.Score != tc.want || sc.PenaltyPct != tc.pct || sc.Refused != tc.refused || sc.Raw != 40 || sc.Note() != tc.note {
			t.Errorf("%s: got %+v note %q; want score %d pct %d refused %v note %q", tc.name, sc, sc.Note(), tc.want, tc.pct, tc.refused, tc.note)
		}
	}
}

func TestHeldScore(t *testing.T) {
	p := faultline.LabPolicy{DueAt: due, Late: faultline.LatePolicy{Mode: faultline.LatePenalty, PercentPerDay: 50, CapPercent: 50}}
	at := func(d time.Duration) time.Time { return due.Add(d) }
	attempts := []faultline.Attempt{
		{SubmissionID: 4, At: at(2 * time.Hour), Graded: true, Score: 40, MaxScore: 40}, // late: 20
		{SubmissionID: 1, At: at(-3 * time.Hour), Graded: true, Score: 24, MaxScore: 40},
		{SubmissionID: 2, At: at(-2 * time.Hour), Graded: false, Score: 0, MaxScore: 40}, // grading error: no attempt
		{SubmissionID: 3, At: at(-1 * time.Hour), Graded: true, Score: 24, MaxScore: 40}, // equal: earlier wins
	}
	h := p.Held(attempts, nil)
	if !h.Has || h.Score != 24 || h.BestID != 1 || h.Attempts != 3 || h.MaxScore != 40 {
		t.Fatalf("held %+v, want 24/40 from submission 1 over 3 graded attempts", h)
	}
	// Without the penalty the late full marks win.
	if h := (faultline.LabPolicy{}).Held(attempts, nil); h.Score != 40 || h.BestID != 4 {
		t.Fatalf("no policy: held %+v, want 40 from submission 4", h)
	}
	adj := []faultline.Adjustment{{Points: 10}, {Points: 10}}
	if h := p.Held(attempts, adj); h.Score != 40 || h.Adjustment != 20 {
		t.Fatalf("adjusted: %+v, want 24+20 capped at 40", h)
	}
	if h := p.Held(attempts, []faultline.Adjustment{{Points: -100}}); h.Score != 0 {
		t.Fatalf("adjusted down: %+v, want 0", h)
	}
	if h := p.Held(attempts[2:3], adj); h.Has || h.Score != 0 {
		t.Fatalf("no graded attempt: %+v, want nothing held", h)
	}
}

func TestValidatePassword(t *testing.T) {
	for _, tc := range []struct {
		pw, confirm string
		ok          bool
	}{
		{"short", "short", false},
		{"long enough pw", "long enough pw", true},
		{"long enough pw", "long enough pX", false},
		{"ääääääääää", "ääääääääää", true}, // ten characters, twenty bytes
		{string(make([]byte, 73)), string(make([]byte, 73)), false},
	} {
		err := faultline.ValidatePassword(tc.pw, tc.confirm)
		if (err == nil) != tc.ok || err != nil && faultline.ErrorCode(err) != faultline.EINVALID {
			t.Errorf("ValidatePassword(%q) = %v, want ok=%v", tc.pw, err, tc.ok)
		}
	}
}

func TestRetryAfter(t *testing.T) {
	err := faultline.RetryLater(90*time.Second, "busy")
	if d, ok := faultline.ErrorRetryAfter(err); !ok || d != 90*time.Second || faultline.ErrorCode(err) != faultline.ETOOMANY {
		t.Fatalf("RetryLater: %v %v %v", d, ok, err)
	}
	if _, ok := faultline.ErrorRetryAfter(faultline.Errorf(faultline.ETOOMANY, "x")); ok {
		t.Fatal("an error without a wait says to retry")
	}
}
