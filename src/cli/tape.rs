//! `shadowcat tape …`: the clap types of the tape commands (list, show, export, stats, verify,
//! repair, delete).
//!
//! Not here: running them (`tape_run.rs`), the tape readers (`crate::tape`).

use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Subcommand};

use crate::config::parse_duration;

/// `shadowcat tape ...`.
#[derive(Debug, Clone, Subcommand)]
pub enum TapeCommand {
    /// List the sessions recorded under DIR (recursively: the date folders of --record):
    /// session, start, duration, messages, bytes, client and server names, status. A session's
    /// parts (size rotation) show as one row.
    List(TapeListArgs),
    /// Show a tape as a timeline: time since the start, direction (→ client to server, ← server
    /// to client), id, method and tool, and a short summary of results and errors.
    Show(TapeShowArgs),
    /// Export a tape as JSON Lines, a HAR 1.2 log (one entry per request and its answer) or
    /// Markdown, on stdout.
    Export(TapeExportArgs),
    /// Numbers about a tape: messages and bytes each way, requests, errors and answer latency
    /// (min, median, max) per method.
    Stats(TapeFileArgs),
    /// Check tapes: every line parses and the header is valid. Reports a cut last line (what a
    /// crash leaves) with its byte offset and every bad line. Exits 1 when any problem is found.
    Verify(TapeVerifyArgs),
    /// Drop a tape's cut last line (what a crash leaves) by truncating the file after its last
    /// whole line; a last line that is a whole message missing only its newline gets one. Bad
    /// whole lines are left for you to see (`tape verify`). A tape still being written (status
    /// `recording`, changed within the last minute) is refused unless --force.
    Repair(TapeRepairArgs),
    /// Delete one tape, or with --older-than every session under DIR whose last message is
    /// older than DURATION (all its parts; folders under DIR left empty go too, never DIR).
    Delete(TapeDeleteArgs),
}

/// Arguments of `tape list`.
#[derive(Debug, Clone, Args)]
pub struct TapeListArgs {
    /// The recording folder (--record DIR) or any folder under it.
    #[arg(value_name = "DIR")]
    pub dir: PathBuf,
    /// One JSON object per session instead of a table.
    #[arg(long)]
    pub json: bool,
}

/// Arguments of `tape show`.
#[derive(Debug, Clone, Args)]
pub struct TapeShowArgs {
    /// The tape file (`….tape.jsonl`).
    #[arg(value_name = "TAPE")]
    pub tape: PathBuf,
    /// One JSON object per message (t_ms, dir, kind, id, subject, summary) instead of text.
    #[arg(long)]
    pub json: bool,
}

/// Arguments of `tape export`.
#[derive(Debug, Clone, Args)]
pub struct TapeExportArgs {
    /// The tape file.
    #[arg(value_name = "TAPE")]
    pub tape: PathBuf,
    /// jsonl (one {time, t_us, dir, msg} object per message), har (HAR 1.2) or markdown.
    #[arg(long, value_name = "FORMAT", value_parser = ["jsonl", "har", "markdown"])]
    pub format: String,
}

/// Commands taking one tape file.
#[derive(Debug, Clone, Args)]
pub struct TapeFileArgs {
    /// The tape file.
    #[arg(value_name = "TAPE")]
    pub tape: PathBuf,
    /// Machine-readable JSON output.
    #[arg(long)]
    pub json: bool,
}

/// Arguments of `tape repair`.
#[derive(Debug, Clone, Args)]
pub struct TapeRepairArgs {
    /// The tape file.
    #[arg(value_name = "TAPE")]
    pub tape: PathBuf,
    /// Repair a tape whose header says `recording` even when it changed within the last minute
    /// (a proxy may still be writing it: its lines would be lost).
    #[arg(long)]
    pub force: bool,
}

/// Arguments of `tape verify`.
#[derive(Debug, Clone, Args)]
pub struct TapeVerifyArgs {
    /// A tape file, or a folder whose tapes are all checked.
    #[arg(value_name = "TAPE|DIR")]
    pub path: PathBuf,
}

/// Arguments of `tape delete`.
#[derive(Debug, Clone, Args)]
#[command(
    after_help = "Examples:\n  shadowcat tape delete tapes/2026-12-07/20261207T111800.123456Z-0b1f2c3d4e5f6789.tape.jsonl\n  shadowcat tape delete --older-than 7d tapes"
)]
pub struct TapeDeleteArgs {
    /// The tape file to delete, or with --older-than the recording folder.
    #[arg(value_name = "TAPE|DIR")]
    pub path: PathBuf,
    /// Delete the sessions under DIR older than this, e.g. "7d", "12h".
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    pub older_than: Option<Duration>,
}
