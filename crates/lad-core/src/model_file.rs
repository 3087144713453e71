//! The bytes of a saved model: a fixed header (magic, format version, payload length, CRC-32)
//! followed by the model serialised with `postcard`.
//!
//! This module only turns a model into bytes and back; writing the bytes to disk atomically is
//! the binary's job (lad-core does no I/O). Decoding checks everything before it deserialises,
//! so a truncated, corrupt or incompatible file is reported as such and never half-loaded.

use serde::{de::DeserializeOwned, Serialize};

/// The first bytes of every lad model file.
pub const MAGIC: [u8; 4] = *b"LADM";
/// The format version written by this build; a file with another version is refused.
/// Version 2 added the host's patterns ([`crate::pattern::Miner`]) to the model; version 3
/// models were trained on [`crate::tokenizer::event_text`] (no syslog header words), so an
/// older model's token sequences would not match the ones scoring now makes.
pub const FORMAT_VERSION: u32 = 3;
const HEADER_LEN: usize = 4 + 4 + 8 + 4;

/// Why a model's bytes could not be decoded.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ModelFileError {
    /// The bytes do not start with [`MAGIC`]: not a lad model.
    #[error("not a lad model file (expected the magic bytes LADM)")]
    NotAModel,
    /// The file is shorter than its header says.
    #[error("model file is truncated: expected {expected} bytes, found {found}")]
    Truncated {
        /// Bytes the header promises.
        expected: u64,
        /// Bytes present.
        found: u64,
    },
    /// The file was written by another format version.
    #[error("model format version {found} is not supported (this lad reads version {expected})")]
    Version {
        /// The version this build reads.
        expected: u32,
        /// The version in the file.
        found: u32,
    },
    /// The payload does not match its checksum.
    #[error(
        "model file is corrupt: checksum {found:08x} does not match the stored {expected:08x}"
    )]
    Checksum {
        /// Checksum stored in the header.
        expected: u32,
        /// Checksum of the payload as read.
        found: u32,
    },
    /// The payload passed the checksum but could not be decoded (or encoded).
    #[error("model payload could not be (de)serialised: {0}")]
    Payload(String),
}

/// Serialises `model` into the versioned, checksummed file format.
pub fn encode<T: Serialize>(model: &T) -> Result<Vec<u8>, ModelFileError> {
    let payload = postcard::to_stdvec(model).map_err(|e| ModelFileError::Payload(e.to_string()))?;
    Ok(frame(&payload))
}

/// Puts the header (magic, [`FORMAT_VERSION`], length, CRC-32) in front of an already
/// serialised payload. [`encode`] is `postcard` followed by this; the fuzz targets use it alone
/// to reach the payload decoder with bytes whose checksum is right.
pub fn frame(payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(HEADER_LEN + payload.len());
    out.extend_from_slice(&MAGIC);
    out.extend_from_slice(&FORMAT_VERSION.to_le_bytes());
    out.extend_from_slice(&(payload.len() as u64).to_le_bytes());
    out.extend_from_slice(&crc32fast::hash(payload).to_le_bytes());
    out.extend_from_slice(payload);
    out
}

/// Checks the header and checksum of `bytes`, then deserialises the model. Only files of
/// [`FORMAT_VERSION`] are read.
pub fn decode<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ModelFileError> {
    decode_since(bytes, FORMAT_VERSION)
}

/// The serialised shape of a host's patterns ([`crate::pattern::Miner`]) has not changed since
/// this version: version 3 changed what the detector's token sequences are, not the patterns,
/// so a pattern checkpoint of version 2 is still read (and its counts kept).
pub const PATTERNS_SINCE: u32 = 2;

/// [`decode`] for a type whose bytes have not changed since format version `oldest`: a file of
/// any version from `oldest` to [`FORMAT_VERSION`] is read.
pub fn decode_since<T: DeserializeOwned>(bytes: &[u8], oldest: u32) -> Result<T, ModelFileError> {
    if bytes.len() < 4 || bytes[..4] != MAGIC {
        return Err(ModelFileError::NotAModel);
    }
    if bytes.len() < HEADER_LEN {
        return Err(ModelFileError::Truncated {
            expected: HEADER_LEN as u64,
            found: bytes.len() as u64,
        });
    }
    let word =
        |at: usize| u32::from_le_bytes([bytes[at], bytes[at + 1], bytes[at + 2], bytes[at + 3]]);
    let version = word(4);
    if !(oldest..=FORMAT_VERSION).contains(&version) {
        return Err(ModelFileError::Version {
            expected: FORMAT_VERSION,
            found: version,
        });
    }
    let mut len = [0u8; 8];
    len.copy_from_slice(&bytes[8..16]);
    let len = u64::from_le_bytes(len);
    let stored_crc = word(16);
    let payload = &bytes[HEADER_LEN..];
    if payload.len() as u64 != len {
        return Err(ModelFileError::Truncated {
            expected: (HEADER_LEN as u64).saturating_add(len),
            found: bytes.len() as u64,
        });
    }
    let crc = crc32fast::hash(payload);
    if crc != stored_crc {
        return Err(ModelFileError::Checksum {
            expected: stored_crc,
            found: crc,
        });
    }
    postcard::from_bytes(payload).map_err(|e| ModelFileError::Payload(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Vec<u8> {
        encode(&(String::from("host-a"), vec![1.5f32, -2.0, 3.25])).expect("encodes")
    }

    #[test]
    fn round_trip() {
        let back: (String, Vec<f32>) = decode(&sample()).expect("decodes");
        assert_eq!(back, ("host-a".to_string(), vec![1.5, -2.0, 3.25]));
    }

    #[test]
    fn every_flipped_byte_is_detected() {
        let good = sample();
        for i in 0..good.len() {
            let mut bad = good.clone();
            bad[i] ^= 0x40;
            assert!(
                decode::<(String, Vec<f32>)>(&bad).is_err(),
                "flip at byte {i} went unnoticed"
            );
        }
    }

    #[test]
    fn truncation_and_version_are_named() {
        let good = sample();
        let cut = &good[..good.len() - 3];
        assert!(matches!(
            decode::<(String, Vec<f32>)>(cut),
            Err(ModelFileError::Truncated { .. })
        ));
        let mut other = good.clone();
        other[4] = 9;
        assert_eq!(
            decode::<(String, Vec<f32>)>(&other),
            Err(ModelFileError::Version {
                expected: FORMAT_VERSION,
                found: 9
            })
        );
        // Files of the earlier formats (1: before patterns, 2: header words in the token
        // sequences) are refused by name.
        for version in [1, 2] {
            let mut old = good.clone();
            old[4] = version;
            assert_eq!(
                decode::<(String, Vec<f32>)>(&old),
                Err(ModelFileError::Version {
                    expected: 3,
                    found: u32::from(version)
                })
            );
        }
        // A type whose bytes did not change reads the older version it names, no older one.
        let mut two = good.clone();
        two[4] = 2;
        assert!(decode_since::<(String, Vec<f32>)>(&two, PATTERNS_SINCE).is_ok());
        two[4] = 1;
        assert!(decode_since::<(String, Vec<f32>)>(&two, PATTERNS_SINCE).is_err());
        assert_eq!(
            decode::<(String, Vec<f32>)>(b"{}"),
            Err(ModelFileError::NotAModel)
        );
    }
}
