//! The interception endpoints of the admin API: `GET /api/intercept/paused` (every shard's
//! held messages), `POST /api/intercept/paused/{id}/resume|block|modify` (to the shard that
//! holds it: the id is `<shard>-<n>`), `GET`/`PUT /api/intercept/rules` (a new set is compiled
//! here first, refused whole with the reason when a rule is bad, then put in force on every
//! shard over the mesh).
//!
//! Not here: the admin listener and its token check (server.rs), the pause table and the
//! shards' side of the questions (crate::proxy::intercept).

use std::rc::Rc;
use std::time::Duration;

use serde_json::{json, Value};
use shards::io::NetStream;
use shards::ShardId;

use crate::config::intercept::{
    renames_target, InterceptRules, RawIntercept, RawRule, RENAME_REFUSED,
};
use crate::http::{Error as HttpError, HttpConn, Method, RequestHead};
use crate::proxy::intercept::{all_shards, ask, put, Decision, Op, Refused, Reply};
use crate::proxy::state::ShardState;
use shards::timeout::within;

/// Largest request body the endpoints read (a rule set, a patch).
const MAX_BODY: usize = 1 << 20;

/// The path prefix these endpoints live under.
pub const PREFIX: &[u8] = b"/api/intercept/";

/// An endpoint's answer: status and JSON body.
pub type Answer = (u16, Value);

/// How long reading a request body may take.
const BODY_TIMEOUT: Duration = Duration::from_secs(10);

/// Serves one request under [`PREFIX`]; `false` with the answer when its body could not be
/// read whole (the connection must close: its unread bytes are not a next request).
pub async fn serve(
    state: &Rc<ShardState>,
    conn: &mut HttpConn<NetStream>,
    head: &RequestHead,
) -> (Answer, bool) {
    let mut body = Vec::new();
    let Ok(framing) = head.framing() else {
        return (error(400, "cannot read the request body"), false);
    };
    // A client sending `Expect: 100-continue` (curl, for a large rule set) waits for it first.
    if head.expects_continue()
        && framing != crate::http::Framing::Empty
        && conn.write_all(crate::http::CONTINUE).await.is_err()
    {
        return (error(400, "cannot read the request body"), false);
    }
    let read = within(BODY_TIMEOUT, conn.read_body(framing, MAX_BODY, &mut body)).await;
    match read {
        Some(Ok(())) => {}
        Some(Err(HttpError::BodyTooLarge { .. })) => {
            return (error(413, "the request body is larger than 1 MiB"), false)
        }
        Some(Err(_)) => return (error(400, "cannot read the request body"), false),
        None => return (error(408, "the request body did not arrive in time"), false),
    }
    (route(state, head, &body).await, true)
}

async fn route(state: &Rc<ShardState>, head: &RequestHead, body: &[u8]) -> Answer {
    let path = String::from_utf8_lossy(head.path()).into_owned();
    let rest = path.strip_prefix("/api/intercept/").unwrap_or_default();
    match (
        head.method(),
        rest.split('/').collect::<Vec<_>>().as_slice(),
    ) {
        (Method::Get, ["paused"]) => list(state).await,
        (Method::Post, ["paused", id, verb]) => decide(state, id, verb, body).await,
        (Method::Get, ["rules"]) => {
            let intercept = &state.intercept;
            let generation = intercept.generation();
            (
                200,
                json!({ "rules": &*intercept.raw(), "generation": generation }),
            )
        }
        (Method::Put, ["rules"]) => put_rules(state, body).await,
        (_, ["paused"] | ["paused", _, _] | ["rules"]) => error(405, "method not allowed"),
        _ => error(404, "no such interception endpoint"),
    }
}

fn error(status: u16, why: &str) -> Answer {
    (status, json!({ "error": why }))
}

async fn list(state: &Rc<ShardState>) -> Answer {
    let mut paused: Vec<Value> = Vec::new();
    for reply in ask(state, &all_shards(state), &Op::List).await {
        if let Reply::Listed(items) = reply {
            paused.extend(items);
        }
    }
    let key = |v: &Value| {
        let shard = v["shard"].as_u64().unwrap_or_default();
        let id = v["id"].as_str().unwrap_or_default();
        let n: u64 = id
            .rsplit('-')
            .next()
            .and_then(|n| n.parse().ok())
            .unwrap_or_default();
        (shard, n)
    };
    paused.sort_by_key(key);
    (200, json!({ "paused": paused }))
}

