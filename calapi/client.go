package calapi

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/hashicorp/go-retryablehttp"
)

// Defaults for Options.
const (
	// DefaultTimeout bounds each attempt of a call.
	DefaultTimeout = 10 * time.Second
	// DefaultRetryMax is how many times a network error or 5xx is retried.
	DefaultRetryMax = 2
)

const (
	// apiVersionV2 is the cal-api-version the bookings endpoints need;
	// without it Cal.com answers with an older, differently shaped version.
	apiVersionV2 = "2024-08-13"
	// retryWaitMin and retryWaitMax bound the backoff between client-side
	// retries. They are short on purpose: longer waits belong to the
	// caller's queue, which does not hold a worker while it waits.
	retryWaitMin = 100 * time.Millisecond
	retryWaitMax = time.Second
	// maxResponse bounds how much of a response body is read.
	maxResponse = 1 << 20
	userAgent   = "creditgate-calapi"
)

// Options tune a Client. The zero value is ready to use.
type Options struct {
	// HTTPClient sends the requests; nil means a client of its own. It is
	// copied, never modified.
	HTTPClient *http.Client
	// Timeout bounds each attempt; 0 means DefaultTimeout, or
	// HTTPClient.Timeout when that is set.
	Timeout time.Duration
	// RetryMax is how many times a network error or a 5xx is retried at
	// once, with a short backoff: 0 means DefaultRetryMax, negative means
	// never. 4xx, 429 included, are never retried here.
	RetryMax int
	// Logger receives one debug line per call and one per retry, with the
	// method and path only. nil means no logs.
	Logger *slog.Logger
	// Limiter, when set, is asked before every attempt, retries included.
	// A wait means the attempt does not go out: the call fails at once
	// with a rate-limited *APIError (Code LocalRateLimit) carrying the wait
	// as RetryAfter. nil means no limit of creditgate's own.
	Limiter Limiter
}

// Client calls the Cal.com bookings API v2. It is safe for concurrent use.
type Client struct {
	*conn
}

// NewClient returns a client for Cal.com API v2 at baseURL, the API's root
// without a version (https://api.cal.com), authenticated with apiKey.
// A malformed baseURL is reported by every call.
func NewClient(baseURL, apiKey string, opts Options) *Client {
	return &Client{conn: newConn(baseURL, apiKey, opts)}
}

// conn is what both API versions share: the base URL, the key, retries,
// the rate limit and the guarantee that neither errors nor logs carry the
// key.
type conn struct {
	base    string // scheme://host[/prefix], no trailing slash
	baseErr error
	apiKey  string
	http    *retryablehttp.Client
	log     *slog.Logger
}

func newConn(baseURL, apiKey string, opts Options) *conn {
	c := &conn{
		base:   strings.TrimRight(strings.TrimSpace(baseURL), "/"),
		apiKey: apiKey,
		log:    opts.Logger,
	}
	if c.log == nil {
		c.log = slog.New(slog.DiscardHandler)
	}
	if u, err := url.Parse(c.base); err != nil || u.Scheme == "" || u.Host == "" {
		c.baseErr = fmt.Errorf("calapi: base URL %q is not an absolute URL", c.base)
	}
	c.http = &retryablehttp.Client{
		HTTPClient:   httpClient(opts),
		Logger:       nil, // it would log URLs; v1 URLs carry the key
		RetryWaitMin: retryWaitMin,
		RetryWaitMax: retryWaitMax,
		RetryMax:     opts.RetryMax,
		CheckRetry:   checkRetry,
		Backoff:      backoff,
		// Hand back the last response or error as is, instead of an error
		// of its own that quotes the URL.
		ErrorHandler:   retryablehttp.PassthroughErrorHandler,
		RequestLogHook: c.logRetry,
	}
	switch {
	case opts.RetryMax == 0:
		c.http.RetryMax = DefaultRetryMax
	case opts.RetryMax < 0:
		c.http.RetryMax = 0
	}
	return c
}

func httpClient(opts Options) *http.Client {
	var hc http.Client
	if opts.HTTPClient != nil {
		hc = *opts.HTTPClient
	} else {
		hc.Transport = http.DefaultTransport.(*http.Transport).Clone()
	}
	switch {
	case opts.Timeout > 0:
		hc.Timeout = opts.Timeout
	case hc.Timeout <= 0:
		hc.Timeout = DefaultTimeout
	}
	if hc.CheckRedirect == nil {
		hc.CheckRedirect = noRedirectUnlessGet
	}
	if opts.Limiter != nil {
		base := hc.Transport
		if base == nil {
			base = http.DefaultTransport
		}
		hc.Transport = &limitedTransport{limiter: opts.Limiter, next: base}
	}
	return &hc
}

// noRedirectUnlessGet hands a redirect of a PATCH, POST or DELETE back as
// the answer: net/http would replay a 301 or 302 as a GET, and a GET that
// answers 200 would look like a confirm that worked.
func noRedirectUnlessGet(_ *http.Request, via []*http.Request) error {
	if via[0].Method != http.MethodGet && via[0].Method != http.MethodHead {
		return http.ErrUseLastResponse
	}
	if len(via) >= 10 {
		return errors.New("stopped after 10 redirects")
	}
	return nil
}

