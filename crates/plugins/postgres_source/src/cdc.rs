//! CDC through logical decoding with the `test_decoding` output plugin (ships with PostgreSQL,
//! usable through plain SQL functions). Each poll **peeks** at the slot, so nothing is consumed
//! until the runtime acknowledges the batch; Ack advances the slot to the last COMMIT of the
//! batch with `pg_replication_slot_advance`. A Nack or a crash re-delivers the same changes,
//! with the same message ids. Rolled-back transactions are never decoded by PostgreSQL.

use std::time::{Duration, Instant};

use iggy_connector_postgres_common::pool::{Pool, PooledClient};
use iggy_connector_postgres_common::quote::{quote_qualified, split_qualified};
use iggy_connector_postgres_common::retry::with_retry;
use iggy_connectors_sdk::ProducedMessage;
use serde_json::Value;

use crate::cdc_parse::{Line, parse_line, table_matches};
use crate::config::Settings;
use crate::decode::write_json_str;
use crate::error::{Error, Result};
use crate::polling::is_transient_error;

const PLUGIN: &str = "test_decoding";

/// How long `open` waits for a slot another session still holds. A previous run of the same
/// connector (a quick restart, a peek PostgreSQL is still finishing) lets go within moments;
/// anything longer is another consumer, and the error names its PID.
pub const SLOT_WAIT: Duration = Duration::from_secs(15);

/// Checks `wal_level`, warns about missing tables, and finds or creates the slot.
pub async fn setup(pool: &Pool, settings: &Settings) -> Result<()> {
    let client = pool
        .get()
        .await
        .map_err(Error::db("cannot connect to PostgreSQL"))?;
    let wal_level: String = client
        .query_one("SHOW wal_level", &[])
        .await
        .map_err(Error::db("SHOW wal_level"))?
        .get(0);
    if wal_level != "logical" {
        return Err(Error::Init(format!(
            "CDC mode needs wal_level = logical, the server has wal_level = {wal_level}: run \
             ALTER SYSTEM SET wal_level = logical (or set it in postgresql.conf) and restart PostgreSQL"
        )));
    }
    for table in &settings.tables {
        let exists: Option<String> = client
            .query_one("SELECT to_regclass($1)::text", &[&quote_qualified(table)?])
            .await
            .map_err(Error::db(format!("checking table {table:?}")))?
            .get(0);
        if exists.is_none() {
            tracing::warn!(
                "CDC: table {table:?} does not exist (yet); its changes will be captured once it does"
            );
        }
    }
    let slot = &settings.replication_slot;
    let existing = client
        .query_opt(
            "SELECT plugin, slot_type, database = current_database() FROM pg_replication_slots WHERE slot_name = $1",
            &[slot],
        )
        .await
        .map_err(Error::db("reading pg_replication_slots"))?;
    match existing {
        None => {
            client
                .query_one(
                    "SELECT pg_create_logical_replication_slot($1, $2)::text",
                    &[slot, &PLUGIN],
                )
                .await
                .map_err(Error::db(format!("creating replication slot {slot:?}")))?;
            tracing::info!("CDC: created logical replication slot {slot:?} ({PLUGIN})");
        }
        Some(row) => {
            let plugin: Option<String> = row.get(0);
            wait_until_free(&client, slot, SLOT_WAIT).await?;
            let slot_type: String = row.get(1);
            let same_db: Option<bool> = row.get(2);
            if slot_type != "logical" || plugin.as_deref() != Some(PLUGIN) || same_db != Some(true)
            {
                return Err(Error::Init(format!(
                    "replication slot {slot:?} exists but is a {slot_type} slot with plugin {} \
                     (database match: {}); this connector needs a logical {PLUGIN} slot in this \
                     database. Drop it with SELECT pg_drop_replication_slot('{slot}') or set \
                     plugin_config.replication_slot to another name",
                    plugin.as_deref().unwrap_or("none"),
                    same_db.unwrap_or(false)
                )));
            }
        }
    }
    Ok(())
}

