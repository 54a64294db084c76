package store_test

import (
	"bytes"
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/faultline-dev/faultline"
	"github.com/faultline-dev/faultline/store"
)

// TestClaimIsFairAcrossLearners: a learner with many waiting submissions
// delays another's by no more than the jobs already running. Ann queues 30,
// one of hers is being graded; Ben's one submission is the next claimed,
// then Ann's and Cai's turn by turn, regrades last.
func TestClaimIsFairAcrossLearners(t *testing.T) {
	ctx := context.Background()
	db, clk := MustOpenDB(t)
	ann := MustCreateUser(t, db, "ann@example.com", faultline.RoleLearner)
	ben := MustCreateUser(t, db, "ben@example.com", faultline.RoleLearner)
	cai := MustCreateUser(t, db, "cai@example.com", faultline.RoleLearner)
	var annSubs []int64
	for i := 0; i < 30; i++ {
		annSubs = append(annSubs, MustCreateSubmission(t, db, ann.ID, "saga").ID)
		clk.Advance(time.Second)
	}
	running := MustClaim(t, db, "w1", time.Minute)
	if running.ID != annSubs[0] {
		t.Fatalf("first claim %d, want Ann's first %d", running.ID, annSubs[0])
	}
	// A graded one of Cai's, queued for a regrade.
	old := MustCreateSubmission(t, db, cai.ID, "saga")
	if c := MustClaim(t, db, "w2", time.Minute); c.ID != old.ID {
		t.Fatalf("claimed %d, want %d", c.ID, old.ID)
	}
	MustComplete(t, db, old.ID, "w2", 1, 10)
	job := &faultline.RegradeJob{SubmissionID: old.ID, CreatedBy: cai.ID}
	if err := db.CreateRegradeJob(ctx, job); err != nil {
		t.Fatal(err)
	}
	clk.Advance(time.Second)
	benSub := MustCreateSubmission(t, db, ben.ID, "saga")
	clk.Advance(time.Second)
	caiSub := MustCreateSubmission(t, db, cai.ID, "saga")

	if c := MustClaim(t, db, "w2", time.Minute); c.ID != benSub.ID {
		t.Fatalf("next claim %d, want Ben's %d (Ann has one running)", c.ID, benSub.ID)
	}
	// Ann and Cai each have one running or none: Cai (none running) first,
	// then Ann's second.
	if c := MustClaim(t, db, "w3", time.Minute); c.ID != caiSub.ID {
		t.Fatalf("next claim %d, want Cai's %d", c.ID, caiSub.ID)
	}
	if c := MustClaim(t, db, "w4", time.Minute); c.ID != annSubs[1] {
		t.Fatalf("next claim %d, want Ann's second %d", c.ID, annSubs[1])
	}
	// The regrade waits behind every learner's own submission.
	seen := map[int64]bool{}
	for i := 0; i < 28; i++ {
		c := MustClaim(t, db, fmt.Sprintf("x%d", i), time.Minute)
		if c.ID == old.ID {
			t.Fatalf("the regrade was claimed while %d of Ann's waited", 28-i)
		}
		seen[c.ID] = true
	}
	if c := MustClaim(t, db, "last", time.Minute); c.ID != old.ID {
		t.Fatalf("last claim %d, want the regrade %d", c.ID, old.ID)
	}
}

