package faultline_test

import (
	"encoding/json"
	"os/exec"
	"slices"
	"strings"
	"testing"
)

// TestImportRules checks the import rules of docs/architecture.md on every
// package of the module (tests aside): the root package imports nothing of
// ours; course, recovery, sso, lti, mail and metrics import nothing of ours
// but the root (and their own subpackages); web reaches storage,
// sandboxes and the grader only through course; only the Docker backend
// imports Docker packages; only store imports the SQL driver; sandbox
// imports nothing of grader; nothing imports web or cmd.
func TestImportRules(t *testing.T) {
	out, err := exec.Command("go", "list", "-json=ImportPath,Imports", "./...").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	const mod = "github.com/faultline-dev/faultline"
	type pkg struct {
		ImportPath string
		Imports    []string
	}
	var pkgs []pkg
	dec := json.NewDecoder(strings.NewReader(string(out)))
	for dec.More() {
		var p pkg
		if err := dec.Decode(&p); err != nil {
			t.Fatalf("decode go list: %v", err)
		}
		pkgs = append(pkgs, p)
	}
	if len(pkgs) < 8 {
		t.Fatalf("go list found %d packages; the rules would check nothing", len(pkgs))
	}
	under := func(path, dir string) bool { return path == mod+"/"+dir || strings.HasPrefix(path, mod+"/"+dir+"/") }
	ours := func(path string) bool { return path == mod || strings.HasPrefix(path, mod+"/") }
	docker := func(path string) bool {
		return strings.HasPrefix(path, "github.com/docker/") || strings.HasPrefix(path, "github.com/containerd/") ||
			strings.HasPrefix(path, "github.com/moby/")
	}
	sqlDriver := func(path string) bool {
		return path == "database/sql" || strings.HasPrefix(path, "github.com/mattn/go-sqlite3")
	}
	checked := map[string]bool{}
	for _, p := range pkgs {
		for _, imp := range p.Imports {
			var broken string
			switch {
			case p.ImportPath == mod && ours(imp):
				broken = "the root package imports nothing of ours"
			case p.ImportPath == mod+"/course" && ours(imp) && imp != mod:
				broken = "course imports nothing of ours but the root package"
			case (under(p.ImportPath, "recovery") || under(p.ImportPath, "sso") || under(p.ImportPath, "lti") ||
				under(p.ImportPath, "mail") || under(p.ImportPath, "metrics")) && ours(imp) && imp != mod && !strings.HasPrefix(imp, p.ImportPath):
				broken = "the institution packages import nothing of ours but the root package"
			case under(p.ImportPath, "web") && (under(imp, "store") || under(imp, "sandbox") || under(imp, "grader") || under(imp, "testjson")):
				broken = "web reaches storage, sandboxes and the grader only through course"
			case docker(imp) && !under(p.ImportPath, "sandbox/docker"):
				broken = "only the Docker backend (sandbox/docker) imports Docker packages"
			case sqlDriver(imp) && !under(p.ImportPath, "store"):
				broken = "only store imports the SQL driver"
			case under(p.ImportPath, "sandbox") && under(imp, "grader"):
				broken = "sandbox imports nothing of grader"
			case (under(imp, "web") || under(imp, "cmd")) && !under(p.ImportPath, "web") && !under(p.ImportPath, "cmd"):
				broken = "nothing imports web or cmd"
			}
			if broken != "" {
				t.Errorf("%s imports %s: %s", p.ImportPath, imp, broken)
			}
		}
		checked[p.ImportPath] = true
	}
	for _, must := range []string{mod, mod + "/course", mod + "/web", mod + "/store", mod + "/sandbox", mod + "/grader"} {
		if !checked[must] {
			t.Errorf("package %s was not checked", must)
		}
	}
	if !slices.ContainsFunc(pkgs, func(p pkg) bool { return p.ImportPath == mod+"/course" && slices.Contains(p.Imports, mod) }) {
		t.Error("course does not import the root package: the check of its imports saw nothing")
	}
}
