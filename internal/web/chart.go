package web

import (
	"fmt"
	"html/template"
	"math"
	"strconv"
	"strings"
	"time"
)

// Series is one line of a chart.
type Series struct {
	Name   string
	Values []float64
}

// LineChart draws series over times as an SVG line chart: axes, four
// value ticks, first/middle/last time labels and a legend. Every text in
// it is escaped; colours come from the stylesheet (series-0, -1, -2), so
// the page's Content-Security-Policy needs no inline styles.
func LineChart(title string, times []time.Time, unit string, series ...Series) template.HTML {
	const w, h, left, right, top, bottom = 720.0, 240.0, 56.0, 12.0, 28.0, 28.0
	maxV := 0.0
	for _, s := range series {
		for _, v := range s.Values {
			if !math.IsNaN(v) && v > maxV {
				maxV = v
			}
		}
	}
	maxV = niceCeil(maxV)
	var b strings.Builder
	esc := template.HTMLEscapeString
	fmt.Fprintf(&b, `<svg class="chart" viewBox="0 0 %g %g" role="img" aria-label="%s" xmlns="http://www.w3.org/2000/svg">`, w, h, esc(title))
	fmt.Fprintf(&b, `<title>%s</title>`, esc(title))
	plotW, plotH := w-left-right, h-top-bottom
	for i := 0; i <= 4; i++ {
		y := top + plotH - plotH*float64(i)/4
		fmt.Fprintf(&b, `<line class="axis" x1="%g" y1="%.1f" x2="%g" y2="%.1f"/>`, left, y, w-right, y)
		fmt.Fprintf(&b, `<text class="tick" x="%g" y="%.1f" text-anchor="end">%s</text>`, left-6, y+4, esc(formatValue(maxV*float64(i)/4, unit)))
	}
	n := len(times)
	x := func(i int) float64 {
		if n <= 1 {
			return left
		}
		return left + plotW*float64(i)/float64(n-1)
	}
	for _, i := range []int{0, n / 2, n - 1} {
		if i < 0 || i >= n {
			continue
		}
		anchor := map[bool]string{true: "start", false: "middle"}[i == 0]
		if i == n-1 && n > 1 {
			anchor = "end"
		}
		fmt.Fprintf(&b, `<text class="tick" x="%.1f" y="%g" text-anchor="%s">%s</text>`, x(i), h-8, anchor, esc(times[i].UTC().Format("Jan 2 15:04")))
	}
	for si, s := range series {
		var pts []string
		for i, v := range s.Values {
			if i >= n || math.IsNaN(v) {
				continue
			}
			y := top + plotH
			if maxV > 0 {
				y -= plotH * v / maxV
			}
			pts = append(pts, fmt.Sprintf("%.1f,%.1f", x(i), y))
		}
		if len(pts) > 0 {
			fmt.Fprintf(&b, `<polyline class="series-%d" points="%s"/>`, si%3, strings.Join(pts, " "))
		}
		lx := left + float64(si)*160
		fmt.Fprintf(&b, `<rect class="legend-%d" x="%.0f" y="8" width="12" height="12"/>`, si%3, lx)
		fmt.Fprintf(&b, `<text class="tick" x="%.0f" y="18">%s</text>`, lx+16, esc(s.Name))
	}
	b.WriteString(`</svg>`)
	return template.HTML(b.String()) //nolint:gosec // built above with every text escaped
}

// niceCeil rounds v up to 1, 2 or 5 times a power of ten.
func niceCeil(v float64) float64 {
	if v <= 0 {
		return 1
	}
	p := math.Pow(10, math.Floor(math.Log10(v)))
	for _, m := range []float64{1, 2, 5, 10} {
		if v <= m*p {
			return m * p
		}
	}
	return 10 * p
}

func formatValue(v float64, unit string) string {
	r := func(x float64) string { return strconv.FormatFloat(math.Round(x*1000)/1000, 'f', -1, 64) }
	if v >= 1000 {
		return r(v/1000) + "k" + unit
	}
	return r(v) + unit
}
