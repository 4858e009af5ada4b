//! Sprig's password and symmetric-crypto functions as ESO vendors them (runtime/template/v2/sprig/crypto.go):
//! `bcrypt`, `htpasswd`, `derivePassword`, `encryptAES`, `decryptAES`; and ESO's `rsaDecrypt`
//! (runtime/template/v2/decrypt.go).
//!
//! Like Sprig, `bcrypt`, `htpasswd` and `derivePassword` report problems in their result text instead of failing;
//! `encryptAES` and `decryptAES` fail. No message ever contains the password or the data.

use aes::cipher::{BlockCipherDecrypt as _, BlockCipherEncrypt as _, KeyInit as _};
use base64::Engine as _;
use hmac::Mac as _;
use rand::Rng as _;
use sha1::Digest as _;

use super::{Call, FResult, FuncDef, fail, fixed};
use crate::value::Value;

pub(crate) const FUNCS: &[FuncDef] = &[
    fixed("bcrypt", 1, bcrypt),
    fixed("htpasswd", 3, htpasswd),
    fixed("derivePassword", 5, derive_password),
    fixed("encryptAES", 2, encrypt_aes),
    fixed("decryptAES", 2, decrypt_aes),
    fixed("rsaDecrypt", 4, rsa_decrypt),
];

/// golang.org/x/crypto/bcrypt's `DefaultCost`.
const BCRYPT_COST: u32 = 10;

/// Go's `bcrypt.GenerateFromPassword(input, DefaultCost)`: a `$2a$10$` hash with a random salt. Passwords longer
/// than 72 bytes are refused (x/crypto ≥ 0.33), and Sprig returns the error text as the result.
fn bcrypt_hash(password: &[u8]) -> String {
    if password.len() > 72 {
        return "failed to encrypt string with bcrypt: bcrypt: password length exceeds 72 bytes".to_owned();
    }
    let salt: [u8; 16] = rand::rng().random();
    match ::bcrypt::hash_with_salt(password, BCRYPT_COST, salt) {
        Ok(parts) => parts.format_for_version(::bcrypt::Version::TwoA),
        Err(_) => "failed to encrypt string with bcrypt".to_owned(),
    }
}

fn bcrypt(c: &mut Call<'_>) -> FResult {
    Ok(Value::from(bcrypt_hash(c.bytes(0)?)))
}

/// ESO's `htpasswd user password algorithm` (three arguments, unlike upstream Sprig's two): `sha` gives Apache's
/// `{SHA}` form (base64 of SHA-1), anything else bcrypt. A username with `:` gives an error text as the result.
fn htpasswd(c: &mut Call<'_>) -> FResult {
    let user = c.bytes(0)?;
    if user.contains(&b':') {
        return Ok(Value::bytes([b"invalid username: ".as_slice(), user].concat()));
    }
    let hash = if c.bytes(2)? == b"sha" {
        let digest = sha1::Sha1::digest(c.bytes(1)?);
        format!("{{SHA}}{}", base64::engine::general_purpose::STANDARD.encode(digest))
    } else {
        bcrypt_hash(c.bytes(1)?)
    };
    Ok(Value::bytes([user, b":", hash.as_bytes()].concat()))
}

/// The Master Password algorithm's templates and character classes, as Sprig has them.
fn password_templates(kind: &[u8]) -> Option<&'static [&'static str]> {
    Some(match kind {
        b"maximum" => &["anoxxxxxxxxxxxxxxxxx", "axxxxxxxxxxxxxxxxxno"],
        b"long" => &[
            "CvcvnoCvcvCvcv",
            "CvcvCvcvnoCvcv",
            "CvcvCvcvCvcvno",
            "CvccnoCvcvCvcv",
            "CvccCvcvnoCvcv",
            "CvccCvcvCvcvno",
            "CvcvnoCvccCvcv",
            "CvcvCvccnoCvcv",
            "CvcvCvccCvcvno",
            "CvcvnoCvcvCvcc",
            "CvcvCvcvnoCvcc",
            "CvcvCvcvCvccno",
            "CvccnoCvccCvcv",
            "CvccCvccnoCvcv",
            "CvccCvccCvcvno",
            "CvcvnoCvccCvcc",
            "CvcvCvccnoCvcc",
            "CvcvCvccCvccno",
            "CvccnoCvcvCvcc",
            "CvccCvcvnoCvcc",
            "CvccCvcvCvccno",
        ],
        b"medium" => &["CvcnoCvc", "CvcCvcno"],
        b"short" => &["Cvcn"],
        b"basic" => &["aaanaaan", "aannaaan", "aaannaaa"],
        b"pin" => &["nnnn"],
        _ => return None,
    })
}

