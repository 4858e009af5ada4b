//! Sprig's key and certificate generators as ESO vendors them (runtime/template/v2/sprig/crypto.go):
//! `genPrivateKey`, `genCA`, `genSelfSignedCert`, `genSignedCert`, their `WithKey` variants and
//! `buildCustomCert`. Certificates are what Go's templates build (`CN` only, serial < 2^128, `KeyEncipherment |
//! DigitalSignature` (+ `CertSign` for a CA), `ServerAuth, ClientAuth`, basic constraints), signed with the key's
//! usual algorithm (RSA SHA-256, ECDSA P-256 SHA-256 / P-384 SHA-384, Ed25519). Go returns a `certificate`
//! struct; ours is a map with the same fields, `Cert` and `Key` (PEM), which `genSignedCert` takes back as its CA.
//!
//! Errors never include key material.

use std::collections::BTreeMap;
use std::net::IpAddr;

use base64::Engine as _;
use rand::Rng as _;
use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair, KeyUsagePurpose,
    SanType, SerialNumber, SignatureAlgorithm,
};
use rsa::pkcs8::EncodePrivateKey as _;

use super::der::{OID_EC, OID_RSA, elements, seq, sequence, tlv};
use super::encoding::{PemBlock, pem_decode, pem_encode};
use super::{Call, FResult, FuncDef, FuncError, fail, fixed};
use crate::value::Value;

pub(crate) const FUNCS: &[FuncDef] = &[
    fixed("genPrivateKey", 1, gen_private_key),
    fixed("genCA", 2, gen_ca),
    fixed("genCAWithKey", 3, gen_ca_with_key),
    fixed("genSelfSignedCert", 4, gen_self_signed_cert),
    fixed("genSelfSignedCertWithKey", 5, gen_self_signed_cert_with_key),
    fixed("genSignedCert", 5, gen_signed_cert),
    fixed("genSignedCertWithKey", 6, gen_signed_cert_with_key),
    fixed("buildCustomCert", 2, build_custom_cert),
];

const OID_ED25519: &[u8] = &[0x2B, 0x65, 0x70];
const OID_P256: &[u8] = &[0x2A, 0x86, 0x48, 0xCE, 0x3D, 0x03, 0x01, 0x07];
const OID_P384: &[u8] = &[0x2B, 0x81, 0x04, 0x00, 0x22];

fn pem(kind: &str, der: Vec<u8>) -> Result<String, FuncError> {
    let mut out = String::new();
    pem_encode(&mut out, &PemBlock { kind: kind.to_owned(), headers: Vec::new(), bytes: der })?;
    Ok(out)
}

/// What a PKCS#8 `PrivateKeyInfo` holds: the algorithm OID, the curve OID (EC keys) and the inner key.
struct KeyParts {
    oid: Vec<u8>,
    curve: Option<Vec<u8>>,
    inner: Vec<u8>,
}

/// A private key as PKCS#8 DER with the signature algorithm Go would use for it.
struct Key {
    pkcs8: Vec<u8>,
    algorithm: &'static SignatureAlgorithm,
}

impl Key {
    /// The parts of a PKCS#8 DER.
    fn parts(pkcs8: &[u8]) -> Option<KeyParts> {
        let items = sequence(pkcs8)?;
        let algorithm = elements(items.get(1)?.1)?;
        let oid = algorithm.first()?.1.to_vec();
        let curve = algorithm.get(1).filter(|(tag, _)| *tag == 0x06).map(|(_, c)| c.to_vec());
        Some(KeyParts { oid, curve, inner: items.get(2)?.1.to_vec() })
    }

    fn from_pkcs8(pkcs8: Vec<u8>) -> Result<Key, FuncError> {
        let unsupported = || fail("unsupported private key type");
        let parts = Key::parts(&pkcs8).ok_or_else(unsupported)?;
        let algorithm = match (parts.oid.as_slice(), parts.curve.as_deref()) {
            (OID_RSA, _) => &rcgen::PKCS_RSA_SHA256,
            (OID_EC, Some(OID_P256)) => &rcgen::PKCS_ECDSA_P256_SHA256,
            (OID_EC, Some(OID_P384)) => &rcgen::PKCS_ECDSA_P384_SHA384,
            (OID_ED25519, _) => &rcgen::PKCS_ED25519,
            _ => return Err(unsupported()),
        };
        Ok(Key { pkcs8, algorithm })
    }

    fn key_pair(&self) -> Result<KeyPair, FuncError> {
        KeyPair::from_pkcs8_der_and_sign_algo(&self.pkcs8.as_slice().into(), self.algorithm)
            .map_err(|_| fail("unsupported private key"))
    }

