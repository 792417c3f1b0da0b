//! TOML config loader (`config::from_toml_str`): arbitrary text, byte-mutated example files and
//! example files with one setting's value swapped for a random TOML value give a `Config` or an
//! `Error`, never a panic; a config that loads prints (`config::to_toml`) to text that loads
//! again and prints the same.
//!
//! Not here: reading files (`config::load`), the CLI.

use proptest::prelude::*;
use proptest::sample::Index;
use proptest::test_runner::TestCaseError;
use shadowcat::config::{from_toml_str, to_toml};

use crate::common::{apply, check, edits};

const EXAMPLES: [&str; 5] = [
    include_str!("../../examples/minimal.toml"),
    include_str!("../../examples/full.toml"),
    include_str!("../../examples/demo.toml"),
    include_str!("../../examples/reverse.toml"),
    include_str!("../../examples/stdio.toml"),
];

/// Whether some `url` setting in `text` names a host that is neither an IP literal nor
/// `localhost`. The loader resolves upstream host names with the system resolver, by design and
/// blocking; a mutated `127.0.0.1` would make the fuzzer test DNS, not the loader. Such inputs are
/// skipped.
fn names_a_host(text: &str) -> bool {
    fn url_host(url: &str) -> &str {
        let rest = url.split_once("://").map_or(url, |(_, rest)| rest);
        let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
        let host = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
        match host.strip_prefix('[') {
            Some(v6) => v6.split(']').next().unwrap_or(""),
            None => host.split(':').next().unwrap_or(""),
        }
    }
    fn walk(table: &toml::Table) -> bool {
        table.iter().any(|(key, value)| match value {
            toml::Value::String(url) if key == "url" => {
                let host = url_host(url);
                !host.is_empty() && host != "localhost" && host.parse::<std::net::IpAddr>().is_err()
            }
            toml::Value::Table(inner) => walk(inner),
            toml::Value::Array(items) => items.iter().any(|item| item.as_table().is_some_and(walk)),
            _ => false,
        })
    }
    text.parse::<toml::Table>().is_ok_and(|table| walk(&table))
}

/// Loads `text`; when it loads, printing and loading again must give the same text.
fn load(text: &str) -> Result<(), TestCaseError> {
    if names_a_host(text) {
        return Ok(());
    }
    let Ok(config) = from_toml_str(text, "fuzz.toml") else {
        return Ok(());
    };
    let printed = to_toml(&config);
    let again = from_toml_str(&printed, "printed.toml").map_err(|e| {
        TestCaseError::fail(format!("printed config does not load: {e}\n{printed}"))
    })?;
    prop_assert_eq!(to_toml(&again), printed);
    Ok(())
}

/// A random TOML value, including the kinds settings are checked for (durations, sizes, ports,
/// addresses, paths, lists).
fn toml_value() -> impl Strategy<Value = String> {
    prop_oneof![
        any::<i64>().prop_map(|n| n.to_string()),
        prop::sample::select(vec![
            "0",
            "-1",
            "1",
            "65535",
            "65536",
            "9223372036854775807",
            "1e400",
            "nan",
            "inf",
            "-0.0",
            "true",
            "false",
            "\"\"",
            "[]",
            "{}",
            "\"0s\"",
            "\"1ms\"",
            "\"-1s\"",
            "\"999999999999h\"",
            "\"1 fortnight\"",
            "\"127.0.0.1:0\"",
            "\"127.0.0.1:99999\"",
            "\"[::1]:8080\"",
            "\"http://127.0.0.1:1/mcp\"",
            "\"http://[::1]/x\"",
            "\"https://127.0.0.1/\"",
            "\"ftp://127.0.0.1/\"",
            "\"/\"",
            "\"/mcp\"",
            "\"mcp\"",
            "\"/dev/null\"",
            "\"/nonexistent\"",
            "[\"a\", 1]",
            "{ a = 1 }",
            "1979-05-27T07:32:00Z",
        ])
        .prop_map(str::to_owned),
        "\"[ -~&&[^\"\\\\]]{0,24}\"",
        "[ -~]{0,16}",
    ]
}

/// A value of the same TOML type as `old` (so most swaps pass the schema and reach the
/// validators), or with a small chance any value at all.
fn similar_value(old: &str, pick: &Index, wild: &str, go_wild: bool) -> String {
    if go_wild {
        return wild.to_owned();
    }
    let choices: &[&str] = match old.trim().as_bytes().first() {
        Some(b'0'..=b'9' | b'-') => &[
            "0",
            "1",
            "2",
            "64",
            "1024",
            "65535",
            "100000",
            "4294967296",
            "-5",
        ],
        Some(b't' | b'f') => &["true", "false"],
        Some(b'"') => &[
            "\"0s\"",
            "\"250ms\"",
            "\"30s\"",
            "\"5m\"",
            "\"24h\"",
            "\"1x\"",
            "\"\"",
            "\"/\"",
            "\"/mcp\"",
            "\"127.0.0.1:0\"",
            "\"[::1]:9\"",
            "\"http://127.0.0.1:9/mcp\"",
            "\"info\"",
            "\"2025-06-18\"",
            "\"-1-2\"",
            "\"*\"",
            "\"0-1\"",
            "\"1KiB\"",
            "\"64 MiB\"",
        ],
        Some(b'[') => &[
            "[]",
            "[\"a\"]",
            "[\"/x\", \"/x\"]",
            "[1]",
            "[\"2025-03-26\"]",
            "[\"http://localhost\"]",
        ],
        _ => &["{}"],
    };
    choices[pick.index(choices.len())].to_owned()
}

/// `text` with the value of its `at`th `key = value` line replaced by `new(old value)`.
fn swap_value(text: &str, at: &Index, new: impl Fn(&str) -> String) -> String {
    let lines: Vec<&str> = text.lines().collect();
    let settings: Vec<usize> = lines
        .iter()
        .enumerate()
        .filter(|(_, l)| !l.trim_start().starts_with('#') && l.contains(" = "))
        .map(|(i, _)| i)
        .collect();
    if settings.is_empty() {
        return text.to_owned();
    }
    let target = settings[at.index(settings.len())];
    lines
        .iter()
        .enumerate()
        .map(|(i, line)| match line.split_once(" = ") {
            Some((key, old)) if i == target => format!("{key} = {}", new(old)),
            _ => (*line).to_owned(),
        })
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn examples_with_a_setting_swapped_never_panic() {
    let swap = (
        any::<Index>(),
        any::<Index>(),
        toml_value(),
        prop::bool::weighted(0.2),
    );
    let input = (0..EXAMPLES.len(), prop::collection::vec(swap, 1..4));
    check("config_swapped_value", 1000, input, |(example, swaps)| {
        let mut text = EXAMPLES[example].to_owned();
        for (at, pick, wild, go_wild) in &swaps {
            text = swap_value(&text, at, |old| similar_value(old, pick, wild, *go_wild));
        }
        load(&text)
    });
}

#[test]
fn byte_mutated_examples_never_panic() {
    let input = (0..EXAMPLES.len(), edits(8));
    check("config_mutated", 1000, input, |(example, edits)| {
        let bytes = apply(EXAMPLES[example].as_bytes().to_vec(), &edits);
        load(&String::from_utf8_lossy(&bytes))
    });
}

#[test]
fn arbitrary_text_never_panics_the_loader() {
    let text = prop_oneof![
        ".{0,256}",
        "([a-z_.\\[\\]]{1,12} = [-0-9a-z\"\\[\\]{}.,:/ ]{0,16}\n){0,8}",
    ];
    check("config_arbitrary", 1000, text, |text| load(&text));
}
