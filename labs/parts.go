package labs

import (
	"fmt"
	"regexp"
	"sort"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/faultline-dev/faultline"
)

// partIDRE is what a part id may be: short, starting with a letter or digit
// (A, B, 3a, final).
var partIDRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9-]{0,15}$`)

// checkParts validates lab.yaml's parts and tests[].part against each other
// and records each graded test's part in tests (the tests checkTests kept).
// A lab without parts must name none on its tests; a lab with parts must
// name a declared part on every test and give every part a test. doc is
// lab.yaml's document, for the line of each problem.
func (l *loader) checkParts(doc *yaml.Node, parts []partFile, listed []testFile, tests []faultline.LabTest) []faultline.LabPart {
	at := func(path ...any) string { return fmt.Sprintf("lab.yaml:%d", lineAt(doc, path...)) }
	if len(parts) == 0 {
		for i, t := range listed {
			if t.Part != "" {
				l.problemf(at("tests", i, "part"), "tests[%d].part: %q names a part, but lab.yaml declares no parts (add parts: [{id: %s, title: …}] or drop the field)", i, t.Part, t.Part)
			}
		}
		return nil
	}
	var (
		out   []faultline.LabPart
		index = map[string]int{} // id → index in parts
		ids   []string
	)
	for i, p := range parts {
		id := strings.TrimSpace(p.ID)
		switch {
		case id == "":
			l.problemf(at("parts", i), "parts[%d].id: required, a short name like A", i)
			continue
		case !partIDRE.MatchString(id):
			l.problemf(at("parts", i, "id"), "parts[%d].id: %q must be 1 to 16 letters, digits or dashes, starting with a letter or digit (like A)", i, p.ID)
			continue
		}
		if j, dup := index[id]; dup {
			l.problemf(at("parts", i, "id"), "parts[%d].id: %s is already the id of parts[%d]; each part has its own id", i, id, j)
			continue
		}
		if strings.TrimSpace(p.Title) == "" {
			l.problemf(at("parts", i), "parts[%d].title: required (part %s)", i, id)
		}
		if strings.ContainsAny(strings.TrimSpace(p.Summary), "\n\r") {
			l.problemf(at("parts", i, "summary"), "parts[%d].summary: one line, please (part %s); the README says the rest", i, id)
		}
		index[id] = i
		ids = append(ids, id)
		out = append(out, faultline.LabPart{ID: id, Title: strings.TrimSpace(p.Title), Summary: strings.TrimSpace(p.Summary)})
	}
	partOf := map[string]string{} // test name → part id
	used := map[string]bool{}
	for i, t := range listed {
		switch _, ok := index[t.Part]; {
		case t.Part == "":
			l.problemf(at("tests", i), "tests[%d].part: required for %s: the lab has parts (%s), so every test names the one it grades", i, t.Name, strings.Join(ids, ", "))
		case !ok:
			l.problemf(at("tests", i, "part"), "tests[%d].part: %q is not a part of the lab (parts: %s)", i, t.Part, strings.Join(ids, ", "))
		default:
			used[t.Part] = true
			partOf[t.Name] = t.Part
		}
	}
	for _, id := range ids {
		if !used[id] {
			i := index[id]
			l.problemf(at("parts", i), "parts[%d]: part %s has no tests; name it on the tests that grade it (tests[].part: %s) or drop the part", i, id, id)
		}
	}
	for i := range tests {
		tests[i].Part = partOf[tests[i].Name]
	}
	return out
}

// lineAt returns the line of the node at path under doc: mapping keys
// (strings) and list indexes (ints), as far as they go; the line of the
// deepest node found.
func lineAt(doc *yaml.Node, path ...any) int {
	n := doc
	for _, step := range path {
		var next *yaml.Node
		switch s := step.(type) {
		case string:
			if n.Kind == yaml.MappingNode {
				for i := 0; i+1 < len(n.Content); i += 2 {
					if n.Content[i].Value == s {
						next = n.Content[i+1]
						break
					}
				}
			}
		case int:
			if n.Kind == yaml.SequenceNode && s >= 0 && s < len(n.Content) {
				next = n.Content[s]
			}
		}
		if next == nil {
			break
		}
		n = next
	}
	return n.Line
}

// partsRuleTable is RuleTable for a lab with parts: for each part, a
// heading and the rules its tests check, each with those of its tests;
// then the rules no test checks.
func partsRuleTable(lab *faultline.Lab) []string {
	partOf := map[string]string{}
	for _, t := range lab.Tests {
		partOf[t.Name] = t.Part
	}
	var out []string
	for _, p := range lab.Parts {
		points := 0
		for _, t := range lab.Tests {
			if t.Part == p.ID {
				points += t.Points
			}
		}
		out = append(out, fmt.Sprintf("part %s: %s (%d points)", p.ID, p.Title, points))
		n := 0
		for _, r := range lab.Rules {
			var ts []string
			for _, name := range r.Tests {
				if partOf[name] == p.ID {
					ts = append(ts, name)
				}
			}
			if len(ts) == 0 {
				continue
			}
			sort.Strings(ts)
			out = append(out, fmt.Sprintf("  %-4s %-58s %s", r.ID, clip(r.Text, 58), strings.Join(ts, ", ")))
			n++
		}
		if n == 0 {
			out = append(out, "  (its tests check no rule)")
		}
	}
	var untested []string
	for _, r := range lab.Rules {
		if len(r.Tests) == 0 {
			untested = append(untested, fmt.Sprintf("  %-4s %-58s (no test)", r.ID, clip(r.Text, 58)))
		}
	}
	if len(untested) > 0 {
		out = append(out, "rules no test checks:")
		out = append(out, untested...)
	}
	return out
}
