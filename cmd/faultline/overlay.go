package main

import (
	"errors"
	"io"
	"io/fs"
	"path"
	"slices"
	"strings"
	"time"
)

// overlayFS layers an instructor's folder over a built-in catalog: what the
// folder has adds to or replaces what is built in, unit by unit. A unit is
// the path prefix of depth units: 2 for the course (lessons/<slug>.md replaces
// the built-in lesson with that file name, a new name adds one), 1 for labs
// (a folder <slug>/ replaces the built-in lab of that slug whole, so files of
// two versions of a lab never mix). Folders above the units list both sides.
type overlayFS struct {
	top, base fs.FS
	depth     int
}

func newOverlay(top, base fs.FS, depth int) fs.FS {
	return &overlayFS{top: top, base: base, depth: depth}
}

// owner returns the side that holds name: top if top has name's unit.
func (o *overlayFS) owner(name string) fs.FS {
	parts := strings.Split(name, "/")
	if name == "." || len(parts) < o.depth {
		return nil // above the units: both sides
	}
	if _, err := fs.Stat(o.top, strings.Join(parts[:o.depth], "/")); err == nil {
		return o.top
	}
	return o.base
}

func (o *overlayFS) Open(name string) (fs.File, error) {
	if !fs.ValidPath(name) {
		return nil, &fs.PathError{Op: "open", Path: name, Err: fs.ErrInvalid}
	}
	if side := o.owner(name); side != nil {
		return side.Open(name)
	}
	entries, err := o.ReadDir(name)
	if err != nil {
		return nil, err
	}
	return &mergedDir{name: name, entries: entries}, nil
}

func (o *overlayFS) ReadDir(name string) ([]fs.DirEntry, error) {
	if side := o.owner(name); side != nil {
		return fs.ReadDir(side, name)
	}
	top, errTop := fs.ReadDir(o.top, name)
	base, errBase := fs.ReadDir(o.base, name)
	if errTop != nil && errBase != nil {
		return nil, errBase
	}
	byName := map[string]fs.DirEntry{}
	for _, e := range base {
		byName[e.Name()] = e
	}
	for _, e := range top {
		byName[e.Name()] = e
	}
	out := make([]fs.DirEntry, 0, len(byName))
	for _, e := range byName {
		out = append(out, e)
	}
	slices.SortFunc(out, func(a, b fs.DirEntry) int { return strings.Compare(a.Name(), b.Name()) })
	return out, nil
}

// mergedDir is an opened folder above the units, listing both sides.
type mergedDir struct {
	name    string
	entries []fs.DirEntry
	read    int
}

func (d *mergedDir) Stat() (fs.FileInfo, error) { return dirInfo(path.Base(d.name)), nil }
func (d *mergedDir) Read([]byte) (int, error) {
	return 0, &fs.PathError{Op: "read", Path: d.name, Err: errors.New("is a directory")}
}
func (d *mergedDir) Close() error { return nil }

func (d *mergedDir) ReadDir(n int) ([]fs.DirEntry, error) {
	rest := d.entries[d.read:]
	if n <= 0 {
		d.read = len(d.entries)
		return rest, nil
	}
	if len(rest) == 0 {
		return nil, io.EOF
	}
	if n > len(rest) {
		n = len(rest)
	}
	d.read += n
	return rest[:n], nil
}

type dirInfo string

func (i dirInfo) Name() string       { return string(i) }
func (i dirInfo) Size() int64        { return 0 }
func (i dirInfo) Mode() fs.FileMode  { return fs.ModeDir | 0o555 }
func (i dirInfo) ModTime() time.Time { return time.Time{} }
func (i dirInfo) IsDir() bool        { return true }
func (i dirInfo) Sys() any           { return nil }
