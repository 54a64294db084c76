package labs

import (
	"bytes"
	"fmt"
	"io/fs"
	"path"
	"reflect"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/faultline-dev/faultline"
)

// decodeYAML decodes raw (the lab folder's file named file) into v, whose
// type describes every allowed field. Problems name the file, the line and
// the field as it is written in YAML (limits.time, tests[2].points), never
// the Go types behind them; what names the document in messages about its
// top-level fields. It returns the document's node (for the lines of later
// messages), or nil when v was not decoded.
func (l *loader) decodeYAML(file string, raw []byte, v any, what string) *yaml.Node {
	var root yaml.Node
	if err := yaml.Unmarshal(raw, &root); err != nil {
		l.problemf(yamlPlace(file, err.Error()), "not valid YAML: %s", yamlMessage(err.Error()))
		return nil
	}
	if len(root.Content) == 0 {
		l.problemf(file, "empty")
		return nil
	}
	n := len(l.problems)
	l.shape(file, root.Content[0], reflect.TypeOf(v).Elem(), "", what)
	if len(l.problems) > n {
		return nil
	}
	if err := root.Content[0].Decode(v); err != nil {
		l.problemf(yamlPlace(file, err.Error()), "%s", yamlMessage(err.Error()))
		return nil
	}
	return root.Content[0]
}

var yamlLineRE = regexp.MustCompile(`line (\d+): `)

// yamlPlace returns "file:LINE" when a yaml.v3 message names a line.
func yamlPlace(file, msg string) string {
	if m := yamlLineRE.FindStringSubmatch(msg); m != nil {
		return file + ":" + m[1]
	}
	return file
}

// yamlMessage strips yaml.v3's prefixes ("yaml: line 3: ", "yaml: unmarshal
// errors:") from a message, keeping what went wrong.
func yamlMessage(msg string) string {
	msg = strings.TrimPrefix(msg, "yaml: unmarshal errors:\n")
	msg = strings.TrimPrefix(msg, "yaml: ")
	msg = yamlLineRE.ReplaceAllString(msg, "")
	return strings.Join(strings.Fields(msg), " ")
}

// fieldHints point a misplaced or misspelt field to the right one.
var fieldHints = map[string]string{
	"timeout": "the time limit is limits.time, e.g. limits: {time: 30s}",
	"time":    "the time limit is limits.time, e.g. limits: {time: 30s}",
	"memory":  "the memory limit is limits.memory_mb, in MiB",
	"network": "the sandbox network is sandbox.network",
	"tags":    "lab.yaml has no tags; lessons: lists the lessons the lab practises",
	"lesson":  "the field is lessons: [slug, ...]",
	"point":   "the field is points",
	"rule":    "the field is rules: [R1, ...]",
}

// shape checks node against the Go type t the way the YAML is meant to be
// written: known field names only, lists where lists belong, numbers where
// numbers belong. where is the YAML path of node ("" at the top); what names
// the document.
func (l *loader) shape(file string, node *yaml.Node, t reflect.Type, where, what string) {
	at := fmt.Sprintf("%s:%d", file, node.Line)
	label := where
	if label == "" {
		label = what
	}
	if node.Kind == yaml.AliasNode || (node.Kind == yaml.ScalarNode && node.Tag == "!!null") {
		return
	}
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch t.Kind() {
	case reflect.Struct:
		if node.Kind != yaml.MappingNode {
			l.problemf(at, "%s: expected fields (name: value), found %s", label, kindName(node))
			return
		}
		fields := map[string]reflect.StructField{}
		var names []string
		for i := 0; i < t.NumField(); i++ {
			f := t.Field(i)
			name, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
			if name == "" || name == "-" {
				continue
			}
			fields[name] = f
			names = append(names, name)
		}
		for i := 0; i+1 < len(node.Content); i += 2 {
			k, v := node.Content[i], node.Content[i+1]
			f, ok := fields[k.Value]
			if !ok {
				msg := fmt.Sprintf("unknown field %q; the fields of %s are %s", k.Value, label, strings.Join(names, ", "))
				if h, ok := fieldHints[k.Value]; ok {
					msg += " (" + h + ")"
				}
				if where != "" {
					msg = where + ": " + msg
				}
				l.problemf(fmt.Sprintf("%s:%d", file, k.Line), "%s", msg)
				continue
			}
			sub := k.Value
			if where != "" {
				sub = where + "." + k.Value
			}
			l.shape(file, v, f.Type, sub, what)
		}
	case reflect.Slice:
		if node.Kind != yaml.SequenceNode {
			l.problemf(at, "%s: expected a list ([a, b] or lines starting with -), found %s", label, kindName(node))
			return
		}
		for i, c := range node.Content {
			l.shape(file, c, t.Elem(), fmt.Sprintf("%s[%d]", where, i), what)
		}
	case reflect.String, reflect.Int, reflect.Int64, reflect.Float64, reflect.Bool:
		if node.Kind != yaml.ScalarNode {
			l.problemf(at, "%s: expected a single value, found %s", label, kindName(node))
			return
		}
		switch t.Kind() {
		case reflect.Int, reflect.Int64:
			if _, err := strconv.ParseInt(node.Value, 0, 64); err != nil || node.Tag != "!!int" {
				l.problemf(at, "%s: %q is not a whole number", label, node.Value)
			}
		case reflect.Float64:
			if node.Tag != "!!int" && node.Tag != "!!float" {
				l.problemf(at, "%s: %q is not a number", label, node.Value)
			}
		case reflect.Bool:
			if node.Tag != "!!bool" {
				l.problemf(at, "%s: %q is not true or false", label, node.Value)
			}
		}
	}
}

