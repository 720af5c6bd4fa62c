package pgstore

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
// items fail. It records its batches.
type blockingGroup struct {
	*group[int]
	release chan struct{}

	mu      sync.Mutex // guards batches
	batches [][]int
}

func newBlockingGroup() *blockingGroup {
	bg := &blockingGroup{release: make(chan struct{})}
	bg.group = newGroup(func(ctx context.Context, items []int) []error {
		bg.mu.Lock()
		bg.batches = append(bg.batches, slices.Clone(items))
		bg.mu.Unlock()
		if slices.Contains(items, 0) {
			<-bg.release
		}
		errs := make([]error, len(items))
		for i, it := range items {
			if it%2 == 1 {
				errs[i] = fmt.Errorf("odd %d", it)
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
	bg.group.mu.Lock()
	defer bg.group.mu.Unlock()
	return len(bg.pending)
}

func TestGroupRunsCallsThatWaitedAsOneBatch(t *testing.T) {
	bg := newBlockingGroup()
	ctx := context.Background()
	first := make(chan error, 1)
	go func() { first <- bg.do(ctx, 0) }()
	waitUntil(func() bool { return bg.batchCount() == 1 })
	errs := make([]chan error, 5)
	for i := 1; i < len(errs); i++ {
		errs[i] = make(chan error, 1)
		go func() { errs[i] <- bg.do(ctx, i) }()
	}
	waitUntil(func() bool { return bg.pendingCount() == 4 })
	close(bg.release)
	if err := <-first; err != nil {
		t.Errorf("do(0) = %v, want nil", err)
	}
	for i := 1; i < len(errs); i++ {
		err := <-errs[i]
		if want := i%2 == 1; (err != nil) != want {
			t.Errorf("do(%d) = %v, want an error: %v", i, err, want)
		}
	}
	got := bg.batches
	slices.Sort(got[1])
	if diff := cmp.Diff([][]int{{0}, {1, 2, 3, 4}}, got); diff != "" {
		t.Errorf("calls that waited while a batch ran must run as the next batch (-want +got):\n%s", diff)
	}
}

func TestGroupCallCancelledBeforeItsBatchIsNotRun(t *testing.T) {
	bg := newBlockingGroup()
	first := make(chan error, 1)
	go func() { first <- bg.do(context.Background(), 0) }()
	waitUntil(func() bool { return bg.batchCount() == 1 })
	ctx, cancel := context.WithCancel(context.Background())
	second := make(chan error, 1)
	go func() { second <- bg.do(ctx, 2) }()
	waitUntil(func() bool { return bg.pendingCount() == 1 })
	cancel()
	if err := <-second; !errors.Is(err, context.Canceled) {
		t.Errorf("do with a context cancelled while waiting = %v, want context.Canceled", err)
	}
	close(bg.release)
	if err := <-first; err != nil {
		t.Errorf("do(0) = %v, want nil", err)
	}
	if got := bg.batchCount(); got != 1 {
		t.Errorf("after a waiting call was cancelled, %d batches ran, want 1: %v", got, bg.batches)
	}
	if err := bg.do(ctx, 4); !errors.Is(err, context.Canceled) {
		t.Errorf("do with a cancelled context = %v, want context.Canceled", err)
	}
}

func TestAllDoneEndsOnceEveryContextHas(t *testing.T) {
	a, cancelA := context.WithCancel(context.Background())
	b, cancelB := context.WithCancel(context.Background())
	ctx, cancel := allDone([]context.Context{a, b})
	defer cancel()
	cancelA()
	runtime.Gosched()
	if err := ctx.Err(); err != nil {
		t.Errorf("allDone(a, b) after a ended = %v, want not ended", err)
	}
	cancelB()
	<-ctx.Done() // hangs, and the test times out, if it never ends

	ctx, cancel = allDone([]context.Context{b, context.Background()})
	runtime.Gosched()
	if err := ctx.Err(); err != nil {
		t.Errorf("allDone(ended, Background) = %v, want not ended", err)
	}
	cancel()
}
