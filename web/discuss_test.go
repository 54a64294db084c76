package web

import (
	"context"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/faultline-dev/faultline"
	"github.com/faultline-dev/faultline/course"
)

// notified returns the kinds (and titles) of u's notifications.
func (w *talkWorld) notified(u *faultline.User) map[faultline.NotificationKind][]string {
	w.e.t.Helper()
	ns, err := w.e.db.Notifications(context.Background(), u.ID, 0, false)
	if err != nil {
		w.e.t.Fatal(err)
	}
	out := map[faultline.NotificationKind][]string{}
	for _, n := range ns {
		out[n.Kind] = append(out[n.Kind], n.Title)
	}
	return out
}

// mustPassing stores a graded full-marks submission of u with files.
func (w *talkWorld) mustPassing(u *faultline.User, files []faultline.File, score int) int64 {
	w.e.t.Helper()
	max := w.e.mustLab(labSlug).MaxScore()
	s := &faultline.Submission{UserID: u.ID, Lab: labSlug, Files: files}
	if err := w.e.db.CreateSubmission(context.Background(), s); err != nil {
		w.e.t.Fatal(err)
	}
	return w.e.MustComplete(&faultline.Result{Status: faultline.StatusGraded, Score: score, MaxScore: max})
}

// otherSolution is a learner's own implementation, nothing like the lab's
// reference solution, that the tests treat as a passing submission.
const otherSolution = "package circuitbreaker\n\n" +
	"func window(samples []int, size int) (sum int, kept []int) {\n" +
	"\tfor i := len(samples) - 1; i >= 0 && len(kept) < size; i-- {\n" +
	"\t\tif samples[i] > 0 {\n\t\t\tsum += samples[i] * 3\n\t\t\tkept = append(kept, samples[i])\n\t\t} else {\n\t\t\tsum -= 7\n\t\t}\n\t}\n" +
	"\tfor j := 0; j < len(kept)/2; j++ {\n\t\tkept[j], kept[len(kept)-1-j] = kept[len(kept)-1-j], kept[j]\n\t}\n" +
	"\tif sum < 0 {\n\t\treturn 0, nil\n\t}\n\treturn sum, kept\n}\n\n" +
	"func decay(level float64, steps int) float64 {\n" +
	"\tfor k := 0; k < steps; k++ {\n\t\tlevel = level*0.5 + float64(k)/10\n\t\tif level > 100 {\n\t\t\tlevel = 100\n\t\t}\n\t}\n\treturn level\n}\n"

