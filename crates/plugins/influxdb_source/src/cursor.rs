//! Which rows of a poll to deliver and where the cursor goes, so that no row is skipped.
//!
//! The query gets `$cursor` (the committed cursor) and `$limit` (= `batch_size` + the number of
//! rows already delivered at the cursor). Then:
//!
//! 1. rows at exactly the cursor time are skipped while fewer than `cursor_row_count` have been
//!    (a `>=` query returns the ones delivered before);
//! 2. Flux applies `limit` **per table** (series) unless the query groups first. A table that
//!    returned `$limit` rows was cut, and other tables may hold rows past its last time. Rows
//!    after the earliest cut point (the boundary) are left for the next poll, and rows at the
//!    boundary too when earlier rows exist (the cut table may have more rows at that time).
//!    Upstream advanced to the global maximum and lost those rows;
//! 3. the new cursor is the newest delivered time, with the number of delivered rows at it
//!    (plus the earlier count when it did not move).

use std::collections::HashMap;

use chrono::{DateTime, FixedOffset};

use crate::config::parse_cursor;
use crate::rows::Row;

#[derive(Default)]
pub struct Selection<'a> {
    /// Rows to deliver, in result order.
    pub rows: Vec<Row<'a>>,
    /// Rows whose cursor value is not an RFC 3339 time: they cannot be placed, so they are
    /// reported and not delivered.
    pub unplaceable: Vec<Row<'a>>,
    /// The new cursor and its row count; `None` leaves the committed one.
    pub cursor: Option<(String, u64)>,
    /// Some table hit the limit: more rows are waiting, poll again without sleeping.
    pub cut: bool,
}

pub fn select<'a>(
    rows: &[Row<'a>],
    cursor_field: &str,
    cursor: &str,
    cursor_row_count: u64,
    limit: u64,
) -> Result<Selection<'a>, String> {
    let mut selection = Selection::default();
    if rows.is_empty() {
        return Ok(selection);
    }
    if rows.iter().all(|row| row.get(cursor_field).is_none()) {
        return Err(format!(
            "the query result has no column {cursor_field:?} (plugin_config.cursor_field), so the \
             cursor cannot advance; Flux names the time column \"_time\""
        ));
    }
    let cursor_time = parse_cursor(cursor);
    let mut placed: Vec<(Row<'a>, DateTime<FixedOffset>, &'a str)> = Vec::with_capacity(rows.len());
    for row in rows {
        let text = row.get(cursor_field).unwrap_or_default();
        match DateTime::parse_from_rfc3339(text) {
            Ok(time) => placed.push((*row, time, text)),
            Err(_) => selection.unplaceable.push(*row),
        }
    }

    // Per table: row count and newest time.
    let mut tables: HashMap<(&str, &str), (u64, DateTime<FixedOffset>)> = HashMap::new();
    for (row, time, _) in &placed {
        let entry = tables.entry(row.table_key()).or_insert((0, *time));
        entry.0 += 1;
        entry.1 = entry.1.max(*time);
    }
    let boundary = tables
        .values()
        .filter(|(count, _)| *count >= limit)
        .map(|(_, newest)| *newest)
        .min();
    selection.cut = boundary.is_some() || rows.len() as u64 >= limit;

    let mut skipped = 0u64;
    let candidates: Vec<_> = placed
        .into_iter()
        .filter(|(_, time, _)| {
            if Some(*time) == cursor_time && skipped < cursor_row_count {
                skipped += 1;
                false
            } else {
                true
            }
        })
        .collect();
    let kept: Vec<_> = match boundary {
        None => candidates,
        Some(boundary) => {
            if candidates.iter().any(|(_, time, _)| *time < boundary) {
                candidates
                    .into_iter()
                    .filter(|(_, t, _)| *t < boundary)
                    .collect()
            } else {
                candidates
                    .into_iter()
                    .filter(|(_, t, _)| *t <= boundary)
                    .collect()
            }
        }
    };
    if let Some(newest) = kept.iter().map(|(_, time, _)| *time).max() {
        let at_newest = kept.iter().filter(|(_, t, _)| *t == newest).count() as u64;
        let text = kept
            .iter()
            .find(|(_, t, _)| *t == newest)
            .map(|(_, _, text)| text.to_string())
            .unwrap_or_default();
        let count = if Some(newest) == cursor_time {
            cursor_row_count + at_newest
        } else {
            at_newest
        };
        selection.cursor = Some((text, count));
    }
    selection.rows = kept.into_iter().map(|(row, _, _)| row).collect();
    Ok(selection)
}

