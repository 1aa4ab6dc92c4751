package main

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strings"
)

// webhookSecret is the secret Cal.com signs webhooks with, and where it came from.
type webhookSecret struct {
	value     string
	source    string // "CALCOM_WEBHOOK_SECRET", or the file it is kept in
	generated bool   // new this start: print it once
}

// secretFile is where a generated secret is kept: beside a SQLite ledger,
// else in the working directory.
func secretFile(dbURL string) string {
	if p := sqlitePath(dbURL); p != "" && p != ":memory:" {
		return p + ".webhook-secret"
	}
	return "creditgate.webhook-secret"
}

// loadSecret returns the configured secret, or the kept one, or generates
// and keeps a new one. O_EXCL makes two processes starting together agree.
func loadSecret(configured, dbURL string) (webhookSecret, error) {
	if configured != "" {
		return webhookSecret{value: configured, source: "CALCOM_WEBHOOK_SECRET"}, nil
	}
	path := secretFile(dbURL)
	for range 2 {
		b, err := os.ReadFile(path)
		if err == nil {
			v := strings.TrimSpace(string(b))
			if v == "" {
				return webhookSecret{}, fmt.Errorf("webhook secret file %s is empty: delete it or set CALCOM_WEBHOOK_SECRET", path)
			}
			return webhookSecret{value: v, source: path}, nil
		}
		if !errors.Is(err, fs.ErrNotExist) {
			return webhookSecret{}, fmt.Errorf("read webhook secret: %w", err)
		}
		raw := make([]byte, 24)
		if _, err := rand.Read(raw); err != nil {
			return webhookSecret{}, fmt.Errorf("generate webhook secret: %w", err)
		}
		v := hex.EncodeToString(raw)
		f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
		if errors.Is(err, fs.ErrExist) {
			continue // another process made it first: read theirs
		}
		if err != nil {
			return webhookSecret{}, fmt.Errorf("keep webhook secret: %w", err)
		}
		_, werr := f.WriteString(v + "\n")
		if cerr := f.Close(); werr == nil {
			werr = cerr
		}
		if werr != nil {
			return webhookSecret{}, fmt.Errorf("keep webhook secret: %w", werr)
		}
		return webhookSecret{value: v, source: path, generated: true}, nil
	}
	return webhookSecret{}, fmt.Errorf("webhook secret file %s: could not read or create it", path)
}