// checkRetry retries network errors and 5xx only. A 429 is not retried: the
// caller's queue waits out the delay without holding a worker.
func checkRetry(ctx context.Context, resp *http.Response, err error) (bool, error) {
	if ctx.Err() != nil {
		return false, nil //nolint:nilerr // the caller's context ended: stop, and let the request's own error stand
	}
	if err != nil {
		return !errors.Is(err, errLimited) && retryableNetError(err), nil
	}
	return resp.StatusCode >= 500, nil
}

// retryableNetError is false for errors that the same request will meet
// again: a certificate that does not verify, a URL that cannot be sent.
func retryableNetError(err error) bool {
	var unknownAuthority x509.UnknownAuthorityError
	var certErr *tls.CertificateVerificationError
	if errors.As(err, &unknownAuthority) || errors.As(err, &certErr) {
		return false
	}
	msg := err.Error()
	return !strings.Contains(msg, "unsupported protocol scheme") && !strings.Contains(msg, "stopped after")
}

// backoff doubles from min to max, with jitter so that workers retrying
// together do not arrive together.
func backoff(minWait, maxWait time.Duration, attempt int, _ *http.Response) time.Duration {
	d := maxWait
	if attempt < 16 && minWait<<attempt < maxWait {
		d = minWait << attempt
	}
	return d/2 + rand.N(d/2+1)
}

func (c *conn) logRetry(_ retryablehttp.Logger, req *http.Request, attempt int) {
	if attempt > 0 {
		c.log.LogAttrs(req.Context(), slog.LevelDebug, "cal.com retry",
			slog.String("method", req.Method), slog.String("path", req.URL.EscapedPath()), slog.Int("attempt", attempt+1))
	}
}

// call is one API request: the path is the escaped path below the base;
// query (v1 puts the key there) never reaches an error or a log.
type call struct {
	method string
	path   string
	query  url.Values
	header http.Header
	body   any // marshalled as JSON when not nil
}

// do sends c and returns the body of a 2xx answer. Any other answer is an
// *APIError; a failure to get one is a *RequestError.
func (c *conn) do(ctx context.Context, rc call) ([]byte, error) {
	if c.baseErr != nil {
		return nil, c.baseErr
	}
	endpoint := c.base + rc.path
	if len(rc.query) > 0 {
		endpoint += "?" + rc.query.Encode()
	}
	var body any // a nil []byte would still make a (chunked, empty) body
	if rc.body != nil {
		data, err := json.Marshal(rc.body)
		if err != nil {
			return nil, fmt.Errorf("encode request: %w", err)
		}
		body = data
	}
	req, err := retryablehttp.NewRequestWithContext(ctx, rc.method, endpoint, body)
	if err != nil {
		return nil, &RequestError{Method: rc.method, Path: rc.path, Err: errors.New("cannot build request")}
	}
	for name, values := range rc.header {
		req.Header[name] = values
	}
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", userAgent)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	path := req.URL.EscapedPath()

	start := time.Now()
	resp, err := c.http.Do(req)
	if err != nil {
		if limitErr := limitError(err, rc.method, path); limitErr != nil {
			err = limitErr
		} else {
			err = &RequestError{Method: rc.method, Path: path, Err: unwrapURLError(err), apiKey: c.apiKey}
		}
		c.log.LogAttrs(ctx, slog.LevelDebug, "cal.com call failed", slog.String("method", rc.method),
			slog.String("path", path), slog.Duration("took", time.Since(start)), slog.String("error", err.Error()))
		return nil, err
	}
	defer resp.Body.Close()
	data, readErr := io.ReadAll(io.LimitReader(resp.Body, maxResponse))
	c.log.LogAttrs(ctx, slog.LevelDebug, "cal.com call", slog.String("method", rc.method),
		slog.String("path", path), slog.Int("status", resp.StatusCode), slog.Duration("took", time.Since(start)))
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return nil, newAPIError(resp, data, rc.method, path, c.apiKey)
	}
	if readErr != nil {
		return nil, &RequestError{Method: rc.method, Path: path, Err: unwrapURLError(readErr), apiKey: c.apiKey}
	}
	return data, nil
}

// unwrapURLError drops *url.Error, whose message quotes the whole URL.
func unwrapURLError(err error) error {
	var urlErr *url.Error
	if errors.As(err, &urlErr) {
		return urlErr.Err
	}
	return err
}

// RequestError is a call that got no answer from Cal.com: a network error,
// a timeout, a cancelled context. It names the method and path only, never
// the URL's query or the key. errors.Is sees the cause
// (context.DeadlineExceeded, context.Canceled...).
type RequestError struct {
	// Method and Path name the call; Path is escaped and has no query.
	Method, Path string
	// Err is the cause, without the URL that *url.Error would quote.
	Err    error
	apiKey string
}

// Error names the call and the cause.
func (e *RequestError) Error() string {
	return redact(fmt.Sprintf("cal.com %s %s: %v", e.Method, e.Path, e.Err), e.apiKey)
}

// Unwrap returns the cause.
func (e *RequestError) Unwrap() error { return e.Err }

// Timeout reports whether the call ran out of time.
func (e *RequestError) Timeout() bool {
	var t interface{ Timeout() bool }
	return errors.Is(e.Err, context.DeadlineExceeded) || (errors.As(e.Err, &t) && t.Timeout())
}

// Temporary reports whether the same call may get through later: true but
// for errors that would recur, such as a certificate that does not verify.
func (e *RequestError) Temporary() bool { return retryableNetError(e.Err) }
