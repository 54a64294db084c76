package web

import (
	"fmt"
	"html"
	"strings"
	"unicode/utf8"

	"github.com/faultline-dev/faultline/web/views"
)

// Server-side SVG charts: horizontal bar charts built from numbers and
// escaped text only, embedded inline in the page. Presentation is in SVG
// attributes (fill, font-size), never a <style> element, which the CSP forbids.

const (
	chartWidth  = 640
	chartLabelW = 220 // room for the labels on the left
	chartValueW = 120 // room for the value text on the right
	chartBarH   = 22
	chartGap    = 6
	chartTop    = 4
)

// barChart renders bars as an SVG bar chart of title; max is the value a
// full-width bar stands for (the largest value if max <= 0).
func barChart(id, title string, bars []views.Bar, max int) string {
	if max <= 0 {
		for _, b := range bars {
			if b.Value > max {
				max = b.Value
			}
		}
	}
	if max <= 0 {
		max = 1
	}
	height := chartTop*2 + len(bars)*(chartBarH+chartGap)
	span := chartWidth - chartLabelW - chartValueW
	var sb strings.Builder
	fmt.Fprintf(&sb, `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 %d %d" width="100%%" role="img" aria-labelledby="%s-title" data-testid="chart-svg" font-family="system-ui, sans-serif" font-size="13">`,
		chartWidth, height, esc(id))
	fmt.Fprintf(&sb, `<title id="%s-title">%s</title>`, esc(id), esc(title))
	for i, b := range bars {
		y := chartTop + i*(chartBarH+chartGap)
		w := 0
		if b.Value > 0 {
			w = b.Value * span / max
			if w < 2 {
				w = 2 // a sliver stays visible
			}
		}
		if w > span {
			w = span
		}
		mid := y + chartBarH/2 + 4
		fmt.Fprintf(&sb, `<g data-testid="chart-bar"><text x="%d" y="%d" text-anchor="end" fill="currentColor">%s</text>`,
			chartLabelW-8, mid, esc(clip(b.Label, 30)))
		fmt.Fprintf(&sb, `<rect x="%d" y="%d" width="%d" height="%d" rx="3" fill="#3b82c4"><title>%s: %s</title></rect>`,
			chartLabelW, y, w, chartBarH, esc(b.Label), esc(b.Text))
		fmt.Fprintf(&sb, `<text x="%d" y="%d" fill="currentColor">%s</text></g>`, chartLabelW+w+6, mid, esc(b.Text))
	}
	sb.WriteString(`</svg>`)
	return sb.String()
}

// esc escapes text for SVG content and attribute values.
func esc(s string) string { return html.EscapeString(s) }

// clip shortens s to n runes with an ellipsis.
func clip(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	r := []rune(s)
	return string(r[:n-1]) + "…"
}
