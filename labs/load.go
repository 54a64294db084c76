package labs

import (
	"bytes"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"path"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"golang.org/x/mod/module"

	"github.com/faultline-dev/faultline"
)

// labFile is the schema of lab.yaml. Unknown keys are errors.
type labFile struct {
	Slug       string      `yaml:"slug"`
	Title      string      `yaml:"title"`
	Pattern    string      `yaml:"pattern"`
	Summary    string      `yaml:"summary"`
	Difficulty string      `yaml:"difficulty"`
	Minutes    int         `yaml:"minutes"`
	Module     string      `yaml:"module"`
	Lessons    []string    `yaml:"lessons"`
	Limits     limitsFile  `yaml:"limits"`
	Image      string      `yaml:"image"`
	Sandbox    sandboxFile `yaml:"sandbox"`
	Parts      []partFile  `yaml:"parts"`
	Tests      []testFile  `yaml:"tests"`
}

// partFile is one of lab.yaml's optional parts: a share of the lab graded
// on its own (the tests that name it in tests[].part).
type partFile struct {
	ID      string `yaml:"id"`
	Title   string `yaml:"title"`
	Summary string `yaml:"summary"`
}

// sandboxFile is lab.yaml's optional sandbox block: how the learner's
// sandbox runs.
type sandboxFile struct {
	// Network is "none" (the default: no network at all) or "private" (a
	// network of the learner's own, no route out).
	Network string `yaml:"network"`
}

type limitsFile struct {
	Time     string   `yaml:"time"`
	MemoryMB *int64   `yaml:"memory_mb"`
	CPUs     *float64 `yaml:"cpus"`
	Pids     *int64   `yaml:"pids"`
}

type testFile struct {
	Name   string   `yaml:"name"`
	Points int      `yaml:"points"`
	Part   string   `yaml:"part"`  // the id of the part it grades, in a lab with parts
	Rules  []string `yaml:"rules"` // README rule ids (R1…) the test checks
}

// equivalentFile is the schema of equivalent.yaml: generated mutants that no
// test can tell from the solution, each with the author's reason.
type equivalentFile struct {
	Equivalent []equivalentEntry `yaml:"equivalent"`
	// Unreachable lists survivors that do change behaviour but that no
	// deterministic test can reach; they still count as survivors.
	Unreachable []equivalentEntry `yaml:"unreachable"`
}

type equivalentEntry struct {
	ID     string `yaml:"id"`
	Mutant string `yaml:"mutant"` // what the mutation does, for the reader; not checked
	Reason string `yaml:"reason"`
}

var slugRE = regexp.MustCompile(`^[a-z0-9]+(-[a-z0-9]+)*$`)

// labEntries are the only names allowed at the top of a lab folder.
var labEntries = map[string]bool{
	"lab.yaml": true, "README.md": true, "starter": true, "tests": true,
	"hidden": true, "solution": true, "mutants": true, "equivalent.yaml": true,
}

// Load reads every lab folder at the top of fsys (each directory holding a
// lab.yaml), validates it and returns the catalog. Directories without a
// lab.yaml are skipped. It returns EINVALID listing every problem found, one
// per line, each naming the lab, the file and the field; or a wrapped internal
// error if fsys cannot be read.
func Load(fsys fs.FS) (*Catalog, error) {
	entries, err := fs.ReadDir(fsys, ".")
	if err != nil {
		return nil, fmt.Errorf("read lab folders: %w", err)
	}
	var (
		labs     []*faultline.Lab
		problems []string
		std      = map[string]bool{}
	)
	for _, e := range entries {
		if !e.IsDir() {
			continue
		}
		if _, err := fs.Stat(fsys, path.Join(e.Name(), "lab.yaml")); err != nil {
			continue
		}
		l := &loader{fsys: fsys, dir: e.Name(), std: std}
		lab, err := l.load()
		if err != nil {
			return nil, err
		}
		problems = append(problems, l.problems...)
		if len(l.problems) == 0 {
			labs = append(labs, lab)
		}
	}
	if len(problems) > 0 {
		return nil, faultline.Errorf(faultline.EINVALID, "%s", strings.Join(problems, "\n"))
	}
	return newCatalog(labs, std), nil
}

// loader loads one lab folder, collecting problems rather than stopping at
// the first.
type loader struct {
	fsys     fs.FS
	dir      string
	std      map[string]bool
	problems []string
}

