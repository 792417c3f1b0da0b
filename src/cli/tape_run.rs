//! Running `shadowcat tape …`: each command reads through `crate::tape` and prints to stdout;
//! problems go to stderr. Exit status: 0 done, 1 a tape has problems (`verify`), 2 a file
//! cannot be read or is no tape.
//!
//! Not here: the flags (`tape.rs`), what tapes mean (`crate::tape`).

use std::path::Path;
use std::process::ExitCode;
use std::time::{SystemTime, UNIX_EPOCH};

use super::tape::{TapeCommand, TapeDeleteArgs};
use crate::tape::files::{self, Repair};
use crate::tape::summary::{summarize, Summary};
use crate::tape::{export, stats, timeline, Tape, TapeError};

/// Exit status when a file cannot be read or is no tape.
const UNREADABLE: u8 = 2;

/// Runs one tape command.
pub fn run(command: &TapeCommand) -> ExitCode {
    let result = match command {
        TapeCommand::List(args) => list(&args.dir, args.json),
        TapeCommand::Show(args) => show(&args.tape, args.json),
        TapeCommand::Export(args) => open(&args.tape).map(|tape| {
            match args.format.as_str() {
                "har" => println!("{:#}", export::har(&tape)),
                "markdown" => print!("{}", export::markdown(&tape)),
                _ => print!("{}", export::jsonl(&tape)),
            }
            ExitCode::SUCCESS
        }),
        TapeCommand::Stats(args) => open(&args.tape).map(|tape| print_stats(&tape, args.json)),
        TapeCommand::Verify(args) => verify(&args.path),
        TapeCommand::Repair(args) => repair(&args.tape),
        TapeCommand::Delete(args) => delete(args),
    };
    result.unwrap_or_else(|message| {
        eprintln!("shadowcat tape: {message}");
        ExitCode::from(UNREADABLE)
    })
}

type Outcome = Result<ExitCode, String>;

fn open(path: &Path) -> Result<Tape, String> {
    Tape::open(path).map_err(|e| e.to_string())
}

fn list(dir: &Path, json: bool) -> Outcome {
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
            println!("{}", serde_json::to_string(row).map_err(|e| e.to_string())?);
        }
        return Ok(ExitCode::SUCCESS);
    }
    println!(
        "{:<41} {:<27} {:>10} {:>6} {:>9} {:<24} {:<24} STATUS",
        "SESSION", "STARTED", "DURATION", "MSGS", "BYTES", "CLIENT", "SERVER"
    );
    for r in &rows {
        let parts = if r.parts > 1 {
            format!(" ({} parts)", r.parts)
        } else {
            String::new()
        };
        println!(
            "{:<41} {:<27} {:>9.3}s {:>6} {:>9} {:<24} {:<24} {}{parts}",
            r.session,
            r.started,
            r.duration_us as f64 / 1e6,
            r.messages,
            r.bytes,
            r.client.as_deref().unwrap_or("-"),
            r.server.as_deref().unwrap_or("-"),
            r.status,
        );
    }
    Ok(ExitCode::SUCCESS)
}

fn show(path: &Path, json: bool) -> Outcome {
    let tape = open(path)?;
    if !json {
        let facts =
            export::header_facts(&tape.header).map(|(name, value)| format!("{name} {value}"));
        println!("session {} · {}", tape.header.session, facts.join(" · "));
    }
    for event in timeline::events(&tape) {
        if json {
            println!(
                "{}",
                serde_json::to_string(&event).map_err(|e| e.to_string())?
            );
        } else {
            println!("{}", timeline::text_line(&event));
        }
    }
    for problem in &tape.problems {
        eprintln!("shadowcat tape: {}: {problem}", path.display());
    }
    Ok(ExitCode::SUCCESS)
}

fn print_stats(tape: &Tape, json: bool) -> ExitCode {
    let s = stats::stats(tape);
    if json {
        println!("{}", serde_json::to_string_pretty(&s).unwrap_or_default());
        return ExitCode::SUCCESS;
    }
    println!(
        "messages {} (client→server {}, {} bytes; server→client {}, {} bytes), errors {}",
        s.messages, s.c2s, s.c2s_bytes, s.s2c, s.s2c_bytes, s.errors
    );
    println!(
        "{:<36} {:>6} {:>6} {:>10} {:>10} {:>10}",
        "METHOD", "COUNT", "ERRORS", "MIN ms", "P50 ms", "MAX ms"
    );
    let ms = |us: Option<u64>| us.map_or("-".to_owned(), |us| format!("{:.3}", us as f64 / 1000.0));
    for (method, m) in &s.methods {
        println!(
            "{method:<36} {:>6} {:>6} {:>10} {:>10} {:>10}",
            m.count,
            m.errors,
            ms(m.min_us),
            ms(m.p50_us),
            ms(m.max_us)
        );
    }
    ExitCode::SUCCESS
}

fn verify(path: &Path) -> Outcome {
    let tapes = files::find(path).map_err(|e| format!("{}: {e}", path.display()))?;
    if tapes.is_empty() {
        return Err(format!(
            "{}: no *{} file found",
            path.display(),
            files::SUFFIX
        ));
    }
    let mut bad = 0;
    for file in &tapes {
        match Tape::open(file) {
            Ok(tape) if tape.is_sound() => {
                println!("ok {} ({} messages)", file.display(), tape.entries.len());
            }
            Ok(tape) => {
                bad += 1;
                for problem in &tape.problems {
                    println!("PROBLEM {}: {problem}", file.display());
                }
            }
            Err(e) => {
                bad += 1;
                println!("PROBLEM {e}");
            }
        }
    }
    Ok(if bad == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

fn repair(path: &Path) -> Outcome {
    match files::repair(path).map_err(|e| e.to_string())? {
        Repair::Sound => println!("{}: no cut last line, nothing to do", path.display()),
        Repair::Cut { kept, dropped } => println!(
            "{}: dropped the cut last line ({dropped} bytes); the tape now ends at byte {kept}",
            path.display()
        ),
    }
    Ok(ExitCode::SUCCESS)
}

fn delete(args: &TapeDeleteArgs) -> Outcome {
    let path = &args.path;
    let Some(age) = args.older_than else {
        if path.is_dir() {
            return Err(format!("{} is a folder: give a tape file, or --older-than DURATION to delete old sessions under it", path.display()));
        }
        // Refuse to delete what is not a tape.
        Tape::open(path).map_err(|e: TapeError| e.to_string())?;
        std::fs::remove_file(path).map_err(|e| format!("{}: {e}", path.display()))?;
        println!("deleted {}", path.display());
        return Ok(ExitCode::SUCCESS);
    };
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_micros() as u64);
    let cutoff = now.saturating_sub(age.as_micros() as u64);
    let deleted =
        files::delete_older(path, cutoff).map_err(|e| format!("{}: {e}", path.display()))?;
    for file in &deleted {
        println!("deleted {}", file.display());
    }
    println!("{} tape file(s) deleted", deleted.len());
    Ok(ExitCode::SUCCESS)
}
