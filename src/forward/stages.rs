//! Forward mode's request pipeline: the stages every client line passes before it goes to the
//! target (input.rs calls [`admit`] once per line), and whose response side the answers to
//! the client's `tools/list` requests pass on their way to stdout (output.rs, by id). The same [`RouteStages`] a reverse-proxy route has
//! (today the `tool_filter` stage, from `--allow-tool`/`--deny-tool`); forward has one client
//! and one target, so there is no route, upstream id or session to name.
//!
//! Not here: the stages themselves (crate::pipeline), reading and writing lines.
//! Hot path: without tool flags one `Option` test per line; with them the inspector's facts
//! are moved into the stage check, nothing is copied unless a call is refused.

use crate::mcp::{jsonrpc, Inspected, JsonRpcId};
use crate::pipeline::{facts, Refusal, RouteStages, Verdict};

/// What the stages decided about one client line.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Admit {
    /// Send it to the target.
    Send,
    /// Answer the client with these bytes; the target never sees the line.
    Answer(Vec<u8>),
    /// Send nothing anywhere (a notification a stage will not forward, or a refused batch
    /// holding no request to answer).
    Drop,
}

/// The request side of `stages` for one inspected line whose requests have `requests` ids.
pub(crate) fn admit(stages: &RouteStages, inspected: Inspected, requests: &[JsonRpcId]) -> Admit {
    if stages.is_empty() {
        return Admit::Send;
    }
    let facts = facts(inspected);
    match stages.request(&facts) {
        Verdict::Continue => Admit::Send,
        Verdict::Drop => Admit::Drop,
        Verdict::Refuse(refusal) => answer(&refusal, facts.id(), requests),
    }
}

/// The answer a refused line gets: the error a server gives for an unknown tool, under the
/// request's id; for a batch (nothing of it is sent), one error per request, as a batch.
fn answer(refusal: &Refusal, id: Option<&JsonRpcId>, requests: &[JsonRpcId]) -> Admit {
    let Refusal::UnknownTool { name, in_batch } = refusal else {
        // Only configured stages run here (forward has no HTTP head, era or session checks);
        // should another refusal ever reach this point, the client still gets an answer.
        let mut reply = Vec::with_capacity(96);
        let message = format!("Refused by the proxy: {refusal:?}");
        jsonrpc::write_error(&mut reply, id, jsonrpc::INVALID_REQUEST, &message, None);
        return Admit::Answer(reply);
    };
    if !in_batch {
        let mut reply = Vec::with_capacity(name.len() + 96);
        let message = format!("Unknown tool: {name}");
        jsonrpc::write_error(&mut reply, id, jsonrpc::INVALID_PARAMS, &message, None);
        return Admit::Answer(reply);
    }
    if requests.is_empty() {
        return Admit::Drop;
    }
    let message = format!("Unknown tool: {name} (the batch calling it was not sent)");
    let mut reply = vec![b'['];
    for (index, id) in requests.iter().enumerate() {
        if index > 0 {
            reply.push(b',');
        }
        jsonrpc::write_error(
            &mut reply,
            Some(id),
            jsonrpc::INVALID_PARAMS,
            &message,
            None,
        );
    }
    reply.push(b']');
    Admit::Answer(reply)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::ToolFilter;
    use crate::mcp::Inspector;

    fn deny(globs: &[&str]) -> RouteStages {
        let deny: Vec<String> = globs.iter().map(|g| (*g).to_owned()).collect();
        RouteStages::with_tools(ToolFilter::build("forward", &[], &deny).unwrap())
    }

    fn admitted(stages: &RouteStages, line: &str) -> Admit {
        let inspected = Inspector::new().inspect(line.as_bytes()).unwrap();
        let requests = crate::forward::input::message(line.as_bytes(), &inspected).requests;
        admit(stages, inspected, &requests)
    }

    fn json(admit: Admit) -> serde_json::Value {
        match admit {
            Admit::Answer(bytes) => serde_json::from_slice(&bytes).unwrap(),
            other => panic!("not an answer: {other:?}"),
        }
    }

    #[test]
    fn a_hidden_call_is_answered_locally_like_an_unknown_tool() {
        let s = deny(&["add*"]);
        let call = r#"{"jsonrpc":"2.0","id":"c1","method":"tools/call","params":{"name":"add"}}"#;
        let reply = json(admitted(&s, call));
        assert_eq!(reply["id"], "c1");
        assert_eq!(reply["error"]["code"], -32602);
        assert_eq!(reply["error"]["message"], "Unknown tool: add");
        let echo = r#"{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"echo"}}"#;
        assert_eq!(admitted(&s, echo), Admit::Send);
        let note = r#"{"jsonrpc":"2.0","method":"tools/call","params":{"name":"add"}}"#;
        assert_eq!(admitted(&s, note), Admit::Drop);
        assert_eq!(admitted(&RouteStages::default(), call), Admit::Send);
    }

    #[test]
    fn a_batch_calling_a_hidden_tool_gets_one_error_per_request() {
        let s = deny(&["add"]);
        let batch = r#"[{"jsonrpc":"2.0","id":1,"method":"ping"},{"jsonrpc":"2.0","method":"notifications/progress","params":{"progressToken":1,"progress":1}},{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"add"}}]"#;
        let reply = json(admitted(&s, batch));
        let errors = reply.as_array().unwrap();
        assert_eq!(errors.len(), 2, "{reply}");
        assert_eq!(errors[0]["id"], 1);
        assert_eq!(errors[1]["id"], 2);
        assert_eq!(errors[1]["error"]["code"], -32602);
    }
}
