//! [`PauseTable`]: the messages `pause` rules hold on this shard (client requests, and
//! messages going to the client), each waiting for an operator's [`Decision`] (or its rule's
//! timeout). A paused message holds only its own request or stream: the table is the only
//! thing it shares, and nothing waits on it but that message's owner.
//!
//! Not here: what a decision does to the message (the proxy's intercept module), reaching a
//! pause held on another shard (mesh.rs).
//! Ids are `<shard>-<n>`: `n` counts this shard's pauses, so ids are unique across shards.

use std::cell::{Cell, RefCell};
use std::collections::BTreeMap;
use std::time::Instant;

use glommio::channels::local_channel::{self, LocalReceiver, LocalSender};
use serde_json::{json, Value};
use shards::ShardId;

use crate::config::intercept::Direction;

/// What the paused list shows of one held message.
#[derive(Debug)]
pub struct PauseInfo {
    /// Which way it was going: a client's request, or a message going to the client.
    pub direction: Direction,
    /// The rule that paused it.
    pub rule: Box<str>,
    /// Its method.
    pub method: Option<Box<str>>,
    /// The tool a `tools/call` names.
    pub tool: Option<Box<str>>,
    /// The client session's hash (`sha256:…`), when it has one.
    pub session: Option<String>,
    /// The message (as JSON when it parses, else as text).
    pub message: Value,
}

#[derive(Debug)]
struct Paused {
    info: PauseInfo,
    since: Instant,
    tx: LocalSender<Decision>,
}

/// This shard's held messages.
#[derive(Debug, Default)]
pub struct PauseTable {
    next: Cell<u64>,
    held: RefCell<BTreeMap<u64, Paused>>,
}

/// A held message's place in the table: dropping it (decided, timed out, or the request
/// abandoned) takes the message off the list.
#[derive(Debug)]
pub struct Held<'t> {
    table: &'t PauseTable,
    n: u64,
    /// Where the operator's decision arrives.
    pub decision: LocalReceiver<Decision>,
}

impl Held<'_> {
    /// The pause's number on its shard.
    pub fn number(&self) -> u64 {
        self.n
    }
}

impl Drop for Held<'_> {
    fn drop(&mut self) {
        self.table.held.borrow_mut().remove(&self.n);
    }
}

impl PauseTable {
    /// Holds a message described by `info` until [`Held`] is dropped.
    pub fn hold(&self, info: PauseInfo) -> Held<'_> {
        let n = self.next.get() + 1;
        self.next.set(n);
        let (tx, decision) = local_channel::new_bounded(1);
        let paused = Paused {
            info,
            since: Instant::now(),
            tx,
        };
        self.held.borrow_mut().insert(n, paused);
        Held {
            table: self,
            n,
            decision,
        }
    }

    /// How many messages are held.
    pub fn len(&self) -> usize {
        self.held.borrow().len()
    }

    /// Whether none is.
    pub fn is_empty(&self) -> bool {
        self.held.borrow().is_empty()
    }

    /// The held messages as the admin API lists them, oldest first.
    pub fn list(&self, shard: ShardId) -> Vec<Value> {
        self.held
            .borrow()
            .iter()
            .map(|(n, paused)| {
                json!({
                    "id": format!("{}-{n}", shard.0),
                    "shard": shard.0,
                    "direction": match paused.info.direction {
                        Direction::Response => "response",
                        _ => "request",
                    },
                    "rule": &*paused.info.rule,
                    "method": paused.info.method.as_deref(),
                    "tool": paused.info.tool.as_deref(),
                    "session": paused.info.session.as_deref(),
                    "age_ms": u64::try_from(paused.since.elapsed().as_millis()).unwrap_or(u64::MAX),
                    "message": &paused.info.message,
                })
            })
            .collect()
    }

    /// Hands `decision` to the message held as number `n`.
    ///
    /// # Errors
    /// No such message (decided already, timed out, or never held), or a `modify` of a
    /// message with nothing to patch (an error answer: it would go on unchanged).
    pub fn decide(&self, n: u64, decision: Decision) -> Result<(), Refused> {
        let held = self.held.borrow();
        let paused = held.get(&n).ok_or(Refused::Gone(
            "no paused message with this id (decided, timed out or never held)",
        ))?;
        if matches!(decision, Decision::Modify(_))
            && crate::pipeline::intercept::patch_member(&paused.info.message).is_none()
        {
            return Err(Refused::Unfit(
                "modify patches a message's params or an answer's result; this message has \
                 neither (an error answer): resume or block it",
            ));
        }
        paused
            .tx
            .try_send(decision)
            .map_err(|_| Refused::Gone("this message was decided already"))
    }
}

/// Why a decision was not delivered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refused {
    /// No such message (decided already, timed out, or never held).
    Gone(&'static str),
    /// The decision does not apply to this message (it stays paused).
    Unfit(&'static str),
}

impl Refused {
    /// Why, for the operator.
    pub fn why(self) -> &'static str {
        match self {
            Refused::Gone(why) | Refused::Unfit(why) => why,
        }
    }
}

/// An operator's decision on a paused message.
#[derive(Debug, Clone)]
pub enum Decision {
    /// Send it on as it is.
    Resume,
    /// Answer it with the rule's error (this message instead of the rule's, when given).
    Block(Option<String>),
    /// Send it on with this merge patch applied to its `params`.
    Modify(Value),
}

#[cfg(test)]
mod tests {
    use super::*;

    fn info(tool: &str) -> PauseInfo {
        PauseInfo {
            direction: if tool == "b" {
                Direction::Response
            } else {
                Direction::Request
            },
            rule: "#0".into(),
            method: Some("tools/call".into()),
            tool: Some(tool.into()),
            session: None,
            message: json!({"id": 1}),
        }
    }

    #[test]
    fn held_messages_are_listed_decided_once_and_gone_when_dropped() {
        let table = PauseTable::default();
        let first = table.hold(info("a"));
        let second = table.hold(info("b"));
        let listed = table.list(ShardId(3));
        assert_eq!(listed.len(), 2);
        assert_eq!(listed[0]["id"], "3-1");
        assert_eq!(listed[1]["id"], "3-2");
        assert_eq!(listed[1]["tool"], "b");
        assert_eq!(listed[0]["direction"], "request");
        assert_eq!(listed[1]["direction"], "response");
        assert!(table.decide(second.number(), Decision::Resume).is_ok());
        let twice = table.decide(second.number(), Decision::Resume).unwrap_err();
        assert!(twice.why().contains("decided already"), "{twice:?}");
        assert!(table.decide(99, Decision::Resume).is_err());
        drop(second);
        assert_eq!(table.len(), 1);
        drop(first);
        assert!(table.is_empty());
        // An error answer has nothing to patch: modify is refused and it stays paused.
        let mut error = info("b");
        error.message = json!({"jsonrpc": "2.0", "id": 1, "error": {"code": 1, "message": "x"}});
        let error = table.hold(error);
        let refused = table.decide(error.number(), Decision::Modify(json!({"a": 1})));
        assert!(matches!(refused, Err(Refused::Unfit(_))), "{refused:?}");
        assert!(table.decide(error.number(), Decision::Block(None)).is_ok());
        drop(error);
        // Numbers are never reused on a shard.
        assert_eq!(table.hold(info("c")).number(), 4);
    }
}
