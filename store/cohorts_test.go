package store_test

import (
	"context"
	"testing"
	"time"

	"github.com/faultline-dev/faultline"
)

func TestCreateCohortMakesCreatorInstructor(t *testing.T) {
	ctx := context.Background()
	db, _ := MustOpenDB(t)
	ins := MustCreateUser(t, db, "ins@example.com", faultline.RoleInstructor)
	c := MustCreateCohort(t, db, ins.ID, "  Spring 2025 ", "inv-1")
	if c.ID == 0 || c.Name != "Spring 2025" {
		t.Fatalf("cohort = %+v", c)
	}
	role, err := db.MemberRole(ctx, c.ID, ins.ID)
	if err != nil || role != faultline.MemberInstructor {
		t.Fatalf("creator role = %q, %v; want instructor", role, err)
	}
	got, err := db.FindCohortByInvite(ctx, "inv-1")
	if err != nil || got.ID != c.ID || got.CreatedBy != ins.ID || !got.CreatedAt.Equal(c.CreatedAt) {
		t.Fatalf("FindCohortByInvite = %+v, %v", got, err)
	}
	if got, err := db.FindCohortByID(ctx, c.ID); err != nil || got.InviteCode != "inv-1" {
		t.Fatalf("FindCohortByID = %+v, %v", got, err)
	}

	assertCode(t, db.CreateCohort(ctx, &faultline.Cohort{Name: "Dup", InviteCode: "inv-1", CreatedBy: ins.ID}), faultline.ECONFLICT)
	assertCode(t, db.CreateCohort(ctx, &faultline.Cohort{Name: "  ", InviteCode: "inv-2", CreatedBy: ins.ID}), faultline.EINVALID)
	assertCode(t, db.CreateCohort(ctx, &faultline.Cohort{Name: "Ghost", InviteCode: "inv-3", CreatedBy: 999}), faultline.ENOTFOUND)
	_, err = db.FindCohortByInvite(ctx, "inv-3")
	assertCode(t, err, faultline.ENOTFOUND)
	_, err = db.FindCohortByID(ctx, 999)
	assertCode(t, err, faultline.ENOTFOUND)
}

func TestJoinIsAtomic(t *testing.T) {
	ctx := context.Background()
	db, _ := MustOpenDB(t)
	ins := MustCreateUser(t, db, "ins@example.com", faultline.RoleInstructor)
	c := MustCreateCohort(t, db, ins.ID, "Spring", "good-code")

	// A bad code creates no account.
	_, err := db.Join(ctx, "bad-code", &faultline.User{Email: "eve@example.com", Name: "Eve", PasswordHash: "h"})
	assertCode(t, err, faultline.ENOTFOUND)
	_, err = db.FindUserByEmail(ctx, "eve@example.com")
	assertCode(t, err, faultline.ENOTFOUND)

	// A good code creates a learner (whatever role was asked for) and a membership.
	u := &faultline.User{Email: "Eve@example.com", Name: "Eve", Role: faultline.RoleAdmin, PasswordHash: "h"}
	got, err := db.Join(ctx, "good-code", u)
	if err != nil {
		t.Fatal(err)
	}
	if got.ID != c.ID || u.ID == 0 || u.Role != faultline.RoleLearner {
		t.Fatalf("Join = %+v, user %+v", got, u)
	}
	stored, err := db.FindUserByEmail(ctx, "eve@example.com")
	if err != nil || stored.Role != faultline.RoleLearner {
		t.Fatalf("joined user = %+v, %v", stored, err)
	}
	if role, err := db.MemberRole(ctx, c.ID, u.ID); err != nil || role != faultline.MemberLearner {
		t.Fatalf("joined role = %q, %v", role, err)
	}

	// A taken email fails without touching the cohort.
	_, err = db.Join(ctx, "good-code", &faultline.User{Email: "eve@example.com", PasswordHash: "h"})
	assertCode(t, err, faultline.ECONFLICT)
	members, err := db.ListMembers(ctx, c.ID)
	if err != nil || len(members) != 2 {
		t.Fatalf("members = %d, %v; want 2", len(members), err)
	}
	if n, _ := db.CountUsers(ctx); n != 2 {
		t.Fatalf("CountUsers = %d, want 2", n)
	}
}

func TestMembersAndListCohorts(t *testing.T) {
	ctx := context.Background()
	db, clk := MustOpenDB(t)
	ins := MustCreateUser(t, db, "zed@example.com", faultline.RoleInstructor)
	a := MustCreateUser(t, db, "a@example.com", faultline.RoleLearner)
	b := MustCreateUser(t, db, "b@example.com", faultline.RoleLearner)
	older := MustCreateCohort(t, db, ins.ID, "Older", "inv-old")
	clk.Advance(time.Minute)
	newer := MustCreateCohort(t, db, ins.ID, "Newer", "inv-new")

	if err := db.AddMember(ctx, older.ID, b.ID, faultline.MemberLearner); err != nil {
		t.Fatal(err)
	}
	if err := db.AddMember(ctx, older.ID, a.ID, faultline.MemberInstructor); err != nil {
		t.Fatal(err)
	}
	// Re-adding updates the role.
	if err := db.AddMember(ctx, older.ID, a.ID, faultline.MemberLearner); err != nil {
		t.Fatal(err)
	}
	if role, err := db.MemberRole(ctx, older.ID, a.ID); err != nil || role != faultline.MemberLearner {
		t.Fatalf("role after re-add = %q, %v", role, err)
	}
	assertCode(t, db.AddMember(ctx, older.ID, a.ID, "owner"), faultline.EINVALID)
	assertCode(t, db.AddMember(ctx, 999, a.ID, faultline.MemberLearner), faultline.ENOTFOUND)
	assertCode(t, db.AddMember(ctx, older.ID, 999, faultline.MemberLearner), faultline.ENOTFOUND)
	_, err := db.MemberRole(ctx, newer.ID, a.ID)
	assertCode(t, err, faultline.ENOTFOUND)

	members, err := db.ListMembers(ctx, older.ID)
	if err != nil {
		t.Fatal(err)
	}
	var order []string
	for _, m := range members {
		order = append(order, string(m.Role)+":"+m.User.Email)
	}
	want := []string{"instructor:zed@example.com", "learner:a@example.com", "learner:b@example.com"}
	if len(order) != len(want) {
		t.Fatalf("members = %v, want %v", order, want)
	}
	for i := range want {
		if order[i] != want[i] {
			t.Fatalf("members = %v, want %v", order, want)
		}
	}

	all, err := db.ListCohorts(ctx, 0)
	if err != nil || len(all) != 2 || all[0].ID != newer.ID || all[1].ID != older.ID {
		t.Fatalf("ListCohorts(0) = %+v, %v; want newest first", all, err)
	}
	mine, err := db.ListCohorts(ctx, b.ID)
	if err != nil || len(mine) != 1 || mine[0].ID != older.ID {
		t.Fatalf("ListCohorts(b) = %+v, %v", mine, err)
	}
	none, err := db.ListCohorts(ctx, 999)
	if err != nil || none == nil || len(none) != 0 {
		t.Fatalf("ListCohorts(unknown) = %#v, %v; want empty slice", none, err)
	}
}
