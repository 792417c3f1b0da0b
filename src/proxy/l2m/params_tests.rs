//! `x-mcp-header` annotations and the `Mcp-Param-*` headers of a `tools/call`: reachability,
//! validity, value conversion (strings, integers, booleans; null/absent omitted) and encoding.

use serde_json::value::RawValue;

use super::*;

fn params_of(schema: &str) -> ToolParams {
    let raw = RawValue::from_string(schema.to_owned()).expect("valid JSON");
    annotations(&raw)
}

fn call(arguments: &str) -> Vec<u8> {
    format!(
        r#"{{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{{"name":"t","arguments":{arguments}}}}}"#
    )
    .into_bytes()
}

/// The headers, sorted (their order does not matter).
fn headers(schema: &str, arguments: &str) -> Vec<(String, String)> {
    let mut out = call_headers(&call(arguments), &params_of(schema));
    out.sort();
    out
}

fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = list
        .iter()
        .map(|(n, v)| ((*n).to_owned(), (*v).to_owned()))
        .collect();
    out.sort();
    out
}

const ROUTE: &str = r#"{"type":"object","properties":{
    "region":{"type":"string","x-mcp-header":"Region"},
    "count":{"type":"integer","x-mcp-header":"Count"},
    "dry":{"type":"boolean","x-mcp-header":"Dry-Run"},
    "note":{"type":"string"}}}"#;

