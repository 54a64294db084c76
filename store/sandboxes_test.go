package store_test

import (
	"context"
	"testing"
	"time"

	"github.com/faultline-dev/faultline"
)

func TestSandboxes(t *testing.T) {
	ctx := context.Background()
	db, clk := MustOpenDB(t)
	u := MustCreateUser(t, db, "s@example.com", faultline.RoleLearner)

	_, err := db.FindSandbox(ctx, u.ID, lab)
	assertCode(t, err, faultline.ENOTFOUND)

	sb := &faultline.Sandbox{UserID: u.ID, Lab: lab, State: faultline.SandboxStarting}
	if err := db.UpsertSandbox(ctx, sb); err != nil {
		t.Fatal(err)
	}
	created := clk.Now()
	if sb.ID == 0 || !sb.CreatedAt.Equal(created) || !sb.LastActiveAt.Equal(created) {
		t.Fatalf("inserted sandbox = %+v", sb)
	}

	clk.Advance(time.Minute)
	up := &faultline.Sandbox{UserID: u.ID, Lab: lab, ContainerID: "c0ffee", State: faultline.SandboxRunning}
	if err := db.UpsertSandbox(ctx, up); err != nil {
		t.Fatal(err)
	}
	if up.ID != sb.ID || !up.CreatedAt.Equal(created) || !up.UpdatedAt.Equal(clk.Now()) || !up.LastActiveAt.Equal(created) {
		t.Fatalf("updated sandbox = %+v", up)
	}
	got, err := db.FindSandbox(ctx, u.ID, lab)
	if err != nil || got.ID != sb.ID || got.ContainerID != "c0ffee" || got.State != faultline.SandboxRunning {
		t.Fatalf("FindSandbox = %+v, %v", got, err)
	}

	clk.Advance(time.Minute)
	if err := db.TouchSandbox(ctx, sb.ID); err != nil {
		t.Fatal(err)
	}
	if got, _ := db.FindSandbox(ctx, u.ID, lab); !got.LastActiveAt.Equal(clk.Now()) {
		t.Fatalf("LastActiveAt after touch = %v, want %v", got.LastActiveAt, clk.Now())
	}
	assertCode(t, db.TouchSandbox(ctx, 999), faultline.ENOTFOUND)

	other := &faultline.Sandbox{UserID: u.ID, Lab: "consistent-hashing", State: faultline.SandboxFailed, Error: "Docker is down."}
	if err := db.UpsertSandbox(ctx, other); err != nil {
		t.Fatal(err)
	}
	all, err := db.ListSandboxes(ctx)
	if err != nil || len(all) != 2 {
		t.Fatalf("ListSandboxes() = %d, %v; want 2", len(all), err)
	}
	running, err := db.ListSandboxes(ctx, faultline.SandboxRunning, faultline.SandboxStarting)
	if err != nil || len(running) != 1 || running[0].ID != sb.ID {
		t.Fatalf("ListSandboxes(running, starting) = %+v, %v", running, err)
	}
	failed, err := db.ListSandboxes(ctx, faultline.SandboxFailed)
	if err != nil || len(failed) != 1 || failed[0].Error != "Docker is down." {
		t.Fatalf("ListSandboxes(failed) = %+v, %v", failed, err)
	}

	assertCode(t, db.UpsertSandbox(ctx, &faultline.Sandbox{UserID: u.ID, Lab: lab, State: "exploded"}), faultline.EINVALID)
	assertCode(t, db.UpsertSandbox(ctx, &faultline.Sandbox{UserID: 999, Lab: lab, State: faultline.SandboxRunning}), faultline.ENOTFOUND)
	_, err = db.ListSandboxes(ctx, "exploded")
	assertCode(t, err, faultline.EINVALID)
}
