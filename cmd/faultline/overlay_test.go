package main

import (
	"io/fs"
	"reflect"
	"testing"
	"testing/fstest"
)

func TestOverlayAddsAndReplacesByUnit(t *testing.T) {
	base := fstest.MapFS{
		"lessons/modules.yaml": {Data: []byte("base modules")},
		"lessons/a.md":         {Data: []byte("base a")},
		"lessons/b.md":         {Data: []byte("base b")},
		"cases/x.md":           {Data: []byte("base x")},
	}
	top := fstest.MapFS{
		"lessons/b.md": {Data: []byte("mine b")},
		"lessons/c.md": {Data: []byte("mine c")},
	}
	o := newOverlay(top, base, 2)
	for name, want := range map[string]string{
		"lessons/a.md": "base a", "lessons/b.md": "mine b", "lessons/c.md": "mine c",
		"cases/x.md": "base x", "lessons/modules.yaml": "base modules",
	} {
		got, err := fs.ReadFile(o, name)
		if err != nil || string(got) != want {
			t.Errorf("ReadFile(%s) = %q, %v; want %q", name, got, err, want)
		}
	}
	var walked []string
	if err := fs.WalkDir(o, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.IsDir() {
			walked = append(walked, p)
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	want := []string{"cases/x.md", "lessons/a.md", "lessons/b.md", "lessons/c.md", "lessons/modules.yaml"}
	if !reflect.DeepEqual(walked, want) {
		t.Errorf("walk = %q, want %q", walked, want)
	}
	if err := fstest.TestFS(o, want...); err != nil {
		t.Errorf("overlay is not a well-behaved fs.FS: %v", err)
	}
}

func TestOverlayReplacesLabFoldersWhole(t *testing.T) {
	base := fstest.MapFS{
		"breaker/lab.yaml":        {Data: []byte("base")},
		"breaker/mutants/m1/a.go": {Data: []byte("base m1")},
		"ring/lab.yaml":           {Data: []byte("ring")},
	}
	top := fstest.MapFS{
		"breaker/lab.yaml": {Data: []byte("mine")},
		"queue/lab.yaml":   {Data: []byte("queue")},
	}
	o := newOverlay(top, base, 1)
	if got, _ := fs.ReadFile(o, "breaker/lab.yaml"); string(got) != "mine" {
		t.Errorf("breaker/lab.yaml = %q, want the instructor's", got)
	}
	if _, err := fs.Stat(o, "breaker/mutants/m1/a.go"); err == nil {
		t.Error("a file of the built-in breaker lab shows through the instructor's breaker folder")
	}
	entries, err := fs.ReadDir(o, ".")
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	if !reflect.DeepEqual(names, []string{"breaker", "queue", "ring"}) {
		t.Errorf("labs = %q, want breaker, queue, ring", names)
	}
}
