//! The shard's interception state: its compiled rule set (swapped whole when the admin API
//! installs a new one: each shard compiles its own copy, so the request path reads an `Rc` and
//! takes no lock), the messages paused here ([`PauseTable`]), the mailbox for the replies to
//! the admin questions this shard asks, and the messages shards send each other for them.
//!
//! Not here: running rules on messages and answering the questions (the proxy's intercept
//! module).

use std::cell::{Cell, RefCell};
use std::rc::Rc;

use serde_json::Value;
use shards::ShardId;

use crate::config::intercept::{InterceptRules, RawRule};

pub use super::pause::{Decision, Held, PauseInfo, PauseTable, Refused};

/// One shard's interception state.
#[derive(Debug)]
pub struct InterceptShard {
    /// The rule set in force, compiled on this shard.
    rules: RefCell<Rc<InterceptRules>>,
    /// The same rules as written (what `GET /api/intercept/rules` shows).
    raw: RefCell<Rc<Vec<RawRule>>>,
    /// Messages held by `pause` rules on this shard.
    pub paused: PauseTable,
    /// Replies to the admin questions this shard asked other shards.
    pub inbox: AdminInbox,
    /// The generation of the set in force (0: the config file's); a set is installed only
    /// when its generation is newer, so concurrent `PUT`s leave every shard with the same one.
    generation: Cell<u64>,
    /// The last generation handed out (shard 0, the coordinator of every `PUT`).
    issued: Cell<u64>,
}

impl InterceptShard {
    /// The state for the rules of the config (validated at load: a rule that no longer
    /// compiles is left out, with an error in the log).
    pub fn new(raw: &[RawRule]) -> Self {
        let shard = InterceptShard {
            rules: RefCell::default(),
            raw: RefCell::default(),
            paused: PauseTable::default(),
            inbox: AdminInbox::default(),
            generation: Cell::new(0),
            issued: Cell::new(0),
        };
        if let Err(why) = shard.install(raw.to_vec(), 0) {
            tracing::error!(%why, "interception rules refused");
        }
        shard
    }

    /// The rule set in force, when it has any rule.
    pub fn rules(&self) -> Option<Rc<InterceptRules>> {
        let rules = self.rules.borrow();
        (!rules.is_empty()).then(|| rules.clone())
    }

    /// The rules as written.
    pub fn raw(&self) -> Rc<Vec<RawRule>> {
        self.raw.borrow().clone()
    }

    /// Compiles `raw` and puts it in force on this shard, unless a set of a newer generation
    /// is in force already (then nothing changes: that set won).
    ///
    /// # Errors
    /// Why the set is refused (the old one stays).
    pub fn install(&self, raw: Vec<RawRule>, generation: u64) -> Result<(), String> {
        if generation < self.generation.get() {
            return Ok(());
        }
        let compiled = InterceptRules::compile(&raw)?;
        *self.rules.borrow_mut() = Rc::new(compiled);
        *self.raw.borrow_mut() = Rc::new(raw);
        self.generation.set(generation);
        Ok(())
    }

    /// The generation of the set in force.
    pub fn generation(&self) -> u64 {
        self.generation.get()
    }

    /// The next generation (on the coordinator, shard 0).
    pub fn issue(&self) -> u64 {
        let next = self.issued.get().max(self.generation.get()) + 1;
        self.issued.set(next);
        next
    }
}

/// Per-shard mailbox for the replies to the admin questions this shard asks other shards.
pub type AdminInbox = super::ReplyInbox<Reply>;

/// A question for one shard.
#[derive(Debug, Clone)]
pub enum Op {
    /// Its paused messages.
    List,
    /// A decision on its pause number `n`.
    Decide {
        /// The pause's number on that shard.
        n: u64,
        /// What to do.
        decision: Decision,
    },
    /// Put this (validated) rule set of this generation in force.
    Install(Vec<RawRule>, u64),
    /// (To shard 0, the coordinator.) Give this validated set the next generation and put it
    /// in force on every shard.
    Put(Vec<RawRule>),
}

/// A shard's answer.
#[derive(Debug)]
pub enum Reply {
    /// Its paused messages.
    Listed(Vec<Value>),
    /// The decision was delivered, or why not.
    Decided(Result<(), Refused>),
    /// The rule set was installed, or why not.
    Done(Result<(), String>),
    /// A `Put`: the generation and how many shards took it, or why not.
    Put(Result<(u64, usize), String>),
}

/// What shards send each other for the admin API.
#[derive(Debug)]
pub enum InterceptMsg {
    /// A question from shard `from`.
    Ask {
        /// Who asks.
        from: ShardId,
        /// Its question's number.
        seq: u64,
        /// The question.
        op: Op,
    },
    /// The answer to question `seq`.
    Answer {
        /// The question's number.
        seq: u64,
        /// The answer.
        reply: Reply,
    },
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(tool: &str) -> Vec<RawRule> {
        serde_json::from_value(serde_json::json!([{ "tool": tool, "action": "block" }]))
            .unwrap_or_default()
    }

    /// Two `PUT`s whose installs reach a shard in the wrong order: the newer generation stays.
    #[test]
    fn an_older_generation_never_replaces_a_newer_one() {
        let shard = InterceptShard::new(&[]);
        assert_eq!(shard.generation(), 0);
        let (first, second) = (shard.issue(), shard.issue());
        assert!(second > first);
        shard.install(set("b"), second).unwrap();
        shard.install(set("a"), first).unwrap();
        assert_eq!(shard.generation(), second);
        assert_eq!(shard.raw()[0].tool.as_deref(), Some("b"));
        assert!(shard.issue() > second);
    }
}
