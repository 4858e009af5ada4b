//! ESO's certificate functions: PKCS#12 decoding (`pkcs12key`, `pkcs12cert` and their `Pass` variants),
//! `filterCertChain` and `certSANs`.
//!
//! Errors never include key or certificate material.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use p12_keystore::Pkcs12Archive;
use x509_parser::prelude::{FromDer as _, GeneralName, X509Certificate};

use super::encoding::{PemBlock, pem_decode, pem_encode};
use super::{Call, FResult, FuncDef, FuncError, fail, fixed, string_list};
use crate::value::Value;

pub(crate) const FUNCS: &[FuncDef] = &[
    fixed("pkcs12key", 1, pkcs12key),
    fixed("pkcs12keyPass", 2, pkcs12key_pass),
    fixed("pkcs12cert", 1, pkcs12cert),
    fixed("pkcs12certPass", 2, pkcs12cert_pass),
    fixed("filterCertChain", 2, filter_cert_chain),
    fixed("certSANs", 1, cert_sans),
];

/// Decodes a PKCS#12 bundle; the error says why without echoing any of its content.
fn decode_pkcs12(data: &[u8], password: &str) -> Result<Pkcs12Archive, FuncError> {
    use p12_keystore::error::Error as E;
    Pkcs12Archive::from_pkcs12(data, password).map_err(|e| {
        let why = match e {
            E::MacError(_) | E::UnpadError | E::InvalidPrivateKey | E::Pkcs5Error(_) => "decryption password incorrect",
            E::UnsupportedEncryptionScheme => "unsupported encryption scheme",
            E::UnsupportedMacAlgorithm => "unsupported MAC algorithm",
            _ => "not a PKCS#12 bundle, or a corrupt one",
        };
        fail(format!("unable to decode pkcs12: {why}"))
    })
}

/// The PEM encoding of DER blocks of one type, as Go's `pem.Encode`.
fn pem_all<'a>(kind: &str, ders: impl IntoIterator<Item = &'a [u8]>) -> Result<String, FuncError> {
    let mut out = String::new();
    for der in ders {
        pem_encode(&mut out, &PemBlock { kind: kind.to_owned(), headers: Vec::new(), bytes: der.to_vec() })?;
    }
    Ok(out)
}

fn pkcs12key(c: &mut Call<'_>) -> FResult {
    keys_pem(c, "", c.bytes(0)?)
}

fn pkcs12key_pass(c: &mut Call<'_>) -> FResult {
    let password = c.str(0)?;
    let password: &str = &password;
    keys_pem(c, password, c.bytes(1)?)
}

/// ESO's `pkcs12key`: the private key(s) of the bundle as PKCS#8 PEM (`PRIVATE KEY`).
fn keys_pem(c: &Call<'_>, password: &str, input: &[u8]) -> FResult {
    let archive = decode_pkcs12(input, password)?;
    if archive.keys.is_empty() {
        return Err(fail("unable to decode pkcs12: the bundle holds no private key"));
    }
    let out = pem_all("PRIVATE KEY", archive.keys.iter().map(|k| k.key.as_der()))?;
    c.check_len(out.len())?;
    Ok(Value::from(out))
}

fn pkcs12cert(c: &mut Call<'_>) -> FResult {
    certs_pem(c, "", c.bytes(0)?)
}

fn pkcs12cert_pass(c: &mut Call<'_>) -> FResult {
    let password = c.str(0)?;
    let password: &str = &password;
    certs_pem(c, password, c.bytes(1)?)
}

/// ESO's `pkcs12cert`: every certificate of the bundle as PEM, leaf → intermediates → root when the chain can be
/// ordered by issuer and subject, otherwise the key's certificate first and the others in bundle order.
fn certs_pem(c: &Call<'_>, password: &str, input: &[u8]) -> FResult {
    let archive = decode_pkcs12(input, password)?;
    // The certificates that belong to a key come first, as Go's `DecodeChain` returns them.
    let key_ids: Vec<&[u8]> =
        archive.keys.iter().filter_map(|k| k.local_key_id.as_ref().map(|i| i.0.as_slice())).collect();
    let mut ders: Vec<&[u8]> = Vec::new();
    for bag in &archive.certs {
        let is_key_cert = bag.local_key_id.as_deref().is_some_and(|id| key_ids.contains(&id));
        let der = bag.cert.as_der();
        if ders.contains(&der) {
            continue;
        }
        if is_key_cert { ders.insert(0, der) } else { ders.push(der) }
    }
    if ders.is_empty() {
        return Err(fail("unable to decode pkcs12: the bundle holds no certificate"));
    }
    let ordered = order_chain(&ders)?;
    let out = pem_all("CERTIFICATE", ordered)?;
    c.check_len(out.len())?;
    Ok(Value::from(out))
}

/// One parsed certificate with its DER.
struct Parsed<'a> {
    der: &'a [u8],
    subject: Vec<u8>,
    issuer: Vec<u8>,
}

fn parse_cert(der: &[u8]) -> Result<(Parsed<'_>, X509Certificate<'_>), FuncError> {
    let (_, cert) = X509Certificate::from_der(der).map_err(|_| fail("unable to parse certificate"))?;
    let parsed = Parsed { der, subject: cert.subject().as_raw().to_vec(), issuer: cert.issuer().as_raw().to_vec() };
    Ok((parsed, cert))
}