// problemf records a problem in file (relative to the lab folder).
func (l *loader) problemf(file, format string, args ...any) {
	l.problems = append(l.problems, fmt.Sprintf("labs/%s/%s: ", l.dir, file)+fmt.Sprintf(format, args...))
}

// goFile is a parsed Go source file of a lab.
type goFile struct {
	name  string // path relative to the lab folder, for messages
	pkg   string
	tests []string // top-level func TestXxx(t *testing.T)
}

// load returns the lab; problems are left in l.problems. An error means the
// file system itself failed.
func (l *loader) load() (*faultline.Lab, error) {
	raw, err := fs.ReadFile(l.fsys, path.Join(l.dir, "lab.yaml"))
	if err != nil {
		return nil, fmt.Errorf("read labs/%s/lab.yaml: %w", l.dir, err)
	}
	var y labFile
	doc := l.decodeYAML("lab.yaml", raw, &y, "lab.yaml")
	if doc == nil {
		return nil, nil
	}
	lab := &faultline.Lab{
		Slug: y.Slug, Title: y.Title, Pattern: y.Pattern, Summary: strings.TrimSpace(y.Summary),
		Difficulty: y.Difficulty, Minutes: y.Minutes, Lessons: y.Lessons, Image: y.Image, Module: y.Module,
		Network: sandboxNetwork(y.Sandbox.Network),
	}
	l.checkMeta(&y, lab)

	entries, err := fs.ReadDir(l.fsys, l.dir)
	if err != nil {
		return nil, fmt.Errorf("read labs/%s: %w", l.dir, err)
	}
	for _, e := range entries {
		if !labEntries[e.Name()] {
			l.problemf(e.Name(), "unexpected entry; a lab folder holds only lab.yaml, README.md, starter/, tests/, hidden/, solution/, mutants/ and equivalent.yaml")
		}
	}

	readme, err := fs.ReadFile(l.fsys, path.Join(l.dir, "README.md"))
	switch {
	case err != nil:
		l.problemf("README.md", "missing")
	case len(bytes.TrimSpace(readme)) == 0:
		l.problemf("README.md", "empty")
	}
	lab.README = string(readme)
	lab.Rules = l.readmeRules(lab.README)

	gomod := faultline.File{Path: "go.mod", Content: LabGoMod(y.Module)}

	// starter/ and solution/: learner files.
	starter, starterGo, err := l.tree("starter", true)
	if err != nil {
		return nil, err
	}
	solution, solutionGo, err := l.tree("solution", true)
	if err != nil {
		return nil, err
	}
	pkg := l.packageOf("starter", starterGo)
	if sp := l.packageOf("solution", solutionGo); pkg != "" && sp != "" && sp != pkg {
		l.problemf("solution", "package %s, but starter/ is package %s", sp, pkg)
	}
	lab.Starter = faultline.MergeFiles([]faultline.File{gomod}, starter)
	lab.Solution = faultline.MergeFiles([]faultline.File{gomod}, solution)

	// tests/ and hidden/.
	visible, visibleGo, err := l.tree("tests", false)
	if err != nil {
		return nil, err
	}
	hidden, hiddenGo, err := l.tree("hidden", false)
	if err != nil {
		return nil, err
	}
	lab.Visible, lab.Hidden = visible, hidden
	for _, f := range visibleGo {
		if pkg != "" && f.pkg != pkg {
			l.problemf(f.name, "package %s; visible tests are internal tests of the starter's package %s", f.pkg, pkg)
		}
	}
	for _, f := range hiddenGo {
		if f.pkg != "hidden" {
			l.problemf(f.name, "package %s; hidden tests must be package hidden", f.pkg)
		}
	}
	if len(hidden) == 0 {
		l.problemf("hidden", "no hidden tests")
	}
	lab.Tests = l.checkTests(y.Tests, visibleGo, hiddenGo)
	lab.Parts = l.checkParts(doc, y.Parts, y.Tests, lab.Tests)
	l.mapRules(lab, y.Tests)
	if lab.Equivalent, lab.Unreachable, err = l.equivalents(); err != nil {
		return nil, err
	}

	mutants, err := l.mutants(solution)
	if err != nil {
		return nil, err
	}
	if len(mutants) > 0 {
		lab.Mutants = make(map[string][]faultline.File, len(mutants))
		for name, overlay := range mutants {
			lab.Mutants[name] = faultline.MergeFiles(lab.Solution, overlay)
		}
	}
	return lab, nil
}

