//! SQL state checks: the query runs on the sandbox database (directly, never through the
//! proxy, so neither policy nor chaos touches the verdict) with the simple protocol, and its
//! text results are compared with the expectation.

use serde_json::Value;
use tokio_postgres::{Client, SimpleQueryMessage};

use crate::scenario::SqlExpect;

/// The query could not run: the check cannot say pass or fail.
#[derive(Debug, thiserror::Error)]
#[error("state check query failed: {}", describe(.0))]
pub struct SqlCheckError(#[from] tokio_postgres::Error);

/// The server's own message (`relation "items" does not exist (SQLSTATE 42P01)`): the
/// driver's Display alone says only `db error`.
fn describe(e: &tokio_postgres::Error) -> String {
    match e.as_db_error() {
        Some(db) => format!("{} (SQLSTATE {})", db.message(), db.code().code()),
        None => e.to_string(),
    }
}

/// Runs `sql` and compares its result with `expect`: `Ok((passed, detail))`.
pub async fn check_sql(
    client: &Client,
    sql: &str,
    expect: &SqlExpect,
) -> Result<(bool, String), SqlCheckError> {
    let rows: Vec<Vec<Option<String>>> = client
        .simple_query(sql)
        .await?
        .into_iter()
        .filter_map(|m| match m {
            SimpleQueryMessage::Row(r) => {
                Some((0..r.len()).map(|i| r.get(i).map(str::to_string)).collect())
            }
            _ => None,
        })
        .collect();
    Ok(compare(&rows, expect))
}

fn compare(rows: &[Vec<Option<String>>], expect: &SqlExpect) -> (bool, String) {
    let single = || match rows {
        [row] if !row.is_empty() => Ok(row[0].clone()),
        _ => Err(format!(
            "expected one row with one value, got {} row(s)",
            rows.len()
        )),
    };
    match expect {
        SqlExpect::Equals(want) => match single() {
            Ok(got) => {
                let ok = value_matches(got.as_deref(), want);
                (ok, format!("got {}, expected {want}", show(got.as_deref())))
            }
            Err(e) => (false, e),
        },
        SqlExpect::Range { min, max } => match single() {
            Ok(got) => match got.as_deref().and_then(|g| g.trim().parse::<f64>().ok()) {
                Some(n) => {
                    let ok = min.is_none_or(|m| n >= m) && max.is_none_or(|m| n <= m);
                    (ok, format!("got {n}, expected {}", bounds(*min, *max)))
                }
                None => (false, format!("got {}, not a number", show(got.as_deref()))),
            },
            Err(e) => (false, e),
        },
        SqlExpect::Empty(want_empty) => {
            let ok = rows.is_empty() == *want_empty;
            (
                ok,
                format!(
                    "got {} row(s), expected {}",
                    rows.len(),
                    if *want_empty { "none" } else { "some" }
                ),
            )
        }
        SqlExpect::Rows(want) => {
            if rows.len() != want.len() {
                return (
                    false,
                    format!("got {} row(s), expected {}", rows.len(), want.len()),
                );
            }
            for (i, (got, want)) in rows.iter().zip(want).enumerate() {
                let same = got.len() == want.len()
                    && got
                        .iter()
                        .zip(want)
                        .all(|(g, w)| value_matches(g.as_deref(), w));
                if !same {
                    let got: Vec<String> = got.iter().map(|g| show(g.as_deref())).collect();
                    return (
                        false,
                        format!(
                            "row {}: got [{}], expected {}",
                            i + 1,
                            got.join(", "),
                            Value::from(want.clone())
                        ),
                    );
                }
            }
            (true, format!("{} row(s) as expected", rows.len()))
        }
    }
}

/// Whether a text result from PostgreSQL equals a YAML value: numbers compare numerically
/// (`80` matches `80`, `80.0` and `80.00`), booleans match `t`/`f`, null matches NULL,
/// strings compare exactly.
pub fn value_matches(got: Option<&str>, want: &Value) -> bool {
    match (got, want) {
        (None, Value::Null) => true,
        (None, _) | (Some(_), Value::Null) => false,
        (Some(g), Value::Number(n)) => match (g.trim().parse::<f64>(), n.as_f64()) {
            (Ok(g), Some(w)) => (g - w).abs() <= 1e-9 * w.abs().max(1.0),
            _ => false,
        },
        (Some(g), Value::Bool(b)) => {
            matches!((g, b), ("t" | "true", true) | ("f" | "false", false))
        }
        (Some(g), Value::String(s)) => g == s,
        (Some(g), other) => *other == g,
    }
}

fn show(v: Option<&str>) -> String {
    match v {
        Some(s) => format!("{s:?}"),
        None => "NULL".into(),
    }
}

fn bounds(min: Option<f64>, max: Option<f64>) -> String {
    match (min, max) {
        (Some(a), Some(b)) => format!("between {a} and {b}"),
        (Some(a), None) => format!("at least {a}"),
        (None, Some(b)) => format!("at most {b}"),
        (None, None) => "any number".into(),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn rows(v: &[&[Option<&str>]]) -> Vec<Vec<Option<String>>> {
        v.iter()
            .map(|r| r.iter().map(|c| c.map(str::to_string)).collect())
            .collect()
    }

    #[test]
    fn values_compare_by_type() {
        assert!(value_matches(Some("80"), &json!(80)));
        assert!(value_matches(Some("80.00"), &json!(80)));
        assert!(!value_matches(Some("81"), &json!(80)));
        assert!(value_matches(Some("t"), &json!(true)));
        assert!(!value_matches(Some("t"), &json!(false)));
        assert!(value_matches(None, &json!(null)));
        assert!(!value_matches(Some(""), &json!(null)));
        assert!(value_matches(Some("open"), &json!("open")));
        assert!(!value_matches(Some("abc"), &json!(1)));
    }

    #[test]
    fn expectations() {
        let one = rows(&[&[Some("40")]]);
        assert!(compare(&one, &SqlExpect::Equals(json!(40))).0);
        let (ok, detail) = compare(&one, &SqlExpect::Equals(json!(41)));
        assert!(!ok && detail.contains("got \"40\""), "{detail}");
        assert!(
            compare(
                &one,
                &SqlExpect::Range {
                    min: Some(1.0),
                    max: Some(40.0)
                }
            )
            .0
        );
        assert!(
            !compare(
                &one,
                &SqlExpect::Range {
                    min: Some(41.0),
                    max: None
                }
            )
            .0
        );
        assert!(!compare(&rows(&[]), &SqlExpect::Equals(json!(0))).0);
        assert!(compare(&rows(&[]), &SqlExpect::Empty(true)).0);
        assert!(!compare(&one, &SqlExpect::Empty(true)).0);
        let two = rows(&[&[Some("1"), Some("a")], &[Some("2"), None]]);
        assert!(
            compare(
                &two,
                &SqlExpect::Rows(vec![
                    vec![json!(1), json!("a")],
                    vec![json!(2), json!(null)]
                ])
            )
            .0
        );
        assert!(!compare(&two, &SqlExpect::Rows(vec![vec![json!(1), json!("a")]])).0);
    }
}
