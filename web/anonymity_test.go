package web

import (
	"context"
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/faultline-dev/faultline"
	"github.com/faultline-dev/faultline/course"
)

// TestAnonymousAuthorNeverReachesClassmates: Annabel asks anonymously,
// attaches a failing run, replies anonymously and @mentions Bob. Bob, her
// classmate, reads everything there is — the index, the thread, the lab
// page's panel, the search, the JSON API with his token, the thread's and
// the index's event streams, his inbox — and nowhere is her name, her
// email or her user ID. Her instructor sees who she is everywhere, with a
// note that classmates do not.
func TestAnonymousAuthorNeverReachesClassmates(t *testing.T) {
	ctx := context.Background()
	w := mustTalkWorld(t)
	e := w.e
	sub := w.mustFailingRun(w.ann)
	// Bob asks first, so he follows a thread Annabel answers anonymously.
	bobQ := w.mustThread(w.bob, w.spring, course.NewThread{Title: "Half-open probes", Body: "How many probes?",
		Place: faultline.Place{Kind: faultline.PlaceLab, Slug: labSlug}})
	anon := w.mustThread(w.ann, w.spring, course.NewThread{Title: "Zeppelin breaker question", Body: "My breaker flaps; help?",
		Anonymous: true, Run: &course.RunRef{SubmissionID: sub, Test: 0}})
	w.mustReply(w.ann, w.spring, anon.Thread.ID, 0, "Adding detail, @Bob Learner may know.", true)
	w.mustReply(w.ann, w.spring, bobQ.Thread.ID, 0, "One probe at a time.", true)
	// She edits her anonymous reply: the history must stay hers and staff's.
	replies, _ := e.db.ListPosts(ctx, bobQ.Thread.ID)
	if _, err := e.course.EditPost(ctx, w.ann, w.spring.ID, replies[len(replies)-1].ID, "One probe at a time, then close."); err != nil {
		t.Fatal(err)
	}

	secrets := []string{w.ann.Name, "Annabel", "Quill", w.ann.Email, `"user_id":` + strconv.FormatInt(w.ann.ID, 10)}
	leaks := func(t *testing.T, what, body string) {
		t.Helper()
		for _, s := range secrets {
			if strings.Contains(body, s) {
				i := strings.Index(body, s)
				t.Errorf("%s shows %q to a classmate: …%s…", what, s, body[max(0, i-200):min(len(body), i+100)])
			}
		}
	}
	bob := e.MustLogin(w.bob)
	threadURL := course.ThreadURL(w.spring.ID, anon.Thread.ID)
	pages := map[string]string{
		"the index":                discussURL(w.spring.ID),
		"the index, lab filter":    discussURL(w.spring.ID) + "?place=lab:" + labSlug,
		"the anonymous thread":     threadURL,
		"Bob's own thread":         course.ThreadURL(w.spring.ID, bobQ.Thread.ID),
		"the lab page":             labURL(labSlug),
		"the discussion search":    discussURL(w.spring.ID) + "?q=zeppelin",
		"the unanswered filter":    discussURL(w.spring.ID) + "?filter=unanswered",
		"Bob's inbox":              "/inbox",
		"the site search":          "/search?q=zeppelin",
		"the thread's event feed":  threadURL + "/events?v=0",
		"Bob's thread's events":    course.ThreadURL(w.spring.ID, bobQ.Thread.ID) + "/events?v=0",
		"the index's event stream": discussURL(w.spring.ID) + "/events?v=0",
	}
	for what, path := range pages {
		res := bob.get(path)
		if res.status != http.StatusOK {
			t.Errorf("%s (%s): status %d", what, path, res.status)
			continue
		}
		leaks(t, what, res.body)
	}
	// The pages did show the posts, as Anonymous.
	page := bob.get(threadURL)
	if got := page.testid("author").First().Text(); got != faultline.Anonymous {
		t.Errorf("the thread's author shows to Bob as %q, want %q", got, faultline.Anonymous)
	}
	if !strings.Contains(page.body, "My breaker flaps") || page.testid("run").Length() != 1 || page.testid("run-submission").Length() != 0 {
		t.Errorf("Bob sees the question and the run, not the submission link:\n%.2000s", page.body)
	}
	if sr := bob.get("/search?q=zeppelin"); !strings.Contains(sr.body, threadURL) || !strings.Contains(sr.body, faultline.Anonymous) {
		t.Errorf("the site search does not find the thread by Anonymous:\n%.1500s", sr.body)
	}
	if ev := bob.get(threadURL + "/events?v=0"); !strings.Contains(ev.body, "event: posts") || !strings.Contains(ev.body, "Adding detail") {
		t.Errorf("the event stream sent no posts:\n%.500s", ev.body)
	}
	// The history of her edited reply is hers and staff's only.
	pid := strconv.FormatInt(replies[len(replies)-1].ID, 10)
	if res := bob.get(discussURL(w.spring.ID) + "/posts/" + pid + "/history"); res.status != http.StatusNotFound {
		t.Errorf("Bob reads the edit history of an anonymous post: %d", res.status)
	}
	// Bob's inbox has the mention and the reply, from Anonymous.
	ns, err := e.db.Notifications(ctx, w.bob.ID, 0, false)
	if err != nil {
		t.Fatal(err)
	}
	kinds := map[faultline.NotificationKind]string{}
	for _, n := range ns {
		kinds[n.Kind] = n.Actor
	}
	if kinds[faultline.NotifyMention] != faultline.Anonymous || kinds[faultline.NotifyAnswer] != faultline.Anonymous {
		t.Errorf("Bob's notifications: %+v; want a mention and an answer from Anonymous", kinds)
	}

	// JSON, with Bob's personal access token.
	_, secret, err := e.db.CreateToken(ctx, w.bob.ID, "script", time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	api := e.browser()
	api.header.Set("Authorization", "Bearer "+secret)
	for what, path := range map[string]string{
		"the threads API": "/api/v1/discussions/" + strconv.FormatInt(w.spring.ID, 10) + "/threads",
		"the thread API":  "/api/v1/discussions/" + strconv.FormatInt(w.spring.ID, 10) + "/threads/" + strconv.FormatInt(anon.Thread.ID, 10),
		"Bob's thread":    "/api/v1/discussions/" + strconv.FormatInt(w.spring.ID, 10) + "/threads/" + strconv.FormatInt(bobQ.Thread.ID, 10),
	} {
		res := api.get(path)
		if res.status != http.StatusOK || !strings.HasPrefix(res.header.Get("Content-Type"), "application/json") {
			t.Errorf("%s: %d %s", what, res.status, res.header.Get("Content-Type"))
			continue
		}
		leaks(t, what, res.body)
	}
	var got struct {
		Thread struct {
			Author struct {
				Name   string `json:"name"`
				UserID int64  `json:"user_id"`
			} `json:"author"`
		} `json:"thread"`
		Run struct {
			SubmissionID int64 `json:"submission_id"`
			Seed         int64 `json:"seed"`
		} `json:"run"`
	}
	res := api.get("/api/v1/discussions/" + strconv.FormatInt(w.spring.ID, 10) + "/threads/" + strconv.FormatInt(anon.Thread.ID, 10))
	if err := json.Unmarshal([]byte(res.body), &got); err != nil {
		t.Fatal(err)
	}
	if got.Thread.Author.Name != faultline.Anonymous || got.Thread.Author.UserID != 0 || got.Run.SubmissionID != 0 || got.Run.Seed != 4242 {
		t.Errorf("the thread as JSON to Bob: %+v", got)
	}

	// Staff always see who.
	ines := e.MustLogin(w.inst)
	sp := ines.get(threadURL)
	if !strings.Contains(sp.testid("author").First().Text(), w.ann.Name) || sp.testid("anon-note").Length() == 0 || sp.testid("run-submission").Length() != 1 {
		t.Errorf("the instructor does not see who asked, or the submission:\n%.1500s", sp.body)
	}
	if ev := ines.get(threadURL + "/events?v=0"); !strings.Contains(ev.body, w.ann.Name) {
		t.Error("the instructor's event stream hides the author")
	}
	// And Annabel sees herself.
	if p := e.MustLogin(w.ann).get(threadURL); !strings.Contains(p.testid("author").First().Text(), w.ann.Name) || p.testid("anon-note").Length() == 0 {
		t.Error("Annabel does not see she posted anonymously")
	}
}
