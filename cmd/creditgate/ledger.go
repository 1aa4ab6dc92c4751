package main

import (
	"context"
	"flag"
	"fmt"
	"net/url"
	"strings"

	"github.com/creditgate/creditgate/credits"
	"github.com/creditgate/creditgate/credits/postgres"
	"github.com/creditgate/creditgate/credits/sqlite"
)

// openLedger opens the ledger a DATABASE_URL names: sqlite:PATH (the
// default) or postgres://...
func openLedger(ctx context.Context, dbURL string) (credits.Store, error) {
	switch {
	case strings.HasPrefix(dbURL, "postgres://"), strings.HasPrefix(dbURL, "postgresql://"):
		s, err := postgres.Open(ctx, dbURL)
		if err != nil {
			return nil, fmt.Errorf("open ledger %s: %w", redactURL(dbURL), err)
		}
		return s, nil
	case strings.HasPrefix(dbURL, "sqlite:"):
		s, err := sqlite.Open(ctx, sqlitePath(dbURL))
		if err != nil {
			return nil, fmt.Errorf("open ledger %s: %w", dbURL, err)
		}
		return s, nil
	}
	return nil, usagef("DATABASE_URL %q: want sqlite:PATH or postgres://...", redactURL(dbURL))
}

// sqlitePath is the file of a sqlite: URL, or "" for another backend.
func sqlitePath(dbURL string) string {
	if p, ok := strings.CutPrefix(dbURL, "sqlite:"); ok {
		return strings.TrimPrefix(p, "//")
	}
	return ""
}

// redactURL hides a URL's password, in its user part or as a password
// query parameter, so it can be printed and logged. A URL that does not
// parse is not printed at all: it might hold a password unmasked.
func redactURL(raw string) string {
	if raw == "" || !strings.Contains(raw, "://") {
		return raw // sqlite:PATH, a bare path
	}
	u, err := url.Parse(raw)
	if err != nil {
		return "(unparseable URL)"
	}
	if u.User != nil {
		if _, has := u.User.Password(); has {
			u.User = url.UserPassword(u.User.Username(), "xxxxx")
		}
	}
	q := u.Query()
	for k := range q {
		if strings.EqualFold(k, "password") {
			q.Set(k, "xxxxx")
			u.RawQuery = q.Encode()
		}
	}
	return u.String()
}

// urlValue is a flag holding a URL that --help shows with its password
// masked.
type urlValue struct{ v string }

func (u *urlValue) String() string {
	if u == nil {
		return ""
	}
	return redactURL(u.v)
}

func (u *urlValue) Set(v string) error { u.v = v; return nil }

// databaseFlag defines --database-url on fs, defaulting to DATABASE_URL or
// the contract's sqlite:creditgate.db: the ledger every command opens.
func databaseFlag(fs *flag.FlagSet, getenv env) *string {
	return urlFlag(fs, "database-url", orDefault(getenv("DATABASE_URL"), "sqlite:creditgate.db"),
		"ledger: sqlite:PATH or postgres://... ($DATABASE_URL)")
}

// urlFlag defines a URL flag on fs whose default is value.
func urlFlag(fs *flag.FlagSet, name, value, usage string) *string {
	u := &urlValue{v: value}
	fs.Var(u, name, usage)
	return &u.v
}
