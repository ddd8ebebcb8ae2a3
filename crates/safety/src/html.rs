//! A small, resumable HTML tokenizer: enough of the HTML5 rules to know where tags,
//! comments and raw-text elements (`<script>`, `<style>`, ...) begin and end, in one
//! linear pass over bytes. The active-content filter uses it to find what to sanitise;
//! the stream segmenter uses the same state machine to never cut inside a tag.

/// Elements whose content is raw text up to the matching end tag.
pub(crate) const RAW_TEXT: &[&str] = &[
    "script",
    "style",
    "xmp",
    "iframe",
    "noembed",
    "noframes",
    "noscript",
    "textarea",
    "title",
    "plaintext",
];

const NAME_CAP: usize = 24;

/// A tag name, lower-cased and capped (longer names never match a known element).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) struct Name {
    buf: [u8; NAME_CAP],
    len: u8,
    overflow: bool,
}

impl Name {
    fn push(&mut self, b: u8) {
        if (self.len as usize) < NAME_CAP {
            self.buf[self.len as usize] = b.to_ascii_lowercase();
            self.len += 1;
        } else {
            self.overflow = true;
        }
    }

    pub(crate) fn as_str(&self) -> &str {
        if self.overflow {
            return "";
        }
        std::str::from_utf8(&self.buf[..self.len as usize]).unwrap_or("")
    }
}

/// A complete tag, `start..end` covering `<` to `>` inclusive.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Tag {
    pub start: usize,
    pub end: usize,
    pub name: Name,
    pub is_end: bool,
    pub self_closing: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
enum St {
    #[default]
    Data,
    Lt,
    EndLt,
    TagName,
    Attrs {
        quote: u8,
        after_eq: bool,
        slash: bool,
    },
    Bang,
    BangDash,
    Comment {
        dashes: u8,
    },
    Bogus,
    /// Inside a raw-text element; `matched` counts bytes of `</name` seen so far.
    Raw {
        matched: u8,
    },
    Plaintext,
}

/// The tokenizer state; feed it bytes in order with their absolute positions.
#[derive(Debug, Clone, Default)]
pub(crate) struct Lexer {
    st: St,
    start: usize,
    name: Name,
    is_end: bool,
    raw: Name,
}

impl Lexer {
    /// True when between constructs (plain text), the only place a cut is harmless.
    pub(crate) fn in_data(&self) -> bool {
        self.st == St::Data
    }

    /// True inside a raw-text element, away from any `</`: only a `<` can change that.
    pub(crate) fn waiting_in_raw_text(&self) -> bool {
        self.st == St::Raw { matched: 0 }
    }

    /// Where the construct that is still open began, if any.
    pub(crate) fn open_since(&self) -> Option<usize> {
        (!self.in_data()).then_some(self.start)
    }

    /// Name of the tag being read or of the raw-text element we are inside.
    pub(crate) fn open_name(&self) -> Name {
        match self.st {
            St::Raw { .. } | St::Plaintext => self.raw,
            _ => self.name,
        }
    }

    /// Steps over a run of ASCII letters in one go, where the state allows it (inside a
    /// tag's attributes, a quoted value, a comment, a bogus comment, a tag name): the
    /// same state as stepping byte by byte, and letters never complete a tag. Returns
    /// false, having done nothing, in any other state (see `skip_letters_possible`).
    pub(crate) fn skip_letters(&mut self, run: &[u8]) -> bool {
        match &mut self.st {
            St::Attrs { quote: 0, .. } => {
                self.st = St::Attrs {
                    quote: 0,
                    after_eq: false,
                    slash: false,
                };
                true
            }
            St::Attrs { .. } | St::Bogus | St::Plaintext | St::Data | St::Raw { matched: 0 } => {
                true
            }
            St::Comment { dashes } => {
                *dashes = 0;
                true
            }
            St::TagName => {
                for &b in run {
                    self.name.push(b);
                }
                true
            }
            _ => false,
        }
    }

    /// Whether `skip_letters` can step over letters in the current state.
    pub(crate) fn skip_letters_possible(&self) -> bool {
        matches!(
            self.st,
            St::Attrs { .. }
                | St::Bogus
                | St::Plaintext
                | St::Data
                | St::Raw { matched: 0 }
                | St::Comment { .. }
                | St::TagName
        )
    }

