//! Effectively-once end to end (issue 20): PostgreSQL → Iggy → PostgreSQL with the runtime in its
//! own process killed with SIGKILL at random points six times, then a clean run from no source
//! state that reads and sends every row again (test_support's `kill9::postgres`). Deterministic
//! message ids make the PostgreSQL sink (idempotent on the id) drop every replay: the target
//! table ends with each source row exactly once, counted in SQL.
//!
//! `KILL9_SEED=<n>` replays a run's kill points. `KILL9_MESSAGE_IDS=random` runs the source with
//! random ids: the test must then fail on duplicates.

use iggy_connectors_test_support::artifacts::plugin;
use iggy_connectors_test_support::kill9::postgres::{
    SourceTable, Target, assert_each_row_once, killed_then_replayed,
};
use serde_json::json;

const ROWS: u64 = 20_000;

/// The sink's table, read in SQL through the source table's connection.
struct Table<'a> {
    db: &'a tokio_postgres::Client,
    name: String,
}

impl Target for Table<'_> {
    async fn stored(&self) -> u64 {
        // The table appears when the sink opens.
        let sql = format!("SELECT count(*) FROM {}", self.name);
        let count: i64 = self.db.query_one(&sql, &[]).await.map_or(0, |r| r.get(0));
        count as u64
    }

    async fn holds_row(&self, id: u64) -> bool {
        let sql = format!(
            "SELECT count(*) FROM {} WHERE (payload->'data'->>'id')::bigint = {id}",
            self.name
        );
        let count: i64 = self.db.query_one(&sql, &[]).await.map_or(0, |r| r.get(0));
        count > 0
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn given_runtime_killed_six_times_then_full_replay_should_store_every_row_exactly_once() {
    let source = SourceTable::create("kill9", ROWS).await;
    let target = Table {
        db: &source.db,
        name: format!("{}_target", source.name),
    };
    let elapsed = killed_then_replayed(
        &source,
        &plugin("iggy_connector_postgres_sink"),
        &json!({
            "connection_string": source.server.url, "target_table": target.name,
            "auto_create_table": true, "payload_format": "json", "batch_size": 500,
        }),
        &target,
    )
    .await;

    let rows = source
        .db
        .query(
            &format!(
                "SELECT (payload->'data'->>'id')::bigint, iggy_offset FROM {}",
                target.name
            ),
            &[],
        )
        .await
        .unwrap();
    let row_ids: Vec<u64> = rows.iter().map(|r| r.get::<_, i64>(0) as u64).collect();
    let sentinel_offset = rows
        .iter()
        .filter(|r| r.get::<_, i64>(0) as u64 == source.sentinel())
        .map(|r| r.get::<_, i64>(1) as u64)
        .max()
        .expect("the sentinel's record");
    assert_each_row_once(&source, elapsed, &row_ids, sentinel_offset);
}
