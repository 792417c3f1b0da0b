//! The recorder and its writer on a real glommio executor and real files: header and lines,
//! the status rewritten in place, rotation into parts, dropped lines, a write error.

use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::config::{Fsync, RecordingConfig};
use crate::session::SessionId;
use crate::tape::format::{Direction, Header, Line, Status};

use super::{Http, Recorder, TapeInfo, Writer};

fn run<T>(fut: impl std::future::Future<Output = T>) -> T {
    crate::upstream::test_support::run(fut)
}

/// A directory of its own, removed on drop.
pub(super) struct TempDir(PathBuf);

impl TempDir {
    pub(super) fn new(name: &str) -> TempDir {
        let dir = std::env::temp_dir().join(format!("shadowcat-rec-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        TempDir(dir)
    }

    pub(super) fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn config(dir: &Path) -> RecordingConfig {
    RecordingConfig {
        dir: dir.to_path_buf(),
        redact: vec!["/params/arguments/password".into()],
        fsync: Fsync::Interval,
        flush_interval: Duration::from_millis(10),
        max_size: 0,
        keep: 0,
        max_age: None,
    }
}

fn info() -> TapeInfo {
    TapeInfo {
        session: String::new(),
        route: "/mcp".into(),
        upstream: "main".into(),
        transport: "streamable_http",
        protocol_version: Some("2025-06-18".into()),
    }
}

fn session(n: u8) -> SessionId {
    SessionId::parse(format!("{:032x}", n).as_bytes()).unwrap()
}

/// Every tape file under `dir`, sorted, as (header, lines).
fn tapes(dir: &Path) -> Vec<(PathBuf, Header, Vec<Line>)> {
    let mut out = Vec::new();
    for day in std::fs::read_dir(dir).unwrap().flatten() {
        for file in std::fs::read_dir(day.path()).unwrap().flatten() {
            let text = std::fs::read_to_string(file.path()).unwrap();
            assert!(text.ends_with('\n'));
            let mut lines = text.lines();
            let header: Header = serde_json::from_str(lines.next().unwrap()).unwrap();
            let lines = lines.map(|l| serde_json::from_str(l).unwrap()).collect();
            out.push((file.path(), header, lines));
        }
    }
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out
}

const CALL: &[u8] =
    br#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"x","arguments":{"password":"pw","a":1}}}"#;

#[test]
fn writes_a_session_then_marks_it_complete() {
    let dir = TempDir::new("session");
    run(async {
        let rec = Recorder::new(&config(&dir.0), 3);
        let mut writer = Writer::default();
        // An initialize before its session exists: not written until bound.
        let tape = rec.unbound(info());
        rec.record(tape, Direction::ClientToServer, b"{\"id\":0}", true, None);
        assert_eq!(writer.flush(&rec).await.lines, 0);
        rec.bind(tape, &session(1));
        assert_eq!(rec.session_tape(&session(1), info), tape);
        let http = Http {
            status: Some(200),
            content_type: Some("text/event-stream"),
            event_id: Some(b"7"),
            ..Http::default()
        };
        rec.record(
            tape,
            Direction::ServerToClient,
            b"{\"id\":0,\"result\":{}}\n",
            false,
            Some(http),
        );
        rec.record(tape, Direction::ClientToServer, CALL, true, None);
        let done = writer.flush(&rec).await;
        assert_eq!((done.lines, done.opened, done.write_errors), (3, 1, 0));
        let (_, header, lines) = tapes(&dir.0).remove(0);
        assert_eq!(header.status, Status::Recording);
        assert_eq!((header.shard, header.part), (3, 1));
        assert_eq!(
            header.session,
            crate::audit::session_hash(session(1).as_str())
        );
        assert_eq!(lines.len(), 3);
        assert_eq!(
            lines[1].http.as_ref().unwrap().event_id.as_deref(),
            Some("7")
        );
        let redacted = lines[2].msg.as_ref().unwrap().get();
        assert!(!redacted.contains("pw") && redacted.contains("\"a\":1"));
        assert_eq!(
            lines[2].redacted,
            vec!["/params/arguments/password".to_owned()]
        );
        rec.end_session(&session(1));
        let done = writer.flush(&rec).await;
        assert_eq!(done.closed, 1);
        assert!(rec.ids().is_empty());
        let (_, header, lines) = tapes(&dir.0).remove(0);
        assert_eq!(header.status, Status::Complete);
        assert_eq!(lines.len(), 3);
    });
}

#[test]
fn rotates_into_parts() {
    let dir = TempDir::new("rotate");
    run(async {
        let rec = Recorder::new(
            &RecordingConfig {
                max_size: 1000,
                ..config(&dir.0)
            },
            0,
        );
        let mut writer = Writer::default();
        let tape = rec.session_tape(&session(2), info);
        for _ in 0..4 {
            for _ in 0..3 {
                rec.record(tape, Direction::ClientToServer, CALL, true, None);
            }
            writer.flush(&rec).await;
        }
        rec.end(tape);
        let done = writer.flush(&rec).await;
        assert_eq!(done.closed, 1);
        let tapes = tapes(&dir.0);
        assert!(tapes.len() >= 2, "{}", tapes.len());
        let parts: Vec<u32> = tapes.iter().map(|t| t.1.part).collect();
        assert!(parts.contains(&1) && parts.contains(&2));
        assert!(tapes.iter().all(|t| t.1.status == Status::Complete));
        assert_eq!(tapes.iter().map(|t| t.2.len()).sum::<usize>(), 12);
        let second = tapes.iter().find(|t| t.1.part == 2).unwrap();
        assert!(second.0.to_string_lossy().ends_with(".2.tape.jsonl"));
    });
}

#[test]
fn drops_lines_it_cannot_keep() {
    let dir = TempDir::new("drop");
    run(async {
        let rec = Recorder::new(&config(&dir.0), 0);
        let tape = rec.session_tape(&session(3), info);
        let big = format!("{{\"data\":\"{}\"}}", "x".repeat(1 << 20));
        for _ in 0..(super::MAX_PENDING >> 20) + 3 {
            rec.record(tape, Direction::ServerToClient, big.as_bytes(), true, None);
        }
        assert!(rec.take_counts().dropped >= 2);
        // A tape missing lines does not end `complete`.
        let mut writer = Writer::default();
        rec.end(tape);
        writer.flush(&rec).await;
        let [(_, header, _)] = tapes(&dir.0).try_into().unwrap();
        assert_eq!(header.status, Status::Failed);
        rec.close();
        rec.record(tape, Direction::ServerToClient, b"{}", true, None);
        assert_eq!(rec.take_counts().dropped, 1);
    });
}

#[test]
fn a_write_error_stops_the_tape_only() {
    let dir = TempDir::new("error");
    // The tape directory is a file: no tape can be created under it.
    let blocked = dir.0.join("blocked");
    std::fs::write(&blocked, b"").unwrap();
    run(async {
        let rec = Recorder::new(&config(&blocked), 0);
        let mut writer = Writer::default();
        let tape = rec.session_tape(&session(4), info);
        rec.record(tape, Direction::ClientToServer, CALL, true, None);
        let done = writer.flush(&rec).await;
        assert_eq!((done.write_errors, done.dropped, done.lines), (1, 1, 0));
        // Later lines are dropped at once, and counted.
        rec.record(tape, Direction::ClientToServer, CALL, true, None);
        assert_eq!(rec.take_counts().dropped, 1);
        rec.end(tape);
        writer.flush(&rec).await;
        assert!(rec.ids().is_empty());
    });
}

#[test]
fn idle_files_are_parked_and_reopened() {
    let dir = TempDir::new("park");
    run(async {
        let rec = Recorder::new(&config(&dir.0), 0);
        let mut writer = Writer::parking_after(Duration::ZERO);
        let tape = rec.session_tape(&session(5), info);
        for round in 0..3 {
            rec.record(tape, Direction::ClientToServer, CALL, true, None);
            let done = writer.flush(&rec).await;
            assert_eq!((done.lines, done.write_errors), (1, 0), "round {round}");
        }
        rec.end(tape);
        writer.flush(&rec).await;
        let [(_, header, lines)] = tapes(&dir.0).try_into().unwrap();
        assert_eq!((header.status, lines.len()), (Status::Complete, 3));
    });
}

/// Retention running while a session is idle (its file parked) leaves its tape alone: the
/// next write goes on in the same file, and the tape ends complete.
#[test]
fn retention_spares_an_open_tape() {
    let dir = TempDir::new("retain-open");
    run(async {
        let rec = Recorder::new(&config(&dir.0), 0);
        let mut writer = Writer::parking_after(Duration::ZERO);
        let tape = rec.session_tape(&session(6), info);
        rec.record(tape, Direction::ClientToServer, CALL, true, None);
        writer.flush(&rec).await;
        let later = std::time::SystemTime::now() + Duration::from_secs(3600);
        let swept = super::retention::sweep(&dir.0, 0, Some(Duration::from_secs(60)), later);
        assert_eq!(swept.unwrap().deleted, 0);
        let swept = super::retention::sweep(&dir.0, 1, None, later).unwrap();
        assert_eq!(swept.deleted, 0);
        rec.record(tape, Direction::ClientToServer, CALL, true, None);
        let done = writer.flush(&rec).await;
        assert_eq!((done.lines, done.write_errors), (1, 0));
        rec.end(tape);
        writer.flush(&rec).await;
        let [(_, header, lines)] = tapes(&dir.0).try_into().unwrap();
        assert_eq!((header.status, lines.len()), (Status::Complete, 2));
    });
}

/// The day directory removed under a running writer (`tape delete`, an operator): the next
/// tape makes it again instead of failing until midnight.
#[test]
fn a_removed_day_directory_is_made_again() {
    let dir = TempDir::new("day-gone");
    run(async {
        let rec = Recorder::new(&config(&dir.0), 0);
        let mut writer = Writer::default();
        for n in 0..2 {
            let tape = rec.session_tape(&session(7 + n), info);
            rec.record(tape, Direction::ClientToServer, CALL, true, None);
            rec.end(tape);
            let done = writer.flush(&rec).await;
            assert_eq!((done.lines, done.write_errors), (1, 0), "tape {n}");
            for day in std::fs::read_dir(&dir.0).unwrap().flatten() {
                std::fs::remove_dir_all(day.path()).unwrap();
            }
        }
    });
}

/// Connection tapes are named apart across runs (each run's counter starts at 0) and shards.
#[test]
fn connection_names_are_unique_across_runs() {
    let dir = TempDir::new("conn-names");
    run(async {
        let mut names = std::collections::HashSet::new();
        for shard in [0, 0, 1] {
            let rec = Recorder::new(&config(&dir.0), shard);
            let tape = rec.connection_tape(info());
            let name = rec.with(tape, |t| t.info.session.clone()).unwrap();
            assert!(name.starts_with("connection:"), "{name}");
            assert!(names.insert(name.clone()), "{name} repeats");
            glommio::timer::sleep(Duration::from_millis(1)).await;
        }
    });
}

/// A shard with many live sessions keeps at most `MAX_OPEN` tape files open: the least
/// recently written are parked (and reopened for their next write).
#[test]
fn open_files_are_capped() {
    let dir = TempDir::new("cap");
    run(async {
        let rec = Recorder::new(&config(&dir.0), 0);
        let mut writer = Writer::parking_after(Duration::from_secs(3600));
        let n = super::writer::MAX_OPEN + 20;
        let ids: Vec<_> = (0..n)
            .map(|i| {
                let id = SessionId::parse(format!("{:032x}", 1000 + i).as_bytes()).unwrap();
                rec.session_tape(&id, info)
            })
            .collect();
        for &tape in &ids {
            rec.record(tape, Direction::ClientToServer, CALL, true, None);
        }
        let done = writer.flush(&rec).await;
        assert_eq!((done.lines, done.write_errors), (n as u64, 0));
        assert!(writer.open_files() <= super::writer::MAX_OPEN);
        for &tape in &ids {
            rec.record(tape, Direction::ClientToServer, CALL, true, None);
            rec.end(tape);
        }
        let done = writer.flush(&rec).await;
        assert_eq!((done.lines, done.write_errors), (n as u64, 0));
        let tapes = tapes(&dir.0);
        assert_eq!(tapes.len(), n);
        assert!(tapes
            .iter()
            .all(|t| t.1.status == Status::Complete && t.2.len() == 2));
    });
}

/// Requests of one connection that opened no session (refused `initialize`s) share one
/// connection tape: one file, not one per request.
#[test]
fn sessionless_requests_share_the_connections_tape() {
    let dir = TempDir::new("sessionless");
    run(async {
        let rec = Recorder::new(&config(&dir.0), 0);
        let mut writer = Writer::default();
        let mut conn = None;
        for id in 0..3 {
            let tape = rec.unbound(info());
            let line = format!("{{\"id\":{id}}}");
            rec.record(tape, Direction::ClientToServer, line.as_bytes(), true, None);
            conn = Some(rec.to_connection(tape, conn));
            writer.flush(&rec).await;
        }
        rec.end(conn.unwrap());
        let done = writer.flush(&rec).await;
        assert_eq!(done.write_errors, 0);
        assert!(rec.ids().is_empty());
        let [(_, header, lines)] = tapes(&dir.0).try_into().unwrap();
        assert!(
            header.session.starts_with("connection:"),
            "{}",
            header.session
        );
        assert_eq!(header.status, Status::Complete);
        assert_eq!(lines.len(), 3);
    });
}

/// The proxy's `SIGXFSZ` change (so a file size limit fails a tape's write instead of killing
/// the process) is not inherited by the children it starts: `exec` resets a caught signal.
#[test]
fn children_keep_the_default_file_size_signal() {
    super::writer::ignore_file_size_signal();
    let out = std::process::Command::new("sh")
        .args(["-c", "grep -E '^Sig(Ign|Cgt):' /proc/self/status"])
        .output()
        .unwrap();
    let text = String::from_utf8(out.stdout).unwrap();
    let xfsz = 1u64 << (libc::SIGXFSZ - 1);
    for line in text.lines() {
        let mask = u64::from_str_radix(line.split_whitespace().nth(1).unwrap(), 16).unwrap();
        assert_eq!(mask & xfsz, 0, "{line}");
    }
    assert_eq!(text.lines().count(), 2, "{text}");
}
