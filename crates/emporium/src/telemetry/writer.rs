//! A [`MakeWriter`] that redacts each log line as a whole before the inner
//! writer sees it.
//!
//! The fmt layer formats an event into one buffer and hands it over with
//! `write_all` on a writer made for that event, but nothing in `io::Write`
//! promises a line arrives in one call: complete lines are redacted and
//! written as soon as they are seen, a partial one waits for its newline or
//! for the writer to be dropped.

use std::borrow::Cow;
use std::io::{self, Write};

use tracing::Metadata;
use tracing_subscriber::fmt::MakeWriter;

use super::redact;

/// Wraps a [`MakeWriter`] (such as `std::io::stderr`) so that everything
/// written through it is redacted line by line.
#[derive(Clone, Debug)]
pub struct Redacting<M> {
    inner: M,
}

impl<M> Redacting<M> {
    pub fn new(inner: M) -> Self {
        Redacting { inner }
    }
}

impl<'a, M: MakeWriter<'a>> MakeWriter<'a> for Redacting<M> {
    type Writer = RedactingWriter<M::Writer>;

    fn make_writer(&'a self) -> Self::Writer {
        RedactingWriter::new(self.inner.make_writer())
    }

    fn make_writer_for(&'a self, meta: &Metadata<'_>) -> Self::Writer {
        RedactingWriter::new(self.inner.make_writer_for(meta))
    }
}

/// The writer for one event: redacts complete lines as they come, and the
/// last partial one when dropped.
pub struct RedactingWriter<W: Write> {
    inner: W,
    /// The start of a line whose end has not been written yet.
    partial: Vec<u8>,
}

impl<W: Write> RedactingWriter<W> {
    pub fn new(inner: W) -> Self {
        RedactingWriter {
            inner,
            partial: Vec::new(),
        }
    }

    /// Redacts whole lines of `bytes` and writes them in one call, so that
    /// lines from other threads do not interleave with them.
    fn emit(&mut self, bytes: &[u8]) -> io::Result<()> {
        let text = String::from_utf8_lossy(bytes);
        let mut redacted: Option<String> = None;
        let (mut start, mut copied) = (0, 0);
        for line in text.split_inclusive('\n') {
            let end = start + line.len();
            if let Cow::Owned(clean) = redact(line) {
                let out = redacted.get_or_insert_with(|| String::with_capacity(text.len() + 16));
                out.push_str(&text[copied..start]);
                out.push_str(&clean);
                copied = end;
            }
            start = end;
        }
        match redacted {
            Some(mut out) => {
                out.push_str(&text[copied..]);
                self.inner.write_all(out.as_bytes())
            }
            None => self.inner.write_all(text.as_bytes()),
        }
    }
}

impl<W: Write> Write for RedactingWriter<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let Some(last_newline) = buf.iter().rposition(|c| *c == b'\n') else {
            self.partial.extend_from_slice(buf);
            return Ok(buf.len());
        };
        let (lines, rest) = buf.split_at(last_newline + 1);
        if self.partial.is_empty() {
            self.emit(lines)?;
        } else {
            let mut joined = std::mem::take(&mut self.partial);
            joined.extend_from_slice(lines);
            self.emit(&joined)?;
        }
        self.partial.extend_from_slice(rest);
        Ok(buf.len())
    }

    /// Flushes the inner writer; a partial line stays until its newline or
    /// the drop, so that it is never redacted in pieces.
    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

impl<W: Write> Drop for RedactingWriter<W> {
    fn drop(&mut self) {
        if !self.partial.is_empty() {
            let partial = std::mem::take(&mut self.partial);
            // Nowhere to report a failed log write to.
            let _ = self.emit(&partial);
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use super::*;

    /// A log sink the test can read back.
    #[derive(Clone, Default)]
    struct Captured(Arc<Mutex<Vec<u8>>>);

    impl Captured {
        fn text(&self) -> String {
            String::from_utf8(self.0.lock().unwrap().clone()).unwrap()
        }
    }

    impl Write for Captured {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }

        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    impl<'a> MakeWriter<'a> for Captured {
        type Writer = Captured;

        fn make_writer(&'a self) -> Self::Writer {
            self.clone()
        }
    }

    #[test]
    fn a_line_written_in_pieces_is_redacted_whole() {
        let sink = Captured::default();
        let mut writer = Redacting::new(sink.clone()).make_writer();
        writer.write_all(b"paid 4242 4242 ").unwrap();
        writer.write_all(b"4242 4242\npassword=").unwrap();
        assert_eq!(sink.text(), "paid [REDACTED-PAN]\n", "a partial line waits");
        writer.write_all(b"hunter2").unwrap();
        writer.flush().unwrap();
        drop(writer);
        assert_eq!(sink.text(), "paid [REDACTED-PAN]\npassword=[REDACTED]");
    }

    #[test]
    fn clean_lines_pass_through_unchanged() {
        let sink = Captured::default();
        let mut writer = Redacting::new(sink.clone()).make_writer();
        writer
            .write_all("ünïcödé 19.99\nsecond line\n".as_bytes())
            .unwrap();
        drop(writer);
        assert_eq!(sink.text(), "ünïcödé 19.99\nsecond line\n");
    }

    #[test]
    fn json_events_are_redacted_and_stay_json() {
        let sink = Captured::default();
        let subscriber = tracing_subscriber::fmt()
            .json()
            .with_ansi(false)
            .with_writer(Redacting::new(sink.clone()))
            .finish();
        tracing::subscriber::with_default(subscriber, || {
            tracing::info!(
                card = "4242 4242 4242 4242",
                authorization = "Bearer abc",
                amount = 4_000_056_655_665_556_u64,
                key = "sk_live_123",
                "paid with 5555555555554444 by café"
            );
        });
        let text = sink.text();
        assert!(find_none(&text), "{text}");
        for secret in ["4242", "abc", "sk_live_123", "5555"] {
            assert!(!text.contains(secret), "{secret} in {text}");
        }
        assert!(text.contains("café"), "{text}");
        let line: serde_json::Value = serde_json::from_str(text.trim_end()).unwrap();
        assert_eq!(line["fields"]["card"], "[REDACTED]");
        assert_eq!(line["fields"]["authorization"], "Bearer [REDACTED]");
        assert_eq!(line["fields"]["amount"], "[REDACTED-PAN]");
    }

    #[test]
    fn text_events_are_redacted() {
        let sink = Captured::default();
        let subscriber = tracing_subscriber::fmt()
            .with_ansi(true)
            .with_writer(Redacting::new(sink.clone()))
            .finish();
        tracing::subscriber::with_default(subscriber, || {
            tracing::warn!(password = %"hunter2", token = ?"eyJ", "pan 4000-0566-5566-5556");
        });
        let text = sink.text();
        assert!(find_none(&text), "{text}");
        assert!(!text.contains("hunter2"), "{text}");
        assert!(text.contains("pan [REDACTED-PAN]"), "{text}");
    }

    fn find_none(text: &str) -> bool {
        crate::telemetry::find_pans(text).is_empty()
    }
}
