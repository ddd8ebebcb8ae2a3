//! Reading the gateway's Server-Sent Events: `event:` and `data:` lines, an event per
//! blank line. Bytes arrive in arbitrary pieces; a line is only read once it is whole.

/// One event: its name (empty for the default `message`) and its data lines joined.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SseEvent {
    pub event: String,
    pub data: String,
}

/// Incremental parser; `feed` appends every completed event to `out`.
#[derive(Debug, Default)]
pub struct SseParser {
    buf: Vec<u8>,
    event: String,
    data: Vec<String>,
}

/// The longest line accepted (the gateway's events are small); longer ones are an error.
pub const MAX_LINE: usize = 1024 * 1024;

impl SseParser {
    pub fn feed(&mut self, bytes: &[u8], out: &mut Vec<SseEvent>) -> Result<(), &'static str> {
        self.buf.extend_from_slice(bytes);
        while let Some(pos) = self.buf.iter().position(|&b| b == b'\n') {
            let line: Vec<u8> = self.buf.drain(..=pos).collect();
            let line = String::from_utf8_lossy(&line);
            let line = line.trim_end_matches(['\n', '\r']);
            if line.is_empty() {
                if !self.data.is_empty() || !self.event.is_empty() {
                    out.push(SseEvent {
                        event: std::mem::take(&mut self.event),
                        data: std::mem::take(&mut self.data).join("\n"),
                    });
                }
                continue;
            }
            if line.starts_with(':') {
                continue;
            }
            let (field, value) = match line.split_once(':') {
                Some((f, v)) => (f, v.strip_prefix(' ').unwrap_or(v)),
                None => (line, ""),
            };
            match field {
                "event" => self.event = value.to_owned(),
                "data" => self.data.push(value.to_owned()),
                _ => {}
            }
        }
        if self.buf.len() > MAX_LINE {
            return Err("an event line is too long");
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_split_anywhere_are_read_whole() {
        let text = ": keep-alive\n\ndata: {\"delta\":\"a\"}\n\nevent: done\r\ndata: {}\r\n\r\n";
        for split in 0..text.len() {
            let mut p = SseParser::default();
            let mut out = Vec::new();
            p.feed(&text.as_bytes()[..split], &mut out).unwrap();
            p.feed(&text.as_bytes()[split..], &mut out).unwrap();
            assert_eq!(
                out,
                vec![
                    SseEvent {
                        event: String::new(),
                        data: "{\"delta\":\"a\"}".into()
                    },
                    SseEvent {
                        event: "done".into(),
                        data: "{}".into()
                    },
                ],
                "split at {split}"
            );
        }
    }
}
