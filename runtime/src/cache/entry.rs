//! The on-disk format of one cache entry, as pure encode/decode functions.
//!
//! ```text
//! offset  size  field
//!      0     8  magic            b"SPNDLCB\0"
//!      8     4  format version   u32 little-endian, currently 1
//!     12    32  key              the CacheKey digest this entry answers
//!     44     8  payload length   u64 little-endian
//!     52    32  payload checksum SHA-256 of the payload
//!     84     n  payload          the CUBIN bytes
//! ```
//!
//! The file is exactly `84 + n` bytes; anything else is a bad entry. Nothing
//! in an entry depends on the machine or the folder (no paths, no times), so
//! a cache folder can be copied elsewhere and used as is.

use std::fmt;

use super::key::CacheKey;
use super::sha256::Sha256;

pub(crate) const MAGIC: [u8; 8] = *b"SPNDLCB\0";
pub(crate) const FORMAT_VERSION: u32 = 1;
pub(crate) const HEADER_LEN: usize = 8 + 4 + 32 + 8 + 32;

/// Why a file is not a usable entry for the key asked for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum BadEntry {
    /// Shorter than the header, or than the header plus the payload length.
    Truncated { len: u64 },
    /// Does not start with spindle's magic: not a spindle cache entry.
    Foreign,
    /// A format version this spindle does not read.
    Version(u32),
    /// A valid-looking entry for another key (a renamed or copied file).
    KeyMismatch,
    /// Longer than the header plus the payload length.
    TrailingBytes { len: u64 },
    /// The payload does not match its checksum.
    Checksum,
}

impl fmt::Display for BadEntry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BadEntry::Truncated { len } => write!(f, "truncated ({len} bytes)"),
            BadEntry::Foreign => f.write_str("not a spindle cache entry (bad magic)"),
            BadEntry::Version(v) => write!(f, "unsupported entry format version {v}"),
            BadEntry::KeyMismatch => f.write_str("entry belongs to another key"),
            BadEntry::TrailingBytes { len } => {
                write!(f, "unexpected bytes after the payload ({len} bytes in all)")
            }
            BadEntry::Checksum => f.write_str("payload checksum mismatch (corrupted)"),
        }
    }
}

/// The header of an entry holding `payload` for `key`.
pub(crate) fn encode_header(key: &CacheKey, payload: &[u8]) -> [u8; HEADER_LEN] {
    let mut h = [0u8; HEADER_LEN];
    h[0..8].copy_from_slice(&MAGIC);
    h[8..12].copy_from_slice(&FORMAT_VERSION.to_le_bytes());
    h[12..44].copy_from_slice(key.as_bytes());
    h[44..52].copy_from_slice(&(payload.len() as u64).to_le_bytes());
    h[52..84].copy_from_slice(&Sha256::digest(payload));
    h
}

/// The whole entry file for `payload` under `key` (tests build files with it).
#[cfg(test)]
pub(crate) fn encode(key: &CacheKey, payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(HEADER_LEN + payload.len());
    out.extend_from_slice(&encode_header(key, payload));
    out.extend_from_slice(payload);
    out
}

/// The payload of `file` if it is a valid entry for `key`.
pub(crate) fn decode<'a>(file: &'a [u8], key: &CacheKey) -> Result<&'a [u8], BadEntry> {
    let len = file.len() as u64;
    // Check the magic first, even on short files, so random bytes are
    // reported as foreign rather than truncated.
    let magic_len = file.len().min(MAGIC.len());
    if file[..magic_len] != MAGIC[..magic_len] {
        return Err(BadEntry::Foreign);
    }
    if file.len() < HEADER_LEN {
        return Err(BadEntry::Truncated { len });
    }
    let version = u32::from_le_bytes(file[8..12].try_into().expect("4 bytes"));
    if version != FORMAT_VERSION {
        return Err(BadEntry::Version(version));
    }
    if file[12..44] != key.as_bytes()[..] {
        return Err(BadEntry::KeyMismatch);
    }
    let payload_len = u64::from_le_bytes(file[44..52].try_into().expect("8 bytes"));
    let body = &file[HEADER_LEN..];
    match (body.len() as u64).cmp(&payload_len) {
        std::cmp::Ordering::Less => return Err(BadEntry::Truncated { len }),
        std::cmp::Ordering::Greater => return Err(BadEntry::TrailingBytes { len }),
        std::cmp::Ordering::Equal => {}
    }
    if Sha256::digest(body) != file[52..84] {
        return Err(BadEntry::Checksum);
    }
    Ok(body)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cache::key::KeyInputs;

    fn key(source: &str) -> CacheKey {
        CacheKey::new(&KeyInputs {
            source,
            nvrtc_version: (13, 0),
            options: &[],
            arch: "sm_90",
        })
    }

    #[test]
    fn jit_entry_round_trips() {
        let k = key("a");
        for payload in [&b""[..], b"x", &[7u8; 1000][..]] {
            let file = encode(&k, payload);
            assert_eq!(file.len(), HEADER_LEN + payload.len());
            assert_eq!(decode(&file, &k), Ok(payload));
        }
    }

    #[test]
    fn jit_entry_every_truncation_is_rejected() {
        let k = key("a");
        let file = encode(&k, b"some cubin bytes");
        for cut in 0..file.len() {
            let got = decode(&file[..cut], &k);
            assert!(
                matches!(got, Err(BadEntry::Truncated { .. })),
                "cut at {cut}: {got:?}"
            );
        }
    }

    #[test]
    fn jit_entry_every_flipped_byte_is_rejected() {
        let k = key("a");
        let file = encode(&k, b"some cubin bytes");
        for i in 0..file.len() {
            let mut bad = file.clone();
            bad[i] ^= 0x40;
            assert!(decode(&bad, &k).is_err(), "flip at byte {i} was accepted");
        }
        let mut bad = file.clone();
        bad[HEADER_LEN + 3] ^= 1;
        assert_eq!(decode(&bad, &k), Err(BadEntry::Checksum));
    }

    #[test]
    fn jit_entry_rejects_foreign_other_key_version_and_trailing_bytes() {
        let k = key("a");
        let file = encode(&k, b"payload");
        assert_eq!(decode(b"\x7fELF\x02\x01\x01", &k), Err(BadEntry::Foreign));
        assert_eq!(decode(&file, &key("b")), Err(BadEntry::KeyMismatch));
        let mut v2 = file.clone();
        v2[8..12].copy_from_slice(&2u32.to_le_bytes());
        assert_eq!(decode(&v2, &k), Err(BadEntry::Version(2)));
        let mut long = file.clone();
        long.push(0);
        assert!(matches!(
            decode(&long, &k),
            Err(BadEntry::TrailingBytes { .. })
        ));
    }
}
