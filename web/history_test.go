package web

import (
	"context"
	"fmt"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/PuerkitoBio/goquery"

	"github.com/faultline-dev/faultline"
)

// mustSubmissionFiles creates a queued submission of u for lab with files.
func (e *env) mustSubmissionFiles(u *faultline.User, lab string, files map[string]string) *faultline.Submission {
	e.t.Helper()
	s := &faultline.Submission{UserID: u.ID, Lab: lab}
	for p, c := range files {
		s.Files = append(s.Files, faultline.File{Path: p, Content: []byte(c)})
	}
	if err := e.db.CreateSubmission(context.Background(), s); err != nil {
		e.t.Fatalf("create submission: %v", err)
	}
	return s
}

func TestHistoryShowsOwnSubmissionsOnly(t *testing.T) {
	e := MustEnv(t)
	lea := e.MustUser("Lea Learner", faultline.RoleLearner)
	otto := e.MustUser("Otto Other", faultline.RoleLearner)
	first := e.MustSubmission(lea, labSlug)
	e.MustComplete(&faultline.Result{Status: faultline.StatusGraded, Score: 3, MaxScore: 10})
	second := e.MustSubmission(lea, labSlug)
	theirs := e.MustSubmission(otto, labSlug)

	res := e.MustLogin(lea).get("/labs/" + labSlug)
	if res.status != http.StatusOK {
		t.Fatalf("lab page: %d", res.status)
	}
	var ids []string
	res.testid("submission-row").Each(func(_ int, s *goquery.Selection) { ids = append(ids, s.AttrOr("data-id", "")) })
	want := []string{fmt.Sprint(second.ID), fmt.Sprint(first.ID)}
	if !slices.Equal(ids, want) {
		t.Fatalf("history rows %v, want %v (newest first, not %d)", ids, want, theirs.ID)
	}
	if got := res.testid("submission-score").Text(); got != "3/10" {
		t.Errorf("score shown %q, want 3/10", got)
	}
	prev, _ := res.testid("diff-prev").Attr("href")
	if want := fmt.Sprintf("/labs/%s/diff?a=%d&b=%d", labSlug, first.ID, second.ID); prev != want {
		t.Errorf("changes link %q, want %q", prev, want)
	}
	if res.testid("compare-form").Length() != 1 {
		t.Errorf("no compare form")
	}
}

func TestDiffBetweenSubmissions(t *testing.T) {
	e := MustEnv(t)
	lea := e.MustUser("Lea Learner", faultline.RoleLearner)
	a := e.mustSubmissionFiles(lea, labSlug, map[string]string{
		"breaker.go": "package breaker\n\nfunc Open() bool {\n\treturn false\n}\n",
		"old.go":     "package breaker\n// gone later\n",
	})
	b := e.mustSubmissionFiles(lea, labSlug, map[string]string{
		"breaker.go": "package breaker\n\nfunc Open() bool {\n\treturn 1 < 2 && \"<script>\" != \"\"\n}\n",
		"new.go":     "package breaker\n// added later\n",
	})
	br := e.MustLogin(lea)
	res := br.get(fmt.Sprintf("/labs/%s/diff?a=%d&b=%d", labSlug, a.ID, b.ID))
	if res.status != http.StatusOK {
		t.Fatalf("diff: %d\n%s", res.status, res.body)
	}
	status := map[string]string{}
	res.testid("diff-file").Each(func(_ int, s *goquery.Selection) {
		status[s.AttrOr("data-path", "")] = s.AttrOr("data-status", "")
	})
	if status["breaker.go"] != "changed" || status["old.go"] != "removed" || status["new.go"] != "added" {
		t.Fatalf("file statuses %v", status)
	}
	file := res.doc().Find(`[data-testid="diff-file"][data-path="breaker.go"]`)
	if got := file.Find(`[data-testid="diff-del"]`).Text(); got != "-\treturn false" {
		t.Errorf("removed lines %q", got)
	}
	if got := file.Find(`[data-testid="diff-add"]`).Text(); got != "+\treturn 1 < 2 && \"<script>\" != \"\"" {
		t.Errorf("added lines %q", got)
	}
	if strings.Contains(res.body, "<script>\"") {
		t.Errorf("diff text is not escaped")
	}
	if got := res.doc().Find(`[data-path="new.go"] [data-testid="diff-add"]`).Length(); got != 2 {
		t.Errorf("added file shows %d added lines, want 2", got)
	}
	if got := res.doc().Find(`[data-path="old.go"] [data-testid="diff-del"]`).Length(); got != 2 {
		t.Errorf("removed file shows %d removed lines, want 2", got)
	}

	// Against the saved files: starter plus what was saved.
	if r := br.post("/labs/"+labSlug+"/files", url.Values{"path": {"new.go"}, "content": {"package breaker\n// saved\n"}}); r.status != http.StatusSeeOther {
		t.Fatalf("save: %d", r.status)
	}
	res = br.get(fmt.Sprintf("/labs/%s/diff?a=%d&b=saved", labSlug, b.ID))
	if res.status != http.StatusOK {
		t.Fatalf("diff against saved: %d", res.status)
	}
	nf := res.doc().Find(`[data-testid="diff-file"][data-path="new.go"]`)
	if nf.AttrOr("data-status", "") != "changed" || nf.Find(`[data-testid="diff-add"]`).Text() != "+// saved" {
		t.Errorf("new.go against saved: %q %q", nf.AttrOr("data-status", ""), nf.Find(`[data-testid="diff-add"]`).Text())
	}
}

