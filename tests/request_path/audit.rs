//! The audit log (issue 10): one JSON line per request decision, read back from the file.
//! Who (an API key's name, anonymous on an open route, nobody when refused), the session
//! (hashed), method, tool, the arguments' SHA-256 (and the arguments with `arguments = true`),
//! the decision (allowed, denied by rule N, rate-limited, unauthenticated), status and latency;
//! the last lines are written at shutdown; a log that cannot be written never stops the proxy,
//! unless `required`, and then requests get 503 `-32017`.

use std::path::{Path, PathBuf};

use serde_json::{json, Value};

use crate::auth::{in_session, initialize, proxy, KeyFile};
use crate::harness::{Proxy, IO_PATH};
use crate::mcp::{self, assert_error, fresh_headers, PATH};
use crate::recorder::Recorder;

/// An audit log path under the temp directory; the file and its rotations removed on drop.
pub(crate) struct AuditFile(PathBuf);

impl AuditFile {
    pub(crate) fn new(tag: &str) -> AuditFile {
        let path = std::env::temp_dir().join(format!(
            "shadowcat-request-path-audit-{}-{tag}-{IO_PATH}.jsonl",
            std::process::id()
        ));
        let _ = std::fs::remove_file(&path);
        AuditFile(path)
    }

    /// The `[audit]` table writing here, plus `extra` lines.
    pub(crate) fn table(&self, extra: &str) -> String {
        format!(
            "\n[audit]\nfile = {:?}\n{extra}",
            self.0.display().to_string()
        )
    }

    pub(crate) fn lines(&self) -> Vec<Value> {
        read_lines(&self.0)
    }
}

impl Drop for AuditFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

fn read_lines(path: &Path) -> Vec<Value> {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    assert!(
        text.is_empty() || text.ends_with('\n'),
        "a cut line: {text}"
    );
    text.lines()
        .map(|line| serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}")))
        .collect()
}

/// Waits until the shards wrote `n` lines in all (each scrape a round trip to every shard).
pub(crate) fn await_lines(proxy: &Proxy, n: usize) {
    proxy.await_metric(
        "shadowcat_audit_lines_total",
        |written| written >= n as f64,
        "audit lines written",
    );
}

/// "principal method decision rule status" of a line (`null` for what it does not have).
pub(crate) fn summary(line: &Value) -> String {
    let field = |name: &str| match &line[name] {
        Value::String(text) => text.clone(),
        other => other.to_string(),
    };
    ["principal", "method", "decision", "rule", "status"]
        .map(field)
        .join(" ")
}

#[test]
fn every_decision_is_a_line() {
    let recorder = Recorder::start();
    let keys = KeyFile::new(
        "audit",
        &[("alice", "alice-audit-key"), ("bob", "bob-audit-key")],
    );
    let audit = AuditFile::new("decisions");
    let proxy = proxy(
        &recorder,
        &format!(
            "{}\n\
             [[listeners.main.routes.policy]]\naction = \"allow\"\nprincipals = [\"alice\"]\n\
             [[listeners.main.routes.policy]]\naction = \"deny\"\ntools = [\"ec*\"]\n\
             [listeners.main.routes.rate_limit]\nrate = \"1000/s\"\nper_tool = {{ \"ech*\" = \"1/h\" }}\n{}",
            keys.setting(),
            audit.table("arguments = true\n")
        ),
    );
    let (alice, bob) = (
        [("X-API-Key", "alice-audit-key")],
        [("X-API-Key", "bob-audit-key")],
    );
    // A refusal before the body is read closes its connection.
    let refused = proxy
        .conn()
        .request("POST", PATH, &fresh_headers(), &mcp::initialize(json!(0)));
    assert_eq!(refused.head.status, 401, "{}", refused.describe());
    let mut conn = proxy.conn();
    let alice_sid = initialize(&mut conn, &alice).unwrap();
    let bob_sid = initialize(&mut conn, &bob).unwrap();
    // The arguments spelled in another key order hash the same.
    let call = mcp::request(
        json!(6),
        "tools/call",
        json!({"name": "echo", "arguments": {"z": [1, 2], "message": "hi"}}),
    );
    let answer = conn.request("POST", PATH, &in_session(&alice_sid, &alice), &call);
    assert_eq!(answer.head.status, 200, "{}", answer.describe());
    let answer = conn.request("POST", PATH, &in_session(&bob_sid, &bob), &call);
    assert_error(&answer, 200, -32602, &json!(6));
    let answer = conn.request("POST", PATH, &in_session(&alice_sid, &alice), &call);
    assert_error(&answer, 429, -32015, &json!(6));
    // Not a decision: an unknown path.
    assert_eq!(conn.request("GET", "/nowhere", &[], b"").head.status, 404);

    await_lines(&proxy, 6);
    let lines = audit.lines();
    let seen: Vec<_> = lines.iter().map(summary).collect();
    assert_eq!(
        seen,
        [
            // Refused before its body was read: no method.
            "null null unauthenticated null 401",
            "alice initialize allowed 0 200",
            "bob initialize allowed policy_default 200",
            "alice tools/call allowed 0 200",
            "bob tools/call denied 1 200",
            "alice tools/call rate_limited 0 429",
        ],
        "{lines:#?}"
    );
    let allowed = &lines[3];
    let canonical = r#"{"message":"hi","z":[1,2]}"#;
    let digest = ring::digest::digest(&ring::digest::SHA256, canonical.as_bytes());
    let hex: String = digest.as_ref().iter().map(|b| format!("{b:02x}")).collect();
    assert_eq!(allowed["arguments_sha256"], json!(hex));
    assert_eq!(allowed["arguments"], json!({"message": "hi", "z": [1, 2]}));
    assert_eq!(
        (&allowed["tool"], &allowed["id"]),
        (&json!("echo"), &json!(6))
    );
    assert_eq!(allowed["route"], json!("/mcp"));
    assert!(allowed["principal_id"]
        .as_str()
        .unwrap()
        .starts_with("key:"));
    // Sessions are hashed, the same for each of a session's lines, never the id itself.
    let session = allowed["session"].as_str().unwrap();
    assert!(session.starts_with("sha256:") && !session.contains(&alice_sid));
    assert_eq!(lines[1]["session"], allowed["session"]);
    assert_ne!(lines[2]["session"], allowed["session"]);
    assert!(lines
        .iter()
        .all(|l| l["latency_us"].is_u64() && l["time"].is_string()));
    // No credential ever reaches the file.
    let text = std::fs::read_to_string(&audit.0).unwrap();
    assert!(!text.contains("alice-audit-key") && !text.contains(&bob_sid));
    proxy.stop();
}

