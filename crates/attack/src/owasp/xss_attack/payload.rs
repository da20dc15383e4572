//! The `xss_attack` payloads (`payloads/xss_attack.txt`) and how each one is recognised when
//! a response carries it unescaped.

const PAYLOADS: &str = include_str!("../../../payloads/xss_attack.txt");

/// Characters of context kept either side of a reflection.
const CONTEXT: usize = 80;

/// Attributes whose value a browser follows as a URL.
const URL_ATTRIBUTES: &[&str] = &[
    "href",
    "src",
    "action",
    "formaction",
    "data",
    "xlink:href",
    "poster",
];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// Injects a tag: the raw `<` is what makes it dangerous.
    Tag,
    /// Breaks out of a quoted attribute: the raw quote is what makes it dangerous.
    Attribute,
    /// A `javascript:` URL: dangerous inside a URL attribute, even with quotes encoded.
    Url,
}

/// One payload with its run-unique marker.
#[derive(Debug, Clone)]
pub(super) struct Payload {
    pub text: String,
    /// Appears in the payload and nowhere else.
    pub marker: String,
    needle: String,
    kind: Kind,
}

/// The payloads of one run; `canary` is unique to the run.
pub(super) fn load(canary: &str) -> Vec<Payload> {
    PAYLOADS
        .lines()
        .map(|l| l.trim_end_matches('\r'))
        .filter(|l| !l.trim().is_empty() && !l.starts_with('#'))
        .enumerate()
        .filter_map(|(i, line)| Payload::new(line, &format!("{canary}{i:02}")))
        .collect()
}

impl Payload {
    fn new(template: &str, marker: &str) -> Option<Payload> {
        let text = template.replace("{canary}", marker);
        let end = text.find(marker)? + marker.len();
        let head = &text[..end];
        let (needle, kind) = if let Some(lt) = head.find('<') {
            (&head[lt..], Kind::Tag)
        } else if head.starts_with(['\'', '"']) {
            (head, Kind::Attribute)
        } else if head.to_ascii_lowercase().starts_with("javascript:") {
            (head, Kind::Url)
        } else {
            return None;
        };
        Some(Payload {
            needle: needle.to_string(),
            kind,
            marker: marker.to_string(),
            text,
        })
    }

    /// Whether the marker shows up at all (escaped or not).
    pub fn reflected(&self, body: &str) -> bool {
        body.contains(&self.marker)
    }

    /// The dangerous part of this payload, unescaped in `body`: the text around it.
    pub fn found_in(&self, body: &str) -> Option<String> {
        let bytes = body.as_bytes();
        let needle = self.needle.as_bytes();
        let first = needle.first()?;
        (0..bytes.len())
            .filter(|&i| bytes[i].eq_ignore_ascii_case(first))
            .find_map(|i| {
                let end = match_at(bytes, i, needle)?;
                (self.kind != Kind::Url || in_url_attribute(&bytes[..i]))
                    .then(|| around(body, i, end))
            })
    }
}

/// Matches `needle` at `at`: ASCII case-insensitive, and after its first character a quote
/// may also appear as an HTML entity (it is decoded before a script runs). The first
/// character must be raw: an encoded `<` or an encoded opening quote is the escaping we
/// want to see. Returns the end of the match.
fn match_at(body: &[u8], at: usize, needle: &[u8]) -> Option<usize> {
    const APOS: &[&[u8]] = &[b"'", b"&#39;", b"&#039;", b"&#x27;", b"&apos;"];
    const QUOT: &[&[u8]] = &[b"\"", b"&quot;", b"&#34;", b"&#034;", b"&#x22;"];
    let mut i = at;
    for (k, &c) in needle.iter().enumerate() {
        let forms: Option<&[&[u8]]> = match c {
            b'\'' if k > 0 => Some(APOS),
            b'"' if k > 0 => Some(QUOT),
            _ => None,
        };
        match forms {
            Some(forms) => {
                let f = forms.iter().find(|f| {
                    body.get(i..i + f.len())
                        .is_some_and(|b| b.eq_ignore_ascii_case(f))
                })?;
                i += f.len();
            }
            None => {
                if !body.get(i)?.eq_ignore_ascii_case(&c) {
                    return None;
                }
                i += 1;
            }
        }
    }
    Some(i)
}

