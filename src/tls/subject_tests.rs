//! RFC 4514 names of certificates rcgen makes: order, escapes, types without a short name,
//! and the subjects that name no principal.

#![allow(clippy::unwrap_used, reason = "a test fails by panicking")]

use rcgen::{CertificateParams, DistinguishedName, DnType, DnValue, KeyPair};

use super::{cert_names, CertNames, SubjectError, MAX_SUBJECT};

/// A self-signed certificate with the subject `parts` (in DER order, first RDN first).
fn self_signed(parts: &[(DnType, &str)]) -> Vec<u8> {
    let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
    let mut dn = DistinguishedName::new();
    for (kind, value) in parts {
        dn.push(kind.clone(), DnValue::Utf8String((*value).to_owned()));
    }
    params.distinguished_name = dn;
    let key = KeyPair::generate().unwrap();
    params.self_signed(&key).unwrap().der().to_vec()
}

#[test]
fn the_subject_is_written_last_rdn_first() {
    let der = self_signed(&[
        (DnType::CountryName, "DE"),
        (DnType::OrganizationName, "Example"),
        (DnType::CommonName, "alice"),
    ]);
    let names = cert_names(&der).unwrap();
    assert_eq!(
        names,
        CertNames {
            subject: "CN=alice,O=Example,C=DE".into(),
            issuer: "CN=alice,O=Example,C=DE".into(),
        }
    );
}

#[test]
fn special_characters_are_escaped() {
    let der = self_signed(&[(DnType::CommonName, "#a,b+c\"d\\e;<f> ")]);
    let names = cert_names(&der).unwrap();
    assert_eq!(names.subject, r#"CN=\#a\,b\+c\"d\\e\;\<f\>\ "#);
    let der = self_signed(&[(DnType::CommonName, " x\ny")]);
    assert_eq!(cert_names(&der).unwrap().subject, r"CN=\ x\0Ay");
}

#[test]
fn a_type_without_a_short_name_is_its_oid_and_der_in_hex() {
    let der = self_signed(&[
        (DnType::CustomDnType(vec![1, 2, 3, 4]), "abc"),
        (DnType::CommonName, "bob"),
    ]);
    assert_eq!(
        cert_names(&der).unwrap().subject,
        "CN=bob,1.2.3.4=#0c03616263"
    );
}

#[test]
fn empty_long_and_broken_subjects_name_no_principal() {
    assert_eq!(cert_names(&self_signed(&[])), Err(SubjectError::Empty));
    let long = "x".repeat(MAX_SUBJECT);
    let der = self_signed(&[(DnType::CommonName, &long)]);
    assert_eq!(cert_names(&der), Err(SubjectError::TooLong));
    assert_eq!(
        cert_names(b"not a certificate"),
        Err(SubjectError::Unparsable)
    );
}
