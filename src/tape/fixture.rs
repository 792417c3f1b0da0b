//! Test tapes written by hand, following docs/tapes.md: a header and message lines (unit tests
//! of every tape reader).
//!
//! Not here: the recorder (tapes it writes are read the same way).

/// A header line (no newline) for session `session`, started at `started_us`.
pub(crate) fn header(session: &str, started_us: u64, part: u32) -> String {
    format!(
        r#"{{"shadowcat_tape":1,"session":"{session}","route":"default","upstream":"http://127.0.0.1:9000/mcp","transport":"streamable_http","protocol_version":"2025-06-18","started":"2026-12-07T11:18:00.000000Z","started_us":{started_us},"shard":0,"part":{part},"status":"complete"     }}"#
    )
}

/// A message line (no newline).
pub(crate) fn line(t_us: u64, dir: &str, msg: &str) -> String {
    format!(r#"{{"t_us":{t_us},"dir":"{dir}","msg":{msg}}}"#)
}

/// A small session: initialize, initialized, tools/list, a tools/call with a progress
/// notification, a failing tools/call; every line ends with `\n`.
pub(crate) fn session(start: u64) -> String {
    let lines = [
        header("sha256:00112233445566778899aabbccddeeff", start, 1),
        line(
            start,
            "c2s",
            r#"{"jsonrpc":"2.0","id":0,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"mcp","version":"1.0"}}}"#,
        ),
        line(
            start + 1000,
            "s2c",
            r#"{"jsonrpc":"2.0","id":0,"result":{"protocolVersion":"2025-06-18","capabilities":{"tools":{}},"serverInfo":{"name":"shadowcat-demo","version":"0.1.0"}}}"#,
        ),
        line(
            start + 2000,
            "c2s",
            r#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#,
        ),
        line(
            start + 3000,
            "c2s",
            r#"{"jsonrpc":"2.0","id":1,"method":"tools/list","params":{}}"#,
        ),
        line(
            start + 4000,
            "s2c",
            r#"{"jsonrpc":"2.0","id":1,"result":{"tools":[{"name":"echo","inputSchema":{"type":"object"}}]}}"#,
        ),
        line(
            start + 5000,
            "c2s",
            r#"{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"slow","arguments":{"steps":1},"_meta":{"progressToken":2}}}"#,
        ),
        line(
            start + 6000,
            "s2c",
            r#"{"jsonrpc":"2.0","method":"notifications/progress","params":{"progressToken":2,"progress":1,"total":1}}"#,
        ),
        line(
            start + 9000,
            "s2c",
            r#"{"jsonrpc":"2.0","id":2,"result":{"content":[{"type":"text","text":"done"}]}}"#,
        ),
        line(
            start + 10000,
            "c2s",
            r#"{"jsonrpc":"2.0","id":3,"method":"tools/call","params":{"name":"nope","arguments":{}}}"#,
        ),
        line(
            start + 12000,
            "s2c",
            r#"{"jsonrpc":"2.0","id":3,"error":{"code":-32602,"message":"Unknown tool: nope"}}"#,
        ),
    ];
    let mut text = lines.join("\n");
    text.push('\n');
    text
}