#[test]
fn plain_values_travel_as_is() {
    assert_eq!(
        headers(
            ROUTE,
            r#"{"region":"us-west1","count":42,"dry":false,"note":"x"}"#
        ),
        pairs(&[
            ("Mcp-Param-Region", "us-west1"),
            ("Mcp-Param-Count", "42"),
            ("Mcp-Param-Dry-Run", "false"),
        ])
    );
    assert_eq!(
        headers(ROUTE, r#"{"count":-7,"dry":true}"#),
        pairs(&[("Mcp-Param-Count", "-7"), ("Mcp-Param-Dry-Run", "true")])
    );
}

#[test]
fn unsafe_values_travel_in_base64() {
    // The spec's examples (2026-07-28 §Value Encoding).
    let cases = [
        ("Hello, 世界", "=?base64?SGVsbG8sIOS4lueVjA==?="),
        (" padded ", "=?base64?IHBhZGRlZCA=?="),
        ("line1\\nline2", "=?base64?bGluZTEKbGluZTI=?="),
        ("=?base64?literal?=", "=?base64?PT9iYXNlNjQ/bGl0ZXJhbD89?="),
        // A tab at an edge, a control character inside, an escaped non-ASCII character.
        ("\\tx", "=?base64?CXg=?="),
        ("a\\u0001b", "=?base64?YQFi?="),
        ("Z\\u00fcrich", "=?base64?WsO8cmljaA==?="),
    ];
    for (json_text, encoded) in cases {
        assert_eq!(
            headers(ROUTE, &format!(r#"{{"region":"{json_text}"}}"#)),
            pairs(&[("Mcp-Param-Region", encoded)]),
            "{json_text}"
        );
    }
    // Inner spaces and escapes of plain characters are fine as they are.
    assert_eq!(
        headers(ROUTE, r#"{"region":"a b \"c\" \/d"}"#),
        pairs(&[("Mcp-Param-Region", r#"a b "c" /d"#)])
    );
}

#[test]
fn null_absent_and_structured_values_are_omitted() {
    assert!(headers(ROUTE, r#"{"region":null,"count":null}"#).is_empty());
    assert!(headers(ROUTE, "{}").is_empty());
    assert!(headers(ROUTE, r#"{"region":{"a":1},"count":[1]}"#).is_empty());
    assert!(call_headers(
        br#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"t"}}"#,
        &params_of(ROUTE)
    )
    .is_empty());
}

#[test]
fn nested_properties_are_reachable_and_read_at_their_exact_path() {
    let schema = r#"{"type":"object","properties":{"location":{"type":"object",
        "properties":{"region":{"type":"string","x-mcp-header":"Region"}}}}}"#;
    let params = params_of(schema);
    assert_eq!(params.invalid, None);
    assert_eq!(
        headers(schema, r#"{"location":{"other":1,"region":"eu"}}"#),
        pairs(&[("Mcp-Param-Region", "eu")])
    );
    // The same name at another depth is not the annotated value.
    assert!(headers(schema, r#"{"region":"eu"}"#).is_empty());
    assert!(headers(schema, r#"{"location":"eu"}"#).is_empty());
}

#[test]
fn annotations_off_the_properties_chain_make_the_tool_invalid() {
    let off_chain = [
        r#"{"type":"object","properties":{"list":{"type":"array","items":{"type":"string","x-mcp-header":"Item"}}}}"#,
        r#"{"type":"object","properties":{"a":{"anyOf":[{"type":"string","x-mcp-header":"A"}]}}}"#,
        r##"{"type":"object","$defs":{"r":{"type":"string","x-mcp-header":"R"}},"properties":{"r":{"$ref":"#/$defs/r"}}}"##,
        r#"{"type":"object","if":{"properties":{"a":{"type":"string","x-mcp-header":"A"}}}}"#,
        r#"{"type":"object","x-mcp-header":"Root"}"#,
    ];
    for schema in off_chain {
        let params = params_of(schema);
        assert!(params.invalid.is_some(), "{schema}");
        // Nothing there is reachable: no header is written for it.
        assert!(params.headers.is_empty(), "{schema}");
    }
}

#[test]
fn malformed_annotations_make_the_tool_invalid() {
    let cases = [
        r#"{"properties":{"n":{"type":"number","x-mcp-header":"N"}}}"#,
        r#"{"properties":{"o":{"type":"object","x-mcp-header":"O"}}}"#,
        r#"{"properties":{"a":{"type":"string","x-mcp-header":"A"},"b":{"type":"string","x-mcp-header":"a"}}}"#,
        r#"{"properties":{"a":{"type":"string","x-mcp-header":"Bad Name"}}}"#,
        r#"{"properties":{"a":{"type":"string","x-mcp-header":""}}}"#,
        r#"{"properties":{"a":{"type":"string","x-mcp-header":7}}}"#,
    ];
    for schema in cases {
        assert!(params_of(schema).invalid.is_some(), "{schema}");
    }
    // Only names that can be written as a header are kept.
    assert!(params_of(cases[3]).headers.is_empty());
    // A nullable primitive is fine; annotation-like text in data is not an annotation.
    let fine = r#"{"properties":{"a":{"type":["string","null"],"x-mcp-header":"A",
        "default":{"x-mcp-header":"X"},"examples":[{"x-mcp-header":"Y"}]}}}"#;
    assert_eq!(params_of(fine).invalid, None);
    assert_eq!(params_of(fine).headers.len(), 1);
}

#[test]
fn schemas_without_annotations_are_not_parsed_further() {
    let params = params_of(r#"{"type":"object","properties":{"text":{"type":"string"}}}"#);
    assert_eq!(params, ToolParams::default());
    // An escaped key still counts.
    let escaped = params_of(r#"{"properties":{"a":{"type":"string","x\u002dmcp-header":"A"}}}"#);
    assert_eq!(escaped.headers.len(), 1);
}

#[test]
fn a_list_page_names_tools_and_the_next_cursor() {
    let page = list_page(
        br#"{"jsonrpc":"2.0","id":3,"result":{"tools":[
            {"name":"echo","inputSchema":{"type":"object"}},
            {"name":"route","inputSchema":{"type":"object","properties":{"region":{"type":"string","x-mcp-header":"Region"}}}}
        ],"nextCursor":"c2"}}"#,
    )
    .expect("a result");
    assert_eq!(page.next_cursor.as_deref(), Some("c2"));
    assert_eq!(page.tools.len(), 2);
    assert_eq!(page.tools[0].0, "echo");
    assert!(page.tools[0].1.headers.is_empty());
    assert_eq!(page.tools[1].1.headers[0].name, "Region");
    assert!(list_page(br#"{"jsonrpc":"2.0","id":3,"error":{"code":-1,"message":"no"}}"#).is_none());
}

#[test]
fn invalid_tools_are_left_out_of_a_list_and_valid_lists_are_untouched() {
    let list = br#"{"jsonrpc":"2.0","id":4,"result":{"tools":[
        {"name":"ok","inputSchema":{"type":"object","properties":{"r":{"type":"string","x-mcp-header":"R"}}}},
        {"name":"bad","inputSchema":{"type":"object","properties":{"n":{"type":"number","x-mcp-header":"N"}}}},
        {"name":"plain","inputSchema":{"type":"object","properties":{"big":{"type":"integer","default":1.50}}}}
    ],"nextCursor":"c"}}"#;
    let out = without_invalid(list).expect("one tool left out");
    let text = std::str::from_utf8(&out).expect("utf8");
    let v: serde_json::Value = serde_json::from_slice(&out).expect("JSON");
    let names: Vec<&str> = v["result"]["tools"]
        .as_array()
        .expect("tools")
        .iter()
        .filter_map(|t| t["name"].as_str())
        .collect();
    assert_eq!(names, ["ok", "plain"]);
    assert_eq!(v["result"]["nextCursor"], "c");
    assert_eq!(v["id"], 4);
    // The tools kept are copied as written.
    assert!(text.contains(r#""default":1.50"#), "{text}");
    let valid = br#"{"jsonrpc":"2.0","id":4,"result":{"tools":[{"name":"ok","inputSchema":{"properties":{"r":{"type":"string","x-mcp-header":"R"}}}}]}}"#;
    assert!(without_invalid(valid).is_none());
    assert!(without_invalid(br#"{"jsonrpc":"2.0","id":4,"result":{"tools":[]}}"#).is_none());
}
