package grader

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"go/ast"
	"go/importer"
	"go/parser"
	"go/token"
	"go/types"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"github.com/faultline-dev/faultline"
	"github.com/faultline-dev/faultline/labs"
)

// TypeChecker type-checks variants of a lab's learner package on the host,
// against export data the go command builds for the package's imports
// (labkit, its requirements, the standard library), so generated mutants
// that would not compile are found in milliseconds instead of a grading
// container each. It needs the go command; it runs no lab code.
type TypeChecker struct {
	module string
	fset   *token.FileSet
	imp    types.Importer
	pkg    *types.Package       // the solution's package, after the solution was checked
	parsed map[string]*ast.File // the solution's files as checked, by path
}

// HostGoEnv is the environment the go command gets for host-side lab
// builds: the lab's synthesized go.mod (-mod=mod), no workspace, the local
// toolchain, no cgo, and no checksum database (labkit's pinned requirements
// come from the module cache or the configured proxy).
func HostGoEnv() []string {
	return append(os.Environ(), "GOFLAGS=-mod=mod", "GOWORK=off", "GOTOOLCHAIN=local", "GOSUMDB=off", "CGO_ENABLED=0")
}

// NewTypeChecker builds the export data of everything the lab's solution
// imports (go list -deps -export in a grading tree under a temporary
// folder) and returns a checker for the lab's package. It fails when the go
// command is missing or the solution's imports cannot be built.
func NewTypeChecker(ctx context.Context, lab *faultline.Lab) (*TypeChecker, error) {
	dir, err := os.MkdirTemp("", "faultline-types-")
	if err != nil {
		return nil, fmt.Errorf("type-check lab %q: %w", lab.Slug, err)
	}
	defer os.RemoveAll(dir)
	var src []faultline.File
	for _, f := range lab.Solution {
		if f.Path != "go.mod" && !strings.HasSuffix(f.Path, "_test.go") {
			src = append(src, f)
		}
	}
	tree, err := labs.GradingTree(lab, src)
	if err != nil {
		return nil, fmt.Errorf("type-check lab %q: %w", lab.Slug, err)
	}
	if err := labs.WriteTree(dir, tree); err != nil {
		return nil, fmt.Errorf("type-check lab %q: %w", lab.Slug, err)
	}
	cmd := exec.CommandContext(ctx, "go", "list", "-deps", "-export", "-f", "{{.ImportPath}}\t{{.Export}}", ".")
	cmd.Dir = filepath.Join(dir, "lab")
	cmd.Env = HostGoEnv()
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("type-check lab %q: go list: %v: %s", lab.Slug, err, strings.TrimSpace(stderr.String()))
	}
	exports := map[string]string{}
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		path, file, ok := strings.Cut(sc.Text(), "\t")
		if ok && file != "" {
			exports[path] = file
		}
	}
	// The export files live in the build cache, which outlives dir.
	tc := &TypeChecker{module: lab.Module, fset: token.NewFileSet(), parsed: map[string]*ast.File{}}
	tc.imp = importer.ForCompiler(tc.fset, "gc", func(path string) (io.ReadCloser, error) {
		f, ok := exports[path]
		if !ok {
			return nil, fmt.Errorf("no export data for %q", path)
		}
		return os.Open(f)
	})
	return tc, nil
}

// check type-checks the package made of files. With mutated "", files are
// the solution: their syntax trees and the package are kept for the
// generator. It returns the first errors the checker found, on one line.
func (tc *TypeChecker) check(files []faultline.File, mutated string) (*types.Package, *types.Info, error) {
	var asts []*ast.File
	for _, f := range files {
		af, err := parser.ParseFile(tc.fset, f.Path, f.Content, parser.SkipObjectResolution)
		if err != nil {
			return nil, nil, fmt.Errorf("%v", err)
		}
		asts = append(asts, af)
		if mutated == "" {
			tc.parsed[f.Path] = af
		}
	}
	var errs []string
	conf := types.Config{
		Importer: tc.imp,
		Error: func(err error) {
			if len(errs) < 3 {
				errs = append(errs, err.Error())
			}
		},
	}
	info := &types.Info{Types: map[ast.Expr]types.TypeAndValue{}, Defs: map[*ast.Ident]types.Object{}, Uses: map[*ast.Ident]types.Object{}}
	pkg, _ := conf.Check(tc.module, tc.fset, asts, info)
	if len(errs) > 0 {
		return nil, nil, fmt.Errorf("%s", strings.Join(errs, "; "))
	}
	if mutated == "" {
		tc.pkg = pkg
	}
	return pkg, info, nil
}
