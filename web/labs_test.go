package web

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/PuerkitoBio/goquery"

	"github.com/faultline-dev/faultline"
)

const labSlug = "circuit-breaker"

func (e *env) mustLab(slug string) *faultline.Lab {
	e.t.Helper()
	l, err := e.srv.d.Labs.Lab(slug)
	if err != nil {
		e.t.Fatalf("lab %q: %v", slug, err)
	}
	return l
}

func TestLabPage(t *testing.T) {
	e := MustEnv(t)
	u := e.MustUser("Lea Learner", faultline.RoleLearner)
	b := e.MustLogin(u)
	lab := e.mustLab(labSlug)

	res := b.get("/labs/" + labSlug)
	if res.status != http.StatusOK {
		t.Fatalf("status %d", res.status)
	}
	if res.testid("readme").Find("h1, h2, p").Length() == 0 {
		t.Error("README not rendered")
	}
	if res.testid("start-lab").Length() != 1 {
		t.Error("no start-lab button")
	}
	if st, _ := res.testid("sandbox-state").Attr("data-state"); st != "none" {
		t.Errorf("sandbox state %q, want none", st)
	}
	// Every starter and visible file is listed; none of the hidden ones.
	listed := map[string]bool{}
	res.testid("file-link").Each(func(_ int, s *goquery.Selection) {
		p, _ := s.Attr("data-path")
		listed[p] = true
	})
	for _, f := range append(append([]faultline.File{}, lab.Starter...), lab.Visible...) {
		if !listed[f.Path] {
			t.Errorf("file %s not listed", f.Path)
		}
	}
	for _, tt := range lab.Tests {
		if tt.Hidden && strings.Contains(res.body, tt.Name) {
			t.Errorf("hidden test %s named on the lab page", tt.Name)
		}
	}
	for _, f := range lab.Hidden {
		for _, line := range strings.Split(string(f.Content), "\n") {
			if len(line) > 40 && strings.Contains(res.body, strings.TrimSpace(line)) && !inAny(lab, strings.TrimSpace(line)) {
				t.Fatalf("hidden file %s leaks into the page: %q", f.Path, line)
			}
		}
	}
	// ?file selects a file; an unknown file is 404.
	sel := lab.Starter[0]
	res = b.get("/labs/" + labSlug + "?file=" + url.QueryEscape(sel.Path))
	if got := res.testid("editor-content").Text(); got != string(sel.Content) {
		t.Errorf("editor shows %q, want %s", got, sel.Path)
	}
	if res := b.get("/labs/" + labSlug + "?file=nope.go"); res.status != http.StatusNotFound {
		t.Errorf("unknown file: %d", res.status)
	}
	if len(lab.Hidden) > 0 {
		if res := b.get("/labs/" + labSlug + "?file=" + url.QueryEscape(lab.Hidden[0].Path)); res.status == http.StatusOK &&
			strings.Contains(res.testid("editor-content").Text(), string(lab.Hidden[0].Content)) {
			t.Error("a hidden file opens in the editor")
		}
	}
}

// inAny reports whether line also appears in a file the learner may see.
func inAny(l *faultline.Lab, line string) bool {
	for _, f := range append(append([]faultline.File{}, l.Starter...), l.Visible...) {
		if strings.Contains(string(f.Content), line) {
			return true
		}
	}
	return strings.Contains(l.README, line)
}

