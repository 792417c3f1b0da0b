//! Tests for the serving loop: framing, concurrency of `slow`, and end of input, with in-memory
//! input and output (the real stdin/stdout are exercised by tests/interop/test_demo_stdio.py).

use std::io::{self, Read};
use std::sync::mpsc;

use serde_json::Value;

use super::*;

fn lines(output: &[u8]) -> Vec<Value> {
    let text = std::str::from_utf8(output).unwrap();
    assert!(text.is_empty() || text.ends_with('\n'), "{text:?}");
    text.lines()
        .map(|line| serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}")))
        .collect()
}

const INIT: &str = r#"{"jsonrpc":"2.0","id":0,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{"elicitation":{}},"clientInfo":{"name":"t","version":"1"}}}"#;

#[test]
fn answers_every_line_in_order_and_ends_at_eof() {
    let mut input = format!("{INIT}\n");
    for id in 1..=200 {
        input.push_str(&format!(
            "{{\"jsonrpc\":\"2.0\",\"id\":{id},\"method\":\"tools/call\",\"params\":{{\"name\":\"echo\",\"arguments\":{{\"message\":\"m{id}\"}}}}}}\r\n"
        ));
    }
    input.push_str("\n{\"jsonrpc\":\"2.0\",\"method\":\"notifications/initialized\"}\n");
    input.push_str("{broken\n");
    input.push_str(r#"{"jsonrpc":"2.0","id":"last","method":"ping"}"#); // no final newline
    let output = serve(input.as_bytes(), Vec::new()).unwrap();
    let replies = lines(&output);
    assert_eq!(replies.len(), 1 + 200 + 2);
    for (index, reply) in replies[1..201].iter().enumerate() {
        assert_eq!(reply["id"], index + 1);
        assert_eq!(
            reply["result"]["content"][0]["text"],
            format!("m{}", index + 1)
        );
    }
    assert_eq!(replies[201]["error"]["code"], -32700);
    assert_eq!(replies[202]["id"], "last");
}

/// Input that hands out its lines as a test releases them, so the test controls timing.
struct Gated {
    lines: mpsc::Receiver<String>,
    current: Vec<u8>,
}

impl Read for Gated {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.current.is_empty() {
            match self.lines.recv() {
                Ok(line) => self.current = line.into_bytes(),
                Err(_) => return Ok(0),
            }
        }
        let n = self.current.len().min(buf.len());
        buf[..n].copy_from_slice(&self.current[..n]);
        self.current.drain(..n);
        Ok(n)
    }
}

/// Output that forwards each write to the test as it happens.
struct Tap(mpsc::Sender<Vec<u8>>);

