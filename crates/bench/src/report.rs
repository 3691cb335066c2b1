//! Results of one run: counters, throughput and the latency histogram, with
//! a readable block and a Markdown table for several runs.

use std::fmt;
use std::time::Duration;

use hdrhistogram::Histogram;

/// Lowest latency the histograms track, in microseconds.
const LOWEST_US: u64 = 1;
/// Highest latency the histograms track, in microseconds (60 s); longer
/// latencies are recorded as 60 s.
const HIGHEST_US: u64 = 60_000_000;
/// Significant decimal digits the histograms keep.
const SIGFIG: u8 = 3;

/// An empty latency histogram in microseconds: 1 µs .. 60 s, 3 significant
/// digits.
pub fn new_histogram() -> Histogram<u64> {
    // `new_with_bounds` only fails when low < 1, high < 2 * low or
    // sigfig > 5; the constants above satisfy all three.
    #[allow(clippy::expect_used)]
    Histogram::new_with_bounds(LOWEST_US, HIGHEST_US, SIGFIG).expect("valid histogram bounds")
}

/// Records `latency` (saturating at the histogram's 60 s ceiling).
pub(crate) fn record(histogram: &mut Histogram<u64>, latency: Duration) {
    let us = u64::try_from(latency.as_micros()).unwrap_or(u64::MAX);
    histogram.saturating_record(us);
}

/// Results of one run.
#[derive(Debug, Clone)]
pub struct Report {
    /// What was run, as given by the caller.
    pub label: String,
    /// Requests started (closed loop) or due (open loop) during the run.
    pub sent: u64,
    /// Requests that completed successfully (2xx, body fully read / `Ok`).
    pub ok: u64,
    /// Requests that failed or never finished: `sent - ok`. Includes
    /// `unfinished`.
    pub errors: u64,
    /// Requests still queued or in flight when the drain grace period
    /// ([`crate::DRAIN_GRACE`]) ran out.
    pub unfinished: u64,
    /// From the start of the clock to the last completion (at least the
    /// run's duration in open loop).
    pub elapsed: Duration,
    /// Latency of successful requests in microseconds. Open loop: from when
    /// the request was due to when its response was fully read; closed loop:
    /// from when it was sent.
    pub histogram: Histogram<u64>,
    /// The offered arrival rate (req/s) for open-loop runs.
    pub target_rate: Option<u32>,
    /// The first error seen, for diagnosis.
    pub first_error: Option<String>,
}

impl Report {
    /// A report with nothing sent.
    pub fn empty(label: &str) -> Report {
        Report {
            label: label.to_owned(),
            sent: 0,
            ok: 0,
            errors: 0,
            unfinished: 0,
            elapsed: Duration::ZERO,
            histogram: new_histogram(),
            target_rate: None,
            first_error: None,
        }
    }

    /// Successful requests per second over `elapsed` (0 if nothing elapsed).
    pub fn throughput(&self) -> f64 {
        let secs = self.elapsed.as_secs_f64();
        if secs > 0.0 {
            self.ok as f64 / secs
        } else {
            0.0
        }
    }

    /// Latency at percentile `p` in **0..=100** (e.g. `99.0` for p99), in
    /// milliseconds; 0 with no successful request.
    pub fn percentile_ms(&self, p: f64) -> f64 {
        us_to_ms(self.histogram.value_at_percentile(p))
    }

    /// Latency at quantile `q` in **0..=1** (e.g. `0.99` for p99), in
    /// milliseconds; 0 with no successful request.
    pub fn quantile_ms(&self, q: f64) -> f64 {
        us_to_ms(self.histogram.value_at_quantile(q))
    }

    /// Highest recorded latency in milliseconds.
    pub fn max_ms(&self) -> f64 {
        us_to_ms(self.histogram.max())
    }

    /// Formats a latency column: two decimals, or `n/a` with no samples.
    fn latency(&self, ms: f64) -> String {
        if self.histogram.is_empty() {
            "n/a".to_owned()
        } else {
            format!("{ms:.2}")
        }
    }
}

fn us_to_ms(us: u64) -> f64 {
    us as f64 / 1000.0
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "{}", self.label)?;
        writeln!(
            f,
            "  requests    {} sent, {} ok, {} errors ({} unfinished)",
            self.sent, self.ok, self.errors, self.unfinished
        )?;
        write!(
            f,
            "  throughput  {:.2} req/s over {:.2} s",
            self.throughput(),
            self.elapsed.as_secs_f64()
        )?;
        match self.target_rate {
            Some(rate) => writeln!(f, " (offered {rate} req/s)")?,
            None => writeln!(f)?,
        }
        write!(
            f,
            "  latency ms  p50 {}  p95 {}  p99 {}  max {}",
            self.latency(self.percentile_ms(50.0)),
            self.latency(self.percentile_ms(95.0)),
            self.latency(self.percentile_ms(99.0)),
            self.latency(self.max_ms()),
        )?;
        if let Some(err) = &self.first_error {
            write!(f, "\n  first error {err}")?;
        }
        Ok(())
    }
}

/// Renders reports as a Markdown table, one row per report:
/// `| label | req/s | p50 ms | p95 ms | p99 ms | max ms | errors |`.
pub fn markdown_table(reports: &[Report]) -> String {
    let mut out = String::from(
        "| label | req/s | p50 ms | p95 ms | p99 ms | max ms | errors |\n\
         |---|---:|---:|---:|---:|---:|---:|\n",
    );
    for r in reports {
        out.push_str(&format!(
            "| {} | {:.2} | {} | {} | {} | {} | {} |\n",
            r.label.replace('|', "\\|"),
            r.throughput(),
            r.latency(r.percentile_ms(50.0)),
            r.latency(r.percentile_ms(95.0)),
            r.latency(r.percentile_ms(99.0)),
            r.latency(r.max_ms()),
            r.errors,
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Report {
        let mut r = Report::empty("open | 200 rps");
        r.sent = 100;
        r.ok = 99;
        r.errors = 1;
        r.elapsed = Duration::from_secs(2);
        for ms in 1..=100u64 {
            record(&mut r.histogram, Duration::from_millis(ms));
        }
        r
    }

    #[test]
    fn numbers() {
        let r = sample();
        assert!((r.throughput() - 49.5).abs() < 1e-9);
        assert!((r.percentile_ms(50.0) - 50.0).abs() < 0.1);
        assert!((r.quantile_ms(0.99) - 99.0).abs() < 0.1);
        assert!((r.max_ms() - 100.0).abs() < 0.1);
        assert_eq!(Report::empty("x").throughput(), 0.0);
    }

    #[test]
    fn saturates_beyond_sixty_seconds() {
        let mut h = new_histogram();
        record(&mut h, Duration::from_secs(3600));
        assert!(h.max() >= HIGHEST_US && h.max() < HIGHEST_US + HIGHEST_US / 100);
    }

    #[test]
    fn display_and_table() {
        let text = sample().to_string();
        assert!(text.contains("100 sent, 99 ok, 1 errors"), "{text}");
        assert!(text.contains("49.50 req/s"), "{text}");
        assert!(text.contains("p99 99."), "{text}");
        let table = markdown_table(&[sample(), Report::empty("none")]);
        let lines: Vec<&str> = table.lines().collect();
        assert_eq!(lines.len(), 4);
        assert!(
            lines[2].starts_with("| open \\| 200 rps | 49.50 | 50."),
            "{table}"
        );
        assert_eq!(lines[3], "| none | 0.00 | n/a | n/a | n/a | n/a | 0 |");
    }
}
