package store_test

import (
	"context"
	"fmt"
	"path/filepath"
	"reflect"
	"sync"
	"testing"
	"time"

	"github.com/faultline-dev/faultline"
	"github.com/faultline-dev/faultline/store"
)

func TestCreateSubmissionValidates(t *testing.T) {
	ctx := context.Background()
	db, _ := MustOpenDB(t)
	u := MustCreateUser(t, db, "l@example.com", faultline.RoleLearner)
	file := func(p string, n int) faultline.File { return faultline.File{Path: p, Content: make([]byte, n)} }
	many := make([]faultline.File, faultline.MaxTreeFiles+1)
	for i := range many {
		many[i] = file(fmt.Sprintf("f%d.go", i), 1)
	}
	tooBig := make([]faultline.File, faultline.MaxTreeSize/faultline.MaxFileSize+1)
	for i := range tooBig {
		tooBig[i] = file(fmt.Sprintf("f%d.go", i), faultline.MaxFileSize)
	}
	for name, tc := range map[string]struct {
		s    faultline.Submission
		code string
	}{
		"no lab":       {faultline.Submission{UserID: u.ID, Files: []faultline.File{file("a.go", 1)}}, faultline.EINVALID},
		"no files":     {faultline.Submission{UserID: u.ID, Lab: lab}, faultline.EINVALID},
		"bad path":     {faultline.Submission{UserID: u.ID, Lab: lab, Files: []faultline.File{file("../a.go", 1)}}, faultline.EINVALID},
		"dup path":     {faultline.Submission{UserID: u.ID, Lab: lab, Files: []faultline.File{file("a.go", 1), file("a.go", 2)}}, faultline.EINVALID},
		"big file":     {faultline.Submission{UserID: u.ID, Lab: lab, Files: []faultline.File{file("a.go", faultline.MaxFileSize+1)}}, faultline.ETOOLARGE},
		"many files":   {faultline.Submission{UserID: u.ID, Lab: lab, Files: many}, faultline.ETOOLARGE},
		"total size":   {faultline.Submission{UserID: u.ID, Lab: lab, Files: tooBig}, faultline.ETOOLARGE},
		"no such user": {faultline.Submission{UserID: 999, Lab: lab, Files: []faultline.File{file("a.go", 1)}}, faultline.ENOTFOUND},
	} {
		s := tc.s
		if err := db.CreateSubmission(ctx, &s); faultline.ErrorCode(err) != tc.code {
			t.Errorf("%s: error = %v, want %s", name, err, tc.code)
		}
	}
	if subs, err := db.ListSubmissions(ctx, faultline.SubmissionFilter{}); err != nil || len(subs) != 0 {
		t.Fatalf("ListSubmissions after rejected creates = %d, %v", len(subs), err)
	}
	_, err := db.FindSubmission(ctx, 1)
	assertCode(t, err, faultline.ENOTFOUND)
}

func TestClaimOrderAndEmptyQueue(t *testing.T) {
	ctx := context.Background()
	db, clk := MustOpenDB(t)
	u := MustCreateUser(t, db, "l@example.com", faultline.RoleLearner)
	_, err := db.ClaimSubmission(ctx, "w1", time.Minute)
	assertCode(t, err, faultline.ENOTFOUND)

	var ids []int64
	for i := 0; i < 3; i++ {
		s := MustCreateSubmission(t, db, u.ID, lab)
		if s.State != faultline.SubmissionQueued || !s.CreatedAt.Equal(clk.Now()) {
			t.Fatalf("created = %+v", s)
		}
		ids = append(ids, s.ID)
		clk.Advance(time.Second)
	}
	for i, want := range ids {
		s := MustClaim(t, db, "w1", time.Minute)
		if s.ID != want {
			t.Fatalf("claim %d got submission %d, want %d (oldest first)", i, s.ID, want)
		}
		if s.State != faultline.SubmissionRunning || s.Attempts != 1 || s.LeaseOwner != "w1" ||
			!s.LeaseExpires.Equal(clk.Now().Add(time.Minute)) || !s.StartedAt.Equal(clk.Now()) {
			t.Fatalf("claimed = %+v", s)
		}
		if len(s.Files) != 1 || s.Files[0].Path != "breaker.go" || len(s.Files[0].Content) == 0 {
			t.Fatalf("claimed files = %+v", s.Files)
		}
	}
	_, err = db.ClaimSubmission(ctx, "w1", time.Minute)
	assertCode(t, err, faultline.ENOTFOUND)
	_, err = db.ClaimSubmission(ctx, "", time.Minute)
	assertCode(t, err, faultline.EINVALID)
	_, err = db.ClaimSubmission(ctx, "w1", 0)
	assertCode(t, err, faultline.EINVALID)
}

