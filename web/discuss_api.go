package web

import (
	"net/http"
	"time"

	"github.com/go-chi/chi/v5"

	"github.com/faultline-dev/faultline/course"
)

// The discussions in the JSON API (bearer tokens, GET only): a cohort's
// threads and one thread with its posts, as the token's owner may see
// them. The JSON carries what the pages show: an anonymous author is
// "Anonymous" with no user ID to classmates.

func (s *Server) discussionAPIRoutes(r chi.Router) {
	r.Get("/discussions/{cid}/threads", s.api(s.apiThreads))
	r.Get("/discussions/{cid}/threads/{tid}", s.api(s.apiThread))
}

type apiAuthor struct {
	Name string `json:"name"`
	// UserID is set only when the caller may know who wrote it.
	UserID    int64 `json:"user_id,omitempty"`
	Staff     bool  `json:"staff,omitempty"`
	Anonymous bool  `json:"anonymous,omitempty"` // posted anonymously (shown to staff and the author)
}

func apiAuthorOf(a course.Author) apiAuthor {
	return apiAuthor{Name: a.Name, UserID: a.ID, Staff: a.Staff, Anonymous: a.Anonymous && a.ID != 0}
}

type apiThreadItem struct {
	ID           int64     `json:"id"`
	URL          string    `json:"url"`
	Title        string    `json:"title"`
	Kind         string    `json:"kind"`
	Place        string    `json:"place"`
	Author       apiAuthor `json:"author"`
	Replies      int       `json:"replies"`
	Unread       int       `json:"unread"`
	Votes        int       `json:"votes"`
	Answered     bool      `json:"answered"`
	Resolved     bool      `json:"resolved"`
	Pinned       bool      `json:"pinned,omitempty"`
	Locked       bool      `json:"locked,omitempty"`
	Private      bool      `json:"private,omitempty"`
	Group        string    `json:"group,omitempty"`
	LastActivity time.Time `json:"last_activity"`
}

func apiThreadItemOf(tv *course.ThreadView) apiThreadItem {
	t := tv.Thread
	return apiThreadItem{
		ID: t.ID, URL: course.ThreadURL(t.CohortID, t.ID), Title: t.Title, Kind: string(t.Kind), Place: t.Place.String(),
		Author: apiAuthorOf(tv.Author), Replies: t.Replies, Unread: t.Unread, Votes: t.Votes, Answered: t.Answered(),
		Resolved: t.Resolved(), Pinned: t.Pinned, Locked: t.Locked, Private: t.Private, Group: tv.GroupName,
		LastActivity: t.LastActivityAt.UTC(),
	}
}

// apiThreads lists a cohort's threads; ?filter=, ?place= and ?q= as the page.
func (s *Server) apiThreads(r *http.Request) (any, error) {
	cid, err := pathID(r, "cid")
	if err != nil {
		return nil, err
	}
	tq, _, err := indexQuery(r)
	if err != nil {
		return nil, err
	}
	list, err := s.c.Threads(r.Context(), UserFromContext(r.Context()), cid, tq)
	if err != nil {
		return nil, err
	}
	out := []apiThreadItem{}
	for _, tv := range list.Threads {
		out = append(out, apiThreadItemOf(tv))
	}
	return map[string]any{"cohort": apiCohort{ID: list.Cohort.ID, Name: list.Cohort.Name, CreatedAt: list.Cohort.CreatedAt.UTC(),
		URL: discussURL(list.Cohort.ID)}, "threads": out}, nil
}

type apiPost struct {
	ID         int64      `json:"id"`
	ParentID   int64      `json:"parent_id,omitempty"`
	Author     apiAuthor  `json:"author"`
	State      string     `json:"state"`
	HeldReason string     `json:"held_reason,omitempty"`
	Markdown   string     `json:"markdown,omitempty"`
	HTML       string     `json:"html,omitempty"`
	EndorsedBy string     `json:"endorsed_by,omitempty"`
	Answer     bool       `json:"answer,omitempty"`
	CreatedAt  time.Time  `json:"created_at"`
	EditedAt   *time.Time `json:"edited_at,omitempty"`
	Replies    []apiPost  `json:"replies,omitempty"`
}

func apiPostOf(p *course.PostView) apiPost {
	a := apiPost{
		ID: p.Post.ID, ParentID: p.Post.ParentID, Author: apiAuthorOf(p.Author), State: string(p.Post.State),
		HeldReason: p.Post.HeldReason, Markdown: p.Post.Body, HTML: p.Post.HTML, EndorsedBy: p.EndorsedBy, Answer: p.Answer,
		CreatedAt: p.Post.CreatedAt.UTC(),
	}
	if !p.Post.EditedAt.IsZero() {
		t := p.Post.EditedAt.UTC()
		a.EditedAt = &t
	}
	for _, r := range p.Replies {
		a.Replies = append(a.Replies, apiPostOf(r))
	}
	return a
}

type apiRun struct {
	Lab       string   `json:"lab"`
	Test      string   `json:"test"`
	Verdict   string   `json:"verdict"`
	Status    string   `json:"status"`
	Message   string   `json:"message"`
	Faults    []string `json:"faults"`
	Seed      int64    `json:"seed,omitempty"`
	FailedRun string   `json:"failed_run,omitempty"`
	// SubmissionID is set only for whoever may open the submission.
	SubmissionID int64 `json:"submission_id,omitempty"`
}

// apiThread returns one thread with its posts.
func (s *Server) apiThread(r *http.Request) (any, error) {
	cid, tid, err := pathIDs(r, "tid")
	if err != nil {
		return nil, err
	}
	pg, err := s.c.Thread(r.Context(), UserFromContext(r.Context()), cid, tid)
	if err != nil {
		return nil, err
	}
	out := map[string]any{"thread": apiThreadItemOf(pg.ThreadView)}
	if run := pg.Thread.Run; run != nil {
		out["run"] = apiRun{Lab: run.Lab, Test: run.Test, Verdict: string(run.Verdict), Status: string(run.Status),
			Message: run.Message, Faults: run.Faults, Seed: run.Seed, FailedRun: run.FailedRun, SubmissionID: run.SubmissionID}
	}
	posts := []apiPost{}
	if pg.Opening != nil {
		posts = append(posts, apiPostOf(pg.Opening))
	}
	for _, p := range pg.Replies {
		posts = append(posts, apiPostOf(p))
	}
	out["posts"] = posts
	if pg.Prompt != "" {
		out["prompt"] = pg.Prompt
	}
	return out, nil
}
