//! `shadowcat replay TAPE`: the clap types and which flags go with which mode.
//!
//! Not here: the config of `--bind` (`replay_bind.rs`), serving a tape (`crate::demo`'s tape
//! backend), `--target` (`crate::replay`).

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{ArgGroup, Args};

use crate::config::defaults::MCP_PATH;
use crate::config::parse_log_level;

/// Arguments of `replay`.
#[derive(Debug, Clone, Args)]
#[command(
    group(ArgGroup::new("replay_mode").required(true).args(["bind", "target"])),
    after_help = "Examples:\n  \
        shadowcat replay session.tape.jsonl --bind 127.0.0.1:8080          # serve the tape\n  \
        shadowcat replay session.tape.jsonl --bind 127.0.0.1:8080 --speed 0\n  \
        shadowcat replay session.tape.jsonl --target http://127.0.0.1:9000/mcp --ignore /result/content/0/text\n  \
        shadowcat replay session.tape.jsonl --target -- python server.py   # a stdio server\n\n\
        --target exits 0 when every answer equals the recorded one, 1 on a difference, 2 when \
        the tape cannot be read or the server not reached."
)]
pub struct ReplayArgs {
    /// The tape to play (`….tape.jsonl`).
    #[arg(value_name = "TAPE")]
    pub tape: PathBuf,
    /// Serve the tape as an MCP server on this address: Streamable HTTP on --path, legacy
    /// HTTP+SSE on /sse and /messages. Requests are matched to recorded ones by method and
    /// params (keys sorted, `_meta` ignored; `initialize` by method), then in order; the recorded
    /// answers come back with the client's ids.
    #[arg(long, value_name = "ADDR")]
    pub bind: Option<SocketAddr>,
    /// With --bind: the MCP endpoint path.
    #[arg(long, value_name = "PATH", default_value = MCP_PATH)]
    pub path: String,
    /// With --bind: play recorded notifications this many times faster (0.5 is half speed,
    /// at least 0.000001; 0 sends them without pauses) [default: 1].
    #[arg(long, value_name = "X", value_parser = parse_speed)]
    pub speed: Option<f64>,
    /// Re-send the client side of the tape to this live Streamable HTTP server (http://) and
    /// print every answer that differs from the recorded one; `--target -- CMD ARGS` runs a
    /// stdio server instead.
    #[arg(long, value_name = "URL", num_args = 0..=1, default_missing_value = "")]
    pub target: Option<String>,
    /// With --target: leave this JSON pointer of every answer out of the comparison, e.g.
    /// /result/content/0/text (repeatable).
    #[arg(long = "ignore", value_name = "JSON_POINTER")]
    pub ignore: Vec<String>,
    /// Log level (error, warn, info, debug, trace, off) [default: warn].
    #[arg(long, value_name = "FILTER", value_parser = parse_log_level)]
    pub log_level: Option<String>,
    /// With `--target --`: the stdio server's program and arguments.
    #[arg(last = true, value_name = "CMD")]
    pub command: Vec<String>,
}

/// The flags of one mode given with the other (clap's `requires` does not see through the mode
/// group).
///
/// # Errors
/// The flag at fault and its mode.
pub(super) fn check(args: &ReplayArgs) -> Result<(), String> {
    if args.bind.is_some() && !args.ignore.is_empty() {
        return Err("--ignore goes with --target, not --bind".into());
    }
    if args.target.is_some() && (args.speed.is_some() || args.path != MCP_PATH) {
        return Err("--speed and --path go with --bind, not --target".into());
    }
    if args.bind.is_some() && !args.command.is_empty() {
        return Err("a command after -- goes with --target, not --bind".into());
    }
    Ok(())
}

fn parse_speed(text: &str) -> Result<f64, String> {
    match text.parse::<f64>() {
        // Below a millionth, pauses would round to none at all.
        Ok(x) if x.is_finite() && (x == 0.0 || (0.000_001..=1_000_000.0).contains(&x)) => Ok(x),
        _ => Err("0, or a number from 0.000001 to 1000000, e.g. 1, 10 or 0.5".into()),
    }
}

#[cfg(test)]
#[path = "replay_tests.rs"]
mod tests;