func TestLeaseExpiryGivesExactlyOneResult(t *testing.T) {
	ctx := context.Background()
	db, clk := MustOpenDB(t)
	u := MustCreateUser(t, db, "l@example.com", faultline.RoleLearner)
	s := MustCreateSubmission(t, db, u.ID, lab)

	MustClaim(t, db, "worker-a", time.Minute)
	if n, err := db.RequeueExpired(ctx); err != nil || n != 0 {
		t.Fatalf("RequeueExpired with a live lease = %d, %v; want 0", n, err)
	}

	// worker-a stalls past its lease; even before the requeue it may not complete.
	clk.Advance(time.Minute)
	resultA := &faultline.Result{Status: faultline.StatusGraded, Score: 1, MaxScore: 10, Message: "from A"}
	assertCode(t, db.CompleteSubmission(ctx, s.ID, "worker-a", resultA), faultline.ECONFLICT)
	assertCode(t, db.ExtendLease(ctx, s.ID, "worker-a", time.Minute), faultline.ECONFLICT)

	if n, err := db.RequeueExpired(ctx); err != nil || n != 1 {
		t.Fatalf("RequeueExpired = %d, %v; want 1", n, err)
	}
	if got, _ := db.FindSubmission(ctx, s.ID); got.State != faultline.SubmissionQueued || got.LeaseOwner != "" {
		t.Fatalf("after requeue = %+v", got)
	}

	b := MustClaim(t, db, "worker-b", time.Minute)
	if b.ID != s.ID || b.Attempts != 2 {
		t.Fatalf("worker-b claimed %+v; want submission %d attempt 2", b, s.ID)
	}
	assertCode(t, db.CompleteSubmission(ctx, s.ID, "worker-a", resultA), faultline.ECONFLICT)
	assertCode(t, db.ReleaseSubmission(ctx, s.ID, "worker-a"), faultline.ECONFLICT)

	resultB := &faultline.Result{Status: faultline.StatusGraded, Score: 9, MaxScore: 10, Message: "from B"}
	if err := db.CompleteSubmission(ctx, s.ID, "worker-b", resultB); err != nil {
		t.Fatalf("worker-b complete: %v", err)
	}
	assertCode(t, db.CompleteSubmission(ctx, s.ID, "worker-b", resultB), faultline.ECONFLICT)

	got, err := db.FindSubmission(ctx, s.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.State != faultline.SubmissionDone || got.Result == nil || got.Result.Message != "from B" ||
		!got.FinishedAt.Equal(clk.Now()) || got.Attempts != 2 {
		t.Fatalf("final = %+v, result %+v", got, got.Result)
	}
	if n, err := db.RequeueExpired(ctx); err != nil || n != 0 {
		t.Fatalf("RequeueExpired after completion = %d, %v; want 0", n, err)
	}
	assertCode(t, db.CompleteSubmission(ctx, 999, "worker-b", resultB), faultline.ENOTFOUND)
}

func TestExtendAndReleaseLease(t *testing.T) {
	ctx := context.Background()
	db, clk := MustOpenDB(t)
	u := MustCreateUser(t, db, "l@example.com", faultline.RoleLearner)
	s := MustCreateSubmission(t, db, u.ID, lab)
	MustClaim(t, db, "w1", time.Minute)

	clk.Advance(50 * time.Second)
	if err := db.ExtendLease(ctx, s.ID, "w1", time.Minute); err != nil {
		t.Fatal(err)
	}
	assertCode(t, db.ExtendLease(ctx, s.ID, "w2", time.Minute), faultline.ECONFLICT)
	clk.Advance(50 * time.Second) // past the first lease, inside the extended one
	if n, err := db.RequeueExpired(ctx); err != nil || n != 0 {
		t.Fatalf("RequeueExpired after extension = %d, %v; want 0", n, err)
	}

	assertCode(t, db.ReleaseSubmission(ctx, s.ID, "w2"), faultline.ECONFLICT)
	if err := db.ReleaseSubmission(ctx, s.ID, "w1"); err != nil {
		t.Fatal(err)
	}
	got, _ := db.FindSubmission(ctx, s.ID)
	if got.State != faultline.SubmissionQueued || got.Attempts != 1 || got.LeaseOwner != "" || !got.LeaseExpires.IsZero() {
		t.Fatalf("after release = %+v", got)
	}
	assertCode(t, db.ReleaseSubmission(ctx, s.ID, "w1"), faultline.ECONFLICT)
	if again := MustClaim(t, db, "w2", time.Minute); again.ID != s.ID || again.Attempts != 2 {
		t.Fatalf("reclaimed = %+v", again)
	}
}

func TestResultRoundTrip(t *testing.T) {
	ctx := context.Background()
	db, _ := MustOpenDB(t)
	u := MustCreateUser(t, db, "l@example.com", faultline.RoleLearner)
	s := &faultline.Submission{UserID: u.ID, Lab: lab, Files: []faultline.File{
		{Path: "z.go", Content: []byte("package z")},
		{Path: "a/b.go", Content: []byte("package b")},
		{Path: "empty.go", Content: []byte{}},
	}}
	if err := db.CreateSubmission(ctx, s); err != nil {
		t.Fatal(err)
	}
	MustClaim(t, db, "w1", time.Minute)
	want := &faultline.Result{
		Lab: lab, Status: faultline.StatusGraded, Score: 3, MaxScore: 5,
		Message: "3 of 5 points.", Output: "--- FAIL: TestHalfOpen\n<script>",
		Flags:    []string{"unsafe", "os.Exit"},
		Duration: 1234567891 * time.Nanosecond,
		Tests: []faultline.TestResult{
			{Name: "TestOpens", Status: faultline.TestPass, Score: 2, MaxScore: 2},
			{Name: "TestHalfOpen", Hidden: true, Status: faultline.TestFail, Score: 0, MaxScore: 2, Message: "stayed open", Output: "want half-open"},
			{Name: "TestCloses", Hidden: true, Status: faultline.TestNone, Score: 0, MaxScore: 1},
			{Name: "TestOpens", Status: faultline.TestSkip, Score: 1, MaxScore: 0},
		},
	}
	bad := *want
	bad.Tests = []faultline.TestResult{{Name: "TestX", Status: "exploded"}}
	assertCode(t, db.CompleteSubmission(ctx, s.ID, "w1", &bad), faultline.EINVALID)
	assertCode(t, db.CompleteSubmission(ctx, s.ID, "w1", &faultline.Result{Status: "weird"}), faultline.EINVALID)
	assertCode(t, db.CompleteSubmission(ctx, s.ID, "w1", nil), faultline.EINVALID)
	if err := db.CompleteSubmission(ctx, s.ID, "w1", want); err != nil {
		t.Fatal(err)
	}

	got, err := db.FindSubmission(ctx, s.ID)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got.Result, want) {
		t.Fatalf("result round trip:\n got %+v\nwant %+v", got.Result, want)
	}
	wantFiles := []faultline.File{
		{Path: "a/b.go", Content: []byte("package b")},
		{Path: "empty.go", Content: []byte{}},
		{Path: "z.go", Content: []byte("package z")},
	}
	if !reflect.DeepEqual(got.Files, wantFiles) {
		t.Fatalf("files = %+v, want %+v", got.Files, wantFiles)
	}

	list, err := db.ListSubmissions(ctx, faultline.SubmissionFilter{UserID: u.ID})
	if err != nil || len(list) != 1 {
		t.Fatalf("ListSubmissions = %d, %v", len(list), err)
	}
	if list[0].Files != nil || !reflect.DeepEqual(list[0].Result, want) {
		t.Fatalf("listed = files %v, result %+v", list[0].Files, list[0].Result)
	}
}

