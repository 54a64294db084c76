package course

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/faultline-dev/faultline"
)

// Office hours: staff open a learner's current files read-only (the page
// refreshes them live), and, while the learner shares it, watch their
// terminal. Sharing is the learner's choice, per lab, kept in memory (a
// portal restart ends it, as it ends the terminal); nothing of the terminal
// is recorded before the learner shares it, and watchers are cut off when
// they stop.

// termBacklog is how much recent output a new watcher is shown.
const termBacklog = 64 << 10

// termKey names one learner's terminal of one lab.
type termKey struct {
	user int64
	lab  string
}

// termShares holds the terminals learners share and who watches them.
type termShares struct {
	mu     sync.Mutex
	shared map[termKey]*termShare
}

type termShare struct {
	since    time.Time
	backlog  []byte
	watchers map[chan []byte]bool
}

func newTermShares() *termShares { return &termShares{shared: map[termKey]*termShare{}} }

// set shares (on) or stops sharing a terminal; stopping closes every watch.
func (h *termShares) set(k termKey, on bool, now time.Time) {
	h.mu.Lock()
	defer h.mu.Unlock()
	sh := h.shared[k]
	switch {
	case on && sh == nil:
		h.shared[k] = &termShare{since: now, watchers: map[chan []byte]bool{}}
	case !on && sh != nil:
		for c := range sh.watchers {
			close(c)
		}
		delete(h.shared, k)
	}
}

func (h *termShares) isShared(k termKey) (time.Time, bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	sh := h.shared[k]
	if sh == nil {
		return time.Time{}, false
	}
	return sh.since, true
}

// publish records output of a shared terminal and hands it to its
// watchers; a watcher too slow to take it misses that chunk (it keeps the
// terminal itself from ever waiting on a watcher).
func (h *termShares) publish(k termKey, p []byte) {
	h.mu.Lock()
	defer h.mu.Unlock()
	sh := h.shared[k]
	if sh == nil {
		return
	}
	sh.backlog = append(sh.backlog, p...)
	if over := len(sh.backlog) - termBacklog; over > 0 {
		sh.backlog = append([]byte(nil), sh.backlog[over:]...)
	}
	for c := range sh.watchers {
		select {
		case c <- append([]byte(nil), p...):
		default:
		}
	}
}

// watch subscribes to a shared terminal; ok is false when it is not shared.
func (h *termShares) watch(k termKey) (backlog []byte, c chan []byte, ok bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	sh := h.shared[k]
	if sh == nil {
		return nil, nil, false
	}
	c = make(chan []byte, 64)
	sh.watchers[c] = true
	return append([]byte(nil), sh.backlog...), c, true
}

// unwatch ends a subscription (a no-op when sharing stopped and closed it).
func (h *termShares) unwatch(k termKey, c chan []byte) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if sh := h.shared[k]; sh != nil && sh.watchers[c] {
		delete(sh.watchers, c)
		close(c)
	}
}

// tee wraps a learner's terminal so its output reaches watchers while it
// is shared.
func (h *termShares) tee(user int64, lab string, t faultline.Terminal) faultline.Terminal {
	return &teeTerminal{Terminal: t, h: h, k: termKey{user, lab}}
}

type teeTerminal struct {
	faultline.Terminal
	h *termShares
	k termKey
}

func (t *teeTerminal) Read(p []byte) (int, error) {
	n, err := t.Terminal.Read(p)
	if n > 0 {
		t.h.publish(t.k, p[:n])
	}
	return n, err
}

// ShareTerminal shares (on) the viewer's terminal of the lab with the staff
// who teach them, or stops sharing it. ENOTFOUND for an unknown lab.
func (s *Service) ShareTerminal(ctx context.Context, viewer *faultline.User, slug string, on bool) error {
	if err := signedIn(viewer); err != nil {
		return err
	}
	l, err := s.Lab(slug)
	if err != nil {
		return err
	}
	s.shares.set(termKey{viewer.ID, l.Slug}, on, s.now())
	return nil
}

// TerminalShared reports whether the viewer shares their terminal of the lab.
func (s *Service) TerminalShared(viewer *faultline.User, slug string) bool {
	if viewer == nil {
		return false
	}
	_, ok := s.shares.isShared(termKey{viewer.ID, slug})
	return ok
}

// OfficeHours is a learner's current work on a lab, for their teacher.
type OfficeHours struct {
	Cohort  *faultline.Cohort
	Learner *faultline.User
	Lab     *faultline.Lab
	// Files are the learner's files as they are now (the starter
	// overlaid by what they saved), sorted by path; Saved says which they
	// saved, LastSaved when they last saved one.
	Files     []faultline.File
	Saved     map[string]bool
	LastSaved time.Time
	Sandbox   *faultline.Sandbox // nil: never started, or sandboxes unavailable
	Shared    bool               // the learner shares their terminal
}

// OfficeHours returns a learner's current files of the lab, read-only;
// ENOTFOUND unless viewer teaches the cohort and the learner learns in it.
func (s *Service) OfficeHours(ctx context.Context, viewer *faultline.User, cohortID, userID int64, lab string) (*OfficeHours, error) {
	c, u, l, err := s.learnerTarget(ctx, viewer, cohortID, userID, lab)
	if err != nil {
		return nil, err
	}
	vs, err := s.d.Workspace.Files(ctx, u.ID, l.Slug)
	if err != nil {
		return nil, fmt.Errorf("workspace files of user %d lab %q: %w", u.ID, l.Slug, err)
	}
	oh := &OfficeHours{Cohort: c, Learner: u, Lab: l, Saved: map[string]bool{}}
	var saved []faultline.File
	for _, v := range vs {
		if v.Deleted {
			continue
		}
		saved = append(saved, faultline.File{Path: v.Path, Content: v.Content})
		oh.Saved[v.Path] = true
		if v.CreatedAt.After(oh.LastSaved) {
			oh.LastSaved = v.CreatedAt
		}
	}
	oh.Files = faultline.MergeFiles(l.Starter, saved)
	oh.Sandbox, _ = s.findSandbox(ctx, u.ID, l.Slug)
	_, oh.Shared = s.shares.isShared(termKey{u.ID, l.Slug})
	return oh, nil
}

// TerminalWatch is a subscription to a learner's shared terminal.
type TerminalWatch struct {
	// Backlog is the recent output since the learner shared it (at most
	// 64 KiB); Output brings what follows, and is closed when the learner
	// stops sharing.
	Backlog []byte
	Output  <-chan []byte
	stop    func()
}

// Close ends the watch.
func (w *TerminalWatch) Close() { w.stop() }

// WatchTerminal subscribes to a learner's terminal of the lab while they
// share it. ENOTFOUND unless viewer teaches the cohort and the learner learns
// in it; ECONFLICT when the learner does not share it.
func (s *Service) WatchTerminal(ctx context.Context, viewer *faultline.User, cohortID, userID int64, lab string) (*TerminalWatch, error) {
	_, u, l, err := s.learnerTarget(ctx, viewer, cohortID, userID, lab)
	if err != nil {
		return nil, err
	}
	k := termKey{u.ID, l.Slug}
	backlog, c, ok := s.shares.watch(k)
	if !ok {
		return nil, faultline.Errorf(faultline.ECONFLICT, "%s does not share their terminal of %s right now.", u.Name, l.Title)
	}
	return &TerminalWatch{Backlog: backlog, Output: c, stop: func() { s.shares.unwatch(k, c) }}, nil
}
