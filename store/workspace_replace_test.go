package store_test

import (
	"context"
	"strings"
	"testing"

	"github.com/faultline-dev/faultline"
)

// TestReplaceFiles checks a reset's store step: other live files get
// tombstones, changed files a new version, unchanged ones keep theirs, and a
// refused replacement changes nothing at all.
func TestReplaceFiles(t *testing.T) {
	db, _ := MustOpenDB(t)
	u := MustCreateUser(t, db, "lin@example.com", faultline.RoleLearner)
	ctx := context.Background()
	save := func(path, content string) *faultline.FileVersion {
		t.Helper()
		v, err := db.SaveFile(ctx, u.ID, "saga", path, []byte(content))
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	keep := save("keep.go", "package saga // unchanged\n")
	save("change.go", "package saga // mine\n")
	save("drop.go", "package saga // goes away\n")
	save("gone.go", "package saga\n")
	if err := db.DeleteFile(ctx, u.ID, "saga", "gone.go"); err != nil {
		t.Fatal(err)
	}
	state := func() map[string]string {
		t.Helper()
		fs, err := db.Files(ctx, u.ID, "saga")
		if err != nil {
			t.Fatal(err)
		}
		m := map[string]string{}
		for _, f := range fs {
			m[f.Path] = string(f.Content)
		}
		return m
	}
	before := state()

	// Refusals leave everything as it was.
	for name, files := range map[string][]faultline.File{
		"too large":  {{Path: "change.go", Content: []byte("x")}, {Path: "big.go", Content: make([]byte, faultline.MaxFileSize+1)}},
		"bad path":   {{Path: "change.go", Content: []byte("x")}, {Path: "../escape.go", Content: []byte("x")}},
		"twice":      {{Path: "change.go", Content: []byte("x")}, {Path: "./change.go", Content: []byte("y")}},
		"no lab set": nil,
	} {
		lab := "saga"
		if name == "no lab set" {
			lab = ""
		}
		if err := db.ReplaceFiles(ctx, u.ID, lab, files); err == nil {
			t.Errorf("%s: ReplaceFiles accepted it", name)
		} else if c := faultline.ErrorCode(err); c != faultline.EINVALID && c != faultline.ETOOLARGE {
			t.Errorf("%s: error %v, want EINVALID or ETOOLARGE", name, err)
		}
		if got := state(); len(got) != len(before) || got["change.go"] != before["change.go"] {
			t.Fatalf("%s: a refused replacement changed the files: %v", name, got)
		}
	}

	err := db.ReplaceFiles(ctx, u.ID, "saga", []faultline.File{
		{Path: "keep.go", Content: []byte("package saga // unchanged\n")},
		{Path: "change.go", Content: []byte("package saga // starter\n")},
		{Path: "gone.go", Content: []byte("package saga // back\n")},
		{Path: "new.go", Content: []byte("package saga // new\n")},
	})
	if err != nil {
		t.Fatal(err)
	}
	got := state()
	want := map[string]string{
		"keep.go": "package saga // unchanged\n", "change.go": "package saga // starter\n",
		"gone.go": "package saga // back\n", "new.go": "package saga // new\n",
	}
	if len(got) != len(want) {
		t.Fatalf("files after replace: %v, want %v", got, want)
	}
	for p, c := range want {
		if got[p] != c {
			t.Errorf("%s holds %q, want %q", p, got[p], c)
		}
	}
	// The unchanged file kept its version; the dropped one has a tombstone
	// over its kept content.
	hk, err := db.FileHistory(ctx, u.ID, "saga", "keep.go")
	if err != nil || len(hk) != 1 || hk[0].ID != keep.ID {
		t.Errorf("keep.go history %d versions, %v; want its one version kept", len(hk), err)
	}
	hd, err := db.FileHistory(ctx, u.ID, "saga", "drop.go")
	if err != nil || len(hd) != 2 || !hd[0].Deleted || !strings.Contains(string(hd[1].Content), "goes away") {
		t.Errorf("drop.go history: %d versions, %v; want a tombstone over the saved text", len(hd), err)
	}
}
