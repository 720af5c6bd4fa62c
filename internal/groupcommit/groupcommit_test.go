package groupcommit

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"slices"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// blockingGroup is a group of ints whose batch holding 0 waits for release, and whose odd
// items fail. It records its batches. If joinWhileBlocked, the batch holding 0 takes the
// calls that arrived while it waited.
type blockingGroup struct {
	*Group[int]
	release          chan struct{}
	joinWhileBlocked bool

	mu      sync.Mutex // guards batches
	batches [][]int
}

func newBlockingGroup(joinWhileBlocked bool) *blockingGroup {
	bg := &blockingGroup{release: make(chan struct{}), joinWhileBlocked: joinWhileBlocked}
	bg.Group = New(func(calls []Call[int], more func() []Call[int]) []error {
		items := func() []int {
			items := make([]int, len(calls))
			for i, c := range calls {
				items[i] = c.Item
			}
			return items
		}
		bg.mu.Lock()
		bg.batches = append(bg.batches, items())
		bg.mu.Unlock()
		if slices.ContainsFunc(calls, func(c Call[int]) bool { return c.Item == 0 }) {
			<-bg.release
			if bg.joinWhileBlocked {
				calls = append(calls, more()...)
				bg.mu.Lock()
				bg.batches[len(bg.batches)-1] = items()
				bg.mu.Unlock()
			}
		}
		errs := make([]error, len(calls))
		for i, c := range calls {
			if c.Item%2 == 1 {
				errs[i] = fmt.Errorf("odd %d", c.Item)
			}
		}
		return errs
	})
	return bg
}

// waitUntil yields until cond holds.
func waitUntil(cond func() bool) {
	for !cond() {
		runtime.Gosched()
	}
}

func (bg *blockingGroup) batchCount() int {
	bg.mu.Lock()
	defer bg.mu.Unlock()
	return len(bg.batches)
}

func (bg *blockingGroup) pendingCount() int {
	bg.Group.mu.Lock()
	defer bg.Group.mu.Unlock()
	return len(bg.pending)
}

// runWhileBlocked runs Do(0), and Do(1) to Do(4) while the batch of 0 is blocked, and checks
// each call's result. It returns the batches that ran.
func runWhileBlocked(t *testing.T, bg *blockingGroup) [][]int {
	t.Helper()
	ctx := context.Background()
	first := make(chan error, 1)
	go func() { first <- bg.Do(ctx, 0) }()
	waitUntil(func() bool { return bg.batchCount() == 1 })
	errs := make([]chan error, 5)
	for i := 1; i < len(errs); i++ {
		errs[i] = make(chan error, 1)
		go func() { errs[i] <- bg.Do(ctx, i) }()
	}
	waitUntil(func() bool { return bg.pendingCount() == 4 })
	close(bg.release)
	if err := <-first; err != nil {
		t.Errorf("Do(0) = %v, want nil", err)
	}
	for i := 1; i < len(errs); i++ {
		err := <-errs[i]
		if want := i%2 == 1; (err != nil) != want {
			t.Errorf("Do(%d) = %v, want an error: %v", i, err, want)
		}
	}
	for _, b := range bg.batches {
		slices.Sort(b)
	}
	return bg.batches
}

func TestGroupRunsCallsThatWaitedAsOneBatch(t *testing.T) {
	got := runWhileBlocked(t, newBlockingGroup(false))
	if diff := cmp.Diff([][]int{{0}, {1, 2, 3, 4}}, got); diff != "" {
		t.Errorf("calls that waited while a batch ran must run as the next batch (-want +got):\n%s", diff)
	}
}

func TestGroupBatchTakesCallsThatArriveWhileItRuns(t *testing.T) {
	got := runWhileBlocked(t, newBlockingGroup(true))
	if diff := cmp.Diff([][]int{{0, 1, 2, 3, 4}}, got); diff != "" {
		t.Errorf("calls a running batch takes with more must run in it, with their own results (-want +got):\n%s", diff)
	}
}

func TestGroupCallCancelledBeforeItsBatchIsNotRun(t *testing.T) {
	bg := newBlockingGroup(false)
	first := make(chan error, 1)
	go func() { first <- bg.Do(context.Background(), 0) }()
	waitUntil(func() bool { return bg.batchCount() == 1 })
	ctx, cancel := context.WithCancel(context.Background())
	second := make(chan error, 1)
	go func() { second <- bg.Do(ctx, 2) }()
	waitUntil(func() bool { return bg.pendingCount() == 1 })
	cancel()
	if err := <-second; !errors.Is(err, context.Canceled) {
		t.Errorf("Do with a context cancelled while waiting = %v, want context.Canceled", err)
	}
	close(bg.release)
	if err := <-first; err != nil {
		t.Errorf("Do(0) = %v, want nil", err)
	}
	if got := bg.batchCount(); got != 1 {
		t.Errorf("after a waiting call was cancelled, %d batches ran, want 1: %v", got, bg.batches)
	}
	// The next batch takes every call waiting: the cancelled one must not be among them.
	if err := bg.Do(context.Background(), 6); err != nil {
		t.Errorf("Do(6) = %v, want nil", err)
	}
	if diff := cmp.Diff([][]int{{0}, {6}}, bg.batches); diff != "" {
		t.Errorf("a call cancelled while waiting must leave the group, not run in a later batch (-want +got):\n%s", diff)
	}
	if err := bg.Do(ctx, 4); !errors.Is(err, context.Canceled) {
		t.Errorf("Do with a cancelled context = %v, want context.Canceled", err)
	}
}
