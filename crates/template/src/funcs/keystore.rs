//! ESO's PKCS#12 writers: `pemToPkcs12`, `fullPemToPkcs12`, `pemTruststoreToPKCS12` and their `Pass` variants.
//! Each returns the bundle base64-encoded, as ESO does, encrypted as go-pkcs12's `Modern` encoder does
//! (PBES2 AES-256-CBC with PBKDF2-HMAC-SHA-256, HMAC-SHA-256 MAC, 2048 iterations, random salts).
//!
//! Errors never include key or certificate material.

use base64::Engine as _;
use p12_keystore::{Certificate, KeyStore, KeyStoreEntry, PrivateKey, PrivateKeyChain};
use sha1::Digest as _;

use super::der::{OID_EC, OID_RSA, elements, seq, sequence, tlv, uint};
use super::encoding::pem_decode;
use super::{Call, FResult, FuncDef, FuncError, fail, fixed};
use crate::value::Value;

pub(crate) const FUNCS: &[FuncDef] = &[
    fixed("pemToPkcs12", 2, pem_to_pkcs12),
    fixed("pemToPkcs12Pass", 3, pem_to_pkcs12_pass),
    fixed("fullPemToPkcs12", 2, full_pem_to_pkcs12),
    fixed("fullPemToPkcs12Pass", 3, full_pem_to_pkcs12_pass),
    fixed("pemTruststoreToPKCS12", 1, pem_truststore_to_pkcs12),
    fixed("pemTruststoreToPKCS12Pass", 2, pem_truststore_to_pkcs12_pass),
];

/// go-pkcs12's `Modern` (2023) iteration counts.
const ITERATIONS: u32 = 2048;

/// The first PEM block of `text` (of any type, as ESO takes it) and the text after it. No block is an error
/// (ESO dereferences the missing block, which the template engine reports as an error).
fn first_block<'a>(text: &'a str, what: &str) -> Result<(Vec<u8>, &'a str), FuncError> {
    match pem_decode(text) {
        (Some(block), rest) => Ok((block.bytes, rest)),
        (None, _) => Err(fail(format!("no PEM data found in the {what}"))),
    }
}

/// A certificate's DER, checked to parse as X.509 (Go's `x509.ParseCertificate`).
fn certificate(der: Vec<u8>) -> Result<Certificate, FuncError> {
    Certificate::from_der(&der).map_err(|_| fail("unable to parse certificate"))
}

/// ESO's `parseCaCerts`: every PEM block of the text, to its very end, must be a certificate. Text left after the
/// last block (even a blank line) is an error, as in ESO.
fn ca_certificates(mut text: &str) -> Result<Vec<Certificate>, FuncError> {
    let mut out = Vec::new();
    while !text.is_empty() {
        let (der, rest) = first_block(text, "CA certificates")?;
        out.push(certificate(der)?);
        text = rest;
    }
    Ok(out)
}

/// ESO's `parsePrivateKey`: a PKCS#1 RSA, PKCS#8 or SEC1 EC private key (the first PEM block of `text`), as
/// PKCS#8 DER.
pub(super) fn private_key_pkcs8(text: &str) -> Result<Vec<u8>, FuncError> {
    let (der, _) = first_block(text, "private key")?;
    let unsupported = || fail("unable to parse private key type");
    let items = sequence(&der).ok_or_else(unsupported)?;
    let is_int = |i: usize| items.get(i).is_some_and(|(tag, _)| *tag == 0x02);
    // PKCS#1: version 0 and the eight RSA integers.
    if items.len() == 9 && (0..9).all(is_int) && items[0].1 == [0] {
        return Ok(seq(&[&uint(&[0]), &seq(&[&tlv(0x06, OID_RSA), &[0x05, 0x00]]), &tlv(0x04, &der)]));
    }
    // PKCS#8: version, algorithm, key.
    if items.len() >= 3 && is_int(0) && items[1].0 == 0x30 && items[2].0 == 0x04 {
        return Ok(der);
    }
    // SEC1: version 1, the private key, the named curve [0], the public key [1]. Go's PKCS#8 form moves the curve
    // into the algorithm identifier.
    if items.len() >= 2 && is_int(0) && items[0].1 == [1] && items[1].0 == 0x04 {
        let curve = items.iter().find(|(tag, _)| *tag == 0xA0).and_then(|(_, c)| elements(c)?.into_iter().next());
        let Some((0x06, curve)) = curve else { return Err(unsupported()) };
        let mut inner = vec![uint(&[1]), tlv(0x04, items[1].1)];
        if let Some((_, public)) = items.iter().find(|(tag, _)| *tag == 0xA1) {
            inner.push(tlv(0xA1, public));
        }
        let inner: Vec<&[u8]> = inner.iter().map(Vec::as_slice).collect();
        let algorithm = seq(&[&tlv(0x06, OID_EC), &tlv(0x06, curve)]);
        return Ok(seq(&[&uint(&[0]), &algorithm, &tlv(0x04, &seq(&inner))]));
    }
    Err(unsupported())
}

