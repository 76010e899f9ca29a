//! The annotated CSV that `POST /api/v2/query` returns for a Flux query with the `datatype`
//! annotation (RFC 4180 quoting, CRLF line ends, one block per result table schema: annotation
//! rows starting with `#`, a header row, data rows, then an empty line).
//!
//! As Go's CSV reader (the format's reference), a CRLF inside a quoted value reads as LF: the
//! server's writer turns every LF of a value into CRLF.

/// One column of a table block.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Column {
    pub name: String,
    /// The `#datatype` annotation (`string`, `long`, `unsignedLong`, `double`, `boolean`,
    /// `dateTime:RFC3339`, ...), when the block has one.
    pub datatype: Option<String>,
}

/// The rows of one block; every row has one value per column.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Block {
    pub columns: Vec<Column>,
    pub rows: Vec<Vec<String>>,
}

impl Block {
    pub fn index_of(&self, name: &str) -> Option<usize> {
        self.columns.iter().position(|c| c.name == name)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CsvError {
    #[error("malformed CSV at line {line}: {reason}")]
    Malformed { line: usize, reason: String },
    /// Flux reports errors that happen while streaming as a table with an `error` column.
    #[error("the Flux query failed: {0}")]
    Query(String),
}

/// Splits `text` into records. An empty line yields an empty record (a block separator).
fn records(text: &str) -> Result<Vec<Vec<String>>, CsvError> {
    let mut out = Vec::new();
    let mut record: Vec<String> = Vec::new();
    let mut field = String::new();
    let mut chars = text.chars().peekable();
    let mut line = 1;
    let mut in_quotes = false;
    let mut field_started = false;
    while let Some(c) = chars.next() {
        if in_quotes {
            match c {
                '"' if chars.peek() == Some(&'"') => {
                    chars.next();
                    field.push('"');
                }
                '"' => in_quotes = false,
                '\r' if chars.peek() == Some(&'\n') => {}
                '\n' => {
                    line += 1;
                    field.push('\n');
                }
                other => field.push(other),
            }
            continue;
        }
        match c {
            '"' if field.is_empty() && !field_started => {
                in_quotes = true;
                field_started = true;
            }
            '"' => {
                return Err(CsvError::Malformed {
                    line,
                    reason: "a quote inside an unquoted value".into(),
                });
            }
            ',' => {
                record.push(std::mem::take(&mut field));
                field_started = false;
            }
            '\r' if chars.peek() == Some(&'\n') => {}
            '\n' => {
                if field_started || !field.is_empty() || !record.is_empty() {
                    record.push(std::mem::take(&mut field));
                }
                out.push(std::mem::take(&mut record));
                field_started = false;
                line += 1;
            }
            other => {
                field.push(other);
                field_started = true;
            }
        }
    }
    if in_quotes {
        return Err(CsvError::Malformed {
            line,
            reason: "unterminated quoted value".into(),
        });
    }
    if field_started || !field.is_empty() || !record.is_empty() {
        record.push(field);
        out.push(record);
    }
    Ok(out)
}

/// Parses a whole response into its blocks. Columns with an empty name (the annotation column)
/// are kept; callers look columns up by name.
pub fn parse(text: &str) -> Result<Vec<Block>, CsvError> {
    let mut blocks = Vec::new();
    let mut datatypes: Option<Vec<String>> = None;
    let mut current: Option<Block> = None;
    for (index, record) in records(text)?.into_iter().enumerate() {
        if record.is_empty() || (record.len() == 1 && record[0].is_empty()) {
            blocks.extend(current.take());
            datatypes = None;
            continue;
        }
        if record[0].starts_with('#') {
            blocks.extend(current.take());
            if record[0] == "#datatype" {
                datatypes = Some(record[1..].to_vec());
            }
            continue;
        }
        match &mut current {
            None => {
                let columns = record
                    .iter()
                    .enumerate()
                    .map(|(i, name)| Column {
                        name: name.clone(),
                        datatype: match (&datatypes, i) {
                            (Some(types), i) if i > 0 => types.get(i - 1).cloned(),
                            _ => None,
                        },
                    })
                    .collect();
                current = Some(Block {
                    columns,
                    rows: Vec::new(),
                });
            }
            Some(block) => {
                if record.len() != block.columns.len() {
                    return Err(CsvError::Malformed {
                        line: index + 1,
                        reason: format!(
                            "{} values for {} columns",
                            record.len(),
                            block.columns.len()
                        ),
                    });
                }
                block.rows.push(record);
            }
        }
    }
    blocks.extend(current);
    for block in &blocks {
        if let (Some(error), Some(_)) = (block.index_of("error"), block.index_of("reference"))
            && block.columns.len() <= 3
        {
            let message = block
                .rows
                .first()
                .map(|row| row[error].clone())
                .unwrap_or_default();
            return Err(CsvError::Query(message));
        }
    }
    Ok(blocks)
}

#[cfg(test)]
mod tests {
    use super::*;

    const RESPONSE: &str = "#datatype,string,long,dateTime:RFC3339,string,double\r\n\
        ,result,table,_time,_value,n\r\n\
        ,_result,0,2024-01-01T00:00:00Z,\"x\"\"y\r\nnext\",1.5\r\n\
        ,_result,0,2024-01-01T00:00:01Z,\"a,b\",\r\n\
        \r\n\
        #datatype,string,long,dateTime:RFC3339,boolean\r\n\
        ,result,table,_time,_value\r\n\
        ,_result,1,2024-01-01T00:00:02Z,true\r\n\
        \r\n";

    #[test]
    fn given_annotated_csv_when_parsed_should_return_blocks_with_types_and_unquoted_values() {
        let blocks = parse(RESPONSE).unwrap();
        assert_eq!(blocks.len(), 2);
        let first = &blocks[0];
        let value = first.index_of("_value").unwrap();
        assert_eq!(first.columns[value].datatype.as_deref(), Some("string"));
        assert_eq!(first.rows[0][value], "x\"y\nnext");
        assert_eq!(first.rows[1][value], "a,b");
        assert_eq!(first.rows[1][first.index_of("n").unwrap()], "");
        assert_eq!(blocks[1].columns[4].datatype.as_deref(), Some("boolean"));
        assert_eq!(blocks[1].rows[0][4], "true");
    }

    #[test]
    fn given_error_table_or_bad_quoting_when_parsed_should_fail() {
        let error = "#datatype,string,string\r\n,error,reference\r\n,division by zero,\r\n\r\n";
        assert_eq!(
            parse(error),
            Err(CsvError::Query("division by zero".into()))
        );
        assert!(matches!(
            parse(",a,b\r\n,\"open,1\r\n"),
            Err(CsvError::Malformed { .. })
        ));
        assert!(parse("").unwrap().is_empty());
    }
}
