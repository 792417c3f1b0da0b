//! HTTP/1.1 head parser (`shadowcat::http::head`): no panic on any bytes, and a head that parses
//! re-serialises through the crate's own writer (`http::write`) into a head that parses to the
//! same method, target, fields and framing.
//!
//! Not here: bodies (body.rs).

use proptest::prelude::*;
use proptest::test_runner::TestCaseError;
use shadowcat::http::{
    parse_request, parse_response, write_request_head, write_response_head, Head, Limits, Method,
};

use crate::common::{apply, check, edits};

/// A limit large enough that re-serialising (which may add a space per field) never trips it:
/// the head's size is not one of the fields the property compares.
fn roomy() -> Limits {
    Limits {
        max_head_bytes: 1 << 20,
        max_headers: 128,
        ..Limits::default()
    }
}

fn token() -> impl Strategy<Value = String> {
    "[A-Za-z0-9!#$%&'*+.^_`|~-]{1,12}"
}

fn field_value() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        8 => "[ -~]{0,24}".prop_map(String::into_bytes),
        1 => prop::collection::vec(prop_oneof![Just(b'\t'), Just(b' '), 0x21u8..=0x7e, 0x80u8..=0xff], 0..24),
    ]
}

/// Which framing field a generated head carries, spelled in a few legal ways.
fn framing_field() -> impl Strategy<Value = Option<(String, Vec<u8>)>> {
    prop_oneof![
        2 => Just(None),
        2 => (prop::sample::select(vec!["Content-Length", "content-length", "CONTENT-LENGTH"]), any::<u32>(), 0usize..3)
            .prop_map(|(name, n, pad)| Some((name.to_owned(), format!("{}{n}{}", " ".repeat(pad), " ".repeat(pad)).into_bytes()))),
        1 => (prop::sample::select(vec!["Transfer-Encoding", "transfer-encoding"]), prop::sample::select(vec!["chunked", "Chunked", " chunked "]))
            .prop_map(|(name, value)| Some((name.to_owned(), value.as_bytes().to_vec()))),
    ]
}

fn fields() -> impl Strategy<Value = Vec<(String, Vec<u8>)>> {
    prop::collection::vec((token(), field_value()), 0..12)
}

/// Start line, `Host` (for requests), random fields with a framing field among them, CRLF, and
/// a few bytes of whatever follows the head.
fn head_bytes(start: String, host: bool) -> impl Strategy<Value = Vec<u8>> {
    (
        fields(),
        framing_field(),
        any::<prop::sample::Index>(),
        "[ -~]{0,8}",
        "[ -~]{0,12}",
    )
        .prop_map(move |(mut fields, framing, at, host_value, tail)| {
            fields.retain(|(name, _)| {
                !["host", "content-length", "transfer-encoding"]
                    .iter()
                    .any(|n| name.eq_ignore_ascii_case(n))
            });
            if host {
                fields.insert(0, ("Host".to_owned(), host_value.into_bytes()));
            }
            if let Some(field) = framing {
                let at = at.index(fields.len() + 1);
                fields.insert(at, field);
            }
            let mut out = start.clone().into_bytes();
            for (name, value) in &fields {
                out.extend_from_slice(name.as_bytes());
                out.extend_from_slice(b": ");
                out.extend_from_slice(value);
                out.extend_from_slice(b"\r\n");
            }
            out.extend_from_slice(b"\r\n");
            out.extend_from_slice(tail.as_bytes());
            out
        })
}

fn request_bytes() -> impl Strategy<Value = Vec<u8>> {
    let method = prop_oneof![
        3 => prop::sample::select(vec!["GET", "POST", "PUT", "DELETE", "HEAD", "OPTIONS", "PATCH"]).prop_map(str::to_owned),
        1 => token(),
    ];
    let target = prop_oneof![
        3 => "/[A-Za-z0-9._~%!$&'()*+,;=:@/?-]{0,32}",
        1 => "[!-~]{1,32}",
    ];
    (method, target, 0u8..2, any::<bool>()).prop_flat_map(|(method, target, minor, host)| {
        head_bytes(
            format!("{method} {target} HTTP/1.{minor}\r\n"),
            host || minor == 1,
        )
    })
}

fn response_bytes() -> impl Strategy<Value = Vec<u8>> {
    (100u16..1000, "[ -~]{0,16}", 0u8..2).prop_flat_map(|(status, reason, minor)| {
        head_bytes(format!("HTTP/1.{minor} {status} {reason}\r\n"), false)
    })
}

/// Framing fields are written from the framing argument, not copied: compare the rest.
fn end_fields<H: Head>(head: &H) -> Vec<(Vec<u8>, Vec<u8>)> {
    head.headers()
        .filter(|(name, _)| {
            !name.eq_ignore_ascii_case(b"content-length")
                && !name.eq_ignore_ascii_case(b"transfer-encoding")
        })
        .map(|(name, value)| (name.to_vec(), value.to_vec()))
        .collect()
}

