//! Running `shadowcat tape …`: each command reads through `crate::tape` and prints to stdout;
//! problems go to stderr. Exit status: 0 done, 1 a tape has problems (`verify`), 2 a file
//! cannot be read or is no tape.
//!
//! Not here: the flags (`tape.rs`), what tapes mean (`crate::tape`).

use std::io::{ErrorKind, Write};
use std::path::Path;
use std::process::ExitCode;
use std::time::{SystemTime, UNIX_EPOCH};

use super::tape::{TapeCommand, TapeDeleteArgs};
use crate::tape::files;
use crate::tape::pairs::printable;
use crate::tape::repair::Repair;
use crate::tape::summary::{summarize, Summary};
use crate::tape::{export, stats, timeline, Tape, TapeError};

/// Exit status when a file cannot be read or is no tape.
const UNREADABLE: u8 = 2;

/// Why a command stopped.
enum Failure {
    /// A file that cannot be read, is no tape, or cannot be changed.
    Message(String),
    /// Writing the output failed (a closed pipe is a normal end: `| head -1`).
    Output(std::io::Error),
}

impl From<String> for Failure {
    fn from(message: String) -> Failure {
        Failure::Message(message)
    }
}

impl From<std::io::Error> for Failure {
    fn from(error: std::io::Error) -> Failure {
        Failure::Output(error)
    }
}

/// Runs one tape command, writing through one locked stdout.
pub fn run(command: &TapeCommand) -> ExitCode {
    let mut out = std::io::stdout().lock();
    let out: &mut dyn Write = &mut out;
    let result = match command {
        TapeCommand::List(args) => list(out, &args.dir, args.json),
        TapeCommand::Show(args) => show(out, &args.tape, args.json),
        TapeCommand::Export(args) => export(out, &args.tape, &args.format),
        TapeCommand::Stats(args) => open(&args.tape).and_then(|t| print_stats(out, &t, args.json)),
        TapeCommand::Verify(args) => verify(out, &args.path),
        TapeCommand::Repair(args) => repair(out, &args.tape, args.force),
        TapeCommand::Delete(args) => delete(out, args),
    };
    let result = result.and_then(|code| out.flush().map(|()| code).map_err(Failure::from));
    match result {
        Ok(code) => code,
        Err(Failure::Output(e)) if e.kind() == ErrorKind::BrokenPipe => ExitCode::SUCCESS,
        Err(Failure::Output(e)) => {
            eprintln!("shadowcat tape: writing the output: {e}");
            ExitCode::from(UNREADABLE)
        }
        Err(Failure::Message(message)) => {
            eprintln!("shadowcat tape: {message}");
            ExitCode::from(UNREADABLE)
        }
    }
}

type Outcome = Result<ExitCode, Failure>;

fn open(path: &Path) -> Result<Tape, Failure> {
    Tape::open(path).map_err(|e| Failure::Message(e.to_string()))
}

fn export(out: &mut dyn Write, path: &Path, format: &str) -> Outcome {
    let tape = open(path)?;
    match format {
        "har" => writeln!(out, "{:#}", export::har(&tape))?,
        "markdown" => write!(out, "{}", export::markdown(&tape))?,
        _ => write!(out, "{}", export::jsonl(&tape))?,
    }
    Ok(ExitCode::SUCCESS)
}

