package main

import (
	"encoding/json"
	"path/filepath"
	"reflect"
	"regexp"
	"strings"
	"testing"
)

// tinyLab is a lab folder for the labs check and mutate commands: three
// README rules (R3 has no test), a mutant that does not compile and one no
// test catches.
func tinyLab(extra map[string]string) map[string]string {
	const sol = "package tiny\n\n// Clamp limits v to [lo, hi].\nfunc Clamp(v, lo, hi int) int {\n\tif v < lo {\n\t\treturn lo\n\t}\n\tif v > hi {\n\t\treturn hi\n\t}\n\treturn v\n}\n"
	files := map[string]string{
		"tiny/lab.yaml": `slug: tiny
title: Tiny
pattern: Clamping
summary: Clamp a value.
difficulty: intro
minutes: 5
module: example.com/labs/tiny
lessons: [partial-failure]
limits: {time: 20s}
tests:
  - {name: TestVisible, points: 1, rules: [R1]}
  - {name: TestHidden, points: 2, rules: [R1, R2]}
`,
		"tiny/README.md":                "# Tiny\n\n- **R1** `Clamp` returns `lo` below the range.\n- **R2** It returns `hi` above it.\n- **R3** It returns `v` inside.\n",
		"tiny/starter/tiny.go":          "package tiny\n\n// Clamp limits v to [lo, hi].\nfunc Clamp(v, lo, hi int) int { return 0 }\n",
		"tiny/solution/tiny.go":         sol,
		"tiny/tests/tiny_test.go":       "package tiny\n\nimport \"testing\"\n\nfunc TestVisible(t *testing.T) {\n\tif Clamp(-5, 0, 10) != 0 {\n\t\tt.Fatal(\"below\")\n\t}\n}\n",
		"tiny/hidden/tiny_test.go":      "package hidden\n\nimport (\n\t\"testing\"\n\n\t\"example.com/labs/tiny\"\n)\n\nfunc TestHidden(t *testing.T) {\n\tif tiny.Clamp(50, 0, 10) != 10 || tiny.Clamp(-1, 0, 10) != 0 {\n\t\tt.Fatal(\"outside\")\n\t}\n}\n",
		"tiny/mutants/broken/tiny.go":   strings.Replace(sol, "return hi", "return high", 1),
		"tiny/mutants/uncaught/tiny.go": strings.Replace(sol, "return v\n", "if v == 5 {\n\t\treturn 6\n\t}\n\treturn v\n", 1),
	}
	for k, v := range extra {
		files[k] = v
	}
	return files
}

