//! Running a campaign: ledger writable? → plan → risk score and approval (recorded in the signed
//! ledger) → scope check of every target (before any packet) → execute each (component,
//! pattern) → score → persist → rank → events, every step in the ledger.

use std::collections::HashMap;
use std::sync::Arc;

use serde_json::json;
use shakedown_attack::{AttackContext, Limits, Target, execute, resolve_target};
use shakedown_core::AttackResult;
use shakedown_core::HumanDuration;
use shakedown_core::campaign::{CampaignRecord, CampaignStatus};
use shakedown_core::event::{Event, EventType};
use shakedown_core::system::{EngineSettings, ScopeRule, SystemSpec};
use shakedown_govern::Decision;
use shakedown_store::Store;
use time::OffsetDateTime;
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

use crate::error::{CampaignError, decision_name};
use crate::events::EventBus;
use crate::governance::{
    CAMPAIGN_CATEGORY, Governance, campaign_plan_snapshot, campaign_risk, plan_hash, risk_data,
};
use crate::plan::{Plan, PlanOptions, plan};
use crate::progress::Progress;

/// Looks up a secret by environment-variable name.
pub type SecretLookup = Arc<dyn Fn(&str) -> Option<String> + Send + Sync>;

/// Everything about one campaign run besides the system file.
#[derive(Clone)]
pub struct RunOptions {
    /// Path of the system file, recorded with the campaign.
    pub system_file: String,
    pub plan: PlanOptions,
    /// Score at or above which the campaign passes (0..=1).
    pub threshold: f64,
    pub limits: Limits,
    /// Where `auth.token_env` secrets come from (the process environment by default).
    pub secrets: SecretLookup,
    /// A signed approval of this exact plan (`shakedown approve`), checked against the plan's
    /// hash, its signature and the clock.
    pub approval: Option<shakedown_govern::Approval>,
    /// The campaign's id, when the caller must know it before the campaign ends (the API
    /// answers with it at once); a fresh one otherwise.
    pub campaign_id: Option<String>,
}

impl RunOptions {
    pub fn new(system_file: impl Into<String>) -> RunOptions {
        RunOptions {
            system_file: system_file.into(),
            plan: PlanOptions::default(),
            threshold: 0.8,
            limits: Limits::default(),
            secrets: Arc::new(|name| std::env::var(name).ok()),
            approval: None,
            campaign_id: None,
        }
    }
}

/// Runs campaigns against one store, bus and halt token.
pub struct CampaignRunner {
    pub store: Arc<dyn Store>,
    pub bus: EventBus,
    pub progress: Arc<dyn Progress>,
    /// Cancelled on halt (Ctrl-C, SIGTERM): in-flight attacks stop, nothing new starts.
    pub halt: CancellationToken,
    /// The signed ledger every step is recorded in; the risk decision gates the start.
    pub governance: Governance,
}

/// A fresh campaign id (`chaos_` and 8 hex digits).
pub fn new_campaign_id() -> String {
    format!("chaos_{:08x}", rand::random::<u32>())
}

/// The plan a campaign with `opts` would run now against `store`'s rankings, its snapshot and
/// hash — what `shakedown approve` signs and a campaign checks an approval against.
pub fn planned(
    store: &dyn Store,
    spec: &SystemSpec,
    opts: &RunOptions,
) -> Result<(Plan, serde_json::Value, shakedown_govern::PlanHash), CampaignError> {
    let ranking_list = store.rankings()?;
    let rankings: HashMap<String, f64> = ranking_list
        .iter()
        .map(|r| (r.component_id.clone(), r.resilience_score))
        .collect();
    let mut plan_opts = opts.plan.clone();
    plan_opts.approved = true;
    let plan = plan(spec, &plan_opts, &rankings)?;
    let snapshot = campaign_plan_snapshot(&plan, spec);
    let hash = plan_hash(&snapshot);
    Ok((plan, snapshot, hash))
}

