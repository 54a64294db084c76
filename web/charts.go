package web

import (
	"fmt"
	"html"
	"strings"
	"unicode"

	"github.com/faultline-dev/faultline/web/views"
)

// Server-side SVG charts: horizontal bar charts built from numbers and
// escaped text only, embedded inline in the page. Presentation is in SVG
// attributes (fill, font-size), never a <style> element, which the CSP
// forbids.
//
// Each bar has its label on a line of its own above it, wrapped to the
// chart's width (a long test name is broken where its words meet), so no
// label is ever cut or drawn outside the picture, and the chart reads the
// same on a phone: it is drawn at its own size, chartWidth wide, and only
// ever scaled down to fit.

const (
	chartWidth  = 400
	chartFont   = 15.0
	chartLine   = 20 // label line height
	chartBarH   = 16
	chartGap    = 12 // between rows
	chartTop    = 4
	chartMargin = 4 // kept clear at the left and right edges
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
	// Room for the value text after the longest bar.
	valueW := 0.0
	for _, b := range bars {
		valueW = maxf(valueW, textWidth(b.Text, chartFont))
	}
	valueW = minf(valueW+10, chartWidth/2)
	span := chartWidth - 2*chartMargin - valueW

	type row struct {
		lines []string
		y     int
	}
	rows := make([]row, len(bars))
	y := chartTop
	for i, b := range bars {
		rows[i] = row{lines: wrapLabel(b.Label, chartWidth-2*chartMargin, chartFont), y: y}
		y += len(rows[i].lines)*chartLine + 4 + chartBarH + chartGap
	}
	height := y - chartGap + chartTop

	var sb strings.Builder
	fmt.Fprintf(&sb, `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 %d %d" width="%d" height="%d" role="img" aria-labelledby="%s-title" data-testid="chart-svg" font-family="system-ui, sans-serif" font-size="%g">`,
		chartWidth, height, chartWidth, height, esc(id), chartFont)
	fmt.Fprintf(&sb, `<title id="%s-title">%s</title>`, esc(id), esc(title))
	for i, b := range bars {
		r := rows[i]
		w := 0.0
		if b.Value > 0 {
			w = float64(b.Value) * span / float64(max)
			w = maxf(w, 2) // a sliver stays visible
		}
		w = minf(w, span)
		sb.WriteString(`<g data-testid="chart-bar">`)
		for j, line := range r.lines {
			fmt.Fprintf(&sb, `<text x="%d" y="%d" fill="currentColor" data-testid="chart-label">%s</text>`,
				chartMargin, r.y+(j+1)*chartLine-4, esc(line))
		}
		by := r.y + len(r.lines)*chartLine + 4
		fmt.Fprintf(&sb, `<rect x="%d" y="%d" width="%s" height="%d" rx="3" fill="#2f6fb0"><title>%s: %s</title></rect>`,
			chartMargin, by, fmtNum(w), chartBarH, esc(b.Label), esc(b.Text))
		fmt.Fprintf(&sb, `<text x="%s" y="%d" fill="currentColor" data-testid="chart-value">%s</text></g>`,
			fmtNum(float64(chartMargin)+w+6), by+chartBarH-2, esc(b.Text))
	}
	sb.WriteString(`</svg>`)
	return sb.String()
}

// wrapLabel breaks label into lines no wider than width at size px: at
// spaces, and inside a word too long for a line where its parts meet
// (TestHalfOpen|Limits, read_repair|_lost), or anywhere as a last resort.
func wrapLabel(label string, width, size float64) []string {
	var lines []string
	cur := ""
	put := func(word string) {
		switch {
		case cur == "":
			cur = word
		case textWidth(cur+" "+word, size) <= width:
			cur += " " + word
		default:
			lines = append(lines, cur)
			cur = word
		}
	}
	for _, word := range strings.Fields(label) {
		for _, piece := range splitLong(word, width, size) {
			put(piece)
		}
	}
	if cur != "" || len(lines) == 0 {
		lines = append(lines, cur)
	}
	return lines
}

// splitLong cuts a word wider than width into pieces that fit, preferring
// cuts before an upper-case letter or after '_', '-', '/' or '.'.
func splitLong(word string, width, size float64) []string {
	var out []string
	r := []rune(word)
	for len(r) > 0 && textWidth(string(r), size) > width {
		cut, good := 0, 0
		for i := 1; i < len(r); i++ {
			if textWidth(string(r[:i]), size) > width {
				break
			}
			cut = i
			if unicode.IsUpper(r[i]) || strings.ContainsRune("_-/.", r[i-1]) {
				good = i
			}
		}
		if good > 0 {
			cut = good
		}
		if cut == 0 {
			cut = 1
		}
		out = append(out, string(r[:cut]))
		r = r[cut:]
	}
	if len(r) > 0 {
		out = append(out, string(r))
	}
	return out
}

// textWidth estimates, on the generous side, how wide text is in a
// sans-serif font of size px.
func textWidth(text string, size float64) float64 {
	w := 0.0
	for _, r := range text {
		switch {
		case strings.ContainsRune(" .,:;'|!il", r):
			w += 0.32
		case r == 'm' || r == 'w' || r == 'M' || r == 'W' || r == '%' || r == '@':
			w += 0.92
		case unicode.IsUpper(r) || unicode.IsDigit(r):
			w += 0.7
		case r > 0x2E80:
			w += 1.05
		default:
			w += 0.6
		}
	}
	return w * size
}

func fmtNum(f float64) string { return fmt.Sprintf("%.1f", f) }

func maxf(a, b float64) float64 {
	if a > b {
		return a
	}
	return b
}

func minf(a, b float64) float64 {
	if a < b {
		return a
	}
	return b
}

// esc escapes text for SVG content and attribute values.
func esc(s string) string { return html.EscapeString(s) }
