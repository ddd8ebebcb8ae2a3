//! Pure checks of an upload, no I/O: filename sanitising, dangerous and double extensions,
//! the type from magic bytes, the allow-list per purpose, the declared-vs-detected
//! comparison, and the whole-file checks (full image decode with a pixel limit, zip
//! containers entry by entry, UTF-8 text). Each refusal says why; the route maps
//! [`Refusal`] to 415 or 422.

use std::io::{Read, Seek};

/// Why an upload is refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// The bytes are not an allowed type, or do not match what was declared (415).
    Type(String),
    /// The name or the content is refused (422).
    Invalid(String),
}

/// What an upload is for; each purpose has its allow-list and size limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Purpose {
    Submission,
}

impl Purpose {
    /// Largest accepted file.
    pub fn max_bytes(self) -> u64 {
        match self {
            Purpose::Submission => 50 * 1000 * 1000,
        }
    }

    fn allows(self, _kind: Kind) -> bool {
        match self {
            Purpose::Submission => true,
        }
    }
}

/// A type the platform accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Jpeg,
    Png,
    Gif,
    Webp,
    Pdf,
    Docx,
    Xlsx,
    Pptx,
    Doc,
    Xls,
    Ppt,
    Text,
    Csv,
}

impl Kind {
    pub fn mime(self) -> &'static str {
        match self {
            Kind::Jpeg => "image/jpeg",
            Kind::Png => "image/png",
            Kind::Gif => "image/gif",
            Kind::Webp => "image/webp",
            Kind::Pdf => "application/pdf",
            Kind::Docx => "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
            Kind::Xlsx => "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
            Kind::Pptx => {
                "application/vnd.openxmlformats-officedocument.presentationml.presentation"
            }
            Kind::Doc => "application/msword",
            Kind::Xls => "application/vnd.ms-excel",
            Kind::Ppt => "application/vnd.ms-powerpoint",
            Kind::Text => "text/plain",
            Kind::Csv => "text/csv",
        }
    }

    /// Extensions a file of this kind may have.
    fn extensions(self) -> &'static [&'static str] {
        match self {
            Kind::Jpeg => &["jpg", "jpeg"],
            Kind::Png => &["png"],
            Kind::Gif => &["gif"],
            Kind::Webp => &["webp"],
            Kind::Pdf => &["pdf"],
            Kind::Docx => &["docx"],
            Kind::Xlsx => &["xlsx"],
            Kind::Pptx => &["pptx"],
            Kind::Doc => &["doc"],
            Kind::Xls => &["xls"],
            Kind::Ppt => &["ppt"],
            Kind::Text => &["txt", "text", "md"],
            Kind::Csv => &["csv"],
        }
    }

    /// Other names clients use for this type in a part's Content-Type.
    fn aliases(self) -> &'static [&'static str] {
        match self {
            Kind::Jpeg => &["image/jpg", "image/pjpeg"],
            Kind::Csv => &[
                "application/csv",
                "text/comma-separated-values",
                "text/plain",
            ],
            Kind::Text => &["text/markdown"],
            _ => &[],
        }
    }

    pub fn is_image(self) -> bool {
        matches!(self, Kind::Jpeg | Kind::Png | Kind::Gif | Kind::Webp)
    }

    pub fn is_zip(self) -> bool {
        matches!(self, Kind::Docx | Kind::Xlsx | Kind::Pptx)
    }
}

/// What the first bytes say; zip containers and OLE files are narrowed down later (by
/// their entries, or by the extension for OLE, whose directory this does not parse).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Detected {
    Exact(Kind),
    Zip,
    Ole,
    Text,
}

