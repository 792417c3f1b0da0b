//! Running the demo tools (`echo`, `add`, `slow`) and writing their `tools/call` results.
//!
//! Not here: finding the tool (`catalog.rs`, `dispatch.rs`) or timers (the serving loop honours `SseStep::Delay`).
//! Bad arguments are a tool execution error (`isError: true`, as the 2025-11-25 spec asks, so a model can
//! correct itself), not a JSON-RPC error. Hot path (`echo`): one `Vec` for the reply, sized up front.
//! `slow` allocates one `Vec` per progress message (at most 1000).

use std::fmt;
use std::time::Duration;

use serde_json::Number;

use super::catalog::Tool;
use super::message::{Arguments, Obj, ProgressToken, RequestId, Scalar};
use super::reply::Outcome;
use super::reply::{begin_result, end_result, progress_message, JsonWriter};
use super::SseStep;

/// `slow`'s `steps`: at most 1000, which bounds the reply to about 2000 steps.
const STEPS: IntegerArgument = IntegerArgument {
    default: 5,
    range: 1..=1000,
    if_bad: BadArgument {
        argument: "steps",
        expected: "an integer from 1 to 1000",
    },
};

/// `slow`'s `delay_ms`: the pause before each step, at most 10 s.
const DELAY_MS: IntegerArgument = IntegerArgument {
    default: 100,
    range: 0..=10_000,
    if_bad: BadArgument {
        argument: "delay_ms",
        expected: "an integer from 0 to 10000",
    },
};

/// An optional integer argument: its default, its allowed range, and the complaint when it is outside.
#[derive(Debug, Clone)]
struct IntegerArgument {
    default: u32,
    range: std::ops::RangeInclusive<u32>,
    if_bad: BadArgument,
}

impl IntegerArgument {
    /// The value within range, or the default when absent (serde reads `null` as absent).
    fn read(&self, value: Option<&Scalar<'_>>) -> Result<u32, BadArgument> {
        match value {
            None => Ok(self.default),
            Some(Scalar::Num(number)) => number
                .as_u64()
                .and_then(|value| u32::try_from(value).ok())
                .filter(|value| self.range.contains(value))
                .ok_or(self.if_bad),
            Some(_) => Err(self.if_bad),
        }
    }
}

/// Why a tool refused its arguments; becomes the text of an `isError` result.
#[derive(Debug, Clone, Copy)]
struct BadArgument {
    /// The argument at fault (or `arguments` itself).
    argument: &'static str,
    /// What it should have been.
    expected: &'static str,
}

impl fmt::Display for BadArgument {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(formatter, "{} must be {}", self.argument, self.expected)
    }
}

/// Runs `tool`. Never fails at the JSON-RPC level: argument problems become an `isError` result.
pub(super) fn call(
    id: &RequestId<'_>,
    tool: Tool,
    arguments: Option<Obj<Arguments<'_>>>,
    progress_token: Option<ProgressToken<'_>>,
) -> Outcome {
    let arguments = match arguments {
        None => Arguments::default(),
        Some(Obj::Object(arguments)) => arguments,
        Some(Obj::NotObject) => {
            return Outcome::Reply(tool_error(
                id,
                tool,
                BadArgument {
                    argument: "arguments",
                    expected: "an object",
                },
            ))
        }
    };
    let outcome = match tool {
        Tool::Echo => echo(id, &arguments).map(Outcome::Reply),
        Tool::Add => add(id, &arguments).map(Outcome::Reply),
        Tool::Slow => slow(id, &arguments, progress_token.as_ref()).map(Outcome::Stream),
    };
    outcome.unwrap_or_else(|problem| Outcome::Reply(tool_error(id, tool, problem)))
}

/// `echo {message}` → one text block holding `message`.
fn echo(id: &RequestId<'_>, arguments: &Arguments<'_>) -> Result<Vec<u8>, BadArgument> {
    let message = arguments
        .message
        .as_ref()
        .and_then(Scalar::as_str)
        .ok_or(BadArgument {
            argument: "message",
            expected: "a string",
        })?;
    Ok(text_result(id, message.len(), |out| {
        out.string(message);
    }))
}

/// `add {a, b}` → the sum as structured content, repeated as JSON text (spec 2025-06-18: SHOULD).
fn add(id: &RequestId<'_>, arguments: &Arguments<'_>) -> Result<Vec<u8>, BadArgument> {
    let a = number_argument(arguments.a.as_ref(), "a")?;
    let b = number_argument(arguments.b.as_ref(), "b")?;
    let sum = Sum::of(a, b).ok_or(BadArgument {
        argument: "a + b",
        expected: "a finite number",
    })?;
    let mut out = begin_result(id, 96);
    out.raw(r#"{"content":[{"type":"text","text":"{\"sum\":"#)
        .display(sum)
        .raw(r#"}"}],"structuredContent":{"sum":"#)
        .display(sum)
        .raw("}}");
    Ok(end_result(out))
}

fn number_argument<'n>(
    value: Option<&'n Scalar<'_>>,
    argument: &'static str,
) -> Result<&'n Number, BadArgument> {
    match value {
        Some(Scalar::Num(number)) => Ok(number),
        _ => Err(BadArgument {
            argument,
            expected: "a number",
        }),
    }
}

