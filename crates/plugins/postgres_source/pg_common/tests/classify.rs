//! Transient/permanent classification of errors the real PostgreSQL server (and a real refused
//! connection) produce; the retry loops of both plugins decide on these.
#![cfg(feature = "testing")]

use std::time::Duration;

use iggy_connector_postgres_common::retry::is_transient;
use iggy_connector_postgres_common::testing::{TestServer, connect, unique_name};
use tokio_postgres::error::SqlState;

fn server() -> &'static TestServer {
    TestServer::shared("common-classify")
}

/// Runs `sql`, which must fail, and returns the error.
async fn fails(client: &tokio_postgres::Client, sql: &str) -> tokio_postgres::Error {
    client
        .batch_execute(sql)
        .await
        .expect_err(&format!("{sql} should fail"))
}

#[tokio::test]
async fn given_bad_sql_and_data_errors_when_classified_should_be_permanent() {
    let db = connect(&server().url).await;
    let table = unique_name("classify");
    db.batch_execute(&format!("CREATE TABLE {table} (id INT PRIMARY KEY, n INT)"))
        .await
        .unwrap();
    db.batch_execute(&format!("INSERT INTO {table} VALUES (1, 1)"))
        .await
        .unwrap();
    let cases = [
        ("SELEC 1".to_owned(), SqlState::SYNTAX_ERROR),
        (
            "SELECT * FROM no_such_table_here".to_owned(),
            SqlState::UNDEFINED_TABLE,
        ),
        (
            format!("INSERT INTO {table} VALUES (1, 2)"),
            SqlState::UNIQUE_VIOLATION,
        ),
        (
            format!("INSERT INTO {table} VALUES (2, 'x')"),
            SqlState::INVALID_TEXT_REPRESENTATION,
        ),
        (
            format!("INSERT INTO {table} VALUES (NULL, 1)"),
            SqlState::NOT_NULL_VIOLATION,
        ),
        ("SELECT 1/0".to_owned(), SqlState::DIVISION_BY_ZERO),
    ];
    for (sql, code) in cases {
        let error = fails(&db, &sql).await;
        assert_eq!(error.code(), Some(&code), "{sql}: {error:?}");
        assert!(
            !is_transient(&error),
            "{sql} ({}) must not be retried",
            code.code()
        );
    }
}

#[tokio::test]
async fn given_lock_and_serialization_conflicts_when_classified_should_be_transient() {
    let table = unique_name("conflict");
    let a = connect(&server().url).await;
    let b = connect(&server().url).await;
    a.batch_execute(&format!(
        "CREATE TABLE {table} (id INT PRIMARY KEY, n INT); INSERT INTO {table} VALUES (1, 0)"
    ))
    .await
    .unwrap();

    // 55P03: a NOWAIT lock on a row another transaction holds.
    a.batch_execute(&format!(
        "BEGIN; SELECT * FROM {table} WHERE id = 1 FOR UPDATE"
    ))
    .await
    .unwrap();
    let error = fails(
        &b,
        &format!("SELECT * FROM {table} WHERE id = 1 FOR UPDATE NOWAIT"),
    )
    .await;
    assert_eq!(
        error.code(),
        Some(&SqlState::LOCK_NOT_AVAILABLE),
        "{error:?}"
    );
    assert!(is_transient(&error));
    a.batch_execute("ROLLBACK").await.unwrap();

    // 40001: two serializable transactions updating the same row.
    a.batch_execute(&format!(
        "BEGIN ISOLATION LEVEL REPEATABLE READ; SELECT n FROM {table} WHERE id = 1"
    ))
    .await
    .unwrap();
    b.batch_execute(&format!("UPDATE {table} SET n = n + 1 WHERE id = 1"))
        .await
        .unwrap();
    let error = fails(&a, &format!("UPDATE {table} SET n = n + 1 WHERE id = 1")).await;
    assert_eq!(
        error.code(),
        Some(&SqlState::T_R_SERIALIZATION_FAILURE),
        "{error:?}"
    );
    assert!(is_transient(&error));
    a.batch_execute("ROLLBACK").await.unwrap();

    // 40P01: a real deadlock between the two sessions.
    a.batch_execute(&format!(
        "INSERT INTO {table} VALUES (2, 0); SET deadlock_timeout = '50ms'"
    ))
    .await
    .unwrap();
    b.batch_execute("SET deadlock_timeout = '50ms'")
        .await
        .unwrap();
    a.batch_execute(&format!("BEGIN; UPDATE {table} SET n = 1 WHERE id = 1"))
        .await
        .unwrap();
    b.batch_execute(&format!("BEGIN; UPDATE {table} SET n = 1 WHERE id = 2"))
        .await
        .unwrap();
    let (sql_a, sql_b) = (
        format!("UPDATE {table} SET n = 2 WHERE id = 2"),
        format!("UPDATE {table} SET n = 2 WHERE id = 1"),
    );
    let (ra, rb) = tokio::join!(a.batch_execute(&sql_a), b.batch_execute(&sql_b));
    // PostgreSQL aborts exactly one of them.
    let error = match (ra, rb) {
        (Err(e), Ok(())) | (Ok(()), Err(e)) => e,
        other => panic!("expected one deadlock victim, got {other:?}"),
    };
    assert_eq!(
        error.code(),
        Some(&SqlState::T_R_DEADLOCK_DETECTED),
        "{error:?}"
    );
    assert!(is_transient(&error));
    a.batch_execute("ROLLBACK").await.unwrap();
    b.batch_execute("ROLLBACK").await.unwrap();
}

#[tokio::test]
async fn given_terminated_session_when_classified_should_be_transient_then_closed() {
    let admin = connect(&server().url).await;
    let victim = connect(&server().url).await;
    let pid: i32 = victim
        .query_one("SELECT pg_backend_pid()", &[])
        .await
        .unwrap()
        .get(0);
    admin
        .execute("SELECT pg_terminate_backend($1)", &[&pid])
        .await
        .unwrap();
    // 57P01 arrives as an asynchronous FATAL; the next query sees it or the closed connection.
    let error = victim.batch_execute("SELECT 1").await.unwrap_err();
    assert!(
        error.code() == Some(&SqlState::ADMIN_SHUTDOWN) || error.is_closed(),
        "{error:?}"
    );
    assert!(is_transient(&error), "{error:?}");
    let error = victim.batch_execute("SELECT 1").await.unwrap_err();
    assert!(error.is_closed(), "{error:?}");
    assert!(is_transient(&error));
}

#[tokio::test]
async fn given_refused_connection_when_classified_should_be_transient() {
    // A port that was free a moment ago: nothing listens there.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut config = tokio_postgres::Config::new();
    config
        .host("127.0.0.1")
        .port(port)
        .user("postgres")
        .connect_timeout(Duration::from_secs(5));
    let error = config
        .connect(tokio_postgres::NoTls)
        .await
        .map(|_| ())
        .unwrap_err();
    assert!(error.code().is_none(), "{error:?}");
    assert!(is_transient(&error), "{error}");
}

#[tokio::test]
async fn given_wrong_database_when_classified_should_be_permanent() {
    let url = format!("{}_no_such_db", server().url);
    let error = tokio_postgres::connect(&url, tokio_postgres::NoTls)
        .await
        .map(|_| ())
        .unwrap_err();
    assert_eq!(
        error.code(),
        Some(&SqlState::INVALID_CATALOG_NAME),
        "{error:?}"
    );
    assert!(!is_transient(&error));
}
