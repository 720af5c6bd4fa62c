package pgstore

import (
	"context"
	"runtime"
	"testing"
)

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
