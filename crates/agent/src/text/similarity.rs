//! Text similarity in [0, 1] without a model: the mean of two cosine similarities over
//! term-frequency vectors — one of lower-cased word tokens (meaning-bearing words, order-free),
//! one of character trigrams of the lower-cased, whitespace-normalised text (robust to
//! inflection, typos and punctuation). Identical texts score 1, texts sharing no words and no
//! trigrams score 0; two empty texts score 1, one empty text scores 0.

use std::collections::HashMap;

/// Similarity of `a` and `b` in [0, 1]; see the module doc for the measure.
pub fn similarity(a: &str, b: &str) -> f64 {
    let (na, nb) = (normalise(a), normalise(b));
    match (na.is_empty(), nb.is_empty()) {
        (true, true) => return 1.0,
        (true, false) | (false, true) => return 0.0,
        _ => {}
    }
    let words = cosine(&tf(words(&na)), &tf(words(&nb)));
    let grams = cosine(&tf(trigrams(&na)), &tf(trigrams(&nb)));
    ((words + grams) / 2.0).clamp(0.0, 1.0)
}

fn normalise(s: &str) -> String {
    s.split_whitespace()
        .map(str::to_lowercase)
        .collect::<Vec<_>>()
        .join(" ")
}

fn words(s: &str) -> Vec<String> {
    s.split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(str::to_string)
        .collect()
}

fn trigrams(s: &str) -> Vec<String> {
    let chars: Vec<char> = format!("  {s} ").chars().collect();
    chars.windows(3).map(|w| w.iter().collect()).collect()
}

fn tf(items: Vec<String>) -> HashMap<String, f64> {
    let mut m = HashMap::new();
    for it in items {
        *m.entry(it).or_insert(0.0) += 1.0;
    }
    m
}

fn cosine(a: &HashMap<String, f64>, b: &HashMap<String, f64>) -> f64 {
    if a.is_empty() || b.is_empty() {
        return if a.is_empty() && b.is_empty() {
            1.0
        } else {
            0.0
        };
    }
    let dot: f64 = a.iter().filter_map(|(k, v)| b.get(k).map(|w| v * w)).sum();
    let norm = |m: &HashMap<String, f64>| m.values().map(|v| v * v).sum::<f64>().sqrt();
    dot / (norm(a) * norm(b))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identical_texts_score_one_and_disjoint_score_zero() {
        assert!(
            (similarity("Deleted 3 stale rows.", "deleted 3 stale   rows.") - 1.0).abs() < 1e-9
        );
        assert_eq!(similarity("abc", "xyz"), 0.0);
        assert_eq!(similarity("", ""), 1.0);
        assert_eq!(similarity("", "x"), 0.0);
    }

    #[test]
    fn paraphrase_scores_higher_than_unrelated_text() {
        let base = "I removed 12 inactive customer records older than two years.";
        let close = "Removed 12 inactive customers' records that were older than 2 years.";
        let far = "The weather in Paris is sunny with light winds today.";
        let (c, f) = (similarity(base, close), similarity(base, far));
        assert!(c > 0.6, "close {c}");
        assert!(f < 0.3, "far {f}");
    }

    proptest::proptest! {
        #[test]
        fn symmetric_and_bounded(a in ".{0,60}", b in ".{0,60}") {
            let s = similarity(&a, &b);
            proptest::prop_assert!((0.0..=1.0).contains(&s));
            proptest::prop_assert!((s - similarity(&b, &a)).abs() < 1e-9);
        }
    }
}