impl CampaignRunner {
    pub async fn run(
        &self,
        spec: &SystemSpec,
        opts: &RunOptions,
    ) -> Result<CampaignRecord, CampaignError> {
        // Fail closed: nothing is planned, resolved or sent unless the ledger can record it.
        self.governance.ledger.check_writable()?;
        let ranking_list = self.store.rankings()?;
        // The risk decision below gates every environment, production included, and records
        // the refusal; the planner's own production check would refuse unrecorded.
        let (plan, snapshot, plan_hash) = planned(self.store.as_ref(), spec, opts)?;
        let limits = apply_engine_settings(opts.limits.clone(), &spec.engine);
        let id = opts.campaign_id.clone().unwrap_or_else(new_campaign_id);
        let env = plan.environment;
        let gov = &self.governance;

        gov.record(
            CAMPAIGN_CATEGORY,
            env,
            "requested",
            &id,
            json!({
                "system_file": opts.system_file,
                "plan": snapshot,
                "plan_hash": plan_hash.0,
                "not_selected": plan.not_selected,
            }),
        )?;
        let risk = campaign_risk(&plan, spec.blast_radius_limit, &ranking_list);
        gov.record(CAMPAIGN_CATEGORY, env, "risk_scored", &id, risk_data(&risk))?;
        let decision = decision_name(risk.decision);
        if risk.decision == Decision::AutoApproved {
            gov.record_as(
                "shakedown",
                CAMPAIGN_CATEGORY,
                env,
                "approved",
                &id,
                json!({"by": "risk_score", "decision": decision, "score": risk.score, "plan_hash": plan_hash.0}),
            )?;
        } else if opts.plan.approved {
            gov.record(
                CAMPAIGN_CATEGORY,
                env,
                "approved",
                &id,
                json!({"by": "--approve", "decision": decision, "score": risk.score, "plan_hash": plan_hash.0}),
            )?;
        } else if let Some(approval) = &opts.approval {
            let signer = crate::approval_signer::LedgerSigner(gov.ledger.keys());
            if let Err(e) = approval.check(&plan_hash, &shakedown_govern::SystemClock, &signer) {
                gov.record(
                    CAMPAIGN_CATEGORY,
                    env,
                    "denied",
                    &id,
                    json!({"reason": e.to_string(), "approver": approval.approver, "decision": decision, "score": risk.score, "plan_hash": plan_hash.0}),
                )?;
                return Err(CampaignError::Approval(e.to_string()));
            }
            gov.record(
                CAMPAIGN_CATEGORY,
                env,
                "approved",
                &id,
                json!({"by": "approval", "approver": approval.approver, "expires_at": approval.expires_at.to_string(), "decision": decision, "score": risk.score, "plan_hash": plan_hash.0}),
            )?;
        } else {
            gov.record(
                CAMPAIGN_CATEGORY,
                env,
                "denied",
                &id,
                json!({"reason": "approval required, none given", "decision": decision, "score": risk.score, "plan_hash": plan_hash.0}),
            )?;
            return Err(CampaignError::NeedsApproval {
                environment: env.as_str(),
                score: risk.score,
                decision,
            });
        }

        // Scope first: every target is resolved and checked before a single packet is sent
        // to any of them, and every secret is present. A refusal here is recorded too.
        let contexts = match self.resolve_all(spec, &plan, opts).await {
            Ok(c) => c,
            Err(e) => {
                gov.record(
                    CAMPAIGN_CATEGORY,
                    env,
                    "refused",
                    &id,
                    json!({"reason": e.to_string()}),
                )?;
                return Err(e);
            }
        };

        let names: Vec<(String, String)> = plan
            .components
            .iter()
            .map(|c| {
                (
                    c.component.id.clone(),
                    c.component.display_name().to_string(),
                )
            })
            .collect();
        let mut record = CampaignRecord {
            campaign_id: id.clone(),
            status: CampaignStatus::Running,
            environment: plan.environment,
            system_file: opts.system_file.clone(),
            target_components: names.iter().map(|(id, _)| id.clone()).collect(),
            threshold: opts.threshold,
            started_at: OffsetDateTime::now_utc(),
            finished_at: None,
            score: None,
            tests_run: 0,
            tests_passed: 0,
            tests_failed: 0,
            tests_inconclusive: 0,
            components: Vec::new(),
            results: Vec::new(),
        };
        record.tally(&names);
        self.store.insert_campaign(&record)?;
        gov.record(
            CAMPAIGN_CATEGORY,
            env,
            "started",
            &id,
            json!({"plan_hash": plan_hash.0, "attacks": plan.attack_count()}),
        )?;
        self.bus.publish(Event::new(
            EventType::CampaignStarted,
            Some(&id),
            None,
            json!({
                "environment": plan.environment,
                "target_components": record.target_components,
                "patterns": plan.components.iter().map(|c| (c.component.id.clone(), c.patterns.clone())).collect::<HashMap<_, _>>(),
                "not_selected": plan.not_selected,
                "system_file": opts.system_file,
            }),
            record.started_at,
        ))?;
        self.progress.campaign_started(&plan);

        let mut seq = 0u32;
        'components: for (pc, (target, auth)) in plan.components.iter().zip(contexts) {
            self.progress.component_started(pc);
            let ctx = AttackContext {
                component: pc.component.clone(),
                target,
                auth,
                halt: self.halt.clone(),
                limits: limits.clone(),
            };
            for &pattern in &pc.patterns {
                if self.halt.is_cancelled() {
                    break 'components;
                }
                self.progress.attack_started(&pc.component.id, pattern);
                // Instrumented, not entered: an entered span must not live across an await.
                let span = tracing::info_span!("attack", campaign_id = %id, component = %pc.component.id, pattern = %pattern);
                let result = execute(pattern, &ctx).instrument(span).await;
                self.store.insert_result(&id, seq, &result)?;
                gov.record(
                    CAMPAIGN_CATEGORY,
                    env,
                    "attack",
                    &id,
                    json!({
                        "seq": seq,
                        "component": result.component_id,
                        "pattern": result.pattern,
                        "verdict": result.verdict,
                        "severity": result.severity,
                        "requests_sent": result.evidence.requests_sent,
                    }),
                )?;
                seq += 1;
                self.bus.publish(injection_event(&id, &result))?;
                self.progress.attack_finished(&result);
                record.results.push(result);
            }
            record.tally(&names);
            if let Some(score) = record
                .components
                .iter()
                .find(|s| s.component_id == pc.component.id)
            {
                self.progress.component_finished(score);
            }
        }

