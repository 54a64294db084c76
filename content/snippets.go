package content

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"go/ast"
	"go/doc"
	"go/format"
	"go/parser"
	"go/scanner"
	gotoken "go/token"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"time"
)

// Go blocks. Every ```go block of a lesson or case study is a complete Go
// file (with its package clause) unless its info string marks it otherwise:
//
//	```go            a file, formatted as gofmt formats it; compiled and vetted
//	```go example    a file whose Example functions are run, and whose
//	                 output is checked against their // Output: comments,
//	                 as `go test` does for examples
//	```go fragment   an excerpt not meant to compile alone; it must parse
//	                 as a file, as declarations or as statements
//
// The blocks of one page that declare the same package are compiled together
// as one package, so an example can call the code of the blocks before it.
// Load checks that the blocks parse; CheckSnippets compiles and runs them.

// Marks of a ```go block, the word after "go" in its info string.
const (
	SnippetExample  = "example"
	SnippetFragment = "fragment"
)

// Snippet is one ```go block of a lesson or case study.
type Snippet struct {
	File   string // the page, e.g. lessons/sagas.md
	Line   int    // the file line of the block's first code line
	Mark   string // "", SnippetExample or SnippetFragment
	Source string
}

// snippetModule is the module path of the packages CheckSnippets writes.
const snippetModule = "faultline-snippets"

// snippetTimeout bounds the whole check, so a hanging example cannot hang it.
const snippetTimeout = 3 * time.Minute

// parseSnippet checks a block at load: its mark is known, and it parses (as
// a file, or for a fragment as a file, declarations or statements). It
// returns the package name of a file ("" for a fragment) and the problems,
// each with the file line it concerns.
func parseSnippet(s Snippet) (pkg string, probs []lineProblem) {
	switch s.Mark {
	case "", SnippetExample, SnippetFragment:
	default:
		return "", []lineProblem{{s.Line, fmt.Sprintf("unknown mark %q after go (known: %s, %s)", s.Mark, SnippetExample, SnippetFragment)}}
	}
	fset := gotoken.NewFileSet()
	if s.Mark == SnippetFragment {
		if err := parseFragment(s.Source); err != nil {
			return "", []lineProblem{{s.Line, "fragment does not parse as a Go file, declarations or statements: " + err.Error()}}
		}
		return "", nil
	}
	f, err := parser.ParseFile(fset, "", s.Source, parser.ParseComments|parser.AllErrors)
	if err != nil {
		var list scanner.ErrorList
		if errors.As(err, &list) {
			e := list[0] // the rest usually follow from it
			return "", []lineProblem{{s.Line + e.Pos.Line - 1, e.Msg + " (a ```go block is a whole file with its package clause; mark an excerpt ```go fragment)"}}
		}
		return "", []lineProblem{{s.Line, err.Error()}}
	}
	if out, err := format.Source([]byte(s.Source)); err == nil && string(out) != s.Source {
		probs = append(probs, lineProblem{s.Line, "not formatted as gofmt formats it; run gofmt on the block"})
	}
	examples := doc.Examples(f)
	runnable := 0
	for _, ex := range examples {
		if ex.Output != "" || ex.EmptyOutput {
			runnable++
		}
	}
	switch {
	case s.Mark == SnippetExample && runnable == 0:
		probs = append(probs, lineProblem{s.Line, "marked example but has no Example function with an // Output: comment"})
	case s.Mark == SnippetExample && f.Name.Name == "main":
		probs = append(probs, lineProblem{s.Line, "an example cannot be in package main; give it the package of the code it shows"})
	case s.Mark == "" && runnable > 0:
		probs = append(probs, lineProblem{s.Line, "has Example functions with // Output: comments; mark it ```go example so they run"})
	}
	return f.Name.Name, probs
}

// lineProblem is a problem at a line of a page.
type lineProblem struct {
	line int
	msg  string
}