/// A sum that stays exact for integers (i128 holds any sum of two u64/i64) and is finite for floats.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Sum {
    Integer(i128),
    Float(f64),
}

impl Sum {
    fn of(a: &Number, b: &Number) -> Option<Self> {
        match (integer(a), integer(b)) {
            (Some(a), Some(b)) => Some(Self::Integer(a + b)),
            _ => {
                let sum = a.as_f64()? + b.as_f64()?;
                sum.is_finite().then_some(Self::Float(sum))
            }
        }
    }
}

fn integer(number: &Number) -> Option<i128> {
    number
        .as_i64()
        .map(i128::from)
        .or_else(|| number.as_u64().map(i128::from))
}

impl fmt::Display for Sum {
    /// JSON number text: floats go through `serde_json::Number` so the text always reads back as a number.
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Integer(value) => write!(formatter, "{value}"),
            Self::Float(value) => match Number::from_f64(*value) {
                Some(number) => write!(formatter, "{number}"),
                None => formatter.write_str("null"),
            },
        }
    }
}

/// `slow {steps, delay_ms}` → for each step a pause then (with a progress token) a progress notification,
/// then the result.
fn slow(
    id: &RequestId<'_>,
    arguments: &Arguments<'_>,
    progress_token: Option<&ProgressToken<'_>>,
) -> Result<Vec<SseStep>, BadArgument> {
    let steps = STEPS.read(arguments.steps.as_ref())?;
    let delay_ms = DELAY_MS.read(arguments.delay_ms.as_ref())?;
    let delay = Duration::from_millis(u64::from(delay_ms));
    let mut script = Vec::with_capacity(2 * steps as usize + 1);
    match progress_token {
        Some(token) => {
            for step in 1..=steps {
                if !delay.is_zero() {
                    script.push(SseStep::Delay(delay));
                }
                script.push(SseStep::Message(progress_message(token, step, steps)));
            }
        }
        None if !delay.is_zero() => script.push(SseStep::Delay(delay * steps)),
        None => {}
    }
    script.push(SseStep::Message(text_result(id, 32, |out| {
        out.raw("\"Finished ").display(steps).raw(" steps\"");
    })));
    Ok(script)
}

/// `{"content":[{"type":"text","text":<write_text>}]}`; `write_text` writes one JSON string.
fn text_result(
    id: &RequestId<'_>,
    text_bytes: usize,
    write_text: impl FnOnce(&mut JsonWriter),
) -> Vec<u8> {
    let mut out = begin_result(id, text_bytes + 48);
    out.raw(r#"{"content":[{"type":"text","text":"#);
    write_text(&mut out);
    out.raw("}]}");
    end_result(out)
}

/// An `isError` result naming the tool and the argument problem.
fn tool_error(id: &RequestId<'_>, tool: Tool, problem: BadArgument) -> Vec<u8> {
    let mut out = begin_result(id, 128);
    out.raw(r#"{"content":[{"type":"text","text":"Invalid arguments for tool "#)
        .display_in_string(tool.name())
        .raw(": ")
        .display_in_string(problem)
        .raw(r#""}],"isError":true}"#);
    end_result(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn num(text: &str) -> Number {
        serde_json::from_str(text).unwrap()
    }

    #[test]
    fn sums_stay_exact_or_refuse_overflow() {
        assert_eq!(Sum::of(&num("1"), &num("2")), Some(Sum::Integer(3)));
        assert_eq!(Sum::of(&num("-5"), &num("2")), Some(Sum::Integer(-3)));
        let big = u64::MAX.to_string();
        assert_eq!(
            Sum::of(&num(&big), &num(&big)),
            Some(Sum::Integer(2 * i128::from(u64::MAX)))
        );
        assert_eq!(Sum::of(&num("0.5"), &num("1")), Some(Sum::Float(1.5)));
        assert_eq!(Sum::of(&num("1e308"), &num("1e308")), None);
        assert_eq!(Sum::Float(1.5).to_string(), "1.5");
        assert_eq!(Sum::Float(3.0).to_string(), "3.0");
    }

    #[test]
    fn integer_arguments_default_and_bound() {
        let read = |value: Option<Scalar<'_>>| STEPS.read(value.as_ref()).ok();
        assert_eq!(read(None), Some(5));
        assert_eq!(read(Some(Scalar::Num(num("1000")))), Some(1000));
        assert_eq!(read(Some(Scalar::Num(num("1001")))), None);
        assert_eq!(read(Some(Scalar::Num(num("0")))), None);
        assert_eq!(read(Some(Scalar::Num(num("-1")))), None);
        assert_eq!(read(Some(Scalar::Num(num("2.5")))), None);
        assert_eq!(read(Some(Scalar::Num(num("4294967296")))), None);
        assert_eq!(read(Some(Scalar::Str("3".into()))), None);
        assert_eq!(DELAY_MS.read(Some(&Scalar::Num(num("0")))).ok(), Some(0));
    }
}
