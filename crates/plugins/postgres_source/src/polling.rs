//! Polling mode: per table, the rows after the cursor in tracking-column order, `batch_size` at a
//! time; or the operator's `custom_query`. Nothing here changes the database or the cursor:
//! the caller stages the result and commits it on Ack.
//!
//! A tracking column that is not unique (`updated_at`) cannot page alone: when a batch ends
//! inside a run of equal values, `WHERE t > last` skips the rest of the run (upstream's defect).
//! Such tables page on (tracking column, key column) instead; the key column is
//! `primary_key_column` when configured, else the table's primary key (or a unique NOT NULL
//! column) from the catalog. With none known the table is refused with an error naming the key.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::sync::{Arc, Mutex};

use iggy_connector_postgres_common::pool::Pool;
use iggy_connector_postgres_common::quote::{quote_ident, quote_literal, quote_qualified};
use iggy_connector_postgres_common::retry::{is_transient, with_retry};
use tokio_postgres::{Client, Column, Statement};

use crate::config::Settings;
use crate::decode::{Kind, RawValue, to_text};
use crate::error::{Error, Result};
use crate::rows::{IdScope, RowPlan, TABLE_ID_DOMAIN};
use crate::state::Cursor;

/// How a table's rows are ordered and resumed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Paging {
    /// The tracking column is unique: `WHERE t > last ORDER BY t`.
    Tracking,
    /// `WHERE (t, k) > (last_t, last_k) ORDER BY t, k` on this unique key column.
    Keyed(String),
}

/// A table's cached SELECT (column list with casts), row plan and paging.
pub struct TablePlan {
    select_list: String,
    pub rows: RowPlan,
    pub paging: Paging,
    /// Column whose values identify rows for delete_after_read / processed_column.
    pub key_column: String,
}

/// `"col"` or `"col"::text` / `"col"::text[]` for types without a binary decoder.
/// Also reports the cast columns so the caller can warn about them once.
fn select_list(columns: &[Column], qualifier: &str) -> Result<(String, Vec<String>)> {
    let mut list = String::new();
    let mut cast = Vec::new();
    for (i, column) in columns.iter().enumerate() {
        if i > 0 {
            list.push_str(", ");
        }
        let ident = quote_ident(column.name())?;
        list.push_str(qualifier);
        list.push_str(&ident);
        if Kind::of(column.type_()) == Kind::CastText {
            let array = matches!(column.type_().kind(), tokio_postgres::types::Kind::Array(_));
            let _ = write!(list, "::text{} AS {ident}", if array { "[]" } else { "" });
            cast.push(format!("{} ({})", column.name(), column.type_().name()));
        }
    }
    Ok((list, cast))
}

/// Per-table plans plus the set of columns already warned about.
fn lock_set(
    m: &Mutex<std::collections::HashSet<String>>,
) -> std::sync::MutexGuard<'_, std::collections::HashSet<String>> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

#[derive(Default)]
pub struct Planner {
    plans: Mutex<HashMap<String, Arc<TablePlan>>>,
    warned: Mutex<std::collections::HashSet<String>>,
}

impl Planner {
    fn warn_casts(&self, source: &str, cast: Vec<String>) {
        let mut warned = self.warned.lock().unwrap_or_else(|e| e.into_inner());
        for column in cast {
            let key = format!("{source}.{column}");
            if warned.insert(key) {
                tracing::warn!("{source}: column {column} has no JSON mapping; it is read as text");
            }
        }
    }

    /// Logs `message` once per `key`.
    pub fn warn_once(&self, key: &str, message: &str) {
        if lock_set(&self.warned).insert(format!("{key}: {message}")) {
            tracing::warn!("{key}: {message}");
        }
    }

    /// Drops a table's plan (its columns changed, or a query with it failed).
    pub fn forget(&self, table: &str) {
        self.plans
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(table);
    }

