//! Tests of the `--target URL` client against a scripted HTTP peer on 127.0.0.1: an overall
//! deadline despite keep-alive comments, a server request on SSE refused by a POST, a non-2xx
//! status returned with its body.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use super::*;

/// Reads one request: its head and its body (by Content-Length).
fn read_request(stream: &TcpStream) -> Value {
    let mut reader = BufReader::new(stream);
    let mut length = 0;
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).unwrap() == 0 || line == "\r\n" {
            break;
        }
        if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
            length = v.trim().parse().unwrap();
        }
    }
    let mut body = vec![0; length];
    reader.read_exact(&mut body).unwrap();
    serde_json::from_slice(&body).unwrap_or(Value::Null)
}

fn link(listener: &TcpListener) -> HttpLink {
    let port = listener.local_addr().unwrap().port();
    HttpLink::new(&format!("http://127.0.0.1:{port}/mcp"))
        .unwrap()
        .with_timeout(Duration::from_millis(500))
}

const SSE_HEAD: &[u8] = b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n\r\n";

#[test]
fn keep_alive_comments_do_not_keep_a_request_open() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let mut link = link(&listener);
    let server = std::thread::spawn(move || {
        let (mut stream, _) = listener.accept().unwrap();
        read_request(&stream);
        stream.write_all(SSE_HEAD).unwrap();
        // A comment every 20 ms until the client hangs up (its read ends).
        stream
            .set_read_timeout(Some(Duration::from_millis(20)))
            .unwrap();
        let mut byte = [0; 1];
        while stream.write_all(b": keep-alive\n\n").is_ok() {
            match stream.read(&mut byte) {
                Err(e)
                    if matches!(
                        e.kind(),
                        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                    ) => {}
                _ => break,
            }
        }
    });
    let started = Instant::now();
    let request = json!({"jsonrpc":"2.0","id":1,"method":"ping"});
    assert!(link.send(&request, true).is_err());
    assert!(started.elapsed() < Duration::from_secs(5));
    drop(link);
    server.join().unwrap();
}

#[test]
fn a_server_request_on_the_stream_is_refused_by_a_post() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let mut link = link(&listener);
    let server = std::thread::spawn(move || {
        let (mut call, _) = listener.accept().unwrap();
        read_request(&call);
        call.write_all(SSE_HEAD).unwrap();
        call.write_all(
            b"data: {\"jsonrpc\":\"2.0\",\"id\":\"s1\",\"method\":\"sampling/createMessage\"}\n\n",
        )
        .unwrap();
        let (mut refusal, _) = listener.accept().unwrap();
        let body = read_request(&refusal);
        refusal
            .write_all(b"HTTP/1.1 202 Accepted\r\nContent-Length: 0\r\n\r\n")
            .unwrap();
        call.write_all(b"data: {\"jsonrpc\":\"2.0\",\"id\":1,\"result\":{}}\n\n")
            .unwrap();
        body
    });
    let request = json!({"jsonrpc":"2.0","id":1,"method":"tools/call"});
    let received = link.send(&request, true).unwrap();
    assert_eq!(
        received.messages,
        vec![json!({"jsonrpc":"2.0","id":1,"result":{}})]
    );
    let refusal = server.join().unwrap();
    assert_eq!(refusal["id"], "s1");
    assert_eq!(refusal["error"]["code"], -32601);
}

#[test]
fn a_non_2xx_status_comes_back_with_its_body() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let mut link = link(&listener);
    let server = std::thread::spawn(move || {
        let (mut stream, _) = listener.accept().unwrap();
        read_request(&stream);
        let body =
            r#"{"jsonrpc":"2.0","id":null,"error":{"code":-32001,"message":"Session not found"}}"#;
        let head = format!("HTTP/1.1 404 Not Found\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n", body.len());
        stream.write_all(head.as_bytes()).unwrap();
        stream.write_all(body.as_bytes()).unwrap();
    });
    let request = json!({"jsonrpc":"2.0","id":1,"method":"ping"});
    let received = link.send(&request, true).unwrap();
    assert_eq!(received.status, Some(404));
    assert_eq!(received.messages[0]["error"]["code"], -32001);
    server.join().unwrap();
}
