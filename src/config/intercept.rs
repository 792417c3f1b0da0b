//! Interception rules (`[[intercept.rules]]`, and `PUT /api/intercept/rules`): the schema as
//! written ([`RawRule`], the same for TOML and JSON), its validation, and the compiled form the
//! pipeline matches messages against ([`InterceptRules`]: globs checked, regexes and durations
//! compiled once per rule set, on each shard).
//!
//! Not here: matching a message, applying an action (the pipeline's `intercept` stage and the
//! proxy's pause table).
//! The rules are global (one list for every route, first match wins); a rule narrows itself to
//! routes with `route` (a glob on the route's path).

use std::time::Duration;

use serde_json::Value;

pub use super::intercept_raw::{RawCondition, RawIntercept, RawRule};

use super::tools::{check_glob, glob_match};
use super::values::parse_duration;

/// The default `code` of `block` (JSON-RPC's implementation-defined server error).
pub const DEFAULT_BLOCK_CODE: i32 = -32000;
/// The default `message` of `block`.
pub const DEFAULT_BLOCK_MESSAGE: &str = "blocked by shadowcat interception";
/// How long `pause` holds a message when the rule names no `timeout`.
pub const DEFAULT_PAUSE_TIMEOUT: Duration = Duration::from_secs(60);
/// Longest `delay` and pause `timeout` accepted.
const MAX_HOLD: Duration = Duration::from_secs(24 * 3600);
/// Most rules in one set (a bound keeps matching and the admin API's bodies small).
pub const MAX_RULES: usize = 1024;
/// Most `when` conditions in one rule.
pub const MAX_CONDITIONS: usize = 16;
/// Most `regex` conditions in one set: each shard compiles every one, on its own thread.
pub const MAX_REGEXES: usize = 64;
/// Longest regex source accepted.
const MAX_REGEX_BYTES: usize = 1024;
/// Largest compiled program of one regex (the `regex` crate's `size_limit`): bounds the time
/// and memory one pattern takes to compile (`\w{200}`, Unicode classes repeated, is ~12 MB).
pub const MAX_REGEX_PROGRAM: usize = 256 << 10;
/// Largest lazy-DFA cache of one regex, per shard (`dfa_size_limit`).
const MAX_REGEX_CACHE: usize = 256 << 10;

/// Which messages a rule looks at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// Client to server.
    Request,
    /// Server to client (answers, notifications, server requests).
    Response,
    /// Both.
    Both,
}

impl Direction {
    /// Whether a rule of this direction looks at a message going `way`.
    pub fn covers(self, way: Direction) -> bool {
        self == Direction::Both || self == way
    }
}

/// What a matching rule does.
#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    /// Forward the message as it is (and stop looking: first match wins).
    Continue,
    /// Answer with a JSON-RPC error.
    Block {
        /// The error code.
        code: i32,
        /// The error message.
        message: Box<str>,
    },
    /// Answer with this `result` (a request never reaches the upstream).
    Mock(Value),
    /// Apply this merge patch to `params` or `result`.
    Modify(Value),
    /// Hold the message this long, then forward it.
    Delay(Duration),
    /// Hold the message until an operator decides, at most `timeout`.
    Pause {
        /// How long to wait.
        timeout: Duration,
        /// What happens then: [`Action::Continue`] or [`Action::Block`].
        default: Box<Action>,
    },
}

impl Action {
    /// The action's name as written.
    pub fn name(&self) -> &'static str {
        match self {
            Action::Continue => "continue",
            Action::Block { .. } => "block",
            Action::Mock(_) => "mock",
            Action::Modify(_) => "modify",
            Action::Delay(_) => "delay",
            Action::Pause { .. } => "pause",
        }
    }
}

/// One test of a condition.
#[derive(Debug, Clone)]
pub enum Test {
    /// Equal to a JSON value.
    Equals(Value),
    /// A string the regex matches.
    Regex(regex::Regex),
    /// Present (`true`) or absent (`false`).
    Exists(bool),
}

/// A compiled condition.
#[derive(Debug, Clone)]
pub struct Condition {
    /// The pointer.
    pub pointer: Box<str>,
    /// The test.
    pub test: Test,
}

impl Condition {
    /// Whether the condition holds on `message` (the whole message, parsed).
    pub fn holds(&self, message: &Value) -> bool {
        let found = message.pointer(&self.pointer);
        match &self.test {
            Test::Exists(wanted) => found.is_some() == *wanted,
            Test::Equals(value) => found == Some(value),
            Test::Regex(re) => found
                .and_then(Value::as_str)
                .is_some_and(|text| re.is_match(text)),
        }
    }
}

