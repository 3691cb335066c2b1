//! Typo tolerance: which indexed word a mistyped query word most likely
//! meant. Stores propose candidates (PostgreSQL by trigram similarity,
//! SQLite from [`Vocabulary`]); [`best_correction`] decides, so both
//! backends correct the same way.

use std::collections::HashMap;

/// Optimal-string-alignment distance: insertions, deletions, substitutions
/// and swaps of two neighbouring letters each cost one ("samsnug" →
/// "samsung" is one swap).
pub fn edit_distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    let (n, m) = (a.len(), b.len());
    let mut d = vec![vec![0usize; m + 1]; n + 1];
    for (i, row) in d.iter_mut().enumerate() {
        row[0] = i;
    }
    for (j, cell) in d[0].iter_mut().enumerate() {
        *cell = j;
    }
    for i in 1..=n {
        for j in 1..=m {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            let mut v = (d[i - 1][j] + 1)
                .min(d[i][j - 1] + 1)
                .min(d[i - 1][j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                v = v.min(d[i - 2][j - 2] + 1);
            }
            d[i][j] = v;
        }
    }
    d[n][m]
}

/// How many edits a word of this length may be off by. Short words are
/// not corrected at all: "tv" is one edit from too many words.
pub fn max_edits(word: &str) -> usize {
    match word.chars().count() {
        0..=3 => 0,
        4..=7 => 1,
        _ => 2,
    }
}

/// Picks the correction for `word` among `(candidate, documents)` pairs:
/// within [`max_edits`], fewest edits first, then the most documents.
pub fn best_correction<'a>(word: &str, candidates: &'a [(String, u64)]) -> Option<&'a str> {
    let limit = max_edits(word);
    candidates
        .iter()
        .filter(|(c, _)| c != word)
        .map(|(c, docs)| (edit_distance(word, c), *docs, c))
        .filter(|(d, _, _)| *d >= 1 && *d <= limit)
        .min_by(|x, y| x.0.cmp(&y.0).then(y.1.cmp(&x.1)).then(x.2.cmp(y.2)))
        .map(|(_, _, c)| c.as_str())
}

/// An in-memory index of the catalog's words that finds those within two
/// edits of a query word by looking up shared one-letter deletions.
#[derive(Debug, Default)]
pub struct Vocabulary {
    words: Vec<(String, u64)>,
    by_deletion: HashMap<String, Vec<u32>>,
}

fn deletions(word: &str) -> Vec<String> {
    let chars: Vec<char> = word.chars().collect();
    let mut out = Vec::with_capacity(chars.len() + 1);
    out.push(word.to_owned());
    for i in 0..chars.len() {
        let mut s = String::with_capacity(word.len());
        s.extend(chars[..i].iter().chain(&chars[i + 1..]));
        out.push(s);
    }
    out
}

impl Vocabulary {
    /// Builds the index from `(word, documents containing it)` pairs. Words
    /// of fewer than 4 letters and words with digits are left out: they are
    /// never corrected to.
    pub fn new(words: impl IntoIterator<Item = (String, u64)>) -> Vocabulary {
        let mut v = Vocabulary::default();
        for (word, docs) in words {
            if word.chars().count() < 4 || word.chars().any(|c| c.is_numeric()) {
                continue;
            }
            let Ok(idx) = u32::try_from(v.words.len()) else {
                break;
            };
            for d in deletions(&word) {
                v.by_deletion.entry(d).or_default().push(idx);
            }
            v.words.push((word, docs));
        }
        v
    }

    pub fn len(&self) -> usize {
        self.words.len()
    }

    pub fn is_empty(&self) -> bool {
        self.words.is_empty()
    }

    /// Words that share the word itself or a one-letter deletion with `word`:
    /// every word within one edit (including a swap), and some within two.
    pub fn candidates(&self, word: &str) -> Vec<(String, u64)> {
        let mut idx: Vec<u32> = deletions(word)
            .iter()
            .filter_map(|d| self.by_deletion.get(d))
            .flatten()
            .copied()
            .collect();
        idx.sort_unstable();
        idx.dedup();
        idx.into_iter()
            .filter_map(|i| self.words.get(i as usize).cloned())
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vocab() -> Vocabulary {
        Vocabulary::new(
            [
                ("samsung", 400),
                ("samsonite", 3),
                ("sandal", 90),
                ("laptop", 300),
                ("tv", 50),
            ]
            .map(|(w, d)| (w.to_string(), d)),
        )
    }

    #[test]
    fn distance_counts_a_swap_as_one_edit() {
        assert_eq!(edit_distance("samsnug", "samsung"), 1);
        assert_eq!(edit_distance("lapotp", "laptop"), 1);
        assert_eq!(edit_distance("kitten", "sitting"), 3);
        assert_eq!(edit_distance("", "abc"), 3);
        assert_eq!(edit_distance("same", "same"), 0);
    }

    #[test]
    fn one_letter_typos_are_corrected() {
        let v = vocab();
        for typo in ["samsnug", "samsng", "samsuung", "sumsung"] {
            assert_eq!(
                best_correction(typo, &v.candidates(typo)),
                Some("samsung"),
                "{typo}"
            );
        }
        assert_eq!(
            best_correction("laptpo", &v.candidates("laptpo")),
            Some("laptop")
        );
    }

    #[test]
    fn short_or_unrelated_words_are_left_alone() {
        let v = vocab();
        assert_eq!(best_correction("tx", &v.candidates("tx")), None);
        assert_eq!(best_correction("zzzzzz", &v.candidates("zzzzzz")), None);
        assert!(v.candidates("tv").is_empty(), "short words are not indexed");
    }

    #[test]
    fn the_more_common_word_wins_a_tie() {
        let cands = vec![("cable".to_string(), 10), ("table".to_string(), 500)];
        assert_eq!(best_correction("xable", &cands), Some("table"));
    }
}
