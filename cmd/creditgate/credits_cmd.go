package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"strconv"
	"text/tabwriter"
	"time"

	"github.com/creditgate/creditgate/credits"
)

// ledgerCmd is one ledger subcommand: its flags, then what it does.
type ledgerCmd struct {
	synopsis string
	nargs    int
	flags    func(fs *flag.FlagSet) // extra flags
	do       func(ctx context.Context, l credits.Store, args []string, out io.Writer) error
}

// runLedgerCmd parses a subcommand's flags (before or after its arguments),
// opens the ledger and runs it.
func runLedgerCmd(ctx context.Context, name string, c ledgerCmd, args []string, getenv env, stdout io.Writer) error {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	dbURL := databaseFlag(fs, getenv)
	if c.flags != nil {
		c.flags(fs)
	}
	pos, err := parseArgs(fs, args)
	if errors.Is(err, flag.ErrHelp) {
		helpFor(fs, stdout, c.synopsis)
		return nil
	}
	if err != nil {
		return err
	}
	if len(pos) != c.nargs {
		return usagef("usage: creditgate %s", c.synopsis)
	}
	l, err := openLedger(ctx, *dbURL)
	if err != nil {
		return err
	}
	defer l.Close()
	return c.do(ctx, l, pos, stdout)
}

func orDefault(v, def string) string {
	if v == "" {
		return def
	}
	return v
}

func runCredits(ctx context.Context, args []string, getenv env, stdin io.Reader, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		return usagef("usage: creditgate credits grant|balance|history|adjust|alias|import ...")
	}
	var (
		expires, note string
		asJSON        bool
	)
	jsonFlag := func(fs *flag.FlagSet) { fs.BoolVar(&asJSON, "json", false, "print JSON") }
	cmds := map[string]ledgerCmd{
		"grant": {synopsis: "credits grant EMAIL AMOUNT [--expires DATE] [--note TEXT]", nargs: 2,
			flags: func(fs *flag.FlagSet) {
				fs.StringVar(&expires, "expires", "", "last day the credit can be used, YYYY-MM-DD (or an RFC 3339 time)")
				fs.StringVar(&note, "note", "", "why the credit is granted")
			},
			do: func(ctx context.Context, l credits.Store, a []string, out io.Writer) error {
				return grant(ctx, l, a[0], a[1], expires, note, out)
			}},
		"balance": {synopsis: "credits balance EMAIL [--json]", nargs: 1, flags: jsonFlag,
			do: func(ctx context.Context, l credits.Store, a []string, out io.Writer) error {
				return balance(ctx, l, a[0], asJSON, out)
			}},
		"history": {synopsis: "credits history EMAIL [--json]", nargs: 1, flags: jsonFlag,
			do: func(ctx context.Context, l credits.Store, a []string, out io.Writer) error {
				return history(ctx, l, a[0], asJSON, out)
			}},
		"adjust": {synopsis: "credits adjust EMAIL ±N --note TEXT", nargs: 2,
			flags: func(fs *flag.FlagSet) { fs.StringVar(&note, "note", "", "why (required)") },
			do: func(ctx context.Context, l credits.Store, a []string, out io.Writer) error {
				return adjust(ctx, l, a[0], a[1], note, out)
			}},
		"alias": {synopsis: "credits alias EMAIL OTHER_EMAIL", nargs: 2,
			do: func(ctx context.Context, l credits.Store, a []string, out io.Writer) error {
				if err := l.Alias(ctx, a[0], a[1]); err != nil {
					return fmt.Errorf("alias %s to %s: %w", a[1], a[0], err)
				}
				fmt.Fprintf(out, "%s now spends the balance of %s\n", credits.NormalizeEmail(a[1]), credits.NormalizeEmail(a[0]))
				return nil
			}},
		"import": {synopsis: "credits import FILE.csv [--batch NAME]", nargs: 1,
			flags: func(fs *flag.FlagSet) {
				fs.StringVar(&note, "batch", "", "what makes this import distinct from others (default: the file's name)")
			},
			do: func(ctx context.Context, l credits.Store, a []string, out io.Writer) error {
				return importCSV(ctx, l, a[0], note, out, stderr)
			}},
	}
	c, ok := cmds[args[0]]
	if !ok {
		return usagef("unknown credits command %q", args[0])
	}
	return runLedgerCmd(ctx, "credits "+args[0], c, args[1:], getenv, stdout)
}

func grant(ctx context.Context, l credits.Store, email, amountArg, expiresArg, note string, out io.Writer) error {
	amount, err := strconv.ParseInt(amountArg, 10, 64)
	if err != nil {
		return usagef("AMOUNT %q is not a whole number", amountArg)
	}
	if amount <= 0 {
		return usagef("grant %d credits: a grant must be at least 1 (use 'credits adjust' to correct a balance)", amount)
	}
	var opts credits.GrantOptions
	opts.Note = note
	if expiresArg != "" {
		t, err := parseExpiry(expiresArg)
		if err != nil {
			return usagef("--expires %q: want a date like 2027-03-31", expiresArg)
		}
		opts.ExpiresAt = &t
	}
	if _, err := l.Grant(ctx, email, amount, opts); err != nil {
		return fmt.Errorf("grant %s: %w", credits.NormalizeEmail(email), err)
	}
	bal, err := l.Balance(ctx, email)
	if err != nil {
		return fmt.Errorf("balance %s: %w", credits.NormalizeEmail(email), err)
	}
	fmt.Fprintf(out, "granted %d to %s; balance %d\n", amount, credits.NormalizeEmail(email), bal)
	return nil
}

