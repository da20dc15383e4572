//! Walking a parsed statement to find every table it touches and what it does to each.
//!
//! The structure that decides *what* happens to a table (statement targets, WITH scopes, set
//! operations, FROM lists) is walked by hand, so CTE names are scoped exactly as PostgreSQL
//! scopes them: a non-recursive CTE sees only the CTEs before it, a recursive one sees all of
//! them, and a name outside its WITH is a real table again. Everything else (expressions,
//! projections, join conditions, ORDER BY…) goes through sqlparser's visitor, which hands every
//! nested query back to this walker with the scope in force, so subqueries in WHERE, IN,
//! EXISTS or a SELECT list are never missed.

use std::ops::ControlFlow;

use sqlparser::ast::{
    BinaryOperator, CommentObject, CopySource, CopyTarget, CreateTableLikeKind, Delete, Expr,
    FromTable, GrantObjects, Ident, Insert, MergeAction, MergeUpdateKind, ObjectName,
    ObjectNamePart, ObjectType, OnConflictAction, OnInsert, Privileges, Query, Select, SelectItem,
    Set, SetExpr, Statement, TableFactor, TableObject, UnaryOperator, Update, UpdateTableFromKind,
    Value, Visit, Visitor,
};

use super::risk::{RiskFactor, function_risk};
use super::types::{StatementType, TableAction, TableName, TableOp, TxnControl};

/// What the walk found.
#[derive(Default)]
pub struct Walk {
    pub actions: Vec<TableAction>,
    pub columns: Vec<String>,
    pub functions: Vec<String>,
    pub factors: Vec<RiskFactor>,
    /// CTE names in scope, innermost last.
    ctes: Vec<String>,
    /// Depth inside WITH bodies: writes there are data-modifying CTEs.
    in_cte: u32,
}

/// An identifier as PostgreSQL folds it.
pub fn ident(i: &Ident) -> String {
    if i.quote_style.is_some() {
        i.value.clone()
    } else {
        i.value.to_lowercase()
    }
}

fn idents(name: &ObjectName) -> impl DoubleEndedIterator<Item = &Ident> {
    name.0.iter().filter_map(|p| match p {
        ObjectNamePart::Identifier(i) => Some(i),
        _ => None,
    })
}

/// A table name from a (possibly qualified) object name.
pub fn table_name(name: &ObjectName) -> Option<TableName> {
    let mut parts = idents(name).rev();
    let table = ident(parts.next()?);
    let schema = parts.next().map(ident);
    Some(TableName {
        schema,
        name: table,
    })
}

fn last_ident(name: &ObjectName) -> Option<String> {
    idents(name).next_back().map(ident)
}

impl Walk {
    fn push_unique(list: &mut Vec<String>, s: String) {
        if !list.contains(&s) {
            list.push(s);
        }
    }

    fn factor(&mut self, f: RiskFactor) {
        if !self.factors.contains(&f) {
            self.factors.push(f);
        }
    }

    fn column(&mut self, name: String) {
        Self::push_unique(&mut self.columns, name);
    }

    fn function(&mut self, name: &ObjectName) {
        if let Some(n) = last_ident(name) {
            let n = n.to_ascii_lowercase();
            if let Some((level, why)) = function_risk(&n) {
                self.factor(RiskFactor::Function {
                    name: n.clone(),
                    level,
                    why,
                });
            }
            Self::push_unique(&mut self.functions, n);
        }
    }

    fn act(&mut self, op: TableOp, table: TableName, has_where: bool, columns: Vec<String>) {
        let action = TableAction {
            op,
            table,
            has_where,
            columns,
            in_cte: self.in_cte > 0 && op.is_write(),
        };
        if !self.actions.contains(&action) {
            self.actions.push(action);
        }
    }

    /// A write (or DDL) on a named object: never a CTE reference.
    fn write(&mut self, op: TableOp, name: &ObjectName, has_where: bool, columns: Vec<String>) {
        if let Some(t) = table_name(name) {
            self.act(op, t, has_where, columns);
        }
    }

