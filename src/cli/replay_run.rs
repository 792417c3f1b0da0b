//! Running `shadowcat replay`: the tape (all its session's parts) is read first (exit 2 when it
//! cannot be), then `--bind`
//! serves it through the proxy (`crate::app`), `--target` replays it against a live server
//! (`crate::replay`).
//!
//! Not here: the flags (`replay.rs`).

use std::process::ExitCode;

use super::replay::{check, ReplayArgs};
use super::replay_bind::bind_config;
use crate::replay::{run_target, Target};
use crate::tape::files::open_session;

/// Exit status of usage, tape and connection errors.
const TROUBLE: u8 = 2;

/// Runs `replay`; `init_logging` sets up logs with a level.
pub fn run(args: &ReplayArgs, init_logging: fn(&str)) -> ExitCode {
    if let Err(usage) = check(args) {
        return trouble(&usage);
    }
    // The session's parts together (`….2.tape.jsonl` after a size rotation).
    let tape = match open_session(&args.tape) {
        Ok(tape) => tape,
        Err(e) => return trouble(&e.to_string()),
    };
    init_logging(args.log_level.as_deref().unwrap_or("warn"));
    if let Some(bind) = args.bind {
        // Only checked here: the server reads it again itself.
        drop(tape);
        let config = match bind_config(args, bind) {
            Ok(config) => config,
            Err(e) => return trouble(&e.to_string()),
        };
        return match crate::app::run_proxy(config) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => trouble(&e.to_string()),
        };
    }
    let target = match (args.target.as_deref(), args.command.as_slice()) {
        (Some(url), []) if !url.is_empty() => Target::Http(url.to_owned()),
        (Some(""), [_, ..]) => Target::Stdio(args.command.clone()),
        _ => {
            return trouble(
                "give --target URL, or --target -- CMD ARGS for a stdio server (not both)",
            )
        }
    };
    match run_target(&tape, &target, &args.ignore) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(e) => trouble(&e),
    }
}

fn trouble(message: &str) -> ExitCode {
    eprintln!("shadowcat replay: {message}");
    ExitCode::from(TROUBLE)
}