// parseFragment accepts a whole file, a list of declarations, or a list of
// statements.
func parseFragment(src string) error {
	fset := gotoken.NewFileSet()
	if _, err := parser.ParseFile(fset, "", src, 0); err == nil {
		return nil
	}
	_, declErr := parser.ParseFile(fset, "", "package p\n"+src, 0)
	if declErr == nil {
		return nil
	}
	_, stmtErr := parser.ParseFile(fset, "", "package p\nfunc _() {\n"+src+"\n}\n", 0)
	if stmtErr == nil {
		return nil
	}
	first := strings.Fields(src)
	if len(first) > 0 && slices.Contains([]string{"func", "type", "var", "const", "import"}, first[0]) {
		return shiftErr(declErr, 1)
	}
	return shiftErr(stmtErr, 2)
}

// shiftErr reports the first error of a wrapped parse with lines relative to
// the fragment.
func shiftErr(err error, lines int) error {
	msg := err.Error()
	if m := regexp.MustCompile(`^(\d+):(\d+): (.*)`).FindStringSubmatch(msg); m != nil {
		var line int
		fmt.Sscan(m[1], &line)
		return fmt.Errorf("line %d: %s", line-lines, strings.SplitN(m[3], "\n", 2)[0])
	}
	return err
}

// snippetPackage is the blocks of one page that declare one package.
type snippetPackage struct {
	file     string // the page
	name     string // package name
	dir      string // directory in the module, also the import path suffix
	snippets []Snippet
	examples []snippetExample
}

// snippetExample is one Example function to run.
type snippetExample struct {
	pkg       *snippetPackage
	name      string
	line      int // file line of the function
	want      string
	unordered bool
}

// SnippetReport is what CheckSnippets did and found.
type SnippetReport struct {
	Compiled  int      // blocks compiled and vetted
	Fragments int      // blocks marked fragment, parsed only
	Examples  int      // Example functions run
	Problems  []string // one per line, each naming the page and line
}

// CheckSnippets compiles every ```go block that is not a fragment, vets it,
// and runs the Example functions of the blocks marked example, comparing
// their output with their // Output: comments. It writes the blocks to a
// temporary module outside any checkout (the go command's build cache is
// the only thing kept) and needs the go command in PATH. Problems in the
// blocks are in the report; the error is for a check that could not run (no
// go command, a temporary directory that cannot be written, a timeout).
func CheckSnippets(ctx context.Context, snippets []Snippet) (*SnippetReport, error) {
	probs, rep, err := checkSnippets(ctx, snippets)
	if err != nil {
		return nil, err
	}
	rep.Problems = probs
	return rep, nil
}