    async fn table_plan(
        &self,
        client: &Client,
        table: &str,
        settings: &Settings,
    ) -> Result<Arc<TablePlan>> {
        if let Some(plan) = self
            .plans
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(table)
        {
            return Ok(plan.clone());
        }
        let qualified = quote_qualified(table)?;
        let probe = client
            .prepare(&format!("SELECT * FROM {qualified} LIMIT 0"))
            .await
            .map_err(Error::db(format!(
                "cannot read the columns of table {table:?}"
            )))?;
        let (select_list, cast) = select_list(probe.columns(), "")?;
        self.warn_casts(table, cast);
        if settings.payload_column.is_none() && probe.columns().is_empty() {
            return Err(Error::Config(format!("table {table:?} has no columns")));
        }
        let mut rows = RowPlan::new(probe.columns(), settings);
        if rows.tracking.is_none() {
            return Err(Error::Config(format!(
                "plugin_config.tracking_column = {:?} is not a column of table {table:?}",
                settings.tracking_column
            )));
        }
        if let Some(column) = &settings.payload_column
            && rows.payload.is_none()
        {
            return Err(Error::Config(format!(
                "plugin_config.payload_column = {column:?} is not a column of table {table:?}"
            )));
        }
        let (paging, key_column) = paging_of(client, &qualified, table, settings).await?;
        rows.pk = rows.columns.iter().position(|c| c.name == key_column);
        rows.id_scope = id_scope(client, &qualified, table).await?;
        if rows.pk.is_none() && (paging != Paging::Tracking || needs_key(settings)) {
            return Err(Error::Config(format!(
                "plugin_config.primary_key_column = {key_column:?} is not a column of table {table:?}"
            )));
        }
        if let Paging::Keyed(column) = &paging {
            tracing::info!(
                "{table}: tracking_column {:?} is not unique; paging on ({:?}, {column:?}) so rows sharing a value are never skipped",
                settings.tracking_column,
                settings.tracking_column
            );
        }
        let plan = Arc::new(TablePlan {
            rows,
            select_list,
            paging,
            key_column,
        });
        self.plans
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(table.to_string(), plan.clone());
        Ok(plan)
    }
}

/// The catalog's schema and name of a table or view, for message ids (so `users` and
/// `public.users` in `tables` yield the same ids).
async fn id_scope(client: &Client, qualified: &str, table: &str) -> Result<IdScope> {
    let row = client
        .query_one(
            "SELECT n.nspname::text, c.relname::text FROM pg_class c \
             JOIN pg_namespace n ON n.oid = c.relnamespace WHERE c.oid = $1::text::regclass",
            &[&qualified],
        )
        .await
        .map_err(Error::db(format!(
            "cannot read the schema of table {table:?}"
        )))?;
    Ok(IdScope {
        domain: TABLE_ID_DOMAIN,
        schema: row.get(0),
        table: row.get(1),
        unique_key: true,
    })
}

/// delete_after_read / processed_column act on rows by key.
fn needs_key(settings: &Settings) -> bool {
    settings.delete_after_read || settings.processed_column.is_some()
}

/// Single-column unique indexes of a table (without predicate or expression), primary key first:
/// `(column, is_primary, not_null)`.
const UNIQUE_COLUMNS_SQL: &str = "SELECT a.attname::text, i.indisprimary, a.attnotnull \
     FROM pg_index i JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = i.indkey[0] \
     WHERE i.indrelid = $1::text::regclass AND i.indisunique AND i.indnkeyatts = 1 \
       AND i.indpred IS NULL AND i.indexprs IS NULL \
     ORDER BY i.indisprimary DESC, a.attnum";

