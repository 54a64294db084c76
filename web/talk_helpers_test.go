package web

import (
	"context"
	"io/fs"
	"strings"
	"sync"
	"testing"
	"testing/fstest"
	"time"

	"github.com/faultline-dev/faultline"
	"github.com/faultline-dev/faultline/content"
	"github.com/faultline-dev/faultline/course"
)

// The prompts the tests' case study carries (added to the real dynamo case
// study, so the tests do not depend on the prompts the course ships).
var testPrompts = []string{
	"Dynamo chose availability for writes. Which of your own systems would make the other choice, and why?",
	"Sloppy quorums keep writes flowing during a partition. What does a reader pay for that later?",
	"Vector clocks hand conflicts to the application. Design the merge for a shopping cart.",
}

var (
	talkOnce    sync.Once
	talkCatalog *content.Catalog
	talkErr     error
)

// withTalkContent is the real course with testPrompts as the discussion
// prompts of the dynamo case study.
func withTalkContent(t testing.TB) envOption {
	t.Helper()
	talkOnce.Do(func() {
		m := fstest.MapFS{}
		talkErr = fs.WalkDir(content.FS, ".", func(p string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() {
				return err
			}
			b, err := fs.ReadFile(content.FS, p)
			if err != nil {
				return err
			}
			if p == "cases/dynamo.md" {
				s := string(b)
				s = stripDiscussion(s)
				var list strings.Builder
				list.WriteString("discussion:\n")
				for _, q := range testPrompts {
					list.WriteString("  - \"" + q + "\"\n")
				}
				s = strings.Replace(s, "\n---\n", "\n"+strings.TrimSuffix(list.String(), "\n")+"\n---\n", 1)
				b = []byte(s)
			}
			m[p] = &fstest.MapFile{Data: b}
			return nil
		})
		if talkErr == nil {
			talkCatalog, talkErr = content.Load(m)
		}
	})
	if talkErr != nil {
		t.Fatalf("load the test course: %v", talkErr)
	}
	return func(d *envDeps) { d.Content = talkCatalog }
}

// stripDiscussion drops a discussion: list the case study may already have.
func stripDiscussion(s string) string {
	fm, rest, ok := strings.Cut(strings.TrimPrefix(s, "---\n"), "\n---\n")
	if !ok {
		return s
	}
	var out []string
	skipping := false
	for _, ln := range strings.Split(fm, "\n") {
		if strings.HasPrefix(ln, "discussion:") {
			skipping = true
			continue
		}
		if skipping && (strings.HasPrefix(ln, " ") || strings.HasPrefix(ln, "-")) {
			continue
		}
		skipping = false
		out = append(out, ln)
	}
	return "---\n" + strings.Join(out, "\n") + "\n---\n" + rest
}

// talkWorld is a cohort for the conversation's tests: Ines teaches Spring,
// where Ann and Bob are in Group 1 and Cara in Group 2; Olga teaches
// Autumn, where Eve learns.
type talkWorld struct {
	e                      *env
	inst, ann, bob, cara   *faultline.User
	otherInst, eve, visitr *faultline.User
	spring, autumn         *faultline.Cohort
	g1, g2                 *faultline.Group
}

func mustTalkWorld(t *testing.T, opts ...envOption) *talkWorld {
	t.Helper()
	e := MustEnv(t, append([]envOption{withTalkContent(t)}, opts...)...)
	w := &talkWorld{e: e}
	w.inst = e.MustUser("Ines Instructor", faultline.RoleInstructor)
	w.ann = e.MustUser("Annabel Quill", faultline.RoleLearner)
	w.bob = e.MustUser("Bob Learner", faultline.RoleLearner)
	w.cara = e.MustUser("Cara Learner", faultline.RoleLearner)
	w.otherInst = e.MustUser("Olga Otherinst", faultline.RoleInstructor)
	w.eve = e.MustUser("Eve Elsewhere", faultline.RoleLearner)
	w.spring = e.MustCohort("Spring", w.inst, w.ann, w.bob, w.cara)
	w.autumn = e.MustCohort("Autumn", w.otherInst, w.eve)
	w.g1 = &faultline.Group{Name: "Group 1", Members: []int64{w.ann.ID, w.bob.ID}}
	w.g2 = &faultline.Group{Name: "Group 2", Members: []int64{w.cara.ID}}
	if err := e.db.ReplaceGroups(context.Background(), w.spring.ID, []*faultline.Group{w.g1, w.g2}); err != nil {
		t.Fatal(err)
	}
	e.srv.StreamLimit = 300 * time.Millisecond
	return w
}

// mustThread starts a thread through the course layer.
func (w *talkWorld) mustThread(u *faultline.User, c *faultline.Cohort, in course.NewThread) *course.Posted {
	w.e.t.Helper()
	if in.Title == "" {
		in.Title = "A question"
	}
	if in.Body == "" {
		in.Body = "Why does it flap?"
	}
	p, err := w.e.course.StartThread(context.Background(), u, c.ID, in)
	if err != nil {
		w.e.t.Fatalf("start thread: %v", err)
	}
	return p
}

// mustReply replies through the course layer.
func (w *talkWorld) mustReply(u *faultline.User, c *faultline.Cohort, threadID, parent int64, body string, anon bool) *course.Posted {
	w.e.t.Helper()
	p, err := w.e.course.Reply(context.Background(), u, c.ID, threadID, parent, body, anon)
	if err != nil {
		w.e.t.Fatalf("reply: %v", err)
	}
	return p
}

// mustFailingRun makes a graded submission of u whose first test failed
// with a seed, a fault report and a picture; it returns its ID.
func (w *talkWorld) mustFailingRun(u *faultline.User) int64 {
	w.e.t.Helper()
	w.e.MustSubmission(u, labSlug)
	return w.e.MustComplete(&faultline.Result{Status: faultline.StatusGraded, Score: 0, MaxScore: 2, Tests: []faultline.TestResult{
		{Name: "TestOpensAfterThreshold", Status: faultline.TestFail, Score: 0, MaxScore: 1, Message: "the breaker stayed closed",
			Output:      "Faults injected:\n  at 10ms: partition a | b\n  at 20ms: heal\nseed=4242\n",
			Attachments: []faultline.Attachment{{Name: "timeline.svg", SVG: `<svg xmlns="http://www.w3.org/2000/svg"/>`}},
			FailedRun:   "TestOpensAfterThreshold/seed=4242", Seed: 4242},
		{Name: "TestHalfOpenProbe", Status: faultline.TestPass, Score: 1, MaxScore: 1},
	}})
}
