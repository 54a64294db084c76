package content_test

import (
	"maps"
	"slices"
	"strconv"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/PuerkitoBio/goquery"
	"github.com/faultline-dev/faultline"
	"github.com/faultline-dev/faultline/content"
)

// MustLoad loads the catalog from fsys.
func MustLoad(tb testing.TB, fsys fstest.MapFS) *content.Catalog {
	tb.Helper()
	c, err := content.Load(fsys)
	if err != nil {
		tb.Fatalf("Load: %v", err)
	}
	return c
}

const testModules = "modules:\n  - Foundations\n  - Resilience\n  - Data distribution\n"

// testQuiz is a valid ```quiz block.
const testQuiz = "```quiz\n" +
	"- question: One?\n  choices: [a, b]\n  answer: 1\n  explain: Because a.\n" +
	"- question: Two?\n  choices: [a, b, c]\n  answer: 3\n  explain: Because c.\n" +
	"- question: Three?\n  choices: [a, b]\n  answer: 2\n  explain: Because b.\n" +
	"```\n"

// doc builds a Markdown file from front-matter lines and a body with a quiz.
func doc(front ...string) *fstest.MapFile {
	return &fstest.MapFile{Data: []byte("---\n" + strings.Join(front, "\n") + "\n---\n\n## Body\n\nText.\n\n## Quiz\n\n" + testQuiz + "\n## After\n\nMore.\n")}
}

// validFS is a small course whose files are listed out of course order.
func validFS() fstest.MapFS {
	return fstest.MapFS{
		"lessons/modules.yaml": {Data: []byte(testModules)},
		"lessons/a-ring.md":    doc("title: Ring", "slug: a-ring", "module: Data distribution", "order: 1", "summary: s", "labs: [ring-lab]"),
		"lessons/b-timeouts.md": doc("title: Timeouts", "slug: b-timeouts", "module: Foundations", "module_order: 1", "order: 2",
			"summary: s"),
		"lessons/c-failure.md": doc("title: Failure", "slug: c-failure", "module: Foundations", "order: 1", "summary: s"),
		"lessons/d-breaker.md": doc("title: Breaker", "slug: d-breaker", "module: Resilience", "order: 1", "summary: s", "labs: [breaker-lab]"),
		"cases/y-case.md":      doc("title: Y", "slug: y-case", "order: 2", "summary: s", "labs: [ring-lab]"),
		"cases/z-case.md":      doc("title: Z", "slug: z-case", "order: 1", "summary: s"),
	}
}

func slugs(ls []*faultline.Lesson) []string {
	var out []string
	for _, l := range ls {
		out = append(out, l.Slug)
	}
	return out
}

func TestLoadOrdersModulesAndLessons(t *testing.T) {
	c := MustLoad(t, validFS())
	var titles []string
	var order []string
	for _, m := range c.Modules() {
		titles = append(titles, m.Title)
		order = append(order, slugs(m.Lessons)...)
	}
	if want := []string{"Foundations", "Resilience", "Data distribution"}; !slices.Equal(titles, want) {
		t.Errorf("modules = %q, want %q", titles, want)
	}
	if want := []string{"c-failure", "b-timeouts", "d-breaker", "a-ring"}; !slices.Equal(order, want) {
		t.Errorf("course order = %q, want %q", order, want)
	}
	if got, want := slugs(c.Cases()), []string{"z-case", "y-case"}; !slices.Equal(got, want) {
		t.Errorf("cases = %q, want %q", got, want)
	}
	l, err := c.Lesson("b-timeouts")
	if err != nil {
		t.Fatal(err)
	}
	if l.Kind != "lesson" || l.Module != "Foundations" || l.Order != 2 || l.Title != "Timeouts" {
		t.Errorf("lesson = %+v", l)
	}
	if cs, _ := c.Lesson("y-case"); cs == nil || cs.Kind != "case" || cs.Module != "" {
		t.Errorf("case = %+v", cs)
	}
	wantLinks := map[string][]string{"ring-lab": {"a-ring", "y-case"}, "breaker-lab": {"d-breaker"}}
	if got := c.LabLinks(); !maps.EqualFunc(got, wantLinks, slices.Equal) {
		t.Errorf("LabLinks = %v, want %v", got, wantLinks)
	}
}

