package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"

	"github.com/jackc/pgx/v5"

	"github.com/creditgate/creditgate/credits"
)

// benchBackend is a ledger the bench created for itself and removes after.
type benchBackend struct {
	name  string // sqlite or postgres
	url   string // DATABASE_URL for creditgate
	store credits.Store
}

const (
	benchMembers   = 64 // bookers, so that debits do not all queue on one member's lock
	benchEventType = 77
	benchCredit    = 1_000_000_000
)

func benchMember(i int) string { return fmt.Sprintf("member%03d@bench.example", i%benchMembers) }

// openBackends creates SQLite (always) and PostgreSQL (when DATABASE_URL
// names it) ledgers that hold nothing but the bench's members and price.
func (b *bench) openBackends(ctx context.Context) error {
	dir := b.dir
	if p := sqlitePath(b.o.databaseURL); p != "" {
		d, err := os.MkdirTemp(filepath.Dir(p), ".creditgate-bench-")
		if err != nil {
			return fmt.Errorf("bench: %w", err)
		}
		b.closers = append(b.closers, func() { _ = os.RemoveAll(d) })
		dir = d
	}
	urls := []*benchBackend{{name: "sqlite", url: "sqlite:" + filepath.Join(dir, "ledger.db")}}
	if isPostgresURL(b.o.databaseURL) {
		u, err := b.postgresSchema(ctx, b.o.databaseURL)
		if err != nil {
			return err
		}
		urls = append(urls, &benchBackend{name: "postgres", url: u})
	}
	for _, be := range urls {
		s, err := openLedger(ctx, be.url)
		if err != nil {
			return fmt.Errorf("bench: %w", err)
		}
		b.closers = append(b.closers, func() { _ = s.Close() })
		be.store = s
		if err := seedBench(ctx, s); err != nil {
			return fmt.Errorf("bench: seed %s ledger: %w", be.name, err)
		}
		b.backends = append(b.backends, be)
	}
	return nil
}

// postgresSchema creates a schema of the bench's own in the database and
// returns a URL that uses it; the schema is dropped when the bench ends.
func (b *bench) postgresSchema(ctx context.Context, base string) (string, error) {
	u, err := url.Parse(base)
	if err != nil {
		return "", usagef("DATABASE_URL: %s", err)
	}
	// pgxpool's own settings (pool_max_conns...) are not for one connection.
	admin := *u
	q := admin.Query()
	for k := range q {
		if strings.HasPrefix(k, "pool_") {
			q.Del(k)
		}
	}
	admin.RawQuery = q.Encode()
	conn, err := pgx.Connect(ctx, admin.String())
	if err != nil {
		return "", fmt.Errorf("bench: connect to PostgreSQL at %s: %w", redactURL(base), err)
	}
	defer conn.Close(ctx)
	rnd := make([]byte, 6)
	_, _ = rand.Read(rnd)
	schema := "creditgate_bench_" + hex.EncodeToString(rnd)
	if _, err := conn.Exec(ctx, "CREATE SCHEMA "+schema); err != nil {
		return "", fmt.Errorf("bench: create schema: %w", err)
	}
	b.closers = append(b.closers, func() {
		ctx := context.Background()
		if c, err := pgx.Connect(ctx, admin.String()); err == nil {
			_, _ = c.Exec(ctx, "DROP SCHEMA "+schema+" CASCADE")
			_ = c.Close(ctx)
		}
	})
	q = u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	return u.String(), nil
}

func seedBench(ctx context.Context, s credits.Store) error {
	for i := range benchMembers {
		if _, err := s.Grant(ctx, benchMember(i), benchCredit, credits.GrantOptions{Note: "bench"}); err != nil {
			return err
		}
	}
	return s.SetPrice(ctx, benchEventType, 1)
}
