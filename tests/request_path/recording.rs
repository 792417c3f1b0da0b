//! Recording (issue 11) on the request path, read back from the tape files: a session's
//! POSTs and their answers (JSON, SSE, a stdio child's) with the exact bytes the client sent,
//! the session's tape completed when it is deleted, and a route with `record = false` leaving
//! nothing.

use std::path::{Path, PathBuf};

use serde_json::{json, Value};

use crate::harness::{Proxy, Setup, Upstream, IO_PATH};
use crate::mcp::{self, open_session};

/// A tape directory under the temp directory, removed on drop.
struct Tapes(PathBuf);

impl Tapes {
    fn new(tag: &str) -> Tapes {
        let dir = std::env::temp_dir().join(format!(
            "shadowcat-request-path-tapes-{}-{tag}-{IO_PATH}",
            std::process::id()
        ));
        let _ = std::fs::remove_dir_all(&dir);
        Tapes(dir)
    }

    /// `[admin]`'s extra lines ending it and adding `[recording]` here (the harness's tables
    /// take `'static` text: leaked, once per test).
    fn table(&self) -> &'static str {
        let text = format!(
            "\n[recording]\ndir = {:?}\nflush_interval = \"10ms\"\n",
            self.0.display().to_string()
        );
        Box::leak(text.into_boxed_str())
    }

    /// Every tape: (header, message lines, raw line texts); every line complete.
    fn read(&self) -> Vec<(Value, Vec<Value>, Vec<String>)> {
        let mut out = Vec::new();
        for day in std::fs::read_dir(&self.0).into_iter().flatten().flatten() {
            for file in std::fs::read_dir(day.path()).unwrap().flatten() {
                out.push(read_tape(&file.path()));
            }
        }
        out
    }
}

