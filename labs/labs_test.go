package labs

import (
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"testing/fstest"
	"time"

	"github.com/faultline-dev/faultline"
)

// MustLoad loads fsys and fails the test on any error.
func MustLoad(tb testing.TB, fsys fstest.MapFS) *Catalog {
	tb.Helper()
	c, err := Load(fsys)
	if err != nil {
		tb.Fatalf("Load: %v", err)
	}
	return c
}

const demoYAML = `slug: demo
title: Demo lab
pattern: Retry
summary: A small lab for loader tests.
difficulty: intro
minutes: 15
module: example.com/labs/demo
lessons: [partial-failure]
limits: {time: 45s, pids: 100}
tests:
  - {name: TestVisible, points: 1}
  - {name: TestHidden, points: 3}
`

const demoSolution = `package demo

import "strings"

func Upper(s string) string { return strings.ToUpper(s) }
`

// demoLab returns a valid lab folder named dir in a fresh MapFS; tests
// change it to make it invalid.
func demoLab(dir string) fstest.MapFS {
	f := func(s string) *fstest.MapFile { return &fstest.MapFile{Data: []byte(s)} }
	return fstest.MapFS{
		dir + "/lab.yaml":              f(strings.ReplaceAll(demoYAML, "slug: demo", "slug: "+dir)),
		dir + "/README.md":             f("# Demo\n\nWrite Upper.\n\n- **R1** Upper upper-cases.\n- **R2** It keeps the length.\n"),
		dir + "/starter/demo.go":       f("package demo\n\n// Upper upper-cases s.\nfunc Upper(s string) string { return s } // TODO\n"),
		dir + "/solution/demo.go":      f(demoSolution),
		dir + "/solution/util/util.go": f("package util\n\nimport \"fmt\"\n\nvar _ = fmt.Sprint\n"),
		dir + "/tests/demo_test.go": f(`package demo

import "testing"

func TestVisible(t *testing.T) {
	if Upper("a") != "A" {
		t.Fatal("no")
	}
}

func helper(t *testing.T)        {}
func Testlower(t *testing.T)     {}
func TestNotATest(s string)      {}
`),
		dir + "/hidden/hidden_test.go": f(`package hidden

import (
	tt "testing"

	"example.com/labs/demo"
)

func TestHidden(t *tt.T) {
	if demo.Upper("b") != "B" {
		t.Fatal("no")
	}
}
`),
		dir + "/mutants/noop/demo.go": f("package demo\n\nfunc Upper(s string) string { return s }\n"),
	}
}

func TestLoadDemo(t *testing.T) {
	c := MustLoad(t, demoLab("demo"))
	l, err := c.Lab("demo")
	if err != nil {
		t.Fatal(err)
	}
	if l.Title != "Demo lab" || l.Pattern != "Retry" || l.Difficulty != "intro" || l.Minutes != 15 || l.Module != "example.com/labs/demo" {
		t.Errorf("lab fields = %+v", l)
	}
	if !reflect.DeepEqual(l.Lessons, []string{"partial-failure"}) {
		t.Errorf("Lessons = %q", l.Lessons)
	}
	want := faultline.Limits{Time: 45 * time.Second, MemoryMB: 512, CPUs: 1, Pids: 100}
	if l.Limits != want {
		t.Errorf("Limits = %+v, want %+v (defaults filled in)", l.Limits, want)
	}
	wantTests := []faultline.LabTest{{Name: "TestVisible", Points: 1}, {Name: "TestHidden", Points: 3, Hidden: true}}
	if !reflect.DeepEqual(l.Tests, wantTests) {
		t.Errorf("Tests = %+v, want %+v", l.Tests, wantTests)
	}
	gomod := string(LabGoMod("example.com/labs/demo"))
	if got := paths(l.Starter); !reflect.DeepEqual(got, []string{"demo.go", "go.mod"}) {
		t.Errorf("Starter paths = %q", got)
	} else if string(l.Starter[1].Content) != gomod {
		t.Errorf("synthesized go.mod = %q, want %q", l.Starter[1].Content, gomod)
	}
	if got := paths(l.Solution); !reflect.DeepEqual(got, []string{"demo.go", "go.mod", "util/util.go"}) {
		t.Errorf("Solution paths = %q", got)
	}
	if got := paths(l.Visible); !reflect.DeepEqual(got, []string{"demo_test.go"}) {
		t.Errorf("Visible paths = %q", got)
	}
	if got := paths(l.Hidden); !reflect.DeepEqual(got, []string{"hidden_test.go"}) {
		t.Errorf("Hidden paths = %q", got)
	}
	m := l.Mutants["noop"]
	if got := paths(m); !reflect.DeepEqual(got, []string{"demo.go", "go.mod", "util/util.go"}) {
		t.Fatalf("mutant paths = %q, want the full solution set", got)
	}
	if strings.Contains(string(m[0].Content), "ToUpper") {
		t.Errorf("mutant demo.go is the solution's, not the overlay")
	}
	if !strings.HasPrefix(l.README, "# Demo") {
		t.Errorf("README = %q", l.README)
	}
	if got, want := c.StdImports(), []string{"fmt", "strings", "testing"}; !reflect.DeepEqual(got, want) {
		t.Errorf("StdImports = %q, want %q", got, want)
	}
}

