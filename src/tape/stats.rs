//! `tape stats`: counts per method, latency per method (request to answer, paired by id), bytes
//! each way, errors.
//!
//! Not here: pairing (`pairs.rs`), printing (`cli`).

use std::collections::BTreeMap;

use serde::Serialize;

use super::format::Direction;
use super::pairs::exchanges;
use super::read::Tape;

/// Numbers about one method's requests.
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct MethodStats {
    /// Requests (or notifications) with this method.
    pub count: usize,
    /// Of them, answered with a JSON-RPC error.
    pub errors: usize,
    /// Of them, never answered on the tape.
    pub unanswered: usize,
    /// Fastest answer, microseconds.
    pub min_us: Option<u64>,
    /// Median answer time, microseconds.
    pub p50_us: Option<u64>,
    /// Slowest answer, microseconds.
    pub max_us: Option<u64>,
}

/// Numbers about one tape.
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct Stats {
    /// Message lines.
    pub messages: usize,
    /// Client to server messages.
    pub c2s: usize,
    /// Server to client messages.
    pub s2c: usize,
    /// Line bytes client to server.
    pub c2s_bytes: u64,
    /// Line bytes server to client.
    pub s2c_bytes: u64,
    /// JSON-RPC error answers.
    pub errors: usize,
    /// Lines holding bytes that were not JSON.
    pub raw: usize,
    /// Requests and notifications per method.
    pub methods: BTreeMap<String, MethodStats>,
}

/// The numbers of `tape`.
pub fn stats(tape: &Tape) -> Stats {
    let mut out = Stats::default();
    for entry in &tape.entries {
        let bytes = entry.bytes as u64;
        out.messages += 1;
        out.raw += usize::from(entry.raw.is_some());
        if entry.dir == Direction::ClientToServer {
            out.c2s += 1;
            out.c2s_bytes += bytes;
        } else {
            out.s2c += 1;
            out.s2c_bytes += bytes;
        }
        if let Some(method) = entry.method() {
            if !entry.is_request() {
                out.methods.entry(method.to_owned()).or_default().count += 1;
            }
        }
    }
    let mut latencies: BTreeMap<String, Vec<u64>> = BTreeMap::new();
    for pair in exchanges(&tape.entries).pairs {
        let method = pair.request.method().unwrap_or("?").to_owned();
        let m = out.methods.entry(method.clone()).or_default();
        m.count += 1;
        m.errors += usize::from(pair.is_error());
        out.errors += usize::from(pair.is_error());
        match pair.latency_us() {
            Some(us) => latencies.entry(method).or_default().push(us),
            None => m.unanswered += 1,
        }
    }
    for (method, mut list) in latencies {
        list.sort_unstable();
        if let Some(m) = out.methods.get_mut(&method) {
            m.min_us = list.first().copied();
            m.p50_us = list.get(list.len() / 2).copied();
            m.max_us = list.last().copied();
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;
    use crate::tape::fixture;

    #[test]
    fn counts_latencies_and_errors() {
        let tape = Tape::parse(Path::new("t"), fixture::session(0).as_bytes()).unwrap();
        let s = stats(&tape);
        assert_eq!((s.messages, s.c2s, s.s2c, s.errors), (10, 5, 5, 1));
        let call = &s.methods["tools/call"];
        assert_eq!((call.count, call.errors), (2, 1));
        assert_eq!((call.min_us, call.max_us), (Some(2000), Some(4000)));
        assert_eq!(s.methods["notifications/progress"].count, 1);
        assert_eq!(s.methods["notifications/initialized"].count, 1);
    }
}