// sandboxNetwork maps lab.yaml's sandbox.network to faultline.Lab.Network
// ("none" and absent are both no network; checkMeta rejects anything else).
func sandboxNetwork(v string) string {
	if v == faultline.LabNetworkPrivate {
		return v
	}
	return ""
}

// checkMeta validates the descriptive fields and limits of lab.yaml.
func (l *loader) checkMeta(y *labFile, lab *faultline.Lab) {
	const f = "lab.yaml"
	switch {
	case y.Slug == "":
		l.problemf(f, "slug: required")
	case y.Slug != l.dir:
		l.problemf(f, "slug: %q does not match the folder name %q", y.Slug, l.dir)
	case !slugRE.MatchString(y.Slug):
		l.problemf(f, "slug: %q must be lower-case letters, digits and single dashes", y.Slug)
	}
	for _, r := range []struct{ field, v string }{
		{"title", y.Title}, {"pattern", y.Pattern}, {"summary", y.Summary}, {"module", y.Module},
	} {
		if strings.TrimSpace(r.v) == "" {
			l.problemf(f, "%s: required", r.field)
		}
	}
	if _, ok := difficulties[y.Difficulty]; !ok {
		if y.Difficulty == "" {
			l.problemf(f, "difficulty: required (intro, intermediate or advanced)")
		} else {
			l.problemf(f, "difficulty: %q is not intro, intermediate or advanced", y.Difficulty)
		}
	}
	if y.Minutes <= 0 {
		l.problemf(f, "minutes: required, a positive number")
	}
	if y.Module != "" {
		if err := module.CheckPath(y.Module); err != nil {
			l.problemf(f, "module: %v", err)
		} else if y.Module == hiddenModule {
			l.problemf(f, "module: %q is reserved for the hidden tests", y.Module)
		} else if y.Module == LabkitModule || strings.HasPrefix(LabkitModule, y.Module+"/") || strings.HasPrefix(y.Module, LabkitModule+"/") {
			l.problemf(f, "module: %q overlaps labkit's module path %q", y.Module, LabkitModule)
		}
	}
	for i, s := range y.Lessons {
		if !slugRE.MatchString(s) {
			l.problemf(f, "lessons[%d]: %q is not a lesson slug", i, s)
		}
	}

	switch y.Sandbox.Network {
	case "", "none", faultline.LabNetworkPrivate:
	default:
		l.problemf(f, "sandbox.network: %q is not none or private", y.Sandbox.Network)
	}

	lim := faultline.DefaultGradeLimits
	if y.Limits.Time != "" {
		d, err := time.ParseDuration(y.Limits.Time)
		if err != nil || d <= 0 {
			l.problemf(f, "limits.time: %q is not a positive duration like \"30s\"", y.Limits.Time)
		}
		lim.Time = d
	}
	if p := y.Limits.MemoryMB; p != nil {
		if *p <= 0 {
			l.problemf(f, "limits.memory_mb: must be positive")
		}
		lim.MemoryMB = *p
	}
	if p := y.Limits.CPUs; p != nil {
		if *p <= 0 {
			l.problemf(f, "limits.cpus: must be positive")
		}
		lim.CPUs = *p
	}
	if p := y.Limits.Pids; p != nil {
		if *p <= 0 {
			l.problemf(f, "limits.pids: must be positive")
		}
		lim.Pids = *p
	}
	lab.Limits = lim
}

// hiddenModule is the module path of the hidden-test module in the grading tree.
const hiddenModule = "faultline.local/hidden"