#[cfg(test)]
mod tests {
    use super::*;
    use iggy_connector_influxdb_common::csv::{self, Block};

    /// Rows `(table, second, value)` as a one-block result.
    fn block(rows: &[(u32, u32, &str)]) -> Block {
        let mut text = String::from(",result,table,_time,_value\r\n");
        for (table, second, value) in rows {
            text.push_str(&format!(
                ",_result,{table},2024-01-01T00:00:{second:02}Z,{value}\r\n"
            ));
        }
        csv::parse(&text).unwrap().remove(0)
    }

    fn values<'a>(selection: &Selection<'a>) -> Vec<&'a str> {
        selection
            .rows
            .iter()
            .map(|r| r.get("_value").unwrap())
            .collect()
    }

    fn rows(block: &Block) -> Vec<Row<'_>> {
        block
            .rows
            .iter()
            .map(|values| Row { block, values })
            .collect()
    }

    #[test]
    fn given_uncut_result_when_selected_should_deliver_all_and_count_rows_at_newest() {
        let b = block(&[(0, 1, "a"), (0, 2, "b"), (1, 2, "c")]);
        let s = select(&rows(&b), "_time", "1970-01-01T00:00:00Z", 0, 10).unwrap();
        assert_eq!(values(&s), ["a", "b", "c"]);
        assert_eq!(s.cursor, Some(("2024-01-01T00:00:02Z".into(), 2)));
        assert!(!s.cut);
    }

    #[test]
    fn given_per_series_limit_when_one_table_is_cut_should_defer_rows_past_its_boundary() {
        // limit 2: table 0 cut at second 2; table 1 is complete up to second 5.
        let b = block(&[
            (0, 1, "a"),
            (0, 2, "b"),
            (1, 1, "x"),
            (1, 3, "y"),
            (1, 5, "z"),
        ]);
        let s = select(&rows(&b), "_time", "1970-01-01T00:00:00Z", 0, 2).unwrap();
        // Rows at the boundary (second 2) wait too: table 0 may hold more at second 2.
        assert_eq!(values(&s), ["a", "x"]);
        assert_eq!(s.cursor, Some(("2024-01-01T00:00:01Z".into(), 2)));
        assert!(s.cut);
    }

    #[test]
    fn given_group_larger_than_limit_at_one_time_when_selected_should_progress_with_row_count() {
        let b = block(&[(0, 7, "a"), (0, 7, "b")]);
        let first = select(&rows(&b), "_time", "1970-01-01T00:00:00Z", 0, 2).unwrap();
        assert_eq!(values(&first), ["a", "b"]);
        assert_eq!(first.cursor, Some(("2024-01-01T00:00:07Z".into(), 2)));
        // The `>=` query returns them again with one more (limit = batch 2 + count 2).
        let b = block(&[(0, 7, "a"), (0, 7, "b"), (0, 7, "c"), (0, 8, "d")]);
        let second = select(&rows(&b), "_time", "2024-01-01T00:00:07Z", 2, 4).unwrap();
        assert_eq!(
            values(&second),
            ["c"],
            "d waits: second 8 is the cut boundary"
        );
        assert_eq!(second.cursor, Some(("2024-01-01T00:00:07Z".into(), 3)));
    }

    #[test]
    fn given_missing_cursor_column_when_selected_should_explain() {
        let b = block(&[(0, 1, "a")]);
        let error = select(&rows(&b), "time", "1970-01-01T00:00:00Z", 0, 5)
            .err()
            .unwrap();
        assert!(error.contains("plugin_config.cursor_field"), "{error}");
    }
}
