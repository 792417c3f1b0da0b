//! A closed [`Record`] as one JSON line (the format is documented in docs/security.md,
//! "Audit log"): fixed field names, `null` for what the request did not have, the time in
//! RFC 3339 UTC with milliseconds.
//!
//! Not here: gathering the record, writing the line to the file.

use serde::Serialize;

use super::record::{Outcome, Record, RuleRef};

/// The fields of one line, in order.
#[derive(Serialize)]
struct Line<'a> {
    time: Rfc3339,
    shard: usize,
    route: Option<&'a str>,
    transport: &'static str,
    http_method: &'static str,
    principal: Option<&'a str>,
    principal_id: Option<&'a str>,
    session: Option<&'a str>,
    method: Option<&'a str>,
    #[serde(skip_serializing_if = "is_zero")]
    batch: usize,
    id: Option<&'a serde_json::Value>,
    tool: Option<&'a str>,
    arguments_sha256: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    arguments: Option<&'a serde_json::value::RawValue>,
    decision: &'static str,
    rule: Option<Rule>,
    status: Option<u16>,
    latency_us: u64,
}

/// A time as RFC 3339 UTC with milliseconds, written straight into the line.
struct Rfc3339(std::time::SystemTime);

impl Serialize for Rfc3339 {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(&humantime::format_rfc3339_millis(self.0))
    }
}

/// `rule`: a policy rule's index, or which default decided.
#[derive(Serialize)]
#[serde(untagged)]
enum Rule {
    Index(usize),
    Named(&'static str),
}

fn is_zero(n: &usize) -> bool {
    *n == 0
}

/// Appends `record` (of a request on `route`, served by shard `shard`) as one line, `\n`
/// included; nothing when it cannot be serialized (it always can: strings and numbers only).
pub fn append(out: &mut Vec<u8>, record: &Record, shard: usize, route: Option<&str>) {
    let principal = record.principal.as_ref();
    let line = Line {
        time: Rfc3339(record.at),
        shard,
        route,
        transport: if record.legacy {
            "legacy_sse"
        } else {
            "streamable_http"
        },
        http_method: record.http_method,
        principal: principal.map(|p| p.name()),
        principal_id: principal.map(|p| p.as_str()),
        session: record.session.as_deref(),
        method: record.method.as_deref(),
        batch: record.batch,
        id: record.id.as_ref(),
        tool: record.tool.as_deref(),
        arguments_sha256: record.arguments_sha256.as_deref(),
        arguments: record
            .arguments
            .as_deref()
            .and_then(|text| serde_json::from_str(text).ok()),
        decision: record.outcome.unwrap_or(Outcome::Allowed).as_str(),
        rule: record.rule.map(|rule| match rule {
            RuleRef::Policy(index) => Rule::Index(index),
            RuleRef::PolicyDefault => Rule::Named("policy_default"),
            RuleRef::ToolLists => Rule::Named("tool_lists"),
        }),
        status: record.status,
        latency_us: u64::try_from(record.started.elapsed().as_micros()).unwrap_or(u64::MAX),
    };
    let before = out.len();
    if serde_json::to_writer(&mut *out, &line).is_ok() {
        out.push(b'\n');
    } else {
        out.truncate(before);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::session::Principal;

    #[test]
    fn a_denied_call() {
        let mut record = Record::new("POST");
        record.principal = Some(Principal::key("keys.toml", "alice"));
        record.set_session("s1");
        record.method = Some("tools/call".into());
        record.id = Some(serde_json::json!(7));
        record.tool = Some("rm \"-rf\"".into());
        record.arguments = Some(r#"{"a":1}"#.into());
        record.arguments_sha256 = Some("ab".into());
        record.rule = Some(RuleRef::Policy(2));
        record.outcome = Some(Outcome::Denied);
        record.set_status(200);
        let mut out = Vec::new();
        append(&mut out, &record, 1, Some("/mcp"));
        assert_eq!(out.last(), Some(&b'\n'));
        assert_eq!(out.iter().filter(|&&b| b == b'\n').count(), 1);
        let v: serde_json::Value = serde_json::from_slice(&out).unwrap();
        assert_eq!(v["principal"], "alice");
        assert!(v["principal_id"].as_str().unwrap().starts_with("key:"));
        assert_eq!(v["tool"], "rm \"-rf\"");
        assert_eq!(v["arguments"], serde_json::json!({"a": 1}));
        assert_eq!(
            (v["decision"].as_str(), v["rule"].as_u64()),
            (Some("denied"), Some(2))
        );
        assert_eq!(
            (v["status"].as_u64(), v["shard"].as_u64()),
            (Some(200), Some(1))
        );
        assert_eq!(v["transport"], "streamable_http");
        assert!(v["time"].as_str().unwrap().ends_with('Z'));
        assert!(v.get("batch").is_none());
    }

    #[test]
    fn an_unrouted_refusal_has_nulls() {
        let mut record = Record::new("GET");
        record.outcome = Some(Outcome::Refused);
        record.rule = Some(RuleRef::PolicyDefault);
        let mut out = Vec::new();
        append(&mut out, &record, 0, None);
        let v: serde_json::Value = serde_json::from_slice(&out).unwrap();
        assert!(v["route"].is_null() && v["principal"].is_null() && v["status"].is_null());
        assert_eq!(v["rule"], "policy_default");
        assert!(v.get("arguments").is_none());
    }
}
