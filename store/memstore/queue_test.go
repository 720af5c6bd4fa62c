package memstore

import (
	"cmp"
	"math/rand/v2"
	"reflect"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/hookline/webhook"
)

// The queue gives its entries back by time, then job ID, however they were pushed and
// popped: IDs that differ only after their first 16 bytes, or in zero bytes, or in length,
// included.
func TestQueueOrder(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	base := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	ids := []string{"", "\x00", "a", "a\x00", "a\x00b", "ab", "b", "\xff",
		"job_01HX00000000", "job_01HX00000000A", "job_01HX00000000B", "job_01HX00000001",
		"job_01HX000000000000AAAA", "job_01HX000000000000AAAB", "job_01HX000000000000AAA", "job_01HX000000000000AAB",
		"job_01HX000000000001", "job_01HY", "job_01HX000000000000AAAA\x00"}
	var q queue
	var want []entry // what q holds, in no order
	for round := range 4000 {
		if len(q) == 0 || rng.IntN(3) > 0 {
			id := ids[rng.IntN(len(ids))]
			if rng.IntN(4) == 0 {
				id = strconv.Itoa(rng.IntN(20))
			}
			r := &record{job: webhook.Job{ID: id}}
			e := entry{at: base.Add(time.Duration(rng.IntN(5)) * time.Second), id: idKey(id), gen: uint64(round), r: r}
			q.push(e)
			want = append(want, e)
			continue
		}
		first := slices.MinFunc(want, func(a, b entry) int {
			return cmp.Or(a.at.Compare(b.at), cmp.Compare(a.r.job.ID, b.r.job.ID))
		})
		if got := q[0]; got.at != first.at || got.r.job.ID != first.r.job.ID {
			t.Fatalf("round %d: the queue's first entry is %v %s, want %v %s", round, got.at, got.r.job.ID, first.at, first.r.job.ID)
		}
		i := slices.IndexFunc(want, func(e entry) bool { return e.gen == q[0].gen })
		want = slices.Delete(want, i, i+1)
		q.pop()
		if len(q) != len(want) {
			t.Fatalf("round %d: the queue holds %d entries, want %d", round, len(q), len(want))
		}
	}
}

// Every state of webhook.JobStates has its own element of stateCounts.known, and a state
// outside them is counted too.
func TestStateCounts(t *testing.T) {
	var c stateCounts
	seen := map[int]bool{}
	for _, st := range webhook.JobStates() {
		i := stateIndex(st)
		if i < 0 || i >= len(c.known) || seen[i] {
			t.Errorf("stateIndex(%q) = %d; want an element of its own of stateCounts.known", st, i)
		}
		seen[i] = true
	}
	c.add(webhook.JobRunning, 2)
	c.add(webhook.JobRunning, -1)
	c.add("odd", 3)
	c.add(webhook.JobFailed, 1)
	c.add(webhook.JobFailed, -1)
	got, want := c.positive(), map[webhook.JobState]int64{webhook.JobRunning: 1, "odd": 3}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("positive() = %v, want %v", got, want)
	}
}
