//! `accept`: the client must accept what the method's answer may be (Streamable HTTP): a POST
//! both JSON and SSE, a GET SSE. A DELETE's answer has no body to negotiate.

use crate::http::{media_type, Head, Method as HttpMethod, RequestHead};

use crate::pipeline::Refusal;

/// Checks `Accept` for the request's method.
pub fn check(head: &RequestHead) -> Result<(), Refusal> {
    let named = || head.header("accept").map_or(Named::default(), named);
    let (ok, needed) = match head.method() {
        HttpMethod::Post => {
            let named = named();
            (
                named.json && named.sse,
                "application/json and text/event-stream",
            )
        }
        HttpMethod::Get => (named().sse, "text/event-stream"),
        _ => return Ok(()),
    };
    if ok {
        Ok(())
    } else {
        Err(Refusal::NotAcceptable { needed })
    }
}

/// Which of the media types a Streamable HTTP answer may have an `Accept` value names.
#[derive(Debug, Default, Clone, Copy)]
struct Named {
    json: bool,
    sse: bool,
}

/// What `accept` names, in one pass over its items (`*/*` names both; parameters such as
/// `q` are ignored).
fn named(accept: &[u8]) -> Named {
    let mut named = Named::default();
    for item in accept.split(|b| *b == b',') {
        let media = media_type(item);
        if media == b"*/*" {
            return Named {
                json: true,
                sse: true,
            };
        }
        named.json |= media.eq_ignore_ascii_case(b"application/json");
        named.sse |= media.eq_ignore_ascii_case(b"text/event-stream");
    }
    named
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
