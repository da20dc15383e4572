//! Comparing responses for the boolean-based technique: a response is reduced to its status
//! and a bag of tokens, with every reflection of the input removed first, so an API that
//! merely echoes what it was sent never looks like a changed query result.

use std::collections::HashMap;

use crate::http::HttpResponse;
use crate::input::encode;

/// The comparable form of a response.
#[derive(Debug, Clone)]
pub(super) struct Shape {
    pub status: u16,
    tokens: HashMap<String, u32>,
    total: u32,
    text: String,
}

impl Shape {
    /// The shape of `resp` to a request that carried `input`.
    pub fn of(resp: &HttpResponse, input: &str) -> Shape {
        let text = strip_reflections(&resp.body_text(), input);
        let mut tokens: HashMap<String, u32> = HashMap::new();
        let mut total = 0;
        for t in tokenize(&text) {
            *tokens.entry(t.to_string()).or_default() += 1;
            total += 1;
        }
        Shape {
            status: resp.status,
            tokens,
            total,
            text,
        }
    }

    /// Tokens found in one response but not the other (multiset symmetric difference).
    /// Absolute, not relative: one extra row in a long page must still count.
    pub fn diff(&self, other: &Shape) -> u32 {
        if self.total == 0 && other.total == 0 {
            return u32::from(self.text != other.text);
        }
        let common: u32 = self
            .tokens
            .iter()
            .map(|(t, n)| (*n).min(other.tokens.get(t).copied().unwrap_or(0)))
            .sum();
        self.total + other.total - 2 * common
    }
}

/// How much two responses to equivalent benign inputs differ: the page's own noise (request
/// ids, timestamps). Judgements below allow for it.
#[derive(Debug, Clone, Copy)]
pub(super) struct Noise {
    diff: u32,
    too_high: bool,
}

impl Noise {
    /// The noise seen between two baseline responses.
    pub fn between(a: &Shape, b: &Shape) -> Noise {
        let diff = a.diff(b);
        let size = a.total.max(b.total);
        Noise {
            diff,
            too_high: a.status != b.status || f64::from(diff) > 0.5 * f64::from(size),
        }
    }
    /// Too noisy to tell a changed result from the page's own variation.
    pub fn too_high(self) -> bool {
        self.too_high
    }
    /// `a` looks like `b`: same status, no more different than the noise allows.
    pub fn resembles(self, a: &Shape, b: &Shape) -> bool {
        a.status == b.status && f64::from(a.diff(b)) <= f64::from(self.diff) * 1.5 + 1.0
    }
    /// `a` clearly differs from `b`: another status, or well beyond the noise. The gap
    /// between this and [`Noise::resembles`] keeps borderline pages out of both.
    pub fn differs(self, a: &Shape, b: &Shape) -> bool {
        a.status != b.status || a.diff(b) > self.diff * 2 + 3
    }
}

/// Alphanumeric runs are tokens, and so is every other non-space character.
fn tokenize(text: &str) -> impl Iterator<Item = &str> {
    let mut rest = text;
    std::iter::from_fn(move || {
        rest = rest.trim_start();
        let first = rest.chars().next()?;
        let end = if first.is_alphanumeric() || first == '_' {
            rest.find(|c: char| !(c.is_alphanumeric() || c == '_'))
                .unwrap_or(rest.len())
        } else {
            first.len_utf8()
        };
        let (token, tail) = rest.split_at(end);
        rest = tail;
        Some(token)
    })
}

