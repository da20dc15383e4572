//! Planning: which components (named, or the least resilient up to the blast radius), which
//! patterns for each (requested ∩ applicable), and why anything was left out.

use std::collections::HashMap;

use shakedown_core::select::{Candidate, lowest_resilience_first};
use shakedown_core::system::{Environment, SystemSpec};
use shakedown_core::{Component, ComponentKind, Pattern};

use crate::error::CampaignError;

/// What the caller asked for.
#[derive(Debug, Clone, Default)]
pub struct PlanOptions {
    /// Components to attack; `None` = select the least resilient.
    pub targets: Option<Vec<String>>,
    /// Restrict every component to these patterns.
    pub patterns: Option<Vec<Pattern>>,
    /// A human approved the plan (`--approve`). `plan()` refuses production without it;
    /// `CampaignRunner` instead gates every environment on the risk decision and records it.
    pub approved: bool,
}

/// One component in the plan.
#[derive(Debug, Clone)]
pub struct PlannedComponent {
    pub component: Component,
    pub patterns: Vec<Pattern>,
    /// Patterns left out, with the reason.
    pub skipped: Vec<(Pattern, String)>,
}

/// A campaign plan.
#[derive(Debug, Clone)]
pub struct Plan {
    pub environment: Environment,
    pub components: Vec<PlannedComponent>,
    /// Components of the file not in this campaign, with the reason.
    pub not_selected: Vec<(String, String)>,
}

impl Plan {
    pub fn attack_count(&self) -> usize {
        self.components.iter().map(|c| c.patterns.len()).sum()
    }
}

/// Builds the plan. `rankings` maps component ids to their current ranking score.
pub fn plan(
    spec: &SystemSpec,
    opts: &PlanOptions,
    rankings: &HashMap<String, f64>,
) -> Result<Plan, CampaignError> {
    if spec.environment == Environment::Production && !opts.approved {
        return Err(CampaignError::ProductionNeedsApproval);
    }
    let limit = spec.blast_radius_limit;
    let mut not_selected = Vec::new();
    let testable: Vec<&Component> = spec
        .components
        .iter()
        .filter(|c| {
            let ok = c.kind == ComponentKind::ApiEndpoint;
            if !ok {
                not_selected.push((c.id.clone(), format!("no attacks for kind {} yet", c.kind)));
            }
            ok
        })
        .collect();

    let chosen: Vec<&Component> = match &opts.targets {
        Some(ids) => {
            let known = || {
                spec.components
                    .iter()
                    .map(|c| c.id.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            };
            let mut chosen = Vec::new();
            for id in ids {
                let c = spec
                    .components
                    .iter()
                    .find(|c| &c.id == id)
                    .ok_or_else(|| CampaignError::UnknownTarget {
                        id: id.clone(),
                        known: known(),
                    })?;
                if c.kind != ComponentKind::ApiEndpoint {
                    return Err(CampaignError::NothingTestable {
                        reason: format!(
                            "component `{id}` is a {}, which has no attacks yet",
                            c.kind
                        ),
                    });
                }
                if !chosen.iter().any(|x: &&Component| x.id == c.id) {
                    chosen.push(c);
                }
            }
            if chosen.len() > limit as usize {
                return Err(CampaignError::BlastRadius {
                    requested: chosen.len(),
                    limit,
                });
            }
            not_selected.extend(
                testable
                    .iter()
                    .filter(|c| !chosen.iter().any(|x| x.id == c.id))
                    .map(|c| (c.id.clone(), "not named in --targets".to_string())),
            );
            chosen
        }
        None => {
            let candidates: Vec<Candidate> = testable
                .iter()
                .map(|c| Candidate {
                    id: &c.id,
                    score: rankings.get(&c.id).copied(),
                })
                .collect();
            let ids = lowest_resilience_first(&candidates, limit as usize);
            for c in &testable {
                if !ids.contains(&c.id.as_str()) {
                    let score = rankings.get(&c.id).copied().unwrap_or(0.0);
                    not_selected.push((
                        c.id.clone(),
                        format!("blast radius {limit} reached (resilience {score:.2})"),
                    ));
                }
            }
            ids.iter()
                .filter_map(|id| testable.iter().find(|c| c.id == *id).copied())
                .collect()
        }
    };

    let components: Vec<PlannedComponent> = chosen
        .into_iter()
        .map(|c| plan_component(c, opts.patterns.as_deref()))
        .collect();
    if components.iter().all(|c| c.patterns.is_empty()) {
        let reasons: Vec<String> = components
            .iter()
            .flat_map(|c| {
                c.skipped
                    .iter()
                    .map(move |(p, r)| format!("{}/{p}: {r}", c.component.id))
            })
            .collect();
        return Err(CampaignError::NothingTestable {
            reason: if reasons.is_empty() {
                "no api_endpoint component in the system file".into()
            } else {
                format!(
                    "every selected pattern was skipped ({})",
                    reasons.join("; ")
                )
            },
        });
    }
    Ok(Plan {
        environment: spec.environment,
        components,
        not_selected,
    })
}

fn plan_component(c: &Component, only: Option<&[Pattern]>) -> PlannedComponent {
    let mut patterns = Vec::new();
    let mut skipped = Vec::new();
    // Run in the catalog's order (probes first, load last) whatever order the file lists.
    let requested = c.requested_patterns();
    for p in Pattern::API_ENDPOINT
        .iter()
        .copied()
        .filter(|p| requested.contains(p))
    {
        if only.is_some_and(|only| !only.contains(&p)) {
            skipped.push((p, "not in --patterns".to_string()));
            continue;
        }
        match not_applicable(c, p) {
            Some(reason) => skipped.push((p, reason)),
            None => patterns.push(p),
        }
    }
    PlannedComponent {
        component: c.clone(),
        patterns,
        skipped,
    }
}

/// Why a pattern cannot verify anything on this component (it claims no such guardrail, or
/// offers no input to attack).
pub fn not_applicable(c: &Component, p: Pattern) -> Option<String> {
    match p {
        Pattern::RateLimitBreach if c.guardrails.rate_limit.is_none() => {
            Some("no rate_limit guardrail claimed".into())
        }
        Pattern::AuthBypass if !c.guardrails.auth_required() => {
            Some("auth_required not claimed".into())
        }
        Pattern::SqlInjection
        | Pattern::XssAttack
        | Pattern::NullInjection
        | Pattern::TypeConfusion
            if c.input_endpoints().next().is_none() =>
        {
            Some("no endpoint with an {input} placeholder".into())
        }
        Pattern::MalformedData
            if c.input_endpoints().next().is_none()
                && !c.endpoints.iter().any(|e| e.body.is_some()) =>
        {
            Some("no endpoint with a JSON body or an {input} placeholder".into())
        }
        _ => None,
    }
}
