package pgstore_test

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/hookline/webhook"
	"github.com/hookline/webhook/store/pgstore"
)

// BenchmarkClaimFinishServerCPU enqueues jobs batch at a time, then claims them batch at a
// time and finishes them, with a delivery's attempt or without one, on a pool of one
// connection, and reports the CPU time that connection's server process spent per job in
// Enqueue, Claim and Finish (read from /proc, to the nanosecond where the kernel keeps
// schedstat, else in ticks of 10 ms: then use -benchtime of some thousand jobs). It needs
// PostgreSQL on this machine, and skips otherwise.
func BenchmarkClaimFinishServerCPU(b *testing.B) {
	for _, batch := range []int{1, 10, 100} {
		for _, logged := range []bool{true, false} {
			b.Run(fmt.Sprintf("batch=%d/attempt=%t", batch, logged), func(b *testing.B) {
				benchClaimFinishServerCPU(b, batch, logged)
			})
		}
	}
}

func benchClaimFinishServerCPU(b *testing.B, batch int, logged bool) {
	ctx := context.Background()
	pool, err := openPool(ctx, dsn(b), 1, map[string]string{"search_path": newSchema(b)})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(pool.Close)
	var pid int
	if err := pool.QueryRow(ctx, `SELECT pg_backend_pid()`).Scan(&pid); err != nil {
		b.Fatal(err)
	}
	if _, err := serverCPU(pid); err != nil {
		b.Skipf("the server's processes cannot be read: %v", err)
	}
	s := pgstore.New(pool)
	jobs := make([]*webhook.Job, b.N)
	for i := range jobs {
		jobs[i] = newJob(i, epoch)
	}
	b.ResetTimer()
	var enqueueCPU, claimCPU, finishCPU time.Duration
	for i := 0; i < len(jobs); i += batch {
		c0, _ := serverCPU(pid)
		enqueue(b, s, jobs[i:min(i+batch, len(jobs))]...)
		c1, _ := serverCPU(pid)
		enqueueCPU += c1 - c0
	}
	for done := 0; done < b.N; done += batch {
		c0, _ := serverCPU(pid)
		got := claim(b, s, epoch, "a", batch).Jobs
		c1, _ := serverCPU(pid)
		fs := make([]webhook.Finished, len(got))
		for i, j := range got {
			j.State, j.Attempts = webhook.JobSucceeded, 1
			fs[i] = webhook.Finished{Job: j}
			if logged {
				fs[i].Attempt = &webhook.Attempt{JobID: j.ID, MessageID: j.MessageID, MessageVersion: 1, UserID: j.UserID,
					Number: 1, Time: epoch, Duration: time.Millisecond, Method: "POST", URL: "http://127.0.0.1:8080/hook",
					RequestHeader: http.Header{"Content-Type": {"application/json"}, "Webhook-Id": {j.ID}},
					RequestBody:   `{"enqueued_us":1765000000000000}`, StatusCode: 200,
					ResponseHeader: http.Header{"Content-Length": {"0"}}, Outcome: webhook.Succeeded}
			}
		}
		if errs, err := s.Finish(ctx, webhook.FinishParams{Jobs: fs}); err != nil || len(errs) > 0 && errs[0] != nil {
			b.Fatal(err, errs)
		}
		c2, _ := serverCPU(pid)
		claimCPU, finishCPU = claimCPU+c1-c0, finishCPU+c2-c1
	}
	b.ReportMetric(float64(enqueueCPU.Microseconds())/float64(b.N), "enqueue-server-µs/job")
	b.ReportMetric(float64(claimCPU.Microseconds())/float64(b.N), "claim-server-µs/job")
	b.ReportMetric(float64(finishCPU.Microseconds())/float64(b.N), "finish-server-µs/job")
}

// serverCPU returns the CPU time of the server process pid, from /proc: the time it ran,
// from schedstat, or, where the kernel does not keep that, its user and system time.
func serverCPU(pid int) (time.Duration, error) {
	if sched, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/schedstat"); err == nil {
		if f := strings.Fields(string(sched)); len(f) > 0 {
			if ns, err := strconv.ParseInt(f[0], 10, 64); err == nil {
				return time.Duration(ns), nil
			}
		}
	}
	stat, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0, err
	}
	s := string(stat)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+2:]) // fields from the third, state
	utime, err := strconv.ParseInt(f[11], 10, 64)
	if err != nil {
		return 0, err
	}
	stime, err := strconv.ParseInt(f[12], 10, 64)
	return time.Duration(utime+stime) * 10 * time.Millisecond, err // USER_HZ is 100 on Linux
}