func paths(files []faultline.File) []string {
	var out []string
	for _, f := range files {
		out = append(out, f.Path)
	}
	return out
}

func TestLabNotFound(t *testing.T) {
	c := MustLoad(t, demoLab("demo"))
	if _, err := c.Lab("nope"); faultline.ErrorCode(err) != faultline.ENOTFOUND {
		t.Fatalf("Lab(nope) error = %v, want ENOTFOUND", err)
	}
}

func TestAllSortedByDifficultyThenTitle(t *testing.T) {
	fsys := fstest.MapFS{}
	for _, l := range []struct{ dir, difficulty, title string }{
		{"b-lab", "advanced", "Alpha"},
		{"a-lab", "intro", "Zulu"},
		{"c-lab", "intro", "Mike"},
		{"d-lab", "intermediate", "Alpha"},
	} {
		for name, f := range demoLab(l.dir) {
			if strings.HasSuffix(name, "lab.yaml") {
				s := strings.Replace(string(f.Data), "difficulty: intro", "difficulty: "+l.difficulty, 1)
				s = strings.Replace(s, "title: Demo lab", "title: "+l.title, 1)
				f = &fstest.MapFile{Data: []byte(s)}
			}
			fsys[name] = f
		}
	}
	fsys["not-a-lab/notes.txt"] = &fstest.MapFile{Data: []byte("skipped: no lab.yaml")}
	var got []string
	for _, l := range MustLoad(t, fsys).All() {
		got = append(got, l.Slug)
	}
	if want := []string{"c-lab", "a-lab", "d-lab", "b-lab"}; !reflect.DeepEqual(got, want) {
		t.Fatalf("All() order = %q, want %q", got, want)
	}
}

