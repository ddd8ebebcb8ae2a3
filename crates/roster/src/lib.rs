//! Roster files, read without I/O: an RFC 4180 CSV reader that keeps each record's line
//! number (quoted fields may span lines), case-insensitive header matching, the escape
//! that keeps a spreadsheet from running a field as a formula, and PostgreSQL's COPY text
//! encoding for the import fast path.

use std::borrow::Cow;

/// One CSV record and the line it starts on (1-based, the header is line 1).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Record {
    pub line: usize,
    pub fields: Vec<String>,
}

/// A CSV syntax error, at a line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CsvError {
    pub line: usize,
    pub message: String,
}

/// Reads records from text: fields separated by commas, records by LF or CRLF, fields
/// quoted with `"` (a doubled `""` inside is one quote). A leading UTF-8 BOM is skipped.
/// Blank lines are skipped.
pub struct Records<'a> {
    text: &'a str,
    pos: usize,
    line: usize,
}

impl<'a> Records<'a> {
    pub fn new(text: &'a str) -> Self {
        let text = text.strip_prefix('\u{feff}').unwrap_or(text);
        Self {
            text,
            pos: 0,
            line: 1,
        }
    }
}

impl Iterator for Records<'_> {
    type Item = Result<Record, CsvError>;

    fn next(&mut self) -> Option<Self::Item> {
        let bytes = self.text.as_bytes();
        // Skip blank lines.
        loop {
            match bytes.get(self.pos) {
                None => return None,
                Some(b'\n') => {
                    self.pos += 1;
                    self.line += 1;
                }
                Some(b'\r') if bytes.get(self.pos + 1) == Some(&b'\n') => {
                    self.pos += 2;
                    self.line += 1;
                }
                _ => break,
            }
        }
        let start_line = self.line;
        let mut fields = Vec::new();
        let mut field = String::new();
        let mut quoted = false;
        let mut was_quoted = false;
        let mut i = self.pos;
        let mut seg = i;
        loop {
            let Some(&b) = bytes.get(i) else {
                if quoted {
                    self.pos = i;
                    return Some(Err(CsvError {
                        line: start_line,
                        message: "a quoted field is not closed".into(),
                    }));
                }
                field.push_str(&self.text[seg..i]);
                fields.push(std::mem::take(&mut field));
                self.pos = i;
                break;
            };
            if quoted {
                match b {
                    b'"' if bytes.get(i + 1) == Some(&b'"') => {
                        field.push_str(&self.text[seg..=i]);
                        i += 2;
                        seg = i;
                    }
                    b'"' => {
                        field.push_str(&self.text[seg..i]);
                        quoted = false;
                        i += 1;
                        seg = i;
                    }
                    b'\n' => {
                        self.line += 1;
                        i += 1;
                    }
                    _ => i += 1,
                }
                continue;
            }
            match b {
                b'"' if i == seg && field.is_empty() && !was_quoted => {
                    quoted = true;
                    was_quoted = true;
                    i += 1;
                    seg = i;
                }
                b'"' => {
                    self.pos = i;
                    self.skip_line();
                    return Some(Err(CsvError {
                        line: start_line,
                        message: "a quote inside an unquoted field".into(),
                    }));
                }
                b',' => {
                    field.push_str(&self.text[seg..i]);
                    fields.push(std::mem::take(&mut field));
                    was_quoted = false;
                    i += 1;
                    seg = i;
                }
                b'\n' | b'\r' => {
                    let end = i;
                    i += if b == b'\r' && bytes.get(i + 1) == Some(&b'\n') {
                        2
                    } else {
                        1
                    };
                    field.push_str(&self.text[seg..end]);
                    fields.push(std::mem::take(&mut field));
                    self.line += 1;
                    self.pos = i;
                    break;
                }
                _ if was_quoted => {
                    self.pos = i;
                    self.skip_line();
                    return Some(Err(CsvError {
                        line: start_line,
                        message: "text after a closing quote".into(),
                    }));
                }
                _ => i += 1,
            }
        }
        Some(Ok(Record {
            line: start_line,
            fields,
        }))
    }
}

impl Records<'_> {
    /// After a syntax error: continue at the next line.
    fn skip_line(&mut self) {
        let bytes = self.text.as_bytes();
        while let Some(&b) = bytes.get(self.pos) {
            self.pos += 1;
            if b == b'\n' {
                self.line += 1;
                return;
            }
        }
    }
}

/// Where each wanted column is in a header row.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Columns {
    /// `wanted[i]` is at field `index[i]` (None: an optional column that is absent).
    pub index: Vec<Option<usize>>,
}

impl Columns {
    /// Matches `header` (trimmed, case-insensitive) against the required and optional
    /// column names, in that order. Missing required columns are the error, all named.
    pub fn match_header(
        header: &[String],
        required: &[&str],
        optional: &[&str],
    ) -> Result<Self, Vec<String>> {
        let find = |name: &str| {
            header
                .iter()
                .position(|h| h.trim().eq_ignore_ascii_case(name))
        };
        let missing: Vec<String> = required
            .iter()
            .filter(|r| find(r).is_none())
            .map(|r| r.to_string())
            .collect();
        if !missing.is_empty() {
            return Err(missing);
        }
        Ok(Self {
            index: required
                .iter()
                .chain(optional)
                .map(|name| find(name))
                .collect(),
        })
    }

