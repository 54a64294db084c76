package web

import (
	"bytes"
	"compress/flate"
	"context"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/faultline-dev/faultline"
	"github.com/faultline-dev/faultline/course"
	"github.com/faultline-dev/faultline/web/views"
)

// The cohort dashboard's heat map and member list are most of its cost:
// reading and deciding every learner's held score on every lab, and
// rendering a row per learner. dashboardCache keeps them rendered per
// cohort, with the cohort's dashboard version they were read at
// (course.CohortPage.Version, which store triggers move on with every write
// that changes them: a submission or grade, an extension, an adjustment,
// lab settings, a member, a name, a lesson read, a question, a post, a
// report, a regrade request). A request passes the
// version it holds to course.CohortPage, which leaves the members and the
// matrix out when the version has not moved; the rows are then written in
// the order the request sorts by, and the member list (which depends on the
// viewer: the actions they may take, the cohorts they may move a learner
// to) comes from its own entry; the conversation figures (questions,
// moderation, regrade requests) are kept too. The rest of the page (the
// cohort's name and invite link, the layout) is made per request.

// dashboardCohorts is how many cohorts' dashboards are kept (the least
// recently shown goes first); dashboardRosters how many member lists per
// cohort (one per viewer and their move targets).
const (
	dashboardCohorts = 32
	dashboardRosters = 8
)

type dashboardCache struct {
	mu      sync.Mutex
	entries map[int64]*dashboardEntry
	tick    uint64
}

// dashboardEntry is what one cohort's dashboard keeps at one version. Only
// rosters changes after it is made (under the cache's lock).
type dashboardEntry struct {
	size         int // bytes of the rows
	version      int64
	members      []*faultline.Member
	conversation *views.ConversationPanel
	rows         []heatRowHTML // by name, as ProgressMatrix orders them
	rosters      map[string]string
	// deflated are the rows in one order ("rows " and the sort) and the
	// member lists ("roster " and their key), deflated for gzip answers
	// when one is first asked for.
	deflated map[string]*bodyPart
	used     uint64
}

// heatRowHTML is one rendered row of the heat map with what it sorts by,
// whose it is and what it shows.
type heatRowHTML struct {
	keys heatKeys
	user int64
	row  views.HeatRow
	html string
}

// held returns the version of cohort id's entry, or 0 when none is kept.
func (c *dashboardCache) held(id int64) int64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	if e := c.entries[id]; e != nil {
		return e.version
	}
	return 0
}

// get returns cohort id's entry at version, or nil.
func (c *dashboardCache) get(id, version int64) *dashboardEntry {
	c.mu.Lock()
	defer c.mu.Unlock()
	e := c.entries[id]
	if e == nil || e.version != version {
		return nil
	}
	c.tick++
	e.used = c.tick
	return e
}

// put keeps e as cohort id's entry, dropping the least recently shown
// cohort's when there are too many.
func (c *dashboardCache) put(id int64, e *dashboardEntry) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.entries == nil {
		c.entries = map[int64]*dashboardEntry{}
	}
	c.tick++
	e.used = c.tick
	c.entries[id] = e
	for len(c.entries) > dashboardCohorts {
		var oldest int64
		for k, v := range c.entries {
			if oldest == 0 || v.used < c.entries[oldest].used {
				oldest = k
			}
		}
		delete(c.entries, oldest)
	}
}

// roster returns the member list rendered under key, or "".
func (c *dashboardCache) roster(e *dashboardEntry, key string) string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return e.rosters[key]
}

// putRoster keeps a rendered member list under key (a few per entry).
func (c *dashboardCache) putRoster(e *dashboardEntry, key, html string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if e.rosters == nil || len(e.rosters) >= dashboardRosters {
		e.rosters = map[string]string{}
	}
	e.rosters[key] = html
}

// deflatedPart returns the part of e kept deflated under key, making it
// from raw when it is not kept yet (a few per entry: each order asked for,
// each member list).
func (c *dashboardCache) deflatedPart(e *dashboardEntry, key string, raw func() []byte) *bodyPart {
	c.mu.Lock()
	p := e.deflated[key]
	c.mu.Unlock()
	if p != nil {
		return p
	}
	p = newBodyPartAt(raw(), flate.BestSpeed) // lessonpage.go
	c.mu.Lock()
	defer c.mu.Unlock()
	if e.deflated == nil || len(e.deflated) >= 4*dashboardRosters {
		e.deflated = map[string]*bodyPart{}
	}
	e.deflated[key] = p
	return p
}

// dashboardEntryFor makes a cohort's entry from what course.CohortPage
// read at p.Version, rendering the heat map's rows; a learner's row that is
// the same as in the entry it replaces (after a write that concerned
// someone else) is taken from it instead of rendered again.
func (s *Server) dashboardEntryFor(ctx context.Context, cohortID int64, p *course.CohortPage) (*dashboardEntry, error) {
	e := &dashboardEntry{version: p.Version, members: p.Members, conversation: conversationPanel(cohortID, p.Conversation)} // moderation.go
	old := s.dashboards.previous(cohortID)
	maxTotal := 0
	for _, l := range s.d.Labs.All() {
		maxTotal += l.MaxScore()
	}
	var b strings.Builder
	for _, hr := range s.heatRows(cohortID, p.Matrix) {
		row := heatRowHTML{keys: hr.keys, user: hr.user, row: hr.row}
		if o, ok := old[hr.user]; ok && sameHeatRow(o.row, hr.row) {
			row.html = o.html
		} else {
			b.Reset()
			if err := views.HeatRowView(hr.row, maxTotal).Render(ctx, &b); err != nil {
				return nil, fmt.Errorf("render the heat map of cohort %d: %w", cohortID, err)
			}
			row.html = b.String()
		}
		e.rows = append(e.rows, row)
		e.size += len(row.html)
	}
	return e, nil
}

