package content_test

import (
	"context"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/faultline-dev/faultline"
	"github.com/faultline-dev/faultline/content"
)

// goBlock is a fenced ```go block with an optional mark.
func goBlock(mark, src string) string {
	info := "go"
	if mark != "" {
		info += " " + mark
	}
	return "```" + info + "\n" + src + "```\n\n"
}

// pageWith is a lesson file whose body holds blocks, then a quiz.
func pageWith(slug string, order int, blocks ...string) *fstest.MapFile {
	return &fstest.MapFile{Data: []byte("---\ntitle: T\nslug: " + slug + "\nmodule: Foundations\norder: " +
		strconv.Itoa(order) + "\nsummary: s\n---\n\n## Code\n\n" + strings.Join(blocks, "") + "## Quiz\n\n" + testQuiz +
		"\n## Further reading\n\n- A paper.\n")}
}

func TestLoadChecksGoBlocksParse(t *testing.T) {
	tests := []struct {
		name  string
		block string
		wants []string
	}{
		{"no package clause", goBlock("", "func F() {}\n"),
			[]string{"lessons/e-go.md:12: go: expected 'package'", "mark an excerpt ```go fragment"}},
		{"not gofmt-formatted", goBlock("", "package p\n\nfunc F()  {}\n"),
			[]string{"lessons/e-go.md:12: go: not formatted as gofmt formats it"}},
		{"unknown mark", goBlock("snippet", "package p\n"),
			[]string{"lessons/e-go.md:12: go: unknown mark \"snippet\" after go (known: example, fragment)"}},
		{"fragment that does not parse", goBlock("fragment", "x := := 1\n"),
			[]string{"lessons/e-go.md:12: go: fragment does not parse", "line 1"}},
		{"example without output", goBlock("example", "package p\n\nfunc Example() {}\n"),
			[]string{"lessons/e-go.md:12: go: marked example but has no Example function with an // Output: comment"}},
		{"unmarked example with output", goBlock("", "package p\n\nimport \"fmt\"\n\nfunc Example() {\n\tfmt.Println(1)\n\t// Output: 1\n}\n"),
			[]string{"lessons/e-go.md:12: go: has Example functions with // Output: comments; mark it ```go example"}},
		{"example in package main", goBlock("example", "package main\n\nimport \"fmt\"\n\nfunc Example() {\n\tfmt.Println(1)\n\t// Output: 1\n}\n"),
			[]string{"lessons/e-go.md:12: go: an example cannot be in package main"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fsys := validFS()
			fsys["lessons/e-go.md"] = pageWith("e-go", 3, tt.block)
			_, err := content.Load(fsys)
			if code := faultline.ErrorCode(err); code != faultline.EINVALID {
				t.Fatalf("Load code = %q (err %v), want %q", code, err, faultline.EINVALID)
			}
			msg := faultline.ErrorMessage(err)
			for _, want := range tt.wants {
				if !strings.Contains(msg, want) {
					t.Errorf("message lacks %q:\n%s", want, msg)
				}
			}
		})
	}
}

func TestLoadKeepsGoBlocks(t *testing.T) {
	fsys := validFS()
	fsys["lessons/e-go.md"] = pageWith("e-go", 3,
		goBlock("", "package p\n\nfunc F() int { return 1 }\n"),
		goBlock("fragment", "x := F()\n"),
		goBlock("example", "package p\n\nimport \"fmt\"\n\nfunc ExampleF() {\n\tfmt.Println(F())\n\t// Output: 1\n}\n"))
	c := MustLoad(t, fsys)
	var got []string
	for _, s := range c.Snippets() {
		got = append(got, s.File+":"+s.Mark)
		if s.File == "lessons/e-go.md" && s.Mark == content.SnippetFragment && (s.Line != 18 || s.Source != "x := F()\n") {
			t.Errorf("fragment = %+v, want line 18 and its source", s)
		}
	}
	if want := []string{"lessons/e-go.md:", "lessons/e-go.md:fragment", "lessons/e-go.md:example"}; !slices.Equal(got, want) {
		t.Errorf("snippets = %q, want %q", got, want)
	}
	// Highlighted as Go all the same.
	l, _ := c.Lesson("e-go")
	if n := strings.Count(l.HTML, `class="chroma"`); n != 3 {
		t.Errorf("%d highlighted blocks, want 3:\n%s", n, l.HTML)
	}
}