func kindName(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "fields"
	case yaml.SequenceNode:
		return "a list"
	case yaml.ScalarNode:
		return fmt.Sprintf("the value %q", n.Value)
	}
	return "something else"
}

// ruleMarkRE finds a rule id in a README: **R1**, **R12**.
var ruleMarkRE = regexp.MustCompile(`\*\*R([0-9]+)\*\*`)

// readmeRules finds the rule ids a README defines, in order, and checks
// they run R1, R2, … with none repeated or skipped. Marks inside code
// (fenced blocks and `spans`) do not count.
func (l *loader) readmeRules(readme string) []faultline.LabRule {
	lines := strings.Split(readme, "\n")
	var (
		rules []faultline.LabRule
		fence string
		seen  = map[int]int{} // number → line
	)
	for i, line := range lines {
		trimmed := strings.TrimSpace(line)
		if fence != "" {
			if strings.HasPrefix(trimmed, fence) {
				fence = ""
			}
			continue
		}
		if strings.HasPrefix(trimmed, "```") || strings.HasPrefix(trimmed, "~~~") {
			fence = trimmed[:3]
			continue
		}
		text := stripCodeSpans(line)
		for _, m := range ruleMarkRE.FindAllStringSubmatchIndex(text, -1) {
			num, _ := strconv.Atoi(text[m[2]:m[3]])
			id := "R" + strconv.Itoa(num)
			if prev, dup := seen[num]; dup {
				l.problemf(fmt.Sprintf("README.md:%d", i+1), "rule %s is already defined on line %d; each rule id is defined once", id, prev)
				continue
			}
			seen[num] = i + 1
			if want := len(rules) + 1; num != want {
				l.problemf(fmt.Sprintf("README.md:%d", i+1), "rule %s comes where R%d is due; number the rules R1, R2, … in the order they appear", id, want)
			}
			rules = append(rules, faultline.LabRule{ID: id, Text: ruleText(line[m[1]:], lines[i+1:])})
		}
	}
	return rules
}

// stripCodeSpans blanks out `code spans` so marks inside them do not count.
func stripCodeSpans(line string) string {
	b := []byte(line)
	in := false
	for i, c := range b {
		if c == '`' {
			in = !in
			continue
		}
		if in {
			b[i] = ' '
		}
	}
	return string(b)
}

var (
	mdLinkRE  = regexp.MustCompile(`\[([^\]]*)\]\([^)]*\)`)
	mdMarkRE  = regexp.MustCompile("[*_`]+")
	ruleEndRE = regexp.MustCompile(`[.;!?](\s|$)`)
)

// ruleText is the rule's first sentence: the rest of its line and the lines
// that continue the same paragraph or list item, as plain text.
func ruleText(rest string, next []string) string {
	parts := []string{rest}
	for _, line := range next {
		t := strings.TrimSpace(line)
		if t == "" || strings.HasPrefix(t, "- ") || strings.HasPrefix(t, "* ") || strings.HasPrefix(t, "#") ||
			strings.HasPrefix(t, "|") || strings.HasPrefix(t, "```") || ruleMarkRE.MatchString(t) || isNumbered(t) {
			break
		}
		parts = append(parts, t)
		if ruleEndRE.MatchString(t) {
			break
		}
	}
	s := strings.Join(parts, " ")
	s = mdLinkRE.ReplaceAllString(s, "$1")
	s = mdMarkRE.ReplaceAllString(s, "")
	s = strings.Join(strings.Fields(s), " ")
	s = strings.TrimLeft(s, ".:—– -")
	if m := ruleEndRE.FindStringIndex(s); m != nil {
		s = s[:m[0]+1]
	}
	return s
}

