package main

import (
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"time"
)

// key identifies a row of the table: one system in one shape at one worker count.
type key struct {
	shape   string
	workers int
	system  string
}

// cell formats values (one per round) as their range, "a" or "a–b", with format f; "—" for
// none.
func cell(values []float64, f func(float64) string) string {
	if len(values) == 0 {
		return "—"
	}
	lo, hi := slices.Min(values), slices.Max(values)
	if a, b := f(lo), f(hi); a != b {
		return a + "–" + b
	}
	return f(lo)
}

func fixed(decimals int) func(float64) string {
	return func(v float64) string { return strconv.FormatFloat(v, 'f', decimals, 64) }
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// ratios returns, for each result, its rate divided by that of the result named ref in the
// same round, shape and worker count, where both have one.
func ratios(results []result) map[*result]map[string]float64 {
	type at struct {
		round   int
		shape   string
		workers int
		system  string
	}
	by := map[at]*result{}
	for i := range results {
		r := &results[i]
		by[at{r.round, r.shape, r.workers, r.spec.name}] = r
	}
	out := map[*result]map[string]float64{}
	for i := range results {
		r := &results[i]
		out[r] = map[string]float64{}
		for _, ref := range []string{r.spec.ref, "raw"} {
			o := by[at{r.round, r.shape, r.workers, ref}]
			if ref == "" || o == nil || o == r || r.rate() == 0 || o.rate() == 0 {
				continue
			}
			out[r][ref] = r.rate() / o.rate()
		}
	}
	return out
}

// writeTable writes results as a markdown table, one row per system, shape and worker
// count, in the order first run, each cell the range over the rounds; then the errors.
func writeTable(w io.Writer, results []result) {
	var keys []key
	rows := map[key][]*result{}
	for i := range results {
		r := &results[i]
		k := key{r.shape, r.workers, r.spec.name}
		if rows[k] == nil {
			keys = append(keys, k)
		}
		rows[k] = append(rows[k], r)
	}
	slices.SortStableFunc(keys, func(a, b key) int {
		if a.shape != b.shape {
			return strings.Compare(shapeOrder(a.shape), shapeOrder(b.shape))
		}
		return a.workers - b.workers
	})
	rs := ratios(results)
	fmt.Fprintln(w, "| shape | workers | system | deliveries/s | ÷ River | ÷ raw | enqueued/s | p50 ms | p99 ms | CPU µs/delivery | PG CPU µs/delivery | WAL B/delivery | exactly once | load (1 min) |")
	fmt.Fprintln(w, "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |")
	var errs []string
	for _, k := range keys {
		var rate, vsRiver, vsRaw, enq, p50, p99, cpu, pgCPU, wal, load []float64
		var dup, miss, extra, bad, failed int
		for _, r := range rows[k] {
			load = append(load, r.load)
			dup += r.tally.duplicates
			miss += r.tally.missing
			extra += r.tally.extra
			bad += r.tally.bad
			if r.err != nil {
				failed++
				errs = append(errs, fmt.Sprintf("- round %d, %s, %d workers, %s: %v", r.round+1, r.shape, r.workers, r.spec.name, r.err))
				continue
			}
			n := float64(r.n)
			rate = append(rate, r.rate())
			if v, ok := rs[r][r.spec.ref]; ok {
				vsRiver = append(vsRiver, v)
			}
			if v, ok := rs[r]["raw"]; ok {
				vsRaw = append(vsRaw, v)
			}
			if !strings.HasSuffix(r.spec.name, "/"+byCampaign) { // its fan-out comes after start
				enq = append(enq, n/r.enqueue.Seconds())
			}
			if r.shape != burst {
				p50 = append(p50, ms(r.p50))
				p99 = append(p99, ms(r.p99))
			}
			cpu = append(cpu, float64(r.cpu.Microseconds())/n)
			if r.pg {
				pgCPU = append(pgCPU, float64(r.pgCPU.Microseconds())/n)
				wal = append(wal, float64(r.wal)/n)
			}
		}
		once := "yes"
		if dup+miss+extra+bad > 0 {
			once = fmt.Sprintf("**no**: %d duplicate, %d missing, %d extra, %d unreadable", dup, miss, extra, bad)
		}
		if failed > 0 {
			once += fmt.Sprintf(" (%d failed)", failed)
		}
		fmt.Fprintf(w, "| %s | %d | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |\n",
			k.shape, k.workers, k.system, cell(rate, fixed(0)), cell(vsRiver, fixed(2)), cell(vsRaw, fixed(2)),
			cell(enq, fixed(0)), cell(p50, fixed(1)), cell(p99, fixed(1)), cell(cpu, fixed(0)),
			cell(pgCPU, fixed(0)), cell(wal, fixed(0)), once, joinLoads(load))
	}
	if len(errs) > 0 {
		fmt.Fprintf(w, "\nFailed runs:\n\n%s\n", strings.Join(errs, "\n"))
	}
}

// shapeOrder sorts the shapes in the order the README explains them.
func shapeOrder(shape string) string {
	return strconv.Itoa(slices.Index([]string{burst, steady, offered}, shape)) + shape
}

// joinLoads lists the load average of each round's run.
func joinLoads(loads []float64) string {
	s := make([]string, len(loads))
	for i, l := range loads {
		s[i] = strconv.FormatFloat(l, 'f', 2, 64)
	}
	return strings.Join(s, ", ")
}
