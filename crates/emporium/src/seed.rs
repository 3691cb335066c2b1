//! `emporium seed`: imports the demo catalog (built into the binary) or a
//! user's file, plus optional synthetic products, in one transaction.

use std::io::{BufRead, BufReader, Read};
use std::path::PathBuf;

use anyhow::Context;
use emporium_domain::catalog::import::{read_catalog, ImportCounts, Rejection};
use emporium_domain::catalog::synthetic;
use emporium_domain::ports::StockStore;
use emporium_domain::Currency;
use emporium_http::Catalog;
use indicatif::{ProgressBar, ProgressStyle};

/// The demo catalog: 23k real products (see NOTICE and docs/catalog-format.md).
pub const DEMO_CATALOG: &[u8] = include_bytes!("../../../catalog/demo-catalog.jsonl.gz");

pub enum Source {
    Demo,
    File(PathBuf),
}

pub struct SeedReport {
    pub counts: ImportCounts,
    pub rejections: Vec<Rejection>,
}

/// Gzip is recognised by its magic bytes, so `.jsonl` and `.jsonl.gz` both work.
fn reader(bytes: Vec<u8>) -> Box<dyn BufRead> {
    if bytes.starts_with(&[0x1f, 0x8b]) {
        Box::new(BufReader::new(flate2::read::MultiGzDecoder::new(
            std::io::Cursor::new(bytes),
        )))
    } else {
        Box::new(BufReader::new(std::io::Cursor::new(bytes)))
    }
}

/// Parses the source, derives `synthetic` extra products, and imports all
/// of it in one transaction. Rejected records are reported, not imported.
pub async fn import(
    catalog: &Catalog,
    source: Source,
    synthetic: usize,
    currency: Currency,
    initial_stock: u32,
    show_progress: bool,
) -> anyhow::Result<SeedReport> {
    let bytes = match &source {
        Source::Demo => DEMO_CATALOG.to_vec(),
        Source::File(p) => {
            let mut buf = Vec::new();
            std::fs::File::open(p)
                .with_context(|| format!("opening {}", p.display()))?
                .read_to_end(&mut buf)?;
            buf
        }
    };
    let (mut drafts, rejections) =
        tokio::task::spawn_blocking(move || read_catalog(reader(bytes), currency))
            .await
            .context("reading the catalog")??;
    if synthetic > 0 {
        let extra = synthetic::derive(&drafts, synthetic, 42);
        drafts.extend(extra);
    }
    let bar = if show_progress {
        let bar = ProgressBar::new(drafts.len() as u64);
        bar.set_style(
            ProgressStyle::with_template("{bar:40} {pos}/{len} products ({per_sec}, {eta} left)")
                .unwrap_or_else(|_| ProgressStyle::default_bar()),
        );
        bar
    } else {
        ProgressBar::hidden()
    };
    let progress_bar = bar.clone();
    let mut counts = catalog
        .import(&drafts, &move |n| progress_bar.set_position(n))
        .await
        .context("importing (nothing was imported)")?;
    bar.finish_and_clear();
    // New products start with `initial_stock` units; existing stock is kept.
    catalog
        .store()
        .stock_unstocked(initial_stock, emporium_auth::now_ms())
        .await
        .context("stocking the new products")?;
    counts.rejected = rejections.len() as u64;
    Ok(SeedReport { counts, rejections })
}
