//! Backup logic with no I/O, so it is tested exhaustively and quickly:
//!
//! * [`seal`]: the client-side encryption of a backup stream (`K12_BACKUP_ENCRYPTION_KEY`):
//!   ChaCha20-Poly1305 over fixed-size chunks with a counter nonce and a final-chunk flag
//!   (the STREAM construction), so a stream is encrypted and checked with bounded memory,
//!   and a reordered, truncated, extended or altered stream, or a wrong key, is an error.
//! * [`retention`]: which backups a daily/weekly/monthly policy keeps.

pub mod retention;
pub mod seal;