func isNumbered(t string) bool {
	i := 0
	for i < len(t) && t[i] >= '0' && t[i] <= '9' {
		i++
	}
	return i > 0 && i+1 < len(t) && t[i] == '.' && t[i+1] == ' '
}

// mapRules fills each rule's tests from lab.yaml's tests[].rules, and
// records a problem for every id that names no rule of the README.
func (l *loader) mapRules(lab *faultline.Lab, listed []testFile) {
	index := map[string]int{}
	for i, r := range lab.Rules {
		index[r.ID] = i
	}
	for i, t := range listed {
		seen := map[string]bool{}
		for _, id := range t.Rules {
			j, ok := index[id]
			switch {
			case !ok && len(lab.Rules) == 0:
				l.problemf("lab.yaml", "tests[%d].rules: %q names no rule: the README marks none (write **R1** before the first rule)", i, id)
			case !ok:
				l.problemf("lab.yaml", "tests[%d].rules: %q names no rule of the README (it has R1 to R%d)", i, id, len(lab.Rules))
			case seen[id]:
				l.problemf("lab.yaml", "tests[%d].rules: %s is listed twice", i, id)
			default:
				seen[id] = true
				lab.Rules[j].Tests = append(lab.Rules[j].Tests, t.Name)
			}
		}
	}
}

// equivalents reads equivalent.yaml, if the lab has one: its equivalent
// and its unreachable marks, each id to its reason.
func (l *loader) equivalents() (equivalent, unreachable map[string]string, err error) {
	const file = "equivalent.yaml"
	raw, err := fs.ReadFile(l.fsys, path.Join(l.dir, file))
	if err != nil {
		if _, serr := fs.Stat(l.fsys, path.Join(l.dir, file)); serr != nil {
			return nil, nil, nil // optional
		}
		return nil, nil, fmt.Errorf("read labs/%s/%s: %w", l.dir, file, err)
	}
	if len(bytes.TrimSpace(raw)) == 0 {
		return nil, nil, nil
	}
	var y equivalentFile
	if l.decodeYAML(file, raw, &y, file) == nil {
		return nil, nil, nil
	}
	seen := map[string]string{} // id -> the list it is in
	read := func(list string, entries []equivalentEntry, why string) map[string]string {
		out := make(map[string]string, len(entries))
		for i, e := range entries {
			id := strings.TrimSpace(e.ID)
			switch {
			case id == "":
				l.problemf(file, "%s[%d].id: required (the id faultline labs mutate prints)", list, i)
			case strings.TrimSpace(e.Reason) == "":
				l.problemf(file, "%s[%d].reason: required: %s", list, i, why)
			case seen[id] == list:
				l.problemf(file, "%s[%d].id: %s is listed twice", list, i, id)
			case seen[id] != "":
				l.problemf(file, "%s[%d].id: %s is also listed under %s; a mutant is one or the other", list, i, id, seen[id])
			default:
				seen[id] = list
				out[id] = strings.TrimSpace(e.Reason)
			}
		}
		if len(out) == 0 {
			return nil
		}
		return out
	}
	equivalent = read("equivalent", y.Equivalent, "say why no test can tell this mutant from the solution")
	unreachable = read("unreachable", y.Unreachable, "say why no deterministic test can reach the case that shows this mutant")
	return equivalent, unreachable, nil
}

// RuleTable returns the lab's rule → test table as text lines, one per
// rule, for `faultline labs check`. A lab with parts gets one table per
// part (a heading line, then the rules its tests check, indented), then
// the rules no test checks.
func RuleTable(lab *faultline.Lab) []string {
	if len(lab.Parts) > 0 {
		return partsRuleTable(lab)
	}
	var out []string
	for _, r := range lab.Rules {
		tests := "(no test)"
		if len(r.Tests) > 0 {
			ts := append([]string(nil), r.Tests...)
			sort.Strings(ts)
			tests = strings.Join(ts, ", ")
		}
		out = append(out, fmt.Sprintf("%-4s %-60s %s", r.ID, clip(r.Text, 60), tests))
	}
	return out
}

func clip(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n-1]) + "…"
}