/// Decides how `table` pages and which column keys its rows (see the module doc).
async fn paging_of(
    client: &Client,
    qualified: &str,
    table: &str,
    settings: &Settings,
) -> Result<(Paging, String)> {
    let tracking = &settings.tracking_column;
    if settings.primary_key_explicit {
        // The operator named the unique key; a view or a table without indexes is fine then.
        let key = settings.primary_key_column.clone();
        let paging = if &key == tracking {
            Paging::Tracking
        } else {
            Paging::Keyed(key.clone())
        };
        return Ok((paging, key));
    }
    let unique = client
        .query(UNIQUE_COLUMNS_SQL, &[&qualified])
        .await
        .map_err(Error::db(format!(
            "cannot read the unique indexes of table {table:?}"
        )))?;
    let columns: Vec<(String, bool, bool)> = unique
        .iter()
        .map(|row| (row.get(0), row.get(1), row.get(2)))
        .collect();
    if columns.iter().any(|(name, _, _)| name == tracking) {
        return Ok((Paging::Tracking, tracking.clone()));
    }
    match columns
        .into_iter()
        .find(|(_, primary, not_null)| *primary || *not_null)
    {
        Some((key, _, _)) => Ok((Paging::Keyed(key.clone()), key)),
        None => Err(Error::Config(format!(
            "plugin_config.tracking_column = {tracking:?} is not unique in table {table:?} and the \
             table has no single-column primary key or unique NOT NULL column: rows sharing a \
             tracking value across a batch boundary would be skipped. Set \
             plugin_config.primary_key_column to a unique column of the table"
        ))),
    }
}

/// The key-column value of the last row that has a tracking value: where keyed paging resumes.
pub fn boundary_key(fetched: &Fetched) -> Result<Option<String>> {
    let plan = &fetched.plan.rows;
    let (Some(tracking), Some(key)) = (plan.tracking, plan.pk) else {
        return Ok(None);
    };
    let value = |row: &tokio_postgres::Row, index: usize| -> Result<Option<String>> {
        let raw = row
            .try_get::<_, Option<RawValue>>(index)
            .map_err(|e| Error::Record(format!("cannot read column {index}: {e}")))?;
        Ok(to_text(&plan.columns[index].kind, raw.map(|v| v.0)))
    };
    for row in fetched.rows.iter().rev() {
        if value(row, tracking)?.is_some() {
            return value(row, key);
        }
    }
    Ok(None)
}

/// Rows fetched for one table (or for the custom query).
pub struct Fetched {
    pub rows: Vec<tokio_postgres::Row>,
    pub plan: Arc<TablePlan>,
}

/// `SELECT <cols> FROM <table> [WHERE <cursor condition>] [AND <processed> = FALSE]
/// ORDER BY <track> [, <key>] ASC LIMIT <n>`. Values are untyped literals so they compare
/// correctly with integer, numeric, text and timestamp columns alike. Keyed paging resumes after
/// `(track, key)`; with a committed value but no key (a state written before keyed paging, or by
/// upstream) it resumes **at** the value: rows of that value are read again rather than skipped.
pub fn table_query(
    settings: &Settings,
    table: &str,
    select_list: &str,
    paging: &Paging,
    cursor: Option<&Cursor>,
) -> Result<String> {
    let tracking = quote_ident(&settings.tracking_column)?;
    let mut sql = format!("SELECT {select_list} FROM {}", quote_qualified(table)?);
    let mut conditions = Vec::new();
    if let Some(cursor) = cursor {
        let value = quote_literal(&cursor.value)?;
        conditions.push(match (paging, &cursor.key) {
            (Paging::Keyed(key), Some(last)) => {
                format!(
                    "({tracking}, {}) > ({value}, {})",
                    quote_ident(key)?,
                    quote_literal(last)?
                )
            }
            (Paging::Keyed(_), None) if cursor.committed => format!("{tracking} >= {value}"),
            _ => format!("{tracking} > {value}"),
        });
    }
    if let Some(processed) = &settings.processed_column {
        conditions.push(format!("{} = FALSE", quote_ident(processed)?));
    }
    if !conditions.is_empty() {
        sql.push_str(" WHERE ");
        sql.push_str(&conditions.join(" AND "));
    }
    let order = match paging {
        Paging::Keyed(key) => format!("{tracking} ASC, {} ASC", quote_ident(key)?),
        Paging::Tracking => format!("{tracking} ASC"),
    };
    let _ = write!(sql, " ORDER BY {order} LIMIT {}", settings.batch_size);
    Ok(sql)
}