func checkSnippets(ctx context.Context, snippets []Snippet) (problems, *SnippetReport, error) {
	var probs problems
	rep := &SnippetReport{}
	var pkgs []*snippetPackage
	byKey := make(map[string]*snippetPackage)
	for _, s := range snippets {
		name, ps := parseSnippet(s)
		for _, p := range ps {
			probs.add(s.File, p.line, "go", "%s", p.msg)
		}
		if s.Mark == SnippetFragment {
			rep.Fragments++
		}
		if len(ps) > 0 || s.Mark == SnippetFragment {
			continue
		}
		rep.Compiled++
		key := s.File + "\x00" + name
		p := byKey[key]
		if p == nil {
			p = &snippetPackage{file: s.File, name: name, dir: fmt.Sprintf("s%d", len(pkgs))}
			byKey[key] = p
			pkgs = append(pkgs, p)
		}
		p.snippets = append(p.snippets, s)
		if s.Mark == SnippetExample {
			p.examples = append(p.examples, examplesOf(p, s)...)
		}
	}
	if len(pkgs) == 0 {
		return probs, rep, nil
	}
	goCmd, err := exec.LookPath("go")
	if err != nil {
		return nil, nil, fmt.Errorf("check go blocks: the go command is needed to compile them: %w", err)
	}
	ctx, cancel := context.WithTimeout(ctx, snippetTimeout)
	defer cancel()
	dir, err := os.MkdirTemp("", "faultline-snippets-")
	if err != nil {
		return nil, nil, fmt.Errorf("check go blocks: %w", err)
	}
	defer os.RemoveAll(dir)
	if err := writeSnippetModule(dir, pkgs); err != nil {
		return nil, nil, fmt.Errorf("check go blocks: %w", err)
	}
	run := func(args ...string) (string, error) {
		cmd := exec.CommandContext(ctx, goCmd, args...)
		cmd.Dir = dir
		cmd.Env = append(os.Environ(), "GOWORK=off", "GOTOOLCHAIN=local", "GOPROXY=off", "CGO_ENABLED=0", "GOFLAGS=-mod=mod")
		out, err := cmd.CombinedOutput()
		if ctx.Err() != nil {
			return string(out), fmt.Errorf("check go blocks: go %s: %w", args[0], ctx.Err())
		}
		return string(out), err
	}
	vetOut, vetErr := run("vet", "-trimpath", "./...")
	if errors.Is(vetErr, context.DeadlineExceeded) || errors.Is(vetErr, context.Canceled) {
		return nil, nil, vetErr
	}
	if vetErr != nil {
		compiled := toolProblems(vetOut)
		if len(compiled) == 0 {
			return nil, nil, fmt.Errorf("check go blocks: go vet: %v\n%s", vetErr, vetOut)
		}
		return append(probs, compiled...), rep, nil
	}
	var examples []snippetExample
	for _, p := range pkgs {
		examples = append(examples, p.examples...)
	}
	rep.Examples = len(examples)
	if len(examples) == 0 {
		return probs, rep, nil
	}
	bin := filepath.Join(dir, "examples")
	if out, err := run("build", "-trimpath", "-o", bin, "./internal/examples"); err != nil {
		if ctx.Err() != nil {
			return nil, nil, err
		}
		if compiled := toolProblems(out); len(compiled) > 0 {
			return append(probs, compiled...), rep, nil
		}
		return nil, nil, fmt.Errorf("check go blocks: build the examples: %v\n%s", err, out)
	}
	results, runErr := runExamples(ctx, bin)
	for i, ex := range examples {
		r, ok := results[i]
		if !ok {
			why := "it did not finish (it exited the process or hung"
			if runErr != nil {
				why += ": " + runErr.Error()
			}
			probs.add(ex.pkg.file, ex.line, "go example", "%s: %s)", ex.name, why)
			break // the examples after it never ran
		}
		if r.Panic != "" {
			probs.add(ex.pkg.file, ex.line, "go example", "%s panicked: %s", ex.name, oneLine(r.Panic))
			continue
		}
		if got, want := normalizeOutput(r.Output, ex.unordered), normalizeOutput(ex.want, ex.unordered); got != want {
			probs.add(ex.pkg.file, ex.line, "go example", "%s printed %s, want %s", ex.name, quoteOutput(got), quoteOutput(want))
		}
	}
	if ctx.Err() != nil {
		return nil, nil, fmt.Errorf("check go blocks: run the examples: %w", ctx.Err())
	}
	return probs, rep, nil
}

// examplesOf lists the Example functions of a block that have an expected
// output.
func examplesOf(p *snippetPackage, s Snippet) []snippetExample {
	fset := gotoken.NewFileSet()
	f, err := parser.ParseFile(fset, "", s.Source, parser.ParseComments)
	if err != nil {
		return nil // reported by parseSnippet
	}
	var out []snippetExample
	for _, ex := range doc.Examples(f) {
		if ex.Output == "" && !ex.EmptyOutput {
			continue // compiled, not run, as go test does
		}
		name, line := "Example"+ex.Name, s.Line
		for _, d := range f.Decls {
			if fd, ok := d.(*ast.FuncDecl); ok && fd.Name.Name == name {
				line = s.Line + fset.Position(fd.Pos()).Line - 1
			}
		}
		out = append(out, snippetExample{pkg: p, name: name, line: line, want: ex.Output, unordered: ex.Unordered})
	}
	return out
}