func TestLoadRejectsBadLabs(t *testing.T) {
	yamlEdit := func(old, new string) func(fstest.MapFS) {
		return func(fs fstest.MapFS) {
			f := fs["demo/lab.yaml"]
			if !strings.Contains(string(f.Data), old) {
				panic("test bug: lab.yaml has no " + old)
			}
			fs["demo/lab.yaml"] = &fstest.MapFile{Data: []byte(strings.Replace(string(f.Data), old, new, 1))}
		}
	}
	put := func(name, content string) func(fstest.MapFS) {
		return func(fs fstest.MapFS) { fs[name] = &fstest.MapFile{Data: []byte(content)} }
	}
	// partsEdit starts from the demo lab with parts A and B.
	partsEdit := func(old, new string) func(fstest.MapFS) {
		return func(fs fstest.MapFS) {
			fs["demo/lab.yaml"] = &fstest.MapFile{Data: []byte(demoPartsYAML)}
			yamlEdit(old, new)(fs)
		}
	}
	cases := []struct {
		name string
		edit func(fstest.MapFS)
		want string
	}{
		{"missing title", yamlEdit("title: Demo lab\n", ""), "labs/demo/lab.yaml: title: required"},
		{"unknown key", yamlEdit("minutes: 15", "minutes: 15\ncolour: red"), `labs/demo/lab.yaml:7: unknown field "colour"; the fields of lab.yaml are slug, title,`},
		{"unknown limits key", yamlEdit("pids: 100", "pids: 100, disk: 5"), `labs/demo/lab.yaml:9: limits: unknown field "disk"; the fields of limits are time, memory_mb, cpus, pids`},
		{"misplaced timeout", yamlEdit("minutes: 15", "minutes: 15\ntimeout: 30s"), `lab.yaml:7: unknown field "timeout"; the fields of lab.yaml are slug, title, pattern, summary, difficulty, minutes, module, lessons, limits, image, sandbox, parts, tests (the time limit is limits.time`},
		{"points not a number", yamlEdit("{name: TestHidden, points: 3}", "{name: TestHidden, points: lots}"), `labs/demo/lab.yaml:12: tests[1].points: "lots" is not a whole number`},
		{"lessons not a list", yamlEdit("lessons: [partial-failure]", "lessons: partial-failure"), `labs/demo/lab.yaml:8: lessons: expected a list`},
		{"tests not a list", yamlEdit("tests:\n  - {name: TestVisible, points: 1}\n  - {name: TestHidden, points: 3}", "tests: {name: TestVisible}"), `labs/demo/lab.yaml:10: tests: expected a list`},
		{"bad YAML", yamlEdit("minutes: 15", "minutes: 15\n  - oops: [\n"), "labs/demo/lab.yaml:"},
		{"rule not in README", yamlEdit("{name: TestVisible, points: 1}", "{name: TestVisible, points: 1, rules: [R1, R3]}"), `lab.yaml: tests[0].rules: "R3" names no rule of the README (it has R1 to R2)`},
		{"rule twice on a test", yamlEdit("{name: TestVisible, points: 1}", "{name: TestVisible, points: 1, rules: [R1, R1]}"), `tests[0].rules: R1 is listed twice`},
		{"rule defined twice", put("demo/README.md", "# Demo\n\n- **R1** one.\n- **R2** two.\n- **R2** again.\n"), "labs/demo/README.md:5: rule R2 is already defined on line 4"},
		{"rule skipped", put("demo/README.md", "# Demo\n\n- **R1** one.\n- **R3** three.\n"), "labs/demo/README.md:4: rule R3 comes where R2 is due"},
		{"equivalent without reason", put("demo/equivalent.yaml", "equivalent:\n  - {id: demo.go:Upper:drop:0011aabb}\n"), "labs/demo/equivalent.yaml: equivalent[0].reason: required"},
		{"unreachable without reason", put("demo/equivalent.yaml", "unreachable:\n  - {id: demo.go:Upper:drop:0011aabb, reason: \" \"}\n"), "labs/demo/equivalent.yaml: unreachable[0].reason: required: say why no deterministic test can reach"},
		{"marked both ways", put("demo/equivalent.yaml", "equivalent:\n  - {id: a, reason: b}\nunreachable:\n  - {id: a, reason: c}\n"), "labs/demo/equivalent.yaml: unreachable[0].id: a is also listed under equivalent"},
		{"equivalent unknown field", put("demo/equivalent.yaml", "equivalent:\n  - {id: x, why: y}\n"), `labs/demo/equivalent.yaml:2: equivalent[0]: unknown field "why"; the fields of equivalent[0] are id, mutant, reason`},
		{"listed test absent", yamlEdit("  - {name: TestHidden, points: 3}", "  - {name: TestHidden, points: 3}\n  - {name: TestGhost, points: 1}"),
			"labs/demo/lab.yaml: tests[2]: no Test func named TestGhost in tests/ or hidden/"},
		{"test present but unlisted", put("demo/hidden/extra_test.go", "package hidden\n\nimport \"testing\"\n\nfunc TestExtra(t *testing.T) {}\n"),
			"tests: TestExtra (in hidden/extra_test.go) is not listed"},
		{"go.mod in starter", put("demo/starter/go.mod", "module x.com/y\n"), "labs/demo/starter/go.mod: no go.mod here"},
		{"test file in solution", put("demo/solution/demo_test.go", "package demo\n"), "labs/demo/solution/demo_test.go: test files belong in tests/ or hidden/"},
		{"mutant file not in solution", put("demo/mutants/noop/other.go", "package demo\n"), "labs/demo/mutants/noop/other.go: not in solution/"},
		{"mutant changes nothing", put("demo/mutants/same/demo.go", demoSolution), "labs/demo/mutants/same/demo.go: identical to solution/demo.go"},
		{"slug mismatch", yamlEdit("slug: demo", "slug: other"), `slug: "other" does not match the folder name "demo"`},
		{"bad difficulty", yamlEdit("difficulty: intro", "difficulty: easy"), `difficulty: "easy" is not intro, intermediate or advanced`},
		{"zero minutes", yamlEdit("minutes: 15", "minutes: 0"), "minutes: required, a positive number"},
		{"bad module", yamlEdit("module: example.com/labs/demo", "module: demo"), "lab.yaml: module: "},
		{"bad time limit", yamlEdit("time: 45s", "time: soon"), `limits.time: "soon" is not a positive duration`},
		{"zero points", yamlEdit("{name: TestVisible, points: 1}", "{name: TestVisible, points: 0}"), "tests[0]: TestVisible: points must be positive"},
		{"duplicate listing", yamlEdit("  - {name: TestHidden, points: 3}", "  - {name: TestHidden, points: 3}\n  - {name: TestHidden, points: 1}"), "tests[2]: TestHidden is listed twice"},
		{"hidden in wrong package", put("demo/hidden/hidden_test.go", "package demo\n"), "hidden/hidden_test.go: package demo; hidden tests must be package hidden"},
		{"non-test file in tests", put("demo/tests/helper.go", "package demo\n"), "tests/helper.go: only *_test.go files belong in tests/"},
		{"missing solution", func(fs fstest.MapFS) { delete(fs, "demo/solution/demo.go"); delete(fs, "demo/solution/util/util.go") }, "labs/demo/solution: missing"},
		{"missing README", func(fs fstest.MapFS) { delete(fs, "demo/README.md") }, "labs/demo/README.md: missing"},
		{"stray entry", put("demo/notes.txt", "hi"), "labs/demo/notes.txt: unexpected entry"},
		{"unparsable Go", put("demo/starter/broken.go", "package demo\nfunc {"), "starter/broken.go: does not parse"},
		{"part without parts", yamlEdit("{name: TestHidden, points: 3}", "{name: TestHidden, points: 3, part: A}"),
			`labs/demo/lab.yaml:12: tests[1].part: "A" names a part, but lab.yaml declares no parts`},
		{"test without its part", partsEdit("{name: TestHidden, points: 3, part: B}", "{name: TestHidden, points: 3}"),
			"labs/demo/lab.yaml:15: tests[1].part: required for TestHidden: the lab has parts (A, B), so every test names the one it grades"},
		{"test of an unknown part", partsEdit("{name: TestHidden, points: 3, part: B}", "{name: TestHidden, points: 3, part: C}"),
			`labs/demo/lab.yaml:15: tests[1].part: "C" is not a part of the lab (parts: A, B)`},
		{"part without tests", partsEdit("{name: TestHidden, points: 3, part: B}", "{name: TestHidden, points: 3, part: A}"),
			"labs/demo/lab.yaml:12: parts[1]: part B has no tests; name it on the tests that grade it (tests[].part: B) or drop the part"},
		{"part without id", partsEdit("{id: B, title: Lower}", "{title: Lower}"), "labs/demo/lab.yaml:12: parts[1].id: required"},
		{"part id twice", partsEdit("{id: B, title: Lower}", "{id: A, title: Lower}"), "labs/demo/lab.yaml:12: parts[1].id: A is already the id of parts[0]"},
		{"part id with spaces", partsEdit("{id: B, title: Lower}", "{id: part two, title: Lower}"), `parts[1].id: "part two" must be 1 to 16 letters, digits or dashes`},
		{"part without title", partsEdit("{id: B, title: Lower}", "{id: B}"), "labs/demo/lab.yaml:12: parts[1].title: required (part B)"},
		{"part summary of two lines", partsEdit("{id: B, title: Lower}", "{id: B, title: Lower, summary: \"one\\ntwo\"}"), "parts[1].summary: one line, please (part B)"},
		{"part unknown field", partsEdit("{id: B, title: Lower}", "{id: B, title: Lower, points: 3}"), `labs/demo/lab.yaml:12: parts[1]: unknown field "points"; the fields of parts[1] are id, title, summary`},
		{"parts not a list", partsEdit("parts:\n  - {id: A, title: Upper, summary: Upper-case a word.}\n  - {id: B, title: Lower}\n", "parts: {id: A}\n"), "labs/demo/lab.yaml:10: parts: expected a list"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			fs := demoLab("demo")
			c.edit(fs)
			_, err := Load(fs)
			if faultline.ErrorCode(err) != faultline.EINVALID {
				t.Fatalf("Load error = %v, want EINVALID", err)
			}
			if msg := faultline.ErrorMessage(err); !strings.Contains(msg, c.want) {
				t.Fatalf("Load error message:\n%s\nwant it to contain %q", msg, c.want)
			}
		})
	}
}

