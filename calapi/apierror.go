package calapi

import (
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
	"unicode"
)

// APIError is a non-2xx answer from Cal.com, after any retries.
type APIError struct {
	// Status is the HTTP status code.
	Status int
	// Code is Cal.com's error code, e.g. "BadRequestException"; "" when the
	// body was not Cal.com's error shape.
	Code string
	// Message is Cal.com's message, or the start of the body when it was
	// not JSON. It never contains the API key.
	Message string
	// Method and Path are the request's; Path never includes the query,
	// where API v1 carries the key.
	Method, Path string
	// RetryAfter is how long the server asked the caller to wait, from
	// Retry-After or, on a 429, X-RateLimit-Reset-* (seconds); 0 if it did
	// not say. A 429 may come with no delay at all.
	RetryAfter time.Duration
}

// Error describes the call and Cal.com's answer.
func (e *APIError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "cal.com %s %s: %d", e.Method, e.Path, e.Status)
	if e.Code != "" {
		b.WriteString(" " + e.Code)
	}
	if e.Message != "" {
		b.WriteString(": " + e.Message)
	}
	if e.RetryAfter > 0 {
		fmt.Fprintf(&b, " (retry after %s)", e.RetryAfter)
	}
	return b.String()
}

// Temporary reports whether the same call may succeed later: a 5xx, a 408
// or a 429. Any other 4xx is permanent: retrying it changes nothing.
func (e *APIError) Temporary() bool {
	return e.Status >= 500 || e.Status == http.StatusRequestTimeout || e.Status == http.StatusTooManyRequests
}

// RateLimited reports whether Cal.com refused the call for the rate limit
// (429). The caller should wait RetryAfter, or its own delay when that is 0.
func (e *APIError) RateLimited() bool {
	return e.Status == http.StatusTooManyRequests
}

// maxMessage bounds a message taken from a non-JSON error body.
const maxMessage = 200

// newAPIError reads Cal.com's error body, {"status":"error","error":
// {"code","message"}}, falling back to NestJS's bare {"statusCode",
// "message","error"} and then to the body's text.
func newAPIError(resp *http.Response, body []byte, method, path, apiKey string) *APIError {
	e := &APIError{Status: resp.StatusCode, Method: method, Path: path, RetryAfter: retryAfter(resp, time.Now())}
	var calErr struct {
		Error   json.RawMessage `json:"error"`
		Message any             `json:"message"`
	}
	if json.Unmarshal(body, &calErr) == nil {
		var inner struct {
			Code    string `json:"code"`
			Message any    `json:"message"`
		}
		if json.Unmarshal(calErr.Error, &inner) == nil && (inner.Code != "" || inner.Message != nil) {
			e.Code, e.Message = inner.Code, messageText(inner.Message)
		} else {
			_ = json.Unmarshal(calErr.Error, &e.Code) // NestJS: "error": "Not Found"
			e.Message = messageText(calErr.Message)
			if e.Message == "" { // API v1: {"error": "Your apiKey is not valid"}
				e.Code, e.Message = "", e.Code
			}
		}
	}
	if e.Code == "" && e.Message == "" {
		e.Message = bodyText(body)
	}
	if e.Message == "" {
		e.Message = http.StatusText(resp.StatusCode)
	}
	e.Message = redact(e.Message, apiKey)
	return e
}

// messageText flattens a message that NestJS validation may send as a list.
func messageText(m any) string {
	switch m := m.(type) {
	case string:
		return m
	case []any:
		parts := make([]string, 0, len(m))
		for _, p := range m {
			parts = append(parts, fmt.Sprint(p))
		}
		return strings.Join(parts, "; ")
	case nil:
		return ""
	}
	return fmt.Sprint(m)
}

// bodyText is the start of a body as one printable line.
func bodyText(body []byte) string {
	s := strings.Map(func(r rune) rune {
		if unicode.IsSpace(r) || !unicode.IsPrint(r) {
			return ' '
		}
		return r
	}, strings.ToValidUTF8(string(body), "?"))
	return truncate(strings.Join(strings.Fields(s), " "), maxMessage)
}

// redact hides the API key should a server echo it back, as is or
// escaped the way a URL carries it.
func redact(s, apiKey string) string {
	if apiKey == "" {
		return s
	}
	for _, form := range []string{apiKey, url.QueryEscape(apiKey), url.PathEscape(apiKey)} {
		s = strings.ReplaceAll(s, form, "[redacted]")
	}
	return s
}

// retryAfter reads Retry-After (seconds or an HTTP date) and, on a 429,
// X-RateLimit-Reset-* (Cal.com's per-throttler headers, seconds; the largest
// wins). Values past 1e9 are taken as unix times, as some proxies send, and
// past 1e11 as unix milliseconds, as API v1 sends X-RateLimit-Reset.
func retryAfter(resp *http.Response, now time.Time) time.Duration {
	if v := strings.TrimSpace(resp.Header.Get("Retry-After")); v != "" {
		if d, ok := seconds(v, now); ok {
			return d
		}
		if t, err := http.ParseTime(v); err == nil && t.After(now) {
			return t.Sub(now)
		}
	}
	if resp.StatusCode != http.StatusTooManyRequests {
		return 0
	}
	var longest time.Duration
	for name, values := range resp.Header {
		if !strings.HasPrefix(strings.ToLower(name), "x-ratelimit-reset") || len(values) == 0 {
			continue
		}
		if d, ok := seconds(strings.TrimSpace(values[0]), now); ok && d > longest {
			longest = d
		}
	}
	return longest
}

// maxRetryAfter caps what a server may ask for, so that a bad header cannot
// park a task for a year.
const maxRetryAfter = time.Hour

func seconds(v string, now time.Time) (time.Duration, bool) {
	f, err := strconv.ParseFloat(v, 64)
	if err != nil || f < 0 || math.IsNaN(f) || math.IsInf(f, 0) {
		return 0, false
	}
	switch {
	case f > 1e11: // unix milliseconds: API v1's X-RateLimit-Reset
		f = time.UnixMilli(int64(f)).Sub(now).Seconds()
	case f > 1e9: // a unix time, not a delay
		f = time.Unix(int64(f), 0).Sub(now).Seconds()
	}
	if f < 0 {
		return 0, true
	}
	d := time.Duration(f * float64(time.Second))
	if f > maxRetryAfter.Seconds() {
		d = maxRetryAfter
	}
	return d, true
}
