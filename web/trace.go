package web

import (
	"fmt"
	"net/http"
	"net/url"
	"strconv"

	"github.com/go-chi/chi/v5"

	"github.com/faultline-dev/faultline"
	"github.com/faultline-dev/faultline/web/views"
)

// traceURL is the trace explorer of test ti (its index in the stored
// result) of a submission.
func traceURL(id int64, ti int) string { return fmt.Sprintf("/submissions/%d/trace/%d", id, ti) }

// serveTrace is the trace explorer: a failing test's recorded run as a
// space-time diagram, a window of events at a time, with a cursor to step
// through it. Query: at (the event stepped to; default the last), from
// (the window's first event), hide (kinds to leave out, repeated). Every
// control is a link or a GET form; trace.js makes them instant.
func (s *Server) serveTrace(w http.ResponseWriter, r *http.Request) error {
	id, err := submissionID(r)
	if err != nil {
		return err
	}
	ti, err := strconv.Atoi(chi.URLParam(r, "test"))
	if err != nil {
		return faultline.Errorf(faultline.ENOTFOUND, "There is no recorded run of that test.")
	}
	tr, err := s.c.Trace(r.Context(), UserFromContext(r.Context()), id, ti)
	if err != nil {
		return err
	}
	rt := tr.Trace
	q := r.URL.Query()
	o := traceOptions{hide: map[string]bool{}}
	for _, k := range q["hide"] {
		for _, known := range traceKinds {
			if k == known {
				o.hide[k] = true
			}
		}
	}
	lastEvent := len(rt.Events) - 1
	o.at = lastEvent
	if v, err := strconv.Atoi(q.Get("at")); err == nil {
		o.at = max(0, min(v, lastEvent))
	}
	o.from = max(0, o.at-traceWindow+1)
	if v, err := strconv.Atoi(q.Get("from")); err == nil {
		o.from = max(0, min(v, max(0, len(rt.Events)-1)))
		if o.at < o.from || o.at >= o.from+traceWindow { // the cursor stays in view
			o.at = min(o.from+traceWindow-1, lastEvent)
		}
	}
	base := traceURL(id, ti)
	link := func(at, from int) string {
		v := url.Values{"at": {strconv.Itoa(at)}, "from": {strconv.Itoa(from)}}
		for _, k := range traceKinds {
			if o.hide[k] {
				v.Add("hide", k)
			}
		}
		return base + "?" + v.Encode() + "#ev-" + strconv.Itoa(at)
	}
	d := traceDiagram(rt, o)
	m := views.TracePage{
		Page:          s.page(r, "Run of "+rt.Test, "labs"),
		SubmissionURL: submissionURL(id), SubmissionID: id, LabTitle: tr.LabTitle,
		Test: rt.Test, Seed: strconv.FormatInt(rt.Seed, 10), Property: rt.Property, Detail: rt.Detail,
		BrokeAt: traceTime(rt.At), Diagram: d, Action: base, At: o.at, From: o.from, Max: lastEvent,
		Script: s.assets.urls.Trace,
	}
	for _, row := range d.Rows {
		if row.Index <= o.at {
			m.Cursor = row // the event stepped to, or the nearest shown before it
		}
	}
	if lastEvent >= 0 {
		win := func(at int) int { return max(0, min(o.from, at)) }
		if o.at > 0 {
			m.Steps = append(m.Steps, views.TraceLink{Label: "« first", URL: link(0, 0)},
				views.TraceLink{Label: "◀ step back", URL: link(o.at-1, win(o.at-1))})
		}
		if o.at < lastEvent {
			next := o.at + 1
			from := o.from
			if next >= from+traceWindow {
				from = next - traceWindow + 1
			}
			m.Steps = append(m.Steps, views.TraceLink{Label: "step on ▶", URL: link(next, from)},
				views.TraceLink{Label: "last »", URL: link(lastEvent, max(0, lastEvent-traceWindow+1))})
		}
		if o.from > 0 {
			from := max(0, o.from-traceWindow)
			m.Steps = append(m.Steps, views.TraceLink{Label: "earlier events", URL: link(min(from+traceWindow-1, lastEvent), from)})
		}
		if o.from+traceWindow <= lastEvent {
			from := o.from + traceWindow
			m.Steps = append(m.Steps, views.TraceLink{Label: "later events", URL: link(min(from+traceWindow-1, lastEvent), from)})
		}
	}
	for _, k := range traceKinds {
		m.Hide = append(m.Hide, views.TraceKindOption{Kind: k, Label: traceKindLabels[k], Hidden: o.hide[k]})
	}
	if tr.Replay >= 0 {
		m.Replay = &views.ReplayLink{Action: submissionURL(id) + "/replay", Index: strconv.Itoa(tr.Replay), Test: tr.Test.Name,
			Seed: strconv.FormatInt(rt.Seed, 10), Run: tr.Test.FailedRun}
	}
	return s.render(w, r, http.StatusOK, views.Trace(m))
}

var traceKindLabels = map[string]string{
	"timer": "timers", "note": "notes", "op": "client operations", "fault": "injected faults",
}
