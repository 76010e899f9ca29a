//! The sink: REST catalog at `open`, then per consume call route the messages to their tables,
//! decode them in each table's schema, skip what an earlier commit already holds, and commit the
//! rest as one snapshot per table whose summary records the partition's last offset.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use arrow_array::BooleanArray;
use arrow_schema::Schema as ArrowSchema;
use arrow_select::filter::filter_record_batch;
use iceberg::io::StorageFactory;
use iceberg::table::Table;
use iceberg::{Catalog, CatalogBuilder, ErrorKind, TableIdent};
use iceberg_catalog_rest::{RestCatalog, RestCatalogBuilder};
use iceberg_storage_opendal::OpenDalStorageFactory;
use iggy_connectors_sdk::{ConsumedMessage, MessagesMetadata, Payload, TopicMetadata};
use serde_json::Value;
use tracing::{info, warn};

use crate::config::{IcebergSinkConfig, Settings, StoreClass, parse_table};
use crate::offsets::{self, PartitionKey};
use crate::records;
use crate::writer;

#[derive(Debug, thiserror::Error)]
pub enum SinkError {
    #[error("{0}")]
    Config(String),
    #[error("{0}")]
    Init(String),
    /// The catalog or the store failed; the batch is retried.
    #[error("{0}")]
    Transient(String),
}

/// A message refused for its content, by offset.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejection {
    pub offset: u64,
    pub reason: String,
}

struct Opened {
    settings: Settings,
    catalog: RestCatalog,
}

pub struct IcebergSink {
    id: u32,
    config: IcebergSinkConfig,
    opened: Option<Opened>,
    /// When this sink last committed to each table (for `commit_interval`).
    last_commit: std::sync::Mutex<HashMap<TableIdent, tokio::time::Instant>>,
}