    /// A read of a relation: skipped when the name is a CTE in scope.
    fn read(&mut self, op: TableOp, name: &ObjectName, has_where: bool) {
        if let Some(t) = table_name(name) {
            if t.schema.is_none() && self.ctes.contains(&t.name) {
                return;
            }
            self.act(op, t, has_where, Vec::new());
        }
    }

    /// Visits any AST node: relations found at this level are reads, nested queries are walked.
    fn visit<V: Visit>(&mut self, node: &V, has_where: bool) {
        self.visit_as(node, TableOp::Select, has_where);
    }

    fn visit_as<V: Visit>(&mut self, node: &V, op: TableOp, has_where: bool) {
        let mut v = Inner {
            w: self,
            depth: 0,
            skip_relation: false,
            op,
            has_where,
        };
        let _ = node.visit(&mut v);
    }

    fn select_items(&mut self, items: &[SelectItem]) {
        for item in items {
            if matches!(
                item,
                SelectItem::Wildcard(_) | SelectItem::QualifiedWildcard(..)
            ) {
                self.column("*".into());
            }
        }
        for item in items {
            self.visit(item, false);
        }
    }

    /// Walks a query with its WITH scope.
    pub fn query(&mut self, q: &Query) {
        let saved = self.ctes.len();
        if let Some(with) = &q.with {
            if with.recursive {
                for c in &with.cte_tables {
                    self.ctes.push(ident(&c.alias.name));
                }
            }
            for c in &with.cte_tables {
                self.in_cte += 1;
                self.query(&c.query);
                self.in_cte -= 1;
                if !with.recursive {
                    self.ctes.push(ident(&c.alias.name));
                }
            }
        }
        self.set_expr(&q.body);
        self.visit(&q.order_by, false);
        self.visit(&q.limit_clause, false);
        self.visit(&q.fetch, false);
        self.ctes.truncate(saved);
    }

    fn set_expr(&mut self, e: &SetExpr) {
        match e {
            SetExpr::Select(s) => self.select(s),
            SetExpr::Query(q) => self.query(q),
            SetExpr::SetOperation { left, right, .. } => {
                self.set_expr(left);
                self.set_expr(right);
            }
            SetExpr::Insert(s) | SetExpr::Update(s) | SetExpr::Delete(s) | SetExpr::Merge(s) => {
                self.statement(s, StatementType::Other);
            }
            SetExpr::Table(t) => {
                if let Some(name) = &t.table_name {
                    let table = TableName {
                        schema: t.schema_name.as_ref().map(|s| s.to_lowercase()),
                        name: name.to_lowercase(),
                    };
                    if table.schema.is_some() || !self.ctes.contains(&table.name) {
                        self.act(TableOp::Select, table, false, Vec::new());
                    }
                }
            }
            other => self.visit(other, false),
        }
    }

    fn select(&mut self, s: &Select) {
        let has_where = self.where_clause(s.selection.as_ref(), None);
        if let Some(into) = &s.into {
            // SELECT … INTO new_table creates a table.
            for target in &into.targets {
                let name = match target {
                    Expr::Identifier(i) => Some(ObjectName::from(vec![i.clone()])),
                    Expr::CompoundIdentifier(parts) => Some(ObjectName::from(parts.clone())),
                    _ => None,
                };
                if let Some(name) = name {
                    self.write(TableOp::Create, &name, false, Vec::new());
                }
            }
        }
        self.visit(s, has_where);
    }

    /// Whether a WHERE restricts rows; records a tautology as a risk factor.
    fn where_clause(&mut self, e: Option<&Expr>, target: Option<(TableOp, &ObjectName)>) -> bool {
        match e {
            None => false,
            Some(e) if is_tautology(e) => {
                if let Some((op, name)) = target
                    && let Some(t) = table_name(name)
                {
                    self.factor(RiskFactor::TautologicalWhere(op, t));
                }
                false
            }
            Some(_) => true,
        }
    }

