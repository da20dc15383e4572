//! The vocabulary of a classification: statement types, table operations, table names.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

macro_rules! named_enum {
    ($(#[$meta:meta])* $name:ident { $($(#[$vmeta:meta])* $variant:ident => $text:literal $(| $alias:literal)*,)* }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum $name {
            $($(#[$vmeta])* $variant,)*
        }

        impl $name {
            /// Every value, in declaration order.
            pub const ALL: &'static [$name] = &[$($name::$variant,)*];

            /// The upper-case SQL name (`DELETE`, `SELECT`, …).
            pub fn as_str(self) -> &'static str {
                match self {
                    $($name::$variant => $text,)*
                }
            }

            /// Parses a name, ignoring ASCII case; accepts the aliases listed in the docs.
            pub fn parse(s: &str) -> Option<$name> {
                let s = s.trim();
                $(
                    if s.eq_ignore_ascii_case($text) $(|| s.eq_ignore_ascii_case($alias))* {
                        return Some($name::$variant);
                    }
                )*
                None
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl FromStr for $name {
            type Err = String;
            fn from_str(s: &str) -> Result<Self, String> {
                $name::parse(s).ok_or_else(|| {
                    let names: Vec<&str> = $name::ALL.iter().map(|v| v.as_str()).collect();
                    format!("`{s}` is not one of {}", names.join(", "))
                })
            }
        }

        impl Serialize for $name {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(self.as_str())
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let s = String::deserialize(d)?;
                s.parse().map_err(serde::de::Error::custom)
            }
        }
    };
}

named_enum! {
    /// What kind of statement this is, from its top-level command.
    StatementType {
        Select => "SELECT" | "VALUES" | "TABLE",
        Insert => "INSERT",
        Update => "UPDATE",
        Delete => "DELETE",
        Merge => "MERGE",
        Copy => "COPY",
        Create => "CREATE",
        Alter => "ALTER",
        Drop => "DROP",
        Truncate => "TRUNCATE",
        Grant => "GRANT",
        Revoke => "REVOKE",
        Begin => "BEGIN" | "START",
        Commit => "COMMIT" | "END",
        Rollback => "ROLLBACK" | "ABORT",
        Savepoint => "SAVEPOINT",
        Release => "RELEASE",
        Set => "SET" | "RESET",
        Show => "SHOW",
        Explain => "EXPLAIN",
        Listen => "LISTEN",
        Notify => "NOTIFY",
        Unlisten => "UNLISTEN",
        Prepare => "PREPARE",
        Execute => "EXECUTE",
        Deallocate => "DEALLOCATE",
        Call => "CALL",
        Do => "DO",
        Vacuum => "VACUUM",
        Analyze => "ANALYZE" | "ANALYSE",
        Lock => "LOCK",
        Comment => "COMMENT",
        /// Parsed, but none of the above (DISCARD, DECLARE, FETCH, CREATE-less utility…).
        Other => "OTHER",
        /// The parser could not read it; `hint` keeps the keyword guess.
        Unparsed => "UNPARSED",
        /// Larger than the size cap; never parsed.
        Oversized => "OVERSIZED",
    }
}

named_enum! {
    /// The operation a statement applies to one table.
    TableOp {
        Select => "SELECT",
        Insert => "INSERT",
        Update => "UPDATE",
        Delete => "DELETE",
        Merge => "MERGE",
        Truncate => "TRUNCATE",
        Create => "CREATE",
        Alter => "ALTER",
        Drop => "DROP",
        Grant => "GRANT",
        Revoke => "REVOKE",
        Lock => "LOCK",
        Comment => "COMMENT",
        Vacuum => "VACUUM",
        Analyze => "ANALYZE",
        /// Referenced by a statement the classifier has no finer rule for.
        Other => "OTHER",
    }
}

impl TableOp {
    /// Whether the operation does anything beyond reading (everything but SELECT).
    pub fn is_write(self) -> bool {
        !matches!(self, TableOp::Select)
    }

    /// Whether the operation changes data, schema or privileges (not SELECT, LOCK, VACUUM,
    /// ANALYZE or OTHER).
    pub fn modifies(self) -> bool {
        use TableOp::*;
        matches!(
            self,
            Insert
                | Update
                | Delete
                | Merge
                | Truncate
                | Create
                | Alter
                | Drop
                | Grant
                | Revoke
                | Comment
        )
    }
}

impl StatementType {
    /// Statements that manage the session or transaction and touch no data.
    pub fn is_session_control(self) -> bool {
        use StatementType::*;
        matches!(
            self,
            Begin
                | Commit
                | Rollback
                | Savepoint
                | Release
                | Set
                | Show
                | Listen
                | Unlisten
                | Deallocate
        )
    }
}

/// Transaction control performed by a statement, for tracking whether a session is inside a
/// transaction.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum TxnControl {
    Begin,
    Commit { chain: bool },
    Rollback { chain: bool },
    RollbackToSavepoint,
    Savepoint,
    Release,
}

/// A table name as PostgreSQL resolves it: unquoted identifiers folded to lower case, quoted
/// ones kept exactly. `schema` is `None` when the statement did not qualify the name.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub struct TableName {
    pub schema: Option<String>,
    pub name: String,
}

