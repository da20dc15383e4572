//! Action templates such as `{event.tables[0]}`: parsed once at load (an unknown placeholder
//! is a load error), rendered against the event that fired the trigger.
//!
//! Placeholders: `{event.tables[N]}` (the N-th table the statement touches),
//! `{event.table}` (same as `{event.tables[0]}`), `{event.parsed_type}` (statement type),
//! `{event.event_type}` (`sql_received`, …) and `{run.id}`.

use super::SqlEvent;

#[derive(Debug, Clone, PartialEq, Eq)]
enum Part {
    Lit(String),
    Table(usize),
    ParsedType,
    EventType,
    RunId,
}

/// A parsed template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Template {
    parts: Vec<Part>,
    source: String,
}

/// What a template is rendered against.
pub struct RenderContext<'a> {
    pub event: Option<&'a SqlEvent>,
    pub run_id: &'a str,
}

impl Template {
    /// Parses `text`; the error says which placeholder is wrong and lists the valid ones.
    pub fn parse(text: &str) -> Result<Template, String> {
        let mut parts = Vec::new();
        let mut rest = text;
        while let Some(open) = rest.find('{') {
            if open > 0 {
                parts.push(Part::Lit(rest[..open].to_string()));
            }
            let after = &rest[open + 1..];
            let close = after
                .find('}')
                .ok_or_else(|| format!("`{{` without a closing `}}` in `{text}`"))?;
            let name = after[..close].trim();
            let part = match name {
                "event.table" => Part::Table(0),
                "event.parsed_type" => Part::ParsedType,
                "event.event_type" => Part::EventType,
                "run.id" => Part::RunId,
                _ => match name
                    .strip_prefix("event.tables[")
                    .and_then(|s| s.strip_suffix(']'))
                    .and_then(|n| n.trim().parse::<usize>().ok())
                {
                    Some(i) => Part::Table(i),
                    None => {
                        return Err(format!(
                            "unknown placeholder `{{{name}}}`; use {{event.tables[N]}}, {{event.table}}, {{event.parsed_type}}, {{event.event_type}} or {{run.id}}"
                        ));
                    }
                },
            };
            parts.push(part);
            rest = &after[close + 1..];
        }
        if rest.contains('}') {
            return Err(format!("`}}` without an opening `{{` in `{text}`"));
        }
        if !rest.is_empty() {
            parts.push(Part::Lit(rest.to_string()));
        }
        Ok(Template {
            parts,
            source: text.to_string(),
        })
    }

    /// Whether rendering needs an event (time triggers have none).
    pub fn uses_event(&self) -> bool {
        self.parts
            .iter()
            .any(|p| matches!(p, Part::Table(_) | Part::ParsedType | Part::EventType))
    }

    /// If the template is exactly one table placeholder, its index: the table is then taken
    /// from the event as a name, not re-parsed from text.
    pub fn single_table(&self) -> Option<usize> {
        match self.parts.as_slice() {
            [Part::Table(i)] => Some(*i),
            _ => None,
        }
    }

    pub fn source(&self) -> &str {
        &self.source
    }

    /// Renders the template; `None` if a placeholder has no value (no event, or fewer tables).
    pub fn render(&self, ctx: &RenderContext) -> Option<String> {
        let mut out = String::new();
        for p in &self.parts {
            match p {
                Part::Lit(s) => out.push_str(s),
                Part::Table(i) => out.push_str(&ctx.event?.tables.get(*i)?.to_string()),
                Part::ParsedType => out.push_str(ctx.event?.statement_type?.as_str()),
                Part::EventType => out.push_str(ctx.event?.event_type.as_str()),
                Part::RunId => out.push_str(ctx.run_id),
            }
        }
        Some(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::classify::{StatementType, TableName};
    use crate::event::SqlEventType;

    #[test]
    fn parses_and_renders() {
        let ev = SqlEvent {
            event_type: SqlEventType::SqlReceived,
            statement_type: Some(StatementType::Delete),
            ops: Vec::new(),
            tables: vec![
                TableName::new(None, "users"),
                TableName::new(Some("s"), "t"),
            ],
            rows: None,
        };
        let ctx = RenderContext {
            event: Some(&ev),
            run_id: "r1",
        };
        let t = Template::parse("{event.tables[1]}_{event.parsed_type}-{run.id}").unwrap();
        assert_eq!(t.render(&ctx).as_deref(), Some("s.t_DELETE-r1"));
        assert!(t.uses_event());
        assert_eq!(
            Template::parse("{event.tables[0]}").unwrap().single_table(),
            Some(0)
        );
        assert_eq!(
            Template::parse("{event.table}").unwrap().single_table(),
            Some(0)
        );
        assert_eq!(
            Template::parse("{event.tables[5]}").unwrap().render(&ctx),
            None
        );
        let no_event = RenderContext {
            event: None,
            run_id: "r",
        };
        assert_eq!(
            Template::parse("{event.table}").unwrap().render(&no_event),
            None
        );
        assert_eq!(
            Template::parse("plain")
                .unwrap()
                .render(&no_event)
                .as_deref(),
            Some("plain")
        );
        assert!(!Template::parse("x_{run.id}").unwrap().uses_event());
        for bad in ["{event.tabels[0]}", "{oops", "x}", "{event.tables[a]}"] {
            assert!(Template::parse(bad).is_err(), "{bad}");
        }
    }
}
