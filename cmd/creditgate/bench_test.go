package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/creditgate/creditgate/worker/workertest"
)

// TestBenchSmoke runs creditgate bench in its short smoke mode, so that the
// benchmark cannot rot: every figure must come out, and be above zero. It
// asserts no timing: CI machines are too noisy for that, and the targets
// are recorded by the benchmark itself (docs/performance.md).
func TestBenchSmoke(t *testing.T) {
	t.Parallel()
	args := []string{"bench", "--json", "--count", "200", "--rate", "400", "--concurrency", "8",
		"--redis-url", workertest.RedisURL(t), "--binary", buildBinary(t)}
	backends := []string{"sqlite"}
	if pg := os.Getenv("TEST_DATABASE_URL"); pg != "" {
		args = append(args, "--database-url", pg)
		backends = append(backends, "postgres")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	var stdout, stderr bytes.Buffer
	start := time.Now()
	err := run(ctx, args, func(string) string { return "" }, strings.NewReader(""), &stdout, &stderr)
	require.NoError(t, err, "stderr:\n%s", stderr.String())
	t.Logf("creditgate bench, %s in all:\n%s", time.Since(start).Round(time.Millisecond), stderr.String())

	var rep benchReport
	require.NoError(t, json.Unmarshal(stdout.Bytes(), &rep), stdout.String())
	require.Equal(t, backends, rep.Config.Backends)
	got := map[string]benchRow{}
	for _, r := range rep.Results {
		got[r.Key] = r
	}
	want := []string{"ingest_acks_per_s", "ingest_cpu_us_per_webhook", "ack_p50_ms", "ack_p99_ms", "ack_max_ms",
		"peak_rss_mb_ingest", "peak_rss_mb_serve_burst"}
	for _, be := range backends {
		want = append(want, "decisions_per_s_"+be, "worker_cpu_us_per_decision_"+be, "peak_rss_mb_worker_"+be,
			"e2e_"+be+"_p50_ms", "e2e_"+be+"_p99_ms", "e2e_"+be+"_max_ms")
	}
	for _, key := range want {
		r, ok := got[key]
		require.True(t, ok, "no %s in %s", key, stdout.String())
		require.Positive(t, r.Creditgate, key)
		if !strings.HasPrefix(key, "peak_rss") {
			require.Positive(t, r.Baseline, "baseline of %s", key)
			require.Positive(t, r.Ratio, "ratio of %s", key)
		}
	}
	require.NotNil(t, got["ingest_acks_per_s"].Met, "the ingest target is judged")

	var table bytes.Buffer
	require.NoError(t, rep.writeTable(&table))
	for _, s := range []string{"CREDITGATE", "RAW ASYNQ", "RATIO", "ingest acks/s", "decisions/s (sqlite)",
		"end to end @400/s (sqlite) p99", "peak RSS serve @1000/s"} {
		require.Contains(t, table.String(), s)
	}
}

func TestBenchRefusesNoRedis(t *testing.T) {
	t.Parallel()
	var stdout, stderr bytes.Buffer
	err := run(context.Background(), []string{"bench"}, func(string) string { return "" },
		strings.NewReader(""), &stdout, &stderr)
	var ue *usageError
	require.True(t, errors.As(err, &ue), "%v", err)
	require.Contains(t, err.Error(), "REDIS_URL")
	require.Equal(t, 2, exitCode(err, &stderr))
}
