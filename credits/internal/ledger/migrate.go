package ledger

import (
	"context"
	"fmt"
	"io/fs"
	"path"
	"sort"
	"strconv"
	"strings"

	"github.com/creditgate/creditgate/credits"
)

// migration is one numbered SQL file, applied once in version order.
type migration struct {
	version int
	name    string
	sql     string
}

// parseMigrations reads NNNN_name.sql files from the root of fsys. Versions
// must run 1, 2, 3... without gaps, so a missing file is caught here rather
// than in a half-migrated database.
func parseMigrations(fsys fs.FS) ([]migration, error) {
	names, err := fs.Glob(fsys, "*.sql")
	if err != nil {
		return nil, fmt.Errorf("read migrations: %w", err)
	}
	var ms []migration
	for _, name := range names {
		prefix, _, _ := strings.Cut(name, "_")
		v, err := strconv.Atoi(prefix)
		if err != nil {
			return nil, fmt.Errorf("migration %s: name must start with its version: %w", name, err)
		}
		b, err := fs.ReadFile(fsys, name)
		if err != nil {
			return nil, fmt.Errorf("read migration %s: %w", name, err)
		}
		ms = append(ms, migration{version: v, name: path.Base(name), sql: string(b)})
	}
	sort.Slice(ms, func(i, j int) bool { return ms[i].version < ms[j].version })
	for i, m := range ms {
		if m.version != i+1 {
			return nil, fmt.Errorf("migration %s: version %d, want %d", m.name, m.version, i+1)
		}
	}
	if len(ms) == 0 {
		return nil, fmt.Errorf("no migrations")
	}
	return ms, nil
}

// LatestSchemaVersion is the schema version this binary migrates to.
func (l *Ledger) LatestSchemaVersion() int {
	return l.migrations[len(l.migrations)-1].version
}

// LimitSchemaVersion makes the Ledger act as a binary whose newest
// migration is version v: Migrate stops there, and a database migrated
// further is refused as too new. Tests use it to build a database as an
// older creditgate left it, then upgrade it. Call it before Migrate.
func (l *Ledger) LimitSchemaVersion(v int) error {
	if v < 1 || v > l.LatestSchemaVersion() {
		return fmt.Errorf("limit schema version to %d of %d: %w", v, l.LatestSchemaVersion(), credits.ErrInvalid)
	}
	l.migrations = l.migrations[:v]
	return nil
}

// Migrate brings the schema to LatestSchemaVersion in one transaction.
// Running it again, or from several processes at once, is harmless. A
// database whose version is newer is refused with credits.ErrSchemaTooNew.
func (l *Ledger) Migrate(ctx context.Context) error {
	err := l.db.WriteTx(ctx, func(q Querier) error {
		if l.d.MigrationLock != "" {
			if err := q.Exec(ctx, l.d.MigrationLock); err != nil {
				return err
			}
		}
		if err := q.Exec(ctx, l.d.MigrationsTable); err != nil {
			return err
		}
		var current int
		if err := q.QueryRow(ctx, qSchemaVersion).Scan(&current); err != nil {
			return err
		}
		if latest := l.LatestSchemaVersion(); current > latest {
			return fmt.Errorf("schema version %d, this binary knows up to %d: %w",
				current, latest, credits.ErrSchemaTooNew)
		}
		for _, m := range l.migrations[current:] {
			if err := q.Exec(ctx, m.sql); err != nil {
				return fmt.Errorf("%s: %w", m.name, err)
			}
			if err := q.Exec(ctx, qRecordMigration, m.version, l.d.Time(l.clock())); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	return nil
}

// SchemaVersion is the version the database is migrated to (0 before any).
func (l *Ledger) SchemaVersion(ctx context.Context) (int, error) {
	var v int
	if err := l.db.QueryRow(ctx, qSchemaVersion).Scan(&v); err != nil {
		return 0, fmt.Errorf("schema version: %w", err)
	}
	return v, nil
}
