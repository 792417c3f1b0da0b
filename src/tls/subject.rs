//! A verified client certificate's names for its principal: the subject and the issuer as
//! RFC 4514 strings (`CN=alice,O=Example`), read with x509-parser once per connection, right
//! after the handshake.
//!
//! Not here: verifying the certificate (rustls did, in the handshake), the principal made of
//! the names (`Principal::certificate` in the session module), when it applies (proxy/peer.rs).

use std::fmt::Write as _;

use x509_parser::asn1_rs::ToDer;
use x509_parser::oid_registry::Oid;
use x509_parser::prelude::{FromDer, X509Certificate};
use x509_parser::x509::{AttributeTypeAndValue, X509Name};

/// Longest subject that makes a principal (the bound an access token's `sub` has): the
/// principal's spelling must fit the 255 bytes a sealed `requestState` carries.
pub const MAX_SUBJECT: usize = 200;

/// The names of a client certificate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertNames {
    /// The subject, RFC 4514 (last RDN first, special characters escaped).
    pub subject: String,
    /// The issuer, in the same form.
    pub issuer: String,
}

/// Why a client certificate names no principal.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SubjectError {
    /// Not a DER X.509 certificate x509-parser can read.
    #[error("the client certificate cannot be parsed")]
    Unparsable,
    /// The subject is an empty sequence (allowed when a SAN names the holder).
    #[error("the client certificate has an empty subject")]
    Empty,
    /// The subject is longer than [`MAX_SUBJECT`] in RFC 4514 form.
    #[error("the client certificate's subject is longer than {MAX_SUBJECT} bytes")]
    TooLong,
}

/// The subject and issuer of the DER certificate `der`.
///
/// # Errors
/// The certificate does not parse, its subject is empty or too long.
pub fn cert_names(der: &[u8]) -> Result<CertNames, SubjectError> {
    let (_, cert) = X509Certificate::from_der(der).map_err(|_| SubjectError::Unparsable)?;
    let subject = rfc4514(cert.subject());
    if subject.is_empty() {
        return Err(SubjectError::Empty);
    }
    if subject.len() > MAX_SUBJECT {
        return Err(SubjectError::TooLong);
    }
    Ok(CertNames {
        subject,
        issuer: rfc4514(cert.issuer()),
    })
}

/// `name` as RFC 4514 §2.1 writes it: RDNs last to first, separated by `,`; the attributes of
/// a multi-valued RDN joined by `+`.
fn rfc4514(name: &X509Name<'_>) -> String {
    let mut out = String::new();
    for (n, rdn) in name
        .iter_rdn()
        .collect::<Vec<_>>()
        .into_iter()
        .rev()
        .enumerate()
    {
        if n > 0 {
            out.push(',');
        }
        for (m, attr) in rdn.iter().enumerate() {
            if m > 0 {
                out.push('+');
            }
            attribute(&mut out, attr);
        }
    }
    out
}

/// One `type=value` (RFC 4514 §2.3, §2.4): a string value of a type with a short name is
/// escaped text; anything else is the dotted OID and `#` with the value's DER in hex.
fn attribute(out: &mut String, attr: &AttributeTypeAndValue<'_>) {
    let short = short_name(attr.attr_type());
    match (short, attr.as_str()) {
        (Some(short), Ok(text)) => {
            out.push_str(short);
            out.push('=');
            escape(out, text);
        }
        _ => {
            let _ = write!(out, "{}=#", attr.attr_type().to_id_string());
            // The value's whole DER encoding (tag and length too), as the RFC asks.
            for byte in attr.attr_value().to_der_vec().unwrap_or_default() {
                let _ = write!(out, "{byte:02x}");
            }
        }
    }
}

/// The short names RFC 4514 §3 lists (and `emailAddress` as OpenSSL writes it is left to the
/// dotted form, as the RFC says for types without one).
fn short_name(oid: &Oid<'_>) -> Option<&'static str> {
    const NAMES: [(&[u64], &str); 9] = [
        (&[2, 5, 4, 3], "CN"),
        (&[2, 5, 4, 7], "L"),
        (&[2, 5, 4, 8], "ST"),
        (&[2, 5, 4, 10], "O"),
        (&[2, 5, 4, 11], "OU"),
        (&[2, 5, 4, 6], "C"),
        (&[2, 5, 4, 9], "STREET"),
        (&[0, 9, 2342, 19200300, 100, 1, 25], "DC"),
        (&[0, 9, 2342, 19200300, 100, 1, 1], "UID"),
    ];
    let arcs: Vec<u64> = oid.iter()?.collect();
    NAMES
        .iter()
        .find(|(known, _)| *known == arcs.as_slice())
        .map(|(_, short)| *short)
}

/// `text` escaped per RFC 4514 §2.4: `"+,;<>\` anywhere, `#` or a space at the start, a space
/// at the end with a backslash; control characters (NUL among them) as `\XX` hex, so a name
/// prints on one log line.
fn escape(out: &mut String, text: &str) {
    let last = text.chars().count().saturating_sub(1);
    for (n, c) in text.chars().enumerate() {
        let special = matches!(c, '"' | '+' | ',' | ';' | '<' | '>' | '\\')
            || (n == 0 && matches!(c, '#' | ' '))
            || (n == last && c == ' ');
        if c.is_control() {
            let mut buf = [0u8; 4];
            for byte in c.encode_utf8(&mut buf).bytes() {
                let _ = write!(out, "\\{byte:02X}");
            }
        } else {
            if special {
                out.push('\\');
            }
            out.push(c);
        }
    }
}

#[cfg(test)]
#[path = "subject_tests.rs"]
mod tests;