// TestRestorePoints: a point pins the live versions of the moment, lists
// newest first, reads back its files, and the oldest beyond the cap drop.
func TestRestorePoints(t *testing.T) {
	ctx := context.Background()
	db, clk := MustOpenDB(t)
	u := MustCreateUser(t, db, "ann@example.com", faultline.RoleLearner)
	other := MustCreateUser(t, db, "ben@example.com", faultline.RoleLearner)
	save := func(path, content string) {
		t.Helper()
		if _, err := db.SaveFile(ctx, u.ID, "saga", path, []byte(content)); err != nil {
			t.Fatal(err)
		}
	}
	save("a.go", "a1")
	save("b.go", "b1")
	p1, err := db.AddRestorePoint(ctx, u.ID, "saga", "first")
	if err != nil || len(p1.Files) != 2 {
		t.Fatalf("AddRestorePoint = %+v, %v", p1, err)
	}
	clk.Advance(time.Minute)
	save("a.go", "a2")
	if err := db.DeleteFile(ctx, u.ID, "saga", "b.go"); err != nil {
		t.Fatal(err)
	}
	p2, err := db.AddRestorePoint(ctx, u.ID, "saga", "second")
	if err != nil || len(p2.Files) != 1 {
		t.Fatalf("second point = %+v, %v", p2, err)
	}
	list, err := db.ListRestorePoints(ctx, u.ID, "saga")
	if err != nil || len(list) != 2 || list[0].ID != p2.ID || list[1].Label != "first" || len(list[1].Files) != 2 {
		t.Fatalf("ListRestorePoints = %+v, %v", list, err)
	}
	_, files, err := db.RestorePointFiles(ctx, u.ID, "saga", p1.ID)
	if err != nil || len(files) != 2 || string(files[0].Content) != "a1" || string(files[1].Content) != "b1" {
		t.Fatalf("RestorePointFiles = %+v, %v", files, err)
	}
	for _, tc := range []struct {
		user int64
		lab  string
	}{{other.ID, "saga"}, {u.ID, "outbox"}} {
		_, _, err := db.RestorePointFiles(ctx, tc.user, tc.lab, p1.ID)
		assertCode(t, err, faultline.ENOTFOUND)
	}
	for i := 0; i < faultline.MaxRestorePoints; i++ {
		if _, err := db.AddRestorePoint(ctx, u.ID, "saga", fmt.Sprintf("p%d", i)); err != nil {
			t.Fatal(err)
		}
	}
	list, _ = db.ListRestorePoints(ctx, u.ID, "saga")
	if len(list) != faultline.MaxRestorePoints || list[len(list)-1].Label != "p0" {
		t.Fatalf("%d points kept (oldest %q), want %d ending at p0", len(list), list[len(list)-1].Label, faultline.MaxRestorePoints)
	}
}

// TestStorageBudgetNeverExceeded: saves under a small budget thin old
// autosaves (never a file's newest version, one a restore point holds, or
// one from the last hour) and refuse, saving nothing, when thinning cannot
// make room; the stored bytes never pass the budget.
func TestStorageBudgetNeverExceeded(t *testing.T) {
	ctx := context.Background()
	db, clk := MustOpenDB(t)
	db.StorageBudget = 1 << 20
	u := MustCreateUser(t, db, "ann@example.com", faultline.RoleLearner)
	chunk := func(tag byte) []byte { return bytes.Repeat([]byte{tag}, 100<<10) } // 100 KiB
	used := func() int64 {
		n, budget, err := db.StorageUsed(ctx, u.ID)
		if err != nil || budget != 1<<20 {
			t.Fatalf("StorageUsed = %d, %d, %v", n, budget, err)
		}
		return n
	}
	// Autosaves of one file, a few minutes apart, for hours.
	for i := 0; i < 40; i++ {
		if _, err := db.SaveFile(ctx, u.ID, "saga", "a.go", chunk(byte('a'+i%26))); err != nil {
			t.Fatalf("save %d: %v", i, err)
		}
		if n := used(); n > 1<<20 {
			t.Fatalf("after save %d the versions take %d bytes, over the budget", i, n)
		}
		clk.Advance(10 * time.Minute)
	}
	hist, err := db.FileHistory(ctx, u.ID, "saga", "a.go")
	if err != nil || len(hist) >= 40 || len(hist) < 2 {
		t.Fatalf("history after thinning: %d versions, %v", len(hist), err)
	}
	if !bytes.Equal(hist[0].Content, chunk(byte('a'+39%26))) {
		t.Fatal("the newest version was not kept")
	}
	// A restore point pins what is live; fill the rest with fresh saves of
	// other files until nothing can be thinned: the save is refused and
	// nothing is stored.
	p, err := db.AddRestorePoint(ctx, u.ID, "saga", "keep")
	if err != nil {
		t.Fatal(err)
	}
	var refused error
	for i := 0; i < 20 && refused == nil; i++ {
		_, refused = db.SaveFile(ctx, u.ID, "saga", fmt.Sprintf("f%d.go", i), chunk('z'))
	}
	assertCode(t, refused, faultline.ETOOLARGE)
	if n := used(); n > 1<<20 {
		t.Fatalf("stored %d bytes, over the budget", n)
	}
	if _, files, err := db.RestorePointFiles(ctx, u.ID, "saga", p.ID); err != nil || len(files) != 1 {
		t.Fatalf("the pinned version is gone: %v %v", files, err)
	}
	// ReplaceFiles is held to the same budget.
	assertCode(t, db.ReplaceFiles(ctx, u.ID, "saga", []faultline.File{{Path: "x.go", Content: chunk('x')}, {Path: "y.go", Content: chunk('y')}}), faultline.ETOOLARGE)
}

