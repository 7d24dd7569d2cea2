//! `kaa-fleet count`: reads every `(endpoint, seq)` row of a Cassandra table (paged, at the
//! consistency asked for), counts rows, distinct records and duplicates, and, given a run's
//! summary, lists the acknowledged records the table lacks. Columns may be `int`/`bigint` or
//! text holding the number (log appenders store record fields as text).

use std::collections::HashSet;

use anyhow::{Context, bail};
use futures::TryStreamExt;
use scylla::client::session_builder::SessionBuilder;
use scylla::statement::Consistency;
use scylla::statement::unprepared::Statement;
use scylla::value::CqlValue;
use serde_json::{Value, json};

use super::record::Ranges;

/// At most this many lost records are listed.
const LOST_EXAMPLES: usize = 20;

/// What to count.
#[derive(Debug, Clone)]
pub struct CountOptions {
    /// Cassandra contact points, `host:port`.
    pub contact_points: Vec<String>,
    /// The keyspace.
    pub keyspace: String,
    /// The table, with columns `endpoint` and `seq`.
    pub table: String,
    /// The read consistency.
    pub consistency: Consistency,
    /// A `kaa-fleet run` summary, whose acknowledged ranges must all be stored.
    pub acked: Option<Value>,
}

/// Counts the table's rows; the report has `rows`, `distinct`, `duplicates`, `unreadable`
/// and, with a summary, `acknowledged`, `lost` and `lost_examples` (`[endpoint, seq]` pairs).
pub async fn count(options: CountOptions) -> anyhow::Result<Value> {
    for name in [&options.keyspace, &options.table] {
        if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
            bail!("{name:?} is not a plain CQL identifier");
        }
    }
    let session = SessionBuilder::new()
        .known_nodes(&options.contact_points)
        .build()
        .await
        .with_context(|| format!("connecting to Cassandra {:?}", options.contact_points))?;
    let mut statement = Statement::new(format!(
        "SELECT endpoint, seq FROM {}.{}",
        options.keyspace, options.table
    ));
    statement.set_consistency(options.consistency);
    statement.set_page_size(5000);
    let mut rows = session
        .query_iter(statement, &[])
        .await
        .context("reading the table")?
        .rows_stream::<(Option<CqlValue>, Option<CqlValue>)>()
        .context("columns endpoint and seq")?;
    let mut stored = HashSet::new();
    let (mut total, mut unreadable) = (0u64, 0u64);
    while let Some((endpoint, seq)) = rows.try_next().await.context("reading a page")? {
        total += 1;
        match (number(endpoint.as_ref()), number(seq.as_ref())) {
            (Some(endpoint), Some(seq)) => {
                stored.insert((endpoint, seq));
            }
            _ => unreadable += 1,
        }
    }
    let mut report = json!({
        "rows": total,
        "distinct": stored.len(),
        "duplicates": total - unreadable - stored.len() as u64,
        "unreadable": unreadable,
    });
    if let Some(summary) = &options.acked {
        let (acknowledged, lost, examples) = lost(summary, &stored)?;
        report["acknowledged"] = json!(acknowledged);
        report["lost"] = json!(lost);
        report["lost_examples"] = json!(examples);
    }
    Ok(report)
}

/// The acknowledged records of `summary` (its `acked_ranges`, one list per endpoint index),
/// how many of them `stored` lacks, and some of those.
fn lost(
    summary: &Value,
    stored: &HashSet<(i64, i64)>,
) -> anyhow::Result<(u64, u64, Vec<[i64; 2]>)> {
    let endpoints = summary["acked_ranges"]
        .as_array()
        .context("the summary has no acked_ranges list")?;
    let (mut acknowledged, mut lost, mut examples) = (0, 0, Vec::new());
    for (endpoint, ranges) in endpoints.iter().enumerate() {
        let ranges = Ranges::from_json(ranges)
            .with_context(|| format!("acked_ranges of endpoint {endpoint}"))?;
        for seq in ranges.iter() {
            acknowledged += 1;
            if !stored.contains(&(endpoint as i64, seq)) {
                lost += 1;
                if examples.len() < LOST_EXAMPLES {
                    examples.push([endpoint as i64, seq]);
                }
            }
        }
    }
    Ok((acknowledged, lost, examples))
}

/// An integer column's value, or a text column holding one.
fn number(value: Option<&CqlValue>) -> Option<i64> {
    match value? {
        CqlValue::Int(n) => Some(i64::from(*n)),
        CqlValue::BigInt(n) => Some(*n),
        CqlValue::SmallInt(n) => Some(i64::from(*n)),
        CqlValue::TinyInt(n) => Some(i64::from(*n)),
        CqlValue::Text(text) | CqlValue::Ascii(text) => text.trim().parse().ok(),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn acknowledged_records_missing_from_the_table_are_lost() {
        let summary = json!({"acked_ranges": [[[0, 2]], [], [[5, 6]]]});
        let stored: HashSet<(i64, i64)> = [(0, 0), (0, 1), (0, 2), (2, 6), (1, 9)].into();
        let (acknowledged, lost, examples) = lost(&summary, &stored).unwrap();
        assert_eq!((acknowledged, lost), (5, 1));
        assert_eq!(examples, [[2, 5]]);
        assert!(super::lost(&json!({}), &stored).is_err());
    }

    #[test]
    fn numbers_come_from_integer_and_text_columns() {
        assert_eq!(number(Some(&CqlValue::Int(7))), Some(7));
        assert_eq!(number(Some(&CqlValue::BigInt(1 << 40))), Some(1 << 40));
        assert_eq!(number(Some(&CqlValue::Text("42".into()))), Some(42));
        assert_eq!(number(Some(&CqlValue::Text("x".into()))), None);
        assert_eq!(number(None), None);
    }
}