func TestDiffAccess(t *testing.T) {
	e := MustEnv(t)
	lea := e.MustUser("Lea Learner", faultline.RoleLearner)
	otto := e.MustUser("Otto Other", faultline.RoleLearner)
	teacher := e.MustUser("Tia Teacher", faultline.RoleInstructor)
	outsider := e.MustUser("Ole Outsider", faultline.RoleInstructor)
	e.MustCohort("Spring", teacher, lea)
	e.MustCohort("Elsewhere", outsider, otto)
	a := e.mustSubmissionFiles(lea, labSlug, map[string]string{"x.go": "package x\n"})
	b := e.mustSubmissionFiles(lea, labSlug, map[string]string{"x.go": "package x\n// more\n"})
	o := e.mustSubmissionFiles(otto, labSlug, map[string]string{"x.go": "package y\n"})

	lab := func(x, y int64) string { return fmt.Sprintf("/labs/%s/diff?a=%d&b=%d", labSlug, x, y) }
	sub := func(x, y int64) string { return fmt.Sprintf("/submissions/%d/diff?against=%d", x, y) }
	cases := []struct {
		who  *faultline.User
		path string
		want int
	}{
		{lea, lab(a.ID, b.ID), http.StatusOK},
		{lea, sub(b.ID, a.ID), http.StatusOK},
		{otto, lab(a.ID, b.ID), http.StatusNotFound},     // not his
		{lea, lab(a.ID, o.ID), http.StatusNotFound},      // one side is another learner's
		{lea, lab(o.ID, a.ID), http.StatusNotFound},      //
		{otto, sub(b.ID, a.ID), http.StatusNotFound},     // a learner sees only his own
		{teacher, sub(b.ID, a.ID), http.StatusOK},        // instructor of Lea's cohort
		{teacher, sub(b.ID, o.ID), http.StatusNotFound},  // two learners mixed
		{outsider, sub(b.ID, a.ID), http.StatusNotFound}, // teaches another cohort
		{teacher, lab(a.ID, b.ID), http.StatusNotFound},  // the lab route is for one's own work
		{lea, lab(a.ID, 999999), http.StatusNotFound},    // no such submission
		{lea, "/labs/" + labSlug + "/diff?a=x&b=saved", http.StatusNotFound},
	}
	for _, c := range cases {
		if res := e.MustLogin(c.who).get(c.path); res.status != c.want {
			t.Errorf("%s GET %s: %d, want %d", c.who.Name, c.path, res.status, c.want)
		}
	}
	res := e.MustLogin(teacher).get(sub(b.ID, a.ID))
	if got := res.testid("diff-add").Text(); got != "+// more" {
		t.Errorf("instructor's diff shows %q", got)
	}
}

// versionIDs collects every version ID of the learner's files in paths.
func (e *env) versionIDs(u *faultline.User, paths ...string) map[int64]bool {
	e.t.Helper()
	ids := map[int64]bool{}
	for _, p := range paths {
		hist, err := e.db.FileHistory(context.Background(), u.ID, labSlug, p)
		if faultline.ErrorCode(err) == faultline.ENOTFOUND {
			continue
		} else if err != nil {
			e.t.Fatalf("history of %s: %v", p, err)
		}
		for _, v := range hist {
			ids[v.ID] = true
		}
	}
	return ids
}

