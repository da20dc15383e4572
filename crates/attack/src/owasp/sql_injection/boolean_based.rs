//! Boolean-based probes: a true condition must change the answer (more rows, another status)
//! while the matching false condition answers exactly like the benign baseline. Reflections
//! of the input are removed before comparing, and every candidate is sent twice.

use super::payloads::{self, Fill, Pair};
use super::session::{Baseline, Hit, Session};

pub(super) const TECHNIQUE: &str = "boolean-based";

/// Runs the boolean pairs; stops at the first confirmed hit.
pub(super) async fn run(s: &mut Session<'_>, base: &Baseline) {
    let fill = Fill {
        word: &base.word,
        num: &base.num,
        tag: "",
    };
    let mut noisy_noted = false;
    for pair in payloads::boolean(&fill) {
        let Some((reference, noise)) = base.reference(pair.context) else {
            continue;
        };
        if noise.too_high() {
            if !noisy_noted {
                s.notes.push(format!(
                    "{}: boolean-based probes skipped for some inputs, two benign requests already differ too much to compare",
                    s.label
                ));
                noisy_noted = true;
            }
            continue;
        }
        match candidate(s, &pair, &reference, noise).await {
            Step::Stop => return,
            Step::No => continue,
            Step::Yes => {}
        }
        // Confirm: both answers must repeat.
        let Some(t2) = s.probe(&pair.truthy, None).await else {
            return;
        };
        let Some(f2) = s.probe(&pair.falsy, None).await else {
            return;
        };
        let (Some(t2s), Some(f2s)) = (t2.shape(), f2.shape()) else {
            continue;
        };
        if !(noise.differs(&t2s, &reference) && noise.resembles(&f2s, &reference)) {
            continue;
        }
        let (t_status, f_status) = (t2s.status, f2s.status);
        let detail = format!(
            "true condition {:?} answered {t_status} with {} bytes, unlike the baseline; false condition {:?} answered {f_status} with {} bytes, like the baseline (seen twice, reflections of the input ignored)",
            pair.truthy,
            t2.response().map_or(0, |r| r.body.len()),
            pair.falsy,
            f2.response().map_or(0, |r| r.body.len()),
        );
        let sample = t2.sample(None);
        s.hit(Hit {
            technique: TECHNIQUE,
            payload: pair.truthy.clone(),
            detail,
            sample,
        });
        return;
    }
}

enum Step {
    Yes,
    No,
    Stop,
}

/// First pass of one pair: the true input is not refused (4xx) and differs from the
/// baseline, the false input resembles it.
async fn candidate(
    s: &mut Session<'_>,
    pair: &Pair,
    reference: &super::compare::Shape,
    noise: super::compare::Noise,
) -> Step {
    let Some(t) = s.probe(&pair.truthy, None).await else {
        return Step::Stop;
    };
    // A refused true condition is no evidence, whatever the baseline got.
    if t.response().is_some_and(|r| (400..500).contains(&r.status)) {
        return Step::No;
    }
    let Some(ts) = t.shape() else { return Step::No };
    if !noise.differs(&ts, reference) {
        return Step::No;
    }
    let Some(f) = s.probe(&pair.falsy, None).await else {
        return Step::Stop;
    };
    let Some(fs) = f.shape() else { return Step::No };
    if noise.resembles(&fs, reference) && noise.differs(&ts, &fs) {
        Step::Yes
    } else {
        Step::No
    }
}