// TestLeakGuardHoldsSolutionCode: a learner's reply that pastes code much
// like a passing submission is held: its author reads why, classmates do
// not see it, staff find it on the moderation page and release it. Short
// snippets, failing submissions' code and private threads pass.
func TestLeakGuardHoldsSolutionCode(t *testing.T) {
	w := mustTalkWorld(t)
	e := w.e
	dan := e.MustUser("Dan Done", faultline.RoleLearner)
	if err := e.db.AddMember(context.Background(), w.spring.ID, dan.ID, faultline.MemberLearner); err != nil {
		t.Fatal(err)
	}
	lab := e.mustLab(labSlug)
	q := w.mustThread(w.ann, w.spring, course.NewThread{Title: "How do I count failures?", Place: faultline.Place{Kind: faultline.PlaceLab, Slug: labSlug}})
	threadURL := course.ThreadURL(w.spring.ID, q.Thread.ID)
	bob := e.MustLogin(w.bob)
	reply := func(body string) *response {
		return bob.post(threadURL+"/posts", url.Values{"body": {body}})
	}

	// Dan's code fails the lab: pasting it is fine.
	w.mustPassing(dan, []faultline.File{{Path: "window.go", Content: []byte(otherSolution)}}, 1)
	if res := reply("Try this:\n\n```go\n" + otherSolution + "```\n"); res.status != http.StatusSeeOther || strings.Contains(res.header.Get("Location"), "held") {
		t.Fatalf("code like a failing submission was held: %d %s", res.status, res.header.Get("Location"))
	}
	// Then Dan passes with it.
	w.mustPassing(dan, []faultline.File{{Path: "window.go", Content: []byte(otherSolution)}}, lab.MaxScore())
	renamed := strings.NewReplacer("window", "slide", "samples", "xs", "kept", "ys", "decay", "fade").Replace(otherSolution)
	res := reply("Here is mine, it passes:\n\n```go\n" + renamed + "```\n")
	if res.status != http.StatusSeeOther || !strings.Contains(res.header.Get("Location"), "notice=held") {
		t.Fatalf("renamed passing code was not held: %d %s", res.status, res.header.Get("Location"))
	}
	page := bob.get(strings.Split(res.header.Get("Location"), "#")[0]) // a browser keeps the fragment to itself
	if page.testid("held-notice").Length() != 1 || !strings.Contains(page.testid("held-reason").Text(), "passing solution") {
		t.Errorf("Bob is not told why his post is held:\n%.2000s", page.body)
	}
	// The reference solution is guarded too.
	sol := MustSolutionText(t, lab)
	if res := reply("```go\n" + sol + "```"); !strings.Contains(res.header.Get("Location"), "notice=held") {
		t.Errorf("the reference solution was not held: %s", res.header.Get("Location"))
	}
	// A short snippet passes.
	if res := reply("Count with `b.failures++` and compare:\n\n```go\nif b.failures >= max {\n\topen()\n}\n```"); strings.Contains(res.header.Get("Location"), "held") {
		t.Error("a three-line snippet was held")
	}
	// Ann does not see the held posts; Ines does, on the thread and the
	// moderation page, and was told.
	annPage := e.MustLogin(w.ann).get(threadURL)
	if strings.Contains(annPage.body, "slide") || annPage.body == "" {
		t.Error("Ann sees a held post")
	}
	ines := e.MustLogin(w.inst)
	if n := ines.get(threadURL).doc().Find(`[data-testid="post"][data-state="held"]`).Length(); n != 2 {
		t.Errorf("the instructor sees %d held posts on the thread, want 2", n)
	}
	mod := ines.get(course.ModerationURL(w.spring.ID))
	if n := mod.testid("held-line").Length(); n != 2 {
		t.Fatalf("moderation lists %d held posts, want 2", n)
	}
	if got := w.notified(w.inst)[faultline.NotifyModeration]; len(got) != 2 {
		t.Errorf("staff moderation notices: %q", got)
	}
	// A private question to staff is not guarded: only staff read it.
	priv := w.mustThread(w.bob, w.spring, course.NewThread{Title: "Is mine right?", Private: true, Body: "```go\n" + renamed + "```"})
	if priv.Held != "" {
		t.Error("a private question to staff was held")
	}
	// Ines releases the first held post: Ann now sees it and is told.
	held := mod.doc().Find(`[data-testid="held-line"] [data-testid="post"]`).First()
	pid := held.AttrOr("data-post", "")
	if r := ines.post(discussURL(w.spring.ID)+"/posts/"+pid+"/moderate?back=moderation", url.Values{"action": {"release"}}); r.status != http.StatusSeeOther {
		t.Fatalf("release: %d", r.status)
	}
	if !strings.Contains(e.MustLogin(w.ann).get(threadURL).body, "slide") {
		t.Error("a released post stays hidden")
	}
	if got := w.notified(w.ann)[faultline.NotifyAnswer]; len(got) == 0 {
		t.Error("Ann was not told about the released answer")
	}
	if got := w.notified(w.bob)[faultline.NotifyModeration]; len(got) != 1 {
		t.Errorf("Bob's moderation notices: %q", got)
	}
	log := ines.get(course.ModerationURL(w.spring.ID)).testid("audit-action").Text()
	if !strings.Contains(log, "release post") {
		t.Errorf("the audit log has no release: %q", log)
	}
	// Bob may not release his own post.
	if r := bob.post(discussURL(w.spring.ID)+"/posts/"+pid+"/moderate", url.Values{"action": {"hide"}}); r.status != http.StatusNotFound {
		t.Errorf("a learner moderates: %d", r.status)
	}
}

// MustSolutionText is the lab's reference breaker.go.
func MustSolutionText(t *testing.T, l *faultline.Lab) string {
	t.Helper()
	for _, f := range l.Solution {
		if f.Path == "breaker.go" {
			return string(f.Content)
		}
	}
	t.Fatal("no breaker.go in the solution")
	return ""
}