// tree reads every file under the lab's folder sub, with paths relative to
// it, and parses its Go files. learner trees may hold no go.mod and no
// *_test.go files; test trees hold only *_test.go files.
func (l *loader) tree(sub string, learner bool) ([]faultline.File, []goFile, error) {
	root := path.Join(l.dir, sub)
	if _, err := fs.Stat(l.fsys, root); err != nil {
		l.problemf(sub, "missing")
		return nil, nil, nil
	}
	files, gofiles, err := l.readTree(root, sub)
	if err != nil {
		return nil, nil, err
	}
	for _, f := range files {
		name := sub + "/" + f.Path
		base := path.Base(f.Path)
		switch {
		case learner && base == "go.mod":
			l.problemf(name, "no go.mod here; the loader writes it from lab.yaml's module")
		case learner && strings.HasSuffix(base, "_test.go"):
			l.problemf(name, "test files belong in tests/ or hidden/, not in %s/", sub)
		case !learner && !strings.HasSuffix(base, "_test.go"):
			l.problemf(name, "only *_test.go files belong in %s/", sub)
		}
	}
	if learner {
		if len(gofiles) == 0 {
			l.problemf(sub, "no Go files")
		}
		if len(files) > faultline.MaxWorkspaceFiles {
			l.problemf(sub, "%d files; a workspace holds at most %d", len(files), faultline.MaxWorkspaceFiles)
		}
	}
	return files, gofiles, nil
}

// readTree reads the files under root; paths are relative to root and
// messages name them under label.
func (l *loader) readTree(root, label string) ([]faultline.File, []goFile, error) {
	var (
		files   []faultline.File
		gofiles []goFile
	)
	err := fs.WalkDir(l.fsys, root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			return nil
		}
		rel := strings.TrimPrefix(p, root+"/")
		name := label + "/" + rel
		if !d.Type().IsRegular() {
			l.problemf(name, "not a regular file")
			return nil
		}
		if _, err := faultline.CleanPath(rel); err != nil {
			l.problemf(name, "%s", faultline.ErrorMessage(err))
			return nil
		}
		content, err := fs.ReadFile(l.fsys, p)
		if err != nil {
			return fmt.Errorf("read labs/%s: %w", p, err)
		}
		if len(content) > faultline.MaxFileSize {
			l.problemf(name, "%d bytes; a workspace file holds at most %d", len(content), faultline.MaxFileSize)
		}
		files = append(files, faultline.File{Path: rel, Content: content})
		if strings.HasSuffix(rel, ".go") {
			if g, ok := l.parseGo(name, content); ok {
				gofiles = append(gofiles, g)
			}
		}
		return nil
	})
	if err != nil {
		return nil, nil, fmt.Errorf("walk labs/%s: %w", root, err)
	}
	return files, gofiles, nil
}

// parseGo parses a Go file, records its standard-library imports and finds
// its top-level test functions.
func (l *loader) parseGo(name string, content []byte) (goFile, bool) {
	f, err := parser.ParseFile(token.NewFileSet(), name, content, parser.SkipObjectResolution)
	if err != nil {
		l.problemf(name, "does not parse: %v", err)
		return goFile{}, false
	}
	g := goFile{name: name, pkg: f.Name.Name}
	testing := "" // local name of the "testing" import
	for _, im := range f.Imports {
		p, err := strconv.Unquote(im.Path.Value)
		if err != nil {
			continue
		}
		if isStd(p) {
			l.std[p] = true
		}
		if p == "testing" {
			testing = "testing"
			if im.Name != nil {
				testing = im.Name.Name
			}
		}
	}
	for _, d := range f.Decls {
		fn, ok := d.(*ast.FuncDecl)
		if ok && fn.Recv == nil && isTestName(fn.Name.Name) && takesTestingT(fn, testing) {
			g.tests = append(g.tests, fn.Name.Name)
		}
	}
	return g, true
}

// isStd reports whether an import path belongs to the standard library: its
// first element has no dot.
func isStd(p string) bool {
	first, _, _ := strings.Cut(p, "/")
	return !strings.Contains(first, ".") && p != "C"
}

// isTestName applies the go test rule: "Test" followed by nothing or by a
// character that is not a lower-case letter.
func isTestName(name string) bool {
	rest, ok := strings.CutPrefix(name, "Test")
	if !ok {
		return false
	}
	if rest == "" {
		return true
	}
	r, _ := utf8.DecodeRuneInString(rest)
	return !unicode.IsLower(r)
}

// takesTestingT reports whether fn has the signature func(*testing.T).
func takesTestingT(fn *ast.FuncDecl, testing string) bool {
	if testing == "" || fn.Type.Results != nil || len(fn.Type.Params.List) != 1 {
		return false
	}
	p := fn.Type.Params.List[0]
	if len(p.Names) > 1 {
		return false
	}
	star, ok := p.Type.(*ast.StarExpr)
	if !ok {
		return false
	}
	sel, ok := star.X.(*ast.SelectorExpr)
	if !ok {
		return false
	}
	id, ok := sel.X.(*ast.Ident)
	return ok && id.Name == testing && sel.Sel.Name == "T"
}

