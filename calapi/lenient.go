package calapi

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
)

// Cal.com is not consistent about how it writes ids and times: webhook
// templates, API versions and self-hosted forks send numbers as strings and
// times in several layouts. These helpers read a json.RawMessage leniently
// and name the field when they cannot.

// timeLayouts are tried in order for string times. time.RFC3339 also accepts
// fractional seconds when parsing; the zone-less layouts are read as UTC.
var timeLayouts = []string{
	time.RFC3339,
	"2006-01-02T15:04:05.999999999",
	"2006-01-02 15:04:05.999999999",
	"2006-01-02 15:04:05Z07:00",
}

// maxUnixMilli bounds numeric times (about the year 33658) so that a hostile
// number cannot overflow time arithmetic.
const maxUnixMilli = 1e15

// isNull reports whether raw is absent or JSON null.
func isNull(raw json.RawMessage) bool {
	raw = bytes.TrimSpace(raw)
	return len(raw) == 0 || string(raw) == "null"
}

// parseID reads a non-negative integer id sent as a JSON number, a numeric
// string or null (0).
func parseID(field string, raw json.RawMessage) (int64, error) {
	if isNull(raw) {
		return 0, nil
	}
	text, err := scalarText(raw)
	if err != nil {
		return 0, fmt.Errorf("%s: %w", field, err)
	}
	if text == "" {
		return 0, nil
	}
	n, err := strconv.ParseInt(text, 10, 64)
	if err != nil {
		// 12.0 or 1e3 are still whole numbers.
		f, ferr := strconv.ParseFloat(text, 64)
		if ferr != nil || f != math.Trunc(f) || math.Abs(f) > math.MaxInt64/2 {
			return 0, fmt.Errorf("%s: %q is not a whole number", field, text)
		}
		n = int64(f)
	}
	if n < 0 {
		return 0, fmt.Errorf("%s: %d is negative", field, n)
	}
	return n, nil
}

// parseTime reads a time sent as an RFC 3339 string (with or without
// fractional seconds), a zone-less "2006-01-02T15:04:05" or
// "2006-01-02 15:04:05" (UTC), or a number of unix milliseconds. Absent,
// null and "" give the zero time. The result is in UTC.
func parseTime(field string, raw json.RawMessage) (time.Time, error) {
	if isNull(raw) {
		return time.Time{}, nil
	}
	raw = bytes.TrimSpace(raw)
	if raw[0] == '"' {
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			return time.Time{}, fmt.Errorf("%s: %w", field, err)
		}
		s = strings.TrimSpace(s)
		if s == "" {
			return time.Time{}, nil
		}
		for _, layout := range timeLayouts {
			if t, err := time.Parse(layout, s); err == nil {
				return t.UTC(), nil
			}
		}
		return time.Time{}, fmt.Errorf("%s: %q is not an RFC 3339 time", field, truncate(s, 40))
	}
	ms, err := strconv.ParseFloat(string(raw), 64)
	if err != nil {
		return time.Time{}, fmt.Errorf("%s: want a time string or unix milliseconds, got %s", field, truncate(string(raw), 40))
	}
	if math.IsNaN(ms) || math.Abs(ms) > maxUnixMilli {
		return time.Time{}, fmt.Errorf("%s: %s is out of range for unix milliseconds", field, truncate(string(raw), 40))
	}
	return time.UnixMilli(int64(ms)).UTC(), nil
}

// scalarText returns the text of a JSON number or string, trimmed.
func scalarText(raw json.RawMessage) (string, error) {
	raw = bytes.TrimSpace(raw)
	switch raw[0] {
	case '"':
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			return "", err
		}
		return strings.TrimSpace(s), nil
	case '{', '[', 't', 'f':
		return "", fmt.Errorf("want a number, got %s", truncate(string(raw), 40))
	}
	return string(raw), nil
}

// truncate shortens s to at most n bytes without splitting a UTF-8 rune.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !isRuneStart(s[n]) {
		n--
	}
	return s[:n] + "…"
}

func isRuneStart(b byte) bool { return b&0xC0 != 0x80 }
