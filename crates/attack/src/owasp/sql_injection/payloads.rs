//! The three payload lists of `sql_injection` (data files under `payloads/`), with their
//! placeholders filled in for one endpoint's baseline.

/// Which baseline a payload extends: a quoted string context or a numeric one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Context {
    Word,
    Number,
}

const ERROR: &str = include_str!("../../../payloads/sql_injection_error.txt");
const BOOLEAN: &str = include_str!("../../../payloads/sql_injection_boolean.txt");
const TIME: &str = include_str!("../../../payloads/sql_injection_time.txt");

/// Separates the true and the false input of a boolean pair.
const PAIR_SEPARATOR: &str = "|||";

/// Values for the placeholders of one endpoint.
pub(super) struct Fill<'a> {
    pub word: &'a str,
    pub num: &'a str,
    pub tag: &'a str,
}

impl Fill<'_> {
    fn apply(&self, template: &str) -> String {
        template
            .replace("{word}", self.word)
            .replace("{num}", self.num)
            .replace("{tag}", self.tag)
    }
}

/// Non-empty, non-comment lines of a payload file. Only the line break is trimmed: a
/// payload may legitimately end in a space.
fn lines(text: &str) -> impl Iterator<Item = &str> {
    text.lines()
        .map(|l| l.trim_end_matches('\r'))
        .filter(|l| !l.trim().is_empty() && !l.starts_with('#'))
}

fn context_of(template: &str) -> Context {
    if template.contains("{word}") {
        Context::Word
    } else {
        Context::Number
    }
}

/// Error-based inputs.
pub(super) fn error(fill: &Fill<'_>) -> Vec<String> {
    lines(ERROR).map(|l| fill.apply(l)).collect()
}

/// A true/false pair of a boolean-based probe.
pub(super) struct Pair {
    pub context: Context,
    pub truthy: String,
    pub falsy: String,
}

/// Boolean-based pairs.
pub(super) fn boolean(fill: &Fill<'_>) -> Vec<Pair> {
    lines(BOOLEAN)
        .filter_map(|l| {
            let (t, f) = l.split_once(PAIR_SEPARATOR)?;
            Some(Pair {
                context: context_of(l),
                truthy: fill.apply(t.trim()),
                falsy: fill.apply(f.trim()),
            })
        })
        .collect()
}

/// A time-based input, not yet given its delay.
pub(super) struct Delay {
    template: String,
}

impl Delay {
    /// The input asking the database to wait `secs` seconds.
    pub fn with_sleep(&self, secs: u64) -> String {
        self.template.replace("{sleep}", &secs.to_string())
    }
}

/// Time-based inputs.
pub(super) fn time(fill: &Fill<'_>) -> Vec<Delay> {
    lines(TIME)
        .map(|l| Delay {
            template: fill.apply(l),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const FILL: Fill<'static> = Fill {
        word: "sdw",
        num: "42",
        tag: "t1",
    };

    #[test]
    fn every_list_parses_with_placeholders_filled() {
        let errors = error(&FILL);
        assert!(errors.len() >= 10);
        assert!(errors.iter().all(|p| !p.contains('{') || p.contains("{}")));
        assert!(errors.contains(&"sdw'".to_string()));
        let pairs = boolean(&FILL);
        assert!(pairs.len() >= 6);
        assert_eq!(pairs[0].truthy, "sdw' OR '1'='1");
        assert_eq!(pairs[0].falsy, "sdw' AND '1'='2");
        assert!(
            pairs
                .iter()
                .any(|p| p.context == Context::Number && p.truthy == "42 OR 1=1")
        );
        let delays = time(&FILL);
        assert!(
            delays
                .iter()
                .any(|d| d.with_sleep(2).contains("pg_sleep(2)"))
        );
        assert!(
            delays
                .iter()
                .any(|d| d.with_sleep(0).contains("WAITFOR DELAY '0:0:0'"))
        );
        assert!(delays.iter().any(|d| d.with_sleep(1).contains("SLEEP(1)")));
    }
}
