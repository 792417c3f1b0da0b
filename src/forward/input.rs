//! The client's side of stdin: newline-delimited messages, each inspected before it goes
//! anywhere; what fails inspection is answered on stdout and not forwarded.
//!
//! Not here: where valid messages go (the targets), the stdin thread (bridge.rs), the stages
//! each valid line passes (stages.rs).
//! Same rules and errors as the reverse proxy's POST path (crate::mcp): invalid JSON gets
//! `-32700` with a `null` id, JSON that is not JSON-RPC `-32600`, a bad `params` member
//! `-32602`, an unsupported protocol version `-32022`. Allocation: one `Vec` per forwarded
//! message (it moves into the task that sends it).

use glommio::net::UnixStream;

use crate::mcp::{Inspected, Inspector, Kind, Method};
use crate::upstream::stdio::{LineError, LineReader};

use super::output::Output;
use super::stages::{admit, Admit};
use crate::mcp::JsonRpcId;
use crate::pipeline::RouteStages;

/// Request ids of one message.
pub(crate) type JsonRpcIds = Vec<JsonRpcId>;

/// Longest message accepted from the client, as for a child's stdout: MCP messages carrying
/// resources or images can be a few MiB of base64.
pub(crate) const MAX_CLIENT_LINE: usize = crate::upstream::stdio::DEFAULT_MAX_LINE;

/// A valid message from the client and the facts the targets need.
#[derive(Debug)]
pub(crate) struct ClientMessage {
    /// The message as received (no newline).
    pub(crate) bytes: Vec<u8>,
    /// Ids of the requests in it (a batch may hold several): each expects an answer.
    pub(crate) requests: JsonRpcIds,
    /// It is an `initialize` request.
    pub(crate) initialize: bool,
    /// It is the `notifications/initialized` notification.
    pub(crate) initialized: bool,
    /// Requests it cancels (`notifications/cancelled`): they may never get an answer.
    pub(crate) cancels: JsonRpcIds,
}

/// What the client did next.
#[derive(Debug)]
pub(crate) enum Next {
    /// Sent a valid message.
    Message(ClientMessage),
    /// Closed stdin.
    Eof,
    /// Broke the framing (a line over the limit) or stdin failed; nothing more can be read.
    Broken(LineError),
}

/// Reads and inspects the client's lines.
#[derive(Debug)]
pub(crate) struct ClientInput {
    lines: LineReader<UnixStream>,
    inspector: Inspector,
    /// The request side runs on every valid line (stages.rs).
    stages: RouteStages,
}

impl ClientInput {
    /// Reads from the executor's end of the stdin bridge; every valid line passes `stages`.
    pub(crate) fn new(stdin: UnixStream, stages: RouteStages) -> Self {
        Self {
            lines: LineReader::new(stdin, MAX_CLIENT_LINE),
            inspector: Inspector::new(),
            stages,
        }
    }

    /// The next valid message the stages let through; invalid ones and those a stage refuses
    /// are answered on `out` and skipped, blank lines and dropped ones are skipped.
    pub(crate) async fn next(&mut self, out: &Output) -> Next {
        loop {
            let line = match self.lines.next_line().await {
                Ok(Some(line)) => line,
                Ok(None) => return Next::Eof,
                Err(e) => {
                    if let LineError::TooLong { limit } = e {
                        let message = format!("message longer than {limit} bytes");
                        out.error(None, crate::mcp::jsonrpc::INVALID_REQUEST, &message, None)
                            .await;
                    }
                    return Next::Broken(e);
                }
            };
            if line.iter().all(u8::is_ascii_whitespace) {
                continue;
            }
            out.client_line(line);
            match self.inspector.inspect(line) {
                Ok(inspected) => {
                    let msg = message(line, &inspected);
                    let listings = self.stages.listing_ids(inspected.messages());
                    match admit(&self.stages, inspected, &msg.requests) {
                        Admit::Send => {
                            out.expect_listings(listings);
                            return Next::Message(msg);
                        }
                        Admit::Answer(reply) => {
                            tracing::debug!("a stage answered a message from the client");
                            out.local(&reply).await;
                        }
                        Admit::Drop => {}
                    }
                }
                Err(error) => {
                    tracing::debug!(%error, "refused a message from the client");
                    let mut reply = Vec::new();
                    error.write_reply(&mut reply);
                    out.local(&reply).await;
                }
            }
        }
    }
}

/// The facts of one inspected message.
pub(crate) fn message(bytes: &[u8], inspected: &Inspected) -> ClientMessage {
    let mut msg = ClientMessage {
        bytes: bytes.to_vec(),
        requests: JsonRpcIds::new(),
        initialize: false,
        initialized: false,
        cancels: JsonRpcIds::new(),
    };
    for info in inspected.messages() {
        if info.kind == Kind::Request {
            if let Some(id) = &info.id {
                msg.requests.push(id.clone());
            }
            msg.initialize |= info.method == Some(Method::Initialize);
        }
        msg.initialized |= info.method == Some(Method::NotificationsInitialized);
        if let Some(id) = &info.cancelled_request_id {
            msg.cancels.push(id.clone());
        }
    }
    msg
}

#[cfg(test)]
mod tests {
    use std::io::{Read, Write};
    use std::os::unix::net::UnixStream as StdUnixStream;
    use std::rc::Rc;

    use shards::latch::Latch;

    use super::*;
    use crate::forward::bridge::into_glommio;

    /// An executor with little locked memory, for one test's reader and writer tasks.
    fn small_executor() -> glommio::LocalExecutor {
        glommio::LocalExecutorBuilder::default()
            .io_memory(64 * 1024)
            .make()
            .unwrap()
    }