/// Orders certificates leaf → root by issuer and subject. When they do not form a single chain (no unique leaf,
/// or a certificate left out), the input order is kept.
fn order_chain<'a>(ders: &[&'a [u8]]) -> Result<Vec<&'a [u8]>, FuncError> {
    let certs: Vec<Parsed<'a>> = ders.iter().map(|d| parse_cert(d).map(|(p, _)| p)).collect::<Result<_, _>>()?;
    let issued_by =
        |child: &Parsed<'_>, parent: &Parsed<'_>| child.issuer == parent.subject && child.subject != parent.subject;
    // A leaf issues none of the others.
    let leaves: Vec<usize> = (0..certs.len())
        .filter(|&i| !certs.iter().enumerate().any(|(j, other)| j != i && issued_by(other, &certs[i])))
        .collect();
    if let [leaf] = leaves[..] {
        let mut order = vec![leaf];
        let mut current = leaf;
        while let Some(next) = (0..certs.len()).find(|&j| !order.contains(&j) && issued_by(&certs[current], &certs[j]))
        {
            order.push(next);
            current = next;
        }
        if order.len() == certs.len() {
            return Ok(order.into_iter().map(|i| certs[i].der).collect());
        }
    }
    Ok(ders.to_vec())
}

/// The DER of every `CERTIFICATE` block of a PEM text.
fn pem_certificates(input: &str) -> Vec<Vec<u8>> {
    let mut data = input;
    let mut out = Vec::new();
    loop {
        let (block, rest) = pem_decode(data);
        data = rest;
        let Some(block) = block else { break };
        if block.kind == "CERTIFICATE" {
            out.push(block.bytes);
        }
    }
    out
}

/// ESO's `filterCertChain leaf|intermediate|root input`: the certificates at that position of the chain (ordered
/// leaf → root as `pkcs12cert` does), as PEM. The root is the last certificate when it is self-issued; the leaf
/// is the first; intermediates are those in between.
fn filter_cert_chain(c: &mut Call<'_>) -> FResult {
    let which = c.str(0)?;
    let which: &str = &which;
    let input = c.str(1)?;
    let input: &str = &input;
    let ders = pem_certificates(input);
    if ders.is_empty() {
        return Err(fail("no certificates found in input"));
    }
    let refs: Vec<&[u8]> = ders.iter().map(Vec::as_slice).collect();
    let ordered = order_chain(&refs)?;
    let last = ordered.len() - 1;
    let root_present = match ordered.last() {
        Some(der) => {
            let (p, _) = parse_cert(der)?;
            p.subject == p.issuer
        }
        None => false,
    };
    let selected: Vec<&[u8]> = match which {
        "leaf" => ordered.first().copied().into_iter().collect(),
        "root" if root_present => ordered.last().copied().into_iter().collect(),
        "root" => Vec::new(),
        "intermediate" => {
            let end = if root_present { last } else { last + 1 };
            ordered.get(1..end.max(1)).map(<[&[u8]]>::to_vec).unwrap_or_default()
        }
        _ => return Err(fail("unsupported certificate type: expected leaf, intermediate or root")),
    };
    Ok(Value::from(pem_all("CERTIFICATE", selected)?))
}

/// Go's `net.IP.String()` for a SAN address.
fn ip_string(bytes: &[u8]) -> String {
    match bytes.len() {
        4 => Ipv4Addr::new(bytes[0], bytes[1], bytes[2], bytes[3]).to_string(),
        16 => {
            let mut octets = [0u8; 16];
            octets.copy_from_slice(bytes);
            let v6 = Ipv6Addr::from(octets);
            match v6.to_ipv4_mapped() {
                Some(v4) => IpAddr::V4(v4).to_string(),
                None => v6.to_string(),
            }
        }
        _ => format!("?{}", hex::encode(bytes)),
    }
}

/// ESO's `certSANs input`: the subject alternative names of the first certificate of a PEM text, DNS names first,
/// then IP addresses, email addresses and URIs.
fn cert_sans(c: &mut Call<'_>) -> FResult {
    let input = c.str(0)?;
    let input: &str = &input;
    let ders = pem_certificates(input);
    let Some(der) = ders.first() else {
        return Err(fail("no certificates found in input"));
    };
    let (_, cert) = parse_cert(der)?;
    let (mut dns, mut ips, mut emails, mut uris) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    let san = cert.subject_alternative_name().map_err(|_| fail("unable to parse the subject alternative names"))?;
    if let Some(san) = san {
        for name in &san.value.general_names {
            match name {
                GeneralName::DNSName(n) => dns.push((*n).to_owned()),
                GeneralName::IPAddress(b) => ips.push(ip_string(b)),
                GeneralName::RFC822Name(n) => emails.push((*n).to_owned()),
                GeneralName::URI(n) => uris.push((*n).to_owned()),
                _ => {}
            }
        }
    }
    Ok(string_list(dns.into_iter().chain(ips).chain(emails).chain(uris)))
}