async fn decide(state: &Rc<ShardState>, id: &str, verb: &str, body: &[u8]) -> Answer {
    let Some((shard, n)) = parse_id(id).filter(|(s, _)| s.0 < state.ctx.shard_count) else {
        return error(404, "no paused message with this id (ids look like 0-3)");
    };
    let decision = match decision(verb, body) {
        Ok(decision) => decision,
        Err(answer) => return answer,
    };
    let replies = ask(state, &[shard], &Op::Decide { n, decision }).await;
    match replies.into_iter().next() {
        Some(Reply::Decided(Ok(()))) => (200, json!({ "id": id, "decided": verb })),
        Some(Reply::Decided(Err(Refused::Gone(why)))) => error(404, why),
        Some(Reply::Decided(Err(Refused::Unfit(why)))) => error(409, why),
        _ => error(503, "the shard holding it did not answer"),
    }
}

/// The decision a verb and its body ask for.
fn decision(verb: &str, body: &[u8]) -> Result<Decision, Answer> {
    let parsed = || -> Result<Option<Value>, Answer> {
        if body.iter().all(u8::is_ascii_whitespace) {
            return Ok(None);
        }
        serde_json::from_slice(body)
            .map(Some)
            .map_err(|e| error(400, &format!("the body is not JSON: {e}")))
    };
    match verb {
        "resume" => Ok(Decision::Resume),
        "block" => {
            let message =
                parsed()?.and_then(|v| v.get("message").and_then(Value::as_str).map(str::to_owned));
            Ok(Decision::Block(message))
        }
        "modify" => match parsed()? {
            Some(patch) if renames_target(&patch) => Err(error(400, RENAME_REFUSED)),
            Some(patch @ Value::Object(_)) => Ok(Decision::Modify(patch)),
            _ => Err(error(
                400,
                "modify needs a JSON object body: the merge patch for params (an answer: result)",
            )),
        },
        _ => Err(error(404, "no such decision: resume, block or modify")),
    }
}

/// `<shard>-<n>`.
fn parse_id(id: &str) -> Option<(ShardId, u64)> {
    let (shard, n) = id.split_once('-')?;
    Some((ShardId(shard.parse().ok()?), n.parse().ok()?))
}

async fn put_rules(state: &Rc<ShardState>, body: &[u8]) -> Answer {
    // `{"rules": [...]}` (what GET answers) or a bare list.
    let raw: Vec<RawRule> = match serde_json::from_slice::<RawIntercept>(body) {
        Ok(set) => set.rules,
        Err(first) => match serde_json::from_slice::<Vec<RawRule>>(body) {
            Ok(rules) => rules,
            Err(_) => return error(400, &format!("not a rule set: {first}")),
        },
    };
    if let Err(why) = InterceptRules::compile(&raw) {
        return error(400, &why);
    }
    let count = raw.len();
    match put(state, raw).await {
        Ok((generation, installed)) => {
            tracing::info!(rules = count, generation, "interception rules replaced");
            let answer = json!({ "rules": count, "shards": installed, "generation": generation });
            (200, answer)
        }
        Err(why) => error(503, &why),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_and_decisions_are_read_strictly() {
        assert_eq!(parse_id("2-17").map(|(s, n)| (s.0, n)), Some((2, 17)));
        for bad in ["", "2", "-1", "a-1", "1-b", "1-2-3"] {
            assert!(parse_id(bad).is_none(), "{bad}");
        }
        assert!(matches!(decision("resume", b""), Ok(Decision::Resume)));
        assert!(matches!(decision("block", b" "), Ok(Decision::Block(None))));
        assert!(matches!(
            decision("block", br#"{"message":"no"}"#),
            Ok(Decision::Block(Some(m))) if m == "no"
        ));
        assert!(matches!(
            decision("modify", br#"{"a":1}"#),
            Ok(Decision::Modify(_))
        ));
        for (verb, body) in [
            ("modify", &b""[..]),
            ("modify", b"[1]"),
            ("modify", br#"{"name":"rm"}"#),
            ("modify", br#"{"uri":"file:///etc/shadow"}"#),
            ("block", b"{"),
            ("skip", b""),
        ] {
            assert!(decision(verb, body).is_err(), "{verb}");
        }
    }
}
