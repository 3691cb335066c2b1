//! Tests of the query mix: loading the gzip log, determinism, weighting and
//! the shares of request kinds.

use std::io::Write as _;
use std::path::PathBuf;

use flate2::write::GzEncoder;
use flate2::Compression;

use crate::{QueryMix, PRICE_BANDS};

/// Writes `lines` gzip-compressed to a unique file in the temp dir.
fn gz_fixture(name: &str, lines: &[&str]) -> PathBuf {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    let path = std::env::temp_dir().join(format!(
        "emporium-bench-{name}-{}-{nanos}.jsonl.gz",
        std::process::id()
    ));
    let mut gz = GzEncoder::new(
        std::fs::File::create(&path).unwrap(),
        Compression::default(),
    );
    for line in lines {
        writeln!(gz, "{line}").unwrap();
    }
    gz.finish().unwrap();
    path
}

const LOG: &[&str] = &[
    r#"{"query":"iphone","popularity":1000,"extra":"ignored"}"#,
    r#"{"query":"red shoes","popularity":50}"#,
    r#"{"query":"tested","popularity":5000}"#,
    r#"{"query":"this is a tested","popularity":5000}"#,
    r#"{"query":" Something ","popularity":5000}"#,
    r#"{"query":"rare thing","popularity":1}"#,
    "",
    r#"{"query":"red shoes","popularity":50}"#,
    r#"{"query":"   ","popularity":9}"#,
    r#"{"query":"zero pop","popularity":0}"#,
];

fn categories() -> Vec<String> {
    vec![
        "mobiles-accessories".into(),
        "footwear".into(),
        "books".into(),
    ]
}

fn load(seed: u64) -> QueryMix {
    let path = gz_fixture("mix", LOG);
    let mix = QueryMix::load(&path, categories(), seed).unwrap();
    std::fs::remove_file(path).unwrap();
    mix
}

#[test]
fn load_skips_noise_and_merges_duplicates() {
    let mix = load(1);
    // iphone, red shoes, rare thing; not the noise, blank or zero-popularity.
    assert_eq!(mix.len(), 3);
    assert!(!mix.is_empty());
    let all = mix.requests(20_000);
    for r in &all {
        let q = r.q.as_deref().unwrap_or("");
        assert!(![
            "tested",
            "this is a tested",
            "something",
            "Something",
            "zero pop"
        ]
        .contains(&q));
    }
}

#[test]
fn bad_input_is_an_error() {
    let path = gz_fixture("bad", &[r#"{"query":"ok","popularity":1}"#, "{not json"]);
    let err = QueryMix::load(&path, vec![], 1).unwrap_err();
    assert!(format!("{err:#}").contains("line 2"), "{err:#}");
    std::fs::remove_file(path).unwrap();

    let path = gz_fixture(
        "noise",
        &[
            r#"{"query":"tested","popularity":1}"#,
            r#"{"query":"unpopular","popularity":0}"#,
        ],
    );
    assert!(QueryMix::load(&path, vec![], 1).is_err());
    std::fs::remove_file(path).unwrap();

    assert!(QueryMix::load(std::path::Path::new("/nonexistent/q.gz"), vec![], 1).is_err());
}

#[test]
fn deterministic_per_seed() {
    let a = load(42).requests(500);
    let b = load(42).requests(500);
    let c = load(43).requests(500);
    assert_eq!(a, b);
    assert_ne!(a, c);
    // A longer sequence starts with the shorter one.
    assert_eq!(&load(42).requests(1000)[..500], &a[..]);
}

#[test]
fn weighted_by_popularity() {
    let all = load(7).requests(10_000);
    let count = |q: &str| all.iter().filter(|r| r.q.as_deref() == Some(q)).count();
    let (iphone, rare) = (count("iphone"), count("rare thing"));
    assert!(iphone > 8_000, "iphone {iphone}");
    assert!(iphone > 50 * rare.max(1), "iphone {iphone} rare {rare}");
    // Merged duplicates: red shoes has weight 100 of 1101.
    let shoes = count("red shoes");
    assert!((600..1300).contains(&shoes), "red shoes {shoes}");
}

#[test]
fn shares_of_request_kinds() {
    let n = 20_000.0;
    let all = load(9).requests(20_000);
    let share =
        |f: &dyn Fn(&crate::SearchRequest) -> bool| all.iter().filter(|r| f(r)).count() as f64 / n;
    let plain = share(&|r| {
        r.q.is_some() && r.category.is_none() && r.min_price.is_none() && r.max_price.is_none()
    });
    let q_cat = share(&|r| r.q.is_some() && r.category.is_some());
    let q_price = share(&|r| r.q.is_some() && (r.min_price.is_some() || r.max_price.is_some()));
    let cat_only = share(&|r| r.q.is_none() && r.category.is_some());
    assert!((plain - 0.70).abs() < 0.02, "plain {plain}");
    assert!((q_cat - 0.15).abs() < 0.015, "q+category {q_cat}");
    assert!((q_price - 0.10).abs() < 0.015, "q+price {q_price}");
    assert!((cat_only - 0.05).abs() < 0.01, "category only {cat_only}");
    assert!((plain + q_cat + q_price + cat_only - 1.0).abs() < 1e-9);
    for r in &all {
        if let Some(c) = &r.category {
            assert!(categories().contains(c));
        }
        if r.min_price.is_some() || r.max_price.is_some() {
            assert!(PRICE_BANDS.contains(&(r.min_price, r.max_price)));
        }
    }
}

#[test]
fn no_categories_means_plain_queries_instead() {
    let mix = QueryMix::from_entries(vec![("tv".to_owned(), 3)], vec![], 5).unwrap();
    let all = mix.requests(5_000);
    assert!(all
        .iter()
        .all(|r| r.q.as_deref() == Some("tv") && r.category.is_none()));
    let priced = all
        .iter()
        .filter(|r| r.max_price.is_some() || r.min_price.is_some())
        .count();
    assert!(priced > 350 && priced < 650, "{priced}");
}

#[test]
fn real_query_log_loads_if_present() {
    let path =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../bench/queries.jsonl.gz");
    if !path.exists() {
        return;
    }
    let mix = QueryMix::load(&path, categories(), 1).unwrap();
    assert!(mix.len() > 100, "{}", mix.len());
    let all = mix.requests(10_000);
    let noise = ["tested", "this is a tested", "something"];
    assert!(all
        .iter()
        .all(|r| !noise.contains(&r.q.as_deref().unwrap_or(""))));
}