fn password_characters(class: u8) -> &'static [u8] {
    match class {
        b'V' => b"AEIOU",
        b'C' => b"BCDFGHJKLMNPQRSTVWXYZ",
        b'v' => b"aeiou",
        b'c' => b"bcdfghjklmnpqrstvwxyz",
        b'A' => b"AEIOUBCDFGHJKLMNPQRSTVWXYZ",
        b'a' => b"AEIOUaeiouBCDFGHJKLMNPQRSTVWXYZbcdfghjklmnpqrstvwxyz",
        b'n' => b"0123456789",
        b'o' => b"@&%?,=[]_:-+*$#!'^~;()/.",
        _ => b"AEIOUaeiouBCDFGHJKLMNPQRSTVWXYZbcdfghjklmnpqrstvwxyz0123456789!@#$%^&*()",
    }
}

const MASTER_PASSWORD_SEED: &[u8] = b"com.lyndir.masterpassword";

/// Sprig's `derivePassword counter type password user site`: the Master Password algorithm (scrypt N=32768, r=8,
/// p=2, then HMAC-SHA-256 of the site). An unknown type gives an error text as the result.
fn derive_password(c: &mut Call<'_>) -> FResult {
    let counter = c.int(0)?;
    let counter = u32::try_from(counter).map_err(|_| fail("counter out of range for uint32"))?;
    let kind = c.bytes(1)?;
    let Some(templates) = password_templates(kind) else {
        return Ok(Value::bytes([b"cannot find password template ".as_slice(), kind].concat()));
    };
    let (password, user, site) = (c.bytes(2)?, c.bytes(3)?, c.bytes(4)?);
    let len32 = |b: &[u8]| u32::try_from(b.len()).unwrap_or(u32::MAX).to_be_bytes();
    let salt = [MASTER_PASSWORD_SEED, &len32(user), user].concat();
    let mut key = [0u8; 64];
    let derived =
        scrypt::Params::new(15, 8, 2).ok().and_then(|params| scrypt::scrypt(password, &salt, &params, &mut key).ok());
    if derived.is_none() {
        return Ok(Value::from("failed to derive password"));
    }
    let Ok(mut mac) = hmac::Hmac::<sha2::Sha256>::new_from_slice(&key) else {
        return Ok(Value::from("failed to derive password"));
    };
    mac.update(&[MASTER_PASSWORD_SEED, &len32(site), site, &counter.to_be_bytes()].concat());
    let seed = mac.finalize().into_bytes();
    let template = templates[usize::from(seed[0]) % templates.len()].as_bytes();
    let out: Vec<u8> = template
        .iter()
        .enumerate()
        .map(|(i, class)| {
            let chars = password_characters(*class);
            chars[usize::from(seed[i + 1]) % chars.len()]
        })
        .collect();
    Ok(Value::bytes(out))
}

/// Sprig's AES key: the password's bytes, cut or zero-padded to 32 (AES-256).
fn aes_key(password: &[u8]) -> aes::Aes256 {
    let mut key = [0u8; 32];
    let n = password.len().min(32);
    key[..n].copy_from_slice(&password[..n]);
    aes::Aes256::new(&key.into())
}

