//! Splitting text into stream deltas the way LLM APIs stream it, shared by the mock LLM and the
//! fault proxy's stream rewrites.

/// Splits text into deltas: each word with the whitespace before it, so joining the deltas
/// gives the text back exactly.
pub fn word_deltas(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut in_word = false;
    for ch in text.chars() {
        if ch.is_whitespace() && in_word {
            out.push(std::mem::take(&mut cur));
            in_word = false;
        } else if !ch.is_whitespace() {
            in_word = true;
        }
        cur.push(ch);
    }
    if !cur.is_empty() {
        out.push(cur);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deltas_join_back_to_the_text() {
        for t in ["", "one", "  two words ", "a\n b\tc"] {
            assert_eq!(word_deltas(t).concat(), t);
        }
        assert_eq!(word_deltas("hi there"), ["hi", " there"]);
    }
}
