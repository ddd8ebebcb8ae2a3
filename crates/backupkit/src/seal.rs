//! Streaming authenticated encryption of backups (the STREAM construction of Hoang, Reyhanitabar,
//! Rogaway and Vizár, as in age and Tink).
//!
//! A sealed stream is a header followed by frames:
//!
//! ```text
//! header  = "K12SEAL1" | key id (8) | nonce prefix (7) | chunk size (u32 BE)
//! frame i = ChaCha20-Poly1305(key, nonce = prefix | i (u32 BE) | last (1 byte), aad = header, chunk i)
//! ```
//!
//! Every chunk but the last holds exactly `chunk size` plaintext bytes; the last holds fewer
//! (possibly none) and is sealed with `last = 1`. So a frame that fails to authenticate, a
//! swapped or dropped frame (the counter is in the nonce), a stream cut at a frame boundary
//! (no final frame) and bytes after the final frame are all errors, and memory is bounded by
//! one chunk. The key id (a hash of the key, not the key) makes a wrong key a clear error
//! before any decryption is tried.

use chacha20poly1305::aead::rand_core::RngCore;
use chacha20poly1305::aead::{AeadInPlace, KeyInit, OsRng};
use chacha20poly1305::{ChaCha20Poly1305, Key, Nonce};
use sha2::{Digest, Sha256};

/// The first bytes of every sealed stream.
pub const MAGIC: &[u8; 8] = b"K12SEAL1";
/// Header length: magic, key id, nonce prefix, chunk size.
pub const HEADER_LEN: usize = 8 + 8 + 7 + 4;
/// Plaintext bytes per chunk written by [`Sealer::new`].
pub const DEFAULT_CHUNK: usize = 64 * 1024;
/// Largest chunk an [`Opener`] accepts (it holds one frame in memory).
pub const MAX_CHUNK: usize = 16 * 1024 * 1024;
/// The Poly1305 tag added to each chunk.
pub const TAG_LEN: usize = 16;
/// The name recorded in backup metadata.
pub const ALGORITHM: &str = "chacha20poly1305-stream-v1";

/// A 256-bit backup key. `Debug` never shows it.
#[derive(Clone)]
pub struct SealKey {
    key: [u8; 32],
    id: [u8; 8],
}

impl std::fmt::Debug for SealKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SealKey")
            .field("id", &self.id_hex())
            .finish_non_exhaustive()
    }
}

impl SealKey {
    /// Parses a key given as 64 hex digits or as standard base64 of 32 bytes. The error
    /// never repeats the value.
    pub fn parse(text: &str) -> Result<Self, String> {
        use base64::Engine;
        let text = text.trim();
        let bytes = if text.len() == 64 && text.bytes().all(|b| b.is_ascii_hexdigit()) {
            hex::decode(text).map_err(|_| "not hex".to_owned())?
        } else {
            base64::engine::general_purpose::STANDARD
                .decode(text)
                .map_err(|_| {
                    "must be 32 bytes as 64 hex digits or base64 (e.g. `openssl rand -base64 32`)"
                        .to_owned()
                })?
        };
        let key: [u8; 32] = bytes.try_into().map_err(|b: Vec<u8>| {
            format!(
                "must be 32 bytes (64 hex digits or base64), not {} bytes",
                b.len()
            )
        })?;
        Ok(Self::from_bytes(key))
    }

    pub fn from_bytes(key: [u8; 32]) -> Self {
        let mut h = Sha256::new();
        h.update(b"k12-backup-key-id\0");
        h.update(key);
        let digest = h.finalize();
        let mut id = [0u8; 8];
        id.copy_from_slice(&digest[..8]);
        Self { key, id }
    }

    /// A public fingerprint of the key (recorded in backup metadata).
    pub fn id_hex(&self) -> String {
        hex::encode(self.id)
    }

    fn cipher(&self) -> ChaCha20Poly1305 {
        ChaCha20Poly1305::new(Key::from_slice(&self.key))
    }
}

/// Why a sealed stream could not be opened.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OpenError {
    #[error("not an encrypted backup (no K12SEAL1 header)")]
    NotSealed,
    #[error(
        "encrypted with another key (key id {found}, K12_BACKUP_ENCRYPTION_KEY has id {expected})"
    )]
    WrongKey { expected: String, found: String },
    #[error("unsupported chunk size {0}")]
    BadChunkSize(u32),
    #[error("chunk {chunk} failed authentication: the object is corrupted or was altered")]
    Corrupt { chunk: u32 },
    #[error("the encrypted stream is truncated (it ends without its final chunk)")]
    Truncated,
    #[error("the encrypted stream is longer than its final chunk")]
    TrailingData,
    #[error("the stream has more chunks than the format allows")]
    TooLong,
}

