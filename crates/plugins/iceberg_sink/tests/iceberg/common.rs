//! Shared helpers of the Iceberg sink tests: the real Iceberg REST catalog and moto's S3 server
//! (started by `scripts/iceberg-test-server.sh`, shared by the tests of this binary), tables
//! created through iceberg-rust's REST client, and a reader that is pyiceberg (not our code).
#![allow(dead_code)]

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU32, Ordering};

use tokio::sync::{RwLock, RwLockReadGuard, RwLockWriteGuard};

use iceberg::spec::{NestedField, PrimitiveType, Schema, Transform, Type, UnboundPartitionSpec};
use iceberg::{Catalog, CatalogBuilder, NamespaceIdent, TableCreation};
use iceberg_catalog_rest::{RestCatalog, RestCatalogBuilder};
use iceberg_storage_opendal::OpenDalResolvingStorageFactory;
use serde_json::{Value, json};

pub const ACCESS_KEY: &str = "iggy";
pub const SECRET_KEY: &str = "iggy-secret";

fn script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../scripts/iceberg-test-server.sh")
}

pub struct Servers {
    pub catalog: String,
    pub s3: String,
    pub python: PathBuf,
}

fn run_script(args: &[&str]) -> String {
    let output = Command::new("bash")
        .arg(script())
        .args(args)
        .stderr(Stdio::inherit())
        .output()
        .expect("runs scripts/iceberg-test-server.sh");
    assert!(
        output.status.success(),
        "scripts/iceberg-test-server.sh {args:?} failed"
    );
    String::from_utf8(output.stdout).unwrap().trim().to_string()
}

/// Starts (or reuses) the catalog and moto once per test binary; both stop when it exits.
pub fn servers() -> &'static Servers {
    static SERVERS: OnceLock<Servers> = OnceLock::new();
    SERVERS.get_or_init(|| {
        init_logs();
        let pid = std::process::id().to_string();
        let started = std::time::Instant::now();
        let urls = run_script(&["start", "--watch-pid", &pid]);
        eprintln!(
            "Iceberg catalog and S3 ready in {:?}: {urls}",
            started.elapsed()
        );
        let mut urls = urls.split_whitespace().map(str::to_string);
        let (catalog, s3) = (urls.next().unwrap(), urls.next().unwrap());
        // The default-credential-chain test (upstream's) configures no keys: the sink then
        // reads them from the environment. Set here, once, before any sink runs, to the keys
        // moto accepts (the same the other tests configure explicitly).
        // SAFETY: every test calls servers() first and blocks on this OnceLock, so no other
        // thread of this process reads the environment while it is written.
        unsafe {
            std::env::set_var("AWS_ACCESS_KEY_ID", ACCESS_KEY);
            std::env::set_var("AWS_SECRET_ACCESS_KEY", SECRET_KEY);
        }
        let python = PathBuf::from(run_script(&["python"]));
        Servers {
            catalog,
            s3,
            python,
        }
    })
}

/// Tests share the catalog (its port is fixed); the outage test takes it down, so it runs
/// alone: the others hold this lock shared, it holds it exclusively.
static OUTAGE_LOCK: RwLock<()> = RwLock::const_new(());

pub async fn shared_catalog() -> RwLockReadGuard<'static, ()> {
    OUTAGE_LOCK.read().await
}

pub async fn exclusive_catalog() -> RwLockWriteGuard<'static, ()> {
    OUTAGE_LOCK.write().await
}

pub fn stop_catalog() {
    run_script(&["stop-catalog"]);
}

pub fn start_catalog() {
    let pid = std::process::id().to_string();
    run_script(&["start", "--watch-pid", &pid]);
}

/// `RUST_LOG=info cargo test … -- --nocapture` shows the sink's logs.
pub fn init_logs() {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_test_writer()
        .try_init();
}