fn chain(error: &iceberg::Error) -> String {
    let mut text = error.to_string();
    let mut source = std::error::Error::source(error);
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

fn table_name(ident: &TableIdent) -> String {
    format!("{}.{}", ident.namespace().join("."), ident.name())
}

impl IcebergSink {
    pub fn new(id: u32, config: IcebergSinkConfig) -> Self {
        Self {
            id,
            config,
            opened: None,
            last_commit: Default::default(),
        }
    }

    pub async fn open(&mut self) -> Result<(), SinkError> {
        let settings = self.config.clone().validate().map_err(SinkError::Config)?;
        if !settings.properties.contains_key("s3.access-key-id")
            && settings.store_class == StoreClass::S3
        {
            info!(
                "Iceberg sink {}: no store credentials configured, using the default AWS \
                 credential chain (AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, profile, ...)",
                self.id
            );
        }
        let factory: Arc<dyn StorageFactory> = match settings.store_class {
            StoreClass::S3 => Arc::new(OpenDalStorageFactory::S3 {
                customized_credential_load: None,
            }),
            StoreClass::Fs => Arc::new(OpenDalStorageFactory::Fs),
        };
        let mut props = settings.properties.clone();
        props.insert("uri".into(), settings.uri.clone());
        if let Some(warehouse) = &settings.warehouse {
            props.insert("warehouse".into(), warehouse.clone());
        }
        let catalog = RestCatalogBuilder::default()
            .with_storage_factory(factory)
            .load("rest", props)
            .await
            .map_err(|e| {
                SinkError::Init(format!("REST catalog {}: {}", settings.uri, chain(&e)))
            })?;
        // Static targets must exist: a target silently left out would drop its data.
        for ident in &settings.tables {
            catalog.load_table(ident).await.map_err(|e| {
                SinkError::Init(format!(
                    "plugin_config.tables: cannot load table '{}': {}",
                    table_name(ident),
                    chain(&e)
                ))
            })?;
        }
        info!(
            "Iceberg sink {} opened: catalog {}, {}",
            self.id,
            settings.uri,
            match &settings.dynamic_route_field {
                Some(field) => format!("dynamic routing by field '{field}'"),
                None => format!("{} table(s)", settings.tables.len()),
            }
        );
        self.opened = Some(Opened { settings, catalog });
        Ok(())
    }

    pub async fn consume(
        &self,
        topic: &TopicMetadata,
        metadata: MessagesMetadata,
        messages: Vec<ConsumedMessage>,
    ) -> Result<Vec<Rejection>, SinkError> {
        let opened = self
            .opened
            .as_ref()
            .ok_or_else(|| SinkError::Init("consume called before open".into()))?;
        let key = PartitionKey {
            stream: topic.stream.clone(),
            topic: topic.topic.clone(),
            partition: metadata.partition_id,
        };
        let payloads: Vec<Option<&Value>> = messages
            .iter()
            .map(|m| match &m.payload {
                Payload::Json(value) => Some(value),
                _ => None,
            })
            .collect();
        let mut rejections: BTreeMap<u64, String> = BTreeMap::new();
        let routes = match &opened.settings.dynamic_route_field {
            None => opened
                .settings
                .tables
                .iter()
                .map(|t| (t.clone(), (0..messages.len()).collect()))
                .collect(),
            Some(field) => route(field, &messages, &payloads, &mut rejections),
        };
        for (ident, indexes) in routes {
            let table = match opened.catalog.load_table(&ident).await {
                Ok(table) => table,
                Err(e)
                    if e.kind() == ErrorKind::TableNotFound
                        && opened.settings.tables.is_empty() =>
                {
                    for &i in &indexes {
                        rejections.insert(
                            messages[i].offset,
                            format!(
                                "routed to table '{}', which does not exist",
                                table_name(&ident)
                            ),
                        );
                    }
                    continue;
                }
                Err(e) => {
                    return Err(SinkError::Transient(format!(
                        "loading table '{}': {}",
                        table_name(&ident),
                        chain(&e)
                    )));
                }
            };
            self.write_table(
                opened,
                &table,
                &key,
                &messages,
                &payloads,
                &indexes,
                &mut rejections,
            )
            .await?;
        }
        Ok(rejections
            .into_iter()
            .map(|(offset, reason)| Rejection { offset, reason })
            .collect())
    }

    /// Decodes the messages at `indexes` for `table`, drops those an earlier commit holds and
    /// commits the rest with the partition's new watermark.
    #[allow(clippy::too_many_arguments)]
    async fn write_table(
        &self,
        opened: &Opened,
        table: &Table,
        key: &PartitionKey,
        messages: &[ConsumedMessage],
        payloads: &[Option<&Value>],
        indexes: &[usize],
        rejections: &mut BTreeMap<u64, String>,
    ) -> Result<(), SinkError> {
        let name = table_name(table.identifier());
        let writer_id = &opened.settings.writer_id;
        let schema = iceberg::arrow::schema_to_arrow_schema(table.metadata().current_schema())
            .map_err(|e| SinkError::Transient(format!("table '{name}' schema: {}", chain(&e))))?;
        let schema = Arc::new(ArrowSchema::new(schema.fields().clone()));
        let inputs: Vec<Option<&Value>> = indexes.iter().map(|&i| payloads[i]).collect();
        // Every message is decoded, even one an earlier commit holds: a re-delivered batch
        // reports the same rejections again (they may not have reached the dead-letter topic).
        let decoded = records::decode(&schema, &inputs);
        for (at, reason) in decoded.refused {
            let offset = messages[indexes[at]].offset;
            let entry = rejections.entry(offset).or_default();
            if !entry.is_empty() {
                entry.push_str("; ");
            }
            entry.push_str(&format!("table '{name}': {reason}"));
        }
        let committed = offsets::committed(table.metadata(), writer_id);
        let watermark = committed.get(&key.property(writer_id)).copied();
        let Some(batch) = decoded.batch else {
            return Ok(());
        };
        let fresh: Vec<bool> = decoded
            .accepted
            .iter()
            .map(|&at| watermark.is_none_or(|w| messages[indexes[at]].offset > w))
            .collect();
        let skipped = fresh.iter().filter(|f| !**f).count();
        if skipped > 0 {
            info!(
                "Iceberg sink {}: {skipped} message(s) of {}/{}/{} already committed to '{name}' (up to offset {}), skipped",
                self.id,
                key.stream,
                key.topic,
                key.partition,
                watermark.unwrap_or_default()
            );
        }
        if skipped == fresh.len() {
            return Ok(());
        }
        let batch = if skipped == 0 {
            batch
        } else {
            filter_record_batch(&batch, &BooleanArray::from(fresh))
                .map_err(|e| SinkError::Transient(format!("filtering rows: {e}")))?
        };
        let last = indexes
            .iter()
            .map(|&i| messages[i].offset)
            .max()
            .unwrap_or_default();
        let rows = batch.num_rows();
        self.throttle(
            opened,
            table.identifier(),
            rows,
            batch.get_array_memory_size(),
        )
        .await;
        let files = writer::write_files(table, batch).await.map_err(|e| {
            SinkError::Transient(format!("writing data files for '{name}': {}", chain(&e)))
        })?;
        let summary = offsets::summary_after(committed, writer_id, key, last);
        writer::commit(&opened.catalog, table, files, summary)
            .await
            .map_err(|e| SinkError::Transient(format!("committing to '{name}': {}", chain(&e))))?;
        self.last_commit
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(table.identifier().clone(), tokio::time::Instant::now());
        tracing::debug!(
            "Iceberg sink {}: committed {rows} row(s) to '{name}' up to offset {last}",
            self.id
        );
        Ok(())
    }

    /// Waits out `commit_interval` before committing a small batch (see `CommitThrottle`). The
    /// rows are not acknowledged meanwhile: the offset is stored only after the commit.
    async fn throttle(&self, opened: &Opened, table: &TableIdent, rows: usize, bytes: usize) {
        let Some(throttle) = opened.settings.throttle else {
            return;
        };
        if throttle.is_large(rows as u64, bytes as u64) {
            return;
        }
        let last = self
            .last_commit
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(table)
            .copied();
        if let Some(last) = last {
            tokio::time::sleep_until(last + throttle.interval).await;
        }
    }

    pub async fn close(&mut self) -> Result<(), SinkError> {
        self.opened = None;
        info!("Iceberg sink {} closed", self.id);
        Ok(())
    }
}

/// Dynamic routing: each message to the table named by its `field` (a string as is, another
/// JSON value as its text). A message without a usable route is refused with the reason.
fn route(
    field: &str,
    messages: &[ConsumedMessage],
    payloads: &[Option<&Value>],
    rejections: &mut BTreeMap<u64, String>,
) -> Vec<(TableIdent, Vec<usize>)> {
    let mut order: Vec<String> = Vec::new();
    let mut routes: HashMap<String, (TableIdent, Vec<usize>)> = HashMap::new();
    for (i, payload) in payloads.iter().enumerate() {
        let offset = messages[i].offset;
        let name = match payload.and_then(|p| p.get(field)) {
            Some(Value::String(s)) => s.clone(),
            Some(Value::Null) | None => {
                rejections.insert(
                    offset,
                    format!("no route: field '{field}' is missing or null"),
                );
                continue;
            }
            Some(other) => other.to_string(),
        };
        if let Some((_, indexes)) = routes.get_mut(&name) {
            indexes.push(i);
            continue;
        }
        match parse_table(&name) {
            Ok(ident) => {
                order.push(name.clone());
                routes.insert(name, (ident, vec![i]));
            }
            Err(reason) => {
                warn!("Iceberg sink: {reason}");
                rejections.insert(offset, format!("route field '{field}': {reason}"));
            }
        }
    }
    order
        .into_iter()
        .filter_map(|name| routes.remove(&name))
        .collect()
}
