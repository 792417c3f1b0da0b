//! Tests of `tape repair`: a cut line dropped, a line missing only its newline finished, a
//! live tape refused unless forced.

use super::*;
use crate::tape::fixture;

fn scratch(name: &str, text: &str) -> std::path::PathBuf {
    let path = std::env::temp_dir().join(format!(
        "shadowcat-repair-{name}-{}.tape.jsonl",
        std::process::id()
    ));
    std::fs::write(&path, text).unwrap();
    path
}

#[test]
fn repair_cuts_only_the_last_line() {
    let whole = fixture::session(1);
    let path = scratch("cut", &format!("{whole}{{\"t_us\":1,"));
    assert_eq!(
        repair(&path, false).unwrap(),
        Repair::Cut {
            kept: whole.len() as u64,
            dropped: 10
        }
    );
    assert_eq!(std::fs::read_to_string(&path).unwrap(), whole);
    assert_eq!(repair(&path, false).unwrap(), Repair::Sound);
    let _ = std::fs::remove_file(&path);
}

#[test]
fn a_whole_last_line_missing_its_newline_gets_one() {
    let whole = fixture::session(1);
    let last = fixture::line(5, "c2s", r#"{"jsonrpc":"2.0","method":"x"}"#);
    let path = scratch("finish", &format!("{whole}{last}"));
    let len = (whole.len() + last.len() + 1) as u64;
    assert_eq!(repair(&path, false).unwrap(), Repair::Finished { len });
    assert_eq!(
        std::fs::read_to_string(&path).unwrap(),
        format!("{whole}{last}\n")
    );
    let _ = std::fs::remove_file(&path);
}

#[test]
fn a_live_recording_tape_is_refused_unless_forced() {
    let text = fixture::session(1).replacen("\"complete\"", "\"recording\"", 1);
    let path = scratch("live", &format!("{text}{{\"t_us\":1,"));
    assert!(matches!(repair(&path, false), Err(TapeError::Busy { .. })));
    assert_eq!(
        std::fs::read_to_string(&path).unwrap().len(),
        text.len() + 10
    );
    assert!(matches!(repair(&path, true), Ok(Repair::Cut { .. })));
    let _ = std::fs::remove_file(&path);
}