func TestLabWorkflow(t *testing.T) {
	e := MustEnv(t)
	u := e.MustUser("Lea Learner", faultline.RoleLearner)
	b := e.MustLogin(u)
	lab := e.mustLab(labSlug)
	ctx := context.Background()
	target := lab.Starter[len(lab.Starter)-1].Path
	for _, f := range lab.Starter {
		if strings.HasSuffix(f.Path, ".go") {
			target = f.Path
		}
	}

	// Save before the sandbox runs: stored, CRLF normalised.
	res := b.post("/labs/"+labSlug+"/files", url.Values{"path": {target}, "content": {"package x\r\n// v1\r\n"}})
	if res.status != http.StatusSeeOther {
		t.Fatalf("save: %d\n%s", res.status, res.body)
	}
	files, err := e.db.Files(ctx, u.ID, labSlug)
	if err != nil || len(files) != 1 || string(files[0].Content) != "package x\n// v1\n" {
		t.Fatalf("saved files %v %v", files, err)
	}
	after := b.get(res.header.Get("Location"))
	if after.testid("editor-content").Text() != "package x\n// v1\n" {
		t.Errorf("editor after save shows %q", after.testid("editor-content").Text())
	}
	if notice := after.testid("notice").Text(); !strings.Contains(notice, "Saved "+target) {
		t.Errorf("after save the notice says %q, want it to name %s as saved", notice, target)
	}
	if plain := b.get("/labs/" + labSlug + "?file=" + url.QueryEscape(target)); plain.testid("notice").Length() != 0 {
		t.Errorf("a plain visit shows a save notice %q", plain.testid("notice").Text())
	}

	// Run before start: refused with a message.
	res = b.post("/labs/"+labSlug+"/run", nil)
	if res.status != http.StatusConflict || !strings.Contains(res.testid("form-error").Text(), "Start the lab first") {
		t.Fatalf("run before start: %d %q", res.status, res.testid("form-error").Text())
	}

	// Start: the sandbox gets starter + saved + visible tests, never hidden ones.
	if res := b.post("/labs/"+labSlug+"/sandbox", nil); res.status != http.StatusSeeOther {
		t.Fatalf("start: %d\n%s", res.status, res.body)
	}
	if got, _ := e.sb.sandboxFile(u.ID, labSlug, target); got != "package x\n// v1\n" {
		t.Errorf("sandbox has %q for %s, want the saved version", got, target)
	}
	for _, f := range lab.Visible {
		if _, ok := e.sb.sandboxFile(u.ID, labSlug, f.Path); !ok {
			t.Errorf("visible test %s not in the sandbox", f.Path)
		}
	}
	for _, f := range lab.Hidden {
		if got, ok := e.sb.sandboxFile(u.ID, labSlug, f.Path); ok && got == string(f.Content) {
			t.Errorf("hidden test file %s copied into the sandbox", f.Path)
		}
	}
	res = b.get("/labs/" + labSlug)
	if st, _ := res.testid("sandbox-state").Attr("data-state"); st != "running" {
		t.Errorf("sandbox state %q, want running", st)
	}
	if _, disabled := res.testid("run-tests").Attr("disabled"); disabled {
		t.Error("run-tests disabled while running")
	}

	// Saving now also writes into the sandbox.
	if res := b.post("/labs/"+labSlug+"/files", url.Values{"path": {target}, "content": {"package x\n// v2\n"}}); res.status != http.StatusSeeOther {
		t.Fatalf("save 2: %d", res.status)
	}
	if got, _ := e.sb.sandboxFile(u.ID, labSlug, target); got != "package x\n// v2\n" {
		t.Errorf("sandbox not updated: %q", got)
	}

	// Run tests shows per-test results and escaped output.
	e.sb.result = &faultline.Result{Status: faultline.StatusGraded, Score: 2, MaxScore: 3, Tests: []faultline.TestResult{
		{Name: "TestA", Status: faultline.TestPass, Score: 2, MaxScore: 2},
		{Name: "TestB<script>", Status: faultline.TestFail, MaxScore: 1, Message: "want <b>open</b>"},
	}}
	e.sb.output = "=== RUN TestA\n<script>alert(1)</script>\n"
	res = b.post("/labs/"+labSlug+"/run", nil)
	if res.status != http.StatusOK {
		t.Fatalf("run: %d\n%s", res.status, res.body)
	}
	if n := res.testid("test-row").Length(); n != 2 {
		t.Errorf("%d test rows, want 2", n)
	}
	if got := res.testid("run-score").Text(); got != "2/3" {
		t.Errorf("run score %q", got)
	}
	if !strings.Contains(res.testid("output").Text(), "<script>alert(1)</script>") || strings.Contains(res.body, "<script>alert(1)") {
		t.Error("run output not shown escaped")
	}
	if res.doc().Find("script:not([src])").Length() != 0 {
		t.Error("an inline script made it into the page")
	}

	// Submit: snapshot of starter + saved, worker kicked, redirect to the submission.
	res = b.post("/labs/"+labSlug+"/submissions", nil)
	if res.status != http.StatusSeeOther || !strings.HasPrefix(res.header.Get("Location"), "/submissions/") {
		t.Fatalf("submit: %d %q", res.status, res.header.Get("Location"))
	}
	if e.kicks.Load() != 1 {
		t.Errorf("kicks %d, want 1", e.kicks.Load())
	}
	subs, err := e.db.ListSubmissions(ctx, faultline.SubmissionFilter{UserID: u.ID})
	if err != nil || len(subs) != 1 {
		t.Fatalf("submissions %v %v", subs, err)
	}
	full, err := e.db.FindSubmission(ctx, subs[0].ID)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, f := range full.Files {
		got[f.Path] = string(f.Content)
	}
	if got[target] != "package x\n// v2\n" {
		t.Errorf("snapshot has %q for %s", got[target], target)
	}
	if len(full.Files) != len(lab.Starter) {
		t.Errorf("snapshot has %d files, want the %d starter paths", len(full.Files), len(lab.Starter))
	}
	for _, f := range lab.Hidden {
		if _, ok := got[f.Path]; ok && got[f.Path] == string(f.Content) {
			t.Errorf("hidden file %s in the snapshot", f.Path)
		}
	}
	if res := b.get("/labs/" + labSlug); res.testid("submission-row").Length() != 1 {
		t.Error("submission not listed on the lab page")
	}
}