// writeSnippetModule writes go.mod, one directory per package with one file
// per block (a //line directive maps positions back to the page), and the
// program that runs the examples.
func writeSnippetModule(dir string, pkgs []*snippetPackage) error {
	if err := os.WriteFile(filepath.Join(dir, "go.mod"), []byte("module "+snippetModule+"\n\ngo 1.23\n"), 0o644); err != nil {
		return err
	}
	var imports, calls strings.Builder
	for i, p := range pkgs {
		pd := filepath.Join(dir, p.dir)
		if err := os.MkdirAll(pd, 0o755); err != nil {
			return err
		}
		for j, s := range p.snippets {
			src := fmt.Sprintf("//line %s:%d:1\n%s", s.File, s.Line, s.Source)
			if err := os.WriteFile(filepath.Join(pd, fmt.Sprintf("block%d.go", j)), []byte(src), 0o644); err != nil {
				return err
			}
		}
		if len(p.examples) > 0 {
			fmt.Fprintf(&imports, "\tp%d %q\n", i, snippetModule+"/"+p.dir)
			for _, ex := range p.examples {
				fmt.Fprintf(&calls, "\tp%d.%s,\n", i, ex.name)
			}
		}
	}
	rd := filepath.Join(dir, "internal", "examples")
	if err := os.MkdirAll(rd, 0o755); err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(rd, "main.go"), []byte(strings.Replace(strings.Replace(runnerSource, "//IMPORTS\n", imports.String(), 1), "//CALLS\n", calls.String(), 1)), 0o644)
}

// runnerSource runs each example with os.Stdout redirected to a pipe and
// prints one JSON result per example to the real standard output.
const runnerSource = `package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"

//IMPORTS
)

var examples = []func(){
//CALLS
}

type result struct {
	Output string
	Panic  string
}

func main() {
	enc := json.NewEncoder(os.Stdout)
	stdout := os.Stdout
	for _, ex := range examples {
		r, w, err := os.Pipe()
		if err != nil {
			panic(err)
		}
		done := make(chan string)
		go func() {
			b, _ := io.ReadAll(r)
			done <- string(b)
		}()
		os.Stdout = w
		var res result
		func() {
			defer func() {
				if p := recover(); p != nil {
					res.Panic = fmt.Sprint(p)
				}
			}()
			ex()
		}()
		w.Close()
		os.Stdout = stdout
		res.Output = <-done
		if err := enc.Encode(res); err != nil {
			panic(err)
		}
	}
}
`

// exampleResult is one line of the runner's output.
type exampleResult struct {
	Output string
	Panic  string
}

// runExamples runs the built examples and returns their results by index;
// examples missing from the map did not finish.
func runExamples(ctx context.Context, bin string) (map[int]exampleResult, error) {
	var stdout, stderr bytes.Buffer
	cmd := exec.CommandContext(ctx, bin)
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	results := make(map[int]exampleResult)
	dec := json.NewDecoder(&stdout)
	for i := 0; ; i++ {
		var r exampleResult
		if dec.Decode(&r) != nil {
			break
		}
		results[i] = r
	}
	if err != nil {
		if s := strings.TrimSpace(stderr.String()); s != "" {
			err = fmt.Errorf("%w: %s", err, oneLine(s))
		}
	}
	return results, err
}

// toolLine is a position the go command reports in a page, after the
// directory of the package it wrote.
var toolLine = regexp.MustCompile(`^(?:vet: )?(?:\S*?/)?((?:lessons|cases)/[^/:\s]+\.md):(\d+)(?::\d+)?: (.*)$`)

// toolProblems turns go vet and go build output into problems naming the
// page and line.
func toolProblems(out string) []string {
	var probs problems
	for _, line := range strings.Split(out, "\n") {
		m := toolLine.FindStringSubmatch(strings.TrimSpace(line))
		if m == nil {
			continue
		}
		var n int
		fmt.Sscan(m[2], &n)
		probs.add(m[1], n, "go", "%s", m[3])
	}
	sort.SliceStable(probs, func(i, j int) bool { return probs[i] < probs[j] })
	return slices.Compact(probs)
}

// normalizeOutput compares outputs as the testing package does: surrounding
// space trimmed and, for unordered output, lines sorted.
func normalizeOutput(s string, unordered bool) string {
	s = strings.TrimSpace(strings.ReplaceAll(s, "\r\n", "\n"))
	if unordered {
		lines := strings.Split(s, "\n")
		slices.Sort(lines)
		s = strings.Join(lines, "\n")
	}
	return s
}

// quoteOutput shows an output on one line, shortened.
func quoteOutput(s string) string {
	const max = 300
	if len(s) > max {
		s = s[:max] + "…"
	}
	return fmt.Sprintf("%q", s)
}

func oneLine(s string) string {
	s = strings.Join(strings.Fields(s), " ")
	if len(s) > 300 {
		s = s[:300] + "…"
	}
	return s
}