/// A compiled rule.
#[derive(Debug, Clone)]
pub struct Rule {
    /// Its name (`#INDEX` when it has none).
    pub name: Box<str>,
    /// Which messages it looks at.
    pub direction: Direction,
    /// Globs (`None`: any).
    pub method: Option<Box<str>>,
    /// Tool glob.
    pub tool: Option<Box<str>>,
    /// Principal glob.
    pub principal: Option<Box<str>>,
    /// Session glob (or `sha256:` hash glob).
    pub session: Option<Box<str>>,
    /// Route path glob.
    pub route: Option<Box<str>>,
    /// Pointer conditions (need the message parsed).
    pub when: Vec<Condition>,
    /// What it does.
    pub action: Action,
}

/// Whether `glob` (absent: any) matches `value` (absent: matches only `*`-only globs).
pub fn glob_opt(glob: Option<&str>, value: Option<&str>) -> bool {
    match (glob, value) {
        (None, _) => true,
        (Some(glob), Some(value)) => glob_match(glob.as_bytes(), value.as_bytes()),
        (Some(glob), None) => glob.bytes().all(|b| b == b'*'),
    }
}

/// A compiled rule set: what one shard matches messages against.
#[derive(Debug, Clone, Default)]
pub struct InterceptRules {
    /// The rules, in order.
    pub rules: Vec<Rule>,
    /// Some rule looks at requests.
    pub requests: bool,
    /// Some rule looks at server-to-client messages.
    pub responses: bool,
}

impl InterceptRules {
    /// Compiles (and so validates) `raw`.
    ///
    /// # Errors
    /// The first bad rule, as `rules[INDEX].FIELD: why`.
    pub fn compile(raw: &[RawRule]) -> Result<InterceptRules, String> {
        if raw.len() > MAX_RULES {
            return Err(format!("at most {MAX_RULES} rules, got {}", raw.len()));
        }
        let regexes = raw
            .iter()
            .flat_map(|rule| &rule.when)
            .filter(|c| c.regex.is_some())
            .count();
        if regexes > MAX_REGEXES {
            return Err(format!(
                "at most {MAX_REGEXES} regex conditions in a rule set, got {regexes}"
            ));
        }
        let rules = raw
            .iter()
            .enumerate()
            .map(|(index, rule)| compile_rule(index, rule))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(InterceptRules {
            requests: rules.iter().any(|r| r.direction.covers(Direction::Request)),
            responses: rules
                .iter()
                .any(|r| r.direction.covers(Direction::Response)),
            rules,
        })
    }

    /// Whether there is no rule at all.
    pub fn is_empty(&self) -> bool {
        self.rules.is_empty()
    }
}

fn compile_rule(index: usize, raw: &RawRule) -> Result<Rule, String> {
    let at = |field: &str| format!("rules[{index}].{field}");
    let glob = |field: &str, value: &Option<String>| -> Result<Option<Box<str>>, String> {
        match value {
            None => Ok(None),
            Some(text) => check_glob(&at(field), text)
                .map(|()| Some(text.as_str().into()))
                .map_err(|e| e.to_string()),
        }
    };
    let direction = match raw.direction.as_deref().unwrap_or("request") {
        "request" => Direction::Request,
        "response" => Direction::Response,
        "both" => Direction::Both,
        other => {
            return Err(format!(
                "{}: {other:?} is not request, response or both",
                at("direction")
            ))
        }
    };
    if raw.when.len() > MAX_CONDITIONS {
        return Err(format!(
            "{}: at most {MAX_CONDITIONS} conditions, got {}",
            at("when"),
            raw.when.len()
        ));
    }
    let when = raw
        .when
        .iter()
        .enumerate()
        .map(|(i, c)| compile_condition(&at(&format!("when[{i}]")), c))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Rule {
        name: raw
            .name
            .clone()
            .unwrap_or_else(|| format!("#{index}"))
            .into(),
        direction,
        method: glob("method", &raw.method)?,
        tool: glob("tool", &raw.tool)?,
        principal: glob("principal", &raw.principal)?,
        session: glob("session", &raw.session)?,
        route: glob("route", &raw.route)?,
        when,
        action: compile_action(&at, raw, direction)?,
    })
}