    pub(crate) fn step(&mut self, b: u8, pos: usize) -> Option<Tag> {
        match self.st {
            St::Data => {
                if b == b'<' {
                    self.st = St::Lt;
                    self.start = pos;
                }
            }
            St::Lt => {
                if b.is_ascii_alphabetic() {
                    self.begin_tag(b, false);
                } else if b == b'/' {
                    self.st = St::EndLt;
                } else if b == b'!' {
                    self.st = St::Bang;
                } else if b == b'?' {
                    self.st = St::Bogus;
                } else if b == b'<' {
                    self.start = pos;
                } else {
                    self.st = St::Data;
                }
            }
            St::EndLt => {
                if b.is_ascii_alphabetic() {
                    self.begin_tag(b, true);
                } else if b == b'>' {
                    self.st = St::Data;
                } else {
                    self.st = St::Bogus;
                }
            }
            St::Bang => self.st = if b == b'-' { St::BangDash } else { St::Bogus },
            St::BangDash => {
                self.st = if b == b'-' {
                    St::Comment { dashes: 0 }
                } else {
                    St::Bogus
                }
            }
            St::Comment { dashes } => {
                self.st = match b {
                    b'-' => St::Comment {
                        dashes: (dashes + 1).min(2),
                    },
                    b'>' if dashes >= 2 => St::Data,
                    _ => St::Comment { dashes: 0 },
                }
            }
            St::Bogus => {
                if b == b'>' {
                    self.st = St::Data;
                }
            }
            St::TagName => match b {
                b'>' => return self.emit(pos, false),
                b'/' => {
                    self.st = St::Attrs {
                        quote: 0,
                        after_eq: false,
                        slash: true,
                    }
                }
                _ if b.is_ascii_whitespace() => {
                    self.st = St::Attrs {
                        quote: 0,
                        after_eq: false,
                        slash: false,
                    }
                }
                _ => self.name.push(b),
            },
            St::Attrs {
                quote,
                after_eq,
                slash,
            } => {
                if quote != 0 {
                    if b == quote {
                        self.st = St::Attrs {
                            quote: 0,
                            after_eq: false,
                            slash: false,
                        };
                    }
                } else {
                    match b {
                        b'>' => return self.emit(pos, slash),
                        b'"' | b'\'' if after_eq => {
                            self.st = St::Attrs {
                                quote: b,
                                after_eq: false,
                                slash: false,
                            }
                        }
                        b'=' => {
                            self.st = St::Attrs {
                                quote: 0,
                                after_eq: true,
                                slash: false,
                            }
                        }
                        b'/' => {
                            self.st = St::Attrs {
                                quote: 0,
                                after_eq: false,
                                slash: true,
                            }
                        }
                        _ if b.is_ascii_whitespace() => {
                            self.st = St::Attrs {
                                quote: 0,
                                after_eq,
                                slash: false,
                            }
                        }
                        _ => {
                            self.st = St::Attrs {
                                quote: 0,
                                after_eq: false,
                                slash: false,
                            }
                        }
                    }
                }
            }
            St::Raw { matched } => {
                let name = self.raw.as_str().as_bytes();
                let m = matched as usize;
                if m == 0 {
                    if b == b'<' {
                        self.start = pos;
                        self.st = St::Raw { matched: 1 };
                    }
                } else if m == 1 {
                    self.st = if b == b'/' {
                        St::Raw { matched: 2 }
                    } else if b == b'<' {
                        self.start = pos;
                        St::Raw { matched: 1 }
                    } else {
                        St::Raw { matched: 0 }
                    };
                } else if m - 2 < name.len() {
                    self.st = if b.to_ascii_lowercase() == name[m - 2] {
                        St::Raw {
                            matched: matched + 1,
                        }
                    } else if b == b'<' {
                        self.start = pos;
                        St::Raw { matched: 1 }
                    } else {
                        St::Raw { matched: 0 }
                    };
                } else if b == b'>' || b == b'/' || b.is_ascii_whitespace() {
                    // `</script` followed by a terminator: an end tag.
                    self.name = self.raw;
                    self.is_end = true;
                    if b == b'>' {
                        return self.emit(pos, false);
                    }
                    self.st = St::Attrs {
                        quote: 0,
                        after_eq: false,
                        slash: b == b'/',
                    };
                } else {
                    self.st = if b == b'<' {
                        self.start = pos;
                        St::Raw { matched: 1 }
                    } else {
                        St::Raw { matched: 0 }
                    };
                }
            }
            St::Plaintext => {}
        }
        None
    }

    fn begin_tag(&mut self, b: u8, is_end: bool) {
        self.name = Name::default();
        self.name.push(b);
        self.is_end = is_end;
        self.st = St::TagName;
    }

    fn emit(&mut self, pos: usize, self_closing: bool) -> Option<Tag> {
        let tag = Tag {
            start: self.start,
            end: pos + 1,
            name: self.name,
            is_end: self.is_end,
            self_closing,
        };
        self.st = St::Data;
        if !self.is_end {
            let n = self.name.as_str();
            if n == "plaintext" {
                self.raw = self.name;
                self.st = St::Plaintext;
            } else if RAW_TEXT.contains(&n) {
                self.raw = self.name;
                self.st = St::Raw { matched: 0 };
            }
        }
        Some(tag)
    }
}