/// Extensions refused whatever the bytes: executables, scripts and server pages.
const DANGEROUS: &[&str] = &[
    "exe",
    "bat",
    "cmd",
    "com",
    "msi",
    "msp",
    "mst",
    "scr",
    "pif",
    "cpl",
    "vbs",
    "vbe",
    "js",
    "jse",
    "mjs",
    "ws",
    "wsf",
    "wsc",
    "wsh",
    "ps1",
    "ps2",
    "psm1",
    "psd1",
    "lnk",
    "inf",
    "reg",
    "dll",
    "sys",
    "so",
    "dylib",
    "sh",
    "bash",
    "zsh",
    "csh",
    "ksh",
    "php",
    "php3",
    "php4",
    "php5",
    "php7",
    "phtml",
    "phar",
    "jsp",
    "jspx",
    "asp",
    "aspx",
    "asa",
    "cer",
    "cgi",
    "py",
    "pyc",
    "pyw",
    "rb",
    "pl",
    "pm",
    "jar",
    "war",
    "class",
    "hta",
    "htm",
    "html",
    "xhtml",
    "shtml",
    "svg",
    "svgz",
    "xml",
    "xsl",
    "swf",
    "app",
    "apk",
    "deb",
    "rpm",
    "dmg",
    "iso",
    "gadget",
    "application",
    "appx",
    "msix",
    "vb",
    "scf",
    "url",
    "htaccess",
    "chm",
];

/// Longest stored filename, in bytes.
pub const MAX_FILENAME_BYTES: usize = 200;

/// The filename to keep: the last path segment, without control or bidirectional
/// formatting characters, reserved characters or leading dots and spaces, at most
/// [`MAX_FILENAME_BYTES`] (the extension kept). Dangerous and double extensions refused.
pub fn sanitize_filename(raw: &str) -> Result<String, Refusal> {
    let last = raw.rsplit(['/', '\\']).next().unwrap_or_default();
    let cleaned: String = last
        .chars()
        .filter(|c| {
            !c.is_control()
                && !matches!(c, '<' | '>' | ':' | '"' | '|' | '?' | '*' | ';')
                // bidirectional overrides and isolates ("gpj.exe" shown as "exe.jpg")
                && !('\u{202A}'..='\u{202E}').contains(c)
                && !('\u{2066}'..='\u{2069}').contains(c)
                && !matches!(c, '\u{200E}' | '\u{200F}' | '\u{FEFF}')
        })
        .collect();
    let trimmed = cleaned
        .trim_start_matches(['.', ' '])
        .trim_end_matches(['.', ' ']);
    if trimmed.is_empty() {
        return Err(Refusal::Invalid("the file needs a name".into()));
    }
    let name = shorten(trimmed, MAX_FILENAME_BYTES);
    let mut segments = name
        .split('.')
        .skip(1)
        .map(|s| s.trim().to_ascii_lowercase());
    if let Some(bad) = segments.find(|s| DANGEROUS.contains(&s.as_str())) {
        return Err(Refusal::Invalid(format!(
            "files with a .{bad} extension are not accepted (also as a double extension)"
        )));
    }
    Ok(name)
}

/// Cuts `name` to `max` bytes on a character boundary, keeping a short extension.
fn shorten(name: &str, max: usize) -> String {
    if name.len() <= max {
        return name.to_owned();
    }
    let ext = name
        .rsplit_once('.')
        .map(|(_, e)| e)
        .filter(|e| e.len() <= 16)
        .map(|e| format!(".{e}"))
        .unwrap_or_default();
    let mut stem_end = max - ext.len();
    while !name.is_char_boundary(stem_end) {
        stem_end -= 1;
    }
    format!("{}{ext}", &name[..stem_end])
}

/// The lowercase final extension, if any.
pub fn extension(name: &str) -> Option<String> {
    name.rsplit_once('.').map(|(_, e)| e.to_ascii_lowercase())
}

/// The type the first bytes show (at least a few KiB, or the whole file when shorter).
pub fn detect(head: &[u8]) -> Result<Detected, Refusal> {
    let starts = |sig: &[u8]| head.starts_with(sig);
    let found = if starts(&[0xFF, 0xD8, 0xFF]) {
        Detected::Exact(Kind::Jpeg)
    } else if starts(b"\x89PNG\r\n\x1a\n") {
        Detected::Exact(Kind::Png)
    } else if starts(b"GIF87a") || starts(b"GIF89a") {
        Detected::Exact(Kind::Gif)
    } else if head.len() >= 12 && &head[..4] == b"RIFF" && &head[8..12] == b"WEBP" {
        Detected::Exact(Kind::Webp)
    } else if starts(b"%PDF-") {
        Detected::Exact(Kind::Pdf)
    } else if starts(b"PK\x03\x04") {
        Detected::Zip
    } else if starts(&[0xD0, 0xCF, 0x11, 0xE0, 0xA1, 0xB1, 0x1A, 0xE1]) {
        Detected::Ole
    } else if looks_like_text(head) {
        if looks_like_markup(head) {
            return Err(Refusal::Type(
                "HTML, SVG and XML documents are not accepted".into(),
            ));
        }
        Detected::Text
    } else {
        return Err(Refusal::Type(
            "the file is not an accepted type (images, PDF, Office documents, plain text, CSV)"
                .into(),
        ));
    };
    Ok(found)
}

