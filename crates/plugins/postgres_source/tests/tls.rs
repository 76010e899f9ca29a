//! TLS: libpq `sslmode` semantics through the shared pool (both plugins connect through it).

mod common;

use common::*;
use iggy_connector_postgres_common::pool::Pool;
use serde_json::json;

async fn ssl_in_use(url: &str) -> Result<bool, String> {
    let pool = Pool::new(url, 1)?;
    let client = pool
        .get()
        .await
        .map_err(|e| format!("{e}: {:?}", std::error::Error::source(&e)))?;
    let row = client
        .query_one(
            "SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()",
            &[],
        )
        .await
        .map_err(|e| e.to_string())?;
    Ok(row.get(0))
}

#[tokio::test]
async fn given_sslmodes_when_connecting_should_encrypt_and_verify_like_libpq() {
    let url = &server().url;
    let ca = server().dir.join("ca.crt");
    assert!(
        ca.exists(),
        "the test server has TLS (openssl is needed by scripts/pg-test-server.sh)"
    );
    assert!(!ssl_in_use(&format!("{url}?sslmode=disable")).await.unwrap());
    assert!(
        ssl_in_use(url).await.unwrap(),
        "prefer (default) uses TLS when offered"
    );
    assert!(ssl_in_use(&format!("{url}?sslmode=require")).await.unwrap());
    let verified = format!("{url}?sslmode=verify-full&sslrootcert={}", ca.display());
    assert!(ssl_in_use(&verified).await.unwrap());
    // verify-full against the public roots must reject the test CA.
    let error = ssl_in_use(&format!("{url}?sslmode=verify-full"))
        .await
        .unwrap_err();
    assert!(
        error.to_lowercase().contains("certificate") || error.contains("UnknownIssuer"),
        "{error}"
    );

    // And a source works over a verified connection.
    let db = db().await;
    let table = name("tls_rows");
    db.batch_execute(&format!(
        "CREATE TABLE {table} (id INT PRIMARY KEY); INSERT INTO {table} VALUES (1)"
    ))
    .await
    .unwrap();
    let mut cfg = config(json!({"tables": [table]}));
    cfg["connection_string"] = json!(verified);
    let source = open(cfg, None).await;
    assert_eq!(source.poll().await.unwrap().messages.len(), 1);
}
