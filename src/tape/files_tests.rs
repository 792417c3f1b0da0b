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
fn repair_cuts_only_the_last_line() {
    let dir = scratch("repair");
    let path = dir.join("t.tape.jsonl");
    let whole = fixture::session(1);
    std::fs::write(&path, format!("{whole}{{\"t_us\":1,")).unwrap();
    assert_eq!(
        repair(&path).unwrap(),
        Repair::Cut {
            kept: whole.len() as u64,
            dropped: 10
        }
    );
    assert_eq!(std::fs::read_to_string(&path).unwrap(), whole);
    assert_eq!(repair(&path).unwrap(), Repair::Sound);
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
    let deleted = delete_older(&dir, 500_000).unwrap();
    assert_eq!(deleted, vec![old.clone()]);
    assert!(!old.exists() && new.exists());
    assert!(!dir.join("2026-12-07").exists());
    let _ = std::fs::remove_dir_all(&dir);
}