// TestLabsCheckExplains runs labs check on a small lab through real
// grading containers: it prints the rule table, one line per variant as it
// goes, the compiler's message for the mutant that does not compile (named
// by its folder), and fails naming the untested rule and the uncaught
// mutant.
func TestLabsCheckExplains(t *testing.T) {
	dir := MustContentDir(t, tinyLab(nil))
	code, out, errOut := runCLI(t, "labs", "check", "--labs-dir", dir, "--lab", "tiny", "--runs", "2", "--parallel", "2")
	if code == 0 {
		t.Fatalf("labs check passed:\n%s", out)
	}
	for _, want := range []string{
		"labs check: 1 labs, each variant graded 2 times in grading containers, 2 grades at a time",
		"== tiny: 3 rules, 2 tests, 4 variants",
		"FAIL: labs/tiny/lab.yaml: rule R3 has no test",
		"mutants/broken/tiny.go:9:",
		"undefined: high",
		"mutant uncaught",
		"no test catches it",
		"tiny: FAIL (3 problems)",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	for _, re := range []string{
		`(?m)^  R1 +Clamp returns lo below the range\. +TestHidden, TestVisible$`,
		`(?m)^  R3 +It returns v inside\. +\(no test\)$`,
		`(?m)^  solution +3/3 +graded +2/2 same .* ok$`,
		`(?m)^  starter +1/3 .* ok by TestHidden \(hidden; R1, R2\)$`,
	} {
		if !regexp.MustCompile(re).MatchString(out) {
			t.Errorf("output does not match %s:\n%s", re, out)
		}
	}
	if !strings.Contains(errOut, "labs check failed for tiny") {
		t.Errorf("stderr %q", errOut)
	}
}

// TestLabsMutateOnHost generates and grades the tiny lab's mutants on the
// host: the score, the survivors with their ids, and a failure below --min.
func TestLabsMutateOnHost(t *testing.T) {
	dir := MustContentDir(t, tinyLab(nil))
	code, out, _ := runCLI(t, "labs", "mutate", "--labs-dir", dir, "--host", "--list", "tiny")
	if code != 0 || !strings.Contains(out, "tiny.go:Clamp:boundary:") || !strings.Contains(out, "`v < lo` → `v <= lo`") {
		t.Fatalf("--list: exit %d\n%s", code, out)
	}
	// v <= lo returns lo for v == lo: the same value, so no test can see it.
	// v >= hi is the same at v == hi too, but stays unmarked; marking it
	// unreachable explains it without taking it out of the score.
	var equiv, unreach string
	for _, line := range strings.Split(out, "\n") {
		if strings.Contains(line, "`v < lo` → `v <= lo`") {
			equiv = strings.Fields(line)[0]
		}
		if strings.Contains(line, "`v > hi` → `v >= hi`") {
			unreach = strings.Fields(line)[0]
		}
	}
	dir = MustContentDir(t, tinyLab(map[string]string{
		"tiny/equivalent.yaml": "equivalent:\n  - id: " + equiv + "\n    reason: at v == lo both return lo\n" +
			"unreachable:\n  - id: " + unreach + "\n    reason: explained, still counted\n",
	}))
	code, out, errOut := runCLI(t, "labs", "mutate", "--labs-dir", dir, "--host", "--parallel", "2", "--min", "100", "tiny")
	if code == 0 {
		t.Fatalf("mutate passed with survivors and --min 100:\n%s", out)
	}
	for _, want := range []string{
		"graded on the host",
		"tiny: mutation score ",
		"1 marked equivalent",
		"survived  tiny.go:",
		"`v > hi` → `v >= hi`", // at v == hi both return hi: a survivor, marked unreachable
		"marked unreachable: explained, still counted",
		"1 of the ",
		"hand-written mutants: 0 of 2 caught",
		"FAIL: hand-written mutant broken does not compile",
		"FAIL: hand-written mutant uncaught is not caught",
		"is below 100%",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "id "+equiv) {
		t.Errorf("the mutant marked equivalent is listed as a survivor:\n%s", out)
	}
	if !strings.Contains(errOut, "labs mutate failed for tiny") {
		t.Errorf("stderr %q", errOut)
	}
}

// TestLabsCheckOnHost runs the same check with --host: no container, the
// same verdicts.
func TestLabsCheckOnHost(t *testing.T) {
	dir := MustContentDir(t, tinyLab(nil))
	code, out, _ := runCLI(t, "labs", "check", "--labs-dir", dir, "--lab", "tiny", "--runs", "1", "--host")
	if code == 0 {
		t.Fatalf("labs check --host passed:\n%s", out)
	}
	for _, want := range []string{
		"each variant graded 1 times on the host",
		"mutants/broken/tiny.go:9:",
		"no test catches it",
		"FAIL: labs/tiny/lab.yaml: rule R3 has no test",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	if !regexp.MustCompile(`(?m)^  solution +3/3 +graded .* ok$`).MatchString(out) {
		t.Errorf("the solution is not graded full marks on the host:\n%s", out)
	}
}

// tinyPartsLab is the tiny lab in two parts: A graded by the visible test,
// B by the hidden one.
func tinyPartsLab() map[string]string {
	files := tinyLab(nil)
	y := files["tiny/lab.yaml"]
	y = strings.Replace(y, "tests:\n", "parts:\n  - {id: A, title: Below the range}\n  - {id: B, title: Above the range, summary: Clamp from above.}\ntests:\n", 1)
	y = strings.Replace(y, "points: 1, rules", "points: 1, part: A, rules", 1)
	y = strings.Replace(y, "points: 2, rules", "points: 2, part: B, rules", 1)
	files["tiny/lab.yaml"] = y
	return files
}

// TestLabsCheckPartsOnHost: for a lab with parts, labs check prints the
// rule table per part and each variant's score per part, so an author sees
// which part caught a mutant; faultline grade reports the parts too.
func TestLabsCheckPartsOnHost(t *testing.T) {
	dir := MustContentDir(t, tinyPartsLab())
	_, out, _ := runCLI(t, "labs", "check", "--labs-dir", dir, "--lab", "tiny", "--runs", "1", "--host")
	for _, re := range []string{
		`(?m)^== tiny: 3 rules, 2 tests, 2 parts, 4 variants$`,
		`(?m)^  part A: Below the range \(1 points\)\n    R1 +Clamp returns lo below the range\. +TestVisible\n  part B: Above the range \(2 points\)\n    R1 .* TestHidden\n    R2 +It returns hi above it\. +TestHidden\n  rules no test checks:\n    R3 +It returns v inside\. +\(no test\)$`,
		`(?m)^  solution +3/3 .*\n      parts: A 1/1, B 2/2$`,
		`(?m)^  starter +1/3 .*\n      parts: A 1/1, B 0/2$`,
	} {
		if !regexp.MustCompile(re).MatchString(out) {
			t.Errorf("output does not match %s:\n%s", re, out)
		}
	}
}

// TestGradeReportsParts grades the tiny lab with parts in a grading
// container: the JSON result has each part's score, and each test its part.
func TestGradeReportsParts(t *testing.T) {
	dir := MustContentDir(t, tinyPartsLab())
	code, out, errOut := runCLI(t, "grade", "--labs-dir", dir, "--lab", "tiny", filepath.Join(dir, "tiny", "starter"), "--json")
	if code != 0 {
		t.Fatalf("grade exit %d, stderr:\n%s", code, errOut)
	}
	var r jsonResult
	if err := json.Unmarshal([]byte(out), &r); err != nil {
		t.Fatalf("grade --json printed invalid JSON: %v\n%s", err, out)
	}
	want := []jsonPart{{ID: "A", Title: "Below the range", Score: 1, MaxScore: 1}, {ID: "B", Title: "Above the range", Score: 0, MaxScore: 2}}
	if !reflect.DeepEqual(r.Parts, want) {
		t.Errorf("parts = %+v, want %+v", r.Parts, want)
	}
	for _, tr := range r.Tests {
		if (tr.Name == "TestVisible" && tr.Part != "A") || (tr.Name == "TestHidden" && tr.Part != "B") {
			t.Errorf("test %s has part %q", tr.Name, tr.Part)
		}
	}
	code, out, _ = runCLI(t, "grade", "--labs-dir", dir, "--lab", "tiny", filepath.Join(dir, "tiny", "starter"))
	if code != 0 || !strings.Contains(out, "tiny: graded, 1/3 points\n  part A, Below the range: 1/1 points\n  part B, Above the range: 0/2 points\n") {
		t.Errorf("text result (exit %d):\n%s", code, out)
	}
}