impl Drop for Tapes {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn read_tape(path: &Path) -> (Value, Vec<Value>, Vec<String>) {
    let text = std::fs::read_to_string(path).unwrap();
    assert!(text.ends_with('\n'), "a cut line: {text}");
    let mut raw: Vec<String> = text.lines().map(str::to_owned).collect();
    let header = serde_json::from_str(&raw.remove(0)).unwrap();
    let lines = raw
        .iter()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    (header, lines, raw)
}

/// A recording proxy (one shard, HTTP upstream) whose route has `route` lines, and its tapes.
fn recording_route(tag: &str, route: &'static str) -> (Tapes, Proxy) {
    let tapes = Tapes::new(tag);
    let proxy = Proxy::start(
        Setup::one(Upstream::Http)
            .with_route(route)
            .with_admin(tapes.table()),
    );
    (tapes, proxy)
}

/// Stops `proxy` once a tape was closed; that tape, the only one: (header, message lines).
fn the_one_tape(proxy: Proxy, tapes: &Tapes) -> (Value, Vec<Value>) {
    await_closed(&proxy, 1);
    let mut recorded = tapes.read();
    proxy.stop();
    assert_eq!(recorded.len(), 1, "one tape expected: {recorded:#?}");
    let (header, lines, _) = recorded.remove(0);
    (header, lines)
}

/// Waits until `n` tapes were closed (each scrape a round trip to every shard).
fn await_closed(proxy: &Proxy, n: usize) {
    proxy.await_metric(
        "shadowcat_tape_files_closed_total",
        |closed| closed >= n as f64,
        "tapes closed",
    );
}

fn session_on_tape(upstream: Upstream, content_type: &str) {
    let tapes = Tapes::new(&format!("{upstream:?}").replace(['(', ')', '"'], ""));
    let proxy = Proxy::start(Setup::two(upstream).with_admin(tapes.table()));
    let mut conn = proxy.conn();
    let session = open_session(&mut conn);
    let exact = b"{\"jsonrpc\":\"2.0\", \"id\":7,\n \"method\":\"tools/call\",\"params\":{\"name\":\"echo\",\"arguments\":{\"message\":\"on tape\"}}}";
    let answer = session.post(&mut conn, exact);
    assert_eq!(answer.head.status, 200, "{}", answer.describe());
    assert_eq!(mcp::result_text(&answer.messages()[0]), "on tape");
    let deleted = conn.request("DELETE", mcp::PATH, &session.get_headers(), b"");
    assert!(deleted.head.status < 300, "{}", deleted.describe());
    await_closed(&proxy, 1);
    let tapes_read = tapes.read();
    proxy.stop();
    let [(header, lines, raw)] = tapes_read.as_slice() else {
        panic!("one tape expected: {tapes_read:#?}")
    };
    assert_eq!(header["status"], "complete", "{header}");
    assert_eq!(header["transport"], "streamable_http");
    assert_eq!(header["route"], "/mcp");
    assert!(header["session"].as_str().unwrap().starts_with("sha256:"));
    assert!(!raw.iter().any(|l| l.contains(&session.id)));
    let seen: Vec<(String, Value)> = lines
        .iter()
        .map(|l| {
            (
                l["dir"].as_str().unwrap().to_owned(),
                l["msg"]["method"].clone(),
            )
        })
        .collect();
    let c2s: Vec<&Value> = seen.iter().filter(|s| s.0 == "c2s").map(|s| &s.1).collect();
    assert_eq!(
        c2s,
        [
            &json!("initialize"),
            &json!("notifications/initialized"),
            &json!("tools/call")
        ]
    );
    let expected = String::from_utf8(exact.to_vec())
        .unwrap()
        .replace('\n', " ");
    assert!(
        raw.iter()
            .any(|l| l.contains(&format!("\"msg\":{expected},"))),
        "{raw:#?}"
    );
    let answer = lines
        .iter()
        .find(|l| l["dir"] == "s2c" && l["msg"]["id"] == json!(7))
        .unwrap_or_else(|| panic!("no answer on tape: {lines:#?}"));
    assert_eq!(answer["http"]["status"], 200);
    assert_eq!(answer["http"]["content_type"], content_type);
    assert_eq!(mcp::result_text(&answer["msg"]), "on tape");
}

#[test]
fn a_json_answered_session_is_on_tape() {
    session_on_tape(Upstream::Http, "application/json");
}

#[test]
fn an_sse_answered_session_is_on_tape() {
    session_on_tape(Upstream::HttpSse, "text/event-stream");
}

#[test]
fn a_stdio_session_is_on_tape() {
    session_on_tape(Upstream::Stdio, "application/json");
}

#[test]
fn a_route_that_does_not_record_leaves_no_tape() {
    let (tapes, proxy) = recording_route("off", "record = false\n");
    let mut conn = proxy.conn();
    let session = open_session(&mut conn);
    let answer = session.post(&mut conn, &mcp::echo(json!(1), "unrecorded"));
    assert_eq!(answer.head.status, 200, "{}", answer.describe());
    // The other route records: its tape closes once its session is deleted.
    let open = conn.request(
        "POST",
        "/open",
        &mcp::fresh_headers(),
        &mcp::initialize(json!(0)),
    );
    assert_eq!(open.head.status, 200, "{}", open.describe());
    let sid = open.header("mcp-session-id").unwrap().to_owned();
    let headers = [("Mcp-Session-Id", sid.as_str())];
    let deleted = conn.request("DELETE", "/open", &headers, b"");
    assert!(deleted.head.status < 300, "{}", deleted.describe());
    await_closed(&proxy, 1);
    let recorded = tapes.read();
    proxy.stop();
    assert_eq!(recorded.len(), 1, "{recorded:#?}");
    assert_eq!(recorded[0].0["route"], "/open");
    assert!(!recorded[0].2.iter().any(|l| l.contains("unrecorded")));
}

#[test]
fn stateless_requests_are_on_their_connections_tape() {
    // A 2026-07-28 client on a legacy upstream: translated onto a pooled upstream session, and
    // recorded per client connection as the client saw it.
    let tapes = Tapes::new("modern");
    let proxy = Proxy::start(Setup::one(Upstream::HttpLegacyEra).with_admin(tapes.table()));
    let mut conn = proxy.conn();
    for id in 1..=2 {
        let answer = mcp::modern_call(json!(id), "echo").send(&mut conn);
        assert_eq!(answer.head.status, 200, "{}", answer.describe());
    }
    drop(conn);
    let (header, lines) = the_one_tape(proxy, &tapes);
    assert_eq!(header["transport"], "modern", "{header}");
    assert!(header["session"]
        .as_str()
        .unwrap()
        .starts_with("connection:"));
    let ids = |dir: &str| -> Vec<Value> {
        lines
            .iter()
            .filter(|l| l["dir"] == dir)
            .map(|l| l["msg"]["id"].clone())
            .filter(|id| !id.is_null())
            .collect()
    };
    assert_eq!(ids("c2s"), [json!(1), json!(2)], "{lines:#?}");
    // Each answer once: a duplicate would be a message recorded twice.
    assert_eq!(ids("s2c"), [json!(1), json!(2)], "{lines:#?}");
}

#[test]
fn a_batch_is_one_line_each_way() {
    // 2025-03-26 batches to a stdio child are split into single messages and answered with one
    // reply array: the tape holds the client's array and the array it got.
    let tapes = Tapes::new("batch");
    let proxy = Proxy::start(Setup::one(Upstream::Stdio).with_admin(tapes.table()));
    let mut conn = proxy.conn();
    let version = [("MCP-Protocol-Version", "2025-03-26")];
    let init = mcp::request(
        json!(0),
        "initialize",
        json!({"protocolVersion": "2025-03-26", "capabilities": {},
               "clientInfo": {"name": "batch", "version": "0"}}),
    );
    let mut headers = mcp::fresh_headers();
    headers.extend_from_slice(&version);
    let answer = conn.request("POST", mcp::PATH, &headers, &init);
    assert_eq!(answer.head.status, 200, "{}", answer.describe());
    let sid = answer.header("mcp-session-id").unwrap().to_owned();
    headers.push(("Mcp-Session-Id", sid.as_str()));
    let batch = json!([
        {"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {"name": "echo", "arguments": {"message": "a"}}},
        {"jsonrpc": "2.0", "id": 2, "method": "tools/call", "params": {"name": "echo", "arguments": {"message": "b"}}}
    ]);
    let answer = conn.request("POST", mcp::PATH, &headers, batch.to_string().as_bytes());
    assert_eq!(answer.head.status, 200, "{}", answer.describe());
    let deleted = conn.request("DELETE", mcp::PATH, &headers[2..], b"");
    assert!(deleted.head.status < 300, "{}", deleted.describe());
    await_closed(&proxy, 1);
    let recorded = tapes.read();
    proxy.stop();
    let [(_, lines, _)] = recorded.as_slice() else {
        panic!("one tape expected: {recorded:#?}")
    };
    let arrays: Vec<&Value> = lines.iter().filter(|l| l["msg"].is_array()).collect();
    assert_eq!(arrays.len(), 2, "{lines:#?}");
    assert_eq!(
        (&arrays[0]["dir"], &arrays[0]["msg"]),
        (&json!("c2s"), &batch)
    );
    assert_eq!(arrays[1]["dir"], "s2c");
    assert_eq!(arrays[1]["msg"].as_array().map(Vec::len), Some(2));
}

#[test]
fn a_legacy_listing_a_stage_changed_is_on_tape_both_ways() {
    // A legacy HTTP+SSE session on a route hiding `add`: the tape holds the listing as the
    // upstream sent it (`msg`, with `add`) and as the client got it (`forwarded`, without).
    let (tapes, proxy) = recording_route("legacy-changed", "deny_tools = [\"add*\"]");
    let mut stream_conn = proxy.conn();
    let (mut events, endpoint) = crate::legacy::open_stream(&mut stream_conn);
    let mut conn = proxy.conn();
    crate::legacy::handshake(&mut events, &mut conn, &endpoint);
    crate::legacy::post_accepted(
        &mut conn,
        &endpoint,
        &mcp::request(json!(1), "tools/list", json!({})),
    );
    let listing = crate::legacy::next_message(&mut events, "the listing");
    let names = crate::tool_filter::names;
    assert!(!names(&listing).contains(&"add".to_owned()));
    drop(events);
    drop(stream_conn);
    drop(conn);
    let (header, lines) = the_one_tape(proxy, &tapes);
    assert_eq!(header["transport"], "legacy_sse", "{header}");
    let answers: Vec<&Value> = lines
        .iter()
        .filter(|l| l["dir"] == "s2c" && l["msg"]["id"] == json!(1))
        .collect();
    let [answer] = answers.as_slice() else {
        panic!("one listing expected: {lines:#?}")
    };
    assert!(
        names(&answer["msg"]).contains(&"add".to_owned()),
        "{answer}"
    );
    assert_eq!(names(&answer["forwarded"]), names(&listing), "{answer}");
}

#[test]
fn a_json_answer_too_large_to_hold_is_noted_not_lost() {
    // A JSON answer in many pieces, larger than max_sse_event_bytes: not held for the tape, a
    // `raw` note stands in its place, counted as dropped, and the tape ends `failed`.
    let (tapes, proxy) = recording_route("large", "\n[limits]\nmax_sse_event_bytes = \"1KiB\"");
    let mut conn = proxy.conn();
    let session = open_session(&mut conn);
    let text = "x".repeat(256 * 1024);
    let answer = session.post(&mut conn, &mcp::echo(json!(9), &text));
    assert_eq!(answer.head.status, 200, "{}", answer.describe());
    assert_eq!(mcp::result_text(&answer.messages()[0]), text);
    let deleted = conn.request("DELETE", mcp::PATH, &session.get_headers(), b"");
    assert!(deleted.head.status < 300, "{}", deleted.describe());
    proxy.await_metric(
        "shadowcat_tape_lines_dropped_total",
        |dropped| dropped >= 1.0,
        "the answer counted as dropped",
    );
    let (header, lines) = the_one_tape(proxy, &tapes);
    assert_eq!(header["status"], "failed", "{header}");
    let note = lines
        .iter()
        .find(|l| {
            l["dir"] == "s2c"
                && l["raw"]
                    .as_str()
                    .is_some_and(|r| r.contains("not recorded"))
        })
        .unwrap_or_else(|| panic!("no note: {lines:#?}"));
    assert_eq!(note["http"]["status"], 200, "{note}");
}