#[test]
fn the_last_lines_are_written_at_shutdown() {
    let recorder = Recorder::start();
    let keys = KeyFile::new("audit-shutdown", &[("carol", "carol-audit-key")]);
    let audit = AuditFile::new("shutdown");
    // A flush interval longer than the test: only the shutdown flush can write the lines.
    let proxy = proxy(
        &recorder,
        &format!(
            "{}\n{}",
            keys.setting(),
            audit.table("flush_interval = \"60s\"\n")
        ),
    );
    let mut conn = proxy.conn();
    let open = mcp::initialize(json!(1));
    let answer = conn.request("POST", "/open", &fresh_headers(), &open);
    assert_eq!(answer.head.status, 200, "{}", answer.describe());
    let sid = answer.header("mcp-session-id").unwrap().to_owned();
    let ping = mcp::request(json!(2), "ping", json!({}));
    let answer = conn.request("POST", "/open", &in_session(&sid, &[]), &ping);
    assert_eq!(answer.head.status, 200, "{}", answer.describe());
    assert!(audit.lines().is_empty(), "written before the interval");
    proxy.stop();
    let lines = audit.lines();
    let methods: Vec<_> = lines.iter().map(|l| l["method"].clone()).collect();
    assert_eq!(methods, [json!("initialize"), json!("ping")], "{lines:#?}");
    assert!(lines
        .iter()
        .all(|l| l["principal"] == "anonymous" && l["route"] == "/open"));
}

#[test]
fn an_unwritable_log_never_stops_the_proxy() {
    let recorder = Recorder::start();
    let keys = KeyFile::new("audit-full", &[("dave", "dave-audit-key")]);
    let proxy = proxy(
        &recorder,
        &format!("{}\n[audit]\nfile = \"/dev/full\"\n", keys.setting()),
    );
    let mut conn = proxy.conn();
    let key = [("X-API-Key", "dave-audit-key")];
    let sid = initialize(&mut conn, &key).unwrap();
    proxy.await_metric(
        "shadowcat_audit_write_errors_total",
        |n| n >= 1.0,
        "a failed write",
    );
    proxy.await_metric(
        "shadowcat_audit_lines_dropped_total",
        |n| n >= 1.0,
        "dropped lines",
    );
    let ping = mcp::request(json!(3), "ping", json!({}));
    let answer = conn.request("POST", PATH, &in_session(&sid, &key), &ping);
    assert_eq!(answer.head.status, 200, "{}", answer.describe());
    assert_eq!(proxy.metric("shadowcat_audit_refused_total"), 0.0);
    proxy.stop();
}

#[test]
fn a_required_log_refuses_requests_while_unwritable() {
    let recorder = Recorder::start();
    let keys = KeyFile::new("audit-required", &[("erin", "erin-audit-key")]);
    let proxy = proxy(
        &recorder,
        &format!(
            "{}\n[audit]\nfile = \"/dev/full\"\nrequired = true\nflush_interval = \"10ms\"\n",
            keys.setting()
        ),
    );
    let mut conn = proxy.conn();
    let key = [("X-API-Key", "erin-audit-key")];
    let sid = initialize(&mut conn, &key).unwrap();
    // The first write fails after a flush interval; from then on every request is refused.
    proxy.await_metric(
        "shadowcat_audit_write_errors_total",
        |n| n >= 1.0,
        "a failed write",
    );
    let ping = mcp::request(json!(4), "ping", json!({}));
    let answer = conn.request("POST", PATH, &in_session(&sid, &key), &ping);
    assert_eq!(answer.head.status, 503, "{}", answer.describe());
    assert_eq!(answer.json()["error"]["code"], json!(-32017));
    assert_eq!(answer.header("retry-after"), Some("1"));
    assert!(proxy.metric("shadowcat_audit_refused_total") >= 1.0);
    proxy.stop();
}