// packageOf returns the single package name of a learner tree's top-level
// files, recording a problem when they disagree.
func (l *loader) packageOf(sub string, files []goFile) string {
	pkg := ""
	for _, f := range files {
		if strings.Count(f.name, "/") != 1 {
			continue // in a sub-package
		}
		if pkg == "" {
			pkg = f.pkg
		} else if f.pkg != pkg {
			l.problemf(f.name, "package %s, but other files in %s/ are package %s", f.pkg, sub, pkg)
		}
	}
	return pkg
}

// checkTests matches lab.yaml's tests with the Test functions found in tests/
// and hidden/ and returns the graded tests in lab.yaml order.
func (l *loader) checkTests(listed []testFile, visible, hidden []goFile) []faultline.LabTest {
	const f = "lab.yaml"
	where := map[string]string{} // test name → file defining it
	isHidden := map[string]bool{}
	for _, set := range []struct {
		files  []goFile
		hidden bool
	}{{visible, false}, {hidden, true}} {
		for _, g := range set.files {
			for _, name := range g.tests {
				if prev, dup := where[name]; dup {
					l.problemf(g.name, "%s is also defined in %s; test names must be unique across tests/ and hidden/", name, prev)
					continue
				}
				where[name] = g.name
				isHidden[name] = set.hidden
			}
		}
	}
	if len(listed) == 0 {
		l.problemf(f, "tests: required, at least one test with points")
	}
	var out []faultline.LabTest
	seen := map[string]bool{}
	for i, t := range listed {
		switch {
		case t.Name == "":
			l.problemf(f, "tests[%d]: name: required", i)
			continue
		case seen[t.Name]:
			l.problemf(f, "tests[%d]: %s is listed twice", i, t.Name)
			continue
		}
		seen[t.Name] = true
		if t.Points <= 0 {
			l.problemf(f, "tests[%d]: %s: points must be positive", i, t.Name)
		}
		if _, ok := where[t.Name]; !ok {
			l.problemf(f, "tests[%d]: no Test func named %s in tests/ or hidden/", i, t.Name)
			continue
		}
		out = append(out, faultline.LabTest{Name: t.Name, Points: t.Points, Hidden: isHidden[t.Name]})
	}
	var unlisted []string
	for name := range where {
		if !seen[name] {
			unlisted = append(unlisted, name)
		}
	}
	sort.Strings(unlisted)
	for _, name := range unlisted {
		l.problemf(f, "tests: %s (in %s) is not listed; every Test func must have points", name, where[name])
	}
	return out
}

// mutants reads mutants/<name>/ overlays and checks each against solution.
func (l *loader) mutants(solution []faultline.File) (map[string][]faultline.File, error) {
	root := path.Join(l.dir, "mutants")
	entries, err := fs.ReadDir(l.fsys, root)
	if err != nil {
		return nil, nil // mutants are optional
	}
	sol := make(map[string][]byte, len(solution))
	for _, f := range solution {
		sol[f.Path] = f.Content
	}
	out := map[string][]faultline.File{}
	for _, e := range entries {
		name := e.Name()
		label := "mutants/" + name
		if !e.IsDir() {
			l.problemf(label, "not a folder; each mutant is a folder of files overlaying solution/")
			continue
		}
		if !slugRE.MatchString(name) {
			l.problemf(label, "mutant names are lower-case letters, digits and single dashes")
			continue
		}
		files, _, err := l.readTree(path.Join(root, name), label)
		if err != nil {
			return nil, err
		}
		if len(files) == 0 {
			l.problemf(label, "empty; a mutant must change a solution file")
			continue
		}
		for _, f := range files {
			base, ok := sol[f.Path]
			switch {
			case !ok:
				l.problemf(label+"/"+f.Path, "not in solution/; a mutant only replaces solution files")
			case bytes.Equal(base, f.Content):
				l.problemf(label+"/"+f.Path, "identical to solution/%s; a mutant must change something", f.Path)
			}
		}
		out[name] = files
	}
	return out, nil
}
