package main

import (
	"math"
	"slices"
	"time"
)

// Dist is a distribution summary in milliseconds.
type Dist struct {
	P50 float64 `json:"p50_ms"`
	P99 float64 `json:"p99_ms"`
	Max float64 `json:"max_ms"`
	N   int     `json:"n"`
	// Lost samples never completed within CapMs; they are in N and in the
	// percentiles at CapMs, so a percentile at CapMs means "at least".
	Lost  int     `json:"lost,omitempty"`
	CapMs float64 `json:"cap_ms,omitempty"`
}

// summarize returns p50, p99 and max of ds (nearest-rank percentiles).
func summarize(ds []time.Duration) Dist {
	if len(ds) == 0 {
		return Dist{} // N == 0: no figure
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	return Dist{
		P50: ms(percentile(s, 0.50)),
		P99: ms(percentile(s, 0.99)),
		Max: ms(s[len(s)-1]),
		N:   len(s),
	}
}

// summarizeLost is summarize with lost samples counted at limit.
func summarizeLost(ds []time.Duration, lost int, limit time.Duration) Dist {
	all := slices.Clone(ds)
	for range lost {
		all = append(all, limit)
	}
	d := summarize(all)
	if lost > 0 {
		d.Lost, d.CapMs = lost, ms(limit)
	}
	return d
}

// censored reports whether x, a figure of d, is a lost sample's cap.
func (d Dist) censored(x float64) bool { return d.Lost > 0 && x >= d.CapMs }

// percentile returns the nearest-rank percentile p (0..1) of sorted s.
func percentile(s []time.Duration, p float64) time.Duration {
	i := int(math.Ceil(p*float64(len(s)))) - 1
	return s[max(0, min(i, len(s)-1))]
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// median returns the median of xs, ignoring NaNs; 0 when there is none
// (JSON has no NaN).
func median(xs []float64) float64 {
	s := make([]float64, 0, len(xs))
	for _, x := range xs {
		if !math.IsNaN(x) {
			s = append(s, x)
		}
	}
	if len(s) == 0 {
		return 0
	}
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

// medianDist returns the field-wise median of the runs that have
// samples; N and Lost are the totals.
func medianDist(runs []Dist) Dist {
	var p50, p99, mx []float64
	var d Dist
	for _, r := range runs {
		if r.N == 0 {
			continue
		}
		p50, p99, mx = append(p50, r.P50), append(p99, r.P99), append(mx, r.Max)
		d.N, d.Lost, d.CapMs = d.N+r.N, d.Lost+r.Lost, max(d.CapMs, r.CapMs)
	}
	d.P50, d.P99, d.Max = median(p50), median(p99), median(mx)
	return d
}

// medianOf returns the median of f over runs.
func medianOf[R any](runs []R, f func(R) float64) float64 {
	xs := make([]float64, 0, len(runs))
	for _, r := range runs {
		xs = append(xs, f(r))
	}
	return median(xs)
}

// medianDistOf returns the field-wise median of f over runs.
func medianDistOf[R any](runs []R, f func(R) Dist) Dist {
	ds := make([]Dist, 0, len(runs))
	for _, r := range runs {
		ds = append(ds, f(r))
	}
	return medianDist(ds)
}

// deviations returns |interval - period| for consecutive arrival times.
func deviations(at []time.Time, period time.Duration) (dev []time.Duration, maxGap time.Duration) {
	for i := 1; i < len(at); i++ {
		d := at[i].Sub(at[i-1])
		maxGap = max(maxGap, d)
		x := d - period
		if x < 0 {
			x = -x
		}
		dev = append(dev, x)
	}
	return dev, maxGap
}