fn nonce(prefix: &[u8; 7], counter: u32, last: bool) -> [u8; 12] {
    let mut n = [0u8; 12];
    n[..7].copy_from_slice(prefix);
    n[7..11].copy_from_slice(&counter.to_be_bytes());
    n[11] = u8::from(last);
    n
}

/// Encrypts a stream: feed it with [`Sealer::push`], end it with [`Sealer::finish`].
pub struct Sealer {
    cipher: ChaCha20Poly1305,
    header: [u8; HEADER_LEN],
    prefix: [u8; 7],
    chunk: usize,
    counter: u32,
    pending: Vec<u8>,
    header_written: bool,
}

impl std::fmt::Debug for Sealer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sealer")
            .field("chunk", &self.chunk)
            .field("counter", &self.counter)
            .finish_non_exhaustive()
    }
}

impl Sealer {
    /// A sealer with a random nonce prefix and [`DEFAULT_CHUNK`] chunks.
    pub fn new(key: &SealKey) -> Self {
        let mut prefix = [0u8; 7];
        OsRng.fill_bytes(&mut prefix);
        Self::with_prefix(key, prefix, DEFAULT_CHUNK)
    }

    /// A sealer with a given nonce prefix and chunk size (1..=[`MAX_CHUNK`]). A prefix
    /// must never be reused with the same key: use [`Sealer::new`] outside tests.
    pub fn with_prefix(key: &SealKey, prefix: [u8; 7], chunk: usize) -> Self {
        let chunk = chunk.clamp(1, MAX_CHUNK);
        let mut header = [0u8; HEADER_LEN];
        header[..8].copy_from_slice(MAGIC);
        header[8..16].copy_from_slice(&key.id);
        header[16..23].copy_from_slice(&prefix);
        header[23..27].copy_from_slice(&(chunk as u32).to_be_bytes());
        Self {
            cipher: key.cipher(),
            header,
            prefix,
            chunk,
            counter: 0,
            pending: Vec::with_capacity(chunk + TAG_LEN),
            header_written: false,
        }
    }

    fn write_header(&mut self, out: &mut Vec<u8>) {
        if !self.header_written {
            out.extend_from_slice(&self.header);
            self.header_written = true;
        }
    }

    fn seal_pending(&mut self, last: bool, out: &mut Vec<u8>) -> Result<(), OpenError> {
        let n = nonce(&self.prefix, self.counter, last);
        let start = out.len();
        out.extend_from_slice(&self.pending);
        self.pending.clear();
        let mut frame = out.split_off(start);
        self.cipher
            .encrypt_in_place(Nonce::from_slice(&n), &self.header, &mut frame)
            .map_err(|_| OpenError::TooLong)?;
        out.extend_from_slice(&frame);
        self.counter = self.counter.checked_add(1).ok_or(OpenError::TooLong)?;
        Ok(())
    }

    /// Appends to `out` the header (first call) and every frame `input` completes.
    pub fn push(&mut self, mut input: &[u8], out: &mut Vec<u8>) -> Result<(), OpenError> {
        self.write_header(out);
        while !input.is_empty() {
            // A full chunk is sealed only once more input follows it: the last chunk must
            // be short (possibly empty) so the reader can tell it is the last.
            if self.pending.len() == self.chunk {
                self.seal_pending(false, out)?;
            }
            let take = (self.chunk - self.pending.len()).min(input.len());
            self.pending.extend_from_slice(&input[..take]);
            input = &input[take..];
        }
        Ok(())
    }

    /// Appends the remaining frames, ending with the final one.
    pub fn finish(mut self, out: &mut Vec<u8>) -> Result<(), OpenError> {
        self.write_header(out);
        if self.pending.len() == self.chunk {
            self.seal_pending(false, out)?;
        }
        self.seal_pending(true, out)
    }

    /// The sealed length of `plain` plaintext bytes with chunks of `chunk` bytes.
    pub fn sealed_len(plain: u64, chunk: usize) -> u64 {
        let chunk = chunk.clamp(1, MAX_CHUNK) as u64;
        let frames = plain / chunk + 1;
        HEADER_LEN as u64 + plain + frames * TAG_LEN as u64
    }
}

/// Decrypts and authenticates a stream: [`Opener::push`] what is read, then
/// [`Opener::finish`] at its end. Plaintext is released only once authenticated.
pub struct Opener {
    key: SealKey,
    cipher: ChaCha20Poly1305,
    header: Option<[u8; HEADER_LEN]>,
    chunk: usize,
    counter: u32,
    buf: Vec<u8>,
}

impl std::fmt::Debug for Opener {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Opener")
            .field("chunk", &self.chunk)
            .field("counter", &self.counter)
            .finish_non_exhaustive()
    }
}

