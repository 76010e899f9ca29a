//! Pool::shutdown against a real server: when it returns, no session of the pool is left on the
//! server, even one whose query was abandoned mid-flight (a poll cancelled by a stop).
#![cfg(feature = "testing")]

use std::time::Duration;

use iggy_connector_postgres_common::pool::Pool;
use iggy_connector_postgres_common::testing::{TestServer, connect, unique_name};

fn server() -> &'static TestServer {
    TestServer::shared("common-pool")
}

/// PIDs of sessions whose application_name is `app`.
async fn sessions(admin: &tokio_postgres::Client, app: &str) -> Vec<i32> {
    admin
        .query(
            "SELECT pid FROM pg_stat_activity WHERE application_name = $1 ORDER BY pid",
            &[&app],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect()
}

/// Returns once a session of `app` is running `pg_sleep`.
async fn wait_active(admin: &tokio_postgres::Client, app: &str) {
    loop {
        let n: i64 = admin
            .query_one(
                "SELECT count(*) FROM pg_stat_activity WHERE application_name = $1 \
                 AND state = 'active' AND query LIKE '%pg_sleep%'",
                &[&app],
            )
            .await
            .unwrap()
            .get(0);
        if n > 0 {
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn given_abandoned_running_query_when_pool_shuts_down_should_end_every_session_first() {
    let admin = connect(&server().url).await;
    let app = unique_name("pool_shutdown");
    let pool = Pool::new(&format!("{}?application_name={app}", server().url), 3).unwrap();
    // One idle session and one running a long query that its caller abandons (the future is
    // dropped as soon as the server shows the query running; the client goes back to the pool).
    {
        let (first, second) = (pool.get().await.unwrap(), pool.get().await.unwrap());
        drop((first, second));
    }
    {
        let running = async {
            let client = pool.get().await.unwrap();
            client.batch_execute("SELECT pg_sleep(600)").await
        };
        tokio::select! {
            _ = running => panic!("pg_sleep(600) does not finish during the test"),
            _ = wait_active(&admin, &app) => {}
        }
    }
    let pids = sessions(&admin, &app).await;
    assert_eq!(pids.len(), 2, "idle + abandoned");

    pool.shutdown(Duration::from_secs(30))
        .await
        .expect("sessions end");
    let left: Vec<i32> = admin
        .query(
            "SELECT pid FROM pg_stat_activity WHERE pid = ANY($1)",
            &[&pids],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert_eq!(
        left,
        Vec::<i32>::new(),
        "no session of the pool outlives shutdown"
    );
}
