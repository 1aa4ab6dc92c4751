package main

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"time"
)

// benchReport is what creditgate bench prints.
type benchReport struct {
	Config  benchConfig `json:"config"`
	Results []benchRow  `json:"results"`
}

type benchConfig struct {
	Count             int      `json:"count"`
	Rate              float64  `json:"rate"`
	BurstRate         float64  `json:"burst_rate"`
	Concurrency       int      `json:"concurrency"`
	Workers           int      `json:"workers"`
	TaskCheckInterval string   `json:"task_check_interval"`
	Mode              string   `json:"mode"`
	Redis             string   `json:"redis"`
	RedisVersion      string   `json:"redis_version"`
	Backends          []string `json:"backends"`
	CPUs              int      `json:"cpus"`
	Go                string   `json:"go"`
}

// benchRow is one figure: creditgate's, raw asynq's on the same Redis in
// the same run, and creditgate ÷ raw asynq.
type benchRow struct {
	Key        string  `json:"key"`
	Label      string  `json:"label"`
	Unit       string  `json:"unit"`
	Creditgate float64 `json:"creditgate"`
	Baseline   float64 `json:"baseline,omitempty"`
	Ratio      float64 `json:"ratio,omitempty"`
	Target     string  `json:"target,omitempty"`
	// Met is whether the target was met; absent without a target or a
	// figure.
	Met *bool `json:"met,omitempty"`

	minRatio, maxValue float64
}

func (r *benchReport) add(row benchRow) {
	if row.Creditgate > 0 && row.Baseline > 0 {
		row.Ratio = row.Creditgate / row.Baseline
	}
	r.Results = append(r.Results, row)
}

// latencyRows are p50, p99 and max rows; targets (ms) apply to the
// percentiles they name.
func latencyRows(key, label string, cg, base latencies, targets map[string]float64) []benchRow {
	var rows []benchRow
	for _, q := range []struct {
		name string
		at   float64
	}{{"p50", 0.50}, {"p99", 0.99}, {"max", 1}} {
		row := benchRow{Key: key + "_" + q.name + "_ms", Label: label + " " + q.name, Unit: "ms",
			Creditgate: cg.at(q.at), Baseline: base.at(q.at)}
		if t, ok := targets[q.name]; ok {
			row.Target, row.maxValue = fmt.Sprintf("<= %g ms", t), t
		}
		rows = append(rows, row)
	}
	return rows
}

// cpuRow is CPU time per booking, in µs, of the process that handles it:
// creditgate's role against the bench process running raw asynq.
func cpuRow(key, label string, cg, base time.Duration) benchRow {
	us := func(d time.Duration) float64 { return float64(d) / float64(time.Microsecond) }
	return benchRow{Key: key, Label: label, Unit: "µs", Creditgate: us(cg), Baseline: us(base)}
}

// rssRow is a peak memory row, in MB (10^6 bytes); 0 bytes is unknown.
func rssRow(key, label string, bytes int64) benchRow {
	return benchRow{Key: "peak_rss_mb_" + key, Label: "peak RSS " + label, Unit: "MB", Creditgate: float64(bytes) / 1e6}
}

// judge records whether each target was met.
func (r *benchReport) judge() {
	for i := range r.Results {
		row := &r.Results[i]
		var met bool
		switch {
		case row.Creditgate == 0:
			continue
		case row.minRatio > 0 && row.Ratio > 0:
			met = row.Ratio >= row.minRatio
		case row.maxValue > 0:
			met = row.Creditgate <= row.maxValue
		default:
			continue
		}
		row.Met = &met
	}
}

func (r *benchReport) writeJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(r)
}

func (r *benchReport) writeTable(w io.Writer) error {
	c := r.Config
	fmt.Fprintf(w, "creditgate bench: %d bookings a phase, %d in flight, %d workers, task check %s, creditgate as %s\n",
		c.Count, c.Concurrency, c.Workers, c.TaskCheckInterval, c.Mode)
	fmt.Fprintf(w, "Redis %s at %s; ledgers %v; %d CPUs, %s\n\n", c.RedisVersion, c.Redis, c.Backends, c.CPUs, c.Go)
	width := len("FIGURE")
	for _, row := range r.Results {
		width = max(width, len(row.Label))
	}
	line := func(label, cg, base, ratio, target, met string) {
		fmt.Fprintln(w, strings.TrimRight(fmt.Sprintf("%-*s  %10s  %10s  %6s  %-9s %s", width, label, cg, base, ratio, target, met), " "))
	}
	line("FIGURE", "CREDITGATE", "RAW ASYNQ", "RATIO", "TARGET", "")
	for _, row := range r.Results {
		met := ""
		if row.Met != nil {
			met = map[bool]string{true: "met", false: "MISSED"}[*row.Met]
		}
		line(row.Label, figure(row.Creditgate, row.Unit), figure(row.Baseline, row.Unit), ratio(row.Ratio), row.Target, met)
	}
	fmt.Fprintln(w, "\nRATIO is creditgate ÷ raw asynq: the same tasks enqueued by asynq.Client at the same")
	fmt.Fprintln(w, "concurrency, and handled by a no-op asynq handler with the same server settings.")
	if c.Mode == "in-process" {
		fmt.Fprintln(w, "In-process: creditgate shared the bench's process, so its peak RSS is not measured.")
	}
	return nil
}

func figure(v float64, unit string) string {
	switch {
	case v == 0:
		return "-"
	case unit == "/s":
		return fmt.Sprintf("%.0f/s", v)
	case unit == "µs":
		return fmt.Sprintf("%.0f µs", v)
	case v < 10:
		return fmt.Sprintf("%.2f %s", v, unit)
	}
	return fmt.Sprintf("%.1f %s", v, unit)
}

func ratio(v float64) string {
	if v == 0 {
		return ""
	}
	return fmt.Sprintf("%.2f", v)
}
