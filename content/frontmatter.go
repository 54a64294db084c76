package content

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"regexp"
	"strings"

	"github.com/faultline-dev/faultline"
	"github.com/yuin/goldmark/ast"
	"github.com/yuin/goldmark/text"
	"gopkg.in/yaml.v3"
)

// modulesFile declares the course modules in order; lessons name one of them.
const modulesFile = "lessons/modules.yaml"

var slugPattern = regexp.MustCompile(`^[a-z0-9]+(-[a-z0-9]+)*$`)

// courseModules is the parsed modules.yaml.
type courseModules struct {
	order    []string
	position map[string]int // title → 1-based position
}

// loadModules reads modules.yaml. Problems with its content go to probs; the
// error is for an unreadable file system.
func loadModules(fsys fs.FS, probs *problems) (*courseModules, error) {
	m := &courseModules{position: make(map[string]int)}
	b, err := fs.ReadFile(fsys, modulesFile)
	if errors.Is(err, fs.ErrNotExist) {
		probs.add(modulesFile, 0, "", "missing; it lists the course modules in order")
		return m, nil
	} else if err != nil {
		return nil, fmt.Errorf("read %s: %w", modulesFile, err)
	}
	var doc struct {
		Modules []string `yaml:"modules"`
	}
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	if err := dec.Decode(&doc); err != nil {
		probs.add(modulesFile, 0, "", "%s", yamlMessage(err))
		return m, nil
	}
	if len(doc.Modules) == 0 {
		probs.add(modulesFile, 0, "modules", "required: the list of module titles in course order")
	}
	for _, title := range doc.Modules {
		if strings.TrimSpace(title) == "" {
			probs.add(modulesFile, 0, "modules", "a module title is empty")
			continue
		}
		if _, dup := m.position[title]; dup {
			probs.add(modulesFile, 0, "modules", "%q is listed twice", title)
			continue
		}
		m.order = append(m.order, title)
		m.position[title] = len(m.order)
	}
	return m, nil
}

// document is one loaded Markdown file.
type document struct {
	file      string // e.g. lessons/partial-failure.md
	lesson    *faultline.Lesson
	links     []internalLink
	snippets  []Snippet
	orderLine int
}

// kindLab marks a link to /labs/<slug>; labs are checked against the lab
// catalog by the content check, not at load.
const kindLab = "lab"

// internalLink is a link in a body to another lesson, case study or lab.
type internalLink struct {
	dest string // as written
	kind string // KindLesson for /lessons/..., KindCase for /cases/..., kindLab for /labs/...
	slug string
}

// readDocuments loads every Markdown file of dir ("lessons" or "cases"). A
// missing directory holds nothing.
func readDocuments(fsys fs.FS, dir string, modules *courseModules, probs *problems) ([]*document, error) {
	entries, err := fs.ReadDir(fsys, dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	} else if err != nil {
		return nil, fmt.Errorf("read directory %s: %w", dir, err)
	}
	kind := KindLesson
	if dir == "cases" {
		kind = KindCase
	}
	var docs []*document
	for _, e := range entries {
		file := path.Join(dir, e.Name())
		if file == modulesFile {
			continue
		}
		if e.IsDir() || path.Ext(e.Name()) != ".md" {
			probs.add(file, 0, "", "unexpected; %s/ holds only <slug>.md files", dir)
			continue
		}
		b, err := fs.ReadFile(fsys, file)
		if err != nil {
			return nil, fmt.Errorf("read %s: %w", file, err)
		}
		if d := parseDocument(file, kind, b, modules, probs); d != nil {
			docs = append(docs, d)
		}
	}
	return docs, nil
}

