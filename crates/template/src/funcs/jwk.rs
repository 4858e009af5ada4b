//! ESO's `jwkPublicKeyPem` and `jwkPrivateKeyPem`: a JSON Web Key as a PKIX public key PEM (`PUBLIC KEY`) or a
//! PKCS#8 private key PEM (`PRIVATE KEY`), encoded as Go's `x509.MarshalPKIXPublicKey` and
//! `x509.MarshalPKCS8PrivateKey` do. Keys are re-encoded, not validated (Go's JWK parser checks EC points are on
//! the curve). Errors never include key material.

use base64::Engine as _;

use super::der::{OID_EC, OID_RSA, bit_string, seq, tlv, uint};
use super::encoding::{PemBlock, pem_encode};
use super::{Call, FResult, FuncDef, FuncError, fail, fixed};
use crate::value::Value;

pub(crate) const FUNCS: &[FuncDef] =
    &[fixed("jwkPublicKeyPem", 1, jwk_public_key_pem), fixed("jwkPrivateKeyPem", 1, jwk_private_key_pem)];

const OID_ED25519: &[u8] = &[0x2B, 0x65, 0x70];
const OID_X25519: &[u8] = &[0x2B, 0x65, 0x6E];

/// The parsed JWK object.
struct Jwk(serde_json::Map<String, serde_json::Value>);

impl Jwk {
    fn parse(input: &str) -> Result<Self, FuncError> {
        match serde_json::from_str::<serde_json::Value>(input) {
            Ok(serde_json::Value::Object(map)) => Ok(Jwk(map)),
            _ => Err(fail("failed to parse JWK: not a JSON object")),
        }
    }

    fn text(&self, name: &str) -> Result<&str, FuncError> {
        self.0
            .get(name)
            .and_then(serde_json::Value::as_str)
            .ok_or_else(|| fail(format!("invalid JWK: missing {name:?}")))
    }

    fn has(&self, name: &str) -> bool {
        self.0.contains_key(name)
    }

    /// A base64url member (padding tolerated), left-padded with zeros to `size` bytes when given.
    fn bytes(&self, name: &str, size: Option<usize>) -> Result<Vec<u8>, FuncError> {
        let text = self.text(name)?.trim_end_matches('=');
        let raw = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(text)
            .map_err(|_| fail(format!("invalid JWK: {name:?} is not base64url")))?;
        match size {
            Some(size) if raw.len() > size => Err(fail(format!("invalid JWK: {name:?} is too long for the curve"))),
            Some(size) => Ok([vec![0u8; size - raw.len()], raw].concat()),
            None => Ok(raw),
        }
    }

    /// For EC keys: the curve OID and the field size in bytes.
    fn curve(&self) -> Result<(&'static [u8], usize), FuncError> {
        match self.text("crv")? {
            "P-256" => Ok((&[0x2A, 0x86, 0x48, 0xCE, 0x3D, 0x03, 0x01, 0x07], 32)),
            "P-384" => Ok((&[0x2B, 0x81, 0x04, 0x00, 0x22], 48)),
            "P-521" => Ok((&[0x2B, 0x81, 0x04, 0x00, 0x23], 66)),
            _ => Err(fail("unsupported JWK curve")),
        }
    }

    /// For OKP keys: the algorithm OID and key size.
    fn okp(&self) -> Result<(&'static [u8], usize), FuncError> {
        match self.text("crv")? {
            "Ed25519" => Ok((OID_ED25519, 32)),
            "X25519" => Ok((OID_X25519, 32)),
            _ => Err(fail("unsupported JWK curve")),
        }
    }

    /// The PKIX `SubjectPublicKeyInfo` DER.
    fn public_der(&self) -> Result<Vec<u8>, FuncError> {
        match self.text("kty")? {
            "RSA" => {
                let rsa = seq(&[&uint(&self.bytes("n", None)?), &uint(&self.bytes("e", None)?)]);
                Ok(seq(&[&seq(&[&tlv(0x06, OID_RSA), &[0x05, 0x00]]), &bit_string(&rsa)]))
            }
            "EC" => {
                let (curve, size) = self.curve()?;
                let point = [&[0x04u8][..], &self.bytes("x", Some(size))?, &self.bytes("y", Some(size))?].concat();
                Ok(seq(&[&seq(&[&tlv(0x06, OID_EC), &tlv(0x06, curve)]), &bit_string(&point)]))
            }
            "OKP" => {
                let (oid, size) = self.okp()?;
                let x = self.bytes("x", None)?;
                if x.len() != size {
                    return Err(fail("invalid JWK: wrong key size"));
                }
                Ok(seq(&[&seq(&[&tlv(0x06, oid)]), &bit_string(&x)]))
            }
            _ => Err(fail("unsupported JWK key type")),
        }
    }

    /// The PKCS#8 `PrivateKeyInfo` DER.
    fn private_der(&self) -> Result<Vec<u8>, FuncError> {
        if !self.has("d") {
            return Err(fail("invalid JWK: not a private key"));
        }
        let version = uint(&[0]);
        match self.text("kty")? {
            "RSA" => {
                let mut parts = vec![uint(&[0])];
                for name in ["n", "e", "d", "p", "q", "dp", "dq", "qi"] {
                    parts.push(uint(&self.bytes(name, None)?));
                }
                let refs: Vec<&[u8]> = parts.iter().map(Vec::as_slice).collect();
                let algorithm = seq(&[&tlv(0x06, OID_RSA), &[0x05, 0x00]]);
                Ok(seq(&[&version, &algorithm, &tlv(0x04, &seq(&refs))]))
            }
            "EC" => {
                let (curve, size) = self.curve()?;
                let point = [&[0x04u8][..], &self.bytes("x", Some(size))?, &self.bytes("y", Some(size))?].concat();
                let ec =
                    seq(&[&uint(&[1]), &tlv(0x04, &self.bytes("d", Some(size))?), &tlv(0xA1, &bit_string(&point))]);
                let algorithm = seq(&[&tlv(0x06, OID_EC), &tlv(0x06, curve)]);
                Ok(seq(&[&version, &algorithm, &tlv(0x04, &ec)]))
            }
            "OKP" => {
                let (oid, size) = self.okp()?;
                let d = self.bytes("d", None)?;
                if d.len() != size {
                    return Err(fail("invalid JWK: wrong key size"));
                }
                Ok(seq(&[&version, &seq(&[&tlv(0x06, oid)]), &tlv(0x04, &tlv(0x04, &d))]))
            }
            _ => Err(fail("unsupported JWK key type")),
        }
    }
}

fn pem(kind: &str, der: Vec<u8>) -> FResult {
    let mut out = String::new();
    pem_encode(&mut out, &PemBlock { kind: kind.to_owned(), headers: Vec::new(), bytes: der })?;
    Ok(Value::from(out))
}

/// `jwkPublicKeyPem json`: the public key of a JWK (RSA, EC P-256/384/521, OKP Ed25519/X25519) as `PUBLIC KEY`.
fn jwk_public_key_pem(c: &mut Call<'_>) -> FResult {
    let jwk = Jwk::parse(&c.str(0)?)?;
    pem("PUBLIC KEY", jwk.public_der()?)
}

/// `jwkPrivateKeyPem json`: the private key of a JWK as PKCS#8 `PRIVATE KEY`. RSA keys need their CRT members
/// (`p`, `q`, `dp`, `dq`, `qi`).
fn jwk_private_key_pem(c: &mut Call<'_>) -> FResult {
    let jwk = Jwk::parse(&c.str(0)?)?;
    pem("PRIVATE KEY", jwk.private_der()?)
}
