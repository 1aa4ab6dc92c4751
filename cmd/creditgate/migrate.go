package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"

	"github.com/creditgate/creditgate/credits"
)

// migrator is what `creditgate migrate` needs of a ledger backend beyond
// credits.Store: both credits/sqlite and credits/postgres provide it.
type migrator interface {
	Migrate(ctx context.Context) error
	SchemaVersion(ctx context.Context) (int, error)
	LatestSchemaVersion() int
}

// runMigrate is `creditgate migrate`: bring the ledger's schema at
// DATABASE_URL up to this binary's version, as a step of its own before
// the new version's processes roll out. Running it again is harmless; a
// database migrated by a newer creditgate is refused and left untouched.
func runMigrate(ctx context.Context, args []string, getenv env, stdout io.Writer) error {
	fs := flag.NewFlagSet("migrate", flag.ContinueOnError)
	dbURL := databaseFlag(fs, getenv)
	pos, err := parseArgs(fs, args)
	if errors.Is(err, flag.ErrHelp) {
		helpFor(fs, stdout, "migrate [--database-url URL]")
		return nil
	}
	if err != nil {
		return err
	}
	if len(pos) > 0 {
		return usagef("migrate takes no arguments, got %q", pos)
	}
	// Opening a ledger migrates it already (and refuses a newer schema);
	// Migrate again below keeps this command's meaning independent of that.
	l, err := openLedger(ctx, *dbURL)
	if errors.Is(err, credits.ErrSchemaTooNew) {
		return fmt.Errorf("%w\nrefusing to migrate: a newer creditgate has migrated this database; run that version (or newer), or restore a backup taken before the upgrade", err)
	}
	if err != nil {
		return err
	}
	defer l.Close()
	m, ok := l.(migrator)
	if !ok {
		return fmt.Errorf("migrate %s: this ledger backend cannot be migrated explicitly", redactURL(*dbURL))
	}
	if err := m.Migrate(ctx); err != nil {
		return fmt.Errorf("migrate %s: %w", redactURL(*dbURL), err)
	}
	v, err := m.SchemaVersion(ctx)
	if err != nil {
		return fmt.Errorf("migrate %s: %w", redactURL(*dbURL), err)
	}
	fmt.Fprintf(stdout, "ledger %s: schema at version %d (this binary's latest: %d)\n",
		redactURL(*dbURL), v, m.LatestSchemaVersion())
	return nil
}
