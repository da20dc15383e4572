//! Error-based probes: inputs that break a concatenated query, judged by database error
//! messages that the benign baseline did not show, and by the quote-balance check (`w'` fails
//! with a 5xx while `w''` answers like the baseline).

use std::collections::HashSet;

use super::compare::strip_reflections;
use super::payloads::{self, Context, Fill};
use super::session::{Baseline, Hit, Session};
use super::signatures;

pub(super) const TECHNIQUE: &str = "error-based";

/// Runs the error-based probes; stops at the first hit.
pub(super) async fn run(s: &mut Session<'_>, base: &Baseline) {
    let known: HashSet<String> = base
        .all()
        .filter_map(|p| {
            p.response()
                .map(|r| strip_reflections(&r.body_text(), &p.input))
        })
        .flat_map(|text| signatures::find(&text))
        .map(|sig| sig.needle)
        .collect();
    let tag = format!("{:08x}", rand::random::<u32>());
    let fill = Fill {
        word: &base.word,
        num: &base.num,
        tag: &tag,
    };
    let quote = format!("{}'", base.word);
    let mut quote_status = None;
    for payload in payloads::error(&fill) {
        let Some(p) = s.probe(&payload, None).await else {
            return;
        };
        let Some(r) = p.response() else { continue };
        if payload == quote {
            quote_status = Some(r.status);
        }
        if s.is_blocked(&p) {
            continue;
        }
        let text = strip_reflections(&r.body_text(), &payload);
        let new: Vec<_> = signatures::find(&text)
            .into_iter()
            .filter(|sig| !known.contains(&sig.needle))
            .collect();
        if let Some(sig) = new.first() {
            // Matched without the reflected input; shown as the server wrote it.
            let shown = signatures::find(&r.body_text())
                .into_iter()
                .find(|x| x.needle == sig.needle)
                .map_or_else(|| sig.excerpt.clone(), |x| x.excerpt);
            let detail = format!(
                "{} error `{}` in the {} answer, absent from the baseline: {shown}",
                sig.dbms, sig.needle, r.status
            );
            let sample = p.sample(Some(shown));
            s.hit(Hit {
                technique: TECHNIQUE,
                payload,
                detail,
                sample,
            });
            return;
        }
    }
    if let Some(status) = quote_status {
        quote_balance(s, base, &quote, status).await;
    }
}

/// A lone quote answered with a 5xx while a doubled (escaped) quote answers like the
/// baseline: the quote reached the query's syntax. Confirmed by repeating the lone quote.
async fn quote_balance(s: &mut Session<'_>, base: &Baseline, quote: &str, quote_status: u16) {
    let Some(base_status) = base.status(Context::Word) else {
        return;
    };
    if quote_status < 500 || base_status >= 500 {
        return;
    }
    let doubled = format!("{}''", base.word);
    let Some(d) = s.probe(&doubled, None).await else {
        return;
    };
    if d.response().map(|r| r.status) != Some(base_status) {
        return;
    }
    let Some(again) = s.probe(quote, None).await else {
        return;
    };
    let Some(r) = again.response() else { return };
    if r.status < 500 {
        return;
    }
    let detail = format!(
        "{quote:?} answered {} twice while {doubled:?} answered {base_status} like the baseline: an unbalanced quote breaks the query",
        r.status
    );
    let sample = again.sample(None);
    s.hit(Hit {
        technique: "error-based (quote balance)",
        payload: quote.to_string(),
        detail,
        sample,
    });
}
