use super::*;

fn q(s: &str) -> Option<SearchText> {
    SearchText::parse(s).unwrap()
}

#[test]
fn query_text_keeps_only_words() {
    let t = q("' OR 1=1 --").unwrap();
    assert_eq!(t.terms(), ["1"]);
    assert!(!t.prefix_last());
    assert!(q("\" * : - NEAR(").unwrap().terms() == ["near"]);
    assert_eq!(q("***"), None);
    assert_eq!(q(""), None);
}

#[test]
fn last_word_is_a_prefix_while_typing() {
    let t = q("Samsung Galax").unwrap();
    assert_eq!(t.terms(), ["samsung", "galax"]);
    assert!(t.prefix_last());
    assert!(!q("samsung galaxy ").unwrap().prefix_last());
    assert!(
        !q("tv s").unwrap().prefix_last(),
        "one letter is too short for a prefix"
    );
}

#[test]
fn stop_words_are_dropped_unless_nothing_else_remains() {
    assert_eq!(
        q("case for the iphone").unwrap().terms(),
        ["case", "iphone"]
    );
    assert_eq!(q("the who").unwrap().terms(), ["the", "who"]);
}

#[test]
fn overlong_query_is_rejected() {
    assert!(SearchText::parse(&"a".repeat(201)).is_err());
    assert!(SearchText::parse(&"é".repeat(200)).is_ok());
}

fn raw(pairs: &[(&str, &str)]) -> SearchQuery {
    let mut r = SearchQuery::default();
    for (k, v) in pairs {
        let v = Some(v.to_string());
        match *k {
            "q" => r.q = v,
            "category" => r.category = v,
            "min_price" => r.min_price = v,
            "max_price" => r.max_price = v,
            "sort" => r.sort = v,
            "limit" => r.limit = v,
            "cursor" => r.cursor = v,
            _ => r.brand = v,
        }
    }
    r
}

fn fields(pairs: &[(&str, &str)]) -> Vec<String> {
    match SearchParams::parse(&raw(pairs)) {
        Err(DomainError::Validation(es)) => es.into_iter().map(|e| e.field).collect(),
        other => panic!("expected validation error, got {other:?}"),
    }
}

#[test]
fn bad_parameters_are_named() {
    assert_eq!(fields(&[("limit", "0")]), ["limit"]);
    assert_eq!(fields(&[("limit", "101")]), ["limit"]);
    assert_eq!(fields(&[("limit", "ten")]), ["limit"]);
    assert_eq!(fields(&[("min_price", "-5")]), ["min_price"]);
    assert_eq!(fields(&[("max_price", "1.5e3")]), ["max_price"]);
    assert_eq!(
        fields(&[("min_price", "500"), ("max_price", "100")]),
        ["min_price"]
    );
    assert_eq!(fields(&[("sort", "cheapest")]), ["sort"]);
    assert_eq!(fields(&[("cursor", "!!!")]), ["cursor"]);
    assert_eq!(fields(&[("sort", "x"), ("limit", "0")]), ["sort", "limit"]);
}

#[test]
fn default_sort_depends_on_text() {
    let p = SearchParams::parse(&raw(&[("q", "tv")])).unwrap();
    assert_eq!(p.sort, Sort::Relevance);
    let p = SearchParams::parse(&raw(&[])).unwrap();
    assert_eq!(p.sort, Sort::Popularity);
    assert_eq!(p.limit, DEFAULT_LIMIT);
}

#[test]
fn price_bands_cover_every_price() {
    assert_eq!(price_band(0), 0);
    assert_eq!(price_band(2_499), 0);
    assert_eq!(price_band(2_500), 1);
    assert_eq!(price_band(10_000_000), PRICE_BANDS.len() - 1);
}