/// Sprig's `encryptAES password plaintext`: AES-256-CBC with PKCS#7 padding and a random IV, base64 of IV and
/// ciphertext. An empty plaintext gives an empty result.
fn encrypt_aes(c: &mut Call<'_>) -> FResult {
    let plaintext = c.bytes(1)?;
    if plaintext.is_empty() {
        return Ok(Value::from(""));
    }
    c.check_len((plaintext.len() + 32) / 3 * 4 + 4)?;
    let cipher = aes_key(c.bytes(0)?);
    let pad = 16 - plaintext.len() % 16;
    let mut content = plaintext.to_vec();
    content.extend(std::iter::repeat_n(pad as u8, pad));
    let iv: [u8; 16] = rand::rng().random();
    let mut out = iv.to_vec();
    let mut previous = iv;
    for chunk in content.chunks(16) {
        let mut block = [0u8; 16];
        for (b, (p, v)) in block.iter_mut().zip(chunk.iter().zip(previous.iter())) {
            *b = p ^ v;
        }
        let mut block = block.into();
        cipher.encrypt_block(&mut block);
        previous = block.into();
        out.extend_from_slice(&previous);
    }
    Ok(Value::from(base64::engine::general_purpose::STANDARD.encode(out)))
}

/// Sprig's `decryptAES password ciphertext`. As in Go: an empty input gives an empty result; invalid base64,
/// input shorter than two blocks or not whole blocks, and a padding byte longer than the data are errors (Go
/// panics on the last three, which the template engine reports as errors); the padding is not otherwise checked.
fn decrypt_aes(c: &mut Call<'_>) -> FResult {
    let input = c.bytes(1)?;
    if input.is_empty() {
        return Ok(Value::from(""));
    }
    let crypt = super::encoding::go_base64_decode(input)
        .map_err(|at| fail(format!("illegal base64 data at input byte {at}")))?;
    if crypt.len() < 16 {
        return Err(fail("runtime error: slice bounds out of range"));
    }
    let (iv, data) = crypt.split_at(16);
    if data.len() % 16 != 0 {
        return Err(fail("crypto/cipher: input not full blocks"));
    }
    if data.is_empty() {
        return Err(fail("runtime error: index out of range"));
    }
    let cipher = aes_key(c.bytes(0)?);
    let mut out = Vec::with_capacity(data.len());
    let mut previous: &[u8] = iv;
    for chunk in data.chunks(16) {
        let mut block = [0u8; 16];
        block.copy_from_slice(chunk);
        let mut block = block.into();
        cipher.decrypt_block(&mut block);
        let block: [u8; 16] = block.into();
        out.extend(block.iter().zip(previous.iter()).map(|(b, p)| b ^ p));
        previous = chunk;
    }
    let pad = usize::from(out.last().copied().unwrap_or(0));
    if pad > out.len() {
        return Err(fail("runtime error: slice bounds out of range"));
    }
    out.truncate(out.len() - pad);
    Ok(Value::bytes(out))
}

/// ESO's `rsaDecrypt scheme hash ciphertext privateKey`: scheme `None` returns the input, `RSA-OAEP` decrypts
/// with OAEP (no label) using `hash` for OAEP and MGF1 (`SHA1`, `SHA512`, anything else SHA-256). The key is the
/// first PEM block (PKCS#1, PKCS#8, or SEC1, which then fails as not RSA). The result keeps its bytes.
fn rsa_decrypt(c: &mut Call<'_>) -> FResult {
    use rsa::pkcs8::DecodePrivateKey as _;
    let scheme = c.str(0)?;
    match scheme.as_ref() {
        "None" => return Ok(c.take(2)),
        "RSA-OAEP" => {}
        // ESO names the scheme; it may come from data, so we do not repeat it.
        _ => return Err(fail("decryption scheme is not supported (expected None or RSA-OAEP)")),
    }
    let key_text = c.str(3)?;
    if super::encoding::pem_decode(&key_text).0.is_none() {
        return Err(fail("failed to decode PEM block"));
    }
    let der = super::keystore::private_key_pkcs8(&key_text)
        .map_err(|_| fail("could not parse private key: unable to parse private key type"))?;
    let key = rsa::PrivateKey::from_pkcs8_der(&der).map_err(|_| fail("could not parse RSA private key"))?;
    let ciphertext = c.bytes(2)?;
    let decrypted = match c.bytes(1)? {
        b"SHA1" => key.decrypt(rsa::Oaep::<sha1::Sha1>::new(), ciphertext),
        b"SHA512" => key.decrypt(rsa::Oaep::<sha2::Sha512>::new(), ciphertext),
        _ => key.decrypt(rsa::Oaep::<sha2::Sha256>::new(), ciphertext),
    };
    decrypted.map(Value::bytes).map_err(|_| fail("error decrypting data with RSA: crypto/rsa: decryption error"))
}