func TestSaveFileRejects(t *testing.T) {
	e := MustEnv(t)
	u := e.MustUser("Lea Learner", faultline.RoleLearner)
	b := e.MustLogin(u)
	lab := e.mustLab(labSlug)
	tests := []struct {
		name    string
		path    string
		content string
		status  int
		want    string
	}{
		{"parent escape", "../etc/passwd", "x", 422, "may not contain"},
		{"absolute", "/etc/passwd", "x", 422, "relative"},
		{"hidden name", ".git/config", "x", 422, "hidden"},
		{"odd chars", "a b.go", "x", 422, "letters, digits"},
		{"empty", "", "x", 422, "1 to 200"},
		{"visible test", lab.Visible[0].Path, "package x", 422, "cannot be changed"},
		{"too large", "big.go", strings.Repeat("a", faultline.MaxFileSize+1), 413, "at most 256 KiB"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			res := b.post("/labs/"+labSlug+"/files", url.Values{"path": {tc.path}, "content": {tc.content}})
			if res.status != tc.status {
				t.Fatalf("status %d, want %d\n%s", res.status, tc.status, res.testid("form-error").Text())
			}
			if msg := res.testid("form-error").Text(); !strings.Contains(msg, tc.want) {
				t.Errorf("message %q, want %q", msg, tc.want)
			}
			if v, _ := res.testid("editor-path").Attr("value"); v != tc.path {
				t.Errorf("path not kept: %q", v)
			}
			if tc.status != 413 && res.testid("editor-content").Text() != tc.content {
				t.Errorf("content not kept")
			}
		})
	}
	if files, _ := e.db.Files(context.Background(), u.ID, labSlug); len(files) != 0 {
		t.Errorf("rejected saves stored %d files", len(files))
	}
}

func TestOversizedBody(t *testing.T) {
	e := MustEnv(t)
	u := e.MustUser("Lea Learner", faultline.RoleLearner)
	b := e.MustLogin(u)
	big := url.Values{"path": {"main.go"}, "content": {strings.Repeat("a", 2<<20)}}
	for _, path := range []string{"/labs/" + labSlug + "/files", "/login", "/setup"} {
		res := b.post(path, big)
		if res.status != http.StatusRequestEntityTooLarge {
			t.Errorf("POST %s with 2 MiB: %d, want 413", path, res.status)
		}
		if !strings.Contains(res.body, "larger than 1 MiB") {
			t.Errorf("POST %s: no clear message", path)
		}
	}
	if files, _ := e.db.Files(context.Background(), u.ID, labSlug); len(files) != 0 {
		t.Error("an oversized body was saved")
	}
}

func TestSandboxesUnavailable(t *testing.T) {
	for _, tc := range []struct {
		name string
		opts []envOption
	}{
		{"nil", []envOption{withoutSandboxes()}},
		{"engine down", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := MustEnv(t, tc.opts...)
			e.sb.unavailable = true
			u := e.MustUser("Lea Learner", faultline.RoleLearner)
			b := e.MustLogin(u)
			res := b.get("/labs/" + labSlug)
			if res.status != http.StatusOK || res.testid("sandbox-unavailable").Length() != 1 {
				t.Fatalf("lab page: %d, unavailable notice %d", res.status, res.testid("sandbox-unavailable").Length())
			}
			res = b.post("/labs/"+labSlug+"/sandbox", nil)
			if res.status != http.StatusServiceUnavailable || strings.TrimSpace(res.testid("form-error").Text()) == "" {
				t.Errorf("start: %d %q", res.status, res.testid("form-error").Text())
			}
			if res := b.post("/labs/"+labSlug+"/run", nil); res.status != http.StatusServiceUnavailable {
				t.Errorf("run: %d", res.status)
			}
			// Lessons, saving and submitting still work.
			if res := b.get("/lessons/circuit-breakers"); res.status != http.StatusOK {
				t.Errorf("lesson: %d", res.status)
			}
			if res := b.post("/labs/"+labSlug+"/files", url.Values{"path": {"notes.txt"}, "content": {"hi"}}); res.status != http.StatusSeeOther {
				t.Errorf("save: %d", res.status)
			}
			if res := b.post("/labs/"+labSlug+"/submissions", nil); res.status != http.StatusSeeOther {
				t.Errorf("submit: %d", res.status)
			}
		})
	}
}