impl Opener {
    pub fn new(key: &SealKey) -> Self {
        Self {
            key: key.clone(),
            cipher: key.cipher(),
            header: None,
            chunk: 0,
            counter: 0,
            buf: Vec::new(),
        }
    }

    /// Whether `start` (the first bytes of an object) is a sealed stream.
    pub fn is_sealed(start: &[u8]) -> bool {
        start.starts_with(MAGIC)
    }

    /// The key id in a sealed header, if `start` holds one.
    pub fn key_id(start: &[u8]) -> Option<String> {
        (start.len() >= 16 && start.starts_with(MAGIC)).then(|| hex::encode(&start[8..16]))
    }

    fn read_header(&mut self) -> Result<bool, OpenError> {
        if self.header.is_some() {
            return Ok(true);
        }
        if self.buf.len() < MAGIC.len() {
            return if MAGIC.starts_with(&self.buf) {
                Ok(false)
            } else {
                Err(OpenError::NotSealed)
            };
        }
        if !self.buf.starts_with(MAGIC) {
            return Err(OpenError::NotSealed);
        }
        if self.buf.len() < HEADER_LEN {
            return Ok(false);
        }
        let mut header = [0u8; HEADER_LEN];
        header.copy_from_slice(&self.buf[..HEADER_LEN]);
        if header[8..16] != self.key.id {
            return Err(OpenError::WrongKey {
                expected: self.key.id_hex(),
                found: hex::encode(&header[8..16]),
            });
        }
        let chunk = u32::from_be_bytes([header[23], header[24], header[25], header[26]]);
        if chunk == 0 || chunk as usize > MAX_CHUNK {
            return Err(OpenError::BadChunkSize(chunk));
        }
        self.chunk = chunk as usize;
        self.header = Some(header);
        self.buf.drain(..HEADER_LEN);
        Ok(true)
    }

    fn open_frame(&mut self, len: usize, last: bool, out: &mut Vec<u8>) -> Result<(), OpenError> {
        let header = self.header.ok_or(OpenError::Truncated)?;
        let mut prefix = [0u8; 7];
        prefix.copy_from_slice(&header[16..23]);
        let n = nonce(&prefix, self.counter, last);
        let start = out.len();
        out.extend_from_slice(&self.buf[..len]);
        self.buf.drain(..len);
        let mut frame = out.split_off(start);
        self.cipher
            .decrypt_in_place(Nonce::from_slice(&n), &header, &mut frame)
            .map_err(|_| OpenError::Corrupt {
                chunk: self.counter,
            })?;
        out.extend_from_slice(&frame);
        self.counter = self.counter.checked_add(1).ok_or(OpenError::TooLong)?;
        Ok(())
    }

    /// Takes the next bytes of the stream; appends to `out` the plaintext of every frame
    /// known not to be the last.
    pub fn push(&mut self, input: &[u8], out: &mut Vec<u8>) -> Result<(), OpenError> {
        self.buf.extend_from_slice(input);
        if !self.read_header()? {
            return Ok(());
        }
        let frame = self.chunk + TAG_LEN;
        // A full frame followed by at least one more byte is not the last.
        while self.buf.len() > frame {
            self.open_frame(frame, false, out)?;
        }
        Ok(())
    }

