//! Tests of tapes on disk: grouping parts by file name, the parts of one session, deleting
//! old sessions without touching folders outside DIR.

use super::*;
use crate::tape::fixture;

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("shadowcat-tape-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(dir.join("2026-12-07")).unwrap();
    dir
}

#[test]
fn parts_of_a_session_group_and_others_stay_apart() {
    let dir = scratch("group");
    let day = dir.join("2026-12-07");
    let one = fixture::session(10);
    let two = format!(
        "{}\n{}\n",
        fixture::header("sha256:00112233445566778899aabbccddeeff", 10, 2),
        fixture::line(20_000, "c2s", r#"{"jsonrpc":"2.0","id":9,"method":"ping"}"#)
    );
    let other = fixture::session(5).replace("sha256:0011", "sha256:ffff");
    std::fs::write(day.join("a-1.tape.jsonl"), one).unwrap();
    std::fs::write(day.join("a-1.2.tape.jsonl"), two).unwrap();
    std::fs::write(day.join("b.tape.jsonl"), other).unwrap();
    // A part's stem decides, not the header's session.
    assert_eq!(
        parts_of(&day.join("a-1.2.tape.jsonl")).unwrap(),
        vec![day.join("a-1.tape.jsonl"), day.join("a-1.2.tape.jsonl")]
    );
    std::fs::write(day.join("junk.tape.jsonl"), "hello\n").unwrap();
    std::fs::write(day.join("notes.txt"), "not a tape").unwrap();
    let (sessions, errors) = sessions(&dir).unwrap();
    assert_eq!(errors.len(), 1);
    assert_eq!(sessions.len(), 2);
    assert_eq!(sessions[0].len(), 1);
    assert_eq!(sessions[1].len(), 2);
    assert_eq!(sessions[1][1].header.part, 2);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn delete_older_removes_old_sessions_and_empty_folders() {
    let dir = scratch("delete");
    let old = dir.join("2026-12-07/old.tape.jsonl");
    std::fs::create_dir_all(dir.join("2026-12-08")).unwrap();
    let new = dir.join("2026-12-08/new.tape.jsonl");
    std::fs::write(&old, fixture::session(1_000)).unwrap();
    std::fs::write(
        &new,
        fixture::session(900_000).replace("sha256:0011", "sha256:ffff"),
    )
    .unwrap();
    let mut deleted = Vec::new();
    delete_older(&dir, 500_000, &mut |p| deleted.push(p.to_owned())).unwrap();
    assert_eq!(deleted, vec![old.clone()]);
    assert!(!old.exists() && new.exists());
    assert!(!dir.join("2026-12-07").exists());
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn stateless_sessions_of_two_runs_stay_apart() {
    // `connection:0-0` restarts with each process: two runs, same header session.
    let dir = scratch("stateless");
    let day = dir.join("2026-12-07");
    let session = |start: u64| {
        fixture::session(start).replace("sha256:00112233445566778899aabbccddeeff", "connection:0-0")
    };
    std::fs::write(
        day.join("20261207T100000.000000Z-connection-0-0.tape.jsonl"),
        session(10),
    )
    .unwrap();
    std::fs::write(
        day.join("20261207T110000.000000Z-connection-0-0.tape.jsonl"),
        session(20),
    )
    .unwrap();
    let (sessions, _) = sessions(&dir).unwrap();
    assert_eq!(sessions.len(), 2);
    assert_eq!(sessions[0][0].messages, 10);
    assert_eq!(sessions[0][0].client.as_deref(), Some("mcp 1.0"));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn deleting_one_old_file_keeps_its_folder() {
    let dir = scratch("delete-file");
    let file = dir.join("2026-12-07/old.tape.jsonl");
    std::fs::write(&file, fixture::session(1_000)).unwrap();
    let mut deleted = Vec::new();
    delete_older(&file, 500_000, &mut |p| deleted.push(p.to_owned())).unwrap();
    assert_eq!(deleted, vec![file.clone()]);
    assert!(
        dir.join("2026-12-07").is_dir(),
        "the folder around FILE stays"
    );
    // Under DIR, nested empty folders go, DIR stays.
    let deep = dir.join("2026-12-07/a/b");
    std::fs::create_dir_all(&deep).unwrap();
    std::fs::write(deep.join("old.tape.jsonl"), fixture::session(1_000)).unwrap();
    delete_older(&dir.join("2026-12-07"), 500_000, &mut |_| {}).unwrap();
    assert!(!dir.join("2026-12-07/a").exists());
    assert!(dir.join("2026-12-07").is_dir());
    let _ = std::fs::remove_dir_all(&dir);
}
