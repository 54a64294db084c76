package store_test

import (
	"context"
	"testing"
	"time"

	"github.com/faultline-dev/faultline"
)

func TestCommentsOnASubmission(t *testing.T) {
	ctx := context.Background()
	db, _ := MustOpenDB(t)
	inst := MustCreateUser(t, db, "inst@example.com", faultline.RoleInstructor)
	lin := MustCreateUser(t, db, "lin@example.com", faultline.RoleLearner)
	sub := MustCreateSubmission(t, db, lin.ID, "circuit-breaker")
	other := MustCreateSubmission(t, db, lin.ID, "circuit-breaker")

	line := &faultline.SubmissionComment{SubmissionID: sub.ID, AuthorID: inst.ID, Path: "breaker.go", Line: 12, Body: "Reset here", HTML: "<p>Reset here</p>"}
	if err := db.AddComment(ctx, line); err != nil || line.ID == 0 {
		t.Fatalf("add line comment: %+v, %v", line, err)
	}
	overall := &faultline.SubmissionComment{SubmissionID: sub.ID, AuthorID: inst.ID, Body: "Good work", HTML: "<p>Good work</p>"}
	if err := db.AddComment(ctx, overall); err != nil {
		t.Fatal(err)
	}
	reply := &faultline.SubmissionComment{SubmissionID: sub.ID, ParentID: line.ID, AuthorID: lin.ID, Body: "Thanks", HTML: "<p>Thanks</p>"}
	if err := db.AddComment(ctx, reply); err != nil {
		t.Fatal(err)
	}
	// A reply must stay on its comment's submission.
	bad := &faultline.SubmissionComment{SubmissionID: other.ID, ParentID: line.ID, AuthorID: lin.ID, Body: "x", HTML: "x"}
	assertCode(t, db.AddComment(ctx, bad), faultline.ENOTFOUND)
	assertCode(t, db.AddComment(ctx, &faultline.SubmissionComment{SubmissionID: 9999, Body: "x", HTML: "x"}), faultline.ENOTFOUND)

	cs, err := db.ListComments(ctx, sub.ID)
	if err != nil || len(cs) != 3 || cs[0].Line != 12 || cs[0].Path != "breaker.go" || cs[2].ParentID != line.ID || cs[2].AuthorID != lin.ID {
		t.Fatalf("comments = %+v, %v", cs, err)
	}
	if err := db.DeleteComment(ctx, overall.ID); err != nil {
		t.Fatal(err)
	}
	got, err := db.FindComment(ctx, overall.ID)
	if err != nil || !got.Deleted || got.Body != "Good work" {
		t.Fatalf("deleted comment = %+v, %v; want kept text, marked deleted", got, err)
	}
	assertCode(t, db.DeleteComment(ctx, 9999), faultline.ENOTFOUND)
}

func TestAdjustmentsAreKeptBesideResults(t *testing.T) {
	ctx := context.Background()
	db, clk := MustOpenDB(t)
	inst := MustCreateUser(t, db, "inst@example.com", faultline.RoleInstructor)
	lin := MustCreateUser(t, db, "lin@example.com", faultline.RoleLearner)
	bo := MustCreateUser(t, db, "bo@example.com", faultline.RoleLearner)
	sub := MustCreateSubmission(t, db, lin.ID, "circuit-breaker")
	MustClaim(t, db, "w", time.Minute)
	MustComplete(t, db, sub.ID, "w", 6, 10)

	add := func(u *faultline.User, lab string, pts int, reason string) error {
		return db.AddAdjustment(ctx, &faultline.Adjustment{UserID: u.ID, Lab: lab, Points: pts, Reason: reason, CreatedBy: inst.ID})
	}
	if err := add(lin, "circuit-breaker", 2, "  flaky test  "); err != nil {
		t.Fatal(err)
	}
	clk.Advance(time.Minute)
	if err := add(lin, "circuit-breaker", -1, "late README"); err != nil {
		t.Fatal(err)
	}
	if err := add(lin, "rate-limiter", 3, "bonus"); err != nil {
		t.Fatal(err)
	}
	if err := add(bo, "circuit-breaker", 1, "typo"); err != nil {
		t.Fatal(err)
	}
	assertCode(t, add(lin, "circuit-breaker", 0, "nothing"), faultline.EINVALID)
	assertCode(t, add(lin, "circuit-breaker", 1, "  "), faultline.EINVALID)
	assertCode(t, db.AddAdjustment(ctx, &faultline.Adjustment{UserID: 9999, Lab: "x", Points: 1, Reason: "r"}), faultline.ENOTFOUND)

	adj, err := db.Adjustments(ctx, []int64{lin.ID}, "circuit-breaker")
	if err != nil || len(adj) != 2 || adj[0].Points != 2 || adj[0].Reason != "flaky test" || adj[1].Points != -1 || adj[0].CreatedBy != inst.ID {
		t.Fatalf("Lin's circuit-breaker adjustments = %+v, %v", adj, err)
	}
	all, err := db.Adjustments(ctx, []int64{lin.ID, bo.ID}, "")
	if err != nil || len(all) != 4 {
		t.Fatalf("every adjustment of both = %+v, %v", all, err)
	}
	// The graded result is untouched.
	got, err := db.FindSubmission(ctx, sub.ID)
	if err != nil || got.Result.Score != 6 {
		t.Fatalf("result after adjustments = %+v, %v; want 6", got.Result, err)
	}
}