/// `before` ends with `href="`, `src='`, `action=` and the like.
fn in_url_attribute(before: &[u8]) -> bool {
    let mut end = before.len();
    if end > 0 && matches!(before[end - 1], b'"' | b'\'') {
        end -= 1;
    }
    while end > 0 && before[end - 1].is_ascii_whitespace() {
        end -= 1;
    }
    if end == 0 || before[end - 1] != b'=' {
        return false;
    }
    end -= 1;
    while end > 0 && before[end - 1].is_ascii_whitespace() {
        end -= 1;
    }
    let start = before[..end]
        .iter()
        .rposition(|b| !(b.is_ascii_alphanumeric() || matches!(b, b':' | b'-')))
        .map_or(0, |p| p + 1);
    let name = String::from_utf8_lossy(&before[start..end]).to_ascii_lowercase();
    URL_ATTRIBUTES.contains(&name.as_str())
}

fn around(text: &str, start: usize, end: usize) -> String {
    let mut from = start.saturating_sub(CONTEXT);
    while !text.is_char_boundary(from) {
        from -= 1;
    }
    let mut to = (end + CONTEXT).min(text.len());
    while !text.is_char_boundary(to) {
        to += 1;
    }
    format!(
        "{}{}{}",
        if from > 0 { "…" } else { "" },
        &text[from..to],
        if to < text.len() { "…" } else { "" }
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn escape(s: &str) -> String {
        s.replace('&', "&amp;")
            .replace('<', "&lt;")
            .replace('>', "&gt;")
            .replace('"', "&quot;")
            .replace('\'', "&#x27;")
    }

    fn by_start(payloads: &[Payload], start: &str) -> Payload {
        payloads
            .iter()
            .find(|p| p.text.starts_with(start))
            .unwrap()
            .clone()
    }

    #[test]
    fn every_line_gets_a_unique_marker_and_a_needle() {
        let p = load("sdabc");
        assert!(p.len() >= 12);
        let mut markers: Vec<_> = p.iter().map(|x| x.marker.clone()).collect();
        markers.dedup();
        assert_eq!(markers.len(), p.len());
        assert!(
            p.iter()
                .all(|x| x.text.contains(&x.marker) && x.needle.contains(&x.marker))
        );
        assert_eq!(
            by_start(&p, "\"><img").needle,
            format!(
                "<img src=x onerror=alert('{}",
                by_start(&p, "\"><img").marker
            )
        );
    }

    #[test]
    fn raw_reflections_match_and_escaped_ones_do_not() {
        for p in load("sdabc") {
            let raw = format!(
                "<html><body><p>{}</p><input value=\"{}\"><a href=\"{}\">x</a></body></html>",
                p.text, p.text, p.text
            );
            assert!(p.found_in(&raw).is_some(), "{}", p.text);
            let e = escape(&p.text);
            let escaped = format!("<html><body><p>{e}</p><input value=\"{e}\"></body></html>");
            assert!(p.reflected(&escaped));
            assert!(p.found_in(&escaped).is_none(), "escaped {} matched", p.text);
        }
    }

    #[test]
    fn tags_with_encoded_quotes_still_count() {
        let p = by_start(&load("sdabc"), "<script>");
        let body = format!("<p><script>alert(&#39;{}&#39;)</script></p>", p.marker);
        assert!(p.found_in(&body).is_some());
    }

    #[test]
    fn javascript_urls_count_only_inside_url_attributes() {
        let p = by_start(&load("sdabc"), "javascript:");
        let text = format!("<p>javascript:alert(&#x27;{}&#x27;)</p>", p.marker);
        assert!(p.found_in(&text).is_none());
        let link = format!(
            "<a href = 'javascript:alert(&#x27;{}&#x27;)'>go</a>",
            p.marker
        );
        assert!(p.found_in(&link).is_some());
        let src = format!("<iframe SRC=javascript:alert('{}')>", p.marker);
        assert!(p.found_in(&src).is_some());
    }
}