fn list(out: &mut dyn Write, dir: &Path, json: bool) -> Outcome {
    let (sessions, errors) = files::sessions(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    for error in &errors {
        eprintln!("shadowcat tape: skipped {error}");
    }
    let rows: Vec<Summary> = sessions
        .iter()
        .filter_map(|parts| summarize(parts))
        .collect();
    if json {
        for row in &rows {
            writeln!(
                out,
                "{}",
                serde_json::to_string(row).map_err(|e| e.to_string())?
            )?;
        }
        return Ok(ExitCode::SUCCESS);
    }
    writeln!(
        out,
        "{:<41} {:<27} {:>10} {:>6} {:>9} {:<24} {:<24} STATUS",
        "SESSION", "STARTED", "DURATION", "MSGS", "BYTES", "CLIENT", "SERVER"
    )?;
    for r in &rows {
        let parts = if r.parts > 1 {
            format!(" ({} parts)", r.parts)
        } else {
            String::new()
        };
        writeln!(
            out,
            "{:<41} {:<27} {:>9.3}s {:>6} {:>9} {:<24} {:<24} {}{parts}",
            printable(&r.session),
            printable(&r.started),
            r.duration_us as f64 / 1e6,
            r.messages,
            r.bytes,
            r.client.as_deref().unwrap_or("-"),
            r.server.as_deref().unwrap_or("-"),
            r.status,
        )?;
    }
    Ok(ExitCode::SUCCESS)
}

fn show(out: &mut dyn Write, path: &Path, json: bool) -> Outcome {
    let tape = open(path)?;
    if !json {
        let facts =
            export::header_facts(&tape.header).map(|(name, value)| format!("{name} {value}"));
        let facts = printable(&facts.join(" · "));
        writeln!(out, "session {} · {facts}", printable(&tape.header.session))?;
    }
    for event in timeline::events(&tape) {
        if json {
            writeln!(
                out,
                "{}",
                serde_json::to_string(&event).map_err(|e| e.to_string())?
            )?;
        } else {
            writeln!(out, "{}", timeline::text_line(&event))?;
        }
    }
    for problem in &tape.problems {
        eprintln!("shadowcat tape: {}: {problem}", path.display());
    }
    Ok(ExitCode::SUCCESS)
}

fn print_stats(out: &mut dyn Write, tape: &Tape, json: bool) -> Outcome {
    let s = stats::stats(tape);
    if json {
        writeln!(
            out,
            "{}",
            serde_json::to_string_pretty(&s).unwrap_or_default()
        )?;
        return Ok(ExitCode::SUCCESS);
    }
    writeln!(
        out,
        "messages {} (client→server {}, {} bytes; server→client {}, {} bytes), errors {}",
        s.messages, s.c2s, s.c2s_bytes, s.s2c, s.s2c_bytes, s.errors
    )?;
    writeln!(
        out,
        "{:<36} {:>6} {:>6} {:>10} {:>10} {:>10}",
        "METHOD", "COUNT", "ERRORS", "MIN ms", "P50 ms", "MAX ms"
    )?;
    let ms = |us: Option<u64>| us.map_or("-".to_owned(), |us| format!("{:.3}", us as f64 / 1000.0));
    for (method, m) in &s.methods {
        writeln!(
            out,
            "{method:<36} {:>6} {:>6} {:>10} {:>10} {:>10}",
            m.count,
            m.errors,
            ms(m.min_us),
            ms(m.p50_us),
            ms(m.max_us)
        )?;
    }
    Ok(ExitCode::SUCCESS)
}

fn verify(out: &mut dyn Write, path: &Path) -> Outcome {
    let tapes = files::find(path).map_err(|e| format!("{}: {e}", path.display()))?;
    if tapes.is_empty() {
        return Err(format!("{}: no *{} file found", path.display(), files::SUFFIX).into());
    }
    let mut bad = 0;
    for file in &tapes {
        match Tape::open(file) {
            Ok(tape) if tape.is_sound() => {
                writeln!(
                    out,
                    "ok {} ({} messages)",
                    file.display(),
                    tape.entries.len()
                )?;
            }
            Ok(tape) => {
                bad += 1;
                for problem in &tape.problems {
                    writeln!(out, "PROBLEM {}: {problem}", file.display())?;
                }
            }
            Err(e) => {
                bad += 1;
                writeln!(out, "PROBLEM {e}")?;
            }
        }
    }
    Ok(if bad == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

fn repair(out: &mut dyn Write, path: &Path, force: bool) -> Outcome {
    let done = crate::tape::repair::repair(path, force).map_err(|e| e.to_string())?;
    match done {
        Repair::Sound => writeln!(out, "{}: no cut last line, nothing to do", path.display())?,
        Repair::Cut { kept, dropped } => writeln!(
            out,
            "{}: dropped the cut last line ({dropped} bytes); the tape now ends at byte {kept}",
            path.display()
        )?,
        Repair::Finished { len } => writeln!(
            out,
            "{}: the last line was whole but for its newline: appended one; the tape now ends at byte {len}",
            path.display()
        )?,
    }
    Ok(ExitCode::SUCCESS)
}

fn delete(out: &mut dyn Write, args: &TapeDeleteArgs) -> Outcome {
    let path = &args.path;
    let Some(age) = args.older_than else {
        if path.is_dir() {
            return Err(format!("{} is a folder: give a tape file, or --older-than DURATION to delete old sessions under it", path.display()).into());
        }
        // Refuse to delete what is not a tape.
        Tape::open(path).map_err(|e: TapeError| e.to_string())?;
        std::fs::remove_file(path).map_err(|e| format!("{}: {e}", path.display()))?;
        writeln!(out, "deleted {}", path.display())?;
        return Ok(ExitCode::SUCCESS);
    };
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_micros() as u64);
    let cutoff = now.saturating_sub(age.as_micros() as u64);
    let mut count = 0;
    let mut said: std::io::Result<()> = Ok(());
    let walked = files::delete_older(path, cutoff, &mut |file| {
        count += 1;
        if said.is_ok() {
            said = writeln!(out, "deleted {}", file.display());
        }
    });
    said?;
    walked.map_err(|e| {
        format!(
            "{}: {e} (after {count} tape file(s) deleted)",
            path.display()
        )
    })?;
    writeln!(out, "{count} tape file(s) deleted")?;
    Ok(ExitCode::SUCCESS)
}
