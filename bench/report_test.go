package main

import (
	"bytes"
	"errors"
	"strings"
	"testing"
	"time"
)

func TestPercentile(t *testing.T) {
	hundred := make([]int64, 100)
	for i := range hundred {
		hundred[i] = int64(i + 1)
	}
	tests := []struct {
		name   string
		sorted []int64
		p      float64
		want   int64
	}{
		{"none", nil, 50, 0},
		{"one", []int64{7}, 99, 7},
		{"median of two", []int64{1, 2}, 50, 1},
		{"median of three", []int64{1, 2, 3}, 50, 2},
		{"p99 of 10", []int64{1, 2, 3, 4, 5, 6, 7, 8, 9, 10}, 99, 10},
		{"p50 of 100", hundred, 50, 50},
		{"p99 of 100", hundred, 99, 99},
		{"p100 of 100", hundred, 100, 100},
	}
	for _, tt := range tests {
		if got := percentile(tt.sorted, tt.p); got != tt.want {
			t.Errorf("%s: percentile(%v, %v) = %d, want %d", tt.name, tt.sorted, tt.p, got, tt.want)
		}
	}
}

func TestCell(t *testing.T) {
	tests := []struct {
		values []float64
		want   string
	}{
		{nil, "—"},
		{[]float64{1.234}, "1.23"},
		{[]float64{2.5, 1.2, 1.9}, "1.20–2.50"},
		{[]float64{1.001, 1.004}, "1.00"},
	}
	for _, tt := range tests {
		if got := cell(tt.values, fixed(2)); got != tt.want {
			t.Errorf("cell(%v) = %q, want %q", tt.values, got, tt.want)
		}
	}
}

// runOf returns a run of system in round that delivered n in elapsed.
func runOf(round int, system, ref string, n int, elapsed time.Duration) result {
	return result{plan: plan{round: round, shape: burst, workers: 16, spec: spec{name: system, ref: ref}}, n: n, elapsed: elapsed, enqueue: time.Second}
}

func TestRatiosWithinRound(t *testing.T) {
	rs := []result{
		runOf(0, "raw", "", 1000, time.Second),
		runOf(0, "river-pg", "", 1000, 2*time.Second),
		runOf(0, "pgstore/send", "river-pg", 1000, 4*time.Second),
		runOf(1, "raw", "", 1000, time.Second/2),
		runOf(1, "river-pg", "", 1000, 8*time.Second),
		runOf(1, "pgstore/send", "river-pg", 1000, 4*time.Second),
	}
	got := ratios(rs)
	for _, c := range []struct {
		i    int
		ref  string
		want float64
	}{{2, "river-pg", 0.5}, {2, "raw", 0.25}, {5, "river-pg", 2}, {5, "raw", 0.125}, {1, "raw", 0.5}} {
		if v := got[&rs[c.i]][c.ref]; v != c.want {
			t.Errorf("round %d %s ÷ %s = %v, want %v", rs[c.i].round, rs[c.i].spec.name, c.ref, v, c.want)
		}
	}
	if _, ok := got[&rs[0]]["raw"]; ok {
		t.Error("raw has a ratio to itself")
	}
}

func TestWriteTable(t *testing.T) {
	failed := runOf(1, "pgstore/send", "river-pg", 1000, 0)
	failed.err = errors.New("boom")
	failed.tally = tally{distinct: 990, missing: 10}
	rs := []result{
		runOf(0, "river-pg", "", 1000, 2*time.Second),
		runOf(0, "pgstore/send", "river-pg", 1000, 4*time.Second),
		runOf(1, "river-pg", "", 1000, 2*time.Second),
		failed,
	}
	var b bytes.Buffer
	writeTable(&b, rs)
	out := b.String()
	for _, want := range []string{
		"| burst | 16 | river-pg | 500 | — | — | 1000 |",
		"| burst | 16 | pgstore/send | 250 | 0.50 | — | 1000 |",
		"**no**: 0 duplicate, 10 missing, 0 extra, 0 unreadable (1 failed)",
		"- round 2, burst, 16 workers, pgstore/send: boom",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("table lacks %q:\n%s", want, out)
		}
	}
}

func TestWriteTableCampaignEnqueue(t *testing.T) {
	var b bytes.Buffer
	writeTable(&b, []result{runOf(0, "memstore/campaign", "", 1000, time.Second)})
	if want := "| burst | 16 | memstore/campaign | 1000 | — | — | — |"; !strings.Contains(b.String(), want) {
		t.Errorf("table lacks %q (a campaign's enqueues come after start):\n%s", want, b.String())
	}
}