// savedMap returns the learner's live saved files.
func (e *env) savedMap(u *faultline.User) map[string]string {
	e.t.Helper()
	vs, err := e.db.Files(context.Background(), u.ID, labSlug)
	if err != nil {
		e.t.Fatal(err)
	}
	m := map[string]string{}
	for _, v := range vs {
		m[v.Path] = string(v.Content)
	}
	return m
}

func TestResetAndRestore(t *testing.T) {
	e := MustEnv(t)
	lea := e.MustUser("Lea Learner", faultline.RoleLearner)
	br := e.MustLogin(lea)
	lab := e.mustLab(labSlug)
	starter := map[string]string{}
	var paths []string
	for _, f := range lab.Starter {
		starter[f.Path] = string(f.Content)
		paths = append(paths, f.Path)
	}
	target := paths[0]
	paths = append(paths, "notes.go")

	mine := map[string]string{target: "package breaker\n// mine v1\n", "notes.go": "package breaker\n// my notes\n"}
	for p, c := range mine {
		if r := br.post("/labs/"+labSlug+"/files", url.Values{"path": {p}, "content": {c}}); r.status != http.StatusSeeOther {
			t.Fatalf("save %s: %d", p, r.status)
		}
	}
	if r := br.post("/labs/"+labSlug+"/sandbox", nil); r.status != http.StatusSeeOther {
		t.Fatalf("start: %d", r.status)
	}

	// The first POST only asks.
	res := br.post("/labs/"+labSlug+"/reset", nil)
	if res.status != http.StatusOK || res.testid("confirm").Length() != 1 {
		t.Fatalf("reset without confirm: %d\n%s", res.status, res.body)
	}
	if !strings.Contains(res.testid("confirm-text").Text(), "notes.go") {
		t.Errorf("confirm page does not name the saved files: %q", res.testid("confirm-text").Text())
	}
	if got := e.savedMap(lea); !maps.Equal(got, mine) {
		t.Fatalf("asking changed the files: %v", got)
	}

	seen := e.versionIDs(lea, paths...)
	keepsAll := func(step string) {
		t.Helper()
		now := e.versionIDs(lea, paths...)
		for id := range seen {
			if !now[id] {
				t.Errorf("after %s version %d is gone", step, id)
			}
		}
		seen = now
	}

	res = br.post("/labs/"+labSlug+"/reset", url.Values{"confirm": {"1"}})
	if res.status != http.StatusSeeOther {
		t.Fatalf("reset: %d\n%s", res.status, res.body)
	}
	keepsAll("reset")
	if got := e.savedMap(lea); !maps.Equal(got, starter) {
		t.Fatalf("after reset saved files are %v, want the starter", got)
	}
	if got, _ := e.sb.sandboxFile(lea.ID, labSlug, target); got != starter[target] {
		t.Errorf("sandbox has %q for %s after reset, want the starter", got, target)
	}
	if _, ok := e.sb.sandboxFile(lea.ID, labSlug, "notes.go"); ok {
		t.Error("notes.go, no longer saved after the reset, is still in the sandbox")
	}
	page := br.get(res.header.Get("Location"))
	if !strings.Contains(page.testid("notice").Text(), "restore point") {
		t.Errorf("notice after reset %q", page.testid("notice").Text())
	}
	points := page.testid("restore-point")
	if points.Length() != 1 {
		t.Fatalf("%d restore points listed, want 1", points.Length())
	}
	point := points.AttrOr("data-id", "")

	// Restore asks, then brings back exactly the previous files.
	if r := br.post("/labs/"+labSlug+"/restore", url.Values{"point": {point}}); r.status != http.StatusOK || r.testid("confirm").Length() != 1 {
		t.Fatalf("restore without confirm: %d", r.status)
	}
	if r := br.post("/labs/"+labSlug+"/restore", url.Values{"point": {point}, "confirm": {"1"}}); r.status != http.StatusSeeOther {
		t.Fatalf("restore: %d\n%s", r.status, r.body)
	}
	keepsAll("restore")
	if got := e.savedMap(lea); !maps.Equal(got, mine) {
		t.Fatalf("after restore saved files are %v, want %v", got, mine)
	}
	if got, _ := e.sb.sandboxFile(lea.ID, labSlug, target); got != mine[target] {
		t.Errorf("sandbox has %q for %s after restore", got, target)
	}
	if got, _ := e.sb.sandboxFile(lea.ID, labSlug, "notes.go"); got != mine["notes.go"] {
		t.Errorf("sandbox has %q for notes.go after restore", got)
	}

	// The restore made a point of its own (the starter state); going back
	// and forth again loses nothing.
	page = br.get("/labs/" + labSlug)
	if n := page.testid("restore-point").Length(); n != 2 {
		t.Fatalf("%d restore points after a restore, want 2", n)
	}
	newest := page.testid("restore-point").First().AttrOr("data-id", "")
	if r := br.post("/labs/"+labSlug+"/restore", url.Values{"point": {newest}, "confirm": {"1"}}); r.status != http.StatusSeeOther {
		t.Fatalf("restore newest: %d", r.status)
	}
	keepsAll("second restore")
	if got := e.savedMap(lea); !maps.Equal(got, starter) {
		t.Fatalf("restoring the pre-restore point gives %v, want the starter", got)
	}
	if r := br.post("/labs/"+labSlug+"/reset", url.Values{"confirm": {"1"}}); r.status != http.StatusSeeOther {
		t.Fatalf("second reset: %d", r.status)
	}
	keepsAll("second reset")
	if r := br.post("/labs/"+labSlug+"/restore", url.Values{"point": {point}, "confirm": {"1"}}); r.status != http.StatusSeeOther {
		t.Fatalf("restore first point again: %d", r.status)
	}
	keepsAll("third restore")
	if got := e.savedMap(lea); !maps.Equal(got, mine) {
		t.Fatalf("the first point restores to %v, want %v", got, mine)
	}
	hist, err := e.db.FileHistory(context.Background(), lea.ID, labSlug, "notes.go")
	if err != nil {
		t.Fatal(err)
	}
	var kinds []string
	for _, v := range hist {
		if v.Deleted {
			kinds = append(kinds, "deleted")
		} else {
			kinds = append(kinds, string(v.Content))
		}
	}
	// Newest first: restored, deleted by reset, restored, deleted by reset, saved.
	want := []string{mine["notes.go"], "deleted", mine["notes.go"], "deleted", mine["notes.go"]}
	if !slices.Equal(kinds, want) {
		t.Errorf("history of notes.go %q, want %q", kinds, want)
	}

	// Restore points are per learner: another learner cannot use Lea's.
	otto := e.MustUser("Otto Other", faultline.RoleLearner)
	if r := e.MustLogin(otto).post("/labs/"+labSlug+"/restore", url.Values{"point": {point}, "confirm": {"1"}}); r.status != http.StatusNotFound {
		t.Errorf("another learner restoring Lea's point: %d, want 404", r.status)
	}
	// And they never show among the lab's files or go into a submission.
	if page := br.get("/labs/" + labSlug); page.doc().Find(`[data-testid="file-link"][data-path="points.json"]`).Length() != 0 {
		t.Errorf("the restore manifest shows as a file")
	}
}

