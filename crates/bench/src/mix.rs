//! The realistic query mix: popularity-weighted queries from the query log,
//! combined with category and price filters in fixed shares.

use std::collections::HashMap;
use std::fs::File;
use std::io::{BufRead, BufReader};
use std::path::Path;

use anyhow::{bail, Context as _};
use flate2::read::MultiGzDecoder;

use crate::SearchRequest;

/// Queries from the log that are demo noise, not real searches.
const NOISE: [&str; 3] = ["tested", "this is a tested", "something"];

/// Price bands (cents) used by price-filtered requests, as
/// `(min_price, max_price)`; `None` leaves that end open.
pub const PRICE_BANDS: [(Option<i64>, Option<i64>); 5] = [
    (None, Some(2_500)),
    (Some(2_500), Some(10_000)),
    (Some(10_000), Some(50_000)),
    (Some(50_000), Some(200_000)),
    (Some(200_000), None),
];

/// One line of the query log.
#[derive(serde::Deserialize)]
struct LogLine {
    query: String,
    popularity: i64,
}

/// The realistic query mix: distinct queries with popularity weights, the
/// category slugs to filter by, and the seed that makes
/// [`QueryMix::requests`] deterministic.
#[derive(Debug, Clone)]
pub struct QueryMix {
    queries: Vec<String>,
    /// Running sum of the weights: `cumulative[i]` = weight of queries `0..=i`.
    cumulative: Vec<u64>,
    categories: Vec<String>,
    seed: u64,
}

impl QueryMix {
    /// Loads a gzip-compressed JSON-lines file (`bench/queries.jsonl.gz`)
    /// whose lines have fields `query` (string) and `popularity` (integer);
    /// other fields are ignored.
    ///
    /// Blank queries and the demo noise ("tested", "this is a tested",
    /// "something", compared trimmed and case-insensitively) are skipped.
    /// Queries with a popularity below 1 are skipped too, since a weight of 0
    /// is never drawn (in `bench/queries.jsonl.gz` that is 703 of 1060
    /// lines). Queries are trimmed; repeated queries are merged by summing
    /// their popularity. A malformed line is an error naming its line number;
    /// so is a file with no usable query.
    pub fn load(path: &Path, categories: Vec<String>, seed: u64) -> anyhow::Result<QueryMix> {
        let file = File::open(path).with_context(|| format!("cannot open {}", path.display()))?;
        let reader = BufReader::new(MultiGzDecoder::new(file));
        let mut entries = Vec::new();
        for (i, line) in reader.lines().enumerate() {
            let line =
                line.with_context(|| format!("{}: cannot read line {}", path.display(), i + 1))?;
            if line.trim().is_empty() {
                continue;
            }
            let parsed: LogLine = serde_json::from_str(&line)
                .with_context(|| format!("{}: bad JSON on line {}", path.display(), i + 1))?;
            entries.push((parsed.query, parsed.popularity));
        }
        Self::from_entries(entries, categories, seed)
            .with_context(|| format!("{}: no usable queries", path.display()))
    }

    /// Builds a mix from `(query, popularity)` pairs, with the same filtering
    /// and merging rules as [`QueryMix::load`].
    pub fn from_entries(
        entries: impl IntoIterator<Item = (String, i64)>,
        categories: Vec<String>,
        seed: u64,
    ) -> anyhow::Result<QueryMix> {
        let mut queries: Vec<String> = Vec::new();
        let mut weights: Vec<u64> = Vec::new();
        let mut index: HashMap<String, usize> = HashMap::new();
        for (query, popularity) in entries {
            let query = query.trim();
            // A popularity below 1 would never be drawn: leave it out.
            let Ok(weight @ 1..) = u64::try_from(popularity) else {
                continue;
            };
            if query.is_empty() || is_noise(query) {
                continue;
            }
            match index.get(query) {
                Some(&i) => weights[i] = weights[i].saturating_add(weight),
                None => {
                    index.insert(query.to_owned(), queries.len());
                    queries.push(query.to_owned());
                    weights.push(weight);
                }
            }
        }
        if queries.is_empty() {
            bail!("the query mix is empty");
        }
        let mut total = 0u64;
        let cumulative = weights
            .iter()
            .map(|w| {
                total = total.saturating_add(*w);
                total
            })
            .collect();
        Ok(QueryMix {
            queries,
            cumulative,
            categories,
            seed,
        })
    }

    /// Number of distinct queries.
    pub fn len(&self) -> usize {
        self.queries.len()
    }

    /// Whether the mix has no queries (never true for a successfully built mix).
    pub fn is_empty(&self) -> bool {
        self.queries.is_empty()
    }

    /// The category slugs used for category-filtered requests.
    pub fn categories(&self) -> &[String] {
        &self.categories
    }

    /// A deterministic sequence of `n` requests (the same seed and `n` always
    /// give the same sequence). Each request's query is drawn weighted by
    /// popularity; then:
    ///
    /// * 70%: plain `q`;
    /// * 15%: `q` + a random category slug;
    /// * 10%: `q` + a price band from [`PRICE_BANDS`];
    /// * 5%: a category slug only, no `q`.
    ///
    /// With no category slugs, the category shares become plain `q`.
    pub fn requests(&self, n: usize) -> Vec<SearchRequest> {
        let mut rng = fastrand::Rng::with_seed(self.seed);
        (0..n).map(|_| self.draw(&mut rng)).collect()
    }

    fn draw(&self, rng: &mut fastrand::Rng) -> SearchRequest {
        let roll = rng.u32(0..100);
        let q = Some(self.draw_query(rng).to_owned());
        let category = self.draw_category(rng);
        match roll {
            0..70 => SearchRequest {
                q,
                ..Default::default()
            },
            70..85 => SearchRequest {
                q,
                category,
                ..Default::default()
            },
            85..95 => {
                let (min_price, max_price) = PRICE_BANDS[rng.usize(0..PRICE_BANDS.len())];
                SearchRequest {
                    q,
                    min_price,
                    max_price,
                    ..Default::default()
                }
            }
            _ => match category {
                Some(category) => SearchRequest {
                    category: Some(category),
                    ..Default::default()
                },
                None => SearchRequest {
                    q,
                    ..Default::default()
                },
            },
        }
    }

    fn draw_query(&self, rng: &mut fastrand::Rng) -> &str {
        let total = self.cumulative.last().copied().unwrap_or(0);
        if total == 0 {
            return "";
        }
        let r = rng.u64(0..total);
        let i = self.cumulative.partition_point(|&c| c <= r);
        self.queries.get(i).map(String::as_str).unwrap_or("")
    }

    fn draw_category(&self, rng: &mut fastrand::Rng) -> Option<String> {
        if self.categories.is_empty() {
            return None;
        }
        self.categories
            .get(rng.usize(0..self.categories.len()))
            .cloned()
    }
}

fn is_noise(query: &str) -> bool {
    NOISE.iter().any(|n| n.eq_ignore_ascii_case(query))
}
