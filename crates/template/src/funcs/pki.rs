//! ESO's certificate functions: PKCS#12 decoding (`pkcs12key`, `pkcs12cert` and their `Pass` variants),
//! `filterCertChain` and `certSANs`.
//!
//! Errors never include key or certificate material.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use p12_keystore::Pkcs12Archive;
use x509_parser::prelude::{FromDer as _, GeneralName, ParsedExtension, X509Certificate};

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

/// ESO's `pkcs12cert`: every certificate of the bundle as PEM, leaf → intermediates → root when they form one
/// chain by key identifiers (see [`order_chain`]), otherwise the key's certificate first and the others in bundle
/// order, as ESO falls back to.
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
    let ordered = order_chain(&ders).unwrap_or_else(|_| ders.clone());
    let out = pem_all("CERTIFICATE", ordered)?;
    c.check_len(out.len())?;
    Ok(Value::from(out))
}

/// One parsed certificate: its DER and the key identifiers ESO chains by (Go's `AuthorityKeyId` and
/// `SubjectKeyId`; an absent extension is empty, which Go's `bytes.Equal` treats as equal to nil).
struct Node<'a> {
    der: &'a [u8],
    authority_key_id: Vec<u8>,
    subject_key_id: Vec<u8>,
    has_authority_key_id: bool,
}

fn parse_cert(der: &[u8]) -> Result<(Node<'_>, X509Certificate<'_>), FuncError> {
    let (_, cert) = X509Certificate::from_der(der).map_err(|_| fail("unable to parse certificate"))?;
    let mut node = Node { der, authority_key_id: Vec::new(), subject_key_id: Vec::new(), has_authority_key_id: false };
    for ext in cert.extensions() {
        match ext.parsed_extension() {
            ParsedExtension::AuthorityKeyIdentifier(aki) => {
                node.has_authority_key_id = true;
                node.authority_key_id = aki.key_identifier.as_ref().map(|k| k.0.to_vec()).unwrap_or_default();
            }
            ParsedExtension::SubjectKeyIdentifier(ski) => node.subject_key_id = ski.0.to_vec(),
            _ => {}
        }
    }
    Ok((node, cert))
}

/// ESO's `isRootCertificate`: no authority key identifier, or one equal to the subject key identifier.
fn is_root(node: &Node<'_>) -> bool {
    !node.has_authority_key_id || node.authority_key_id == node.subject_key_id
}

/// ESO's `fetchX509CertChains` (pem_chain.go): each certificate's parent is the first other certificate whose
/// subject key identifier equals its authority key identifier; the one certificate that is nobody's parent is the
/// leaf, and the chain follows parents from it. Several such certificates, none, or a cycle are errors.
fn order_chain<'a>(ders: &[&'a [u8]]) -> Result<Vec<&'a [u8]>, FuncError> {
    let nodes: Vec<Node<'a>> = ders.iter().map(|d| parse_cert(d).map(|(n, _)| n)).collect::<Result<_, _>>()?;
    let mut parent: Vec<Option<usize>> = vec![None; nodes.len()];
    let mut is_parent = vec![false; nodes.len()];
    for i in 0..nodes.len() {
        if let Some(j) = (0..nodes.len()).find(|&j| j != i && nodes[i].authority_key_id == nodes[j].subject_key_id) {
            is_parent[j] = true;
            parent[i] = Some(j);
        }
    }
    let mut leaves = (0..nodes.len()).filter(|&i| !is_parent[i]);
    let leaf = leaves.next();
    if leaves.next().is_some() {
        return Err(fail("found multiple leaf or disjunct certificates"));
    }
    let mut current = leaf.ok_or_else(|| fail("no leaf certificate found"))?;
    let mut chain = vec![nodes[current].der];
    while let Some(next) = parent[current] {
        if chain.len() >= nodes.len() {
            return Err(fail("constructing chain resulted in cycle"));
        }
        chain.push(nodes[next].der);
        current = next;
    }
    Ok(chain)
}

/// The DER of every PEM block of a text, whatever its type (ESO's `pemToNodes` parses each as a certificate).
fn pem_blocks(input: &str) -> Vec<Vec<u8>> {
    let mut data = input;
    let mut out = Vec::new();
    loop {
        let (block, rest) = pem_decode(data);
        data = rest;
        let Some(block) = block else { break };
        out.push(block.bytes);
    }
    out
}

/// ESO's `filterCertChain leaf|intermediate|root input` (pem.go), on the chain ordered as above: `leaf` is the
/// first certificate unless it is a root itself; `intermediate` those after it up to the first root; `root` the
/// last when it is a root. What is not there, and an unknown type, give `""`; input that does not form one chain
/// (or holds a block that is not a certificate, or nothing) is an error.
fn filter_cert_chain(c: &mut Call<'_>) -> FResult {
    let which = c.str(0)?.into_owned();
    let ders = pem_blocks(&c.str(1)?);
    let refs: Vec<&[u8]> = ders.iter().map(Vec::as_slice).collect();
    let ordered = order_chain(&refs)?;
    let nodes: Vec<Node<'_>> = ordered.iter().map(|d| parse_cert(d).map(|(n, _)| n)).collect::<Result<_, _>>()?;
    let selected: Vec<&[u8]> = match which.as_str() {
        "leaf" => nodes
            .first()
            .filter(|n| n.has_authority_key_id && n.authority_key_id != n.subject_key_id)
            .map(|n| n.der)
            .into_iter()
            .collect(),
        "intermediate" => nodes.iter().skip(1).take_while(|n| !is_root(n)).map(|n| n.der).collect(),
        "root" => nodes.last().filter(|n| is_root(n)).map(|n| n.der).into_iter().collect(),
        _ => Vec::new(),
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
    // ESO reads the first PEM block, whatever its type, as the certificate.
    let ders = pem_blocks(input);
    let Some(der) = ders.first() else {
        return Err(fail("failed to decode PEM block"));
    };
    let (_, cert) = parse_cert(der).map_err(|_| fail("failed to parse certificate"))?;
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
