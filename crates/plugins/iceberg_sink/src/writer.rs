//! Rows → Parquet data files in the table's location (split by the table's partition spec, so
//! partitioned tables get real partition values) → one fast-append commit carrying the
//! committed-offset summary.

use std::collections::HashMap;
use std::sync::Arc;

use arrow_array::RecordBatch;
use iceberg::arrow::RecordBatchPartitionSplitter;
use iceberg::spec::{DataFile, DataFileFormat, PartitionKey};
use iceberg::table::Table;
use iceberg::transaction::{ApplyTransactionAction, Transaction};
use iceberg::writer::base_writer::data_file_writer::DataFileWriterBuilder;
use iceberg::writer::file_writer::ParquetWriterBuilder;
use iceberg::writer::file_writer::location_generator::{
    DefaultFileNameGenerator, DefaultLocationGenerator,
};
use iceberg::writer::file_writer::rolling_writer::RollingFileWriterBuilder;
use iceberg::writer::{IcebergWriter, IcebergWriterBuilder};
use iceberg::{Catalog, Result};
use parquet::file::properties::WriterProperties;

/// Writes `batch` (already in the table's Arrow schema) as data files, one writer per
/// partition value.
pub async fn write_files(table: &Table, batch: RecordBatch) -> Result<Vec<DataFile>> {
    let metadata = table.metadata();
    let schema = metadata.current_schema().clone();
    let location = DefaultLocationGenerator::new(metadata)?;
    // A fresh prefix per call: file names never collide with an earlier (or a retried) write.
    let names = DefaultFileNameGenerator::new(
        format!("iggy-{}", uuid::Uuid::new_v4()),
        None,
        DataFileFormat::Parquet,
    );
    let parquet = ParquetWriterBuilder::new(WriterProperties::default(), schema.clone());
    let rolling = RollingFileWriterBuilder::new_with_default_file_size(
        parquet,
        table.file_io().clone(),
        location,
        names,
    );
    let builder = DataFileWriterBuilder::new(rolling);
    let spec = metadata.default_partition_spec();
    let parts: Vec<(Option<PartitionKey>, RecordBatch)> = if spec.is_unpartitioned() {
        vec![(None, batch)]
    } else {
        RecordBatchPartitionSplitter::try_new_with_computed_values(schema, spec.clone())?
            .split(&batch)?
            .into_iter()
            .map(|(key, rows)| (Some(key), rows))
            .collect()
    };
    let mut files = Vec::new();
    for (key, rows) in parts {
        let mut writer = builder.build(key).await?;
        writer.write(rows).await?;
        files.extend(writer.close().await?);
    }
    Ok(files)
}

/// One snapshot adding `files`, its summary carrying `summary`. A conflict (another writer
/// committed first) is retried by iceberg's transaction on the refreshed table, re-applying the
/// append, with the table's `commit.retry.*` properties.
pub async fn commit(
    catalog: &dyn Catalog,
    table: &Table,
    files: Vec<DataFile>,
    summary: HashMap<String, String>,
) -> Result<Arc<Table>> {
    let tx = Transaction::new(table);
    let tx = tx
        .fast_append()
        .add_data_files(files)
        .set_snapshot_properties(summary)
        .apply(tx)?;
    Ok(Arc::new(tx.commit(catalog).await?))
}
