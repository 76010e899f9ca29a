//! The built libraries export exactly the ABI symbols.

use std::process::Command;

use crate::harness::*;

const SOURCE_SYMBOLS: [&str; 8] = [
    "iggy_connector_abi_version",
    "iggy_connector_config_schema",
    "iggy_source_batch_result",
    "iggy_source_close",
    "iggy_source_handle",
    "iggy_source_handle_v2",
    "iggy_source_open",
    "iggy_source_version",
];
const SINK_SYMBOLS: [&str; 7] = [
    "iggy_connector_abi_version",
    "iggy_connector_config_schema",
    "iggy_sink_close",
    "iggy_sink_consume",
    "iggy_sink_consume_v2",
    "iggy_sink_open",
    "iggy_sink_version",
];

fn exported_iggy_symbols(crate_name: &str) -> Vec<String> {
    library(crate_name);
    let path = library_path(crate_name);
    let output = Command::new("nm")
        .args(["-D", "--defined-only"])
        .arg(&path)
        .output()
        .expect("run nm");
    assert!(output.status.success(), "nm {}", path.display());
    let mut names: Vec<String> = String::from_utf8(output.stdout)
        .unwrap()
        .lines()
        .filter_map(|line| line.split_whitespace().last())
        .filter(|name| name.starts_with("iggy_"))
        .map(str::to_owned)
        .collect();
    names.sort();
    names
}

#[cfg(target_os = "linux")]
#[test]
fn given_built_plugins_should_export_exactly_the_abi_symbols() {
    for source in [
        "iggy_connector_random_source",
        "iggy_connector_panicking_source",
    ] {
        assert_eq!(exported_iggy_symbols(source), SOURCE_SYMBOLS, "{source}");
    }
    for sink in [
        "iggy_connector_stdout_sink",
        "iggy_connector_panicking_sink",
    ] {
        assert_eq!(exported_iggy_symbols(sink), SINK_SYMBOLS, "{sink}");
    }
}

type ConfigSchemaFn = extern "C" fn() -> *const std::ffi::c_char;

fn config_schema(crate_name: &str) -> Option<serde_json::Value> {
    let schema = symbol::<ConfigSchemaFn>(crate_name, "iggy_connector_config_schema");
    let ptr = schema();
    if ptr.is_null() {
        return None;
    }
    // SAFETY: non-null, NUL-terminated and static per the ABI.
    let text = unsafe { std::ffi::CStr::from_ptr(ptr) }.to_str().unwrap();
    Some(serde_json::from_str(text).expect("the schema is JSON"))
}

#[test]
fn given_a_config_deriving_json_schema_should_export_it_without_an_open() {
    let schema = config_schema("iggy_connector_random_source").expect("random_source has a schema");
    assert_eq!(
        schema["$schema"],
        "https://json-schema.org/draft/2020-12/schema"
    );
    assert_eq!(
        schema["properties"]["interval"]["pattern"],
        iggy_connectors_sdk::schema::DURATION_PATTERN
    );
    // Static: a second call returns the same string.
    assert_eq!(config_schema("iggy_connector_random_source"), Some(schema));
    let stdout = config_schema("iggy_connector_stdout_sink").expect("stdout_sink has a schema");
    assert_eq!(stdout["properties"]["print_payload"]["type"], "boolean");
}

#[test]
fn given_a_config_without_json_schema_should_export_null() {
    assert_eq!(config_schema("iggy_connector_panicking_sink"), None);
    assert_eq!(config_schema("iggy_connector_panicking_source"), None);
}