/// UTF-8 without NUL; a sequence cut by the end of `head` is fine.
fn looks_like_text(head: &[u8]) -> bool {
    if head.contains(&0) {
        return false;
    }
    match std::str::from_utf8(head) {
        Ok(_) => true,
        Err(e) => e.error_len().is_none(),
    }
}

fn looks_like_markup(head: &[u8]) -> bool {
    let start: String = String::from_utf8_lossy(&head[..head.len().min(1024)])
        .trim_start_matches('\u{FEFF}')
        .trim_start()
        .chars()
        .take(256)
        .collect::<String>()
        .to_ascii_lowercase();
    [
        "<!doctype",
        "<html",
        "<svg",
        "<?xml",
        "<head",
        "<body",
        "<script",
        "<iframe",
    ]
    .iter()
    .any(|m| start.starts_with(m))
        || start.contains("<svg")
}

/// Narrows `detected` with the filename's extension (OLE files, text vs CSV), or with the
/// zip's entries (`zip_kind`, found by [`inspect_zip`]).
pub fn resolve(
    detected: Detected,
    filename: &str,
    zip_kind: Option<Kind>,
) -> Result<Kind, Refusal> {
    let ext = extension(filename).unwrap_or_default();
    let kind = match detected {
        Detected::Exact(kind) => kind,
        Detected::Zip => zip_kind.ok_or_else(|| {
            Refusal::Type("a zip file that is not an Office document is not accepted".into())
        })?,
        Detected::Ole => match ext.as_str() {
            "doc" => Kind::Doc,
            "xls" => Kind::Xls,
            "ppt" => Kind::Ppt,
            _ => {
                return Err(Refusal::Type(format!(
                    "the bytes are a legacy Office (OLE) document but the name ends in .{ext}; \
                     expected .doc, .xls or .ppt"
                )))
            }
        },
        Detected::Text if ext == "csv" => Kind::Csv,
        Detected::Text => Kind::Text,
    };
    if !kind.extensions().contains(&ext.as_str()) {
        return Err(Refusal::Type(format!(
            "the file name ends in .{ext} but the bytes are {} (.{})",
            kind.mime(),
            kind.extensions()[0]
        )));
    }
    Ok(kind)
}

/// Checks the part's declared Content-Type against the detected kind. Missing and
/// `application/octet-stream` (a client that does not know) declare nothing.
pub fn check_declared(declared: Option<&str>, kind: Kind, purpose: Purpose) -> Result<(), Refusal> {
    if !purpose.allows(kind) {
        return Err(Refusal::Type(format!(
            "{} is not accepted here",
            kind.mime()
        )));
    }
    let Some(declared) = declared else {
        return Ok(());
    };
    let essence = declared
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase();
    if essence.is_empty() || essence == "application/octet-stream" {
        return Ok(());
    }
    if essence == kind.mime()
        || kind.aliases().contains(&essence.as_str())
        // Windows browsers label .csv files as Excel.
        || (kind == Kind::Csv && essence == "application/vnd.ms-excel")
    {
        return Ok(());
    }
    Err(Refusal::Type(format!(
        "declared content type {essence} does not match the detected type {}",
        kind.mime()
    )))
}

/// Largest image accepted, in pixels (bounds the decoder's memory: 4 bytes a pixel).
pub const MAX_IMAGE_PIXELS: u64 = 40_000_000;
/// Largest allocation the image decoder may make.
const MAX_IMAGE_ALLOC: u64 = 256 * 1024 * 1024;