    /// Ends the stream: opens the final frame into `out`.
    pub fn finish(mut self, out: &mut Vec<u8>) -> Result<(), OpenError> {
        if !self.read_header()? {
            return Err(
                if self.buf.starts_with(MAGIC) || MAGIC.starts_with(&self.buf) {
                    OpenError::Truncated
                } else {
                    OpenError::NotSealed
                },
            );
        }
        let frame = self.chunk + TAG_LEN;
        if self.buf.len() < TAG_LEN {
            return Err(OpenError::Truncated);
        }
        if self.buf.len() == frame {
            // A full frame can only be a middle one: try it as such to tell a cut stream
            // (it authenticates) from a damaged one (it does not).
            self.open_frame(frame, false, out)?;
            return Err(OpenError::Truncated);
        }
        let len = self.buf.len();
        self.open_frame(len, true, out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(b: u8) -> SealKey {
        SealKey::from_bytes([b; 32])
    }

    fn seal(plain: &[u8], chunk: usize, pieces: usize) -> Vec<u8> {
        let mut s = Sealer::with_prefix(&key(7), [1, 2, 3, 4, 5, 6, 7], chunk);
        let mut out = Vec::new();
        for piece in plain.chunks(pieces.max(1)) {
            s.push(piece, &mut out).unwrap();
        }
        s.finish(&mut out).unwrap();
        out
    }

    fn open(sealed: &[u8], k: &SealKey, pieces: usize) -> Result<Vec<u8>, OpenError> {
        let mut o = Opener::new(k);
        let mut out = Vec::new();
        for piece in sealed.chunks(pieces.max(1)) {
            o.push(piece, &mut out)?;
        }
        o.finish(&mut out)?;
        Ok(out)
    }

    fn data(n: usize) -> Vec<u8> {
        (0..n).map(|i| (i * 31 % 251) as u8).collect()
    }

    #[test]
    fn round_trips_any_length_and_any_split() {
        for chunk in [1, 7, 16, 64] {
            for n in [0, 1, 6, 7, 8, 15, 16, 17, 63, 64, 65, 128, 1000] {
                let plain = data(n);
                for pieces in [1, 3, 64, 5000] {
                    let sealed = seal(&plain, chunk, pieces);
                    assert_eq!(sealed.len() as u64, Sealer::sealed_len(n as u64, chunk));
                    assert_eq!(
                        open(&sealed, &key(7), pieces).unwrap(),
                        plain,
                        "{chunk} {n}"
                    );
                    assert_eq!(open(&sealed, &key(7), 1).unwrap(), plain);
                }
            }
        }
    }

    #[test]
    fn every_flipped_byte_is_detected() {
        let plain = data(100);
        let sealed = seal(&plain, 16, 10);
        for i in 0..sealed.len() {
            let mut bad = sealed.clone();
            bad[i] ^= 0x01;
            assert!(
                open(&bad, &key(7), 9).is_err(),
                "flip at {i} went unnoticed"
            );
        }
    }

    #[test]
    fn every_truncation_is_detected() {
        let sealed = seal(&data(64), 16, 10);
        for len in 0..sealed.len() {
            let err = open(&sealed[..len], &key(7), 5).unwrap_err();
            assert!(
                matches!(err, OpenError::Truncated | OpenError::Corrupt { .. }),
                "{len}: {err:?}"
            );
        }
        // Cut exactly after a middle frame: it authenticates, the final one is missing.
        let cut = HEADER_LEN + 2 * (16 + TAG_LEN);
        assert_eq!(open(&sealed[..cut], &key(7), 5), Err(OpenError::Truncated));
    }

    #[test]
    fn swapped_frames_and_trailing_data_are_detected() {
        let sealed = seal(&data(64), 16, 10);
        let f = 16 + TAG_LEN;
        let mut swapped = sealed.clone();
        let (a, b) = (HEADER_LEN, HEADER_LEN + f);
        let first: Vec<u8> = swapped[a..a + f].to_vec();
        let second: Vec<u8> = swapped[b..b + f].to_vec();
        swapped[a..a + f].copy_from_slice(&second);
        swapped[b..b + f].copy_from_slice(&first);
        assert_eq!(
            open(&swapped, &key(7), 7),
            Err(OpenError::Corrupt { chunk: 0 })
        );
        let mut longer = sealed.clone();
        longer.extend_from_slice(&[0u8; 3]);
        assert!(open(&longer, &key(7), 7).is_err());
        let mut doubled = sealed.clone();
        doubled.extend_from_slice(&sealed[HEADER_LEN..]);
        assert!(open(&doubled, &key(7), 7).is_err());
    }

    #[test]
    fn a_wrong_key_or_plain_data_is_named() {
        let sealed = seal(&data(10), 16, 10);
        assert!(matches!(
            open(&sealed, &key(8), 4),
            Err(OpenError::WrongKey { .. })
        ));
        assert_eq!(
            open(b"PGDMP\x01\x0e", &key(7), 4),
            Err(OpenError::NotSealed)
        );
        assert!(Opener::is_sealed(&sealed));
        assert_eq!(Opener::key_id(&sealed), Some(key(7).id_hex()));
        // A forged header carrying the right key id still fails to authenticate.
        let mut forged = sealed.clone();
        forged[16] ^= 0xff;
        assert!(matches!(
            open(&forged, &key(7), 4),
            Err(OpenError::Corrupt { chunk: 0 })
        ));
    }

    #[test]
    fn keys_parse_from_hex_or_base64_and_never_print() {
        let hex_key = "00".repeat(31) + "01";
        let k = SealKey::parse(&hex_key).unwrap();
        let mut raw = [0u8; 32];
        raw[31] = 1;
        assert_eq!(k.id_hex(), SealKey::from_bytes(raw).id_hex());
        let b64 = "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAE=";
        assert_eq!(SealKey::parse(b64).unwrap().id_hex(), k.id_hex());
        assert!(SealKey::parse("short").is_err());
        let err = SealKey::parse("c2VjcmV0").unwrap_err();
        assert!(!err.contains("c2VjcmV0"));
        assert!(!format!("{k:?}").contains(&hex_key));
    }
}