// TestQuestionAnsweredEndorsedAndCounted: a question is answered by a
// classmate and by staff, staff endorse, the asker marks the answer; the
// notifications, the filters and the dashboard's numbers follow.
func TestQuestionAnsweredEndorsedAndCounted(t *testing.T) {
	w := mustTalkWorld(t)
	e := w.e
	q := w.mustThread(w.ann, w.spring, course.NewThread{Title: "Why half-open?", Place: faultline.Place{Kind: faultline.PlaceLesson, Slug: "circuit-breakers"}})
	other := w.mustThread(w.cara, w.spring, course.NewThread{Title: "Nobody answers me"})
	threadURL := course.ThreadURL(w.spring.ID, q.Thread.ID)
	ann, bob, cara, ines := e.MustLogin(w.ann), e.MustLogin(w.bob), e.MustLogin(w.cara), e.MustLogin(w.inst)

	if got := w.notified(w.inst)[faultline.NotifyReply]; len(got) != 2 {
		t.Errorf("staff were told of %d new questions, want 2: %q", len(got), got)
	}
	unanswered := ann.get(discussURL(w.spring.ID) + "?filter=unanswered")
	if n := unanswered.testid("thread-row").Length(); n != 2 {
		t.Fatalf("%d unanswered questions listed, want 2", n)
	}
	// Cara has the same question.
	if r := cara.post(threadURL+"/vote", url.Values{"on": {"1"}}); r.status != http.StatusSeeOther {
		t.Fatalf("vote: %d", r.status)
	}
	if r := ann.post(threadURL+"/vote", url.Values{"on": {"1"}}); r.status != http.StatusUnprocessableEntity {
		t.Errorf("the asker voted on her own question: %d", r.status)
	}
	e.clock.Add(30 * time.Minute)
	if r := bob.post(threadURL+"/posts", url.Values{"body": {"It tests whether the dependency recovered."}}); r.status != http.StatusSeeOther {
		t.Fatalf("Bob's answer: %d", r.status)
	}
	e.clock.Add(time.Hour)
	if r := ines.post(threadURL+"/posts", url.Values{"body": {"Yes, and @Cara Learner asked the same."}}); r.status != http.StatusSeeOther {
		t.Fatalf("the instructor's answer: %d", r.status)
	}
	if got := w.notified(w.ann)[faultline.NotifyAnswer]; len(got) != 2 {
		t.Errorf("Ann was told of %d answers, want 2: %q", len(got), got)
	}
	if got := w.notified(w.cara); len(got[faultline.NotifyMention]) != 1 {
		t.Errorf("Cara's notices: %+v; want the mention", got)
	}
	page := ines.get(threadURL)
	bobPost := page.doc().Find(`[data-testid="post"]`).Eq(1)
	pid := bobPost.AttrOr("data-post", "")
	if r := bob.post(discussURL(w.spring.ID)+"/posts/"+pid+"/endorse", url.Values{"on": {"1"}}); r.status != http.StatusNotFound {
		t.Errorf("a learner endorsed: %d", r.status)
	}
	if r := ines.post(discussURL(w.spring.ID)+"/posts/"+pid+"/endorse", url.Values{"on": {"1"}}); r.status != http.StatusSeeOther {
		t.Fatalf("endorse: %d", r.status)
	}
	if got := w.notified(w.bob)[faultline.NotifyAnswer]; len(got) != 1 || !strings.Contains(got[0], "endorsed") {
		t.Errorf("Bob's answer notices: %q", got)
	}
	if r := ann.post(threadURL+"/answer", url.Values{"post": {pid}}); r.status != http.StatusSeeOther {
		t.Fatalf("mark answer: %d", r.status)
	}
	page = cara.get(threadURL)
	if page.testid("endorsed").Length() != 1 || page.testid("answer-badge").Length() != 1 {
		t.Errorf("the endorsement and the answer do not show:\n%.2000s", page.body)
	}
	if r := cara.post(threadURL+"/answer", url.Values{"post": {"0"}}); r.status != http.StatusNotFound {
		t.Errorf("a classmate unmarked the answer: %d", r.status)
	}
	if n := ann.get(discussURL(w.spring.ID) + "?filter=unresolved").testid("thread-row").Length(); n != 1 {
		t.Errorf("%d unresolved questions, want Cara's only", n)
	}
	dash := ines.get(cohortURL(w.spring.ID))
	if got := dash.testid("unanswered-count").Text(); got != "1" {
		t.Errorf("dashboard: %s unanswered, want 1", got)
	}
	if got := dash.testid("median-first").Text(); got != "1 h 30 min" {
		t.Errorf("dashboard: median time to a first staff answer %q, want 1 h 30 min", got)
	}
	// Staff lock it: learners cannot post, staff can.
	if r := ines.post(threadURL+"/flags", url.Values{"flag": {"locked"}, "on": {"1"}}); r.status != http.StatusSeeOther {
		t.Fatalf("lock: %d", r.status)
	}
	if r := bob.post(threadURL+"/posts", url.Values{"body": {"one more"}}); r.status != http.StatusForbidden || !strings.Contains(r.body, "locked") {
		t.Errorf("a learner posted in a locked thread: %d", r.status)
	}
	if r := bob.post(threadURL+"/flags", url.Values{"flag": {"pinned"}, "on": {"1"}}); r.status != http.StatusNotFound {
		t.Errorf("a learner pinned: %d", r.status)
	}
	// Moving the question to private hides it from classmates.
	if r := ines.post(course.ThreadURL(w.spring.ID, other.Thread.ID)+"/flags", url.Values{"flag": {"private"}, "on": {"1"}}); r.status != http.StatusSeeOther {
		t.Fatalf("make private: %d", r.status)
	}
	if r := bob.get(course.ThreadURL(w.spring.ID, other.Thread.ID)); r.status != http.StatusNotFound {
		t.Errorf("a private thread shows to a classmate: %d", r.status)
	}
	if r := cara.get(course.ThreadURL(w.spring.ID, other.Thread.ID)); r.status != http.StatusOK {
		t.Errorf("its author lost it: %d", r.status)
	}
	// The inbox opens a notification and marks it read.
	inbox := ann.get("/inbox")
	open := inbox.doc().Find(`[data-testid="notification"] form`).First().AttrOr("action", "")
	if r := ann.post(open, nil); r.status != http.StatusSeeOther || !strings.HasPrefix(r.header.Get("Location"), "/discuss/") {
		t.Errorf("opening a notification: %d %s", r.status, r.header.Get("Location"))
	}
	if r := bob.post(open, nil); r.status != http.StatusNotFound {
		t.Errorf("Bob opened Ann's notification: %d", r.status)
	}
	// Reading the thread clears its unread count.
	row := ann.get(discussURL(w.spring.ID)).doc().Find(`[data-thread="` + strconv.FormatInt(q.Thread.ID, 10) + `"] [data-testid="unread"]`)
	if row.Length() != 1 {
		t.Fatal("no unread count on the thread with new answers")
	}
	last := ann.get(threadURL).testid("posts").AttrOr("data-last", "")
	if r := ann.post(threadURL+"/read", url.Values{"upto": {last}}); r.status != http.StatusSeeOther {
		t.Fatalf("mark read: %d", r.status)
	}
	row = ann.get(discussURL(w.spring.ID)).doc().Find(`[data-thread="` + strconv.FormatInt(q.Thread.ID, 10) + `"] [data-testid="unread"]`)
	if row.Length() != 0 {
		t.Error("the thread is still unread after Mark all as read")
	}
}