    /// Walks one statement; returns its type and any transaction control.
    pub fn statement(
        &mut self,
        s: &Statement,
        hint: StatementType,
    ) -> (StatementType, Option<TxnControl>) {
        use StatementType as K;
        let kind = match s {
            Statement::Query(q) => {
                self.query(q);
                // `WITH … INSERT/UPDATE/DELETE/MERGE` parses as a query around the statement.
                match &*q.body {
                    SetExpr::Insert(_) => K::Insert,
                    SetExpr::Update(_) => K::Update,
                    SetExpr::Delete(_) => K::Delete,
                    SetExpr::Merge(_) => K::Merge,
                    _ => K::Select,
                }
            }
            Statement::Insert(ins) => {
                self.insert(ins);
                K::Insert
            }
            Statement::Update(u) => {
                self.update(u);
                K::Update
            }
            Statement::Delete(d) => {
                self.delete(d);
                K::Delete
            }
            Statement::Merge(m) => {
                let always = is_tautology(&m.on);
                if let TableFactor::Table { name, .. } = &m.table {
                    for clause in &m.clauses {
                        let (op, cols) = match &clause.action {
                            MergeAction::Insert(i) => (
                                TableOp::Insert,
                                i.columns.iter().filter_map(last_ident).collect(),
                            ),
                            MergeAction::Update(u) => (
                                TableOp::Update,
                                match &u.kind {
                                    MergeUpdateKind::Set(a) => assigned(a),
                                    _ => Vec::new(),
                                },
                            ),
                            MergeAction::Delete { .. } => (TableOp::Delete, Vec::new()),
                            MergeAction::DoNothing { .. } => continue,
                        };
                        let has_where = !always || clause.predicate.is_some();
                        self.write(op, name, has_where, cols);
                    }
                } else {
                    self.visit(&m.table, true);
                }
                self.visit(&m.source, true);
                self.visit(&m.on, true);
                self.visit(&m.clauses, true);
                K::Merge
            }
            Statement::Copy {
                source, to, target, ..
            } => {
                match source {
                    CopySource::Table {
                        table_name,
                        columns,
                    } => {
                        if *to {
                            self.write(TableOp::Select, table_name, false, Vec::new());
                        } else {
                            self.write(
                                TableOp::Insert,
                                table_name,
                                false,
                                columns.iter().map(ident).collect(),
                            );
                        }
                    }
                    CopySource::Query(q) => self.query(q),
                }
                match target {
                    CopyTarget::Program { .. } => self.factor(RiskFactor::CopyProgram),
                    CopyTarget::File { .. } => self.factor(RiskFactor::CopyServerFile),
                    _ => {}
                }
                K::Copy
            }
            Statement::CreateTable(ct) => {
                self.write(TableOp::Create, &ct.name, false, Vec::new());
                if let Some(q) = &ct.query {
                    self.query(q);
                }
                if let Some(CreateTableLikeKind::Parenthesized(l) | CreateTableLikeKind::Plain(l)) =
                    &ct.like
                {
                    self.read(TableOp::Select, &l.name, false);
                }
                if let Some(c) = &ct.clone {
                    self.read(TableOp::Select, c, false);
                }
                for parent in ct.inherits.iter().flatten() {
                    self.read(TableOp::Select, parent, false);
                }
                K::Create
            }
            Statement::CreateView(cv) => {
                self.write(TableOp::Create, &cv.name, false, Vec::new());
                self.query(&cv.query);
                K::Create
            }
            // An index or trigger changes an existing table: ALTER on it, so CREATE on a table
            // always means the table is new.
            Statement::CreateIndex(ci) => {
                self.write(TableOp::Alter, &ci.table_name, false, Vec::new());
                K::Create
            }
            Statement::CreateTrigger(ct) => {
                self.write(TableOp::Alter, &ct.table_name, false, Vec::new());
                self.factor(RiskFactor::ProceduralCode);
                K::Create
            }
            Statement::CreateFunction(_) | Statement::CreateProcedure { .. } => {
                self.factor(RiskFactor::ProceduralCode);
                K::Create
            }
            Statement::CreateRole(_) | Statement::CreateUser(_) => {
                self.factor(RiskFactor::RoleChange);
                K::Create
            }
            Statement::CreateExtension(_) => {
                self.factor(RiskFactor::Extension);
                K::Create
            }
            Statement::AlterTable(at) => {
                self.write(TableOp::Alter, &at.name, false, Vec::new());
                K::Alter
            }
            Statement::AlterView { name, query, .. } => {
                self.write(TableOp::Alter, name, false, Vec::new());
                self.query(query);
                K::Alter
            }
            Statement::AlterRole { .. } | Statement::AlterUser(_) => {
                self.factor(RiskFactor::RoleChange);
                K::Alter
            }
            Statement::Drop {
                object_type, names, ..
            } => {
                match object_type {
                    ObjectType::Table | ObjectType::View | ObjectType::MaterializedView => {
                        for n in names {
                            self.write(TableOp::Drop, n, false, Vec::new());
                        }
                    }
                    ObjectType::Role | ObjectType::User => self.factor(RiskFactor::RoleChange),
                    _ => {}
                }
                K::Drop
            }
            Statement::Truncate(t) => {
                for target in &t.table_names {
                    self.write(TableOp::Truncate, &target.name, false, Vec::new());
                }
                K::Truncate
            }
            Statement::Grant(g) => {
                self.privileges(&g.privileges, g.objects.as_ref(), TableOp::Grant);
                K::Grant
            }
            Statement::Revoke(r) => {
                self.privileges(&r.privileges, r.objects.as_ref(), TableOp::Revoke);
                K::Revoke
            }
            Statement::StartTransaction { statements, .. } => {
                for inner in statements {
                    self.statement(inner, K::Other);
                }
                return (K::Begin, Some(TxnControl::Begin));
            }
            Statement::Commit { chain, .. } => {
                return (K::Commit, Some(TxnControl::Commit { chain: *chain }));
            }
            Statement::Rollback { chain, savepoint } => {
                let txn = if savepoint.is_some() {
                    TxnControl::RollbackToSavepoint
                } else {
                    TxnControl::Rollback { chain: *chain }
                };
                return (K::Rollback, Some(txn));
            }
            Statement::Savepoint { .. } => return (K::Savepoint, Some(TxnControl::Savepoint)),
            Statement::ReleaseSavepoint { .. } => return (K::Release, Some(TxnControl::Release)),
            Statement::Set(set) => {
                if matches!(set, Set::SetRole { .. } | Set::SetSessionAuthorization(_)) {
                    self.factor(RiskFactor::RoleChange);
                }
                self.visit(set, false);
                K::Set
            }
            Statement::Reset(_) => K::Set,
            Statement::Explain {
                analyze,
                statement,
                options,
                ..
            } => {
                let analyze = *analyze
                    || options.iter().flatten().any(|o| {
                        o.name.value.eq_ignore_ascii_case("analyze")
                            && o.arg.as_ref().is_none_or(|a| !is_false(a))
                    });
                let (mark, fmark) = (self.actions.len(), self.factors.len());
                self.statement(statement, K::Other);
                if !analyze {
                    // Plain EXPLAIN plans the statement without running it: its tables are
                    // only referenced, and its side effects do not happen.
                    for a in &mut self.actions[mark..] {
                        a.op = TableOp::Select;
                        a.in_cte = false;
                    }
                    self.factors.truncate(fmark);
                    self.actions.dedup();
                }
                K::Explain
            }
            Statement::ExplainTable { table_name, .. } => {
                self.read(TableOp::Select, table_name, false);
                K::Explain
            }
            Statement::LISTEN { .. } => K::Listen,
            Statement::UNLISTEN { .. } => K::Unlisten,
            Statement::NOTIFY { .. } => K::Notify,
            Statement::Prepare { statement, .. } => {
                // Judged as if executed: EXECUTE carries no text, so PREPARE is the only chance.
                self.statement(statement, K::Other);
                K::Prepare
            }
            Statement::Execute { parameters, .. } => {
                self.visit(parameters, false);
                K::Execute
            }
            Statement::Deallocate { .. } => K::Deallocate,
            Statement::Call(f) => {
                self.function(&f.name);
                self.visit(&f.args, false);
                K::Call
            }
            Statement::Vacuum(v) => {
                if let Some(n) = &v.table_name {
                    self.write(TableOp::Vacuum, n, false, Vec::new());
                }
                K::Vacuum
            }
            Statement::Analyze(a) => {
                if let Some(n) = &a.table_name {
                    self.write(TableOp::Analyze, n, false, Vec::new());
                }
                K::Analyze
            }
            Statement::Lock(l) => {
                for t in &l.tables {
                    self.write(TableOp::Lock, &t.name, false, Vec::new());
                }
                K::Lock
            }
            Statement::Comment {
                object_type,
                object_name,
                ..
            } => {
                match object_type {
                    CommentObject::Table
                    | CommentObject::View
                    | CommentObject::MaterializedView => {
                        self.write(TableOp::Comment, object_name, false, Vec::new());
                    }
                    CommentObject::Column => {
                        let mut parts = object_name.0.clone();
                        parts.pop();
                        self.write(TableOp::Comment, &ObjectName(parts), false, Vec::new());
                    }
                    _ => {}
                }
                K::Comment
            }
            other => {
                // No finer rule: trust the leading keyword for the type, and record every
                // relation the statement names so honeypot and table rules still apply.
                let kind = match hint {
                    K::Select
                    | K::Insert
                    | K::Update
                    | K::Delete
                    | K::Merge
                    | K::Unparsed
                    | K::Oversized => K::Other,
                    h => h,
                };
                let op = match kind {
                    K::Create => TableOp::Create,
                    K::Alter => TableOp::Alter,
                    K::Drop => TableOp::Drop,
                    K::Lock => TableOp::Lock,
                    K::Show | K::Explain => TableOp::Select,
                    _ => TableOp::Other,
                };
                self.visit_as(other, op, false);
                kind
            }
        };
        (kind, None)
    }