// parseDocument validates and renders one file; it returns nil after adding
// its problems to probs.
func parseDocument(file, kind string, b []byte, modules *courseModules, probs *problems) *document {
	before := len(*probs)
	b = bytes.ReplaceAll(b, []byte("\r\n"), []byte("\n"))
	fm, body, ok := splitFrontMatter(b)
	if !ok {
		probs.add(file, 1, "front matter", "the file must start with a --- line, the YAML front matter, and a closing --- line")
		return nil
	}
	d := &document{file: file, lesson: &faultline.Lesson{Kind: kind, Labs: []string{}}}
	l := d.lesson

	var root yaml.Node
	if err := yaml.Unmarshal(fm, &root); err != nil {
		probs.add(file, 0, "front matter", "%s", yamlMessage(err))
		return nil
	}
	if len(root.Content) != 1 || root.Content[0].Kind != yaml.MappingNode {
		probs.add(file, 2, "front matter", "must be a YAML mapping of fields")
		return nil
	}
	var moduleOrder, moduleLine, discussionLine int
	seen := make(map[string]bool)
	fields := root.Content[0].Content
	for i := 0; i+1 < len(fields); i += 2 {
		key, val := fields[i], fields[i+1]
		line := key.Line + 1 // the opening --- is line 1
		name := key.Value
		if seen[name] {
			probs.add(file, line, name, "given twice")
			continue
		}
		seen[name] = true
		var err error
		want := "a string"
		switch name {
		case "title":
			err = decodeString(val, &l.Title)
		case "slug":
			err = decodeString(val, &l.Slug)
		case "module":
			err = decodeString(val, &l.Module)
			moduleLine = line
		case "module_order":
			want = "an integer"
			err = val.Decode(&moduleOrder)
		case "order":
			want = "an integer"
			err = val.Decode(&l.Order)
			d.orderLine = line
		case "summary":
			err = decodeString(val, &l.Summary)
		case "labs":
			want = "a list of lab slugs"
			err = val.Decode(&l.Labs)
		case "discussion":
			want = "a list of prompts, each a string"
			err = decodeStrings(val, &l.Discussion)
			discussionLine = line
			if err != nil {
				discussionLine = -1 // reported; nothing more to check
			}
		default:
			probs.add(file, line, name, "unknown field (known: title, slug, module, module_order, order, summary, labs, discussion)")
			continue
		}
		if err != nil {
			probs.add(file, line, name, "must be %s", want)
		}
	}

	if l.Labs == nil {
		l.Labs = []string{}
	}
	wantSlug := strings.TrimSuffix(path.Base(file), ".md")
	switch {
	case !seen["slug"]:
		probs.add(file, 0, "slug", "required (%q)", wantSlug)
	case l.Slug != wantSlug:
		probs.add(file, 0, "slug", "%q does not match the file name; want %q", l.Slug, wantSlug)
	case !slugPattern.MatchString(l.Slug):
		probs.add(file, 0, "slug", "%q must be lower-case words joined by '-'", l.Slug)
	}
	if strings.TrimSpace(l.Title) == "" {
		probs.add(file, 0, "title", "required")
	}
	if strings.TrimSpace(l.Summary) == "" {
		probs.add(file, 0, "summary", "required")
	}
	if !seen["order"] {
		probs.add(file, 0, "order", "required (position within the module, from 1)")
	} else if l.Order < 1 {
		probs.add(file, d.orderLine, "order", "must be 1 or more")
	}
	if kind == KindLesson {
		switch pos, known := modules.position[l.Module]; {
		case !seen["module"] || l.Module == "":
			probs.add(file, 0, "module", "required (one of the titles in %s)", modulesFile)
		case !known:
			probs.add(file, moduleLine, "module", "unknown module %q (known: %s)", l.Module, strings.Join(modules.order, ", "))
		case seen["module_order"] && moduleOrder != pos:
			probs.add(file, 0, "module_order", "%d disagrees with %s, where %q is module %d", moduleOrder, modulesFile, l.Module, pos)
		}
	} else {
		for _, f := range []string{"module", "module_order"} {
			if seen[f] {
				probs.add(file, 0, f, "only lessons belong to modules; remove it from a case study")
			}
		}
	}
	if seen["discussion"] && discussionLine >= 0 {
		checkDiscussion(file, discussionLine, kind, l.Discussion, probs)
	}
	labSeen := make(map[string]bool)
	for _, lab := range l.Labs {
		if !slugPattern.MatchString(lab) {
			probs.add(file, 0, "labs", "%q is not a lab slug", lab)
		} else if labSeen[lab] {
			probs.add(file, 0, "labs", "%q is listed twice", lab)
		}
		labSeen[lab] = true
	}
	if len(bytes.TrimSpace(body)) == 0 {
		probs.add(file, 0, "body", "empty")
	}
	if len(*probs) > before {
		return nil
	}

	// Lines before the body: the front matter and its two --- lines.
	bodyLine := bytes.Count(b[:len(b)-len(body)], []byte("\n"))
	doc := markdown.Parser().Parse(text.NewReader(body))
	d.links = internalLinks(doc)
	quizzes := 0
	_ = ast.Walk(doc, func(n ast.Node, entering bool) (ast.WalkStatus, error) {
		fc, ok := n.(*ast.FencedCodeBlock)
		if !entering || !ok {
			return ast.WalkContinue, nil
		}
		line := bodyLine + 1
		if fc.Lines().Len() > 0 {
			line += bytes.Count(body[:fc.Lines().At(0).Start], []byte("\n"))
		} else if fc.Info != nil {
			line += bytes.Count(body[:fc.Info.Segment.Start], []byte("\n")) + 1
		}
		switch string(fc.Language(body)) {
		case "diagram":
			if _, err := renderDiagramSVG(blockText(fc, body)); err != nil {
				probs.add(file, line, "diagram", "%v", err)
			}
		case "ring":
			if _, err := renderRingSVG(blockText(fc, body)); err != nil {
				probs.add(file, line, "ring", "%v", err)
			}
		case "go":
			s := Snippet{File: file, Line: line, Mark: blockCaption(fc, body, "go"), Source: blockText(fc, body)}
			_, ps := parseSnippet(s)
			for _, p := range ps {
				probs.add(file, p.line, "go", "%s", p.msg)
			}
			d.snippets = append(d.snippets, s)
		case "quiz":
			quizzes++
			if quizzes == 2 {
				probs.add(file, line, "quiz", "a second ```quiz block; a page has at most one quiz")
			} else if quizzes == 1 {
				l.Quiz = parseQuiz(file, line, []byte(blockText(fc, body)), probs)
			}
		}
		return ast.WalkSkipChildren, nil
	})
	if quizzes == 0 && kind == KindLesson {
		probs.add(file, 0, "quiz", "missing: a lesson ends with one ```quiz block of 3 to 5 questions")
	}
	if len(*probs) > before {
		return nil
	}
	html, err := renderDoc(body, doc)
	if err != nil {
		probs.add(file, 0, "body", "cannot render: %v", err)
		return nil
	}
	l.HTML, l.AfterQuiz, _ = strings.Cut(html, quizSlot)
	l.Text = docText(doc, body)
	return d
}

