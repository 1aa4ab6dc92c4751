package main

import (
	"context"
	"log/slog"
	"strings"
	"testing"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"

	"github.com/creditgate/creditgate/worker/workertest"
)

func TestWarnsWhenRedisWouldLoseOrEvictBookings(t *testing.T) {
	t.Parallel()
	opt, err := redis.ParseURL(workertest.RedisURL(t))
	require.NoError(t, err)
	rdb := redis.NewClient(opt)
	t.Cleanup(func() { _ = rdb.Close() })
	ctx := context.Background()

	var logs strings.Builder
	warnDurability(ctx, rdb, slog.New(slog.NewTextHandler(&logs, nil)))
	cfg, err := rdb.ConfigGet(ctx, "*").Result()
	if err != nil {
		// The embedded broker (no TEST_REDIS_URL) has no CONFIG.
		require.Contains(t, logs.String(), "could not check Redis persistence")
		return
	}
	require.Equal(t, cfg["appendonly"] != "yes", strings.Contains(logs.String(), "Redis persistence is off"), logs.String())
	require.Equal(t, cfg["maxmemory-policy"] != "noeviction", strings.Contains(logs.String(), "maxmemory-policy noeviction"), logs.String())
}

func TestNoWarningForRedisConfiguredAsDeployConf(t *testing.T) {
	t.Parallel()
	r := startRedis(t) // private: appendonly yes
	opt, err := redis.ParseURL(r.URL())
	require.NoError(t, err)
	rdb := redis.NewClient(opt)
	t.Cleanup(func() { _ = rdb.Close() })
	ctx := context.Background()
	require.NoError(t, rdb.ConfigSet(ctx, "maxmemory-policy", "noeviction").Err())
	var logs strings.Builder
	warnDurability(ctx, rdb, slog.New(slog.NewTextHandler(&logs, nil)))
	require.Empty(t, logs.String())

	require.NoError(t, rdb.ConfigSet(ctx, "maxmemory-policy", "allkeys-lru").Err())
	require.NoError(t, rdb.ConfigSet(ctx, "appendonly", "no").Err())
	warnDurability(ctx, rdb, slog.New(slog.NewTextHandler(&logs, nil)))
	require.Contains(t, logs.String(), "Redis persistence is off")
	require.Contains(t, logs.String(), "allkeys-lru")
}