    #[test]
    fn invalid_lines_are_answered_and_valid_ones_handed_over() {
        let (client_end, ours) = StdUnixStream::pair().unwrap();
        let (stdout_ours, mut stdout_theirs) = StdUnixStream::pair().unwrap();
        let mut client = client_end;
        client
            .write_all(
                b"{oops\n\n   \r\n{\"jsonrpc\":\"2.0\",\"id\":9,\"method\":\"ping\"}\r\n[]\n",
            )
            .unwrap();
        client.shutdown(std::net::Shutdown::Write).unwrap();
        let ids = small_executor().run(async move {
            let (out, writer) = Output::start(
                into_glommio(stdout_ours),
                Rc::new(Latch::default()),
                (RouteStages::default(), None),
            );
            let writer = glommio::spawn_local(writer);
            let mut input = ClientInput::new(into_glommio(ours), RouteStages::default());
            let mut ids = Vec::new();
            loop {
                match input.next(&out).await {
                    Next::Message(msg) => ids.extend(msg.requests),
                    Next::Eof => break,
                    Next::Broken(e) => panic!("{e}"),
                }
            }
            out.finish().await;
            writer.await;
            ids
        });
        assert_eq!(ids, [JsonRpcId::Number(9)]);
        let mut replies = String::new();
        stdout_theirs.read_to_string(&mut replies).unwrap();
        let replies: Vec<serde_json::Value> = replies
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert_eq!(replies.len(), 2, "{replies:?}");
        assert_eq!(replies[0]["error"]["code"], -32700);
        assert!(replies[0]["id"].is_null());
        assert_eq!(replies[1]["error"]["code"], -32600, "an empty batch");
    }
    /// Forward mode judges only answers to the client's `tools/list` requests: by id (string
    /// `"1"` is not number `1`), once each; a `tools/call` answer whose `result.tools` names a
    /// hidden tool, or a second answer under an answered id, keeps its bytes.
    #[test]
    fn only_answers_to_a_sent_tools_list_are_judged_once() {
        let (client_end, ours) = StdUnixStream::pair().unwrap();
        let (stdout_ours, mut stdout_theirs) = StdUnixStream::pair().unwrap();
        let mut client = client_end;
        client
            .write_all(b"{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"tools/list\"}\n{\"jsonrpc\":\"2.0\",\"id\":\"1\",\"method\":\"tools/call\",\"params\":{\"name\":\"echo\"}}\n{\"jsonrpc\":\"2.0\",\"id\":3,\"method\":\"tools/list\"}\n")
            .unwrap();
        client.shutdown(std::net::Shutdown::Write).unwrap();
        let deny = vec!["secret".to_owned()];
        let stages =
            RouteStages::with_tools(crate::config::ToolFilter::build("f", &[], &deny).unwrap());
        let listing = |id: &str| {
            format!(
                r#"{{"jsonrpc":"2.0","id":{id},"result":{{"tools":[{{"name":"secret"}},{{"name":"echo"}}]}}}}"#
            )
        };
        let answers = [listing("\"1\""), listing("1"), listing("1")];
        small_executor().run(async move {
            let (out, writer) = Output::start(
                into_glommio(stdout_ours),
                Rc::new(Latch::default()),
                (stages.clone(), None),
            );
            let writer = glommio::spawn_local(writer);
            let mut input = ClientInput::new(into_glommio(ours), stages);
            while let Next::Message(_) = input.next(&out).await {}
            for answer in &answers {
                assert!(out.message(answer.as_bytes()).await);
            }
            // The proxy answered id 3 itself (say, a timeout): a late answer is not judged.
            assert!(
                out.error(Some(&JsonRpcId::Number(3)), -32001, "slow", None)
                    .await
            );
            assert!(out.message(listing("3").as_bytes()).await);
            out.finish().await;
            writer.await;
        });
        let mut written = String::new();
        stdout_theirs.read_to_string(&mut written).unwrap();
        let lines: Vec<&str> = written.lines().collect();
        assert_eq!(lines[0], listing("\"1\""), "the tools/call answer");
        assert_eq!(
            lines[1],
            r#"{"jsonrpc":"2.0","id":1,"result":{"tools":[{"name":"echo"}]}}"#
        );
        assert_eq!(lines[2], listing("1"), "id 1 was answered already");
        assert_eq!(lines[4], listing("3"), "id 3 was answered by the proxy");
    }

    use crate::mcp::JsonRpcId;

    fn facts(body: &[u8]) -> ClientMessage {
        let inspected = Inspector::new().inspect(body).unwrap();
        message(body, &inspected)
    }

    #[test]
    fn requests_initialize_and_initialized_are_recognised() {
        let init = facts(
            br#"{"jsonrpc":"2.0","id":"a","method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"t","version":"1"}}}"#,
        );
        assert!(init.initialize && !init.initialized);
        assert_eq!(init.requests.as_slice(), [JsonRpcId::from("a")]);

        let done = facts(br#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#);
        assert!(done.initialized && !done.initialize && done.requests.is_empty());

        let reply = facts(br#"{"jsonrpc":"2.0","id":3,"result":{}}"#);
        assert!(reply.requests.is_empty(), "a response expects no answer");

        let batch = facts(
            br#"[{"jsonrpc":"2.0","id":1,"method":"ping"},{"jsonrpc":"2.0","method":"notifications/cancelled","params":{"requestId":0}},{"jsonrpc":"2.0","id":2,"method":"tools/list"}]"#,
        );
        assert_eq!(
            batch.requests.as_slice(),
            [JsonRpcId::Number(1), JsonRpcId::Number(2)]
        );
        assert_eq!(batch.cancels.as_slice(), [JsonRpcId::Number(0)]);
    }
}
