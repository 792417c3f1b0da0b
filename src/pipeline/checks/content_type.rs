//! `content_type`: a POST body is JSON (`application/json`, parameters such as `charset`
//! allowed); anything else is 415 before a byte of it is read.

use crate::http::{media_type, Head, RequestHead};

use crate::pipeline::Refusal;

/// Checks `Content-Type`.
pub fn check(head: &RequestHead) -> Result<(), Refusal> {
    let json = head
        .header("content-type")
        .is_some_and(|ct| media_type(ct).eq_ignore_ascii_case(b"application/json"));
    if json {
        Ok(())
    } else {
        Err(Refusal::UnsupportedMediaType)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pipeline::checks::test_head::head;

    #[test]
    fn json_with_optional_parameters_continues() {
        for ok in ["application/json", "Application/JSON; charset=utf-8"] {
            assert_eq!(
                check(&head("POST", &[("Content-Type", ok)])),
                Ok(()),
                "{ok}"
            );
        }
    }

    #[test]
    fn anything_else_is_refused() {
        for bad in ["text/plain", "application/jsonx"] {
            assert_eq!(
                check(&head("POST", &[("Content-Type", bad)])),
                Err(Refusal::UnsupportedMediaType),
                "{bad}"
            );
        }
        assert_eq!(
            check(&head("POST", &[])),
            Err(Refusal::UnsupportedMediaType)
        );
    }
}