func TestNeighbours(t *testing.T) {
	c := MustLoad(t, validFS())
	tests := []struct{ slug, prev, next string }{
		{"c-failure", "", "b-timeouts"},
		{"b-timeouts", "c-failure", "d-breaker"}, // across a module boundary
		{"d-breaker", "b-timeouts", "a-ring"},
		{"a-ring", "d-breaker", ""},
		{"z-case", "", "y-case"}, // case studies among themselves
		{"y-case", "z-case", ""},
		{"no-such", "", ""},
	}
	for _, tt := range tests {
		prev, next := c.Neighbours(tt.slug)
		if got := slugOrEmpty(prev); got != tt.prev {
			t.Errorf("Neighbours(%q) prev = %q, want %q", tt.slug, got, tt.prev)
		}
		if got := slugOrEmpty(next); got != tt.next {
			t.Errorf("Neighbours(%q) next = %q, want %q", tt.slug, got, tt.next)
		}
	}
}

func slugOrEmpty(l *faultline.Lesson) string {
	if l == nil {
		return ""
	}
	return l.Slug
}

func TestLessonNotFound(t *testing.T) {
	c := MustLoad(t, validFS())
	l, err := c.Lesson("nope")
	if code := faultline.ErrorCode(err); code != faultline.ENOTFOUND {
		t.Errorf("Lesson(nope) code = %q (err %v), want %q", code, err, faultline.ENOTFOUND)
	}
	if l != nil {
		t.Errorf("Lesson(nope) = %+v, want nil", l)
	}
}

