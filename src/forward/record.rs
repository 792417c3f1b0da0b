//! Forward mode's recording (`forward --record DIR`): the one client session as one tape
//! (`transport` `stdio`): each client line as it was read, each line written to the client as
//! it was sent, written by a writer task on the forward executor through its io_uring.
//!
//! Not here: the tape's lines and files (crate::record), where lines are read and written
//! (input.rs, output.rs call in).

use std::rc::Rc;

use shards::latch::Latch;

use crate::config::{ForwardTarget, RecordingConfig};
use crate::record::{Recorder, TapeId, TapeInfo};
use crate::tape::format::Direction;

/// The session's tape.
#[derive(Debug)]
pub(crate) struct Tape {
    rec: Rc<Recorder>,
    id: TapeId,
}

impl Tape {
    /// Opens the tape for a session with `target` and returns it with its writer task's future
    /// (which ends, the tape complete, once `stop` fires); `None` (logged) when the directory
    /// cannot be made.
    pub(crate) fn start(
        config: &RecordingConfig,
        target: &ForwardTarget,
        stop: Rc<Latch>,
    ) -> Option<(Rc<Tape>, impl std::future::Future<Output = ()>)> {
        if let Err(error) = std::fs::create_dir_all(&config.dir) {
            let dir = config.dir.display();
            tracing::warn!(%dir, %error, "cannot make the tape directory; not recording");
            return None;
        }
        crate::record::writer::ignore_file_size_signal();
        let rec = Rc::new(Recorder::new(config, 0));
        let upstream = upstream_name(target);
        let id = rec.connection_tape(TapeInfo {
            session: String::new(),
            route: "stdio".into(),
            upstream,
            transport: "stdio",
            protocol_version: None,
        });
        let task = crate::record::writer::run(
            rec.clone(),
            stop,
            |_| {},
            |_, done| {
                if done.dropped > 0 {
                    tracing::debug!(dropped = done.dropped, "tape lines dropped");
                }
            },
        );
        Some((Rc::new(Tape { rec, id }), task))
    }

    /// Notes a line the client sent.
    pub(crate) fn client(&self, line: &[u8]) {
        self.rec
            .record(self.id, Direction::ClientToServer, line, false, None);
    }

    /// Notes a line written to the client.
    pub(crate) fn server(&self, line: &[u8]) {
        self.rec
            .record(self.id, Direction::ServerToClient, line, false, None);
    }
}

/// The header's `upstream`: never a credential, so a URL's scheme, authority and path without
/// its query (`?api_key=…`) and a command's program without its arguments (`--token …`).
fn upstream_name(target: &ForwardTarget) -> String {
    match target {
        ForwardTarget::Http { url, .. } => {
            let url = url.to_url();
            let end = url.find(['?', '#']).unwrap_or(url.len());
            url.get(..end).unwrap_or_default().to_owned()
        }
        ForwardTarget::Stdio { command, .. } => {
            format!("stdio:{}", command.first().map_or("", String::as_str))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A credential in a target's query or command line stays off the tape's header.
    #[test]
    fn the_upstream_name_holds_no_credential() {
        let url = crate::config::parse_upstream_url("target", "http://127.0.0.1:9/mcp?api_key=s3")
            .unwrap();
        let http = ForwardTarget::Http {
            url,
            headers: Vec::new(),
            trust: None,
        };
        assert_eq!(upstream_name(&http), "http://127.0.0.1:9/mcp");
        let stdio = ForwardTarget::Stdio {
            command: vec!["server".into(), "--token".into(), "s3".into()],
            env: Vec::new(),
            cwd: None,
        };
        assert_eq!(upstream_name(&stdio), "stdio:server");
    }
}