impl TableName {
    pub fn new(schema: Option<&str>, name: &str) -> Self {
        TableName {
            schema: schema.map(str::to_string),
            name: name.to_string(),
        }
    }

    /// Reads `name` or `schema.name` written like SQL: `"Quoted"` parts are exact, others are
    /// folded to lower case. Returns `None` for an empty or malformed name.
    pub fn parse(text: &str) -> Option<TableName> {
        let mut parts = Vec::new();
        let mut rest = text.trim();
        while !rest.is_empty() {
            let (part, tail) = if let Some(q) = rest.strip_prefix('"') {
                let mut out = String::new();
                let mut chars = q.char_indices();
                let mut end = None;
                while let Some((i, c)) = chars.next() {
                    if c == '"' {
                        if q[i + 1..].starts_with('"') {
                            out.push('"');
                            chars.next();
                        } else {
                            end = Some(i + 1);
                            break;
                        }
                    } else {
                        out.push(c);
                    }
                }
                (out, &q[end?..])
            } else {
                let end = rest.find('.').unwrap_or(rest.len());
                (rest[..end].trim().to_lowercase(), &rest[end..])
            };
            if part.is_empty() {
                return None;
            }
            parts.push(part);
            rest = tail.trim_start();
            if let Some(t) = rest.strip_prefix('.') {
                rest = t.trim_start();
                if rest.is_empty() {
                    return None;
                }
            } else if !rest.is_empty() {
                return None;
            }
        }
        match parts.len() {
            1 => Some(TableName {
                schema: None,
                name: parts.pop()?,
            }),
            // `db.schema.table`: PostgreSQL only allows the current database, so keep the rest.
            2 | 3 => {
                let name = parts.pop()?;
                let schema = parts.pop();
                Some(TableName { schema, name })
            }
            _ => None,
        }
    }

    /// The name quoted for use in SQL: `"schema"."name"`.
    pub fn quoted(&self) -> String {
        let q = |s: &str| format!("\"{}\"", s.replace('"', "\"\""));
        match &self.schema {
            Some(s) => format!("{}.{}", q(s), q(&self.name)),
            None => q(&self.name),
        }
    }
}

impl fmt::Display for TableName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.schema {
            Some(s) => write!(f, "{s}.{}", self.name),
            None => f.write_str(&self.name),
        }
    }
}

/// One table touched by a statement and what is done to it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TableAction {
    pub op: TableOp,
    pub table: TableName,
    /// The clause acting on the table has a WHERE that is not a tautology. Meaningful for
    /// UPDATE and DELETE (and reads); false otherwise.
    pub has_where: bool,
    /// Columns written (INSERT column list, UPDATE SET targets, MERGE clauses). Empty for other
    /// operations, and for an INSERT without a column list (which writes every column).
    pub columns: Vec<String>,
    /// Performed inside a WITH clause (a data-modifying CTE), so the command tag's row count
    /// does not count it.
    pub in_cte: bool,
}

/// A SHA-256 digest of the normalised statement (see the [`classify`](mod@crate::classify) module).
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct StatementHash(pub [u8; 32]);

impl StatementHash {
    /// Lower-case hex, 64 characters.
    pub fn to_hex(&self) -> String {
        self.to_string()
    }
}

impl fmt::Display for StatementHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for b in self.0 {
            write!(f, "{b:02x}")?;
        }
        Ok(())
    }
}

impl fmt::Debug for StatementHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "StatementHash({self})")
    }
}

impl Serialize for StatementHash {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_parse_like_sql() {
        assert_eq!(
            TableName::parse("Users"),
            Some(TableName::new(None, "users"))
        );
        assert_eq!(
            TableName::parse("\"My\"\"S\".\"T.x\""),
            Some(TableName::new(Some("My\"S"), "T.x"))
        );
        assert_eq!(
            TableName::parse("db.Public.t"),
            Some(TableName::new(Some("public"), "t"))
        );
        for bad in ["", "a.", ".a", "\"open", "a.b.c.d", "\"x\"y"] {
            assert_eq!(TableName::parse(bad), None, "{bad}");
        }
        assert_eq!(
            TableName::new(Some("s"), "a\"b").quoted(),
            "\"s\".\"a\"\"b\""
        );
    }

    #[test]
    fn enums_parse_aliases_case_insensitively() {
        assert_eq!(StatementType::parse("delete"), Some(StatementType::Delete));
        assert_eq!(StatementType::parse("Abort"), Some(StatementType::Rollback));
        assert_eq!("drop".parse::<TableOp>(), Ok(TableOp::Drop));
        assert!("DELTE".parse::<TableOp>().unwrap_err().contains("DELETE"));
    }
}