pub fn unique_name(prefix: &str) -> String {
    static COUNTER: AtomicU32 = AtomicU32::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos();
    format!(
        "{prefix}_{}_{nanos}_{}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    )
}

/// The sink's `[plugin_config]` for `tables` on the test servers (upstream's example keys).
pub fn plugin_config(tables: &[&str], store_class: &str) -> Value {
    let s = servers();
    json!({
        "tables": tables, "catalog_type": "rest", "warehouse": "warehouse", "uri": s.catalog,
        "dynamic_routing": false, "dynamic_route_field": "", "store_url": s.s3,
        "store_access_key_id": ACCESS_KEY, "store_secret_access_key": SECRET_KEY,
        "store_region": "us-east-1", "store_class": store_class
    })
}

/// An iceberg-rust REST client for creating tables (reading back goes through pyiceberg).
pub async fn catalog() -> RestCatalog {
    let s = servers();
    RestCatalogBuilder::default()
        .with_storage_factory(std::sync::Arc::new(OpenDalResolvingStorageFactory::new()))
        .load(
            "rest",
            HashMap::from([
                ("uri".to_string(), s.catalog.clone()),
                ("s3.endpoint".to_string(), s.s3.clone()),
                ("s3.access-key-id".to_string(), ACCESS_KEY.to_string()),
                ("s3.secret-access-key".to_string(), SECRET_KEY.to_string()),
                ("s3.region".to_string(), "us-east-1".to_string()),
                ("s3.path-style-access".to_string(), "true".to_string()),
            ]),
        )
        .await
        .expect("REST catalog client")
}

/// Upstream's test schema (`id long required, name string required, count int, amount double,
/// active boolean, timestamp long`) plus `category string` to partition by.
pub fn messages_schema() -> Schema {
    let field = |id, name: &str, kind, required: bool| {
        let t = Type::Primitive(kind);
        std::sync::Arc::new(if required {
            NestedField::required(id, name, t)
        } else {
            NestedField::optional(id, name, t)
        })
    };
    Schema::builder()
        .with_fields(vec![
            field(1, "id", PrimitiveType::Long, true),
            field(2, "name", PrimitiveType::String, true),
            field(3, "count", PrimitiveType::Int, false),
            field(4, "amount", PrimitiveType::Double, false),
            field(5, "active", PrimitiveType::Boolean, false),
            field(6, "timestamp", PrimitiveType::Long, false),
            field(7, "category", PrimitiveType::String, false),
        ])
        .build()
        .unwrap()
}

/// Creates `namespace.table` (the namespace too when missing); partitioned by
/// `identity(category)` and `bucket[4](id)` when asked; at `location` (e.g. `file:///…`)
/// instead of the catalog's S3 warehouse when given. Returns `namespace.table`.
pub async fn create_table(
    namespace: &str,
    table: &str,
    partitioned: bool,
    location: Option<String>,
) -> String {
    let catalog = catalog().await;
    let ns = NamespaceIdent::new(namespace.to_string());
    if !catalog.namespace_exists(&ns).await.unwrap() {
        // Two tests may race to create it; the loser's "already exists" is fine.
        let _ = catalog.create_namespace(&ns, HashMap::new()).await;
    }
    let spec = UnboundPartitionSpec::builder()
        .with_spec_id(0)
        .add_partition_field(7, "category", Transform::Identity)
        .unwrap()
        .add_partition_field(1, "id_bucket", Transform::Bucket(4))
        .unwrap()
        .build();
    let creation = TableCreation::builder()
        .name(table.to_string())
        .schema(messages_schema())
        .location_opt(location)
        .partition_spec_opt(partitioned.then_some(spec))
        .build();
    catalog
        .create_table(&ns, creation)
        .await
        .expect("create table");
    format!("{namespace}.{table}")
}

/// What pyiceberg reads from `table`: `{"rows": [...sorted by id], "files": [{partition,
/// record_count}], "snapshots": [{summary}]}`.
pub fn read_table(table: &str) -> Value {
    let s = servers();
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/read_table.py");
    let output = Command::new(&s.python)
        .arg(script)
        .args([&s.catalog, &s.s3, table])
        .stderr(Stdio::inherit())
        .output()
        .expect("runs pyiceberg");
    assert!(output.status.success(), "pyiceberg could not read {table}");
    let mut read: Value = serde_json::from_slice(&output.stdout).expect("pyiceberg output is JSON");
    // Columns → rows (objects keyed by column name).
    let columns = read["columns"].as_object().expect("columns").clone();
    let count = columns
        .values()
        .next()
        .map_or(0, |c| c.as_array().unwrap().len());
    let rows: Vec<Value> = (0..count)
        .map(|i| {
            Value::Object(
                columns
                    .iter()
                    .map(|(name, values)| (name.clone(), values[i].clone()))
                    .collect(),
            )
        })
        .collect();
    read["rows"] = Value::Array(rows);
    read
}

/// The test message number `i` as the JSON the sink receives.
pub fn message(i: u64) -> Value {
    json!({
        "id": i, "name": format!("user {i}"), "count": (i % 1000) as i32,
        "amount": i as f64 * 0.25, "active": i.is_multiple_of(2),
        "timestamp": 1_700_000_000_000_000u64 + i, "category": format!("c{}", i % 3)
    })
}

/// Asserts `rows` (pyiceberg's, sorted by id) are exactly `message(i)` for `ids`, each once.
pub fn assert_rows_are(rows: &Value, ids: impl IntoIterator<Item = u64>) {
    let rows = rows.as_array().expect("rows");
    let ids: Vec<u64> = ids.into_iter().collect();
    assert_eq!(rows.len(), ids.len(), "row count");
    for (row, &i) in rows.iter().zip(&ids) {
        assert_eq!(row, &message(i), "row for id {i}");
    }
}
