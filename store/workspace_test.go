package store_test

import (
	"bytes"
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/faultline-dev/faultline"
)

const lab = "circuit-breaker"

func TestWorkspaceVersionsKept(t *testing.T) {
	ctx := context.Background()
	db, clk := MustOpenDB(t)
	u := MustCreateUser(t, db, "w@example.com", faultline.RoleLearner)

	if files, err := db.Files(ctx, u.ID, lab); err != nil || files == nil || len(files) != 0 {
		t.Fatalf("Files before saving = %#v, %v; want empty slice", files, err)
	}
	a, err := db.SaveFile(ctx, u.ID, lab, "breaker.go", []byte("A"))
	if err != nil {
		t.Fatal(err)
	}
	clk.Advance(time.Second)
	b, err := db.SaveFile(ctx, u.ID, lab, "breaker.go", []byte("B"))
	if err != nil {
		t.Fatal(err)
	}
	if a.ID == 0 || b.ID == a.ID || !b.CreatedAt.After(a.CreatedAt) {
		t.Fatalf("versions a=%+v b=%+v", a, b)
	}

	hist, err := db.FileHistory(ctx, u.ID, lab, "breaker.go")
	if err != nil {
		t.Fatal(err)
	}
	if len(hist) != 2 || string(hist[0].Content) != "B" || string(hist[1].Content) != "A" {
		t.Fatalf("history = %+v; want B then A", hist)
	}
	files, err := db.Files(ctx, u.ID, lab)
	if err != nil || len(files) != 1 || string(files[0].Content) != "B" || files[0].ID != b.ID {
		t.Fatalf("Files = %+v, %v; want B", files, err)
	}

	// Identical content: no new version, the current one comes back.
	clk.Advance(time.Second)
	same, err := db.SaveFile(ctx, u.ID, lab, "breaker.go", []byte("B"))
	if err != nil {
		t.Fatal(err)
	}
	if same.ID != b.ID || !same.CreatedAt.Equal(b.CreatedAt) {
		t.Fatalf("identical save = %+v; want version %d", same, b.ID)
	}
	if hist, _ := db.FileHistory(ctx, u.ID, lab, "breaker.go"); len(hist) != 2 {
		t.Fatalf("history after identical save has %d versions, want 2", len(hist))
	}

	// Another learner and another lab are separate workspaces.
	other := MustCreateUser(t, db, "other@example.com", faultline.RoleLearner)
	if files, _ := db.Files(ctx, other.ID, lab); len(files) != 0 {
		t.Fatalf("other learner sees %d files", len(files))
	}
	if files, _ := db.Files(ctx, u.ID, "consistent-hashing"); len(files) != 0 {
		t.Fatalf("other lab has %d files", len(files))
	}
}

func TestWorkspaceDeleteTombstone(t *testing.T) {
	ctx := context.Background()
	db, _ := MustOpenDB(t)
	u := MustCreateUser(t, db, "w@example.com", faultline.RoleLearner)
	for _, p := range []string{"b.go", "a.go", "sub/c.go"} {
		if _, err := db.SaveFile(ctx, u.ID, lab, p, []byte("package x // "+p)); err != nil {
			t.Fatal(err)
		}
	}
	if err := db.DeleteFile(ctx, u.ID, lab, "b.go"); err != nil {
		t.Fatal(err)
	}
	files, err := db.Files(ctx, u.ID, lab)
	if err != nil {
		t.Fatal(err)
	}
	if len(files) != 2 || files[0].Path != "a.go" || files[1].Path != "sub/c.go" {
		t.Fatalf("Files after delete = %+v; want a.go, sub/c.go", files)
	}
	hist, err := db.FileHistory(ctx, u.ID, lab, "b.go")
	if err != nil || len(hist) != 2 || !hist[0].Deleted || hist[1].Deleted {
		t.Fatalf("history of deleted file = %+v, %v; want tombstone then version", hist, err)
	}
	assertCode(t, db.DeleteFile(ctx, u.ID, lab, "b.go"), faultline.ENOTFOUND)
	assertCode(t, db.DeleteFile(ctx, u.ID, lab, "never.go"), faultline.ENOTFOUND)
	_, err = db.FileHistory(ctx, u.ID, lab, "never.go")
	assertCode(t, err, faultline.ENOTFOUND)

	// Saving the old content again after a delete is a new live version.
	v, err := db.SaveFile(ctx, u.ID, lab, "b.go", []byte("package x // b.go"))
	if err != nil || v.Deleted || v.ID == hist[0].ID {
		t.Fatalf("resave after delete = %+v, %v", v, err)
	}
	if files, _ := db.Files(ctx, u.ID, lab); len(files) != 3 {
		t.Fatalf("Files after resave = %d, want 3", len(files))
	}
}

