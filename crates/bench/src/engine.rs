//! The load loops shared by the HTTP and direct runners: an open loop with a
//! due-time dispatcher and per-worker FIFO queues, and a closed loop of
//! back-to-back workers.

use std::future::Future;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use hdrhistogram::Histogram;
use tokio::sync::mpsc;
use tokio::time::{sleep_until, timeout_at, Instant};

use crate::report::{new_histogram, record, Report};

/// How long, after the run's duration, requests still queued or in flight
/// may take to finish; whatever has not finished by then counts as an error
/// (and as `unfinished`).
pub const DRAIN_GRACE: Duration = Duration::from_secs(10);

/// Something that executes one item (an HTTP connection, a store handle).
pub(crate) trait Worker<T>: Send + 'static {
    /// Executes `item`; `Err` describes a failure.
    fn call(&mut self, item: &T) -> impl Future<Output = Result<(), String>> + Send;
}

/// One request assigned to an open-loop worker.
struct Job {
    /// Index into the items.
    index: usize,
    /// When the request was due; latency is measured from here.
    due: Instant,
    /// After this, give up (drain grace exhausted).
    deadline: Instant,
}

/// What one worker observed.
struct Stats {
    sent: u64,
    ok: u64,
    unfinished: u64,
    histogram: Histogram<u64>,
    first_error: Option<String>,
    last_done: Option<Instant>,
}

impl Stats {
    fn new() -> Stats {
        Stats {
            sent: 0,
            ok: 0,
            unfinished: 0,
            histogram: new_histogram(),
            first_error: None,
            last_done: None,
        }
    }

    /// Records the outcome of one request; `None` means it did not finish
    /// before the deadline. Latency is measured from `since`.
    fn finish(&mut self, outcome: Option<Result<(), String>>, since: Instant) {
        let now = Instant::now();
        match outcome {
            Some(Ok(())) => {
                self.ok += 1;
                record(&mut self.histogram, now.saturating_duration_since(since));
                self.last_done = Some(now);
            }
            Some(Err(e)) => {
                self.note_error(e);
                self.last_done = Some(now);
            }
            None => {
                self.unfinished += 1;
                self.note_error("request did not finish within the drain grace".to_owned());
            }
        }
    }

    fn note_error(&mut self, e: String) {
        self.first_error.get_or_insert(e);
    }

    fn merge(&mut self, other: Stats) {
        self.sent += other.sent;
        self.ok += other.ok;
        self.unfinished += other.unfinished;
        if self.histogram.add(&other.histogram).is_err() {
            // Cannot happen (same bounds everywhere), but stay exact if it does.
            for v in other.histogram.iter_recorded() {
                self.histogram
                    .saturating_record_n(v.value_iterated_to(), v.count_at_value());
            }
        }
        if self.first_error.is_none() {
            self.first_error = other.first_error;
        }
        self.last_done = self.last_done.max(other.last_done);
    }

    /// Waits for the worker tasks and folds their stats together.
    async fn collect(tasks: Vec<tokio::task::JoinHandle<Stats>>) -> Stats {
        let mut total = Stats::new();
        for task in tasks {
            match task.await {
                Ok(stats) => total.merge(stats),
                Err(e) => total.note_error(format!("worker task failed: {e}")),
            }
        }
        total
    }

    fn into_report(self, label: &str, start: Instant, end: Instant) -> Report {
        let finished = self.last_done.map_or(end, |t| t.max(end));
        Report {
            label: label.to_owned(),
            sent: self.sent,
            ok: self.ok,
            errors: self.sent.saturating_sub(self.ok),
            unfinished: self.unfinished,
            elapsed: finished.saturating_duration_since(start),
            histogram: self.histogram,
            target_rate: None,
            first_error: self.first_error,
        }
    }
}

/// Offset of the `i`th request from the start at `rate` requests per second.
fn due_offset(i: usize, rate: u32) -> Duration {
    let nanos = (i as u128) * 1_000_000_000 / u128::from(rate.max(1));
    Duration::from_nanos(u64::try_from(nanos).unwrap_or(u64::MAX))
}

