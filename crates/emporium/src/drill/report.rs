//! What a drill found: reads answered, writes acknowledged vs found,
//! responses by status, latency, and the time from the fault's end to
//! the last failed request (full recovery).

use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;

use hdrhistogram::Histogram;
use serde::Serialize;

use super::traffic::{Acked, Outcome};

#[derive(Debug, Serialize)]
pub struct DrillReport {
    pub name: String,
    pub reads: u64,
    pub reads_ok: u64,
    /// Write requests sent (cart, line, checkout, payment).
    pub writes: u64,
    /// Writes answered 2xx.
    pub writes_acked: u64,
    /// Acknowledged carts lines and orders looked up afterwards.
    pub acked_records: u64,
    pub acked_found: u64,
    /// Responses by status (0: no response), and error code where given.
    pub statuses: BTreeMap<String, u64>,
    pub read_p50_ms: f64,
    pub read_p99_ms: f64,
    pub read_max_ms: f64,
    pub fault_start_s: f64,
    pub fault_end_s: f64,
    /// From the fault's end to the last request that failed (0: none
    /// failed after it).
    pub recovery_s: f64,
}

impl DrillReport {
    pub fn new(
        name: &str,
        outcomes: &[Outcome],
        acked: &[Acked],
        found: &[bool],
        fault_start: f64,
        fault_end: f64,
    ) -> DrillReport {
        let reads: Vec<&Outcome> = outcomes.iter().filter(|o| o.read).collect();
        let writes: Vec<&Outcome> = outcomes.iter().filter(|o| !o.read).collect();
        let mut statuses = BTreeMap::new();
        for o in outcomes {
            let key = match &o.code {
                Some(code) => format!("{} {code}", o.status),
                None => o.status.to_string(),
            };
            *statuses.entry(key).or_insert(0) += 1;
        }
        let mut hist = Histogram::<u64>::new(3).unwrap_or_else(|_| unreachable_histogram());
        for o in &reads {
            let _ = hist.record((o.latency_ms * 1000.0) as u64);
        }
        let last_failure = outcomes
            .iter()
            .filter(|o| !o.ok())
            .map(|o| o.due)
            .fold(f64::NAN, f64::max);
        let recovery_s = if last_failure.is_nan() {
            0.0
        } else {
            (last_failure - fault_end).max(0.0)
        };
        DrillReport {
            name: name.to_owned(),
            reads: reads.len() as u64,
            reads_ok: reads.iter().filter(|o| o.ok()).count() as u64,
            writes: writes.len() as u64,
            writes_acked: writes.iter().filter(|o| o.ok()).count() as u64,
            acked_records: acked.len() as u64,
            acked_found: found.iter().filter(|f| **f).count() as u64,
            statuses,
            read_p50_ms: hist.value_at_quantile(0.5) as f64 / 1000.0,
            read_p99_ms: hist.value_at_quantile(0.99) as f64 / 1000.0,
            read_max_ms: hist.max() as f64 / 1000.0,
            fault_start_s: fault_start,
            fault_end_s: fault_end,
            recovery_s,
        }
    }

    pub fn reads_ok_percent(&self) -> f64 {
        if self.reads == 0 {
            return 100.0;
        }
        self.reads_ok as f64 * 100.0 / self.reads as f64
    }

    /// Responses answered 500 (a 503 `degraded` or a gateway's 502 is not one).
    pub fn internal_errors(&self) -> u64 {
        self.statuses
            .iter()
            .filter(|(k, _)| k.starts_with("500") || k.starts_with("501"))
            .map(|(_, n)| n)
            .sum()
    }

    /// The bar: reads >= 99.9 %, no acknowledged write lost, no 500, full
    /// recovery within `limit` of the fault's end.
    pub fn check(&self, limit: Duration) -> anyhow::Result<()> {
        let mut missed = Vec::new();
        if self.reads_ok_percent() < 99.9 {
            missed.push(format!(
                "reads answered {:.2} % < 99.9 %",
                self.reads_ok_percent()
            ));
        }
        if self.acked_found < self.acked_records {
            missed.push(format!(
                "{} acknowledged writes not found",
                self.acked_records - self.acked_found
            ));
        }
        if self.internal_errors() > 0 {
            missed.push(format!("{} responses were 500", self.internal_errors()));
        }
        if self.recovery_s > limit.as_secs_f64() {
            missed.push(format!("recovery took {:.1} s", self.recovery_s));
        }
        anyhow::ensure!(
            missed.is_empty(),
            "drill {}: {}",
            self.name,
            missed.join("; ")
        );
        Ok(())
    }
}

fn unreachable_histogram() -> Histogram<u64> {
    // Three significant figures are always valid; this is never reached.
    Histogram::new(1).unwrap_or_else(|_| std::process::abort())
}

impl fmt::Display for DrillReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "drill {}: fault {:.1}–{:.1} s",
            self.name, self.fault_start_s, self.fault_end_s
        )?;
        writeln!(
            f,
            "  reads answered  {:>7.3} % ({} of {}); p50 {:.1} ms, p99 {:.1} ms, max {:.0} ms",
            self.reads_ok_percent(),
            self.reads_ok,
            self.reads,
            self.read_p50_ms,
            self.read_p99_ms,
            self.read_max_ms
        )?;
        writeln!(
            f,
            "  writes          {} sent, {} acknowledged; acknowledged records found {} of {}",
            self.writes, self.writes_acked, self.acked_found, self.acked_records
        )?;
        let statuses: Vec<String> = self
            .statuses
            .iter()
            .map(|(k, n)| format!("{k}: {n}"))
            .collect();
        writeln!(f, "  responses       {}", statuses.join(", "))?;
        write!(
            f,
            "  recovery        {:.1} s after the fault ended",
            self.recovery_s
        )
    }
}
