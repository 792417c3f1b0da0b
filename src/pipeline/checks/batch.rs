//! `batch`: JSON-RPC batches only on 2025-03-26 (MCP-NOTES §11.1). Runs after `session`, whose
//! negotiated version it reads: without a session the `MCP-Protocol-Version` header must say
//! 2025-03-26; on a session the header (what the client sends after `initialize`; the
//! pass-through relay does not parse the upstream's answer) or else the version the client
//! asked for must be 2025-03-26 (an upstream may answer lower, which the client then sends).

use crate::mcp::ProtocolVersion;

use crate::pipeline::{Facts, Refusal};

/// Checks a batch; `session` is the session's version when the message belongs to one
/// (`Some(None)`: a session that named none).
pub fn check(
    facts: &Facts,
    header: Option<ProtocolVersion>,
    session: Option<Option<ProtocolVersion>>,
) -> Result<(), Refusal> {
    if !facts.is_batch() {
        return Ok(());
    }
    let allowed = match session {
        None => header == Some(ProtocolVersion::V2025_03_26),
        Some(negotiated) => {
            header
                .or(negotiated)
                .unwrap_or(ProtocolVersion::V2025_03_26)
                == ProtocolVersion::V2025_03_26
        }
    };
    if allowed {
        Ok(())
    } else {
        Err(Refusal::BatchNotAllowed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mcp::Inspector;
    use crate::pipeline::facts;
    use ProtocolVersion::{V2025_03_26 as OLD, V2025_06_18 as NEW};

    fn body(text: &str) -> Facts {
        facts(Inspector::new().inspect(text.as_bytes()).unwrap())
    }

    const BATCH: &str = r#"[{"jsonrpc":"2.0","id":1,"method":"ping"}]"#;

    #[test]
    fn single_messages_always_continue() {
        let one = body(r#"{"jsonrpc":"2.0","id":1,"method":"ping"}"#);
        assert_eq!(check(&one, Some(NEW), None), Ok(()));
        assert_eq!(check(&one, None, Some(Some(NEW))), Ok(()));
    }

    #[test]
    fn a_batch_needs_2025_03_26() {
        let batch = body(BATCH);
        assert_eq!(check(&batch, Some(OLD), None), Ok(()));
        assert_eq!(check(&batch, None, None), Err(Refusal::BatchNotAllowed));
        assert_eq!(
            check(&batch, Some(NEW), None),
            Err(Refusal::BatchNotAllowed)
        );
        // On a session: the header first, else the session's version, else allowed.
        assert_eq!(check(&batch, None, Some(Some(OLD))), Ok(()));
        assert_eq!(check(&batch, None, Some(None)), Ok(()));
        assert_eq!(check(&batch, Some(OLD), Some(Some(NEW))), Ok(()));
        assert_eq!(
            check(&batch, None, Some(Some(NEW))),
            Err(Refusal::BatchNotAllowed)
        );
        assert_eq!(
            check(&batch, Some(NEW), Some(Some(OLD))),
            Err(Refusal::BatchNotAllowed)
        );
    }
}