// parseExpiry reads --expires: a date means usable through the end of that
// day (UTC); an RFC 3339 time is taken as is.
func parseExpiry(s string) (time.Time, error) {
	if t, err := time.Parse("2006-01-02", s); err == nil {
		return t.AddDate(0, 0, 1), nil
	}
	return time.Parse(time.RFC3339, s)
}

func balance(ctx context.Context, l credits.Store, email string, asJSON bool, out io.Writer) error {
	bal, err := l.Balance(ctx, email)
	if err != nil {
		return fmt.Errorf("balance %s: %w", credits.NormalizeEmail(email), err)
	}
	if asJSON {
		return json.NewEncoder(out).Encode(struct {
			Email   string `json:"email"`
			Balance int64  `json:"balance"`
		}{credits.NormalizeEmail(email), bal})
	}
	fmt.Fprintf(out, "%s: %d\n", credits.NormalizeEmail(email), bal)
	return nil
}

type historyEntry struct {
	Time         time.Time  `json:"time"`
	Kind         string     `json:"kind"`
	Amount       int64      `json:"amount"`
	BalanceAfter int64      `json:"balanceAfter"`
	BookingUID   string     `json:"bookingUid,omitempty"`
	Note         string     `json:"note,omitempty"`
	ExpiresAt    *time.Time `json:"expiresAt,omitempty"`
}

func history(ctx context.Context, l credits.Store, email string, asJSON bool, out io.Writer) error {
	entries, err := l.History(ctx, email)
	if err != nil {
		return fmt.Errorf("history %s: %w", credits.NormalizeEmail(email), err)
	}
	rows := make([]historyEntry, 0, len(entries))
	for _, e := range entries {
		rows = append(rows, historyEntry{e.CreatedAt.UTC(), string(e.Kind), e.Amount, e.BalanceAfter, e.BookingUID, e.Note, e.ExpiresAt})
	}
	if asJSON {
		return json.NewEncoder(out).Encode(rows)
	}
	tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "TIME\tKIND\tAMOUNT\tBALANCE\tBOOKING\tNOTE")
	for _, r := range rows {
		fmt.Fprintf(tw, "%s\t%s\t%+d\t%d\t%s\t%s\n", r.Time.Format(time.DateTime), r.Kind, r.Amount, r.BalanceAfter, r.BookingUID, r.Note)
	}
	return tw.Flush()
}

func adjust(ctx context.Context, l credits.Store, email, amountArg, note string, out io.Writer) error {
	amount, err := strconv.ParseInt(amountArg, 10, 64)
	if err != nil || amount == 0 {
		return usagef("±N %q: want a non-zero whole number like +2 or -1", amountArg)
	}
	if note == "" {
		return usagef("credits adjust needs --note saying why")
	}
	if _, err := l.Adjust(ctx, email, amount, note); err != nil {
		return fmt.Errorf("adjust %s by %+d: %w", credits.NormalizeEmail(email), amount, err)
	}
	bal, err := l.Balance(ctx, email)
	if err != nil {
		return fmt.Errorf("balance %s: %w", credits.NormalizeEmail(email), err)
	}
	fmt.Fprintf(out, "adjusted %s by %+d; balance %d\n", credits.NormalizeEmail(email), amount, bal)
	return nil
}

func runPrices(ctx context.Context, args []string, getenv env, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		return usagef("usage: creditgate prices set EVENT_TYPE_ID COST | prices list [--json]")
	}
	var asJSON bool
	cmds := map[string]ledgerCmd{
		"set": {synopsis: "prices set EVENT_TYPE_ID COST", nargs: 2,
			do: func(ctx context.Context, l credits.Store, a []string, out io.Writer) error {
				id, err := strconv.ParseInt(a[0], 10, 64)
				if err != nil || id <= 0 {
					return usagef("EVENT_TYPE_ID %q: want Cal.com's numeric event type id", a[0])
				}
				cost, err := strconv.ParseInt(a[1], 10, 64)
				if err != nil || cost < 0 {
					return usagef("COST %q: want a whole number of credits, 0 for free", a[1])
				}
				if err := l.SetPrice(ctx, id, cost); err != nil {
					return fmt.Errorf("set price of event type %d: %w", id, err)
				}
				fmt.Fprintf(out, "event type %d costs %d\n", id, cost)
				return nil
			}},
		"list": {synopsis: "prices list [--json]", nargs: 0,
			flags: func(fs *flag.FlagSet) { fs.BoolVar(&asJSON, "json", false, "print JSON") },
			do: func(ctx context.Context, l credits.Store, a []string, out io.Writer) error {
				return listPrices(ctx, l, asJSON, out)
			}},
	}
	c, ok := cmds[args[0]]
	if !ok {
		return usagef("unknown prices command %q", args[0])
	}
	return runLedgerCmd(ctx, "prices "+args[0], c, args[1:], getenv, stdout)
}

func listPrices(ctx context.Context, l credits.Store, asJSON bool, out io.Writer) error {
	ps, err := l.Prices(ctx)
	if err != nil {
		return fmt.Errorf("list prices: %w", err)
	}
	if asJSON {
		type price struct {
			EventTypeID int64 `json:"eventTypeId"`
			Cost        int64 `json:"cost"`
		}
		rows := make([]price, 0, len(ps))
		for _, p := range ps {
			rows = append(rows, price{p.EventTypeID, p.Cost})
		}
		return json.NewEncoder(out).Encode(rows)
	}
	tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "EVENT TYPE\tCOST")
	for _, p := range ps {
		fmt.Fprintf(tw, "%d\t%d\n", p.EventTypeID, p.Cost)
	}
	return tw.Flush()
}