        record.tally(&names);
        record.finished_at = Some(OffsetDateTime::now_utc());
        record.status = if self.halt.is_cancelled() {
            CampaignStatus::HaltedByGuardian
        } else {
            CampaignStatus::Completed
        };
        // Rankings move only on completed campaigns: a halted one saw a partial picture.
        if record.status == CampaignStatus::Completed {
            for cs in &record.components {
                if let Some(score) = cs.resilience {
                    let tests = cs.passed + cs.failed + cs.inconclusive;
                    self.store.record_campaign_score(
                        &cs.component_id,
                        &cs.component_name,
                        &id,
                        score,
                        tests,
                        record.finished_at.unwrap_or(record.started_at),
                    )?;
                }
            }
        }
        self.store.finish_campaign(&record)?;
        if record.status == CampaignStatus::HaltedByGuardian {
            gov.record(
                CAMPAIGN_CATEGORY,
                env,
                "halted",
                &id,
                json!({"by": "signal", "attacks_run": record.results.len(), "attacks_planned": plan.attack_count()}),
            )?;
        }
        gov.record(
            CAMPAIGN_CATEGORY,
            env,
            "completed",
            &id,
            json!({
                "status": record.status,
                "score": record.score,
                "tests_run": record.tests_run,
                "tests_passed": record.tests_passed,
                "tests_failed": record.tests_failed,
                "tests_inconclusive": record.tests_inconclusive,
            }),
        )?;
        self.bus.publish(Event::new(
            EventType::CampaignCompleted,
            Some(&id),
            None,
            json!({
                "status": record.status,
                "score": record.score,
                "tests_run": record.tests_run,
                "tests_passed": record.tests_passed,
                "tests_failed": record.tests_failed,
                "tests_inconclusive": record.tests_inconclusive,
                "components": record.components,
            }),
            record.finished_at.unwrap_or(record.started_at),
        ))?;
        Ok(record)
    }

    /// Resolves and scope-checks every target and reads every secret, before any packet.
    async fn resolve_all(
        &self,
        spec: &SystemSpec,
        plan: &Plan,
        opts: &RunOptions,
    ) -> Result<Vec<(Target, Option<(String, String)>)>, CampaignError> {
        let scope = ScopeRule::parse(&spec.scope.allow).map_err(|reason| {
            CampaignError::NothingTestable {
                reason: format!("invalid scope: {reason}"),
            }
        })?;
        let mut contexts = Vec::new();
        for pc in &plan.components {
            let target = resolve_target(&pc.component, &scope).await?;
            let auth = match &pc.component.auth {
                Some(a) => {
                    let secret = (opts.secrets)(&a.token_env).ok_or_else(|| {
                        CampaignError::MissingSecret {
                            component: pc.component.id.clone(),
                            var: a.token_env.clone(),
                        }
                    })?;
                    Some((a.header.clone(), a.header_value(&secret)))
                }
                None => None,
            };
            contexts.push((target, auth));
        }
        Ok(contexts)
    }
}

