//! Named prepared statements and portals as the client sees them: for each, the statement
//! text (to attribute results), its row check (so every Execute of it is checked), or the
//! rejection (so a Bind, Describe or Execute of a rejected statement is refused too). Owned by
//! the client-side loop alone.

use std::collections::HashMap;
use std::sync::Arc;

use bytes::Bytes;

use super::rowcheck::CheckSpec;
use crate::pg::interceptor::Rejection;
use crate::pg::messages::Target;

/// Entries beyond this are not recorded. Safe: a rejected Parse never exists on the server,
/// so an unrecorded rejection still fails there (with the server's own error); a row check
/// that cannot be recorded is refused instead (see [`Statements::parsed`]).
const MAX_ENTRIES: usize = 100_000;

/// What a statement or portal name stands for.
#[derive(Debug, Clone)]
pub(crate) enum Prepared {
    Allowed(Arc<str>),
    /// Allowed, but every execution runs under this row check.
    Checked(Arc<str>, Arc<CheckSpec>),
    Rejected(Rejection),
}

/// Statements and portals of one session.
#[derive(Debug, Default)]
pub(crate) struct Statements {
    statements: HashMap<Bytes, Prepared>,
    portals: HashMap<Bytes, Prepared>,
}

impl Statements {
    /// A Parse under `name` (replacing the unnamed statement, or defining a named one).
    /// False when it could not be recorded: the caller must not let a row-checked statement
    /// through then, or its executions would go unchecked.
    pub(crate) fn parsed(&mut self, name: Bytes, prepared: Prepared) -> bool {
        insert(&mut self.statements, name, prepared)
    }

    /// A Bind of `statement` into `portal`; returns what the portal now stands for and
    /// whether that was recorded (see [`parsed`](Self::parsed)).
    pub(crate) fn bound(&mut self, portal: Bytes, statement: &Bytes) -> (Option<Prepared>, bool) {
        let prepared = self.statements.get(statement).cloned();
        let recorded = match &prepared {
            Some(p) => insert(&mut self.portals, portal, p.clone()),
            None => {
                self.portals.remove(&portal);
                true
            }
        };
        (prepared, recorded)
    }

    pub(crate) fn statement(&self, name: &Bytes) -> Option<&Prepared> {
        self.statements.get(name)
    }

    pub(crate) fn portal(&self, name: &Bytes) -> Option<&Prepared> {
        self.portals.get(name)
    }

    pub(crate) fn get(&self, target: Target, name: &Bytes) -> Option<&Prepared> {
        match target {
            Target::Statement => self.statement(name),
            Target::Portal => self.portal(name),
        }
    }

    /// A Close.
    pub(crate) fn closed(&mut self, target: Target, name: &Bytes) {
        match target {
            Target::Statement => self.statements.remove(name),
            Target::Portal => self.portals.remove(name),
        };
    }

    /// The transaction ended, so the server dropped its portals; keep only rejected ones
    /// (they must stay refused even if the client reuses the name by mistake).
    pub(crate) fn transaction_ended(&mut self) {
        self.portals
            .retain(|_, p| matches!(p, Prepared::Rejected(_)));
    }
}

fn insert(map: &mut HashMap<Bytes, Prepared>, name: Bytes, prepared: Prepared) -> bool {
    if map.len() < MAX_ENTRIES || map.contains_key(&name) {
        map.insert(name, prepared);
        true
    } else {
        false
    }
}
