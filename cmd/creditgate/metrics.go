package main

import (
	"github.com/labstack/echo/v4"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/creditgate/creditgate/worker"
)

// metrics are one process's Prometheus metrics, on a registry of its own.
type metrics struct {
	reg       *prometheus.Registry
	webhooks  *prometheus.CounterVec
	decisions *prometheus.CounterVec
	latency   prometheus.Histogram
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
	}
	m.reg.MustRegister(m.webhooks, m.decisions, m.latency,
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

func (m *metrics) mount(e *echo.Echo) {
	e.GET("/metrics", echo.WrapHandler(promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{})))
}
