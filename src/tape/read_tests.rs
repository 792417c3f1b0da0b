//! Tests of reading a tape whole: sound tapes, cut last lines, bad lines (times past the year
//! 9999 included).

use std::path::Path;

use super::*;
use crate::tape::fixture;

#[test]
fn a_whole_tape_reads_without_problems() {
    let text = fixture::session(1_000_000);
    let tape = Tape::parse(Path::new("t"), text.as_bytes()).unwrap();
    assert_eq!(tape.entries.len(), 10);
    assert!(tape.is_sound());
    assert!(tape.entries[0].is_request());
    assert!(tape.entries[1].is_answer());
    assert_eq!(tape.ended_us(), 1_012_000);
}

#[test]
fn a_cut_last_line_is_reported_with_its_offset() {
    let text = fixture::session(1);
    let whole = text.len() as u64;
    let cut = format!("{text}{{\"t_us\":5,\"dir\":\"c2s\",\"msg\":{{\"js");
    let tape = Tape::parse(Path::new("t"), cut.as_bytes()).unwrap();
    assert_eq!(tape.entries.len(), 10);
    assert_eq!(
        tape.problems,
        vec![Problem::CutLine {
            offset: whole,
            len: 32
        }]
    );
}

#[test]
fn a_bad_line_is_reported_and_the_rest_read() {
    let text = fixture::session(1).replacen("\"dir\":\"s2c\"", "\"dir\":\"sideways\"", 1);
    let tape = Tape::parse(Path::new("t"), text.as_bytes()).unwrap();
    assert_eq!(tape.entries.len(), 9);
    assert!(matches!(
        tape.problems[0],
        Problem::BadLine { line_no: 3, .. }
    ));
}

#[test]
fn a_file_without_a_header_is_no_tape() {
    for text in [
        "",
        "{\"a\":1}\n",
        "not json\n",
        "{\"shadowcat_tape\":2}\n",
        "{\"shadowcat_tape\":1",
    ] {
        let error = Tape::parse(Path::new("t"), text.as_bytes()).unwrap_err();
        assert!(
            matches!(error, TapeError::NotATape { .. }),
            "{text}: {error}"
        );
    }
}

#[test]
fn a_time_after_the_year_9999_is_a_bad_line_and_export_does_not_panic() {
    let text = format!(
        "{}{}\n",
        fixture::session(1),
        fixture::line(u64::MAX, "c2s", r#"{"jsonrpc":"2.0","method":"x"}"#)
    );
    let tape = Tape::parse(Path::new("t"), text.as_bytes()).unwrap();
    assert_eq!(tape.entries.len(), 10);
    assert!(matches!(
        tape.problems[..],
        [Problem::BadLine { line_no: 12, .. }]
    ));
    assert!(!crate::tape::export::jsonl(&tape).is_empty());
    assert!(crate::tape::export::rfc3339(u64::MAX).starts_with("9999-12-31T23:59:59"));
    let late = fixture::header("sha256:00", MAX_T_US + 1, 1);
    assert!(Tape::parse(Path::new("t"), format!("{late}\n").as_bytes()).is_err());
}