    fn privileges(&mut self, p: &Privileges, objects: Option<&GrantObjects>, op: TableOp) {
        if op == TableOp::Grant && matches!(p, Privileges::All { .. }) {
            self.factor(RiskFactor::GrantAll);
        }
        if let Some(GrantObjects::Tables(names) | GrantObjects::Views(names)) = objects {
            for n in names {
                self.write(op, n, false, Vec::new());
            }
        }
    }

    fn insert(&mut self, ins: &Insert) {
        let cols: Vec<String> = ins.columns.iter().filter_map(last_ident).collect();
        for c in &cols {
            self.column(c.clone());
        }
        let target = match &ins.table {
            TableObject::TableName(n) => Some(n),
            TableObject::TableFunction(f) => {
                self.function(&f.name);
                None
            }
            TableObject::TableQuery(q) => {
                self.query(q);
                None
            }
        };
        if let Some(n) = target {
            self.write(TableOp::Insert, n, false, cols);
        }
        if let Some(src) = &ins.source {
            self.query(src);
        }
        self.visit(&ins.assignments, false);
        let upsert = match &ins.on {
            Some(OnInsert::OnConflict(oc)) => match &oc.action {
                OnConflictAction::DoUpdate(du) => {
                    self.visit(&du.assignments, true);
                    self.visit(&du.selection, true);
                    Some(assigned(&du.assignments))
                }
                OnConflictAction::DoNothing => None,
            },
            Some(OnInsert::DuplicateKeyUpdate(a)) => {
                self.visit(a, true);
                Some(assigned(a))
            }
            _ => None,
        };
        if let (Some(cols), Some(n)) = (upsert, target) {
            // ON CONFLICT DO UPDATE only touches the conflicting rows: bounded like a WHERE.
            self.write(TableOp::Update, n, true, cols);
        }
        if let Some(r) = &ins.returning {
            self.select_items(r);
        }
    }

