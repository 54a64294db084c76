// Package content holds Faultline's course: lessons and case studies written
// as Markdown with YAML front matter, embedded in the binary, validated and
// rendered to sanitized HTML once at load. It also renders other Markdown (lab
// READMEs) with the same pipeline.
//
// Layout of the content tree:
//
//	lessons/modules.yaml   the course modules, in order (the one place they are declared)
//	lessons/<slug>.md      a lesson (kind "lesson"), in a module
//	cases/<slug>.md        a case study (kind "case")
package content

import (
	"embed"
	"fmt"
	"io/fs"
	"path"
	"sort"
	"strings"

	"github.com/faultline-dev/faultline"
)

// FS is the course as shipped: lessons/ and cases/.
//
//go:embed lessons cases
var FS embed.FS

// Lesson kinds, from the folder a file is in.
const (
	KindLesson = "lesson"
	KindCase   = "case"
)

// Module is one module of the course with its lessons in order.
type Module struct {
	Title   string
	Lessons []*faultline.Lesson
}

// Catalog is the loaded, rendered course. It is read-only after Load and safe
// for concurrent use.
type Catalog struct {
	modules []Module            // non-empty modules, in course order
	course  []*faultline.Lesson // every lesson, in course order
	cases   []*faultline.Lesson // case studies, by order then slug
	bySlug  map[string]*faultline.Lesson
	labs    map[string][]string // lab slug → lesson and case slugs, in course order
	labRefs []LabRef            // body links to /labs/<slug>
	snips   []Snippet           // ```go blocks, by file then line
}

// LabRef is a lab named by a lesson or case study: in its front matter
// (Link false) or as a /labs/<slug> link in its body (Link true).
type LabRef struct {
	File string // e.g. lessons/circuit-breakers.md
	Lab  string
	Link bool
}

// LabRefs returns every lab a lesson or case study names, in front matter or
// in a body link, so a check can compare them with the lab catalog.
func (c *Catalog) LabRefs() []LabRef {
	var out []LabRef
	for _, l := range append(append([]*faultline.Lesson(nil), c.course...), c.cases...) {
		for _, lab := range l.Labs {
			out = append(out, LabRef{File: fileOf(l), Lab: lab})
		}
	}
	refs := append([]LabRef(nil), c.labRefs...)
	sort.SliceStable(refs, func(i, j int) bool { return refs[i].File < refs[j].File })
	return append(out, refs...)
}

// Snippets returns every ```go block of the lessons and case studies, so a
// check can compile and run them (see CheckSnippets).
func (c *Catalog) Snippets() []Snippet {
	return append([]Snippet(nil), c.snips...)
}

// Modules returns the modules that have lessons, in course order, each with its
// lessons in order. Modules declared in modules.yaml without lessons yet are
// left out.
func (c *Catalog) Modules() []Module {
	out := make([]Module, len(c.modules))
	for i, m := range c.modules {
		out[i] = Module{Title: m.Title, Lessons: append([]*faultline.Lesson(nil), m.Lessons...)}
	}
	return out
}

// Lesson returns the lesson or case study with the slug; ENOTFOUND if there is
// none.
func (c *Catalog) Lesson(slug string) (*faultline.Lesson, error) {
	if l, ok := c.bySlug[slug]; ok {
		return l, nil
	}
	return nil, faultline.Errorf(faultline.ENOTFOUND, "There is no lesson %q.", slug)
}

// Lessons returns every lesson (not case studies) in course order.
func (c *Catalog) Lessons() []*faultline.Lesson {
	return append([]*faultline.Lesson(nil), c.course...)
}

// Cases returns the case studies, ordered by their order field, then slug.
func (c *Catalog) Cases() []*faultline.Lesson {
	return append([]*faultline.Lesson(nil), c.cases...)
}

// Neighbours returns the lessons before and after slug in course order (for a
// case study: in the order of Cases). Either is nil at an end, and both are nil
// for an unknown slug.
func (c *Catalog) Neighbours(slug string) (prev, next *faultline.Lesson) {
	l, ok := c.bySlug[slug]
	if !ok {
		return nil, nil
	}
	list := c.course
	if l.Kind == KindCase {
		list = c.cases
	}
	for i, x := range list {
		if x != l {
			continue
		}
		if i > 0 {
			prev = list[i-1]
		}
		if i+1 < len(list) {
			next = list[i+1]
		}
		break
	}
	return prev, next
}