func TestWorkspaceRejectsBadInput(t *testing.T) {
	ctx := context.Background()
	db, _ := MustOpenDB(t)
	u := MustCreateUser(t, db, "w@example.com", faultline.RoleLearner)
	for _, p := range []string{"", "/etc/passwd", "../x.go", "a/../../x.go", "./x.go", ".hidden", "a//b.go", "a b.go", `a\b.go`} {
		_, err := db.SaveFile(ctx, u.ID, lab, p, []byte("x"))
		if faultline.ErrorCode(err) != faultline.EINVALID {
			t.Errorf("SaveFile(%q) error = %v, want EINVALID", p, err)
		}
	}
	_, err := db.SaveFile(ctx, u.ID, "", "a.go", []byte("x"))
	assertCode(t, err, faultline.EINVALID)
	_, err = db.SaveFile(ctx, 999, lab, "a.go", []byte("x"))
	assertCode(t, err, faultline.ENOTFOUND)

	if _, err := db.SaveFile(ctx, u.ID, lab, "max.go", make([]byte, faultline.MaxFileSize)); err != nil {
		t.Fatalf("file of exactly MaxFileSize: %v", err)
	}
	_, err = db.SaveFile(ctx, u.ID, lab, "big.go", make([]byte, faultline.MaxFileSize+1))
	assertCode(t, err, faultline.ETOOLARGE)
	if files, _ := db.Files(ctx, u.ID, lab); len(files) != 1 {
		t.Fatalf("Files = %d after rejected saves, want 1", len(files))
	}
}

func TestWorkspaceFileCountAndSizeCaps(t *testing.T) {
	ctx := context.Background()
	db, _ := MustOpenDB(t)
	u := MustCreateUser(t, db, "w@example.com", faultline.RoleLearner)
	for i := 0; i < faultline.MaxWorkspaceFiles; i++ {
		if _, err := db.SaveFile(ctx, u.ID, lab, fmt.Sprintf("f%02d.go", i), []byte("x")); err != nil {
			t.Fatalf("file %d: %v", i, err)
		}
	}
	_, err := db.SaveFile(ctx, u.ID, lab, "one-too-many.go", []byte("x"))
	assertCode(t, err, faultline.ETOOLARGE)
	// Updating an existing file at the cap is fine; deleting one frees a slot.
	if _, err := db.SaveFile(ctx, u.ID, lab, "f00.go", []byte("y")); err != nil {
		t.Fatalf("update at cap: %v", err)
	}
	if err := db.DeleteFile(ctx, u.ID, lab, "f01.go"); err != nil {
		t.Fatal(err)
	}
	if _, err := db.SaveFile(ctx, u.ID, lab, "one-too-many.go", []byte("x")); err != nil {
		t.Fatalf("save after delete freed a slot: %v", err)
	}

	// Total size: MaxWorkspaceSize/MaxFileSize full files fit, one more byte does not.
	big := bytes.Repeat([]byte("z"), faultline.MaxFileSize)
	n := faultline.MaxWorkspaceSize / faultline.MaxFileSize
	const sizeLab = "consistent-hashing"
	for i := 0; i < n; i++ {
		if _, err := db.SaveFile(ctx, u.ID, sizeLab, fmt.Sprintf("big%d.go", i), big); err != nil {
			t.Fatalf("big file %d: %v", i, err)
		}
	}
	_, err = db.SaveFile(ctx, u.ID, sizeLab, "extra.go", []byte("x"))
	assertCode(t, err, faultline.ETOOLARGE)
}