// demoPartsYAML is demoYAML with two parts, one test each.
var demoPartsYAML = strings.Replace(strings.Replace(strings.Replace(demoYAML,
	"tests:\n", "parts:\n  - {id: A, title: Upper, summary: Upper-case a word.}\n  - {id: B, title: Lower}\ntests:\n", 1),
	"{name: TestVisible, points: 1}", "{name: TestVisible, points: 1, part: A, rules: [R1]}", 1),
	"{name: TestHidden, points: 3}", "{name: TestHidden, points: 3, part: B}", 1)

// A lab with parts: each test carries its part, parts keep their order and
// fields, a result's scores are summed per part, and the rule table is one
// table per part.
func TestLoadParts(t *testing.T) {
	fs := demoLab("demo")
	fs["demo/lab.yaml"] = &fstest.MapFile{Data: []byte(demoPartsYAML)}
	l, err := MustLoad(t, fs).Lab("demo")
	if err != nil {
		t.Fatal(err)
	}
	wantParts := []faultline.LabPart{{ID: "A", Title: "Upper", Summary: "Upper-case a word."}, {ID: "B", Title: "Lower"}}
	if !reflect.DeepEqual(l.Parts, wantParts) {
		t.Errorf("Parts = %+v, want %+v", l.Parts, wantParts)
	}
	wantTests := []faultline.LabTest{{Name: "TestVisible", Points: 1, Part: "A"}, {Name: "TestHidden", Points: 3, Hidden: true, Part: "B"}}
	if !reflect.DeepEqual(l.Tests, wantTests) {
		t.Errorf("Tests = %+v, want %+v", l.Tests, wantTests)
	}
	got := l.PartScores([]faultline.TestResult{
		{Name: "TestHidden", Status: faultline.TestFail, MaxScore: 3},
		{Name: "TestVisible", Status: faultline.TestPass, Score: 1, MaxScore: 1},
		{Name: "TestGone", Status: faultline.TestPass, Score: 5, MaxScore: 5},
	})
	want := []faultline.PartScore{
		{LabPart: wantParts[0], Score: 1, MaxScore: 1, Tests: 1, Passed: 1},
		{LabPart: wantParts[1], Score: 0, MaxScore: 3, Tests: 1, Passed: 0},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("PartScores = %+v, want %+v", got, want)
	}
	if !got[0].Full() || got[1].Full() {
		t.Errorf("Full() = %v, %v; want true, false", got[0].Full(), got[1].Full())
	}
	table := strings.Join(RuleTable(l), "\n")
	wantTable := "part A: Upper (1 points)\n" +
		"  R1   Upper upper-cases.                                         TestVisible\n" +
		"part B: Lower (3 points)\n" +
		"  (its tests check no rule)\n" +
		"rules no test checks:\n" +
		"  R2   It keeps the length.                                       (no test)"
	if table != wantTable {
		t.Errorf("RuleTable =\n%s\nwant\n%s", table, wantTable)
	}
	// Without parts nothing changes: no part on the tests, no part scores.
	plain, err := MustLoad(t, demoLab("demo")).Lab("demo")
	if err != nil {
		t.Fatal(err)
	}
	if plain.Parts != nil || plain.Tests[0].Part != "" || plain.PartScores([]faultline.TestResult{{Name: "TestVisible", Status: faultline.TestPass, Score: 1}}) != nil {
		t.Errorf("a lab without parts: Parts %v, tests %+v", plain.Parts, plain.Tests)
	}
}

