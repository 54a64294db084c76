package labs

import (
	"fmt"
	"os"
	"path"
	"path/filepath"
	"strings"

	"github.com/faultline-dev/faultline"
)

// HiddenModule is the module path of the grading tree's hidden-test module.
const HiddenModule = hiddenModule

// GradingTree lays out the tree a lab is graded in, as slash-separated paths
// relative to the tree's root mapped to contents:
//
//	lab/     src, the visible tests and the lab's go.mod (LabGoMod)
//	hidden/  the hidden tests and a go.mod requiring the lab module (../lab)
//	labkit/  labkit (Labkit), which both go.mod files require (../labkit)
//
// src are the learner's sources (a solution or a mutant in lab checks),
// already filtered to what may enter the tree; a lab file overrides a
// learner file of the same path. The grader tars this tree into its
// container and the host-side checks write it to disk, so both grade the
// same layout. It fails only for a malformed lab (bad module or file path).
func GradingTree(lab *faultline.Lab, src []faultline.File) (map[string][]byte, error) {
	if lab.Module == "" || strings.ContainsAny(lab.Module, " \t\r\n\"'`\\") {
		return nil, fmt.Errorf("lab %q: bad module path %q", lab.Slug, lab.Module)
	}
	if testBinaryName(lab.Module) == testBinaryName(HiddenModule) {
		return nil, fmt.Errorf("lab %q: module path %q would name its test binary as the hidden tests' (%s.test)", lab.Slug, lab.Module, testBinaryName(HiddenModule))
	}
	tree := make(map[string][]byte)
	for _, f := range src {
		tree["lab/"+f.Path] = f.Content
	}
	tree["lab/go.mod"] = LabGoMod(lab.Module)
	add := func(dir, kind string, files []faultline.File) error {
		for _, f := range files {
			p, err := faultline.CleanPath(f.Path)
			if err != nil {
				return fmt.Errorf("lab %q %s file %q: %w", lab.Slug, kind, f.Path, err)
			}
			tree[dir+"/"+p] = f.Content
		}
		return nil
	}
	if err := add("lab", "visible", lab.Visible); err != nil {
		return nil, err
	}
	if err := add("hidden", "hidden", lab.Hidden); err != nil {
		return nil, err
	}
	tree["hidden/go.mod"] = HiddenGoMod(HiddenModule, lab.Module, "lab")
	for _, f := range Labkit() {
		tree[LabkitDir+"/"+f.Path] = f.Content
	}
	return tree, nil
}

// WriteTree writes a GradingTree under dir (host-side checks and benchmarks).
func WriteTree(dir string, tree map[string][]byte) error {
	for name, body := range tree {
		p := filepath.Join(dir, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			return fmt.Errorf("write grading tree: %w", err)
		}
		if err := os.WriteFile(p, body, 0o644); err != nil {
			return fmt.Errorf("write grading tree: %w", err)
		}
	}
	return nil
}

// testBinaryName is the name `go test -c -o dir/` gives a package's test
// binary, without ".test": the last element of its import path, or the one
// before a major-version suffix.
func testBinaryName(importPath string) string {
	elem := path.Base(importPath)
	if len(elem) > 1 && elem[0] == 'v' && strings.Trim(elem[1:], "0123456789") == "" {
		if dir := path.Dir(importPath); dir != "." {
			elem = path.Base(dir)
		}
	}
	return elem
}
