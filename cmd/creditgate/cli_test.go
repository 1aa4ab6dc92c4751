package main

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// cli runs one creditgate command against dbURL and returns its exit
// code, stdout and stderr.
func cli(t *testing.T, dbURL string, args ...string) (int, string, string) {
	t.Helper()
	return cliEnv(t, map[string]string{"DATABASE_URL": dbURL}, args...)
}

// cliEnv runs one creditgate command with the given environment.
func cliEnv(t *testing.T, vars map[string]string, args ...string) (int, string, string) {
	t.Helper()
	var stdout, stderr strings.Builder
	err := run(context.Background(), args, func(k string) string { return vars[k] }, strings.NewReader(""), &stdout, &stderr)
	return exitCode(err, &stderr), stdout.String(), stderr.String()
}

func TestCLICredits(t *testing.T) {
	t.Parallel()
	for _, backend := range backends {
		t.Run(backend, func(t *testing.T) {
			t.Parallel()
			db := dbURL(t, backend)

			code, out, _ := cli(t, db, "credits", "balance", "nobody@example.com", "--json")
			require.Equal(t, 0, code)
			require.JSONEq(t, `{"email":"nobody@example.com","balance":0}`, out)

			code, out, errOut := cli(t, db, "credits", "grant", " Ada@Example.com", "5", "--note", "10-session pack")
			require.Equal(t, 0, code, errOut)
			require.Contains(t, out, "balance 5")

			// Flags before or after the arguments.
			code, out, _ = cli(t, db, "credits", "balance", "--json", "ada@example.com")
			require.Equal(t, 0, code)
			require.JSONEq(t, `{"email":"ada@example.com","balance":5}`, out)
			code, out, _ = cli(t, db, "credits", "balance", "ADA@example.com", "--json")
			require.Equal(t, 0, code)
			require.JSONEq(t, `{"email":"ada@example.com","balance":5}`, out)

			for _, bad := range []string{"0", "-3"} {
				code, _, errOut = cli(t, db, "credits", "grant", "ada@example.com", bad)
				require.Equal(t, 2, code, "grant %s", bad)
				require.Contains(t, errOut, "a grant must be at least 1")
			}
			code, _, errOut = cli(t, db, "credits", "grant", "ada@example.com", "lots")
			require.Equal(t, 2, code)
			require.Contains(t, errOut, "not a whole number")
			code, _, _ = cli(t, db, "credits", "grant", "ada@example.com")
			require.Equal(t, 2, code)
			code, _, _ = cli(t, db, "credits", "frobnicate")
			require.Equal(t, 2, code)

			code, out, _ = cli(t, db, "credits", "adjust", "ada@example.com", "-2", "--note", "typo in pack size")
			require.Equal(t, 0, code)
			require.Contains(t, out, "balance 3")
			code, _, errOut = cli(t, db, "credits", "adjust", "ada@example.com", "-10", "--note", "too much")
			require.Equal(t, 1, code)
			require.Contains(t, errOut, "insufficient")
			code, _, _ = cli(t, db, "credits", "adjust", "ada@example.com", "-1")
			require.Equal(t, 2, code, "adjust needs a note")

			code, out, _ = cli(t, db, "credits", "history", "ada@example.com", "--json")
			require.Equal(t, 0, code)
			var hist []historyEntry
			require.NoError(t, json.Unmarshal([]byte(out), &hist))
			require.Len(t, hist, 2)
			require.Equal(t, "grant", hist[0].Kind)
			require.EqualValues(t, 5, hist[0].BalanceAfter)
			require.Equal(t, "10-session pack", hist[0].Note)
			require.Equal(t, "adjust", hist[1].Kind)
			require.EqualValues(t, -2, hist[1].Amount)
			require.EqualValues(t, 3, hist[1].BalanceAfter)

			code, out, _ = cli(t, db, "credits", "history", "ada@example.com")
			require.Equal(t, 0, code)
			require.Contains(t, out, "typo in pack size")

			code, _, _ = cli(t, db, "credits", "alias", "ada@example.com", "ada.work@example.com")
			require.Equal(t, 0, code)
			code, out, _ = cli(t, db, "credits", "balance", "ada.work@example.com", "--json")
			require.Equal(t, 0, code)
			require.Contains(t, out, `"balance":3`)
		})
	}
}

func TestCLIGrantWithExpiry(t *testing.T) {
	t.Parallel()
	db := dbURL(t, "sqlite")
	code, _, errOut := cli(t, db, "credits", "grant", "ada@example.com", "4", "--expires", "2099-03-31")
	require.Equal(t, 0, code, errOut)
	code, out, _ := cli(t, db, "credits", "history", "ada@example.com", "--json")
	require.Equal(t, 0, code)
	var hist []historyEntry
	require.NoError(t, json.Unmarshal([]byte(out), &hist))
	require.Len(t, hist, 1)
	require.NotNil(t, hist[0].ExpiresAt)
	require.Equal(t, "2099-04-01T00:00:00Z", hist[0].ExpiresAt.UTC().Format("2006-01-02T15:04:05Z07:00"))

	code, _, _ = cli(t, db, "credits", "grant", "ada@example.com", "4", "--expires", "2001-01-01")
	require.Equal(t, 0, code)
	code, out, _ = cli(t, db, "credits", "balance", "ada@example.com", "--json")
	require.Equal(t, 0, code)
	require.Contains(t, out, `"balance":4`, "an expired grant cannot be spent")

	code, _, _ = cli(t, db, "credits", "grant", "ada@example.com", "4", "--expires", "next tuesday")
	require.Equal(t, 2, code)
}

