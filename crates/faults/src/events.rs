//! The `fault_injected` event: one per fault that fired on a call, in the shared event model,
//! so a run can assert that a fault really fired (and on which call).

use serde_json::json;
use shakedown_core::Event;
use time::OffsetDateTime;

use crate::{CallInfo, FiredFault};

/// The event type of a fired fault.
pub const FAULT_INJECTED: &str = "fault_injected";

/// The component id the fault proxy's events carry.
pub const COMPONENT: &str = "fault-proxy";

/// The event for one fired fault: `{rule, family, fault, call_number, tool, model, url,
/// detail}`, where `fault` is the short name and `detail` the full resolved action.
pub fn fault_injected(call: &CallInfo, fired: &FiredFault, now: OffsetDateTime) -> Event {
    let data = json!({
        "rule": fired.rule,
        "family": fired.family,
        "fault": fired.fault.name(),
        "call_number": fired.call_number,
        "tool": call.tool,
        "model": call.model,
        "url": call.url,
        "detail": fired.fault,
    });
    Event::named(FAULT_INJECTED, None, Some(COMPONENT), data, now)
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use http::{HeaderMap, Method};

    use super::*;
    use crate::{Fault, FaultFamily};

    #[test]
    fn event_names_the_rule_call_and_action() {
        let call = crate::detect::describe(
            Method::POST,
            "http://127.0.0.1:9/tools/search".into(),
            "/t/tools/search".into(),
            "/tools/search",
            HeaderMap::new(),
            b"",
            None,
        );
        let fired = FiredFault {
            rule: "tool_faults[0]".into(),
            family: FaultFamily::ToolFault,
            call_number: 3,
            fault: Fault::Slow {
                delay: Duration::from_millis(250),
            },
            seed: 7,
        };
        let ev = fault_injected(&call, &fired, OffsetDateTime::UNIX_EPOCH);
        assert_eq!(ev.event_type, FAULT_INJECTED);
        assert_eq!(ev.component_id.as_deref(), Some(COMPONENT));
        assert_eq!(ev.data["rule"], "tool_faults[0]");
        assert_eq!(ev.data["family"], "tool_fault");
        assert_eq!(ev.data["fault"], "slow");
        assert_eq!(ev.data["call_number"], 3);
        assert_eq!(ev.data["tool"], "search");
        assert!(ev.data["model"].is_null());
        assert_eq!(ev.data["url"], "http://127.0.0.1:9/tools/search");
        assert_eq!(ev.data["detail"]["action"], "slow");
        let limited = FiredFault {
            fault: Fault::RateLimit(crate::RateLimitKind::Retryable {
                retry_after: Duration::from_secs(2),
            }),
            ..fired
        };
        let ev = fault_injected(&call, &limited, OffsetDateTime::UNIX_EPOCH);
        assert_eq!(ev.data["fault"], "rate_limit");
        assert_eq!(
            ev.data["detail"],
            serde_json::json!({"action": "rate_limit", "kind": "retryable",
                "retry_after": {"secs": 2, "nanos": 0}})
        );
    }
}
