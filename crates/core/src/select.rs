//! Which components a campaign attacks when none are named: the least resilient first.

/// A component's ranking as far as selection cares. `score: None` = never tested, which
/// counts as 0.
#[derive(Debug, Clone, PartialEq)]
pub struct Candidate<'a> {
    pub id: &'a str,
    pub score: Option<f64>,
}

/// Up to `limit` candidate ids, lowest ranking score first; ties keep the system file's order.
pub fn lowest_resilience_first<'a>(candidates: &[Candidate<'a>], limit: usize) -> Vec<&'a str> {
    let mut order: Vec<(usize, &Candidate<'a>)> = candidates.iter().enumerate().collect();
    order.sort_by(|(ia, a), (ib, b)| {
        let (sa, sb) = (a.score.unwrap_or(0.0), b.score.unwrap_or(0.0));
        sa.total_cmp(&sb).then(ia.cmp(ib))
    });
    order.into_iter().take(limit).map(|(_, c)| c.id).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn never_tested_counts_as_zero_and_ties_keep_file_order() {
        let c = [
            Candidate {
                id: "a",
                score: Some(0.9),
            },
            Candidate {
                id: "b",
                score: None,
            },
            Candidate {
                id: "c",
                score: Some(0.4),
            },
            Candidate {
                id: "d",
                score: Some(0.0),
            },
        ];
        assert_eq!(lowest_resilience_first(&c, 3), ["b", "d", "c"]);
        assert_eq!(lowest_resilience_first(&c, 10), ["b", "d", "c", "a"]);
    }
}