// A reset with the container engine down still replaces the saved files and
// keeps the old ones as a restore point; nothing waits on the engine.
func TestResetWithEngineDown(t *testing.T) {
	e := MustEnv(t)
	lea := e.MustUser("Lea Learner", faultline.RoleLearner)
	br := e.MustLogin(lea)
	if r := br.post("/labs/"+labSlug+"/files", url.Values{"path": {"extra.go"}, "content": {"package breaker\n"}}); r.status != http.StatusSeeOther {
		t.Fatalf("save: %d", r.status)
	}
	e.sb.mu.Lock()
	e.sb.unavailable = true
	e.sb.mu.Unlock()
	if r := br.post("/labs/"+labSlug+"/reset", url.Values{"confirm": {"1"}}); r.status != http.StatusSeeOther {
		t.Fatalf("reset with the engine down: %d\n%s", r.status, r.body)
	}
	if _, ok := e.savedMap(lea)["extra.go"]; ok {
		t.Errorf("extra.go is still live after the reset")
	}
	page := br.get("/labs/" + labSlug)
	if page.testid("restore-point").Length() != 1 {
		t.Fatalf("no restore point after a reset with the engine down")
	}
	if r := br.post("/labs/"+labSlug+"/restore", url.Values{"point": {page.testid("restore-point").AttrOr("data-id", "")}, "confirm": {"1"}}); r.status != http.StatusSeeOther {
		t.Fatalf("restore: %d", r.status)
	}
	if got := e.savedMap(lea)["extra.go"]; got != "package breaker\n" {
		t.Errorf("extra.go after restore %q", got)
	}
}