    fn update(&mut self, u: &Update) {
        let cols = assigned(&u.assignments);
        for c in &cols {
            self.column(c.clone());
        }
        let target_name = match &u.table.relation {
            TableFactor::Table { name, .. } => Some(name),
            _ => None,
        };
        let has_where = self.where_clause(
            u.selection.as_ref(),
            target_name.map(|n| (TableOp::Update, n)),
        );
        match target_name {
            Some(n) => self.write(TableOp::Update, n, has_where, cols.clone()),
            None => self.visit(&u.table.relation, has_where),
        }
        // MySQL-style `UPDATE a JOIN b SET …` may write every joined table.
        for j in &u.table.joins {
            match &j.relation {
                TableFactor::Table { name, .. } => {
                    self.write(TableOp::Update, name, has_where, cols.clone())
                }
                other => self.visit(other, has_where),
            }
        }
        if let Some(UpdateTableFromKind::BeforeSet(v) | UpdateTableFromKind::AfterSet(v)) = &u.from
        {
            self.visit(v, has_where);
        }
        self.visit(&u.assignments, has_where);
        self.visit(&u.selection, has_where);
        if let Some(r) = &u.returning {
            self.select_items(r);
        }
    }

    fn delete(&mut self, d: &Delete) {
        let from = match &d.from {
            FromTable::WithFromKeyword(v) | FromTable::WithoutKeyword(v) => v,
        };
        let first_target = d.tables.first().or_else(|| {
            from.first().and_then(|t| match &t.relation {
                TableFactor::Table { name, .. } => Some(name),
                _ => None,
            })
        });
        let has_where = self.where_clause(
            d.selection.as_ref(),
            first_target.map(|n| (TableOp::Delete, n)),
        );
        if d.tables.is_empty() {
            for twj in from {
                match &twj.relation {
                    TableFactor::Table { name, .. } => {
                        self.write(TableOp::Delete, name, has_where, Vec::new())
                    }
                    other => self.visit(other, has_where),
                }
                self.visit(&twj.joins, has_where);
            }
        } else {
            for n in &d.tables {
                self.write(TableOp::Delete, n, has_where, Vec::new());
            }
            self.visit(from, has_where);
        }
        if let Some(using) = &d.using {
            self.visit(using, has_where);
        }
        self.visit(&d.selection, has_where);
        if let Some(r) = &d.returning {
            self.select_items(r);
        }
        self.visit(&d.order_by, has_where);
        self.visit(&d.limit, has_where);
    }
}