/// Placeholder substitution for `custom_query`, in an order where no placeholder is a prefix of
/// a later one (`$now_unix` before `$now`; upstream replaced `$now` first, so `$now_unix` never
/// worked). `$table` and `$offset` are inserted verbatim, as upstream does: write
/// `'$offset'` in the query when the cursor is not numeric.
pub fn substitute(
    query: &str,
    table: &str,
    offset: Option<&str>,
    limit: u32,
    now: chrono::DateTime<chrono::Utc>,
) -> String {
    query
        .replace("$now_unix", &now.timestamp().to_string())
        .replace(
            "$now",
            &now.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        )
        .replace("$table", table)
        .replace("$offset", offset.unwrap_or(""))
        .replace("$limit", &limit.to_string())
}

pub async fn fetch_table(
    pool: &Pool,
    planner: &Planner,
    settings: &Settings,
    table: &str,
    cursor: Option<&Cursor>,
) -> Result<Fetched> {
    let what = format!("polling table {table:?}");
    with_retry(&what, settings.retry, is_transient_error, || async {
        let client = pool
            .get()
            .await
            .map_err(Error::db("cannot connect to PostgreSQL"))?;
        let plan = planner.table_plan(&client, table, settings).await?;
        let sql = table_query(settings, table, &plan.select_list, &plan.paging, cursor)?;
        match client.query(&sql, &[]).await {
            Ok(rows) => Ok(Fetched { rows, plan }),
            Err(error) => {
                // A changed table (column added/dropped/retyped) invalidates the cached plan.
                planner.forget(table);
                Err(Error::Db {
                    what: format!("SELECT from {table:?} failed ({sql})"),
                    source: error,
                })
            }
        }
    })
    .await
}

pub async fn fetch_custom(
    pool: &Pool,
    planner: &Planner,
    settings: &Settings,
    table: &str,
    sql: &str,
) -> Result<Fetched> {
    with_retry(
        "custom_query",
        settings.retry,
        is_transient_error,
        || async {
            let client = pool
                .get()
                .await
                .map_err(Error::db("cannot connect to PostgreSQL"))?;
            let statement: Statement = client
                .prepare(sql)
                .await
                .map_err(Error::db(format!("custom_query failed ({sql})")))?;
            let (list, cast) = select_list(statement.columns(), "iggy_q.")?;
            let statement = if cast.is_empty() {
                statement
            } else {
                planner.warn_casts("custom_query", cast);
                // Types without a decoder are cast to text through a wrapping SELECT, which keeps
                // the inner query's order.
                client
                    .prepare(&format!("SELECT {list} FROM ({sql}) AS iggy_q"))
                    .await
                    .map_err(Error::db(format!("custom_query failed ({sql})")))?
            };
            let rows = client
                .query(&statement, &[])
                .await
                .map_err(Error::db(format!("custom_query failed ({sql})")))?;
            // The operator's query does its own paging.
            let mut rows_plan = RowPlan::new(statement.columns(), settings);
            // Ids: the name the cursor is stored under; the content is hashed too (see rows).
            rows_plan.id_scope.table = table.to_string();
            let plan = Arc::new(TablePlan {
                rows: rows_plan,
                select_list: String::new(),
                paging: Paging::Tracking,
                key_column: settings.primary_key_column.clone(),
            });
            Ok(Fetched { rows, plan })
        },
    )
    .await
}

pub fn is_transient_error(error: &Error) -> bool {
    match error {
        Error::Db { source, .. } => is_transient(source),
        _ => false,
    }
}