// TestCheckSnippets compiles and runs one set of blocks with the real go
// command: each page holds one kind of mistake, and the good pages report
// nothing.
func TestCheckSnippets(t *testing.T) {
	if _, err := exec.LookPath("go"); err != nil {
		t.Fatalf("the go command is needed: %v", err)
	}
	s := func(file string, line int, mark, src string) content.Snippet {
		return content.Snippet{File: file, Line: line, Mark: mark, Source: src}
	}
	snippets := []content.Snippet{
		// Two blocks of one package and an example calling both.
		s("lessons/good.md", 10, "", "package ring\n\nfunc Double(x int) int { return 2 * x }\n"),
		s("lessons/good.md", 20, "", "package ring\n\nfunc Triple(x int) int { return 3 * x }\n"),
		s("lessons/good.md", 30, "fragment", "y := Double(Missing)\n"),
		s("lessons/good.md", 40, "example", "package ring\n\nimport \"fmt\"\n\nfunc ExampleDouble() {\n\tfmt.Println(Double(2), Triple(2))\n\t// Output: 4 6\n}\n\nfunc Example_unordered() {\n\tfmt.Println(\"b\")\n\tfmt.Println(\"a\")\n\t// Unordered output:\n\t// a\n\t// b\n}\n"),
		// The same package name on another page is another package.
		s("cases/other.md", 5, "", "package ring\n\nfunc Double(s string) string { return s + s }\n"),
		// A compile error, reported at the page's line.
		s("lessons/broken.md", 50, "", "package broken\n\nfunc F() int {\n\treturn \"x\"\n}\n"),
		// vet's printf check.
		s("lessons/vet.md", 7, "", "package vetted\n\nimport \"fmt\"\n\nfunc F() string { return fmt.Sprintf(\"%d\", \"s\") }\n"),
		// Wrong output, and a panic.
		s("lessons/wrong.md", 60, "", "package wrong\n\nfunc Add(a, b int) int { return a - b }\n"),
		s("lessons/wrong.md", 70, "example", "package wrong\n\nimport \"fmt\"\n\nfunc ExampleAdd() {\n\tfmt.Println(Add(2, 2))\n\t// Output: 4\n}\n\nfunc Example_panics() {\n\tvar m map[string]int\n\tm[\"x\"] = 1\n\t// Output:\n}\n"),
	}
	rep, err := content.CheckSnippets(context.Background(), snippets)
	if err != nil {
		t.Fatal(err)
	}
	wants := []string{
		"lessons/broken.md:53: go: cannot use \"x\"",
		"lessons/vet.md:11: go: fmt.Sprintf format %d has arg \"s\" of wrong type string",
	}
	for _, want := range wants {
		if !slices.ContainsFunc(rep.Problems, func(p string) bool { return strings.HasPrefix(p, want) }) {
			t.Errorf("problems lack %q:\n%s", want, strings.Join(rep.Problems, "\n"))
		}
	}
	for _, p := range rep.Problems {
		if strings.Contains(p, "good.md") || strings.Contains(p, "other.md") {
			t.Errorf("a good block reported: %s", p)
		}
	}
	if rep.Compiled != 8 || rep.Fragments != 1 {
		t.Errorf("compiled %d, fragments %d; want 8 and 1", rep.Compiled, rep.Fragments)
	}

	// With the compile errors gone, the examples run.
	var runnable []content.Snippet
	for _, sn := range snippets {
		if !strings.Contains(sn.File, "broken") && !strings.Contains(sn.File, "vet") {
			runnable = append(runnable, sn)
		}
	}
	rep, err = content.CheckSnippets(context.Background(), runnable)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		`lessons/wrong.md:74: go example: ExampleAdd printed "0", want "4"`,
		`lessons/wrong.md:79: go example: Example_panics panicked: assignment to entry in nil map`,
	}
	if !slices.Equal(rep.Problems, want) {
		t.Errorf("problems:\n%s\nwant:\n%s", strings.Join(rep.Problems, "\n"), strings.Join(want, "\n"))
	}
	if rep.Examples != 4 {
		t.Errorf("ran %d examples, want 4", rep.Examples)
	}
}

// TestEmbeddedSnippets compiles and runs the Go blocks of the shipped course.
func TestEmbeddedSnippets(t *testing.T) {
	c, err := content.Load(content.FS)
	if err != nil {
		t.Fatal(err)
	}
	rep, err := content.CheckSnippets(context.Background(), c.Snippets())
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range rep.Problems {
		t.Error(p)
	}
	if rep.Compiled < 50 || rep.Examples < 30 {
		t.Errorf("compiled %d blocks and ran %d examples; the course has more", rep.Compiled, rep.Examples)
	}
}