func TestExtensions(t *testing.T) {
	ctx := context.Background()
	db, clk := MustOpenDB(t)
	inst := MustCreateUser(t, db, "inst@example.com", faultline.RoleInstructor)
	lin := MustCreateUser(t, db, "lin@example.com", faultline.RoleLearner)
	due := clk.Now().Add(72 * time.Hour)
	five := 5
	e := &faultline.Extension{UserID: lin.ID, Lab: "circuit-breaker", DueAt: due, GrantedBy: inst.ID, Reason: "ill",
		Late: &faultline.LatePolicy{Mode: faultline.LatePenalty, PercentPerDay: 10, CapPercent: 30}, MaxSubmissions: &five}
	if err := db.SetExtension(ctx, e); err != nil {
		t.Fatal(err)
	}
	got, err := db.Extensions(ctx, []int64{lin.ID, inst.ID}, "circuit-breaker")
	if err != nil || len(got) != 1 {
		t.Fatalf("extensions = %+v, %v", got, err)
	}
	x := got[lin.ID]
	if !x.DueAt.Equal(due) || x.Late == nil || x.Late.PercentPerDay != 10 || x.MaxSubmissions == nil || *x.MaxSubmissions != 5 || x.Reason != "ill" {
		t.Fatalf("extension = %+v (late %+v)", x, x.Late)
	}
	// Replacing it: only the due date this time, so the cohort's late
	// policy and limit stand again.
	if err := db.SetExtension(ctx, &faultline.Extension{UserID: lin.ID, Lab: "circuit-breaker", DueAt: due.Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	got, _ = db.Extensions(ctx, []int64{lin.ID}, "circuit-breaker")
	if x := got[lin.ID]; x.Late != nil || x.MaxSubmissions != nil || !x.DueAt.Equal(due.Add(time.Hour)) {
		t.Fatalf("replaced extension = %+v", x)
	}
	if other, _ := db.Extensions(ctx, []int64{lin.ID}, "rate-limiter"); len(other) != 0 {
		t.Fatalf("another lab has the extension: %+v", other)
	}
	assertCode(t, db.SetExtension(ctx, &faultline.Extension{UserID: lin.ID, Lab: "circuit-breaker"}), faultline.EINVALID)
	bad := -1
	assertCode(t, db.SetExtension(ctx, &faultline.Extension{UserID: lin.ID, Lab: "circuit-breaker", DueAt: due, MaxSubmissions: &bad}), faultline.EINVALID)
	assertCode(t, db.SetExtension(ctx, &faultline.Extension{UserID: 9999, Lab: "circuit-breaker", DueAt: due}), faultline.ENOTFOUND)
	if err := db.RemoveExtension(ctx, lin.ID, "circuit-breaker"); err != nil {
		t.Fatal(err)
	}
	assertCode(t, db.RemoveExtension(ctx, lin.ID, "circuit-breaker"), faultline.ENOTFOUND)
}

func TestRegradeRequests(t *testing.T) {
	ctx := context.Background()
	db, _ := MustOpenDB(t)
	inst := MustCreateUser(t, db, "inst@example.com", faultline.RoleInstructor)
	lin := MustCreateUser(t, db, "lin@example.com", faultline.RoleLearner)
	stranger := MustCreateUser(t, db, "x@example.com", faultline.RoleLearner)
	c := MustCreateCohort(t, db, inst.ID, "Spring", "inv")
	if err := db.AddMember(ctx, c.ID, lin.ID, faultline.MemberLearner); err != nil {
		t.Fatal(err)
	}
	sub := MustCreateSubmission(t, db, lin.ID, "circuit-breaker")
	strangerSub := MustCreateSubmission(t, db, stranger.ID, "circuit-breaker")

	r := &faultline.RegradeRequest{SubmissionID: sub.ID, UserID: lin.ID, Lab: "circuit-breaker", Test: "TestHalfOpen", Reason: "It passes locally"}
	if err := db.CreateRegradeRequest(ctx, r); err != nil || r.State != faultline.RequestOpen {
		t.Fatalf("create = %+v, %v", r, err)
	}
	dup := &faultline.RegradeRequest{SubmissionID: sub.ID, UserID: lin.ID, Lab: "circuit-breaker", Test: "TestHalfOpen", Reason: "again"}
	assertCode(t, db.CreateRegradeRequest(ctx, dup), faultline.ECONFLICT)
	assertCode(t, db.CreateRegradeRequest(ctx, &faultline.RegradeRequest{SubmissionID: sub.ID, UserID: lin.ID, Test: "TestX"}), faultline.EINVALID)
	if err := db.CreateRegradeRequest(ctx, &faultline.RegradeRequest{SubmissionID: strangerSub.ID, UserID: stranger.ID, Lab: "circuit-breaker", Test: "TestX", Reason: "r"}); err != nil {
		t.Fatal(err)
	}

	open, err := db.ListRegradeRequests(ctx, 0, c.ID, true)
	if err != nil || len(open) != 1 || open[0].ID != r.ID {
		t.Fatalf("the cohort's open requests = %+v, %v; want Lin's only", open, err)
	}
	adj := &faultline.Adjustment{UserID: lin.ID, Lab: "circuit-breaker", Points: 2, Reason: "regrade request", CreatedBy: inst.ID}
	if err := db.AddAdjustment(ctx, adj); err != nil {
		t.Fatal(err)
	}
	r.State, r.Outcome, r.Answer, r.AnsweredBy, r.AdjustmentID = faultline.RequestAccepted, faultline.OutcomeAdjusted, "You are right", inst.ID, adj.ID
	if err := db.AnswerRegradeRequest(ctx, r); err != nil {
		t.Fatal(err)
	}
	assertCode(t, db.AnswerRegradeRequest(ctx, r), faultline.ECONFLICT)
	got, err := db.FindRegradeRequest(ctx, r.ID)
	if err != nil || got.State != faultline.RequestAccepted || got.Outcome != faultline.OutcomeAdjusted || got.AdjustmentID != adj.ID ||
		got.Answer != "You are right" || got.AnsweredAt.IsZero() {
		t.Fatalf("answered request = %+v, %v", got, err)
	}
	if open, _ := db.ListRegradeRequests(ctx, 0, c.ID, true); len(open) != 0 {
		t.Fatalf("answered request still open: %+v", open)
	}
	if all, _ := db.ListRegradeRequests(ctx, sub.ID, 0, false); len(all) != 1 {
		t.Fatalf("requests on the submission = %+v", all)
	}
	// Once answered, the learner may ask about the test again.
	if err := db.CreateRegradeRequest(ctx, dup); err != nil {
		t.Fatalf("a new request after the answer: %v", err)
	}
	assertCode(t, db.AnswerRegradeRequest(ctx, &faultline.RegradeRequest{ID: dup.ID, State: faultline.RequestOpen}), faultline.EINVALID)
	_, err = db.FindRegradeRequest(ctx, 9999)
	assertCode(t, err, faultline.ENOTFOUND)
}

func TestInboxAndSettings(t *testing.T) {
	ctx := context.Background()
	db, clk := MustOpenDB(t)
	lin := MustCreateUser(t, db, "lin@example.com", faultline.RoleLearner)
	bo := MustCreateUser(t, db, "bo@example.com", faultline.RoleLearner)
	ns := []*faultline.Notification{
		{UserID: lin.ID, Kind: faultline.NotifyReply, Actor: "Anonymous", Title: "New reply", URL: "/discuss/1/threads/1"},
		{UserID: bo.ID, Kind: faultline.NotifyMention, Title: "Mentioned"},
	}
	if err := db.AddNotifications(ctx, ns); err != nil {
		t.Fatal(err)
	}
	clk.Advance(time.Minute)
	if err := db.AddNotifications(ctx, []*faultline.Notification{{UserID: lin.ID, Kind: faultline.NotifyFeedback, Title: "Comment"}}); err != nil {
		t.Fatal(err)
	}
	assertCode(t, db.AddNotifications(ctx, []*faultline.Notification{{UserID: lin.ID, Kind: "spam", Title: "x"}}), faultline.EINVALID)
	got, err := db.Notifications(ctx, lin.ID, 0, false)
	if err != nil || len(got) != 2 || got[0].Title != "Comment" || got[1].Actor != "Anonymous" {
		t.Fatalf("Lin's inbox = %+v, %v", got, err)
	}
	if n, _ := db.UnreadNotifications(ctx, lin.ID); n != 2 {
		t.Fatalf("unread = %d, want 2", n)
	}
	// Bo cannot read Lin's notification.
	_, err = db.ReadNotification(ctx, bo.ID, got[0].ID)
	assertCode(t, err, faultline.ENOTFOUND)
	r, err := db.ReadNotification(ctx, lin.ID, got[0].ID)
	if err != nil || r.ReadAt.IsZero() {
		t.Fatalf("read = %+v, %v", r, err)
	}
	if unread, _ := db.Notifications(ctx, lin.ID, 0, true); len(unread) != 1 || unread[0].ID != got[1].ID {
		t.Fatalf("unread after reading one = %+v", unread)
	}
	if err := db.ReadAllNotifications(ctx, lin.ID); err != nil {
		t.Fatal(err)
	}
	if n, _ := db.UnreadNotifications(ctx, lin.ID); n != 0 {
		t.Fatalf("unread after reading all = %d", n)
	}
	if n, _ := db.UnreadNotifications(ctx, bo.ID); n != 1 {
		t.Fatalf("Bo's unread after Lin read all = %d, want 1", n)
	}

	s, err := db.NotificationSettings(ctx, lin.ID)
	if err != nil || !s[faultline.NotifyAnswer].Email || s[faultline.NotifyReply].Email || !s[faultline.NotifyReply].Inbox {
		t.Fatalf("default settings = %+v, %v", s, err)
	}
	if err := db.SetNotificationSettings(ctx, lin.ID, map[faultline.NotificationKind]faultline.NotificationSetting{
		faultline.NotifyReply: {Inbox: false, Email: true},
	}); err != nil {
		t.Fatal(err)
	}
	s, _ = db.NotificationSettings(ctx, lin.ID)
	if s[faultline.NotifyReply] != (faultline.NotificationSetting{Email: true}) || !s[faultline.NotifyAnswer].Email {
		t.Fatalf("settings after a change = %+v", s)
	}
	if s, _ := db.NotificationSettings(ctx, bo.ID); !s[faultline.NotifyReply].Inbox {
		t.Fatalf("Lin's change reached Bo: %+v", s)
	}
	assertCode(t, db.SetNotificationSettings(ctx, lin.ID, map[faultline.NotificationKind]faultline.NotificationSetting{"spam": {}}), faultline.EINVALID)
}

// TestScoreChangesFollowAdjustmentsAndExtensions: every adjustment and every
// extension granted, replaced or removed leaves one score change, in order;
// a refused write leaves none.
func TestScoreChangesFollowAdjustmentsAndExtensions(t *testing.T) {
	ctx := context.Background()
	db, clk := MustOpenDB(t)
	lin := MustCreateUser(t, db, "lin@example.com", faultline.RoleLearner)
	if id, err := db.LatestScoreChangeID(ctx); err != nil || id != 0 {
		t.Fatalf("latest score change of a new database = %d, %v", id, err)
	}
	due := clk.Now().Add(time.Hour)
	writes := []func() error{
		func() error {
			return db.AddAdjustment(ctx, &faultline.Adjustment{UserID: lin.ID, Lab: "saga", Points: 2, Reason: "r"})
		},
		func() error {
			return db.SetExtension(ctx, &faultline.Extension{UserID: lin.ID, Lab: "saga", DueAt: due})
		},
		func() error {
			return db.SetExtension(ctx, &faultline.Extension{UserID: lin.ID, Lab: "saga", DueAt: due.Add(time.Hour)})
		},
		func() error { return db.RemoveExtension(ctx, lin.ID, "saga") },
	}
	for _, w := range writes {
		clk.Advance(time.Second)
		if err := w(); err != nil {
			t.Fatal(err)
		}
	}
	// Refused: no score change.
	assertCode(t, db.RemoveExtension(ctx, lin.ID, "saga"), faultline.ENOTFOUND)
	assertCode(t, db.AddAdjustment(ctx, &faultline.Adjustment{UserID: lin.ID, Lab: "saga", Points: 0, Reason: "r"}), faultline.EINVALID)
	assertCode(t, db.AddAdjustment(ctx, &faultline.Adjustment{UserID: 9999, Lab: "saga", Points: 1, Reason: "r"}), faultline.ENOTFOUND)

	got, err := db.ScoreChanges(ctx, 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	wantReasons := []string{"adjustment", "extension", "extension", "extension"}
	if len(got) != len(wantReasons) {
		t.Fatalf("score changes = %+v, want %d", got, len(wantReasons))
	}
	for i, c := range got {
		if c.Reason != wantReasons[i] || c.UserID != lin.ID || c.Lab != "saga" || (i > 0 && c.ID <= got[i-1].ID) || c.At.IsZero() {
			t.Errorf("change %d = %+v, want %s of lin on saga in id order", i, c, wantReasons[i])
		}
	}
	if rest, _ := db.ScoreChanges(ctx, got[1].ID, 1); len(rest) != 1 || rest[0].ID != got[2].ID {
		t.Errorf("after %d, limit 1: %+v, want change %d", got[1].ID, rest, got[2].ID)
	}
	if id, _ := db.LatestScoreChangeID(ctx); id != got[3].ID {
		t.Errorf("latest score change = %d, want %d", id, got[3].ID)
	}
}
