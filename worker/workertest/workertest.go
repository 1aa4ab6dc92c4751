// Package workertest gives tests their own Redis database and PostgreSQL
// schema on the real servers CI provides (TEST_REDIS_URL,
// TEST_DATABASE_URL), or an embedded broker when no Redis is given, so that
// tests running at once never see each other's data.
package workertest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/url"
	"os"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/jackc/pgx/v5"
	"github.com/redis/go-redis/v9"
)

// leaseTTL bounds how long a crashed test run can hold a Redis database.
const leaseTTL = 30 * time.Minute

// RedisURL returns a redis:// URL of a database this test alone uses:
// a leased, flushed database number on TEST_REDIS_URL's server, or an
// embedded miniredis when TEST_REDIS_URL is unset.
func RedisURL(t testing.TB) string {
	t.Helper()
	base := os.Getenv("TEST_REDIS_URL")
	if base == "" {
		m := miniredis.RunT(t)
		return "redis://" + m.Addr()
	}
	opt, err := redis.ParseURL(base)
	if err != nil {
		t.Fatalf("TEST_REDIS_URL: %v", err)
	}
	ctx := context.Background()
	admin := redis.NewClient(&redis.Options{Addr: opt.Addr, Username: opt.Username, Password: opt.Password, DB: 0})
	t.Cleanup(func() { _ = admin.Close() })
	token := randomName("lease")
	deadline := time.Now().Add(2 * time.Minute)
	for {
		// Database 0 is left to people and 15 to `make bench`; 1..14 are
		// leased to tests, one each.
		for db := 1; db < 15; db++ {
			key := fmt.Sprintf("creditgate:test:lease:%d", db)
			ok, err := admin.SetNX(ctx, key, token, leaseTTL).Result()
			if err != nil {
				t.Fatalf("TEST_REDIS_URL %s unreachable: %v", opt.Addr, err)
			}
			if !ok {
				continue
			}
			c := redis.NewClient(&redis.Options{Addr: opt.Addr, Username: opt.Username, Password: opt.Password, DB: db})
			if err := c.FlushDB(ctx).Err(); err != nil {
				t.Fatalf("flush redis db %d: %v", db, err)
			}
			t.Cleanup(func() {
				_ = c.FlushDB(context.Background()).Err()
				_ = c.Close()
				if v, _ := admin.Get(context.Background(), key).Result(); v == token {
					admin.Del(context.Background(), key)
				}
			})
			u := url.URL{Scheme: "redis", Host: opt.Addr, Path: fmt.Sprintf("/%d", db)}
			if opt.Password != "" {
				u.User = url.UserPassword(opt.Username, opt.Password)
			}
			return u.String()
		}
		if time.Now().After(deadline) {
			t.Fatal("no free Redis database for this test after 2 minutes")
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// PostgresURL returns TEST_DATABASE_URL with a fresh schema of this test's
// own as its search_path, dropped when the test ends. It skips the test
// when TEST_DATABASE_URL is unset, and fails it when CI is set too: CI
// always provides PostgreSQL.
func PostgresURL(t testing.TB) string {
	t.Helper()
	base := os.Getenv("TEST_DATABASE_URL")
	if base == "" {
		if os.Getenv("CI") != "" {
			t.Fatal("TEST_DATABASE_URL is unset on CI")
		}
		t.Skip("TEST_DATABASE_URL is unset: PostgreSQL tests skipped (SQLite variants still run)")
	}
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, base)
	if err != nil {
		t.Fatalf("TEST_DATABASE_URL unreachable: %v", err)
	}
	defer conn.Close(ctx)
	schema := randomName("t")
	if _, err := conn.Exec(ctx, "CREATE SCHEMA "+schema); err != nil {
		t.Fatalf("create schema: %v", err)
	}
	t.Cleanup(func() {
		c, err := pgx.Connect(context.Background(), base)
		if err != nil {
			return
		}
		defer c.Close(context.Background())
		_, _ = c.Exec(context.Background(), "DROP SCHEMA "+schema+" CASCADE")
	})
	u, err := url.Parse(base)
	if err != nil {
		t.Fatalf("TEST_DATABASE_URL: %v", err)
	}
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	return u.String()
}

func randomName(prefix string) string {
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	return prefix + "_" + hex.EncodeToString(b)
}
