package web

import (
	"testing"
	"time"

	"github.com/faultline-dev/faultline"
)

// TestChartMedians: the per-lab charts' median lines average the two middle
// values of an even count instead of taking the lower one.
func TestChartMedians(t *testing.T) {
	tests := []struct {
		attempts []int
		times    []time.Duration
		want     map[string]string // chart ID -> summary
	}{
		{[]int{1, 2}, []time.Duration{time.Minute, 3 * time.Minute},
			map[string]string{"chart-attempts": "Median: 1.5 attempts.", "chart-time": "Median: 2 minutes."}},
		{[]int{1, 3}, []time.Duration{time.Minute},
			map[string]string{"chart-attempts": "Median: 2 attempts.", "chart-time": "Median: 1 minute."}},
		{[]int{1, 2, 4}, []time.Duration{time.Minute, 5 * time.Minute, time.Hour},
			map[string]string{"chart-attempts": "Median: 2 attempts.", "chart-time": "Median: 5 minutes."}},
	}
	for _, tc := range tests {
		st := &faultline.LabStats{Lab: "saga", Learners: len(tc.attempts), MaxScore: 10,
			Scores: []faultline.ScoreBucket{{Score: 10, Learners: len(tc.attempts)}}, AttemptsToFull: tc.attempts, TimeToSolve: tc.times}
		got := map[string]string{}
		for _, c := range labCharts(st, 10) {
			got[c.ID] = c.Summary
		}
		for id, want := range tc.want {
			if got[id] != want {
				t.Errorf("attempts %v, times %v: %s says %q, want %q", tc.attempts, tc.times, id, got[id], want)
			}
		}
	}
}
