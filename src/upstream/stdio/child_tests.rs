//! Real-process tests for child.rs: socketpair round trips, stderr, exit codes, termination
//! of children, their groups and grandchildren, and reaping. Each test runs its own small
//! glommio executor; conditions are polled with a deadline, never slept on.

use std::os::unix::process::ExitStatusExt;
use std::time::{Duration, Instant};

use super::*;
use crate::upstream::stdio::{LineError, DEFAULT_MAX_LINE};

use crate::upstream::test_support::run;

fn spec(argv: &[&str]) -> ChildSpec {
    ChildSpec {
        argv: argv.iter().map(|arg| arg.to_string()).collect(),
        ..ChildSpec::default()
    }
}

/// Polls `condition` every 5 ms for up to 10 s; true once it holds.
async fn eventually(mut condition: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline {
        if condition() {
            return true;
        }
        glommio::timer::sleep(Duration::from_millis(5)).await;
    }
    condition()
}

/// Whether `kill(target, 0)` says no such process (or group).
#[allow(unsafe_code, reason = "probing a pid with kill(2) in tests")]
fn no_such_process(target: i32) -> bool {
    // SAFETY: signal 0 only checks existence.
    let rc = unsafe { libc::kill(target, 0) };
    rc == -1 && std::io::Error::last_os_error().raw_os_error() == Some(libc::ESRCH)
}

/// Whether `pid` is gone or a zombie (an orphaned grandchild waits for PID 1 to reap it).
fn dead_or_zombie(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Err(_) => true,
        Ok(stat) => stat
            .rsplit_once(") ")
            .is_some_and(|(_, rest)| rest.starts_with('Z')),
    }
}

fn proc_gone(pid: u32) -> bool {
    !std::path::Path::new(&format!("/proc/{pid}")).exists()
}

async fn line(reader: &mut LineReader<glommio::net::UnixStream>) -> Option<String> {
    let line = reader.next_line().await.unwrap()?;
    Some(String::from_utf8(line.to_vec()).unwrap())
}

const GRACE: Duration = Duration::from_secs(5);

#[test]
fn cat_echoes_messages_as_single_lines() {
    run(async {
        let StdioChild {
            mut process,
            mut stdout,
            mut stdin,
            ..
        } = spawn(&spec(&["cat"])).unwrap();
        let messages = [
            r#"{"jsonrpc":"2.0","id":1,"method":"ping"}"#,
            r#"{"jsonrpc":"2.0","id":2,"method":"tools/list"}"#,
            "{}",
        ];
        for message in messages {
            stdin.send(message.as_bytes()).await.unwrap();
        }
        for message in messages {
            assert_eq!(line(&mut stdout).await.as_deref(), Some(message));
        }
        stdin.send(b"{\"a\":\n 1,\r\n \"b\":2}").await.unwrap();
        assert_eq!(
            line(&mut stdout).await.as_deref(),
            Some("{\"a\":  1,   \"b\":2}")
        );
        stdin.close().await.unwrap();
        assert_eq!(line(&mut stdout).await, None);
        let status = process.wait_exit(Duration::from_millis(5)).await.unwrap();
        assert_eq!(status.code(), Some(0));
        assert!(proc_gone(process.pid()));
    });
}