/// The system file's `engine:` overrides on top of the caller's limits.
pub fn apply_engine_settings(mut l: Limits, e: &EngineSettings) -> Limits {
    let d = |v: Option<HumanDuration>, cur: std::time::Duration| v.map_or(cur, |h| h.as_duration());
    l.request_timeout = d(e.request_timeout, l.request_timeout);
    l.max_attack_duration = d(e.max_attack_duration, l.max_attack_duration);
    l.recovery_window = d(e.recovery_window, l.recovery_window);
    l.slowloris_grace = d(e.slowloris_grace, l.slowloris_grace);
    l.sql_sleep = d(e.sql_sleep, l.sql_sleep);
    if let Some(n) = e.slowloris_connections {
        l.slowloris_connections = n as usize;
    }
    if let Some(n) = e.exhaustion_connections {
        l.exhaustion_connections = n as usize;
    }
    if let Some(n) = e.burst_concurrency {
        l.burst_concurrency = Some(n as usize);
    }
    l
}

fn injection_event(campaign_id: &str, r: &AttackResult) -> Event {
    Event::new(
        EventType::Injection,
        Some(campaign_id),
        Some(&r.component_id),
        json!({
            "component_id": r.component_id,
            "stress_pattern": r.pattern,
            "verdict": r.verdict,
            "success": r.verdict == shakedown_core::Verdict::Passed,
            "guardrail": r.guardrail,
            "guardrail_triggered": r.guardrail_triggered,
            "severity": r.severity,
            "summary": r.summary,
            "metrics": {
                "requests_sent": r.evidence.requests_sent,
                "status_histogram": r.evidence.status_histogram,
                "latency": r.evidence.latency,
                "duration_ms": r.duration_ms,
                "recovery_ms": r.recovery.as_ref().and_then(|x| x.recovery_ms),
            },
        }),
        OffsetDateTime::now_utc(),
    )
}

#[cfg(test)]
mod send_tests {
    use super::*;

    /// The API spawns campaigns on its multi-threaded runtime: the future must be `Send`.
    #[allow(dead_code)]
    fn a_campaign_future_is_send(r: &CampaignRunner, s: &SystemSpec, o: &RunOptions) {
        fn send<T: Send>(_: T) {}
        send(r.run(s, o));
    }
}
