//! Recognising the `-32020` (HeaderMismatch) answer that triggers a refresh.

use super::*;

#[test]
fn header_mismatch_errors_are_recognised() {
    assert!(is_header_mismatch(
        br#"{"jsonrpc":"2.0","id":1,"error":{"code":-32020,"message":"missing Mcp-Param-Region"}}"#
    ));
    assert!(!is_header_mismatch(
        br#"{"jsonrpc":"2.0","id":1,"error":{"code":-32602,"message":"x"}}"#
    ));
    assert!(!is_header_mismatch(
        br#"{"jsonrpc":"2.0","id":1,"result":{}}"#
    ));
}
