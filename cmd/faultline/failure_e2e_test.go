package main

import (
	"context"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/faultline-dev/faultline"
)

// TestFailingGradeExplainsItself grades a quorum-kv submission that loses
// acknowledged writes under faults (the last-write-wins mutant) through the
// real portal: queue, worker, grading container. The result page in Chromium
// must show what a learner needs to act on the failure: the property that
// broke, the faults injected, the seed, the command that replays it, the
// trace before it broke, and the timeline picture the test attached (served
// as an image that loads). Then the seed must reproduce the run: the
// learner's "Replay" button runs it again in a fresh grading container
// against their saved files and gets the same report, word for word; with
// the fix saved, the same run passes.
func TestFailingGradeExplainsItself(t *testing.T) {
	m := MustServe(t, t.TempDir())
	b := &browser{t: t, ctx: MustBrowser(t)}
	base := m.Config.BaseURL
	b.setupAdmin(m)
	ctx := context.Background()
	admin, err := m.DB.FindUserByEmail(ctx, "ada@example.com")
	if err != nil {
		t.Fatal(err)
	}
	lab, err := m.Labs.Lab("quorum-kv")
	if err != nil {
		t.Fatal(err)
	}
	const mutant, failing = "last-write-wins", "TestNoAckedWriteLostUnderFaults"
	files, ok := lab.Mutants[mutant]
	if !ok {
		t.Fatalf("quorum-kv has no mutant %s", mutant)
	}
	sub := &faultline.Submission{UserID: admin.ID, Lab: lab.Slug, Files: files}
	if err := m.DB.CreateSubmission(ctx, sub); err != nil {
		t.Fatal(err)
	}

	// The page updates by itself when the grade arrives.
	b.do("result page", 5*time.Minute,
		chromedp.Navigate(base+"/submissions/"+strconv.FormatInt(sub.ID, 10)),
		chromedp.WaitVisible(tid("score")),
	)
	rowText := get(b, "failing test row", chromedp.Evaluate[string](`(() => {
		for (const r of document.querySelectorAll('[data-testid="test-row"]')) {
			if (r.querySelector('[data-testid="test-name"]').textContent.trim() === '`+failing+`') {
				r.querySelectorAll('details').forEach(d => d.open = true);
				return r.dataset.status + '\n' + r.innerText;
			}
		}
		return 'no row';
	})()`))
	if !strings.HasPrefix(rowText, "fail\n") {
		t.Fatalf("%s on the result page: %.600s", failing, rowText)
	}
	seedRe := regexp.MustCompile(`Seed: (-?\d+)`)
	for _, want := range []*regexp.Regexp{
		regexp.MustCompile(`PROPERTY BROKEN: \S`),
		regexp.MustCompile(`Faults injected:\s*\n(?:\s*\(\d+ earlier faults not shown\)\s*\n)?\s*at \S+: \S`), // at least one fault, with its time
		seedRe,
		regexp.MustCompile(`Reproduce: LABKIT_SEED=-?\d+ go test -count=1 -run '\^` + failing + `\$/\^seed=-?\d+\$' \./\.\.\.`),
		regexp.MustCompile(`(?i)last \d+ events|trace`),
	} {
		if !want.MatchString(rowText) {
			t.Errorf("the %s row lacks %s:\n%s", failing, want, rowText)
		}
	}
	seeds := seedRe.FindStringSubmatch(rowText)

	// The timeline the test attached is shown as an image that loads. The
	// page may still be fetching it, so wait (up to a minute) for it to load.
	var pics []string
	found := false
	for deadline := time.Now().Add(time.Minute); !found && time.Now().Before(deadline); {
		pics = get(b, "pictures", chromedp.Evaluate[[]string](`[...document.querySelectorAll('[data-testid="picture"]')].map(f =>
			f.querySelector('figcaption').textContent + ' ' + (f.querySelector('img').complete && f.querySelector('img').naturalWidth > 0))`))
		for _, p := range pics {
			if strings.Contains(p, failing) && strings.Contains(p, "timeline.svg") && strings.HasSuffix(p, " true") {
				found = true
			}
		}
		if !found {
			time.Sleep(200 * time.Millisecond)
		}
	}
	if !found {
		t.Errorf("no loaded timeline picture for %s; pictures: %q", failing, pics)
	}
	if out := get(b, "run output", chromedp.Evaluate[string](`document.querySelector('[data-testid="result"]').innerHTML`)); strings.Contains(out, "labkit:svg") || strings.Contains(out, "&lt;svg") {
		t.Errorf("the SVG source is left in the page's text")
	}

	// The seed reproduces it.
	stored, err := m.DB.FindSubmission(ctx, sub.ID)
	if err != nil {
		t.Fatal(err)
	}
	var orig *faultline.TestResult
	for i := range stored.Result.Tests {
		if stored.Result.Tests[i].Name == failing {
			orig = &stored.Result.Tests[i]
		}
	}
	rp, ok := faultline.ParseRepro(orig.Output)
	if !ok {
		t.Fatalf("no reproduce command in the output of %s:\n%s", failing, orig.Output)
	}
	if seeds == nil || strconv.FormatInt(rp.Seed, 10) != seeds[1] {
		t.Fatalf("the page's seed %q and the reproduce command's %d differ", seeds, rp.Seed)
	}

	// The learner replays that run from the result page against their saved
	// files: first still the buggy ones, which fail the same way, word for
	// word; then with the fix, which passes exactly that run.
	for _, f := range files {
		if _, err := m.DB.SaveFile(ctx, admin.ID, lab.Slug, f.Path, f.Content); err != nil {
			t.Fatal(err)
		}
	}
	replay := chromedp.CSS(`[data-testid="replay"][data-test="` + failing + `"]`)
	b.do("replay the failing run", 5*time.Minute,
		chromedp.Navigate(base+"/submissions/"+strconv.FormatInt(sub.ID, 10)),
		chromedp.WaitVisible(replay),
		chromedp.Click(replay),
		chromedp.WaitVisible(tid("replay-result")),
	)
	if seed := get(b, "replay seed", chromedp.Text(tid("replay-seed"))); seed != strconv.FormatInt(rp.Seed, 10) {
		t.Errorf("the replay page names seed %q, want %d", seed, rp.Seed)
	}
	replayed := get(b, "replayed output", chromedp.Evaluate[string](`(() => {
		const rows = document.querySelectorAll('[data-testid="replay-result"] [data-testid="test-row"]');
		if (rows.length !== 1) return 'rows: ' + rows.length;
		rows[0].querySelectorAll('details').forEach(d => d.open = true);
		return rows[0].dataset.status + '\n' + rows[0].querySelector('pre').textContent;
	})()`))
	if !strings.HasPrefix(replayed, "fail\n") {
		t.Fatalf("the replay of the buggy files: %.600s", replayed)
	}
	if a, b := report(orig.Output), report(replayed); a == "" || a != b {
		t.Errorf("the replay's report differs from the graded run's:\n--- graded\n%s\n--- replayed\n%s", a, b)
	}
	if n := get(b, "replay pictures", chromedp.Evaluate[int](`[...document.querySelectorAll('[data-testid="replay-result"] [data-testid="picture"] img')].filter(i => i.complete && i.naturalWidth > 0).length`)); n == 0 {
		t.Errorf("the replay shows no timeline picture")
	}
	for _, f := range lab.Solution {
		if _, err := m.DB.SaveFile(ctx, admin.ID, lab.Slug, f.Path, f.Content); err != nil {
			t.Fatal(err)
		}
	}
	b.do("replay with the fix", 5*time.Minute,
		chromedp.Navigate(base+"/submissions/"+strconv.FormatInt(sub.ID, 10)),
		chromedp.WaitVisible(replay),
		chromedp.Click(replay),
		chromedp.WaitVisible(tid("replay-result")),
	)
	fixed := get(b, "fixed replay", chromedp.Evaluate[string](`[...document.querySelectorAll('[data-testid="replay-result"] [data-testid="test-row"]')].map(r => r.dataset.status).join(',')`))
	if fixed != "pass" {
		t.Errorf("replaying the run against the solution: test rows %q, want one pass", fixed)
	}
}

// report is the first labkit failure report in out, from PROPERTY BROKEN to
// the end of its subtest's output, without go test's indentation, so two
// runs compare.
func report(out string) string {
	i := strings.Index(out, "PROPERTY BROKEN")
	if i < 0 {
		return ""
	}
	var lines []string
	for _, l := range strings.Split(out[i:], "\n") {
		l = strings.TrimSpace(l)
		if strings.HasPrefix(l, "--- FAIL") || strings.HasPrefix(l, "=== RUN") || strings.HasPrefix(l, "…") {
			break // the end of this run's report
		}
		if strings.HasPrefix(l, "[picture") {
			continue
		}
		lines = append(lines, l)
	}
	return strings.Join(lines, "\n")
}