/// `body` without `input` in the forms a server commonly echoes it: raw, JSON-escaped,
/// HTML-escaped and percent-encoded.
pub(super) fn strip_reflections(body: &str, input: &str) -> String {
    if input.is_empty() {
        return body.to_string();
    }
    let json = serde_json::to_string(input).unwrap_or_default();
    let json = json.trim_matches('"').to_string();
    let html = |apos: &str| {
        input
            .replace('&', "&amp;")
            .replace('<', "&lt;")
            .replace('>', "&gt;")
            .replace('"', "&quot;")
            .replace('\'', apos)
    };
    let mut forms = vec![
        input.to_string(),
        json,
        html("&#39;"),
        html("&#x27;"),
        html("&apos;"),
        html("'"),
        encode(input),
        encode(input).replace("%20", "+"),
    ];
    forms.sort_by_key(|f| std::cmp::Reverse(f.len()));
    forms.dedup();
    let mut out = body.to_string();
    for f in forms.iter().filter(|f| !f.is_empty()) {
        out = out.replace(f.as_str(), "");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;
    use std::time::Duration;

    fn resp(status: u16, body: &str) -> HttpResponse {
        HttpResponse {
            status,
            headers: Default::default(),
            body: Bytes::from(body.to_string()),
            latency: Duration::ZERO,
        }
    }

    #[test]
    fn reflections_are_removed_in_every_common_form() {
        let input = "x' OR '1'='1";
        let bodies = [
            r#"{"q":"x' OR '1'='1","rows":[]}"#.to_string(),
            "<p>x&#39; OR &#39;1&#39;=&#39;1</p><ul></ul>".to_string(),
            "next=/s?q=x%27%20OR%20%271%27%3D%271".to_string(),
        ];
        for b in &bodies {
            assert!(!strip_reflections(b, input).contains("OR"), "{b}");
        }
    }

    #[test]
    fn echoing_apis_look_identical_and_real_result_changes_differ() {
        let quiet = |s: u16| Shape::of(&resp(s, "[]"), "");
        let noise = Noise::between(&quiet(200), &quiet(200));
        let base = Shape::of(&resp(200, r#"{"q":"sdab","rows":[]}"#), "sdab");
        let falsy = Shape::of(
            &resp(200, r#"{"q":"sdab' AND '1'='2","rows":[]}"#),
            "sdab' AND '1'='2",
        );
        let truthy = Shape::of(
            &resp(
                200,
                r#"{"q":"sdab' OR '1'='1","rows":[{"id":1,"name":"alice"}]}"#,
            ),
            "sdab' OR '1'='1",
        );
        assert!(noise.resembles(&falsy, &base));
        assert!(noise.differs(&truthy, &base));
        let echo = Shape::of(
            &resp(200, r#"{"q":"sdab' OR '1'='1","rows":[]}"#),
            "sdab' OR '1'='1",
        );
        assert!(noise.resembles(&echo, &base));
        let other_status = Shape::of(&resp(404, r#"{"q":"sdab","rows":[]}"#), "sdab");
        assert!(noise.differs(&other_status, &base));
    }

    #[test]
    fn a_small_change_in_a_large_page_still_counts() {
        let page = "<li>item</li>".repeat(200);
        let a = Shape::of(&resp(200, &page), "w");
        let b = Shape::of(&resp(200, &format!("{page}<li>alice</li>")), "w");
        let noise = Noise::between(&a, &a);
        assert!(noise.differs(&b, &a));
        assert!(!noise.resembles(&b, &a));
    }

    #[test]
    fn noise_from_request_ids_is_tolerated() {
        let page = |id: &str, rows: &str| {
            Shape::of(&resp(200, &format!("<p>req {id}</p><ul>{rows}</ul>")), "")
        };
        let noise = Noise::between(&page("a1b2", ""), &page("c3d4", ""));
        assert!(!noise.too_high());
        assert!(noise.resembles(&page("e5f6", ""), &page("a1b2", "")));
        assert!(noise.differs(
            &page("e5f6", "<li>alice</li><li>bob</li>"),
            &page("a1b2", "")
        ));
    }

    #[test]
    fn tokens_split_words_and_punctuation() {
        let t: Vec<_> = tokenize(r#"[{"id":12}] héllo_w"#).collect();
        assert_eq!(
            t,
            ["[", "{", "\"", "id", "\"", ":", "12", "}", "]", "héllo_w"]
        );
    }
}
