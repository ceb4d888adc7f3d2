package bench

import (
	"fmt"
	"html"
	"io"
	"math"
	"strings"
)

// The chart is the latency percentile spectrum, as HdrHistogram's plotter
// draws it: x is the percentile on a scale of log10(1/(1-p)), so 90 %,
// 99 %, 99.9 % ... are equally spaced and the tail gets the room; y is the
// latency on a log10 scale, so runs a hundred times apart still share one
// chart. Hand-written SVG: no dependency, and any browser opens it.

// Series is one line of the chart.
type Series struct {
	Label  string
	Points []SpectrumPoint
}

// Chart geometry, in SVG user units.
const (
	chartWidth        = 960
	chartHeight       = 560
	chartLeft         = 80
	chartRight        = 30
	chartTop          = 66
	chartBottom       = 70
	chartLegendRow    = 18
	chartNinesMax     = 6 // 99.9999 %: the rightmost tick the chart draws
	chartTicksPerHalf = 10
)

var chartColors = []string{"#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#17becf"}

// nines maps a percentile (0–100) to the x scale: log10(1/(1-p)), capped
// at chartNinesMax (100 % itself, the maximum, lands on the cap).
func nines(percentile float64) float64 {
	rest := 1 - percentile/100
	if rest <= math.Pow(10, -chartNinesMax) {
		return chartNinesMax
	}
	return -math.Log10(rest)
}

// SeriesOf returns the spectrum of a result's histogram, labelled with the
// result's label; ok is false when the run measured no latency.
func SeriesOf(r *Result) (Series, bool, error) {
	l, err := r.LatencyHistogram()
	if err != nil || l == nil || l.Count() == 0 {
		return Series{}, false, err
	}
	return Series{Label: r.Label, Points: l.Spectrum(chartTicksPerHalf)}, true, nil
}

// WriteSpectrumSVG draws the series on one chart. The title's first line
// is the heading; further lines (at most two) are printed smaller.
func WriteSpectrumSVG(w io.Writer, title string, series []Series) error {
	// The x range: up to the decade of nines the largest sample count
	// resolves (a run of 10^5 samples says nothing about 99.999 %), at
	// least 99.9 %.
	xMax := 3.0
	yMin, yMax := math.Inf(1), math.Inf(-1)
	for _, s := range series {
		for _, p := range s.Points {
			if p.Percentile < 100 {
				xMax = math.Max(xMax, math.Ceil(nines(p.Percentile)))
			}
			v := math.Log10(float64(max(p.Micros, 1)))
			yMin, yMax = math.Min(yMin, v), math.Max(yMax, v)
		}
	}
	xMax = math.Min(xMax, chartNinesMax)
	if math.IsInf(yMin, 1) {
		yMin, yMax = 0, 1
	}
	yMin, yMax = math.Floor(yMin), math.Ceil(yMax)
	if yMax <= yMin {
		yMax = yMin + 1
	}
	plotW := float64(chartWidth - chartLeft - chartRight)
	legendH := float64(chartLegendRow * len(series))
	plotH := float64(chartHeight-chartTop-chartBottom) - legendH
	px := func(x float64) float64 { return chartLeft + x/xMax*plotW }
	py := func(y float64) float64 { return chartTop + (1-(y-yMin)/(yMax-yMin))*plotH }

	var b strings.Builder
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d" font-family="sans-serif" font-size="12">`+"\n",
		chartWidth, chartHeight, chartWidth, chartHeight)
	fmt.Fprintf(&b, `<rect width="%d" height="%d" fill="white"/>`+"\n", chartWidth, chartHeight)
	// The first line of the title is the heading, the rest smaller.
	for i, line := range strings.Split(title, "\n") {
		size, y := 16, 26
		if i > 0 {
			size, y = 11, 30+14*i
		}
		fmt.Fprintf(&b, `<text x="%d" y="%d" font-size="%d" text-anchor="middle">%s</text>`+"\n", chartWidth/2, y, size, html.EscapeString(line))
	}
	// Grid and ticks.
	for x := 0.0; x <= xMax+1e-9; x++ {
		fmt.Fprintf(&b, `<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="#ddd"/>`+"\n", px(x), py(yMin), px(x), py(yMax))
		fmt.Fprintf(&b, `<text x="%.1f" y="%.1f" text-anchor="middle">%s</text>`+"\n", px(x), py(yMin)+18, ninesLabel(int(x)))
	}
	for y := yMin; y <= yMax+1e-9; y++ {
		fmt.Fprintf(&b, `<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="#ddd"/>`+"\n", px(0), py(y), px(xMax), py(y))
		fmt.Fprintf(&b, `<text x="%.1f" y="%.1f" text-anchor="end">%s</text>`+"\n", px(0)-6, py(y)+4, microsLabel(math.Pow(10, y)))
	}
	fmt.Fprintf(&b, `<text x="%.1f" y="%.1f" text-anchor="middle">percentile</text>`+"\n", px(xMax/2), py(yMin)+38)
	fmt.Fprintf(&b, `<text x="18" y="%.1f" text-anchor="middle" transform="rotate(-90 18 %.1f)">latency (log scale)</text>`+"\n", py((yMin+yMax)/2), py((yMin+yMax)/2))
	fmt.Fprintf(&b, `<rect x="%.1f" y="%.1f" width="%.1f" height="%.1f" fill="none" stroke="#888"/>`+"\n", px(0), py(yMax), plotW, plotH)
	// Lines: a step from each point to the next, as the percentile
	// distribution is a step function.
	for i, s := range series {
		color := chartColors[i%len(chartColors)]
		var path strings.Builder
		for j, p := range s.Points {
			x := px(math.Min(nines(p.Percentile), xMax))
			y := py(math.Log10(float64(max(p.Micros, 1))))
			if j == 0 {
				fmt.Fprintf(&path, "M%.1f %.1f", x, y)
			} else {
				fmt.Fprintf(&path, " H%.1f V%.1f", x, y)
			}
		}
		fmt.Fprintf(&b, `<path d="%s" fill="none" stroke="%s" stroke-width="2"/>`+"\n", path.String(), color)
		ly := float64(chartHeight-chartBottom) - legendH + float64(chartLegendRow*i) + 52
		fmt.Fprintf(&b, `<line x1="%d" y1="%.1f" x2="%d" y2="%.1f" stroke="%s" stroke-width="3"/>`+"\n", chartLeft, ly-4, chartLeft+24, ly-4, color)
		fmt.Fprintf(&b, `<text x="%d" y="%.1f">%s</text>`+"\n", chartLeft+32, ly, html.EscapeString(s.Label))
	}
	b.WriteString("</svg>\n")
	_, err := io.WriteString(w, b.String())
	return err
}

// ninesLabel names the x tick n nines: 0 → "0%", 1 → "90%", 3 → "99.9%".
func ninesLabel(n int) string {
	switch n {
	case 0:
		return "0%"
	case 1:
		return "90%"
	case 2:
		return "99%"
	}
	return "99." + strings.Repeat("9", n-2) + "%"
}

// microsLabel names a latency given in microseconds.
func microsLabel(us float64) string {
	switch {
	case us >= 1e6:
		return fmt.Sprintf("%gs", us/1e6)
	case us >= 1e3:
		return fmt.Sprintf("%gms", us/1e3)
	}
	return fmt.Sprintf("%gµs", us)
}