    /// Sprig's `pemBlockForKey`: RSA as PKCS#1 `RSA PRIVATE KEY`, ECDSA as SEC1 `EC PRIVATE KEY` (with its named
    /// curve), anything else as PKCS#8 `PRIVATE KEY`.
    fn pem(&self) -> Result<String, FuncError> {
        let parts = Key::parts(&self.pkcs8).ok_or_else(|| fail("unsupported private key type"))?;
        match parts {
            KeyParts { oid, inner, .. } if oid == OID_RSA => pem("RSA PRIVATE KEY", inner),
            KeyParts { oid, curve: Some(curve), inner } if oid == OID_EC => {
                let items = sequence(&inner).ok_or_else(|| fail("unsupported private key type"))?;
                let mut fields: Vec<Vec<u8>> = Vec::new();
                for (i, (tag, content)) in items.iter().enumerate() {
                    if *tag == 0xA0 {
                        continue;
                    }
                    if i == 2 || (*tag == 0xA1 && fields.len() == 2) {
                        fields.push(tlv(0xA0, &tlv(0x06, &curve)));
                    }
                    fields.push(tlv(*tag, content));
                }
                if fields.len() == 2 {
                    fields.push(tlv(0xA0, &tlv(0x06, &curve)));
                }
                let refs: Vec<&[u8]> = fields.iter().map(Vec::as_slice).collect();
                pem("EC PRIVATE KEY", seq(&refs))
            }
            _ => pem("PRIVATE KEY", self.pkcs8.clone()),
        }
    }
}

/// A new RSA key of `bits`, as Go's `rsa.GenerateKey`.
fn rsa_key(bits: usize) -> Result<Key, FuncError> {
    let key = rsa::PrivateKey::new(&mut getrandom::SysRng, bits).map_err(|_| fail("error generating rsa key"))?;
    let der = key.to_pkcs8_der().map_err(|_| fail("error generating rsa key"))?;
    Key::from_pkcs8(der.as_bytes().to_vec())
}

/// Sprig's `parsePrivateKeyPEM`: `PRIVATE KEY` (PKCS#8), `RSA PRIVATE KEY`, `EC PRIVATE KEY`.
fn parse_key_pem(text: &str) -> Result<Key, FuncError> {
    let (Some(block), _) = pem_decode(text) else {
        return Err(fail("parsing private key: no PEM data in input"));
    };
    if block.kind != "PRIVATE KEY" && !block.kind.ends_with(" PRIVATE KEY") {
        return Err(fail("parsing private key: no private key data in PEM block"));
    }
    let pkcs8 = super::keystore::private_key_pkcs8(text).map_err(|_| fail("parsing private key: invalid key"))?;
    Key::from_pkcs8(pkcs8)
}

/// `genPrivateKey rsa|ecdsa|ed25519`: a new key as PEM. RSA keys have 4096 bits, ECDSA keys use P-256. Sprig's
/// `dsa` is not supported; like an unknown type, it gives an error text as the result.
fn gen_private_key(c: &mut Call<'_>) -> FResult {
    let kind = c.str(0)?.into_owned();
    let key = match kind.as_str() {
        "" | "rsa" => rsa_key(4096)?,
        "ecdsa" | "ed25519" => {
            let alg = if kind == "ecdsa" { &rcgen::PKCS_ECDSA_P256_SHA256 } else { &rcgen::PKCS_ED25519 };
            let pair = KeyPair::generate_for(alg).map_err(|_| fail("failed to generate private key"))?;
            Key::from_pkcs8(pair.serialize_der())?
        }
        "dsa" => return Ok(Value::from("failed to generate private key: dsa is not supported")),
        other => return Ok(Value::from(format!("Unknown type {other}"))),
    };
    Ok(Value::from(key.pem()?))
}

/// Sprig's `getBaseCertTemplate`.
fn base_params(cn: &str, ips: &Value, dns: &Value, days: i64) -> Result<CertificateParams, FuncError> {
    let mut params = CertificateParams::default();
    params.distinguished_name = rcgen::DistinguishedName::new();
    params.distinguished_name.push(DnType::CommonName, cn);
    let items = |v: &Value, what: &str| -> Result<Vec<String>, FuncError> {
        match v {
            Value::Nil => Ok(Vec::new()),
            Value::List(l) => l
                .iter()
                .map(|i| {
                    i.as_str().map(str::to_owned).ok_or_else(|| fail(format!("error parsing {what}: not a string")))
                })
                .collect(),
            other => Err(FuncError::WrongType { expected: "[]interface {}", got: other.type_name() }),
        }
    };
    for ip in items(ips, "ip")? {
        let addr: IpAddr = ip.parse().map_err(|_| fail("error parsing ip"))?;
        params.subject_alt_names.push(SanType::IpAddress(addr));
    }
    for name in items(dns, "alternate dns name")? {
        let name = name.try_into().map_err(|_| fail("error processing alternate dns name"))?;
        params.subject_alt_names.push(SanType::DnsName(name));
    }
    let mut serial: [u8; 16] = rand::rng().random();
    serial[0] &= 0x7f;
    params.serial_number = Some(SerialNumber::from_slice(&serial));
    let now = jiff::Timestamp::now().as_second();
    let at = |secs: i64| time::OffsetDateTime::from_unix_timestamp(secs).map_err(|_| fail("validity out of range"));
    params.not_before = at(now)?;
    params.not_after = at(now.saturating_add(days.saturating_mul(86_400)))?;
    params.key_usages = vec![KeyUsagePurpose::KeyEncipherment, KeyUsagePurpose::DigitalSignature];
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth, ExtendedKeyUsagePurpose::ClientAuth];
    params.is_ca = IsCa::ExplicitNoCa;
    Ok(params)
}

