package ledger

import (
	"testing"
	"testing/fstest"

	"github.com/stretchr/testify/require"

	"github.com/creditgate/creditgate/credits"
)

func TestParseMigrations(t *testing.T) {
	t.Parallel()
	file := &fstest.MapFile{Data: []byte("SELECT 1;")}
	for _, tc := range []struct {
		name    string
		files   []string
		want    []int
		wantErr string
	}{
		{"in order", []string{"0002_b.sql", "0001_a.sql", "README.md"}, []int{1, 2}, ""},
		{"gap", []string{"0001_a.sql", "0003_c.sql"}, nil, "version 3, want 2"},
		{"duplicate", []string{"0001_a.sql", "0001_b.sql"}, nil, "want 2"},
		{"no version", []string{"init.sql"}, nil, "must start with its version"},
		{"none", nil, nil, "no migrations"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			fsys := fstest.MapFS{}
			for _, f := range tc.files {
				fsys[f] = file
			}
			ms, err := parseMigrations(fsys)
			if tc.wantErr != "" {
				require.ErrorContains(t, err, tc.wantErr)
				return
			}
			require.NoError(t, err)
			var got []int
			for _, m := range ms {
				got = append(got, m.version)
			}
			require.Equal(t, tc.want, got)
		})
	}
}

func TestLimitSchemaVersion(t *testing.T) {
	t.Parallel()
	file := &fstest.MapFile{Data: []byte("SELECT 1;")}
	fsys := fstest.MapFS{"0001_a.sql": file, "0002_b.sql": file, "0003_c.sql": file}
	for _, tc := range []struct {
		v, want int
		ok      bool
	}{{1, 1, true}, {2, 2, true}, {3, 3, true}, {0, 3, false}, {4, 3, false}} {
		l, err := New(nil, Dialect{Migrations: fsys}, nil)
		require.NoError(t, err)
		err = l.LimitSchemaVersion(tc.v)
		if tc.ok {
			require.NoError(t, err, tc.v)
		} else {
			require.ErrorIs(t, err, credits.ErrInvalid, tc.v)
		}
		require.Equal(t, tc.want, l.LatestSchemaVersion(), tc.v)
	}
}
