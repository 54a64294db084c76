package grader

import (
	"archive/tar"
	"bytes"
	"fmt"
	"path"
	"sort"
	"strings"
	"time"

	"github.com/faultline-dev/faultline"
	"github.com/faultline-dev/faultline/labs"
)

// HiddenModule is the module path of the grading tree's hidden test module.
const HiddenModule = labs.HiddenModule

// treeEpoch is the modification time of every file in the grading tree, so
// the same submission always makes the same archive.
var treeEpoch = time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC)

// learnerSources validates a submission and returns the files that enter the
// grading tree, sorted by path: non-test .go files only. Learner *_test.go
// files, go.mod/go.sum/go.work, vendor/ and testdata/ trees and every
// non-Go file are dropped, so a learner cannot add tests, replace the module
// definition or embed data the reference tests do not expect. It returns an
// EINVALID or ETOOLARGE *faultline.Error with a user-safe message for bad
// paths, duplicates and files over the workspace caps.
func learnerSources(files []faultline.File) ([]faultline.File, error) {
	if len(files) > faultline.MaxWorkspaceFiles {
		return nil, faultline.Errorf(faultline.ETOOLARGE, "A submission may hold at most %d files; this one has %d.", faultline.MaxWorkspaceFiles, len(files))
	}
	total := 0
	seen := make(map[string]bool, len(files))
	var out []faultline.File
	for _, f := range files {
		p, err := faultline.CleanPath(f.Path)
		if err != nil {
			return nil, err
		}
		if seen[p] {
			return nil, faultline.Errorf(faultline.EINVALID, "File %q appears twice in the submission.", p)
		}
		seen[p] = true
		if len(f.Content) > faultline.MaxFileSize {
			return nil, faultline.Errorf(faultline.ETOOLARGE, "File %q is larger than %d KiB.", p, faultline.MaxFileSize>>10)
		}
		total += len(f.Content)
		if total > faultline.MaxWorkspaceSize {
			return nil, faultline.Errorf(faultline.ETOOLARGE, "The submission is larger than %d MiB.", faultline.MaxWorkspaceSize>>20)
		}
		if !keepLearnerFile(p) {
			continue
		}
		out = append(out, faultline.File{Path: p, Content: f.Content})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Path < out[j].Path })
	return out, nil
}

func keepLearnerFile(p string) bool {
	if !strings.HasSuffix(p, ".go") || strings.HasSuffix(p, "_test.go") {
		return false
	}
	for _, part := range strings.Split(path.Dir(p), "/") {
		if part == "vendor" || part == "testdata" {
			return false
		}
	}
	return true
}

// buildTree returns the grading tree as a tar archive, paths relative to
// /tmp/g:
//
//	lab/     the learner's sources, the visible tests and the lab go.mod
//	hidden/  the hidden tests, with a go.mod requiring the lab module (../lab)
//	labkit/  labkit (labs.Labkit), which both go.mod files require (../labkit)
//
// The go.mod files are the ones labs synthesizes, so the learner's sandbox and
// the host-side lab verification see the same layout. src must come from
// learnerSources. Lab files (visible and hidden tests) override learner files
// of the same path. It fails only for a malformed lab (bad module or file
// path).
func buildTree(lab *faultline.Lab, src []faultline.File) ([]byte, error) {
	entries, err := labs.GradingTree(lab, src)
	if err != nil {
		return nil, err
	}
	names := make([]string, 0, len(entries))
	for n := range entries {
		names = append(names, n)
	}
	sort.Strings(names)
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, n := range names {
		body := entries[n]
		hdr := &tar.Header{
			Typeflag: tar.TypeReg,
			Name:     n,
			Mode:     0o644,
			Size:     int64(len(body)),
			Uid:      65534,
			Gid:      65534,
			Uname:    "nobody",
			Gname:    "nogroup",
			ModTime:  treeEpoch,
		}
		if err := tw.WriteHeader(hdr); err != nil {
			return nil, fmt.Errorf("tar header %q: %w", n, err)
		}
		if _, err := tw.Write(body); err != nil {
			return nil, fmt.Errorf("tar body %q: %w", n, err)
		}
	}
	if err := tw.Close(); err != nil {
		return nil, fmt.Errorf("close tar: %w", err)
	}
	return buf.Bytes(), nil
}
