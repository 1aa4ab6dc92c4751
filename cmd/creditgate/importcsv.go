package main

import (
	"context"
	"crypto/sha256"
	"encoding/csv"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"golang.org/x/term"

	"github.com/creditgate/creditgate/credits"
)

// grantLine is one validated line of an import file.
type grantLine struct {
	line   int
	email  string
	amount int64
	expiry *time.Time
	note   string
	ref    string
}

// importCSV grants every line of an email,amount[,expires,note] file. The
// whole file is checked before anything is written; each line carries a
// reference derived from the batch (the file's name unless --batch says)
// and its content, so importing the same file again grants nothing twice,
// lines added to it since are granted, and another file with the same
// lines (next month's packs) is granted in full.
func importCSV(ctx context.Context, l credits.Store, path, batch string, out, stderr io.Writer) error {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("import: %w", err)
	}
	defer f.Close()
	if batch == "" {
		batch = filepath.Base(path)
	}
	lines, err := parseGrantFile(f, batch)
	if err != nil {
		return fmt.Errorf("import %s: %w", path, err)
	}
	progress := func(int) {}
	if file, ok := stderr.(*os.File); ok && term.IsTerminal(int(file.Fd())) && len(lines) > 100 {
		progress = func(done int) {
			if done%100 == 0 || done == len(lines) {
				fmt.Fprintf(stderr, "\rimporting %d/%d", done, len(lines))
			}
		}
		defer fmt.Fprintln(stderr)
	}
	var granted, skipped, credit int64
	for i, g := range lines {
		// An entry older than this call is the one an earlier import made.
		// (Millisecond truncation absorbs the database's coarser clock.)
		callStart := time.Now().Truncate(time.Millisecond)
		e, err := l.Grant(ctx, g.email, g.amount, credits.GrantOptions{ExpiresAt: g.expiry, Note: g.note, Ref: g.ref})
		if err != nil {
			return fmt.Errorf("import %s line %d (%d of %d lines done; re-run to finish, nothing is granted twice): %w",
				path, g.line, i, len(lines), err)
		}
		if e.CreatedAt.Before(callStart) {
			skipped++
		} else {
			granted++
			credit += g.amount
		}
		progress(i + 1)
	}
	fmt.Fprintf(out, "imported %d grants (%d credits); %d lines were already imported\n", granted, credit, skipped)
	return nil
}

// parseGrantFile reads and checks every line; the error lists each bad
// line by number.
func parseGrantFile(r io.Reader, batch string) ([]grantLine, error) {
	cr := csv.NewReader(r)
	cr.FieldsPerRecord = -1
	cr.TrimLeadingSpace = true
	cr.Comment = '#'
	var (
		lines []grantLine
		bad   []string
		seen  = map[string]int{}
	)
	for {
		rec, err := cr.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		line, _ := cr.FieldPos(0)
		if err != nil {
			bad = append(bad, err.Error())
			continue
		}
		if len(lines) == 0 && len(bad) == 0 && strings.EqualFold(strings.TrimSpace(rec[0]), "email") {
			continue // header
		}
		g, err := parseGrantLine(line, rec)
		if err != nil {
			bad = append(bad, fmt.Sprintf("line %d: %s", line, err))
			continue
		}
		key := strings.Join([]string{batch, g.email, strconv.FormatInt(g.amount, 10), fmtExpiry(g.expiry), g.note}, "\x00")
		seen[key]++
		sum := sha256.Sum256([]byte(key + "\x00" + strconv.Itoa(seen[key])))
		g.ref = "import:" + hex.EncodeToString(sum[:16])
		lines = append(lines, g)
	}
	if len(bad) > 0 {
		if len(bad) > 20 {
			bad = append(bad[:20], fmt.Sprintf("... and %d more", len(bad)-20))
		}
		return nil, fmt.Errorf("nothing imported, fix these lines:\n  %s", strings.Join(bad, "\n  "))
	}
	if len(lines) == 0 {
		return nil, fmt.Errorf("no grants in file")
	}
	return lines, nil
}

func parseGrantLine(line int, rec []string) (grantLine, error) {
	if len(rec) < 2 || len(rec) > 4 {
		return grantLine{}, fmt.Errorf("want email,amount[,expires,note], got %d fields", len(rec))
	}
	g := grantLine{line: line, email: credits.NormalizeEmail(rec[0])}
	if !strings.Contains(g.email, "@") || strings.ContainsAny(g.email, " \t") {
		return g, fmt.Errorf("%q is not an email", rec[0])
	}
	amount, err := strconv.ParseInt(strings.TrimSpace(rec[1]), 10, 64)
	if err != nil || amount <= 0 {
		return g, fmt.Errorf("amount %q: want a whole number of at least 1", rec[1])
	}
	g.amount = amount
	if len(rec) > 2 && strings.TrimSpace(rec[2]) != "" {
		t, err := parseExpiry(strings.TrimSpace(rec[2]))
		if err != nil {
			return g, fmt.Errorf("expires %q: want a date like 2027-03-31", rec[2])
		}
		g.expiry = &t
	}
	if len(rec) > 3 {
		g.note = strings.TrimSpace(rec[3])
	}
	return g, nil
}

func fmtExpiry(t *time.Time) string {
	if t == nil {
		return ""
	}
	return t.UTC().Format(time.RFC3339)
}