func TestLoadFrontMatterErrors(t *testing.T) {
	tests := []struct {
		name  string
		file  string
		data  string // replaces or adds this file
		wants []string
	}{
		{"missing title", "lessons/c-failure.md",
			"---\nslug: c-failure\nmodule: Foundations\norder: 1\nsummary: s\n---\nBody\n",
			[]string{"lessons/c-failure.md", "title: required"}},
		{"unknown key", "lessons/c-failure.md",
			"---\ntitle: T\nslug: c-failure\nmodule: Foundations\norder: 1\nsummary: s\nauthor: me\n---\nBody\n",
			[]string{"lessons/c-failure.md:7", "author: unknown field"}},
		{"slug mismatch", "lessons/c-failure.md",
			"---\ntitle: T\nslug: failure\nmodule: Foundations\norder: 1\nsummary: s\n---\nBody\n",
			[]string{"lessons/c-failure.md", `slug: "failure" does not match the file name; want "c-failure"`}},
		{"unknown module", "lessons/c-failure.md",
			"---\ntitle: T\nslug: c-failure\nmodule: Astrology\norder: 1\nsummary: s\n---\nBody\n",
			[]string{"lessons/c-failure.md:4", `module: unknown module "Astrology"`}},
		{"missing module", "lessons/c-failure.md",
			"---\ntitle: T\nslug: c-failure\norder: 1\nsummary: s\n---\nBody\n",
			[]string{"lessons/c-failure.md", "module: required"}},
		{"module_order disagrees", "lessons/c-failure.md",
			"---\ntitle: T\nslug: c-failure\nmodule: Resilience\nmodule_order: 1\norder: 9\nsummary: s\n---\nBody\n",
			[]string{"lessons/c-failure.md", "module_order: 1 disagrees"}},
		{"order not an integer", "lessons/c-failure.md",
			"---\ntitle: T\nslug: c-failure\nmodule: Foundations\norder: first\nsummary: s\n---\nBody\n",
			[]string{"lessons/c-failure.md:5", "order: must be an integer"}},
		{"title not a string", "lessons/c-failure.md",
			"---\ntitle: [a, b]\nslug: c-failure\nmodule: Foundations\norder: 1\nsummary: s\n---\nBody\n",
			[]string{"lessons/c-failure.md:2", "title: must be a string"}},
		{"no front matter", "lessons/c-failure.md",
			"# Just Markdown\n",
			[]string{"lessons/c-failure.md:1", "front matter"}},
		{"case with module", "cases/z-case.md",
			"---\ntitle: Z\nslug: z-case\nmodule: Foundations\norder: 1\nsummary: s\n---\nBody\n",
			[]string{"cases/z-case.md", "module: only lessons"}},
		{"duplicate order", "lessons/e-dup.md",
			"---\ntitle: E\nslug: e-dup\nmodule: Foundations\norder: 1\nsummary: s\n---\nBody\n" + testQuiz,
			[]string{"lessons/e-dup.md:5", "order: 1 is also the order of lessons/c-failure.md"}},
		{"slug used by a lesson and a case", "cases/a-ring.md",
			"---\ntitle: R\nslug: a-ring\norder: 5\nsummary: s\n---\nBody\n",
			[]string{"a-ring.md", `slug: "a-ring" is also used by`}},
		{"broken internal link", "lessons/c-failure.md",
			"---\ntitle: T\nslug: c-failure\nmodule: Foundations\norder: 1\nsummary: s\n---\nSee [this](/lessons/missing#x) and [that](/cases/a-ring).\n" + testQuiz,
			[]string{"lessons/c-failure.md", `body: link "/lessons/missing#x" points to no lesson`, `link "/cases/a-ring" points to no case`}},
		{"bad lab slug", "lessons/c-failure.md",
			"---\ntitle: T\nslug: c-failure\nmodule: Foundations\norder: 1\nsummary: s\nlabs: [Circuit Breaker]\n---\nBody\n",
			[]string{"lessons/c-failure.md", `labs: "Circuit Breaker" is not a lab slug`}},
		{"discussion on a lesson", "lessons/c-failure.md",
			"---\ntitle: T\nslug: c-failure\nmodule: Foundations\norder: 1\nsummary: s\ndiscussion: [a, b, c]\n---\nBody\n" + testQuiz,
			[]string{"lessons/c-failure.md:7", "discussion: only case studies have discussion prompts"}},
		{"too few discussion prompts", "cases/z-case.md",
			"---\ntitle: Z\nslug: z-case\norder: 1\nsummary: s\ndiscussion:\n  - Why?\n  - How?\n---\nBody\n",
			[]string{"cases/z-case.md:6", "discussion: has 2 prompts; want 3 to 4"}},
		{"too many discussion prompts", "cases/z-case.md",
			"---\ntitle: Z\nslug: z-case\norder: 1\nsummary: s\ndiscussion: [a, b, c, d, e]\n---\nBody\n",
			[]string{"cases/z-case.md:6", "discussion: has 5 prompts"}},
		{"discussion not a list", "cases/z-case.md",
			"---\ntitle: Z\nslug: z-case\norder: 1\nsummary: s\ndiscussion: Talk about it.\n---\nBody\n",
			[]string{"cases/z-case.md:6", "discussion: must be a list of prompts, each a string"}},
		{"discussion prompt a mapping", "cases/z-case.md",
			"---\ntitle: Z\nslug: z-case\norder: 1\nsummary: s\ndiscussion:\n  - a?\n  - {b: c}\n  - d?\n---\nBody\n",
			[]string{"cases/z-case.md:6", "discussion: must be a list of prompts, each a string"}},
		{"empty and repeated prompts", "cases/z-case.md",
			"---\ntitle: Z\nslug: z-case\norder: 1\nsummary: s\ndiscussion: [\"Why?\", \" \", \"Why?\"]\n---\nBody\n",
			[]string{"discussion: prompt 2 is empty", "discussion: prompt 3 repeats an earlier one"}},
		{"stray file", "lessons/notes.txt", "hello",
			[]string{"lessons/notes.txt", "unexpected"}},
		{"unknown key in modules.yaml", "lessons/modules.yaml", "modules: [Foundations]\ncolour: red\n",
			[]string{"lessons/modules.yaml", "colour"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fsys := validFS()
			fsys[tt.file] = &fstest.MapFile{Data: []byte(tt.data)}
			c, err := content.Load(fsys)
			if code := faultline.ErrorCode(err); code != faultline.EINVALID {
				t.Fatalf("Load code = %q (err %v), want %q", code, err, faultline.EINVALID)
			}
			if c != nil {
				t.Errorf("Load returned a catalog with an error")
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

func TestLoadDiscussion(t *testing.T) {
	fsys := validFS()
	fsys["cases/z-case.md"] = doc("title: Z", "slug: z-case", "order: 1", "summary: s",
		"discussion:", "  - \"Which failure would you design for first, and why?\"", "  - \"What would you give up: latency or availability?\"",
		"  - Where would you put the pivot?")
	c := MustLoad(t, fsys)
	z, _ := c.Lesson("z-case")
	want := []string{"Which failure would you design for first, and why?", "What would you give up: latency or availability?", "Where would you put the pivot?"}
	if !slices.Equal(z.Discussion, want) {
		t.Errorf("Discussion = %q, want %q", z.Discussion, want)
	}
	if y, _ := c.Lesson("y-case"); y.Discussion != nil {
		t.Errorf("a case without prompts has %q", y.Discussion)
	}
}

func TestLoadReportsEveryProblem(t *testing.T) {
	fsys := validFS()
	fsys["lessons/c-failure.md"] = &fstest.MapFile{Data: []byte("---\nslug: c-failure\nmodule: Foundations\norder: 1\nsummary: s\n---\nx\n")}
	fsys["cases/z-case.md"] = &fstest.MapFile{Data: []byte("---\ntitle: Z\nslug: z\norder: 1\nsummary: s\n---\nx\n")}
	_, err := content.Load(fsys)
	msg := faultline.ErrorMessage(err)
	for _, want := range []string{"lessons/c-failure.md: title: required", `cases/z-case.md: slug: "z" does not match`} {
		if !strings.Contains(msg, want) {
			t.Errorf("message lacks %q:\n%s", want, msg)
		}
	}
}

// The shipped course.

// maxDiagramWidth is the widest diagram the shipped course allows, in SVG
// pixels: about 60 columns of ASCII art, which a phone shows at about three
// quarters of its size.
const maxDiagramWidth = 480

func TestEmbeddedCatalog(t *testing.T) {
	c, err := content.Load(content.FS)
	if err != nil {
		t.Fatalf("Load(FS): %v", err)
	}
	// The course grows; check what the shipped pages promise rather than an
	// exact list.
	var order []string
	for _, m := range c.Modules() {
		order = append(order, slugs(m.Lessons)...)
	}
	for _, want := range []string{"partial-failure", "circuit-breakers", "consistent-hashing"} {
		if !slices.Contains(order, want) {
			t.Errorf("course %q lacks %q", order, want)
		}
	}
	if got := slugs(c.Cases()); !slices.Contains(got, "dynamo") {
		t.Errorf("cases = %q, want dynamo among them", got)
	}
	links := c.LabLinks()
	if !slices.Contains(links["circuit-breaker"], "circuit-breakers") || !slices.Contains(links["consistent-hashing"], "dynamo") {
		t.Errorf("LabLinks = %v", links)
	}

	for _, l := range append(c.Lessons(), c.Cases()...) {
		t.Run(l.Slug, func(t *testing.T) {
			d, err := goquery.NewDocumentFromReader(strings.NewReader(l.HTML + l.AfterQuiz))
			if err != nil {
				t.Fatal(err)
			}
			sels := []string{"figure.diagram img", "h2#further-reading"}
			if l.Kind == content.KindLesson {
				sels = append(sels, "pre.chroma span.kd", "h2#quiz")
				if len(l.Quiz) < 3 {
					t.Errorf("quiz has %d questions", len(l.Quiz))
				}
			}
			for _, sel := range sels {
				if d.Find(sel).Length() == 0 {
					t.Errorf("no %q in the rendered page", sel)
				}
			}
			if n := d.Find("[style], script").Length(); n != 0 {
				t.Errorf("%d inline styles or scripts", n)
			}
			for _, q := range l.Quiz {
				if strings.Contains(l.HTML+l.AfterQuiz, q.Explain) {
					t.Errorf("the explanation of %q is in the page body", q.Question)
				}
			}
			if words := len(strings.Fields(d.Text())); words < 1200 {
				t.Errorf("%d words; lessons are meant to be substantial (1,200 or more)", words)
			}
			// Sources: every number and product claim must be traceable.
			if n := d.Find("h2#further-reading").NextFiltered("ul").Find("li").Length(); n < 3 {
				t.Errorf("Further reading lists %d sources; want 3 or more, by name", n)
			}
			// Diagrams must stay legible on a 390-pixel phone screen, where
			// the page scales wider images down.
			d.Find("figure.diagram img").Each(func(_ int, img *goquery.Selection) {
				w, _ := img.Attr("width")
				if n, err := strconv.Atoi(w); err != nil || n > maxDiagramWidth {
					alt, _ := img.Attr("alt")
					t.Errorf("diagram %q is %s pixels wide; keep it to %d (about 60 columns)", alt, w, maxDiagramWidth)
				}
			})
			if l.Kind == content.KindCase && (len(l.Discussion) < 3 || len(l.Discussion) > 4) {
				t.Errorf("%d discussion prompts; a case study has 3 or 4", len(l.Discussion))
			}
		})
	}
}
