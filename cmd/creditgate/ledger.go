package main

import (
	"context"
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
		s, err := sqlite.Open(ctx, strings.TrimPrefix(dbURL, "sqlite:"))
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

// redactURL hides a URL's password so it can be printed and logged.
func redactURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil || u.User == nil {
		return raw
	}
	if _, has := u.User.Password(); has {
		u.User = url.UserPassword(u.User.Username(), "xxxxx")
	}
	return u.String()
}