/// Parses `buf` as a request; if it parses with valid framing, writes it again and checks that
/// the copy parses to the same head.
fn request_round_trip(buf: &[u8], limits: &Limits) -> Result<(), TestCaseError> {
    let Ok(Some((head, len))) = parse_request(buf, limits) else {
        return Ok(());
    };
    prop_assert!(len <= buf.len() && len <= limits.max_head_bytes);
    prop_assert_eq!(head.fields().raw(), &buf[..len]);
    let _ = (
        head.path(),
        head.query(),
        head.keep_alive(),
        head.is_event_stream(),
    );
    let _ = head.end_to_end_headers().count();
    let Ok(framing) = head.framing() else {
        return Ok(());
    };
    // The writer speaks HTTP/1.1 and leaves Host to the caller: an HTTP/1.0 head without Host has
    // no 1.1 equivalent to compare with.
    if head.minor_version() == 0 && head.header("host").is_none() {
        return Ok(());
    }
    let mut out = Vec::new();
    write_request_head(
        &mut out,
        head.method_str(),
        head.target(),
        head.headers(),
        framing,
    );
    let again = parse_request(&out, &roomy());
    let Ok(Some((again, again_len))) = again else {
        return Err(TestCaseError::fail(format!(
            "re-serialised head does not parse: {again:?}\n{}",
            String::from_utf8_lossy(&out)
        )));
    };
    prop_assert_eq!(again_len, out.len());
    prop_assert_eq!(again.method(), head.method());
    prop_assert_eq!(again.method_str(), head.method_str());
    prop_assert_eq!(again.target(), head.target());
    prop_assert_eq!(again.framing().ok(), Some(framing));
    prop_assert_eq!(end_fields(&again), end_fields(&head));
    if head.minor_version() == 1 {
        prop_assert_eq!(again.keep_alive(), head.keep_alive());
    }
    Ok(())
}

fn response_round_trip(buf: &[u8], limits: &Limits) -> Result<(), TestCaseError> {
    let Ok(Some((head, len))) = parse_response(buf, limits) else {
        return Ok(());
    };
    prop_assert!(len <= buf.len() && len <= limits.max_head_bytes);
    prop_assert!((100..=999).contains(&head.status()));
    let _ = (head.reason(), head.keep_alive(), head.is_event_stream());
    let _ = head.framing(Method::Head);
    let Ok(framing) = head.framing(Method::Get) else {
        return Ok(());
    };
    let mut out = Vec::new();
    write_response_head(&mut out, head.status(), head.headers(), framing);
    let again = parse_response(&out, &roomy());
    let Ok(Some((again, again_len))) = again else {
        return Err(TestCaseError::fail(format!(
            "re-serialised head does not parse: {again:?}\n{}",
            String::from_utf8_lossy(&out)
        )));
    };
    prop_assert_eq!(again_len, out.len());
    prop_assert_eq!(again.status(), head.status());
    prop_assert_eq!(again.framing(Method::Get).ok(), Some(framing));
    prop_assert_eq!(end_fields(&again), end_fields(&head));
    if head.minor_version() == 1 {
        prop_assert_eq!(again.keep_alive(), head.keep_alive());
    }
    Ok(())
}

/// Random limits, so the size and field-count checks see every boundary.
fn limits() -> impl Strategy<Value = Limits> {
    (1usize..4096, 0usize..200).prop_map(|(max_head_bytes, max_headers)| Limits {
        max_head_bytes,
        max_headers,
        ..Limits::default()
    })
}

#[test]
fn generated_request_heads_reserialise_to_the_same_head() {
    check("head_request_round_trip", 2000, request_bytes(), |buf| {
        request_round_trip(&buf, &Limits::default())
    });
}

#[test]
fn generated_response_heads_reserialise_to_the_same_head() {
    check("head_response_round_trip", 2000, response_bytes(), |buf| {
        response_round_trip(&buf, &Limits::default())
    });
}

#[test]
fn mutated_heads_never_panic_and_round_trip_when_they_parse() {
    let input = prop_oneof![request_bytes(), response_bytes()];
    check(
        "head_mutated",
        2000,
        (input, edits(6), limits()),
        |(buf, edits, limits)| {
            let buf = apply(buf, &edits);
            for limits in [Limits::default(), limits] {
                request_round_trip(&buf, &limits)?;
                response_round_trip(&buf, &limits)?;
            }
            Ok(())
        },
    );
}

#[test]
fn arbitrary_bytes_never_panic_the_head_parser() {
    let bytes = prop_oneof![
        prop::collection::vec(any::<u8>(), 0..512),
        // Mostly printable with line breaks: gets further into httparse than uniform bytes.
        prop::collection::vec(
            prop_oneof![8 => 0x20u8..0x7f, 1 => Just(b'\r'), 1 => Just(b'\n'), 1 => any::<u8>()],
            0..512
        ),
    ];
    check(
        "head_arbitrary",
        2000,
        (bytes, limits()),
        |(buf, limits)| {
            for limits in [Limits::default(), limits] {
                request_round_trip(&buf, &limits)?;
                response_round_trip(&buf, &limits)?;
            }
            Ok(())
        },
    );
}