// sameHeatRow reports whether two rows of the heat map show the same.
func sameHeatRow(a, b views.HeatRow) bool {
	return a.Name == b.Name && a.Email == b.Email && a.LessonsRead == b.LessonsRead && a.Total == b.Total &&
		slices.Equal(a.Cells, b.Cells)
}

// previous returns the rows of cohort id's entry by learner (whatever its
// version), or nil.
func (c *dashboardCache) previous(id int64) map[int64]heatRowHTML {
	c.mu.Lock()
	e := c.entries[id]
	c.mu.Unlock()
	if e == nil {
		return nil
	}
	out := make(map[int64]heatRowHTML, len(e.rows))
	for _, r := range e.rows {
		out[r.user] = r
	}
	return out
}

// rowsHTML returns e's rows in the order ms asks for.
func (e *dashboardEntry) rowsHTML(ms matrixSort) []string {
	keys := make([]heatKeys, len(e.rows))
	for i, r := range e.rows {
		keys[i] = r.keys
	}
	out := make([]string, 0, len(e.rows))
	for _, i := range heatOrder(ms, keys) {
		out = append(out, e.rows[i].html)
	}
	return out
}

// rosterKey names what a member list depends on beyond the members: the
// viewer (the actions they may take) and the cohorts they may move a
// learner to.
func rosterKey(viewer *faultline.User, targets []views.MoveTarget) string {
	var b strings.Builder
	b.WriteString(strconv.FormatInt(viewer.ID, 10))
	b.WriteByte('/')
	b.WriteString(string(viewer.Role))
	for _, t := range targets {
		b.WriteByte('/')
		b.WriteString(t.ID)
		b.WriteByte('=')
		b.WriteString(strconv.Quote(t.Name))
	}
	return b.String()
}

// rosterHTML renders a member list.
func rosterHTML(ctx context.Context, v views.RosterView) (string, error) {
	var b bytes.Buffer
	if err := views.RosterPanel(v).Render(ctx, &b); err != nil {
		return "", fmt.Errorf("render the member list: %w", err)
	}
	return b.String(), nil
}

// dashRowsMark and dashRosterMark stand in for the heat map's rows and the
// member list while a gzip answer of the cohort page renders (as the
// lesson page's markers do: a page where one is not found exactly once is
// answered the ordinary way).
const (
	dashRowsMark   = "\x00faultline-dashboard-rows\x00"
	dashRosterMark = "\x00faultline-dashboard-roster\x00"
)

// writeCohortGzip answers with the cohort page m as one gzip member: the
// page rendered with markers in place of its rows and member list, deflated
// per request (a few KB), around the rows in the order ms asks for and the
// member list under rosterKey, kept deflated in e. It returns false, having
// written nothing, when the page does not have that shape.
func (s *Server) writeCohortGzip(w http.ResponseWriter, r *http.Request, m views.CohortPage, e *dashboardEntry, ms matrixSort, rosterKey string) (bool, error) {
	rows, roster := m.Progress.RowsHTML, m.RosterHTML
	if len(rows) == 0 || roster == "" {
		return false, nil
	}
	m.Progress.RowsHTML, m.RosterHTML = []string{dashRowsMark}, dashRosterMark
	buf := pageBufs.Get().(*bytes.Buffer) // lessonpage.go
	buf.Reset()
	defer func() {
		if buf.Cap() <= maxPooledPage {
			pageBufs.Put(buf)
		}
	}()
	if err := views.Cohort(m).Render(r.Context(), buf); err != nil {
		return false, fmt.Errorf("render %s: %w", r.URL.Path, err)
	}
	page := buf.Bytes()
	i, j := bytes.Index(page, []byte(dashRowsMark)), bytes.Index(page, []byte(dashRosterMark))
	if i < 0 || j < i || bytes.Count(page, []byte(dashRowsMark)) != 1 || bytes.Count(page, []byte(dashRosterMark)) != 1 {
		return false, nil
	}
	order := "rows " + ms.key
	if ms.desc {
		order += " desc"
	}
	parts := []*bodyPart{
		s.dashboards.deflatedPart(e, order, func() []byte { return []byte(strings.Join(rows, "")) }),
		s.dashboards.deflatedPart(e, "roster "+rosterKey, func() []byte { return []byte(roster) }),
	}
	pieces := [][]byte{page[:i], page[i+len(dashRowsMark) : j], page[j+len(dashRosterMark):]}
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	h.Set("Vary", "Accept-Encoding")
	h.Set("Content-Encoding", "gzip")
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(gzipMember(pieces, parts)) // lessonpage.go; an error is the client gone
	return true, nil
}