/// Writes the key store as go-pkcs12's `Modern` encoder would and returns it base64-encoded.
fn encode(c: &Call<'_>, store: &KeyStore, password: &str) -> FResult {
    let pfx = store
        .writer(password)
        .encryption_iterations(ITERATIONS)
        .mac_iterations(ITERATIONS)
        .write()
        .map_err(|_| fail("unable to encode pkcs12"))?;
    c.check_len(pfx.len() / 3 * 4 + 4)?;
    Ok(Value::from(base64::engine::general_purpose::STANDARD.encode(pfx)))
}

/// ESO's `certsKeyToPkcs12`: the key, its certificate and the CA certificates in one bundle. The leaf carries the
/// `localKeyId` (the SHA-1 of its DER) that ties it to the key, as go-pkcs12 writes it.
fn key_bundle(c: &Call<'_>, cert: Certificate, cas: Vec<Certificate>, key: &str, password: &str) -> FResult {
    let key = PrivateKey::from_der(&private_key_pkcs8(key)?).map_err(|_| fail("unable to parse private key type"))?;
    let key_id = sha1::Sha1::digest(cert.as_der()).to_vec();
    let chain = PrivateKeyChain::new(key_id, key, std::iter::once(cert).chain(cas));
    let mut store = KeyStore::new();
    store.add_entry("1", KeyStoreEntry::PrivateKeyChain(chain));
    encode(c, &store, password)
}

/// `pemToPkcs12Pass cert key pass`: the first certificate of `cert` and the key.
fn pem_to_pkcs12_with(c: &Call<'_>, password: &str) -> FResult {
    let (der, _) = first_block(&c.str(0)?, "certificate")?;
    key_bundle(c, certificate(der)?, Vec::new(), &c.str(1)?, password)
}

fn pem_to_pkcs12(c: &mut Call<'_>) -> FResult {
    pem_to_pkcs12_with(c, "")
}

fn pem_to_pkcs12_pass(c: &mut Call<'_>) -> FResult {
    pem_to_pkcs12_with(c, &c.str(2)?)
}

/// `fullPemToPkcs12Pass cert key pass`: the first certificate of `cert`, the key, and every further certificate
/// of `cert` as CA certificates.
fn full_pem_to_pkcs12_with(c: &Call<'_>, password: &str) -> FResult {
    let text = c.str(0)?;
    let (der, rest) = first_block(&text, "certificate")?;
    let cert = certificate(der)?;
    key_bundle(c, cert, ca_certificates(rest)?, &c.str(1)?, password)
}

fn full_pem_to_pkcs12(c: &mut Call<'_>) -> FResult {
    full_pem_to_pkcs12_with(c, "")
}

fn full_pem_to_pkcs12_pass(c: &mut Call<'_>) -> FResult {
    full_pem_to_pkcs12_with(c, &c.str(2)?)
}

/// `pemTruststoreToPKCS12Pass certs pass`: every certificate as a trusted certificate entry (Java's trust store
/// attribute), named after its subject as go-pkcs12's `EncodeTrustStore` does.
fn truststore_with(c: &Call<'_>, password: &str) -> FResult {
    let mut store = KeyStore::new();
    for (i, cert) in ca_certificates(&c.str(0)?)?.into_iter().enumerate() {
        let mut alias = cert.subject().to_owned();
        if store.entry(&alias).is_some() {
            alias = format!("{alias} ({i})");
        }
        store.add_entry(&alias, KeyStoreEntry::Certificate(cert));
    }
    encode(c, &store, password)
}

fn pem_truststore_to_pkcs12(c: &mut Call<'_>) -> FResult {
    truststore_with(c, "")
}

fn pem_truststore_to_pkcs12_pass(c: &mut Call<'_>) -> FResult {
    truststore_with(c, &c.str(1)?)
}