/// `DELETE FROM t WHERE pk IN (...)` or `UPDATE t SET processed = TRUE WHERE pk IN (...)`,
/// run after Ack, in chunks so a big batch never makes a huge statement.
pub async fn finish_rows(
    pool: &Pool,
    settings: &Settings,
    table: &str,
    key_column: &str,
    keys: &[String],
) -> Result<()> {
    if keys.is_empty() {
        return Ok(());
    }
    let qualified = quote_qualified(table)?;
    let pk = quote_ident(key_column)?;
    let head = if settings.delete_after_read {
        format!("DELETE FROM {qualified} WHERE {pk} IN (")
    } else if let Some(processed) = &settings.processed_column {
        format!(
            "UPDATE {qualified} SET {} = TRUE WHERE {pk} IN (",
            quote_ident(processed)?
        )
    } else {
        return Ok(());
    };
    for chunk in keys.chunks(1000) {
        let mut sql = head.clone();
        iggy_connector_postgres_common::quote::push_literal_list(&mut sql, chunk)?;
        sql.push(')');
        let what = format!("marking {} rows of {table:?} as read", chunk.len());
        with_retry(&what, settings.retry, is_transient_error, || async {
            let client = pool
                .get()
                .await
                .map_err(Error::db("cannot connect to PostgreSQL"))?;
            client
                .execute(&sql, &[])
                .await
                .map_err(Error::db(format!("{what} failed")))
        })
        .await?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::PostgresSourceConfig;

    fn settings(extra: &str) -> Settings {
        serde_json::from_str::<PostgresSourceConfig>(&format!(
            r#"{{"connection_string":"x","mode":"polling","tables":["t"],"batch_size":50{extra}}}"#
        ))
        .unwrap()
        .validate()
        .unwrap()
    }

    fn committed(value: &str, key: Option<&str>) -> Cursor {
        Cursor {
            value: value.into(),
            key: key.map(Into::into),
            committed: true,
        }
    }

    #[test]
    fn given_cursor_and_processed_column_when_building_query_should_filter_both() {
        let s = settings(r#","processed_column":"done","tracking_column":"seq""#);
        let cursor = committed("4'2", None);
        let sql = table_query(&s, "app.events", "*", &Paging::Tracking, Some(&cursor)).unwrap();
        assert_eq!(
            sql,
            "SELECT * FROM \"app\".\"events\" WHERE \"seq\" > '4''2' AND \"done\" = FALSE ORDER BY \"seq\" ASC LIMIT 50"
        );
        let sql = table_query(&settings(""), "t", "*", &Paging::Tracking, None).unwrap();
        assert_eq!(sql, "SELECT * FROM \"t\" ORDER BY \"id\" ASC LIMIT 50");
    }

    #[test]
    fn given_keyed_paging_when_building_query_should_resume_after_the_row_pair() {
        let s = settings(r#","tracking_column":"updated_at""#);
        let keyed = Paging::Keyed("id".into());
        let cursor = committed("2024-01-01 00:00:00", Some("17"));
        assert_eq!(
            table_query(&s, "t", "*", &keyed, Some(&cursor)).unwrap(),
            "SELECT * FROM \"t\" WHERE (\"updated_at\", \"id\") > ('2024-01-01 00:00:00', '17') \
             ORDER BY \"updated_at\" ASC, \"id\" ASC LIMIT 50"
        );
        // A committed value without a key (older state): re-read the value's rows, skip none.
        assert_eq!(
            table_query(&s, "t", "*", &keyed, Some(&committed("5", None))).unwrap(),
            "SELECT * FROM \"t\" WHERE \"updated_at\" >= '5' ORDER BY \"updated_at\" ASC, \"id\" ASC LIMIT 50"
        );
        // initial_offset means "after".
        assert_eq!(
            table_query(&s, "t", "*", &keyed, Some(&Cursor::initial("5"))).unwrap(),
            "SELECT * FROM \"t\" WHERE \"updated_at\" > '5' ORDER BY \"updated_at\" ASC, \"id\" ASC LIMIT 50"
        );
    }

    #[test]
    fn given_all_placeholders_when_substituted_should_replace_each_correctly() {
        let now = chrono::DateTime::parse_from_rfc3339("2024-01-15T10:30:00Z")
            .unwrap()
            .to_utc();
        let sql = substitute(
            "SELECT * FROM $table WHERE id > $offset AND ts < '$now' AND epoch < $now_unix LIMIT $limit",
            "users",
            Some("41"),
            10,
            now,
        );
        assert_eq!(
            sql,
            "SELECT * FROM users WHERE id > 41 AND ts < '2024-01-15T10:30:00Z' AND epoch < 1705314600 LIMIT 10"
        );
    }
}
