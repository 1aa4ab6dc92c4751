package main

import (
	"errors"
	"net/http"
	"strconv"
	"strings"

	"github.com/hibiken/asynq"
	"github.com/labstack/echo/v4"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/creditgate/creditgate/credits"
	"github.com/creditgate/creditgate/worker"
)

// metrics are one process's Prometheus metrics, on a registry of its own.
type metrics struct {
	reg          *prometheus.Registry
	webhooks     *prometheus.CounterVec
	decisions    *prometheus.CounterVec
	latency      prometheus.Histogram
	calCalls     *prometheus.CounterVec
	ledgerErrors *prometheus.CounterVec
	deadLetters  prometheus.Counter
}

func newMetrics() *metrics {
	m := &metrics{
		reg: prometheus.NewRegistry(),
		webhooks: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "creditgate_webhooks_total",
			Help: "Webhooks received, by trigger and outcome.",
		}, []string{"trigger", "outcome"}),
		decisions: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "creditgate_decisions_total",
			Help: "Booking decisions, by trigger and outcome.",
		}, []string{"trigger", "outcome"}),
		latency: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "creditgate_decision_latency_seconds",
			Help:    "From the webhook's acknowledgement to its decision.",
			Buckets: prometheus.ExponentialBuckets(0.002, 2, 14),
		}),
		calCalls: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "creditgate_calcom_calls_total",
			Help: "Calls to the Cal.com API, by method, route and status (0: no answer).",
		}, []string{"method", "route", "status"}),
		ledgerErrors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "creditgate_ledger_errors_total",
			Help: "Ledger calls that failed for a reason other than the money rules, by operation.",
		}, []string{"op"}),
		deadLetters: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "creditgate_dead_letters_total",
			Help: "Booking tasks dead-lettered by this process.",
		}),
	}
	m.reg.MustRegister(m.webhooks, m.decisions, m.latency, m.calCalls, m.ledgerErrors, m.deadLetters,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

func (m *metrics) observeWebhook(trigger, outcome string) {
	if trigger == "" {
		trigger = "unknown"
	}
	m.webhooks.WithLabelValues(trigger, outcome).Inc()
}

func (m *metrics) observeDecision(d worker.Decision) {
	m.decisions.WithLabelValues(d.Trigger, string(d.Outcome)).Inc()
	if !d.ReceivedAt.IsZero() {
		m.latency.Observe(d.At.Sub(d.ReceivedAt).Seconds())
	}
}

// observeLedger counts a ledger error that is not a rule's answer.
func (m *metrics) observeLedger(op string, err error) {
	if err == nil || errors.Is(err, credits.ErrNotFound) || errors.Is(err, credits.ErrInsufficient) ||
		errors.Is(err, credits.ErrInvalid) {
		return
	}
	m.ledgerErrors.WithLabelValues(op).Inc()
}

func (m *metrics) mount(e *echo.Echo) {
	e.GET("/metrics", echo.WrapHandler(promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{})))
}

// countingTransport counts Cal.com calls by route template, never by URL:
// URLs hold booking uids (unbounded labels) and, in v1, the API key.
type countingTransport struct {
	next  http.RoundTripper
	calls *prometheus.CounterVec
}

func (t countingTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := t.next.RoundTrip(req)
	status := "0"
	if err == nil {
		status = strconv.Itoa(resp.StatusCode)
	}
	t.calls.WithLabelValues(req.Method, routeOf(req.URL.Path), status).Inc()
	return resp, err
}

// routeOf turns /v2/bookings/abc123/confirm into /v2/bookings/{id}/confirm.
func routeOf(path string) string {
	parts := strings.Split(strings.Trim(path, "/"), "/")
	for i := range parts {
		if i > 0 && parts[i-1] == "bookings" {
			parts[i] = "{id}"
		}
	}
	return "/" + strings.Join(parts, "/")
}

// queueCollector reports the bookings queue's size by state and its
// latency (age of the oldest pending task), read from asynq at scrape time.
type queueCollector struct {
	inspector *asynq.Inspector
	size      *prometheus.Desc
	latency   *prometheus.Desc
	processed *prometheus.Desc
	failed    *prometheus.Desc
}

func newQueueCollector(in *asynq.Inspector) *queueCollector {
	return &queueCollector{
		inspector: in,
		size:      prometheus.NewDesc("creditgate_queue_tasks", "Booking tasks in the queue, by state.", []string{"state"}, nil),
		latency:   prometheus.NewDesc("creditgate_queue_latency_seconds", "Age of the oldest pending booking task.", nil, nil),
		processed: prometheus.NewDesc("creditgate_queue_processed_today", "Booking tasks processed today (UTC), all processes.", nil, nil),
		failed:    prometheus.NewDesc("creditgate_queue_failed_today", "Booking task attempts failed today (UTC), all processes.", nil, nil),
	}
}

func (c *queueCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.size
	ch <- c.latency
	ch <- c.processed
	ch <- c.failed
}

func (c *queueCollector) Collect(ch chan<- prometheus.Metric) {
	info, err := c.inspector.GetQueueInfo(worker.Queue)
	if err != nil {
		return // no queue yet, or Redis down: /readyz says which
	}
	for state, n := range map[string]int{"pending": info.Pending, "active": info.Active, "scheduled": info.Scheduled,
		"retry": info.Retry, "archived": info.Archived, "completed": info.Completed} {
		ch <- prometheus.MustNewConstMetric(c.size, prometheus.GaugeValue, float64(n), state)
	}
	ch <- prometheus.MustNewConstMetric(c.latency, prometheus.GaugeValue, info.Latency.Seconds())
	ch <- prometheus.MustNewConstMetric(c.processed, prometheus.GaugeValue, float64(info.Processed))
	ch <- prometheus.MustNewConstMetric(c.failed, prometheus.GaugeValue, float64(info.Failed))
}