/// The `certificate` value: `Cert` and `Key` PEM.
fn certificate(cert: String, key: String) -> Value {
    Value::map(BTreeMap::from([("Cert".to_owned(), Value::from(cert)), ("Key".to_owned(), Value::from(key))]))
}

fn self_signed(params: CertificateParams, key: &Key) -> FResult {
    let pair = key.key_pair()?;
    let cert = params.self_signed(&pair).map_err(|_| fail("error creating certificate"))?;
    Ok(certificate(cert.pem(), key.pem()?))
}

fn ca_with(c: &Call<'_>, key: &Key) -> FResult {
    let mut params = base_params(&c.str(0)?, &Value::Nil, &Value::Nil, c.int(1)?)?;
    params.key_usages.push(KeyUsagePurpose::KeyCertSign);
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    self_signed(params, key)
}

/// `genCA cn days`: a self-signed CA with a new RSA-2048 key.
fn gen_ca(c: &mut Call<'_>) -> FResult {
    ca_with(c, &rsa_key(2048)?)
}

/// `genCAWithKey cn days key`.
fn gen_ca_with_key(c: &mut Call<'_>) -> FResult {
    ca_with(c, &parse_key_pem(&c.str(2)?)?)
}

fn self_signed_with(c: &Call<'_>, key: &Key) -> FResult {
    self_signed(base_params(&c.str(0)?, c.value(1), c.value(2), c.int(3)?)?, key)
}

/// `genSelfSignedCert cn ips dnsNames days`.
fn gen_self_signed_cert(c: &mut Call<'_>) -> FResult {
    self_signed_with(c, &rsa_key(2048)?)
}

/// `genSelfSignedCertWithKey cn ips dnsNames days key`.
fn gen_self_signed_cert_with_key(c: &mut Call<'_>) -> FResult {
    self_signed_with(c, &parse_key_pem(&c.str(4)?)?)
}

/// The `Cert` and `Key` of a `certificate` value.
fn ca_parts(v: &Value) -> Result<(String, String), FuncError> {
    let Value::Map(m) = v else {
        return Err(FuncError::WrongType { expected: "sprig.certificate", got: v.type_name() });
    };
    let m = m.borrow();
    let field = |name: &str| m.entries.get(name).and_then(Value::as_str).map(str::to_owned).unwrap_or_default();
    Ok((field("Cert"), field("Key")))
}

fn signed_with(c: &Call<'_>, key: &Key) -> FResult {
    let (ca_cert, ca_key) = ca_parts(c.value(4))?;
    let (Some(block), _) = pem_decode(&ca_cert) else {
        return Err(fail("unable to decode certificate"));
    };
    let signer = parse_key_pem(&ca_key).map_err(|_| fail("error parsing private key"))?;
    let signer_pair = signer.key_pair()?;
    let issuer =
        Issuer::from_ca_cert_der(&block.bytes.into(), signer_pair).map_err(|_| fail("error parsing certificate"))?;
    let mut params = base_params(&c.str(0)?, c.value(1), c.value(2), c.int(3)?)?;
    params.use_authority_key_identifier_extension = true;
    let pair = key.key_pair()?;
    let cert = params.signed_by(&pair, &issuer).map_err(|_| fail("error creating certificate"))?;
    Ok(certificate(cert.pem(), key.pem()?))
}

/// `genSignedCert cn ips dnsNames days ca`: a certificate with a new RSA-2048 key, signed by `ca` (a value from
/// `genCA` or `buildCustomCert`).
fn gen_signed_cert(c: &mut Call<'_>) -> FResult {
    signed_with(c, &rsa_key(2048)?)
}

/// `genSignedCertWithKey cn ips dnsNames days ca key`.
fn gen_signed_cert_with_key(c: &mut Call<'_>) -> FResult {
    signed_with(c, &parse_key_pem(&c.str(5)?)?)
}

/// `buildCustomCert b64cert b64key`: a `certificate` value from a base64 PEM certificate and key, both checked.
fn build_custom_cert(c: &mut Call<'_>) -> FResult {
    let decode = |i: usize, what: &str| {
        base64::engine::general_purpose::STANDARD
            .decode(c.bytes(i)?)
            .map_err(|_| fail(format!("unable to decode base64 {what}")))
    };
    let cert = decode(0, "certificate")?;
    let key = decode(1, "private key")?;
    let (cert, key) = (String::from_utf8_lossy(&cert).into_owned(), String::from_utf8_lossy(&key).into_owned());
    let (Some(block), _) = pem_decode(&cert) else {
        return Err(fail("unable to decode certificate"));
    };
    x509_parser::parse_x509_certificate(&block.bytes).map_err(|_| fail("error parsing certificate"))?;
    parse_key_pem(&key).map_err(|_| fail("error parsing private key"))?;
    Ok(certificate(cert, key))
}
