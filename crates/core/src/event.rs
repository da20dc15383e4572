//! The event model shared by campaigns, proxies and agent runs.

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use uuid::Uuid;

/// Event types emitted by campaigns.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum EventType {
    #[serde(rename = "chaos.campaign.started")]
    CampaignStarted,
    #[serde(rename = "chaos.injection")]
    Injection,
    #[serde(rename = "chaos.campaign.completed")]
    CampaignCompleted,
}

impl EventType {
    pub fn as_str(self) -> &'static str {
        match self {
            EventType::CampaignStarted => "chaos.campaign.started",
            EventType::Injection => "chaos.injection",
            EventType::CampaignCompleted => "chaos.campaign.completed",
        }
    }
}

/// One event: stored, streamed as a JSON line, and published on the bus.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Event {
    pub id: Uuid,
    pub event_type: String,
    #[serde(with = "time::serde::rfc3339")]
    pub timestamp: OffsetDateTime,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub campaign_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub component_id: Option<String>,
    pub data: serde_json::Value,
}

impl Event {
    /// An event of any type by name (e.g. the SQL proxy's `sql_blocked`).
    pub fn named(
        event_type: &str,
        campaign_id: Option<&str>,
        component_id: Option<&str>,
        data: serde_json::Value,
        now: OffsetDateTime,
    ) -> Event {
        Event {
            id: Uuid::new_v4(),
            event_type: event_type.to_string(),
            timestamp: now,
            campaign_id: campaign_id.map(str::to_string),
            component_id: component_id.map(str::to_string),
            data,
        }
    }

    pub fn new(
        event_type: EventType,
        campaign_id: Option<&str>,
        component_id: Option<&str>,
        data: serde_json::Value,
        now: OffsetDateTime,
    ) -> Event {
        Event::named(event_type.as_str(), campaign_id, component_id, data, now)
    }
}
