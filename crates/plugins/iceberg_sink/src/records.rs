//! JSON payloads → one Arrow `RecordBatch` in the table's schema, with a reason for every
//! payload that does not fit (not an object, a missing required field, a value of the wrong
//! type). The batch is decoded in one pass; only when that fails is each payload decoded alone
//! to find the culprits, so the happy path costs one decode.

use arrow_array::RecordBatch;
use arrow_json::ReaderBuilder;
use arrow_schema::SchemaRef;
use serde_json::Value;

/// The rows that fit (`rows[i]` came from `inputs[accepted[i]]`) and the ones that did not.
pub struct Decoded {
    pub batch: Option<RecordBatch>,
    pub accepted: Vec<usize>,
    /// `(index into the inputs, reason)`.
    pub refused: Vec<(usize, String)>,
}

fn decode_all(schema: &SchemaRef, rows: &[&Value]) -> Result<Option<RecordBatch>, String> {
    // Non-strict: keys the table has no column for are ignored, as upstream does.
    let mut decoder = ReaderBuilder::new(schema.clone())
        .with_batch_size(rows.len().max(1))
        .with_strict_mode(false)
        .build_decoder()
        .map_err(|e| e.to_string())?;
    decoder.serialize(rows).map_err(|e| e.to_string())?;
    decoder.flush().map_err(|e| e.to_string())
}

/// Decodes `inputs` (payloads that are JSON; `None` for one that is not) against `schema`.
pub fn decode(schema: &SchemaRef, inputs: &[Option<&Value>]) -> Decoded {
    let mut refused = Vec::new();
    let mut candidates = Vec::with_capacity(inputs.len());
    for (i, input) in inputs.iter().enumerate() {
        match input {
            Some(Value::Object(_)) => candidates.push(i),
            Some(_) => refused.push((i, "payload is JSON but not an object".to_string())),
            None => refused.push((
                i,
                "payload is not JSON (set the stream's schema to json)".into(),
            )),
        }
    }
    let rows =
        |indexes: &[usize]| -> Vec<&Value> { indexes.iter().filter_map(|&i| inputs[i]).collect() };
    if candidates.is_empty() {
        return Decoded {
            batch: None,
            accepted: candidates,
            refused,
        };
    }
    if let Ok(batch) = decode_all(schema, &rows(&candidates)) {
        return Decoded {
            batch,
            accepted: candidates,
            refused,
        };
    }
    // Some payload does not fit: find which, one by one.
    let mut accepted = Vec::with_capacity(candidates.len());
    for i in candidates {
        match decode_all(schema, &rows(&[i])) {
            Ok(_) => accepted.push(i),
            Err(reason) => refused.push((
                i,
                format!("payload does not fit the table schema: {reason}"),
            )),
        }
    }
    refused.sort_by_key(|(i, _)| *i);
    let batch = if accepted.is_empty() {
        None
    } else {
        // Each fits alone, so together they fit too; an error here is not the payloads' fault.
        match decode_all(schema, &rows(&accepted)) {
            Ok(batch) => batch,
            Err(reason) => {
                for &i in &accepted {
                    refused.push((
                        i,
                        format!("payload does not fit the table schema: {reason}"),
                    ));
                }
                accepted.clear();
                None
            }
        }
    };
    Decoded {
        batch,
        accepted,
        refused,
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use arrow_schema::{DataType, Field, Schema};
    use serde_json::json;

    use super::*;

    fn schema() -> SchemaRef {
        Arc::new(Schema::new(vec![
            Field::new("id", DataType::Int64, false),
            Field::new("name", DataType::Utf8, true),
        ]))
    }

    #[test]
    fn good_rows_decode_in_one_batch_and_unknown_keys_are_ignored() {
        let a = json!({"id": 1, "name": "a", "extra": true});
        let b = json!({"id": 2});
        let d = decode(&schema(), &[Some(&a), Some(&b)]);
        assert!(d.refused.is_empty());
        assert_eq!(d.batch.unwrap().num_rows(), 2);
    }

    #[test]
    fn misfits_are_refused_with_a_reason_and_the_rest_decodes() {
        let good = json!({"id": 1, "name": "a"});
        let missing = json!({"name": "no id"});
        let wrong = json!({"id": "not a number", "name": "x"});
        let array = json!([1, 2]);
        let d = decode(
            &schema(),
            &[
                Some(&good),
                Some(&missing),
                Some(&wrong),
                Some(&array),
                None,
            ],
        );
        assert_eq!(d.accepted, vec![0]);
        assert_eq!(d.batch.unwrap().num_rows(), 1);
        let refused: Vec<usize> = d.refused.iter().map(|(i, _)| *i).collect();
        assert_eq!(refused, vec![1, 2, 3, 4]);
        assert!(d.refused[2].1.contains("not an object"));
        assert!(d.refused[3].1.contains("not JSON"));
    }
}