/// Decodes the whole image (not just its header), refusing one over [`MAX_IMAGE_PIXELS`],
/// a truncated or corrupt one, and one that carries script or markup (a GIF/JPEG + PHP
/// polyglot decodes fine, so the bytes are scanned too).
pub fn check_image<R: std::io::BufRead + Seek>(mut reader: R, kind: Kind) -> Result<(), Refusal> {
    let format = match kind {
        Kind::Jpeg => image::ImageFormat::Jpeg,
        Kind::Png => image::ImageFormat::Png,
        Kind::Gif => image::ImageFormat::Gif,
        Kind::Webp => image::ImageFormat::WebP,
        _ => return Ok(()),
    };
    let invalid =
        |e: image::ImageError| Refusal::Invalid(format!("the image cannot be decoded: {e}"));
    let io = |e: std::io::Error| Refusal::Invalid(format!("the image cannot be read: {e}"));
    // Dimensions first, from the header, so a huge canvas is refused before decoding.
    let start = reader.stream_position().map_err(io)?;
    let (w, h) = image::ImageReader::with_format(&mut reader, format)
        .into_dimensions()
        .map_err(invalid)?;
    if u64::from(w) * u64::from(h) > MAX_IMAGE_PIXELS {
        return Err(Refusal::Invalid(format!(
            "the image is {w}x{h} pixels; at most {MAX_IMAGE_PIXELS} pixels are accepted"
        )));
    }
    reader.seek(std::io::SeekFrom::Start(start)).map_err(io)?;
    let mut limits = image::Limits::default();
    limits.max_alloc = Some(MAX_IMAGE_ALLOC);
    let mut decoder = image::ImageReader::with_format(reader, format);
    decoder.limits(limits);
    decoder.decode().map_err(invalid)?;
    Ok(())
}

/// Markers of script or markup that have no business in an image: a polyglot carries
/// them after (or inside) valid image data. Case-insensitive.
const SCRIPT_MARKERS: &[&[u8]] = &[
    b"<?php",
    b"<script",
    b"<html",
    b"<svg",
    b"<iframe",
    b"javascript:",
];

/// Scans `bytes` for [`SCRIPT_MARKERS`]; `carry` holds the tail of the previous chunk so a
/// marker split across chunks is found. Returns the marker found.
pub fn find_script_marker(carry: &mut Vec<u8>, bytes: &[u8]) -> Option<&'static str> {
    const KEEP: usize = 16;
    let mut window = std::mem::take(carry);
    window.extend_from_slice(bytes);
    let lower = window.to_ascii_lowercase();
    let found = SCRIPT_MARKERS
        .iter()
        .find(|m| lower.windows(m.len()).any(|w| w == **m))
        .map(|m| std::str::from_utf8(m).unwrap_or("markup"));
    let keep_from = window.len().saturating_sub(KEEP);
    *carry = window[keep_from..].to_vec();
    found
}

/// Limits of a zip container's inspection.
#[derive(Debug, Clone, Copy)]
pub struct ZipLimits {
    pub max_entries: usize,
    pub max_total_uncompressed: u64,
    /// Uncompressed size over compressed size, per entry (entries under 1 MiB are exempt:
    /// small XML parts compress very well).
    pub max_ratio: u64,
}

impl Default for ZipLimits {
    fn default() -> Self {
        Self {
            max_entries: 5_000,
            max_total_uncompressed: 256 * 1024 * 1024,
            max_ratio: 100,
        }
    }
}

/// Extensions of archives that must not be nested in a container.
const ARCHIVES: &[&str] = &[
    "zip", "jar", "rar", "7z", "gz", "tgz", "bz2", "xz", "tar", "cab", "zst",
];