func TestErrorResultMarksFailed(t *testing.T) {
	ctx := context.Background()
	db, _ := MustOpenDB(t)
	u := MustCreateUser(t, db, "l@example.com", faultline.RoleLearner)
	s := MustCreateSubmission(t, db, u.ID, lab)
	MustClaim(t, db, "w1", time.Minute)
	r := &faultline.Result{Status: faultline.StatusError, Message: "Could not be graded; try again."}
	if err := db.CompleteSubmission(ctx, s.ID, "w1", r); err != nil {
		t.Fatal(err)
	}
	got, _ := db.FindSubmission(ctx, s.ID)
	if got.State != faultline.SubmissionFailed || got.Result == nil || got.Result.Status != faultline.StatusError {
		t.Fatalf("after error result = %+v, %+v", got, got.Result)
	}
}

// Two store handles on one file stand in for two processes; each runs four
// claimers. Every submission is claimed and completed exactly once, and no
// call fails (in particular not with SQLITE_BUSY).
func TestConcurrentClaimers(t *testing.T) {
	ctx := context.Background()
	clk := newClock()
	path := filepath.Join(t.TempDir(), "faultline.db")
	dbs := []*store.DB{MustOpenDBAt(t, path, clk), MustOpenDBAt(t, path, clk)}
	u := MustCreateUser(t, dbs[0], "l@example.com", faultline.RoleLearner)
	const n = 50
	for i := 0; i < n; i++ {
		MustCreateSubmission(t, dbs[i%2], u.ID, lab)
	}

	const workers = 8
	var mu sync.Mutex
	claims := map[int64]string{}
	var errs []error
	var wg sync.WaitGroup
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			db := dbs[w%2]
			name := fmt.Sprintf("worker-%d", w)
			for {
				s, err := db.ClaimSubmission(ctx, name, time.Hour)
				if faultline.ErrorCode(err) == faultline.ENOTFOUND {
					return
				}
				if err == nil {
					r := &faultline.Result{Status: faultline.StatusGraded, Score: 1, MaxScore: 1, Message: name}
					err = db.CompleteSubmission(ctx, s.ID, name, r)
				}
				mu.Lock()
				if err != nil {
					errs = append(errs, err)
				} else if prev, dup := claims[s.ID]; dup {
					errs = append(errs, fmt.Errorf("submission %d claimed by %s and %s", s.ID, prev, name))
				} else {
					claims[s.ID] = name
				}
				mu.Unlock()
				if err != nil {
					return
				}
			}
		}(w)
	}
	wg.Wait()
	for _, err := range errs {
		t.Error(err)
	}
	if len(claims) != n {
		t.Fatalf("%d submissions claimed, want %d", len(claims), n)
	}
	subs, err := dbs[1].ListSubmissions(ctx, faultline.SubmissionFilter{})
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range subs {
		if s.State != faultline.SubmissionDone || s.Attempts != 1 || s.Result == nil || s.Result.Message != claims[s.ID] {
			t.Errorf("submission %d = state %s attempts %d result %+v; claimed by %s", s.ID, s.State, s.Attempts, s.Result, claims[s.ID])
		}
	}
}