// TestEveryLabFolderIsEmbedded fails when a lab folder is on disk but not in
// FS, or not ignored by the go command (its Go trees would then be built as
// packages of this module).
func TestEveryLabFolderIsEmbedded(t *testing.T) {
	entries, err := os.ReadDir(".")
	if err != nil {
		t.Fatal(err)
	}
	gomod, err := os.ReadFile("../go.mod")
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if !e.IsDir() {
			continue
		}
		if _, err := os.Stat(filepath.Join(e.Name(), "lab.yaml")); err != nil {
			continue
		}
		if _, err := fs.Stat(FS, e.Name()+"/lab.yaml"); err != nil {
			t.Errorf("lab folder %s is not embedded: add all:%s to the //go:embed lines of labs.go", e.Name(), e.Name())
		}
		if !strings.Contains(string(gomod), "./labs/"+e.Name()+"\n") {
			t.Errorf("lab folder %s is not ignored by the go command: add ./labs/%s to go.mod's ignore block", e.Name(), e.Name())
		}
	}
}

func TestEmbeddedCatalog(t *testing.T) {
	c, err := Load(FS)
	if err != nil {
		t.Fatalf("Load(FS): %v", err)
	}
	want := map[string][]string{
		"circuit-breaker":    {"circuit-breakers"},
		"consistent-hashing": {"consistent-hashing"},
	}
	for slug, lessons := range want {
		l, err := c.Lab(slug)
		if err != nil {
			t.Fatalf("Lab(%q): %v", slug, err)
		}
		if !reflect.DeepEqual(l.Lessons, lessons) {
			t.Errorf("%s: lessons = %q, want %q", slug, l.Lessons, lessons)
		}
	}
	for _, l := range c.All() {
		slug := l.Slug
		if len(l.Lessons) == 0 || l.README == "" {
			t.Errorf("%s: no lessons or no README", slug)
		}
		if len(l.Mutants) < 3 {
			t.Errorf("%s: %d mutants, want at least 3", slug, len(l.Mutants))
		}
		hidden := 0
		for _, tt := range l.Tests {
			if tt.Hidden {
				hidden += tt.Points
			}
		}
		if 2*hidden <= l.MaxScore() {
			t.Errorf("%s: hidden tests carry %d of %d points, want most", slug, hidden, l.MaxScore())
		}
	}
	std := c.StdImports()
	for _, p := range []string{"testing", "sync", "time", "crypto/sha256"} {
		if !contains(std, p) {
			t.Errorf("StdImports() = %q lacks %q", std, p)
		}
	}
}

