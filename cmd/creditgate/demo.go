package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"text/tabwriter"
	"time"

	"github.com/creditgate/creditgate/calapi"
	"github.com/creditgate/creditgate/calapi/calapitest"
	"github.com/creditgate/creditgate/credits"
	"github.com/creditgate/creditgate/worker"
)

// demoStep is one thing that happens at the simulated Cal.com.
type demoStep struct {
	what    string
	trigger string
	booking calapi.Booking
	extra   map[string]any
}

const (
	demoSession     = 101 // a book club session: 1 credit
	demoMasterclass = 202 // a masterclass: 2 credits
	demoOpenEvening = 303 // an open evening: free
)

func demoSteps(now time.Time) []demoStep {
	inThreeDays := now.Add(72 * time.Hour).Truncate(time.Minute)
	b := func(uid string, id int64, email string, eventType int64, status string) calapi.Booking {
		return calapi.Booking{UID: uid, ID: id, Status: status, EventTypeID: eventType, AttendeeEmail: email,
			Start: inThreeDays, End: inThreeDays.Add(time.Hour)}
	}
	ada := b("demo-ada-1", 1, "ada@bookclub.example", demoSession, calapi.StatusPending)
	return []demoStep{
		{"Ada (3 credits) books a session", calapi.TriggerBookingRequested, ada, nil},
		{"Bob, not a member, books a session", calapi.TriggerBookingRequested,
			b("demo-bob-1", 2, "bob@elsewhere.example", demoSession, calapi.StatusPending), nil},
		{"Cy (1 credit) books a 2-credit masterclass", calapi.TriggerBookingRequested,
			b("demo-cy-1", 3, "cy@bookclub.example", demoMasterclass, calapi.StatusPending), nil},
		{"Dee books the free open evening", calapi.TriggerBookingRequested,
			b("demo-dee-1", 4, "dee@elsewhere.example", demoOpenEvening, calapi.StatusPending), nil},
		{"Cal.com sends Ada's webhook again", calapi.TriggerBookingRequested, ada, nil},
		{"The host confirmed Fay's booking by hand first", calapi.TriggerBookingRequested,
			b("demo-fay-1", 5, "fay@bookclub.example", demoSession, calapi.StatusAccepted), nil},
		{"Ada cancels her session three days ahead", calapi.TriggerBookingCancelled,
			b("demo-ada-1", 1, "ada@bookclub.example", demoSession, calapi.StatusCancelled),
			map[string]any{"cancelledBy": "ada@bookclub.example"}},
		{"Gus (no credit) books an event that needs no confirmation", calapi.TriggerBookingCreated,
			b("demo-gus-1", 6, "gus@bookclub.example", demoSession, calapi.StatusAccepted), nil},
	}
}