func TestListSubmissionsFilters(t *testing.T) {
	ctx := context.Background()
	db, clk := MustOpenDB(t)
	ins := MustCreateUser(t, db, "ins@example.com", faultline.RoleInstructor)
	a := MustCreateUser(t, db, "a@example.com", faultline.RoleLearner)
	b := MustCreateUser(t, db, "b@example.com", faultline.RoleLearner)
	c := MustCreateCohort(t, db, ins.ID, "C", "inv")
	if err := db.AddMember(ctx, c.ID, a.ID, faultline.MemberLearner); err != nil {
		t.Fatal(err)
	}
	var aIDs []int64
	for i := 0; i < 3; i++ {
		aIDs = append(aIDs, MustCreateSubmission(t, db, a.ID, lab).ID)
		clk.Advance(time.Second)
	}
	MustCreateSubmission(t, db, a.ID, "consistent-hashing")
	MustCreateSubmission(t, db, b.ID, lab)
	MustCreateSubmission(t, db, ins.ID, lab)

	count := func(f faultline.SubmissionFilter) []*faultline.Submission {
		t.Helper()
		subs, err := db.ListSubmissions(ctx, f)
		if err != nil {
			t.Fatal(err)
		}
		return subs
	}
	if got := count(faultline.SubmissionFilter{}); len(got) != 6 {
		t.Fatalf("all = %d, want 6", len(got))
	}
	got := count(faultline.SubmissionFilter{UserID: a.ID, Lab: lab})
	if len(got) != 3 || got[0].ID != aIDs[2] || got[2].ID != aIDs[0] {
		t.Fatalf("a's %s submissions not newest first: %+v", lab, got)
	}
	if got := count(faultline.SubmissionFilter{CohortID: c.ID}); len(got) != 4 {
		t.Fatalf("cohort learners' submissions = %d, want 4 (a only, not the instructor)", len(got))
	}
	if got := count(faultline.SubmissionFilter{Lab: lab, Limit: 2}); len(got) != 2 {
		t.Fatalf("limit 2 returned %d", len(got))
	}
}

