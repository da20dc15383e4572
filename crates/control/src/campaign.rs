//! Running a campaign: ledger writable? → plan → risk score and approval (recorded in the signed
//! ledger) → scope check of every target (before any packet) → execute each (component,
//! pattern) → score → persist → rank → events, every step in the ledger.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;

use serde_json::json;
use shakedown_attack::{AttackContext, Limits, Target, execute, resolve_target};
use shakedown_core::AttackResult;
use shakedown_core::HumanDuration;
use shakedown_core::campaign::{CampaignRecord, CampaignStatus};
use shakedown_core::event::{Event, EventType};
use shakedown_core::system::{EngineSettings, ScopeRule, SystemSpec};
use shakedown_govern::{Clock, Decision, Permission, SharedClock};
use shakedown_store::Store;
use time::OffsetDateTime;
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

use crate::error::{CampaignError, decision_name};
use crate::events::EventBus;
use crate::governance::{
    CAMPAIGN_CATEGORY, Governance, campaign_plan_snapshot, campaign_risk, plan_hash, risk_data,
};
use crate::launch::Refusal;
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
    /// Who asked for the campaign, when that is not the ledger actor (the API runs an approved
    /// request as its approver): an escalated plan's approver may not be its requester.
    pub requested_by: Option<String>,
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
            requested_by: None,
        }
    }
}

/// Runs campaigns against one store, bus and halt token. Built with [`CampaignRunner::new`]
/// and the `with_*` methods; the defaults (no progress output, a halt token of its own, the
/// system clock, no error budgets) suit a library caller, the CLI and the server set each.
pub struct CampaignRunner {
    pub store: Arc<dyn Store>,
    pub bus: EventBus,
    pub progress: Arc<dyn Progress>,
    /// Cancelled on halt (Ctrl-C, SIGTERM): in-flight attacks stop, nothing new starts.
    pub halt: CancellationToken,
    /// The signed ledger every step is recorded in; the risk decision gates the start.
    pub governance: Governance,
    /// Where governance reads the time: approvals are checked and budgets refilled against it,
    /// so a skewed clock yields a refusal ("approval expired"), never an accidental pass.
    pub clock: SharedClock,
    /// The data directory: its error budgets are reserved and burned, and its halt latch
    /// names who halted a halted campaign; `None`: no budgets (library use).
    pub data_dir: Option<PathBuf>,
}

impl CampaignRunner {
    /// A runner over `store`, `bus` and `governance`, with the defaults above.
    pub fn new(store: Arc<dyn Store>, bus: EventBus, governance: Governance) -> CampaignRunner {
        CampaignRunner {
            store,
            bus,
            progress: Arc::new(crate::progress::NoProgress),
            halt: CancellationToken::new(),
            governance,
            clock: SharedClock::default(),
            data_dir: None,
        }
    }

    pub fn with_progress(mut self, progress: Arc<dyn Progress>) -> Self {
        self.progress = progress;
        self
    }

    pub fn with_halt(mut self, halt: CancellationToken) -> Self {
        self.halt = halt;
        self
    }

    pub fn with_clock(mut self, clock: SharedClock) -> Self {
        self.clock = clock;
        self
    }