func TestCLIPrices(t *testing.T) {
	t.Parallel()
	for _, backend := range backends {
		t.Run(backend, func(t *testing.T) {
			t.Parallel()
			db := dbURL(t, backend)
			code, out, _ := cli(t, db, "prices", "list", "--json")
			require.Equal(t, 0, code)
			require.JSONEq(t, `[]`, out)
			for _, args := range [][]string{{"1207", "2"}, {"88", "0"}, {"1207", "3"}} {
				code, _, errOut := cli(t, db, append([]string{"prices", "set"}, args...)...)
				require.Equal(t, 0, code, errOut)
			}
			code, out, _ = cli(t, db, "prices", "list", "--json")
			require.Equal(t, 0, code)
			require.JSONEq(t, `[{"eventTypeId":88,"cost":0},{"eventTypeId":1207,"cost":3}]`, out)
			code, _, _ = cli(t, db, "prices", "set", "1207", "-1")
			require.Equal(t, 2, code)
			code, _, _ = cli(t, db, "prices", "set", "abc", "1")
			require.Equal(t, 2, code)
		})
	}
}

func TestCLIImport(t *testing.T) {
	t.Parallel()
	for _, backend := range backends {
		t.Run(backend, func(t *testing.T) {
			t.Parallel()
			db := dbURL(t, backend)
			dir := t.TempDir()
			bad := filepath.Join(dir, "bad.csv")
			require.NoError(t, os.WriteFile(bad, []byte("email,amount,expires,note\nada@example.com,5\nnot-an-email,3\nbo@example.com,-1\ncy@example.com,2,someday\n"), 0o600))
			code, _, errOut := cli(t, db, "credits", "import", bad)
			require.Equal(t, 1, code)
			require.Contains(t, errOut, "line 3")
			require.Contains(t, errOut, "line 4")
			require.Contains(t, errOut, "line 5")
			require.NotContains(t, errOut, "line 2:")
			_, out, _ := cli(t, db, "credits", "balance", "ada@example.com", "--json")
			require.Contains(t, out, `"balance":0`, "nothing is imported from a file with a bad line")

			good := filepath.Join(dir, "good.csv")
			require.NoError(t, os.WriteFile(good, []byte("ada@example.com,5,,spring pack\nada@example.com,5,,spring pack\nbo@example.com,3,2099-12-31\n"), 0o600))
			code, out, errOut = cli(t, db, "credits", "import", good)
			require.Equal(t, 0, code, errOut)
			require.Contains(t, out, "imported 3 grants (13 credits)")
			code, out, _ = cli(t, db, "credits", "import", good)
			require.Equal(t, 0, code)
			require.Contains(t, out, "imported 0 grants")
			_, out, _ = cli(t, db, "credits", "balance", "ada@example.com", "--json")
			require.Contains(t, out, `"balance":10`, "two identical lines are two grants, once each")
			_, out, _ = cli(t, db, "credits", "balance", "bo@example.com", "--json")
			require.Contains(t, out, `"balance":3`)

			// Next month's file repeats a line: a new grant all the same.
			next := filepath.Join(dir, "next.csv")
			require.NoError(t, os.WriteFile(next, []byte("bo@example.com,3,2099-12-31\n"), 0o600))
			code, out, errOut = cli(t, db, "credits", "import", next)
			require.Equal(t, 0, code, errOut)
			require.Contains(t, out, "imported 1 grants")
			// A line added to the first file is imported; the others are not again.
			require.NoError(t, os.WriteFile(good, []byte("ada@example.com,5,,spring pack\nada@example.com,5,,spring pack\nbo@example.com,3,2099-12-31\ncy@example.com,1\n"), 0o600))
			code, out, _ = cli(t, db, "credits", "import", good)
			require.Equal(t, 0, code)
			require.Contains(t, out, "imported 1 grants (1 credits); 3 lines were already imported")
			_, out, _ = cli(t, db, "credits", "balance", "bo@example.com", "--json")
			require.Contains(t, out, `"balance":6`)
		})
	}
}

func TestCLIUsage(t *testing.T) {
	t.Parallel()
	code, _, _ := cli(t, "sqlite:"+filepath.Join(t.TempDir(), "x.db"))
	require.Equal(t, 2, code)
	code, _, errOut := cli(t, "", "launch")
	require.Equal(t, 2, code)
	require.Contains(t, errOut, `unknown command "launch"`)
	code, _, errOut = cli(t, "mysql://x", "credits", "balance", "a@b.c")
	require.Equal(t, 2, code)
	require.Contains(t, errOut, "DATABASE_URL")
	code, out, _ := cli(t, "", "help")
	require.Equal(t, 0, code)
	require.Contains(t, out, "credits grant EMAIL AMOUNT")
}
