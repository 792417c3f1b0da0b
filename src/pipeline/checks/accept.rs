//! `accept`: the client must accept what the method's answer may be (Streamable HTTP): a POST
//! both JSON and SSE, a GET SSE. A DELETE's answer has no body to negotiate.

use crate::http::{Head, Method as HttpMethod, RequestHead};

use crate::pipeline::Refusal;

/// Checks `Accept` for the request's method.
pub fn check(head: &RequestHead) -> Result<(), Refusal> {
    let (ok, needed) = match head.method() {
        HttpMethod::Post => (
            accepts(head, "application/json") && accepts(head, "text/event-stream"),
            "application/json and text/event-stream",
        ),
        HttpMethod::Get => (accepts(head, "text/event-stream"), "text/event-stream"),
        _ => return Ok(()),
    };
    if ok {
        Ok(())
    } else {
        Err(Refusal::NotAcceptable { needed })
    }
}

/// Whether `Accept` lists `media` (parameters ignored) or `*/*`.
fn accepts(head: &RequestHead, media: &str) -> bool {
    let Some(accept) = head.header("accept") else {
        return false;
    };
    accept.split(|b| *b == b',').any(|item| {
        let item = item
            .split(|b| *b == b';')
            .next()
            .unwrap_or(b"")
            .trim_ascii();
        item.eq_ignore_ascii_case(media.as_bytes()) || item == b"*/*"
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pipeline::checks::test_head::head;

    const BOTH: &str = "application/json and text/event-stream";

    #[test]
    fn post_needs_both_media_types_or_a_wildcard() {
        for ok in [
            "application/json, text/event-stream",
            "text/event-stream;q=0.9, application/json",
            "*/*",
        ] {
            assert_eq!(check(&head("POST", &[("Accept", ok)])), Ok(()), "{ok}");
        }
        for bad in ["application/json", "text/event-stream", "text/html"] {
            assert_eq!(
                check(&head("POST", &[("Accept", bad)])),
                Err(Refusal::NotAcceptable { needed: BOTH }),
                "{bad}"
            );
        }
        assert_eq!(
            check(&head("POST", &[])),
            Err(Refusal::NotAcceptable { needed: BOTH })
        );
    }

    #[test]
    fn get_needs_sse_delete_nothing() {
        assert_eq!(
            check(&head("GET", &[("Accept", "text/event-stream")])),
            Ok(())
        );
        assert_eq!(
            check(&head("GET", &[("Accept", "application/json")])),
            Err(Refusal::NotAcceptable {
                needed: "text/event-stream"
            })
        );
        assert_eq!(check(&head("DELETE", &[])), Ok(()));
    }
}