    /// The value of wanted column `i` in `fields`, trimmed; empty when absent.
    pub fn get<'f>(&self, fields: &'f [String], i: usize) -> &'f str {
        self.index
            .get(i)
            .copied()
            .flatten()
            .and_then(|at| fields.get(at))
            .map_or("", |s| s.trim())
    }
}

/// Whether a spreadsheet would run this value as a formula (`=`, `+`, `-`, `@`, or a tab
/// or carriage return first).
pub fn is_formula(value: &str) -> bool {
    matches!(
        value.as_bytes().first(),
        Some(b'=' | b'+' | b'-' | b'@' | b'\t' | b'\r')
    )
}

/// The value as a CSV field for export: formula-leading values get a leading `'` so a
/// spreadsheet shows them as text, and the field is quoted when it needs to be.
pub fn export_field(value: &str) -> String {
    let value: Cow<str> = if is_formula(value) {
        Cow::Owned(format!("'{value}"))
    } else {
        Cow::Borrowed(value)
    };
    if value.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", value.replace('"', "\"\""))
    } else {
        value.into_owned()
    }
}

/// Appends one CSV record to `out`: every field through [`export_field`] (the one
/// escaping of every export), separated by commas, ended by CRLF (RFC 4180).
pub fn export_row(out: &mut String, fields: &[&str]) {
    for (i, field) in fields.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push_str(&export_field(field));
    }
    out.push_str("\r\n");
}

/// Appends `value` to `out` in PostgreSQL's COPY text format (backslash, tab, newline and
/// carriage return escaped).
pub fn copy_text(out: &mut String, value: &str) {
    for c in value.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\t' => out.push_str("\\t"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            c => out.push(c),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn records(text: &str) -> Vec<Result<Record, CsvError>> {
        Records::new(text).collect()
    }

    fn ok(line: usize, fields: &[&str]) -> Result<Record, CsvError> {
        Ok(Record {
            line,
            fields: fields.iter().map(|s| s.to_string()).collect(),
        })
    }

    #[test]
    fn plain_quoted_and_multiline_fields_keep_their_line_numbers() {
        let text =
            "\u{feff}a,b,c\r\n1,\"two, too\",3\n\n\"multi\nline\",\"say \"\"hi\"\"\",\n x , y ,z";
        assert_eq!(
            records(text),
            [
                ok(1, &["a", "b", "c"]),
                ok(2, &["1", "two, too", "3"]),
                ok(4, &["multi\nline", "say \"hi\"", ""]),
                ok(6, &[" x ", " y ", "z"]),
            ]
        );
    }

    #[test]
    fn syntax_errors_name_the_line_and_reading_goes_on() {
        let got = records("a,b\nx\"y,1\n\"ok\"junk,2\nfine,3\n\"open,4\n");
        assert_eq!(got[0], ok(1, &["a", "b"]));
        assert_eq!(got[1].as_ref().unwrap_err().line, 2);
        assert_eq!(got[2].as_ref().unwrap_err().line, 3);
        assert_eq!(got[3], ok(4, &["fine", "3"]));
        assert_eq!(
            got[4].as_ref().unwrap_err().message,
            "a quoted field is not closed"
        );
        assert_eq!(got.len(), 5);
    }

    #[test]
    fn headers_match_case_insensitively_and_name_every_missing_column() {
        let header: Vec<String> = [" Email", "FIRST_NAME", "role"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        let cols =
            Columns::match_header(&header, &["email", "role"], &["first_name", "x"]).unwrap();
        assert_eq!(cols.index, [Some(0), Some(2), Some(1), None]);
        let row: Vec<String> = ["a@b.org ", "Ann", "student"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        assert_eq!(cols.get(&row, 0), "a@b.org");
        assert_eq!(cols.get(&row, 3), "");
        assert_eq!(
            Columns::match_header(&header, &["email", "course", "section"], &[]).unwrap_err(),
            ["course", "section"]
        );
    }

    #[test]
    fn formulas_are_escaped_on_export() {
        assert_eq!(export_field("=SUM(A1)"), "'=SUM(A1)");
        assert_eq!(export_field("@cmd"), "'@cmd");
        assert_eq!(export_field("-1+1"), "'-1+1");
        assert_eq!(export_field("+x,y"), "\"'+x,y\"");
        assert_eq!(export_field("plain"), "plain");
        assert_eq!(export_field("a \"q\""), "\"a \"\"q\"\"\"");
        assert!(!is_formula("Ann"));
    }

    #[test]
    fn export_rows_escape_every_field_and_read_back() {
        let mut out = String::new();
        export_row(&mut out, &["email", "first_name"]);
        export_row(&mut out, &["dee@x.test", "=HYPERLINK(\"http://x\")"]);
        export_row(&mut out, &["\tcmd", "\rcmd"]);
        assert_eq!(
            out,
            "email,first_name\r\ndee@x.test,\"'=HYPERLINK(\"\"http://x\"\")\"\r\n'\tcmd,\"'\rcmd\"\r\n"
        );
        // Our own reader gets the escaped text back, one record per row.
        let rows: Vec<Vec<String>> = Records::new(&out).map(|r| r.unwrap().fields).collect();
        assert_eq!(rows[1][1], "'=HYPERLINK(\"http://x\")");
        assert_eq!(rows[2], ["'\tcmd", "'\rcmd"]);
    }

    #[test]
    fn copy_text_escapes() {
        let mut out = String::new();
        copy_text(&mut out, "a\\b\tc\nd\re");
        assert_eq!(out, "a\\\\b\\tc\\nd\\re");
    }
}