impl io::Write for Tap {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let _ = self.0.send(buf.to_vec());
        Ok(buf.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// Reads written lines from the tap until one satisfies `done`; returns all of them.
fn read_until(
    tap: &mpsc::Receiver<Vec<u8>>,
    pending: &mut Vec<u8>,
    done: impl Fn(&Value) -> bool,
) -> Vec<Value> {
    let mut seen = Vec::new();
    loop {
        while let Some(end) = pending.iter().position(|&b| b == b'\n') {
            let line: Vec<u8> = pending.drain(..=end).collect();
            let value: Value = serde_json::from_slice(&line).unwrap();
            let stop = done(&value);
            seen.push(value);
            if stop {
                return seen;
            }
        }
        pending.extend(tap.recv().expect("server stopped writing"));
    }
}

/// A server fed line by line through `feed`, its output through `tap`, past `initialize`: the
/// feed, the tap, the server thread, and the output read so far.
#[allow(clippy::type_complexity)]
fn initialized_server() -> (
    mpsc::Sender<String>,
    mpsc::Receiver<Vec<u8>>,
    std::thread::JoinHandle<io::Result<()>>,
    Vec<u8>,
) {
    let (feed, gate) = mpsc::channel();
    let (tap_tx, tap) = mpsc::channel();
    let server = std::thread::spawn(move || {
        serve(
            Gated {
                lines: gate,
                current: Vec::new(),
            },
            Tap(tap_tx),
        )
        .map(drop)
    });
    let mut pending = Vec::new();
    feed.send(format!("{INIT}\n")).unwrap();
    read_until(&tap, &mut pending, |v| v["id"] == 0);
    (feed, tap, server, pending)
}

#[test]
fn a_slow_call_does_not_hold_up_other_requests_and_eof_waits_for_it() {
    let (feed, tap, server, mut pending) = initialized_server();
    // 3 steps of 200 ms; echo must come back before the first progress step.
    feed.send(r#"{"jsonrpc":"2.0","id":"slow","method":"tools/call","params":{"name":"slow","arguments":{"steps":3,"delay_ms":200},"_meta":{"progressToken":7}}}"#.to_owned() + "\n").unwrap();
    feed.send(r#"{"jsonrpc":"2.0","id":"fast","method":"tools/call","params":{"name":"echo","arguments":{"message":"x"}}}"#.to_owned() + "\n").unwrap();
    let first = read_until(&tap, &mut pending, |_| true);
    assert_eq!(first[0]["id"], "fast", "{first:?}");
    // A question is pending when input ends: it is answered with an error, and the slow call
    // still finishes before the server returns.
    feed.send(
        r#"{"jsonrpc":"2.0","id":"q","method":"tools/call","params":{"name":"confirm"}}"#
            .to_owned()
            + "\n",
    )
    .unwrap();
    let asked = read_until(&tap, &mut pending, |v| v["method"] == "elicitation/create");
    assert_eq!(asked.last().unwrap()["method"], "elicitation/create");
    drop(feed);
    let rest = read_until(&tap, &mut pending, |v| v["id"] == "slow");
    server.join().unwrap().unwrap();
    let progress: Vec<&Value> = asked
        .iter()
        .chain(&rest)
        .filter(|v| v["method"] == "notifications/progress")
        .collect();
    assert_eq!(progress.len(), 3);
    assert!(rest
        .iter()
        .chain(&asked)
        .any(|v| v["id"] == "q" && v["result"]["isError"] == true));
}

#[test]
fn a_failing_stdout_ends_the_server_with_the_error() {
    #[derive(Debug)]
    struct Broken;
    impl io::Write for Broken {
        fn write(&mut self, _: &[u8]) -> io::Result<usize> {
            Err(io::ErrorKind::BrokenPipe.into())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }
    let input = format!("{INIT}\n").repeat(10);
    let Err(err) = serve(input.as_bytes(), Broken) else {
        panic!("served into a broken stdout")
    };
    assert_eq!(err.kind(), io::ErrorKind::BrokenPipe);
}

#[test]
fn a_cancelled_slow_call_sends_no_result() {
    let (feed, tap, server, mut pending) = initialized_server();
    feed.send(r#"{"jsonrpc":"2.0","id":5,"method":"tools/call","params":{"name":"slow","arguments":{"steps":1000,"delay_ms":20},"_meta":{"progressToken":"t"}}}"#.to_owned() + "\n").unwrap();
    // Cancel once progress shows the call is running, then prove the server still answers.
    read_until(&tap, &mut pending, |v| {
        v["method"] == "notifications/progress"
    });
    feed.send(
        r#"{"jsonrpc":"2.0","method":"notifications/cancelled","params":{"requestId":5}}"#
            .to_owned()
            + "\n",
    )
    .unwrap();
    feed.send(r#"{"jsonrpc":"2.0","id":6,"method":"ping"}"#.to_owned() + "\n")
        .unwrap();
    read_until(&tap, &mut pending, |v| v["id"] == 6);
    // End of input: the server returns at once (it would take 20 s if the script kept playing)
    // and writes no response for request 5.
    drop(feed);
    server.join().unwrap().unwrap();
    while let Ok(bytes) = tap.try_recv() {
        pending.extend(bytes);
    }
    let rest = lines(&pending);
    assert!(rest.iter().all(|v| v["id"] != 5), "{rest:?}");
}

/// Far more `slow` calls than a thread-per-call design could run at once all play together: every
/// call's first progress notification comes before any call's second one (a capped design would
/// start the late calls only after the early ones finished), and each call gets all its messages.
#[test]
fn plays_a_thousand_slow_calls_at_once() {
    const CALLS: usize = 1000;
    let mut input = format!("{INIT}\n");
    for id in 1..=CALLS {
        input.push_str(&format!(
            "{{\"jsonrpc\":\"2.0\",\"id\":{id},\"method\":\"tools/call\",\"params\":{{\"name\":\"slow\",\"arguments\":{{\"steps\":2,\"delay_ms\":300}},\"_meta\":{{\"progressToken\":{id}}}}}}}\n"
        ));
    }
    let output = serve(input.as_bytes(), Vec::new()).unwrap();
    let replies = lines(&output);
    assert_eq!(replies.len(), 1 + 3 * CALLS);
    let progress: Vec<&Value> = replies
        .iter()
        .filter(|m| m["method"] == "notifications/progress")
        .collect();
    assert_eq!(progress.len(), 2 * CALLS);
    let last_first = progress.iter().rposition(|m| m["params"]["progress"] == 1);
    let first_second = progress.iter().position(|m| m["params"]["progress"] == 2);
    assert!(
        last_first < first_second,
        "a call started its first step after another call's second: {last_first:?} vs {first_second:?}"
    );
    let mut finished: Vec<u64> = replies
        .iter()
        .filter(|m| m.get("result").is_some() && m["id"] != 0)
        .map(|m| m["id"].as_u64().unwrap())
        .collect();
    finished.sort_unstable();
    assert_eq!(finished, (1..=CALLS as u64).collect::<Vec<_>>());
}
