use super::*;

fn parse(extra: &str) -> Result<Settings, String> {
    serde_json::from_str::<HttpSinkConfig>(&format!(
        r#"{{"url":"http://127.0.0.1:9/ingest"{extra}}}"#
    ))
    .map_err(|e| e.to_string())?
    .validate()
}

#[test]
fn given_only_url_when_validated_should_apply_upstream_defaults() {
    let s = parse("").unwrap();
    assert_eq!(s.method, Method::POST);
    assert_eq!(s.timeout, Duration::from_secs(30));
    assert_eq!(s.max_payload_size_bytes, 10 * 1024 * 1024);
    assert_eq!(s.batch_mode, BatchMode::Individual);
    assert!(s.include_metadata && !s.include_checksum && !s.include_origin_timestamp);
    assert!(s.health_check.is_none());
    assert_eq!(
        s.backoff,
        Backoff::new(3, Duration::from_secs(1), 2.0, Duration::from_secs(30))
    );
    assert_eq!(
        s.success,
        SuccessCodes::new("k", vec![200, 201, 202, 204]).unwrap()
    );
    assert_eq!(s.reject_status_codes, vec![400, 413, 415, 422]);
    assert_eq!(s.max_connections, 10);
    assert!(s.headers.is_empty());
}

#[test]
fn given_bad_values_when_validated_should_name_the_key() {
    let cases = [
        (r#","method":"post""#, "plugin_config.method"),
        (r#","method":"HEAD""#, "plugin_config.method"),
        (r#","batch_mode":"csv""#, "plugin_config.batch_mode"),
        (r#","timeout":"soon""#, "plugin_config.timeout"),
        (r#","success_status_codes":[]"#, "success_status_codes"),
        (r#","success_status_codes":[200,700]"#, "700"),
        (
            r#","headers":{"bad header":"x"}"#,
            "plugin_config.headers.bad header",
        ),
        (r#","reject_status_codes":[200]"#, "reject_status_codes"),
    ];
    for (extra, needle) in cases {
        let error = parse(extra).unwrap_err();
        assert!(error.contains(needle), "{extra}: {error}");
    }
    let error = serde_json::from_str::<HttpSinkConfig>(r#"{"url":"ftp://x/y"}"#)
        .unwrap()
        .validate()
        .unwrap_err();
    assert!(error.contains("http:// or https://"), "{error}");
}

#[test]
fn given_headers_from_table_and_env_keys_when_validated_should_merge_and_drop_content_type() {
    let s = parse(
        r#","headers":{"Authorization":"Bearer t","Content-Type":"text/plain"},"headers_x_tenant_id":42"#,
    )
    .unwrap();
    assert_eq!(s.headers.get("authorization").unwrap(), "Bearer t");
    assert_eq!(s.headers.get("x-tenant-id").unwrap(), "42");
    assert!(s.headers.get(CONTENT_TYPE).is_none());
}

#[test]
fn given_each_mode_when_parsed_should_pick_upstream_content_type() {
    let mode = |m: &str| {
        parse(&format!(r#","batch_mode":"{m}""#))
            .unwrap()
            .batch_mode
    };
    assert_eq!(mode("individual").content_type(), "application/json");
    assert_eq!(mode("ndjson").content_type(), "application/x-ndjson");
    assert_eq!(mode("json_array").content_type(), "application/json");
    assert_eq!(mode("raw").content_type(), "application/octet-stream");
}