fn compile_condition(at: &str, raw: &RawCondition) -> Result<Condition, String> {
    if !(raw.pointer.is_empty() || raw.pointer.starts_with('/')) {
        return Err(format!(
            "{at}.pointer: {:?} is not a JSON pointer (empty, or starting with `/`)",
            raw.pointer
        ));
    }
    let test = match (&raw.equals, &raw.regex, raw.exists) {
        (Some(value), None, None) => Test::Equals(value.clone()),
        (None, Some(source), None) => {
            if source.len() > MAX_REGEX_BYTES {
                return Err(format!("{at}.regex: longer than {MAX_REGEX_BYTES} bytes"));
            }
            let compiled = regex::RegexBuilder::new(source)
                .size_limit(MAX_REGEX_PROGRAM)
                .dfa_size_limit(MAX_REGEX_CACHE)
                .build()
                .map_err(|e| match e {
                    regex::Error::CompiledTooBig(_) => format!(
                        "{at}.regex: compiles to more than {} KiB (a repeated Unicode class such \
                         as \\w{{200}} is large: repeat less, or use ASCII classes: (?-u:\\w))",
                        MAX_REGEX_PROGRAM >> 10
                    ),
                    e => format!("{at}.regex: {e}"),
                })?;
            Test::Regex(compiled)
        }
        (None, None, Some(wanted)) => Test::Exists(wanted),
        _ => {
            return Err(format!(
                "{at}: exactly one of equals, regex or exists is needed"
            ))
        }
    };
    Ok(Condition {
        pointer: raw.pointer.as_str().into(),
        test,
    })
}

fn compile_action(
    at: &dyn Fn(&str) -> String,
    raw: &RawRule,
    direction: Direction,
) -> Result<Action, String> {
    let hold = |field: &str, text: &str| hold(&at(field), text);
    let code = match raw.code {
        None => DEFAULT_BLOCK_CODE,
        Some(code) => i32::try_from(code)
            .map_err(|_| format!("{}: {code} is not a 32-bit integer", at("code")))?,
    };
    let block = || Action::Block {
        code,
        message: raw
            .message
            .as_deref()
            .unwrap_or(DEFAULT_BLOCK_MESSAGE)
            .into(),
    };
    let action = match raw.action.as_str() {
        "continue" => Action::Continue,
        "block" => block(),
        "mock" => Action::Mock(
            raw.result
                .clone()
                .ok_or_else(|| format!("{}: mock needs `result`", at("result")))?,
        ),
        "modify" => modify(at, raw, direction)?,
        "delay" => Action::Delay(hold(
            "delay",
            raw.delay
                .as_deref()
                .ok_or_else(|| format!("{}: delay needs `delay`", at("delay")))?,
        )?),
        "pause" => Action::Pause {
            timeout: match raw.timeout.as_deref() {
                Some(text) => hold("timeout", text)?,
                None => DEFAULT_PAUSE_TIMEOUT,
            },
            default: Box::new(match raw.default.as_deref().unwrap_or("continue") {
                "continue" => Action::Continue,
                "block" => block(),
                other => {
                    return Err(format!(
                        "{}: {other:?} is not continue or block",
                        at("default")
                    ))
                }
            }),
        },
        other => {
            return Err(format!(
                "{}: {other:?} is not continue, block, mock, modify, delay or pause",
                at("action")
            ))
        }
    };
    if !matches!(raw.action.as_str(), "block" | "pause") && raw.code.is_some() {
        return Err(format!("{}: only block and pause take `code`", at("code")));
    }
    Ok(action)
}

/// The requests whose `params.name` / `params.uri` the policy and the tool filters judged.
const NAMED_METHODS: [&str; 3] = ["tools/call", "resources/read", "prompts/get"];

/// Why a patch changing what a request names is refused.
pub const RENAME_REFUSED: &str = "a patch may not set params.name or params.uri (the tool, \
    resource or prompt the policy and tool filters allowed: a change would go unchecked)";

/// Whether a merge patch for `params` sets or removes `name` or `uri`.
pub fn renames_target(patch: &Value) -> bool {
    patch
        .as_object()
        .is_some_and(|members| members.contains_key("name") || members.contains_key("uri"))
}

/// A `modify` rule's action: its patch, an object, that does not rename what a request names.
fn modify(
    at: &dyn Fn(&str) -> String,
    raw: &RawRule,
    direction: Direction,
) -> Result<Action, String> {
    match &raw.patch {
        Some(patch @ Value::Object(_))
            if direction != Direction::Response
                && renames_target(patch)
                && NAMED_METHODS
                    .iter()
                    .any(|m| glob_opt(raw.method.as_deref(), Some(m))) =>
        {
            Err(format!("{}: {RENAME_REFUSED}", at("patch")))
        }
        Some(patch @ Value::Object(_)) => Ok(Action::Modify(patch.clone())),
        _ => Err(format!(
            "{}: modify needs `patch`, a JSON object (RFC 7396 merge patch)",
            at("patch")
        )),
    }
}

/// A `delay` or pause `timeout` (`at` names it in errors).
fn hold(at: &str, text: &str) -> Result<Duration, String> {
    let value = parse_duration(text).map_err(|why| format!("{at}: {why}"))?;
    if value > MAX_HOLD {
        return Err(format!("{at}: at most 24h"));
    }
    Ok(value)
}

#[cfg(test)]
#[path = "intercept_tests.rs"]
mod tests;