// LabLinks maps each lab slug named in front matter to the slugs of the
// lessons and case studies that name it (lessons in course order, then cases),
// so a check can compare it with the labs' own lesson lists.
func (c *Catalog) LabLinks() map[string][]string {
	out := make(map[string][]string, len(c.labs))
	for lab, slugs := range c.labs {
		out[lab] = append([]string(nil), slugs...)
	}
	return out
}

// Load reads lessons/modules.yaml, lessons/*.md and cases/*.md from fsys,
// validates the front matter and internal links, renders every body once and
// returns the catalog. Every problem found is reported, one per line, each
// naming the file and the field, in an EINVALID error; errors reading fsys are
// internal and wrapped with the path.
func Load(fsys fs.FS) (*Catalog, error) {
	var probs problems
	modules, err := loadModules(fsys, &probs)
	if err != nil {
		return nil, err
	}
	var docs []*document
	for _, dir := range []string{"lessons", "cases"} {
		ds, err := readDocuments(fsys, dir, modules, &probs)
		if err != nil {
			return nil, err
		}
		docs = append(docs, ds...)
	}
	if err := probs.err(); err != nil {
		return nil, err
	}

	c := &Catalog{bySlug: make(map[string]*faultline.Lesson), labs: make(map[string][]string)}
	for _, d := range docs {
		if other, ok := c.bySlug[d.lesson.Slug]; ok {
			probs.add(d.file, 0, "slug", "%q is also used by %s", d.lesson.Slug, fileOf(other))
			continue
		}
		c.bySlug[d.lesson.Slug] = d.lesson
	}
	checkOrders(docs, &probs)
	for _, d := range docs {
		c.snips = append(c.snips, d.snippets...)
		for _, link := range d.links {
			if link.kind == kindLab {
				c.labRefs = append(c.labRefs, LabRef{File: d.file, Lab: link.slug, Link: true})
				continue
			}
			if _, ok := c.bySlug[link.slug]; !ok || c.bySlug[link.slug].Kind != link.kind {
				probs.add(d.file, 0, "body", "link %q points to no %s", link.dest, link.kind)
			}
		}
	}
	if err := probs.err(); err != nil {
		return nil, err
	}

	// Course order: modules as declared, lessons by order within each.
	byModule := make(map[string][]*faultline.Lesson)
	for _, d := range docs {
		l := d.lesson
		if l.Kind == KindCase {
			c.cases = append(c.cases, l)
		} else {
			byModule[l.Module] = append(byModule[l.Module], l)
		}
	}
	for _, title := range modules.order {
		ls := byModule[title]
		if len(ls) == 0 {
			continue
		}
		sort.Slice(ls, func(i, j int) bool { return ls[i].Order < ls[j].Order })
		c.modules = append(c.modules, Module{Title: title, Lessons: ls})
		c.course = append(c.course, ls...)
	}
	sort.Slice(c.cases, func(i, j int) bool {
		a, b := c.cases[i], c.cases[j]
		if a.Order != b.Order {
			return a.Order < b.Order
		}
		return a.Slug < b.Slug
	})
	for _, l := range append(append([]*faultline.Lesson(nil), c.course...), c.cases...) {
		for _, lab := range l.Labs {
			c.labs[lab] = append(c.labs[lab], l.Slug)
		}
	}
	return c, nil
}

// checkOrders reports two lessons of one module, or two cases, sharing an order.
func checkOrders(docs []*document, probs *problems) {
	seen := make(map[string]*document)
	for _, d := range docs {
		key := fmt.Sprintf("%s\x00%s\x00%d", d.lesson.Kind, d.lesson.Module, d.lesson.Order)
		if other, ok := seen[key]; ok {
			probs.add(d.file, d.orderLine, "order", "%d is also the order of %s", d.lesson.Order, other.file)
			continue
		}
		seen[key] = d
	}
}

// fileOf returns the content path a lesson was loaded from.
func fileOf(l *faultline.Lesson) string {
	dir := "lessons"
	if l.Kind == KindCase {
		dir = "cases"
	}
	return path.Join(dir, l.Slug+".md")
}

// problems collects content errors so authors see all of them at once.
type problems []string

func (p *problems) add(file string, line int, field, format string, args ...any) {
	loc := file
	if line > 0 {
		loc = fmt.Sprintf("%s:%d", file, line)
	}
	msg := loc + ": "
	if field != "" {
		msg += field + ": "
	}
	*p = append(*p, msg+fmt.Sprintf(format, args...))
}

func (p problems) err() error {
	if len(p) == 0 {
		return nil
	}
	return faultline.Errorf(faultline.EINVALID, "Content has %d problem(s):\n%s", len(p), strings.Join(p, "\n"))
}