/// Inspects a zip container entry by entry: the central directory first (entry count,
/// declared sizes and ratios, names, symlinks, nested archives), then each entry is
/// decompressed through a byte cap (its declared size and the remaining total), so a
/// lying header is caught with bounded memory and time. Answers the Office kind
/// (`[Content_Types].xml` plus `word/`, `xl/` or `ppt/`).
pub fn inspect_zip<R: Read + Seek>(reader: R, limits: ZipLimits) -> Result<Kind, Refusal> {
    let archive = check_zip(reader, limits)?;
    let (mut content_types, mut word, mut xl, mut ppt) = (false, false, false, false);
    for name in archive.file_names().flatten() {
        content_types |= name == "[Content_Types].xml";
        word |= name.starts_with("word/");
        xl |= name.starts_with("xl/");
        ppt |= name.starts_with("ppt/");
    }
    if !content_types {
        return Err(Refusal::Type(
            "a zip file that is not an Office document is not accepted".into(),
        ));
    }
    match (word, xl, ppt) {
        (true, false, false) => Ok(Kind::Docx),
        (false, true, false) => Ok(Kind::Xlsx),
        (false, false, true) => Ok(Kind::Pptx),
        _ => Err(Refusal::Type(
            "an Office container that is not one Word, Excel or PowerPoint document".into(),
        )),
    }
}

/// The container checks of [`inspect_zip`] without the Office part: answers the archive
/// once every entry passed (OneRoster imports read their CSV files from it).
pub fn check_zip<R: Read + Seek>(
    reader: R,
    limits: ZipLimits,
) -> Result<zip::ZipArchive<R>, Refusal> {
    let bad = |m: String| Refusal::Invalid(format!("the archive is refused: {m}"));
    let mut archive =
        zip::ZipArchive::new(reader).map_err(|e| bad(format!("not a readable zip ({e})")))?;
    if archive.len() > limits.max_entries {
        return Err(bad(format!(
            "{} entries (at most {})",
            archive.len(),
            limits.max_entries
        )));
    }
    let mut declared_total: u64 = 0;
    for i in 0..archive.len() {
        let entry = archive
            .by_index_raw(i)
            .map_err(|e| bad(format!("entry {i}: {e}")))?;
        let name = entry
            .name()
            .map_err(|e| bad(format!("entry {i}: {e}")))?
            .into_owned();
        if name.starts_with('/')
            || name.starts_with('\\')
            || name.contains('\\')
            || name.split('/').any(|s| s == "..")
            || name.as_bytes().get(1) == Some(&b':')
            || entry.enclosed_name().is_none()
        {
            return Err(bad(format!("entry {name:?} has an unsafe path")));
        }
        if entry.is_symlink() || entry.unix_mode().is_some_and(|m| m & 0o170000 == 0o120000) {
            return Err(bad(format!("entry {name:?} is a symbolic link")));
        }
        if extension(&name).is_some_and(|e| ARCHIVES.contains(&e.as_str())) {
            return Err(bad(format!("entry {name:?} is a nested archive")));
        }
        let (size, compressed) = (entry.size(), entry.compressed_size());
        declared_total = declared_total.saturating_add(size);
        if declared_total > limits.max_total_uncompressed {
            return Err(bad(format!(
                "more than {} bytes uncompressed",
                limits.max_total_uncompressed
            )));
        }
        if size > 1024 * 1024 && size / compressed.max(1) > limits.max_ratio {
            return Err(bad(format!(
                "entry {name:?} expands {}:1 (at most {}:1)",
                size / compressed.max(1),
                limits.max_ratio
            )));
        }
    }
    // Decompress every entry through a cap: the declared size may lie.
    let mut remaining = limits.max_total_uncompressed;
    let mut buf = vec![0u8; 64 * 1024];
    for i in 0..archive.len() {
        let mut entry = archive
            .by_index(i)
            .map_err(|e| bad(format!("entry {i}: {e}")))?;
        let name = entry
            .name()
            .map_err(|e| bad(format!("entry {i}: {e}")))?
            .into_owned();
        let declared = entry.size();
        let cap = declared.min(remaining);
        let mut read: u64 = 0;
        let mut first = true;
        loop {
            let n = entry
                .read(&mut buf)
                .map_err(|e| bad(format!("entry {name:?}: {e}")))?;
            if n == 0 {
                break;
            }
            if first && buf[..n].starts_with(b"PK\x03\x04") {
                return Err(bad(format!("entry {name:?} is a nested archive")));
            }
            first = false;
            read += n as u64;
            if read > cap {
                return Err(bad(format!(
                    "entry {name:?} expands past its declared size or the total limit"
                )));
            }
        }
        remaining -= read;
    }
    Ok(archive)
}