/// Open loop: request `i` is due at `start + i / rate`; it goes to worker
/// `i % workers` (a FIFO queue per worker, never dropped) and its latency is
/// measured from when it was due. After `duration` nothing more is
/// dispatched and queued/in-flight requests get `grace` to finish.
pub(crate) async fn run_open<T, W>(
    workers: Vec<W>,
    rate: u32,
    duration: Duration,
    grace: Duration,
    items: Arc<[T]>,
    label: &str,
) -> Report
where
    T: Send + Sync + 'static,
    W: Worker<T>,
{
    let mut report = Report::empty(label);
    report.target_rate = Some(rate);
    if workers.is_empty() || items.is_empty() || rate == 0 {
        return report;
    }
    let mut queues = Vec::with_capacity(workers.len());
    let mut tasks = Vec::with_capacity(workers.len());
    for mut worker in workers {
        let (tx, mut rx) = mpsc::unbounded_channel::<Job>();
        queues.push(tx);
        let items = Arc::clone(&items);
        tasks.push(tokio::spawn(async move {
            let mut stats = Stats::new();
            while let Some(job) = rx.recv().await {
                let outcome = match items.get(job.index) {
                    Some(_) if Instant::now() >= job.deadline => None,
                    Some(item) => timeout_at(job.deadline, worker.call(item)).await.ok(),
                    None => Some(Err("request index out of range".to_owned())),
                };
                stats.finish(outcome, job.due);
            }
            stats
        }));
    }

    let start = Instant::now();
    let end = start + duration;
    let deadline = end + grace;
    let mut dispatched = 0u64;
    for i in 0usize.. {
        let offset = due_offset(i, rate);
        if offset >= duration {
            break;
        }
        let due = start + offset;
        if due > Instant::now() {
            sleep_until(due).await;
        }
        let job = Job {
            index: i % items.len(),
            due,
            deadline,
        };
        dispatched += 1;
        if let Some(queue) = queues.get(i % queues.len()) {
            // A send only fails if the worker task died; the request then
            // counts as an error through `sent - ok`.
            let _ = queue.send(job);
        }
    }
    drop(queues);

    let mut stats = Stats::collect(tasks).await;
    stats.sent = dispatched;
    let mut report = stats.into_report(label, start, end);
    report.target_rate = Some(rate);
    report
}

/// Closed loop: each worker sends back-to-back until `duration` is over,
/// taking the next item from a shared cursor; latency is measured from when
/// each request was sent. The last in-flight requests get `grace`.
pub(crate) async fn run_closed<T, W>(
    workers: Vec<W>,
    duration: Duration,
    grace: Duration,
    items: Arc<[T]>,
    label: &str,
) -> Report
where
    T: Send + Sync + 'static,
    W: Worker<T>,
{
    if workers.is_empty() || items.is_empty() {
        return Report::empty(label);
    }
    let start = Instant::now();
    let end = start + duration;
    let deadline = end + grace;
    let cursor = Arc::new(AtomicUsize::new(0));
    let mut tasks = Vec::with_capacity(workers.len());
    for mut worker in workers {
        let items = Arc::clone(&items);
        let cursor = Arc::clone(&cursor);
        tasks.push(tokio::spawn(async move {
            let mut stats = Stats::new();
            while Instant::now() < end {
                let i = cursor.fetch_add(1, Ordering::Relaxed) % items.len();
                let Some(item) = items.get(i) else { break };
                stats.sent += 1;
                let sent_at = Instant::now();
                let outcome = timeout_at(deadline, worker.call(item)).await.ok();
                let timed_out = outcome.is_none();
                stats.finish(outcome, sent_at);
                if timed_out {
                    break;
                }
            }
            stats
        }));
    }
    Stats::collect(tasks).await.into_report(label, start, end)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn due_offsets_are_exact() {
        assert_eq!(due_offset(0, 200), Duration::ZERO);
        assert_eq!(due_offset(1, 200), Duration::from_millis(5));
        assert_eq!(due_offset(3, 3), Duration::from_secs(1));
        assert_eq!(due_offset(1, 3), Duration::from_nanos(333_333_333));
    }
}