// TestPostsEditDeleteReportAndHistory: an author edits (the history keeps
// the old text for them and staff), deletes, and a classmate reports.
func TestPostsEditDeleteReportAndHistory(t *testing.T) {
	w := mustTalkWorld(t)
	e := w.e
	q := w.mustThread(w.ann, w.spring, course.NewThread{Title: "Typos", Body: "First text"})
	base := discussURL(w.spring.ID) + "/posts/" + strconv.FormatInt(q.Post.ID, 10)
	ann, bob, ines := e.MustLogin(w.ann), e.MustLogin(w.bob), e.MustLogin(w.inst)
	if r := bob.get(base + "/edit"); r.status != http.StatusNotFound {
		t.Errorf("a classmate opens the edit form: %d", r.status)
	}
	if r := ann.post(base+"/edit", url.Values{"body": {""}}); r.status != http.StatusUnprocessableEntity || r.testid("error").Length() != 1 {
		t.Errorf("an empty edit: %d", r.status)
	}
	if r := ann.post(base+"/edit", url.Values{"body": {"Second text"}}); r.status != http.StatusSeeOther {
		t.Fatalf("edit: %d", r.status)
	}
	for who, b := range map[string]*browser{"author": ann, "staff": ines} {
		h := b.get(base + "/history")
		if h.status != http.StatusOK || !strings.Contains(h.testid("revisions").Text(), "First text") {
			t.Errorf("%s's history: %d\n%.800s", who, h.status, h.body)
		}
	}
	if r := bob.get(base + "/history"); r.status != http.StatusNotFound {
		t.Errorf("a classmate reads the history: %d", r.status)
	}
	if r := bob.post(base+"/report", url.Values{"reason": {"off topic"}}); r.status != http.StatusSeeOther {
		t.Fatalf("report: %d", r.status)
	}
	if r := bob.post(base+"/report", url.Values{"reason": {"again"}}); r.status != http.StatusConflict {
		t.Errorf("a second report: %d", r.status)
	}
	if r := ann.post(base+"/report", nil); r.status != http.StatusUnprocessableEntity {
		t.Errorf("reporting one's own post: %d", r.status)
	}
	mod := ines.get(course.ModerationURL(w.spring.ID))
	if mod.testid("reported-line").Length() != 1 || !strings.Contains(mod.body, "off topic") {
		t.Errorf("the report is not on the moderation page:\n%.1500s", mod.body)
	}
	if r := ines.post(base+"/moderate", url.Values{"action": {"hide"}}); r.status != http.StatusSeeOther {
		t.Fatalf("hide: %d", r.status)
	}
	if strings.Contains(bob.get(course.ThreadURL(w.spring.ID, q.Thread.ID)).body, "Second text") {
		t.Error("a hidden post shows to a classmate")
	}
	if r := ann.post(base+"/edit", url.Values{"body": {"Sneaky"}}); r.status != http.StatusForbidden {
		t.Errorf("the author edited a hidden post: %d", r.status)
	}
	if r := ines.post(base+"/moderate", url.Values{"action": {"restore"}}); r.status != http.StatusSeeOther {
		t.Fatalf("restore: %d", r.status)
	}
	if r := ann.post(base+"/delete", nil); r.status != http.StatusSeeOther {
		t.Fatalf("delete: %d", r.status)
	}
	page := bob.get(course.ThreadURL(w.spring.ID, q.Thread.ID))
	if page.testid("deleted").Length() != 1 || strings.Contains(page.body, "Second text") {
		t.Error("a deleted post's text shows to a classmate")
	}
	if !strings.Contains(ines.get(course.ThreadURL(w.spring.ID, q.Thread.ID)).body, "Second text") {
		t.Error("staff lost a deleted post's text")
	}
}

