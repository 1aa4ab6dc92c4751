package main

import (
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/creditgate/creditgate/calapi"
	"github.com/creditgate/creditgate/calapi/calapitest"
	"github.com/creditgate/creditgate/credits"
)

// BenchmarkEndToEndLatency measures, for b.N bookings posted at a steady
// rate, the time from the start of the webhook POST to the confirm call
// arriving at the fake Cal.com, and reports p50/p99/max.
//
//	go test -run='^$' -bench=EndToEndLatency -benchtime=300x ./cmd/creditgate
//
// The task-check sub-benchmarks compare asynq's poll interval when the
// queue is empty: its default of 1s against the shorter ones creditgate
// can choose.
func BenchmarkEndToEndLatency(b *testing.B) {
	for _, backend := range backends {
		for _, check := range []string{"1s", "100ms", "10ms", "5ms", "2ms"} {
			b.Run(backend+"/task-check="+check, func(b *testing.B) { benchLatency(b, backend, check) })
		}
	}
}

func benchLatency(b *testing.B, backend, taskCheck string) {
	tb := setup(b, backend, map[string]string{"CREDITGATE_TASK_CHECK_INTERVAL": taskCheck})
	var (
		mu       sync.Mutex
		sent     = map[string]time.Time{}
		latency  []time.Duration
		received = make(chan struct{}, b.N)
	)
	tb.fake.OnCall(func(c calapitest.Call) {
		if c.Method != http.MethodPost || !strings.HasSuffix(c.Path, "/confirm") {
			return
		}
		uid := strings.TrimSuffix(strings.TrimPrefix(c.Path, "/v2/bookings/"), "/confirm")
		mu.Lock()
		if start, ok := sent[uid]; ok {
			latency = append(latency, time.Since(start))
		}
		mu.Unlock()
		received <- struct{}{}
	})
	_, err := tb.ledger.Grant(b.Context(), "bench@example.com", int64(b.N)+1, credits.GrantOptions{Note: "bench"})
	require.NoError(b, err)
	bookings := make([]calapi.Booking, b.N)
	for i := range bookings {
		bookings[i] = tb.booking(fmt.Sprintf("lat-%s-%d-%d", backend, time.Now().UnixNano(), i), "bench@example.com", 77, calapi.StatusPending)
	}
	const rate = 100 // bookings a second, the target rate
	tick := time.NewTicker(time.Second / rate)
	defer tick.Stop()
	b.ResetTimer()
	var wg sync.WaitGroup
	for _, bk := range bookings {
		<-tick.C
		body := calapitest.WebhookBody(calapi.TriggerBookingRequested, bk, nil)
		wg.Go(func() {
			mu.Lock()
			sent[bk.UID] = time.Now()
			mu.Unlock()
			resp, err := calapitest.PostWebhook(b.Context(), http.DefaultClient, tb.base+"/webhooks/calcom", testSecret, body)
			if err == nil {
				resp.Body.Close()
			}
		})
	}
	wg.Wait()
	timeout := time.After(60 * time.Second)
	for range b.N {
		select {
		case <-received:
		case <-timeout:
			b.Fatalf("not every booking was confirmed within 60s")
		}
	}
	b.StopTimer()
	slices.Sort(latency)
	pct := func(p float64) float64 {
		return float64(latency[int(float64(len(latency)-1)*p)].Microseconds()) / 1000
	}
	b.ReportMetric(pct(0.50), "p50-ms")
	b.ReportMetric(pct(0.99), "p99-ms")
	b.ReportMetric(float64(latency[len(latency)-1].Microseconds())/1000, "max-ms")
}