// decodeString decodes a scalar string field (not a list or mapping).
func decodeString(n *yaml.Node, s *string) error {
	if n.Kind != yaml.ScalarNode || n.Tag != "!!str" {
		return errors.New("not a string")
	}
	return n.Decode(s)
}

// decodeStrings decodes a list of strings (not numbers, lists or mappings).
func decodeStrings(n *yaml.Node, out *[]string) error {
	if n.Kind != yaml.SequenceNode {
		return errors.New("not a list")
	}
	for _, item := range n.Content {
		if item.Kind != yaml.ScalarNode || item.Tag != "!!str" {
			return errors.New("an item is not a string")
		}
	}
	return n.Decode(out)
}

// Discussion prompts of a case study.
const (
	minDiscussion = 3
	maxDiscussion = 4
)

// checkDiscussion validates a case study's discussion prompts: only case
// studies have them, 3 or 4 of them, none empty or repeated.
func checkDiscussion(file string, line int, kind string, prompts []string, probs *problems) {
	if kind != KindCase {
		probs.add(file, line, "discussion", "only case studies have discussion prompts; remove it from a lesson")
		return
	}
	if len(prompts) < minDiscussion || len(prompts) > maxDiscussion {
		probs.add(file, line, "discussion", "has %d prompts; want %d to %d open questions for a small group", len(prompts), minDiscussion, maxDiscussion)
	}
	seen := make(map[string]bool)
	for i, p := range prompts {
		switch {
		case strings.TrimSpace(p) == "":
			probs.add(file, line, "discussion", "prompt %d is empty", i+1)
		case seen[p]:
			probs.add(file, line, "discussion", "prompt %d repeats an earlier one", i+1)
		}
		seen[p] = true
	}
}

// splitFrontMatter splits "---\n<yaml>\n---\n<body>".
func splitFrontMatter(b []byte) (fm, body []byte, ok bool) {
	rest, found := bytes.CutPrefix(b, []byte("---\n"))
	if !found {
		return nil, nil, false
	}
	if bytes.HasPrefix(rest, []byte("---\n")) { // empty front matter
		return nil, rest[4:], true
	}
	fm, body, found = bytes.Cut(rest, []byte("\n---\n"))
	if !found {
		fm, found = bytes.CutSuffix(rest, []byte("\n---"))
		body = nil
	}
	return fm, body, found
}

// internalLinks returns the body's links to /lessons/<slug> and /cases/<slug>.
func internalLinks(doc ast.Node) []internalLink {
	var links []internalLink
	_ = ast.Walk(doc, func(n ast.Node, entering bool) (ast.WalkStatus, error) {
		link, ok := n.(*ast.Link)
		if !entering || !ok {
			return ast.WalkContinue, nil
		}
		dest := string(link.Destination)
		p, _, _ := strings.Cut(dest, "#")
		for prefix, kind := range map[string]string{"/lessons/": KindLesson, "/cases/": KindCase, "/labs/": kindLab} {
			if slug, ok := strings.CutPrefix(p, prefix); ok {
				links = append(links, internalLink{dest: dest, kind: kind, slug: slug})
			}
		}
		return ast.WalkContinue, nil
	})
	return links
}

// yamlMessage shortens a yaml.v3 error for an author.
func yamlMessage(err error) string {
	return strings.TrimPrefix(err.Error(), "yaml: ")
}