// TestReplayLogCountsInOneTransaction: simultaneous replays cannot both
// slip past an allowance of one an hour.
func TestReplayLogCountsInOneTransaction(t *testing.T) {
	ctx := context.Background()
	db, clk := MustOpenDB(t)
	u := MustCreateUser(t, db, "ann@example.com", faultline.RoleLearner)
	sub := MustCreateSubmission(t, db, u.ID, "saga")
	var wg sync.WaitGroup
	var mu sync.Mutex
	ok := 0
	for i := 0; i < 8; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			err := db.StartReplay(ctx, &faultline.ReplayRecord{UserID: u.ID, SubmissionID: sub.ID, Lab: "saga", Test: "TestX", Seed: 1},
				func(n int) error {
					if n >= 1 {
						return faultline.Errorf(faultline.ETOOMANY, "used up")
					}
					return nil
				})
			if err == nil {
				mu.Lock()
				ok++
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if ok != 1 {
		t.Fatalf("%d replays admitted, want 1", ok)
	}
	clk.Advance(61 * time.Minute)
	if err := db.StartReplay(ctx, &faultline.ReplayRecord{UserID: u.ID, SubmissionID: sub.ID, Lab: "saga", Test: "TestX"},
		func(n int) error {
			if n != 0 {
				t.Errorf("an hour later %d replays counted", n)
			}
			return nil
		}); err != nil {
		t.Fatal(err)
	}
}

// TestScoreQueries: LearnerCohorts and CohortAttempts read what the one
// score needs.
func TestScoreQueries(t *testing.T) {
	ctx := context.Background()
	db, _ := MustOpenDB(t)
	ins := MustCreateUser(t, db, "ins@example.com", faultline.RoleInstructor)
	ann := MustCreateUser(t, db, "ann@example.com", faultline.RoleLearner)
	ben := MustCreateUser(t, db, "ben@example.com", faultline.RoleLearner)
	c1 := MustCreateCohort(t, db, ins.ID, "A", "a")
	c2 := MustCreateCohort(t, db, ins.ID, "B", "b")
	for _, m := range []struct{ c, u int64 }{{c1.ID, ann.ID}, {c2.ID, ann.ID}, {c2.ID, ben.ID}} {
		if err := db.AddMember(ctx, m.c, m.u, faultline.MemberLearner); err != nil {
			t.Fatal(err)
		}
	}
	lc, err := db.LearnerCohorts(ctx, []int64{ann.ID, ben.ID, ins.ID})
	if err != nil || fmt.Sprint(lc[ann.ID]) != fmt.Sprint([]int64{c1.ID, c2.ID}) || len(lc[ben.ID]) != 1 || lc[ins.ID] != nil {
		t.Fatalf("LearnerCohorts = %v, %v", lc, err)
	}
	s1 := MustCreateSubmission(t, db, ann.ID, "saga")
	MustClaim(t, db, "w", time.Minute)
	MustComplete(t, db, s1.ID, "w", 7, 10)
	MustCreateSubmission(t, db, ann.ID, "saga") // queued: not graded
	MustCreateSubmission(t, db, ben.ID, "outbox")
	atts, err := db.CohortAttempts(ctx, c1.ID, "")
	if err != nil || len(atts) != 2 || !atts[0].Graded || atts[0].Score != 7 || atts[0].MaxScore != 10 || atts[1].Graded {
		t.Fatalf("CohortAttempts(c1) = %+v, %v", atts, err)
	}
	if atts, _ := db.CohortAttempts(ctx, c2.ID, "outbox"); len(atts) != 1 || atts[0].UserID != ben.ID {
		t.Fatalf("CohortAttempts(c2, outbox) = %+v", atts)
	}
	_, err = db.CohortAttempts(ctx, 999, "")
	assertCode(t, err, faultline.ENOTFOUND)
}

var _ = store.Open