/// Checks that a whole text file is UTF-8 without NUL bytes (streamed: `carry` holds an
/// incomplete sequence between chunks).
pub fn check_text_chunk(carry: &mut Vec<u8>, bytes: &[u8], last: bool) -> Result<(), Refusal> {
    let mut window = std::mem::take(carry);
    window.extend_from_slice(bytes);
    let not_text = || Refusal::Type("the file is not plain UTF-8 text".into());
    if window.contains(&0) {
        return Err(not_text());
    }
    match std::str::from_utf8(&window) {
        Ok(_) => Ok(()),
        Err(e) if e.error_len().is_none() && !last => {
            *carry = window[e.valid_up_to()..].to_vec();
            Ok(())
        }
        Err(_) => Err(not_text()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filenames_are_sanitised() {
        assert_eq!(
            sanitize_filename("../../etc/passwd.txt").unwrap(),
            "passwd.txt"
        );
        assert_eq!(
            sanitize_filename("C:\\x\\..essay.pdf").unwrap(),
            "essay.pdf"
        );
        assert_eq!(
            sanitize_filename("a\u{0}b\u{202E}c.pdf").unwrap(),
            "abc.pdf"
        );
        assert!(sanitize_filename("...").is_err());
        let long = format!("{}.pdf", "é".repeat(300));
        let s = sanitize_filename(&long).unwrap();
        assert!(s.len() <= MAX_FILENAME_BYTES && s.ends_with(".pdf"), "{s}");
    }

    #[test]
    fn dangerous_and_double_extensions_are_refused() {
        for name in [
            "run.exe",
            "essay.pdf.exe",
            "x.PHP",
            "shell.php.jpg",
            "a.svg",
            "page.html",
        ] {
            assert!(
                matches!(sanitize_filename(name), Err(Refusal::Invalid(_))),
                "{name}"
            );
        }
        assert!(sanitize_filename("my.essay.v2.pdf").is_ok());
    }

    #[test]
    fn types_come_from_the_bytes() {
        assert_eq!(
            detect(b"\x89PNG\r\n\x1a\nrest").unwrap(),
            Detected::Exact(Kind::Png)
        );
        assert_eq!(detect(b"%PDF-1.7").unwrap(), Detected::Exact(Kind::Pdf));
        assert_eq!(detect(b"a,b\n1,2\n").unwrap(), Detected::Text);
        assert!(detect(b"<!DOCTYPE html><p>").is_err());
        assert!(detect(b"<?xml version='1.0'?><svg>").is_err());
        assert!(detect(b"MZ\x90\x00\x03").is_err());
        assert_eq!(resolve(Detected::Text, "a.csv", None).unwrap(), Kind::Csv);
        assert!(matches!(
            resolve(Detected::Exact(Kind::Png), "a.pdf", None),
            Err(Refusal::Type(_))
        ));
        let e =
            check_declared(Some("application/pdf"), Kind::Png, Purpose::Submission).unwrap_err();
        assert!(
            matches!(&e, Refusal::Type(m) if m.contains("application/pdf") && m.contains("image/png"))
        );
        assert!(check_declared(Some("image/png; x=y"), Kind::Png, Purpose::Submission).is_ok());
    }

    #[test]
    fn markers_are_found_across_chunks() {
        let mut carry = Vec::new();
        assert_eq!(find_script_marker(&mut carry, b"GIF89a....<?p"), None);
        assert_eq!(
            find_script_marker(&mut carry, b"HP system()"),
            Some("<?php")
        );
    }

    #[test]
    fn text_is_checked_across_chunks() {
        let mut carry = Vec::new();
        let bytes = "héllo".as_bytes();
        check_text_chunk(&mut carry, &bytes[..2], false).unwrap();
        check_text_chunk(&mut carry, &bytes[2..], true).unwrap();
        assert!(check_text_chunk(&mut Vec::new(), b"a\0b", true).is_err());
    }
}