// TestGroupsDiscussACasePrompt: staff split the cohort, each group
// discusses a prompt in its own thread, another group cannot read it until
// staff share it, and staff see the groups side by side.
func TestGroupsDiscussACasePrompt(t *testing.T) {
	w := mustTalkWorld(t)
	e := w.e
	dan := e.MustUser("Dan Learner", faultline.RoleLearner)
	if err := e.db.AddMember(context.Background(), w.spring.ID, dan.ID, faultline.MemberLearner); err != nil {
		t.Fatal(err)
	}
	ines := e.MustLogin(w.inst)
	if r := ines.post(groupsURL(w.spring.ID)+"/split", url.Values{"size": {"1"}}); r.status != http.StatusUnprocessableEntity || r.testid("error").Length() != 1 {
		t.Errorf("a size of 1: %d", r.status)
	}
	if r := ines.post(groupsURL(w.spring.ID)+"/split", url.Values{"size": {"2"}}); r.status != http.StatusSeeOther {
		t.Fatalf("split: %d", r.status)
	}
	groups, err := e.db.ListGroups(context.Background(), w.spring.ID, false)
	if err != nil || len(groups) != 2 || len(groups[0].Members)+len(groups[1].Members) != 4 {
		t.Fatalf("after a split into pairs: %+v, %v", groups, err)
	}
	users := map[int64]*faultline.User{w.ann.ID: w.ann, w.bob.ID: w.bob, w.cara.ID: w.cara, dan.ID: dan}
	a1, a2 := users[groups[0].Members[0]], users[groups[0].Members[1]]
	b1 := users[groups[1].Members[0]]

	// The case page offers the prompts to the group.
	casePage := e.MustLogin(a1).get("/cases/dynamo")
	if n := casePage.testid("prompt-line").Length(); n != len(testPrompts) {
		t.Fatalf("%d prompts on the case page, want %d\n%.1500s", n, len(testPrompts), casePage.body)
	}
	start := casePage.testid("prompt-line").First().Find("form").AttrOr("action", "")
	res := e.MustLogin(a1).post(start, nil)
	if res.status != http.StatusSeeOther {
		t.Fatalf("start the prompt: %d", res.status)
	}
	threadURL := strings.Split(res.header.Get("Location"), "#")[0]
	if r := e.MustLogin(a1).post(threadURL+"/posts", url.Values{"body": {"We would choose consistency for payments."}}); r.status != http.StatusSeeOther {
		t.Fatalf("a1 posts: %d", r.status)
	}
	if r := e.MustLogin(a2).post(start, nil); r.status != http.StatusSeeOther || strings.Split(r.header.Get("Location"), "#")[0] != threadURL {
		t.Errorf("the partner's start did not lead to the same thread: %s", r.header.Get("Location"))
	}
	if r := e.MustLogin(a2).post(threadURL+"/posts", url.Values{"body": {"Agreed, and the reader pays in repair work."}}); r.status != http.StatusSeeOther {
		t.Fatalf("a2 posts: %d", r.status)
	}
	// The other group starts its own.
	res = e.MustLogin(b1).post(start, nil)
	otherURL := strings.Split(res.header.Get("Location"), "#")[0]
	if otherURL == threadURL {
		t.Fatal("two groups share one thread")
	}
	if r := e.MustLogin(b1).get(threadURL); r.status != http.StatusNotFound {
		t.Errorf("another group reads the thread: %d", r.status)
	}
	if r := e.MustLogin(b1).post(threadURL+"/posts", url.Values{"body": {"x"}}); r.status != http.StatusNotFound {
		t.Errorf("another group posts in the thread: %d", r.status)
	}
	// Side by side for staff.
	board := ines.get(cohortURL(w.spring.ID) + "/cases/dynamo")
	if n := board.testid("board-prompt").Length(); n != len(testPrompts) {
		t.Fatalf("%d prompts on the board", n)
	}
	first := board.testid("board-prompt").First()
	if n := first.Find(`[data-testid="board-cell"]`).Length(); n != 2 {
		t.Fatalf("%d groups side by side, want 2", n)
	}
	if n := first.Find(`[data-testid="board-post"]`).Length(); n != 2 || !strings.Contains(first.Text(), "consistency for payments") {
		t.Errorf("the board shows %d posts of the first group", n)
	}
	// Shared with the cohort: the other group reads it, and cannot post.
	if r := ines.post(threadURL+"/flags", url.Values{"flag": {"shared"}, "on": {"1"}}); r.status != http.StatusSeeOther {
		t.Fatalf("share: %d", r.status)
	}
	if r := e.MustLogin(b1).get(threadURL); r.status != http.StatusOK || !strings.Contains(r.body, "consistency for payments") {
		t.Errorf("a shared thread does not show to the cohort: %d", r.status)
	}
	if r := e.MustLogin(b1).post(threadURL+"/posts", url.Values{"body": {"x"}}); r.status != http.StatusForbidden {
		t.Errorf("another group posts in a shared thread: %d", r.status)
	}
	if n := e.MustLogin(b1).get(discussURL(w.spring.ID)).testid("shared").Length(); n != 1 {
		t.Errorf("the shared thread is not in the cohort's index")
	}
	// Moving a learner by hand.
	if r := ines.post(groupsURL(w.spring.ID)+"/move", url.Values{"user": {strconv.FormatInt(b1.ID, 10)}, "group": {strconv.FormatInt(groups[0].ID, 10)}}); r.status != http.StatusSeeOther {
		t.Fatalf("move: %d", r.status)
	}
	g, _ := e.db.FindGroup(context.Background(), groups[0].ID)
	if len(g.Members) != 3 {
		t.Errorf("after the move group 1 has %d members", len(g.Members))
	}
	if r := ines.post(groupsURL(w.spring.ID)+"/move", url.Values{"user": {strconv.FormatInt(w.eve.ID, 10)}, "group": {strconv.FormatInt(groups[0].ID, 10)}}); r.status != http.StatusNotFound {
		t.Errorf("moving another cohort's learner: %d", r.status)
	}
}