#[test]
fn cat_round_trips_ten_thousand_lines_and_large_messages() {
    run(async {
        let (process, mut stdout, mut stdin, _stderr) =
            spawn(&spec(&["cat"])).unwrap().into_parts();
        let big_clean = vec![b'a'; SEND_COPY_LIMIT * 3 + 7];
        let mut big_broken = vec![b'b'; SEND_COPY_LIMIT * 2];
        big_broken[SEND_COPY_LIMIT] = b'\n';
        let sent = (big_clean.clone(), big_broken.clone());
        let writer = glommio::spawn_local(async move {
            for index in 0..10_000 {
                let message = format!(r#"{{"jsonrpc":"2.0","id":{index},"method":"ping"}}"#);
                stdin.send(message.as_bytes()).await.unwrap();
            }
            stdin.send(&sent.0).await.unwrap();
            stdin.send(&sent.1).await.unwrap();
            stdin.send(b"").await.unwrap();
            stdin.close().await.unwrap();
        });
        for index in 0..10_000 {
            let expected = format!(r#"{{"jsonrpc":"2.0","id":{index},"method":"ping"}}"#);
            assert_eq!(line(&mut stdout).await, Some(expected));
        }
        assert_eq!(stdout.next_line().await.unwrap(), Some(&big_clean[..]));
        big_broken[SEND_COPY_LIMIT] = b' ';
        assert_eq!(stdout.next_line().await.unwrap(), Some(&big_broken[..]));
        assert_eq!(stdout.next_line().await.unwrap(), Some(&b""[..]));
        assert_eq!(stdout.next_line().await.unwrap(), None);
        writer.await;
        let exit = process.terminate(GRACE).await.unwrap();
        assert_eq!(exit.status.code(), Some(0));
        assert!(!exit.killed);
    });
}

#[test]
fn stderr_lines_reach_the_stderr_reader() {
    run(async {
        let script = "import sys; sys.stderr.write('oops\\n'); sys.stderr.flush()";
        let mut child = spawn(&spec(&["python3", "-c", script])).unwrap();
        assert_eq!(line(&mut child.stderr).await.as_deref(), Some("oops"));
        assert_eq!(line(&mut child.stderr).await, None);
        assert_eq!(line(&mut child.stdout).await, None);
        let status = child.process.wait_exit(Duration::from_millis(5)).await;
        assert_eq!(status.unwrap().code(), Some(0));
    });
}

#[test]
fn exit_code_is_reported_after_stdout_eof() {
    run(async {
        let mut child = spawn(&spec(&["sh", "-c", "echo hi; exit 3"])).unwrap();
        assert_eq!(line(&mut child.stdout).await.as_deref(), Some("hi"));
        assert_eq!(line(&mut child.stdout).await, None);
        let status = child.process.wait_exit(Duration::from_millis(5)).await;
        assert_eq!(status.unwrap().code(), Some(3));
        let again = child.process.try_status().unwrap();
        assert_eq!(again.and_then(|status| status.code()), Some(3));
        assert!(proc_gone(child.pid()));
    });
}

#[test]
fn env_and_working_directory_are_applied() {
    run(async {
        let mut spec = spec(&["sh", "-c", "echo \"$SHADOWCAT_TEST\"; pwd"]);
        spec.env.push(("SHADOWCAT_TEST".into(), "value 1".into()));
        spec.cwd = Some("/tmp".into());
        let mut child = spawn(&spec).unwrap();
        assert_eq!(line(&mut child.stdout).await.as_deref(), Some("value 1"));
        assert_eq!(line(&mut child.stdout).await.as_deref(), Some("/tmp"));
        child.process.terminate(GRACE).await.unwrap();
    });
}

#[test]
fn terminate_ends_a_sleeping_child_and_its_group() {
    run(async {
        let child = spawn(&spec(&["sleep", "1000"])).unwrap();
        let pid = child.pid();
        let exit = child.process.terminate(GRACE).await.unwrap();
        assert!(!exit.killed);
        assert_eq!(exit.status.signal(), Some(libc::SIGTERM));
        let pid = i32::try_from(pid).unwrap();
        assert!(no_such_process(pid));
        assert!(no_such_process(-pid));
        assert!(proc_gone(pid as u32));
    });
}

#[test]
fn a_child_ignoring_sigterm_is_killed_after_the_grace() {
    run(async {
        let script = "trap '' TERM; echo ready; sleep 1000";
        let mut child = spawn(&spec(&["sh", "-c", script])).unwrap();
        assert_eq!(line(&mut child.stdout).await.as_deref(), Some("ready"));
        let pid = child.pid();
        let exit = child
            .process
            .terminate(Duration::from_millis(100))
            .await
            .unwrap();
        assert!(exit.killed);
        assert_eq!(exit.status.signal(), Some(libc::SIGKILL));
        assert!(proc_gone(pid));
        // The ignoring `sleep` is in the group too; once it is gone the group is empty.
        let group = -i32::try_from(pid).unwrap();
        assert!(eventually(|| no_such_process(group)).await);
    });
}

#[test]
fn grandchildren_die_with_the_group() {
    run(async {
        // The grandchild ignores SIGTERM; the leader dies of it, and the group is then killed.
        let script = "(trap '' TERM; echo ready; exec sleep 1000) & echo $!; wait";
        let mut child = spawn(&spec(&["sh", "-c", script])).unwrap();
        let mut grandchild = None;
        for _ in 0..2 {
            let text = line(&mut child.stdout).await.unwrap();
            if text != "ready" {
                grandchild = Some(text.parse::<u32>().unwrap());
            }
        }
        let grandchild = grandchild.unwrap();
        assert!(!dead_or_zombie(grandchild));
        let exit = child.process.terminate(GRACE).await.unwrap();
        assert!(!exit.killed);
        assert_eq!(exit.status.signal(), Some(libc::SIGTERM));
        assert!(eventually(|| dead_or_zombie(grandchild)).await);
    });
}

#[test]
fn dropping_the_process_kills_and_reaps_it() {
    run(async {
        let child = spawn(&spec(&["sleep", "1000"])).unwrap();
        let pid = child.pid();
        drop(child);
        assert!(eventually(|| proc_gone(pid)).await);
    });
}

#[test]
fn children_die_with_the_spawning_thread() {
    let pid = std::thread::spawn(|| {
        run(async {
            let child = spawn(&spec(&["sleep", "1000"])).unwrap();
            let pid = child.pid();
            // Neither terminate nor Drop: only PR_SET_PDEATHSIG can end it.
            std::mem::forget(child);
            pid
        })
    })
    .join()
    .unwrap();
    run(async { assert!(eventually(|| dead_or_zombie(pid)).await) });
    reap_blocking(pid);
    assert!(proc_gone(pid));
}

#[test]
fn overlong_stdout_line_is_refused() {
    run(async {
        let bytes = (DEFAULT_MAX_LINE + 1).to_string();
        let script = format!("head -c {bytes} /dev/zero | tr '\\0' x; echo");
        let mut child = spawn(&spec(&["sh", "-c", &script])).unwrap();
        let result = child.stdout.next_line().await;
        assert!(matches!(
            result,
            Err(LineError::TooLong {
                limit: DEFAULT_MAX_LINE
            })
        ));
        child.process.terminate(GRACE).await.unwrap();
    });
}

#[test]
fn spawn_errors_name_the_problem() {
    run(async {
        let missing = spawn(&spec(&["shadowcat-no-such-program"])).unwrap_err();
        assert!(
            matches!(&missing, SpawnError::NotFound { program } if program == "shadowcat-no-such-program"),
            "{missing:?}"
        );
        assert!(missing.to_string().contains("shadowcat-no-such-program"));
        assert!(matches!(spawn(&spec(&[])), Err(SpawnError::EmptyCommand)));
        let mut in_nowhere = spec(&["true"]);
        in_nowhere.cwd = Some("/shadowcat/no/such/dir".into());
        assert!(matches!(
            spawn(&in_nowhere),
            Err(SpawnError::NoWorkingDir { .. })
        ));
        let not_executable = spawn(&spec(&["/tmp"])).unwrap_err();
        assert!(
            matches!(not_executable, SpawnError::Io { .. }),
            "{not_executable:?}"
        );
    });
}

#[test]
fn sending_to_an_exited_child_fails_instead_of_hanging() {
    run(async {
        let mut child = spawn(&spec(&["true"])).unwrap();
        assert_eq!(line(&mut child.stdout).await, None);
        child
            .process
            .wait_exit(Duration::from_millis(5))
            .await
            .unwrap();
        // Rust runtimes ignore SIGPIPE, so the write reports EPIPE.
        let error = child.stdin.send(b"{}").await.unwrap_err();
        assert_eq!(error.kind(), std::io::ErrorKind::BrokenPipe);
    });
}