/// Waits, at most `timeout`, until no backend holds `slot` (`pg_replication_slots.active_pid`
/// is NULL); then fails naming the holder so the user can find and stop it.
pub async fn wait_until_free(
    client: &PooledClient<'_>,
    slot: &str,
    timeout: Duration,
) -> Result<()> {
    let deadline = Instant::now() + timeout;
    let mut logged = false;
    loop {
        let holder = client
            .query_opt(
                "SELECT s.active_pid, a.application_name, host(a.client_addr), \
                 a.backend_start::text FROM pg_replication_slots s \
                 LEFT JOIN pg_stat_activity a ON a.pid = s.active_pid \
                 WHERE s.slot_name = $1 AND s.active_pid IS NOT NULL",
                &[&slot],
            )
            .await
            .map_err(Error::db(format!(
                "reading who holds replication slot {slot:?}"
            )))?;
        let Some(row) = holder else {
            return Ok(());
        };
        let pid: i32 = row.get(0);
        if Instant::now() >= deadline {
            let application: Option<String> = row.get(1);
            let address: Option<String> = row.get(2);
            let since: Option<String> = row.get(3);
            return Err(Error::Init(format!(
                "replication slot {slot:?} is held by PostgreSQL backend PID {pid} \
                 (application_name {:?}, client {}, connected since {}) and was not released \
                 within {} s. Another consumer of this slot is running: stop it, or end the \
                 session with SELECT pg_terminate_backend({pid})",
                application.unwrap_or_default(),
                address.as_deref().unwrap_or("local socket"),
                since.as_deref().unwrap_or("unknown"),
                timeout.as_secs_f64()
            )));
        }
        if !logged {
            tracing::warn!(
                "CDC: replication slot {slot:?} is held by PostgreSQL backend PID {pid}; \
                 waiting up to {} s for it to be released",
                timeout.as_secs_f64()
            );
            logged = true;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// One peeked batch: messages to emit and the LSN to advance to on Ack.
pub struct Peeked {
    pub messages: Vec<ProducedMessage>,
    pub advance_to: Option<String>,
    /// Rows returned by the peek (changes of all tables plus BEGIN/COMMIT).
    pub rows: usize,
}

/// `X/Y` → u64.
fn parse_lsn(lsn: &str) -> Option<u64> {
    let (hi, lo) = lsn.split_once('/')?;
    Some((u64::from_str_radix(hi, 16).ok()? << 32) | u64::from_str_radix(lo, 16).ok()?)
}

/// FNV-1a of the slot name: keeps ids of two connectors on one database apart.
fn slot_hash(slot: &str) -> u32 {
    slot.bytes().fold(0x811c_9dc5u32, |h, b| {
        (h ^ b as u32).wrapping_mul(0x0100_0193)
    })
}

pub async fn peek(
    pool: &Pool,
    settings: &Settings,
    filters: &[(Option<String>, String)],
) -> Result<Peeked> {
    let slot = &settings.replication_slot;
    let limit = i32::try_from(settings.batch_size).unwrap_or(i32::MAX);
    let rows = with_retry("CDC peek", settings.retry, is_transient_error, || async {
        let client = pool
            .get()
            .await
            .map_err(Error::db("cannot connect to PostgreSQL"))?;
        client
            .query(
                "SELECT lsn::text, data FROM pg_logical_slot_peek_changes($1, NULL, $2, \
                 'include-xids', '0', 'skip-empty-xacts', '1')",
                &[slot, &limit],
            )
            .await
            .map_err(Error::db(format!(
                "reading changes from replication slot {slot:?}"
            )))
    })
    .await?;
    let timestamp = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true);
    let origin_us = chrono::Utc::now().timestamp_micros().max(0) as u64;
    let salt = (slot_hash(slot) as u128) << 32;
    let mut messages = Vec::new();
    let mut advance_to = None;
    let (mut last_lsn, mut ordinal) = (u64::MAX, 0u32);
    for row in &rows {
        let lsn_text: String = row.get(0);
        let data: String = row.get(1);
        let lsn = parse_lsn(&lsn_text).unwrap_or(0);
        // Several changes can share one LSN (multi-insert records): number them.
        ordinal = if lsn == last_lsn { ordinal + 1 } else { 0 };
        last_lsn = lsn;
        advance_to = Some(lsn_text);
        let id = ((lsn as u128) << 64) | salt | ordinal as u128;
        let change = match parse_line(&data) {
            Ok(Line::Change(change)) => change,
            Ok(Line::Skip) => continue,
            Err(error) => {
                // Dead-lettered by the runtime (the batch fails without a dead-letter topic):
                // skipping it would lose the change once the slot advances. The line holds
                // row data, so only the position and the parse error are logged.
                tracing::error!(
                    "CDC: the change at {lsn:X} cannot be parsed ({error}); it goes to the dead-letter topic"
                );
                let reason = format!("unparseable CDC change at {lsn:X}: {error}");
                messages.push(ProducedMessage::rejected(
                    Some(id),
                    data.into_bytes(),
                    &reason,
                ));
                continue;
            }
        };
        if !settings.capture_operations.contains(&change.operation)
            || !table_matches(filters, &change.schema, &change.table)
        {
            continue;
        }
        let mut payload = Vec::with_capacity(data.len() + 128);
        payload.extend_from_slice(b"{\"table_name\":");
        write_json_str(&mut payload, &change.table);
        payload.extend_from_slice(b",\"operation_type\":");
        write_json_str(&mut payload, change.operation.as_str());
        payload.extend_from_slice(b",\"timestamp\":");
        write_json_str(&mut payload, &timestamp);
        payload.extend_from_slice(b",\"data\":");
        serde_json::to_writer(&mut payload, &Value::Object(change.data))
            .map_err(|e| Error::Record(e.to_string()))?;
        payload.extend_from_slice(b",\"old_data\":");
        serde_json::to_writer(&mut payload, &change.old_data.map(Value::Object))
            .map_err(|e| Error::Record(e.to_string()))?;
        payload.push(b'}');
        messages.push(ProducedMessage {
            id: Some(id),
            checksum: None,
            timestamp: None,
            origin_timestamp: Some(origin_us),
            headers: None,
            payload,
        });
    }
    Ok(Peeked {
        messages,
        advance_to,
        rows: rows.len(),
    })
}

/// Confirms everything up to `lsn` (the last COMMIT of an acknowledged batch).
pub async fn advance(pool: &Pool, settings: &Settings, lsn: &str) -> Result<()> {
    let slot = &settings.replication_slot;
    with_retry(
        "CDC slot advance",
        settings.retry,
        is_transient_error,
        || async {
            let client = pool
                .get()
                .await
                .map_err(Error::db("cannot connect to PostgreSQL"))?;
            client
                .query_one(
                    "SELECT pg_replication_slot_advance($1, $2::text::pg_lsn)::text",
                    &[slot, &lsn],
                )
                .await
                .map(|_| ())
                .map_err(Error::db(format!(
                    "advancing replication slot {slot:?} to {lsn}"
                )))
        },
    )
    .await
}

/// `tables` entries as (schema, table) filters.
pub fn filters(tables: &[String]) -> Result<Vec<(Option<String>, String)>> {
    tables
        .iter()
        .map(|t| {
            let mut segments = split_qualified(t)?;
            let table = segments.pop().unwrap_or_default();
            Ok((segments.pop(), table))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn given_lsn_text_when_parsed_should_combine_halves() {
        assert_eq!(parse_lsn("0/1507920"), Some(0x1507920));
        assert_eq!(parse_lsn("1/0"), Some(1 << 32));
        assert_eq!(parse_lsn("x"), None);
    }

    #[test]
    fn given_table_entries_when_turned_into_filters_should_split_schema() {
        let f = filters(&["users".into(), "app.orders".into()]).unwrap();
        assert_eq!(
            f,
            vec![
                (None, "users".into()),
                (Some("app".into()), "orders".into())
            ]
        );
    }
}