func contains(s []string, v string) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}

// TestLoadRules checks rule ids read from the README (marks in code do not
// count; the text is the rule's first sentence as plain text), mapped to
// the tests lab.yaml lists for each, and equivalent.yaml read into the lab.
func TestLoadRules(t *testing.T) {
	fs := demoLab("demo")
	readme := "# Demo\n\n" +
		"```go\n// **R9** in a code block is not a rule\n```\n\n" +
		"- **R1** `Upper` returns its argument in **upper case**. Other text\n  follows.\n" +
		"- **R2** It keeps\n  the [length](/lessons/x) of the\n  string; always.\n\n" +
		"Text with `**R7**` in a code span, then **R3** an empty\nstring stays empty\n\n"
	fs["demo/README.md"] = &fstest.MapFile{Data: []byte(readme)}
	y := strings.Replace(demoYAML, "{name: TestVisible, points: 1}", "{name: TestVisible, points: 1, rules: [R1, R3]}", 1)
	y = strings.Replace(y, "{name: TestHidden, points: 3}", "{name: TestHidden, points: 3, rules: [R1]}", 1)
	fs["demo/lab.yaml"] = &fstest.MapFile{Data: []byte(y)}
	fs["demo/equivalent.yaml"] = &fstest.MapFile{Data: []byte("equivalent:\n  - id: demo.go:Upper:drop:0011aabb\n    mutant: drop the return\n    reason: \"  cannot happen  \"\n" +
		"unreachable:\n  - id: demo.go:Upper:swap:22ccdd33\n    reason: a race with no scheduling point\n")}
	l, err := MustLoad(t, fs).Lab("demo")
	if err != nil {
		t.Fatal(err)
	}
	want := []faultline.LabRule{
		{ID: "R1", Text: "Upper returns its argument in upper case.", Tests: []string{"TestVisible", "TestHidden"}},
		{ID: "R2", Text: "It keeps the length of the string;"},
		{ID: "R3", Text: "an empty string stays empty", Tests: []string{"TestVisible"}},
	}
	if !reflect.DeepEqual(l.Rules, want) {
		t.Errorf("Rules =\n%+v\nwant\n%+v", l.Rules, want)
	}
	if got := l.UntestedRules(); !reflect.DeepEqual(got, []string{"R2"}) {
		t.Errorf("UntestedRules() = %q, want [R2]", got)
	}
	if got := l.Equivalent; !reflect.DeepEqual(got, map[string]string{"demo.go:Upper:drop:0011aabb": "cannot happen"}) {
		t.Errorf("Equivalent = %q", got)
	}
	if got := l.Unreachable; !reflect.DeepEqual(got, map[string]string{"demo.go:Upper:swap:22ccdd33": "a race with no scheduling point"}) {
		t.Errorf("Unreachable = %q", got)
	}
	table := RuleTable(l)
	if len(table) != 3 || !strings.HasPrefix(table[0], "R1   Upper returns") || !strings.HasSuffix(table[0], "TestHidden, TestVisible") ||
		!strings.HasSuffix(table[1], "(no test)") {
		t.Errorf("RuleTable =\n%s", strings.Join(table, "\n"))
	}
}

// TestGradingTreeRefusesAModuleNamedLikeTheHiddenTests: the grader builds
// both test binaries into one folder, named by the last element of the
// import path, so a lab module named like the hidden tests' is refused.
func TestGradingTreeRefusesAModuleNamedLikeTheHiddenTests(t *testing.T) {
	for _, m := range []string{"example.com/labs/hidden", "example.com/hidden/v2"} {
		if _, err := GradingTree(&faultline.Lab{Slug: "x", Module: m}, nil); err == nil || !strings.Contains(err.Error(), "hidden.test") {
			t.Errorf("module %q: err = %v, want one naming hidden.test", m, err)
		}
	}
	for _, m := range []string{"example.com/labs/quorumkv", "example.com/hiddenness", "example.com/v2"} {
		if _, err := GradingTree(&faultline.Lab{Slug: "x", Module: m}, nil); err != nil {
			t.Errorf("module %q: %v", m, err)
		}
	}
}