// TestCohortAttemptsAndHeld: the cohort's learners' submissions read back
// as attempts (graded unless the shown result is an error), and the score
// each holds with no cohort rules is their best graded one, earliest among
// equals; instructors' and outsiders' work is not in the cohort's.
func TestCohortAttemptsAndHeld(t *testing.T) {
	ctx := context.Background()
	db, clk := MustOpenDB(t)
	ins := MustCreateUser(t, db, "ins@example.com", faultline.RoleInstructor)
	l1 := MustCreateUser(t, db, "l1@example.com", faultline.RoleLearner)
	l2 := MustCreateUser(t, db, "l2@example.com", faultline.RoleLearner)
	outsider := MustCreateUser(t, db, "out@example.com", faultline.RoleLearner)
	c := MustCreateCohort(t, db, ins.ID, "C", "inv")
	for _, u := range []*faultline.User{l1, l2} {
		if err := db.AddMember(ctx, c.ID, u.ID, faultline.MemberLearner); err != nil {
			t.Fatal(err)
		}
	}

	// grade submits and grades one submission with the given score.
	grade := func(u *faultline.User, lab string, status faultline.ResultStatus, score int) int64 {
		t.Helper()
		s := MustCreateSubmission(t, db, u.ID, lab)
		clk.Advance(time.Second)
		got := MustClaim(t, db, "w", time.Minute)
		if got.ID != s.ID {
			t.Fatalf("claimed %d, want %d", got.ID, s.ID)
		}
		r := &faultline.Result{Status: status, Score: score, MaxScore: 10}
		if err := db.CompleteSubmission(ctx, s.ID, "w", r); err != nil {
			t.Fatal(err)
		}
		return s.ID
	}
	grade(l1, "circuit-breaker", faultline.StatusGraded, 5)
	best := grade(l1, "circuit-breaker", faultline.StatusGraded, 8)
	grade(l1, "circuit-breaker", faultline.StatusGraded, 8)
	grade(l1, "circuit-breaker", faultline.StatusBuildFailed, 0)
	grade(l1, "circuit-breaker", faultline.StatusError, 10) // not graded: not counted
	l2best := grade(l2, "circuit-breaker", faultline.StatusGraded, 3)
	grade(ins, "circuit-breaker", faultline.StatusGraded, 10)      // instructor: not a learner
	grade(outsider, "circuit-breaker", faultline.StatusGraded, 10) // not a member
	// Still queued: they count as submits, not as graded attempts.
	MustCreateSubmission(t, db, l1.ID, "circuit-breaker")
	clk.Advance(time.Second)
	MustCreateSubmission(t, db, l1.ID, "consistent-hashing")

	held := MustHeld(t, db, c.ID)
	if len(held) != 3 {
		t.Fatalf("got %d learner labs, want 3: %+v", len(held), held)
	}
	check := func(user int64, lab string, has bool, score, attempts int, bestID int64) {
		t.Helper()
		h := held[heldKey(user, lab)]
		if h.Has != has || h.Score != score || h.Attempts != attempts || h.BestID != bestID || has && h.MaxScore != 10 {
			t.Fatalf("user %d lab %s holds %+v; want has %v, %d after %d attempts from %d", user, lab, h, has, score, attempts, bestID)
		}
	}
	check(l1.ID, "circuit-breaker", true, 8, 4, best)
	check(l1.ID, "consistent-hashing", false, 0, 0, 0)
	check(l2.ID, "circuit-breaker", true, 3, 1, l2best)
	_, err := db.CohortAttempts(ctx, 999, "")
	assertCode(t, err, faultline.ENOTFOUND)
}