fn assigned(assignments: &[sqlparser::ast::Assignment]) -> Vec<String> {
    use sqlparser::ast::AssignmentTarget;
    let mut out = Vec::new();
    for a in assignments {
        match &a.target {
            AssignmentTarget::ColumnName(n) => out.extend(last_ident(n)),
            AssignmentTarget::Tuple(ns) => out.extend(ns.iter().filter_map(last_ident)),
        }
    }
    out
}

fn is_false(e: &Expr) -> bool {
    match e {
        Expr::Value(v) => match &v.value {
            Value::Boolean(b) => !b,
            Value::Number(n, _) => n == "0",
            Value::SingleQuotedString(s) => {
                matches!(
                    s.to_ascii_lowercase().as_str(),
                    "off" | "false" | "f" | "no" | "n" | "0"
                )
            }
            _ => false,
        },
        Expr::Identifier(i) => {
            matches!(
                i.value.to_ascii_lowercase().as_str(),
                "off" | "false" | "no"
            )
        }
        _ => false,
    }
}

fn literal_number(e: &Expr) -> Option<f64> {
    match e {
        Expr::Value(v) => match &v.value {
            Value::Number(n, _) => n.parse().ok(),
            _ => None,
        },
        Expr::Nested(inner) => literal_number(inner),
        Expr::UnaryOp {
            op: UnaryOperator::Minus,
            expr,
        } => literal_number(expr).map(|n| -n),
        _ => None,
    }
}

fn is_literal(e: &Expr) -> bool {
    match e {
        Expr::Value(v) => !matches!(v.value, Value::Null | Value::Placeholder(_)),
        Expr::Nested(inner) => is_literal(inner),
        _ => false,
    }
}