    /// Reserve and burn the error budgets of `data_dir`, and read its halt latch.
    pub fn with_data_dir(mut self, data_dir: impl Into<PathBuf>) -> Self {
        self.data_dir = Some(data_dir.into());
        self
    }
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
        let requester = opts.requested_by.as_deref().unwrap_or(&gov.actor);
        let deny = |reason: String, extra: serde_json::Value| -> Result<(), CampaignError> {
            let mut data = json!({"reason": reason, "decision": decision, "score": risk.score, "plan_hash": plan_hash.0, "requested_by": requester});
            if let (Some(d), Some(e)) = (data.as_object_mut(), extra.as_object()) {
                d.extend(e.clone());
            }
            gov.record(CAMPAIGN_CATEGORY, env, "denied", &id, data)?;
            Ok(())
        };
        if risk.decision == Decision::AutoApproved {
            gov.record_as(
                "shakedown",
                CAMPAIGN_CATEGORY,
                env,
                "approved",
                &id,
                json!({"by": "risk_score", "decision": decision, "score": risk.score, "plan_hash": plan_hash.0}),
            )?;
        } else if let Some(approval) = &opts.approval {
            let signer = crate::approval_signer::LedgerSigner(gov.ledger.keys());
            if let Err(e) = approval.check(&plan_hash, &self.clock, &signer) {
                deny(e.to_string(), json!({"approver": approval.approver}))?;
                return Err(CampaignError::Approval(e.to_string()));
            }
            if risk.decision == Decision::Escalated
                && let Err(reason) = self.escalation_approver(approval, requester, &plan)
            {
                deny(reason.clone(), json!({"approver": approval.approver}))?;
                return Err(CampaignError::Approval(reason));
            }
            gov.record(
                CAMPAIGN_CATEGORY,
                env,
                "approved",
                &id,
                json!({"by": "approval", "approver": approval.approver, "requested_by": requester, "expires_at": approval.expires_at.to_string(), "decision": decision, "score": risk.score, "plan_hash": plan_hash.0}),
            )?;
        } else if opts.plan.approved && risk.decision == Decision::PendingManual {
            // A pending-manual plan may be approved by the operator running it.
            gov.record(
                CAMPAIGN_CATEGORY,
                env,
                "approved",
                &id,
                json!({"by": "--approve", "approver": gov.actor, "decision": decision, "score": risk.score, "plan_hash": plan_hash.0}),
            )?;
        } else if risk.decision == Decision::Escalated {
            let reason = if opts.plan.approved {
                "escalated: --approve by the operator is not enough; an account holding `approve` must approve"
            } else {
                "escalated: approval by an account holding `approve` required, none given"
            };
            deny(reason.into(), json!({}))?;
            return Err(CampaignError::NeedsEscalatedApproval {
                environment: env.as_str(),
                score: risk.score,
            });
        } else {
            deny("approval required, none given".into(), json!({}))?;
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

        // The budget is reserved for every planned attack before the first one, checked and
        // burned under one lock, so concurrent campaigns cannot together overshoot it.
        let reservation = self.reserve_budget(spec, &plan, &id)?;
        let mut injected = 0usize;
        let outcome: Result<CampaignRecord, CampaignError> = async {
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
                    // Injected, whatever happens next: the budget is burned for it.
                    injected += 1;
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
                // Who pulled the lever (`signal` for a signal to this process), or — with no
                // latch set — a stop of this campaign alone (server shutdown, its own token).
                let halted_by = self
                    .data_dir
                    .as_deref()
                    .and_then(crate::halt_latch::halted)
                    .map_or_else(|| "cancelled".to_string(), |l| l.by);
                gov.record(
                    CAMPAIGN_CATEGORY,
                    env,
                    "halted",
                    &id,
                    json!({"by": halted_by, "attacks_run": record.results.len(), "attacks_planned": plan.attack_count()}),
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
        .await;
        // Settled on every outcome: a campaign that failed part-way still burns what it
        // injected, and gives back only what it never sent.
        if let Some(r) = reservation
            && let Err(e) = r.settle(self.clock.now(), injected)
        {
            tracing::error!(campaign_id = %id, error = %e, "cannot settle the error budget; the whole reservation stays burned");
        }
        outcome
    }

    /// Reserves the error budget for every planned attack; a refusal is recorded.
    fn reserve_budget(
        &self,
        spec: &SystemSpec,
        plan: &Plan,
        id: &str,
    ) -> Result<Option<crate::budget_gate::Reservation>, CampaignError> {
        let (Some(dir), Some(settings)) = (&self.data_dir, spec.effective_error_budget()) else {
            return Ok(None);
        };
        let now = self.clock.now();
        match crate::budget_gate::reserve(
            dir,
            plan.environment,
            &settings,
            now,
            plan.attack_count(),
        )
        .map_err(|e| CampaignError::Refused(Refusal::Budgets(e.to_string())))?
        {
            Ok(r) => Ok(Some(r)),
            Err(decision) => {
                let (remaining, retry_after) = match decision {
                    crate::budget_gate::BudgetDecision::Exhausted {
                        remaining,
                        retry_after,
                    } => (remaining, retry_after),
                    crate::budget_gate::BudgetDecision::Allowed { remaining } => {
                        (remaining, time::Duration::ZERO)
                    }
                };
                let refusal = Refusal::BudgetExhausted {
                    environment: plan.environment,
                    remaining,
                    threshold: settings.threshold,
                    retry_after_secs: retry_after.whole_seconds().max(1),
                };
                self.governance.record(
                    CAMPAIGN_CATEGORY,
                    plan.environment,
                    "budget_gate",
                    id,
                    json!({
                        "gate": refusal.gate(),
                        "remaining": remaining,
                        "threshold": settings.threshold,
                        "planned_injections": plan.attack_count(),
                        "retry_after_secs": retry_after.whole_seconds().max(1),
                    }),
                )?;
                Err(CampaignError::Refused(refusal))
            }
        }
    }

    /// An escalated plan's approval must come from an account of the store holding `approve`
    /// in the plan's environment for every planned component, and not from its requester.
    fn escalation_approver(
        &self,
        approval: &shakedown_govern::Approval,
        requester: &str,
        plan: &Plan,
    ) -> Result<(), String> {
        let scope = shakedown_govern::rbac::environment_scope(plan.environment);
        if approval.approver == requester {
            return Err(format!(
                "`{requester}` requested this escalated plan and may not approve it; another account holding `approve` in {scope}:* must"
            ));
        }
        let row = self
            .store
            .account(&approval.approver)
            .map_err(|e| format!("cannot look up the approver: {e}"))?
            .ok_or_else(|| {
                format!(
                    "the approver `{}` is not an account; an escalated plan needs an approval by an account holding `approve` in {scope}:* (`shakedown approve --token`)",
                    approval.approver
                )
            })?;
        let account = crate::auth::account_of(&row).map_err(|e| e.to_string())?;
        for pc in &plan.components {
            account
                .authorize(Permission::Approve, plan.environment, &pc.component.id)
                .map_err(|d| format!("the approver may not approve this escalated plan: {d}"))?;
        }
        Ok(())
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
