//! Property tests of the domain's parsers: whatever a client sends, they
//! answer with a value or a validation error, never a panic, and what they
//! accept keeps its promises.

use proptest::prelude::*;

use crate::catalog::cursor::After;
use crate::catalog::spelling::edit_distance;
use crate::catalog::{Cursor, SearchParams, SearchQuery, SearchText, Sku};
use crate::{Currency, Money};

proptest! {
    #[test]
    fn search_text_is_only_lower_case_words(q in "\\PC{0,250}") {
        match SearchText::parse(&q) {
            Err(_) => prop_assert!(q.chars().count() > 200),
            Ok(None) => {}
            Ok(Some(t)) => {
                prop_assert!(!t.terms().is_empty() && t.terms().len() <= 10);
                for w in t.terms() {
                    prop_assert!(w.chars().all(char::is_alphanumeric), "{w:?}");
                    prop_assert_eq!(w.to_lowercase(), w.clone());
                }
            }
        }
    }

    #[test]
    fn any_query_string_parses_or_is_rejected(
        q in proptest::option::of("\\PC{0,50}"),
        limit in proptest::option::of("\\PC{0,5}"),
        min in proptest::option::of("-?[0-9]{0,12}"),
        sort in proptest::option::of("[a-z_]{0,12}"),
        cursor in proptest::option::of("\\PC{0,40}"),
    ) {
        let raw = SearchQuery { q, limit, min_price: min, sort, cursor, ..Default::default() };
        if let Ok(p) = SearchParams::parse(&raw) {
            prop_assert!((1..=100).contains(&p.limit));
            prop_assert!(p.min_price.is_none_or(|m| m >= 0));
        }
    }

    #[test]
    fn cursors_round_trip_and_garbage_is_rejected(s in "\\PC{0,80}", price in any::<i64>(), key in any::<i64>()) {
        let _ = Cursor::decode(&s);
        let params = SearchParams::parse(&SearchQuery { sort: Some("price_asc".into()), ..Default::default() }).unwrap();
        let c = Cursor::new(&params, After::Price { price, key });
        prop_assert_eq!(Cursor::decode(&c.encode()).unwrap(), c);
    }

    #[test]
    fn sku_accepts_exactly_its_alphabet(s in "\\PC{0,70}") {
        let valid = !s.is_empty() && s.len() <= 64
            && s.bytes().all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b));
        prop_assert_eq!(Sku::parse(&s).is_ok(), valid);
    }

    #[test]
    fn money_is_from_zero_to_the_payment_limit(amount in any::<i64>()) {
        prop_assert_eq!(
            Money::new(amount, Currency::USD).is_ok(),
            (0..=crate::MAX_AMOUNT).contains(&amount)
        );
    }

    #[test]
    fn edit_distance_is_a_symmetric_bounded_measure(a in "[a-z]{0,12}", b in "[a-z]{0,12}") {
        let d = edit_distance(&a, &b);
        prop_assert_eq!(d, edit_distance(&b, &a));
        prop_assert!(d <= a.len().max(b.len()));
        prop_assert_eq!(d == 0, a == b);
    }
}