/// A WHERE that keeps every (non-null) row: `true`, `1 = 1`, `'a' = 'a'`, `x = x`, `NOT false`,
/// `… OR true`. Deliberately simple: it catches the usual ways of writing "no filter" that a
/// naive WHERE check would accept.
pub fn is_tautology(e: &Expr) -> bool {
    match e {
        Expr::Value(v) => match &v.value {
            Value::Boolean(b) => *b,
            Value::SingleQuotedString(s) => {
                matches!(
                    s.to_ascii_lowercase().as_str(),
                    "t" | "true" | "y" | "yes" | "on" | "1"
                )
            }
            _ => false,
        },
        Expr::Nested(inner) => is_tautology(inner),
        Expr::UnaryOp {
            op: UnaryOperator::Not,
            expr,
        } => is_false(expr),
        Expr::IsTrue(inner) => is_tautology(inner),
        Expr::IsNotNull(inner) => is_literal(inner),
        Expr::BinaryOp { left, op, right } => match op {
            BinaryOperator::Or => is_tautology(left) || is_tautology(right),
            BinaryOperator::And => is_tautology(left) && is_tautology(right),
            BinaryOperator::Eq | BinaryOperator::GtEq | BinaryOperator::LtEq
                if left == right
                    && !matches!(**left, Expr::Value(ref v) if matches!(v.value, Value::Null | Value::Placeholder(_))) =>
            {
                true
            }
            _ => match (literal_number(left), literal_number(right)) {
                (Some(a), Some(b)) => match op {
                    BinaryOperator::Eq => a == b,
                    BinaryOperator::NotEq => a != b,
                    BinaryOperator::Lt => a < b,
                    BinaryOperator::Gt => a > b,
                    BinaryOperator::LtEq => a <= b,
                    BinaryOperator::GtEq => a >= b,
                    _ => false,
                },
                _ => false,
            },
        },
        _ => false,
    }
}

/// The visitor behind [`Walk::visit`]: depth 0 is the node being visited; nested queries are
/// handed to the walker (which knows the scope) and ignored here.
struct Inner<'w> {
    w: &'w mut Walk,
    depth: usize,
    /// The next relation is a table function's name, not a table.
    skip_relation: bool,
    op: TableOp,
    has_where: bool,
}

impl Visitor for Inner<'_> {
    type Break = ();

    fn pre_visit_query(&mut self, q: &Query) -> ControlFlow<()> {
        if self.depth == 0 {
            self.w.query(q);
        }
        self.depth += 1;
        ControlFlow::Continue(())
    }

    fn post_visit_query(&mut self, _q: &Query) -> ControlFlow<()> {
        self.depth -= 1;
        ControlFlow::Continue(())
    }

    fn pre_visit_select(&mut self, s: &Select) -> ControlFlow<()> {
        if self.depth == 0
            && s.projection.iter().any(|i| {
                matches!(
                    i,
                    SelectItem::Wildcard(_) | SelectItem::QualifiedWildcard(..)
                )
            })
        {
            self.w.column("*".into());
        }
        ControlFlow::Continue(())
    }

    fn pre_visit_table_factor(&mut self, tf: &TableFactor) -> ControlFlow<()> {
        if self.depth == 0 {
            match tf {
                TableFactor::Table {
                    name,
                    args: Some(_),
                    ..
                } => {
                    self.w.function(name);
                    self.skip_relation = true;
                }
                TableFactor::Function { name, .. } => self.w.function(name),
                _ => {}
            }
        }
        ControlFlow::Continue(())
    }

    fn pre_visit_relation(&mut self, name: &ObjectName) -> ControlFlow<()> {
        if self.depth == 0 {
            if std::mem::take(&mut self.skip_relation) {
                return ControlFlow::Continue(());
            }
            if self.op == TableOp::Select {
                self.w.read(TableOp::Select, name, self.has_where);
            } else {
                self.w.write(self.op, name, false, Vec::new());
            }
        }
        ControlFlow::Continue(())
    }

    fn pre_visit_expr(&mut self, e: &Expr) -> ControlFlow<()> {
        if self.depth == 0 {
            match e {
                Expr::Identifier(i) => self.w.column(ident(i)),
                Expr::CompoundIdentifier(parts) => {
                    if let Some(last) = parts.last() {
                        self.w.column(ident(last));
                    }
                }
                Expr::Function(f) => self.w.function(&f.name),
                _ => {}
            }
        }
        ControlFlow::Continue(())
    }
}
