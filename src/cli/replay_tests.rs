//! Tests for `replay` and `tape` on the command line: modes, the trailing stdio command,
//! `--speed`, and the `--bind` config (one shard, the tape in place of the demo tools).

use clap::Parser;

use super::*;
use crate::cli::replay_bind::bind_config;
use crate::cli::{Cli, CliCommand};

fn replay(args: &[&str]) -> Result<ReplayArgs, clap::Error> {
    let mut argv = vec!["shadowcat", "replay"];
    argv.extend_from_slice(args);
    match Cli::try_parse_from(argv)?.command {
        CliCommand::Replay(args) => Ok(args),
        other => panic!("parsed as {other:?}"),
    }
}

#[test]
fn target_takes_a_url_or_a_trailing_command() {
    let http = replay(&[
        "t.tape.jsonl",
        "--target",
        "http://127.0.0.1:9/mcp",
        "--ignore",
        "/a",
    ])
    .unwrap();
    assert_eq!(http.target.as_deref(), Some("http://127.0.0.1:9/mcp"));
    assert_eq!(http.ignore, ["/a"]);
    let stdio = replay(&["t.tape.jsonl", "--target", "--", "python", "server.py"]).unwrap();
    assert_eq!(stdio.target.as_deref(), Some(""));
    assert_eq!(stdio.command, ["python", "server.py"]);
}

#[test]
fn one_mode_is_required_and_mode_flags_need_it() {
    assert!(replay(&["t.tape.jsonl"]).is_err());
    assert!(replay(&[
        "t.tape.jsonl",
        "--bind",
        "127.0.0.1:0",
        "--target",
        "http://x/"
    ])
    .is_err());
    let checked = |args: &[&str]| check(&replay(args).unwrap());
    assert!(checked(&["t.tape.jsonl", "--bind", "127.0.0.1:0", "--ignore", "/a"]).is_err());
    assert!(checked(&["t.tape.jsonl", "--target", "http://x/", "--speed", "2"]).is_err());
    assert!(checked(&["t.tape.jsonl", "--target", "http://x/", "--ignore", "/a"]).is_ok());
    assert!(checked(&["t.tape.jsonl", "--bind", "127.0.0.1:0", "--speed", "0"]).is_ok());
    assert!(replay(&["t.tape.jsonl", "--bind", "127.0.0.1:0", "--speed", "-1"]).is_err());
    // Below a millionth the pauses would round to none: refused.
    assert!(replay(&[
        "t.tape.jsonl",
        "--bind",
        "127.0.0.1:0",
        "--speed",
        "0.0000004"
    ])
    .is_err());
    assert!(replay(&[
        "t.tape.jsonl",
        "--bind",
        "127.0.0.1:0",
        "--speed",
        "0.000001"
    ])
    .is_ok());
}

#[test]
fn bind_serves_the_tape_on_one_shard_with_both_transports() {
    let args = replay(&["t.tape.jsonl", "--bind", "127.0.0.1:0", "--speed", "2.5"]).unwrap();
    let config = bind_config(&args, "127.0.0.1:0".parse().unwrap()).unwrap();
    let demo = config.demo.as_ref().unwrap();
    let source = demo.replay.as_ref().unwrap();
    assert_eq!(source.speed_millionths, 2_500_000);
    assert_eq!(source.tape, std::path::Path::new("t.tape.jsonl"));
    assert!(matches!(config.runtime.cores, crate::config::CoreSelection::Count(n) if n.get() == 1));
    let route = &config.listeners[0].routes[0];
    assert!(route.legacy_sse.is_some());
}

#[test]
fn tape_subcommands_parse() {
    for argv in [
        &["shadowcat", "tape", "list", "dir"][..],
        &["shadowcat", "tape", "show", "t", "--json"],
        &["shadowcat", "tape", "export", "t", "--format", "har"],
        &["shadowcat", "tape", "stats", "t"],
        &["shadowcat", "tape", "verify", "dir"],
        &["shadowcat", "tape", "repair", "t"],
        &["shadowcat", "tape", "delete", "--older-than", "7d", "dir"],
    ] {
        assert!(
            matches!(
                Cli::try_parse_from(argv).map(|c| c.command),
                Ok(CliCommand::Tape(_))
            ),
            "{argv:?}"
        );
    }
    assert!(Cli::try_parse_from(["shadowcat", "tape", "export", "t", "--format", "pdf"]).is_err());
}