// runDemo runs the whole flow on this machine: an embedded broker, a SQLite
// ledger in a temporary directory, a simulated Cal.com, sample members and
// bookings; then prints what was decided and why.
func runDemo(ctx context.Context, args []string, getenv env, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("demo", flag.ContinueOnError)
	verbose := fs.Bool("v", false, "show creditgate's logs")
	if _, err := parseArgs(fs, args); err != nil {
		return err
	}
	dir, err := os.MkdirTemp("", "creditgate-demo-")
	if err != nil {
		return fmt.Errorf("demo: %w", err)
	}
	defer os.RemoveAll(dir)

	const key, secret = "demo-api-key", "demo-webhook-secret"
	fake := calapitest.NewServer(key)
	defer fake.Close()
	cfg, err := bindConfig(flag.NewFlagSet("", flag.ContinueOnError), func(string) string { return "" })
	if err != nil {
		return err
	}
	cfg.Listen, cfg.DatabaseURL = "127.0.0.1:0", "sqlite:"+filepath.Join(dir, "demo.db")
	cfg.CalAPIURL, cfg.CalAPIKey, cfg.WebhookSecret = fake.URL, key, secret

	level := slog.LevelError + 8
	if *verbose {
		level = slog.LevelInfo
	}
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level}))
	decisions := make(chan worker.Decision, 64)
	a, err := newApp(ctx, cfg, roleServe, log, func(d worker.Decision) { decisions <- d })
	if err != nil {
		return err
	}
	defer a.close()
	runCtx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- a.run(runCtx) }()
	defer func() {
		stop()
		if err := <-done; err != nil {
			fmt.Fprintf(stderr, "demo: %s\n", err)
		}
	}()

	if err := seedDemo(ctx, a.ledger); err != nil {
		return err
	}
	fmt.Fprintln(stdout, "creditgate demo: a book club sells sessions as credits.")
	fmt.Fprintln(stdout, "Members: ada 3 credits, cy 1, fay 2, gus 0. Prices: session 1, masterclass 2, open evening free.")
	fmt.Fprintln(stdout, "Broker: embedded (in memory). Ledger: SQLite in a temporary directory. Cal.com: simulated.")
	fmt.Fprintln(stdout)

	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "WHAT HAPPENED\tWEBHOOK\tDECISION\tBALANCE\tWHY")
	url := "http://" + a.addr() + "/webhooks/calcom"
	for _, s := range demoSteps(time.Now()) {
		row, err := playDemoStep(ctx, fake, url, secret, a.ledger, s, decisions)
		if err != nil {
			return fmt.Errorf("demo step %q: %w", s.what, err)
		}
		fmt.Fprintln(tw, row)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "\nCal.com calls made: %d confirm, %d decline, %d cancel.\n",
		len(fake.CallsTo(http.MethodPost, "/confirm")), len(fake.CallsTo(http.MethodPost, "/decline")),
		len(fake.CallsTo(http.MethodPost, "/cancel")))
	fmt.Fprintln(stdout, "Run it for real: creditgate serve (see README).")
	return nil
}

func seedDemo(ctx context.Context, l credits.Store) error {
	for email, n := range map[string]int64{"ada@bookclub.example": 3, "cy@bookclub.example": 1, "fay@bookclub.example": 2} {
		if _, err := l.Grant(ctx, email, n, credits.GrantOptions{Note: "demo pack"}); err != nil {
			return fmt.Errorf("seed %s: %w", email, err)
		}
	}
	for id, cost := range map[int64]int64{demoSession: 1, demoMasterclass: 2, demoOpenEvening: 0} {
		if err := l.SetPrice(ctx, id, cost); err != nil {
			return fmt.Errorf("seed price %d: %w", id, err)
		}
	}
	return nil
}

// playDemoStep plays one step: the booking takes its state at the fake, the
// webhook is posted, and the step waits for creditgate's decision.
func playDemoStep(ctx context.Context, fake *calapitest.Server, url, secret string, l credits.Store,
	s demoStep, decisions <-chan worker.Decision) (string, error) {
	if _, ok := fake.Booking(s.booking.UID); !ok {
		fake.AddBooking(s.booking)
	} else {
		fake.SetStatus(s.booking.UID, s.booking.Status)
	}
	body := calapitest.WebhookBody(s.trigger, s.booking, s.extra)
	resp, err := calapitest.PostWebhook(ctx, http.DefaultClient, url, secret, body)
	if err != nil {
		return "", err
	}
	var ack struct {
		Status string `json:"status"`
	}
	_ = json.NewDecoder(resp.Body).Decode(&ack)
	_ = resp.Body.Close()
	if resp.StatusCode >= 300 {
		return "", fmt.Errorf("webhook answered %s", resp.Status)
	}
	bal := func() string {
		n, err := l.Balance(ctx, s.booking.AttendeeEmail)
		if err != nil {
			return "?"
		}
		return fmt.Sprint(n)
	}
	if ack.Status == "duplicate" {
		return fmt.Sprintf("%s\t%s %s\t-\t%s\tsame webhook already queued: not decided again", s.what, s.trigger, ack.Status, bal()), nil
	}
	timeout := time.After(15 * time.Second)
	for {
		select {
		case d := <-decisions:
			if d.UID != s.booking.UID || d.Trigger != s.trigger {
				continue
			}
			return fmt.Sprintf("%s\t%s %s\t%s\t%s\t%s", s.what, s.trigger, ack.Status, d.Outcome, bal(), d.Reason), nil
		case <-timeout:
			return "", fmt.Errorf("no decision within 15s")
		case <-ctx.Done():
			return "", ctx.Err()
		}
	}
}
