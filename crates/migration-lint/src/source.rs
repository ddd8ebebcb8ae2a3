//! One migration file as PostgreSQL's own scanner and parser see it: statements with
//! their real start (after any comments), the comments before each, and positions as
//! 1-based line:column.

use pg_query::protobuf::{RawStmt, Token};
use pg_query::NodeEnum;

use crate::rules::Rule;

/// The prefix of an allow directive inside a comment.
const DIRECTIVE: &str = "k12-lint:";

/// sqlx's marker: a file whose first bytes are this runs outside a transaction.
pub const NO_TRANSACTION_MARKER: &str = "-- no-transaction";

/// A comment, by byte span.
#[derive(Debug, Clone)]
pub struct Comment {
    pub start: usize,
    pub text: String,
}

/// One top-level statement.
#[derive(Debug)]
pub struct Statement {
    pub node: NodeEnum,
    /// Byte offset of the statement's first token.
    pub start: usize,
    /// Comments between the previous statement and this one.
    pub leading_comments: Vec<Comment>,
}

/// A parsed file.
#[derive(Debug)]
pub struct Parsed {
    pub statements: Vec<Statement>,
    /// Comments after the last statement.
    pub trailing_comments: Vec<Comment>,
    /// Every comment in the file (including those inside statements).
    pub all_comments: Vec<Comment>,
}

/// Parses `sql` with libpg_query; the error text is PostgreSQL's.
pub fn parse(sql: &str) -> Result<Parsed, String> {
    let tokens = pg_query::scan_tokens(sql).map_err(|e| e.to_string())?;
    let parsed = pg_query::parse(sql, 0).map_err(|e| e.to_string())?;
    let mut comments = Vec::new();
    let mut code_starts = Vec::new();
    for t in &tokens {
        let start = usize::try_from(t.start).unwrap_or(0);
        let end = usize::try_from(t.end).unwrap_or(start);
        if t.token == Token::SqlComment as i32 || t.token == Token::CComment as i32 {
            comments.push(Comment {
                start,
                text: sql.get(start..end).unwrap_or("").to_string(),
            });
        } else {
            code_starts.push(start);
        }
    }
    let mut statements = Vec::new();
    let mut last_end = 0usize;
    for raw in parsed.protobuf.stmts {
        let RawStmt {
            stmt,
            stmt_location,
            stmt_len,
        } = raw;
        let Some(node) = stmt.and_then(|n| n.node) else {
            continue;
        };
        let loc = usize::try_from(stmt_location).unwrap_or(0);
        let end = if stmt_len > 0 {
            loc + usize::try_from(stmt_len).unwrap_or(0)
        } else {
            sql.len()
        };
        // The parser's location may be right after the previous `;`: skip comments/space.
        let idx = code_starts.partition_point(|&s| s < loc);
        let start = code_starts.get(idx).copied().unwrap_or(loc).min(end);
        // Comments between the previous statement's end and this statement's start
        // (libpg_query's location may or may not include them, depending on version).
        let leading_comments = comments
            .iter()
            .filter(|c| c.start >= last_end && c.start < start)
            .cloned()
            .collect();
        statements.push(Statement {
            node,
            start,
            leading_comments,
        });
        last_end = end;
    }
    let trailing_comments = comments
        .iter()
        .filter(|c| c.start >= last_end)
        .cloned()
        .collect();
    Ok(Parsed {
        statements,
        trailing_comments,
        all_comments: comments,
    })
}

/// Byte offset → 1-based (line, column); the column counts characters.
pub struct LineIndex {
    starts: Vec<usize>,
}

impl LineIndex {
    pub fn new(text: &str) -> Self {
        let mut starts = vec![0];
        starts.extend(text.match_indices('\n').map(|(i, _)| i + 1));
        LineIndex { starts }
    }

    pub fn position(&self, text: &str, offset: usize) -> (usize, usize) {
        let line = self.starts.partition_point(|&s| s <= offset).max(1);
        let line_start = self.starts[line - 1];
        let column = text
            .get(line_start..offset.min(text.len()))
            .map(|s| s.chars().count())
            .unwrap_or(0)
            + 1;
        (line, column)
    }
}

/// An allow directive parsed from a comment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Directive {
    /// `k12-lint: allow RULE[, RULE] because REASON`.
    Allow { rules: Vec<Rule> },
    /// A directive that is itself a finding.
    Bad { rule: Rule, message: String },
}

/// Reads the directives in one comment (none when it is not a `k12-lint:` comment).
pub fn directive(comment: &str) -> Option<Directive> {
    let body = comment
        .strip_prefix("--")
        .or_else(|| {
            comment
                .strip_prefix("/*")
                .map(|c| c.strip_suffix("*/").unwrap_or(c))
        })?
        .trim();
    let rest = body.strip_prefix(DIRECTIVE)?.trim();
    let Some(rest) = rest.strip_prefix("allow") else {
        return Some(Directive::Bad {
            rule: Rule::AllowWithoutReason,
            message: format!(
                "unrecognised k12-lint directive `{}`: expected `allow RULE because REASON`",
                body
            ),
        });
    };
    let (names, reason) = match rest.split_once(" because") {
        Some((names, reason)) => (names, reason.trim()),
        None => (rest, ""),
    };
    let mut rules = Vec::new();
    for name in names
        .split(|c: char| c == ',' || c.is_whitespace())
        .filter(|s| !s.is_empty())
    {
        match Rule::from_id(name) {
            Some(rule) => rules.push(rule),
            None => {
                return Some(Directive::Bad {
                    rule: Rule::AllowUnknownRule,
                    message: format!("allow names the unknown rule `{name}`"),
                })
            }
        }
    }
    if rules.is_empty() {
        return Some(Directive::Bad {
            rule: Rule::AllowUnknownRule,
            message: "allow names no rule".to_string(),
        });
    }
    if reason.is_empty() {
        let ids: Vec<&str> = rules.iter().map(|r| r.id()).collect();
        return Some(Directive::Bad {
            rule: Rule::AllowWithoutReason,
            message: format!("allow {} gives no reason", ids.join(", ")),
        });
    }
    Some(Directive::Allow { rules })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positions_are_one_based_and_count_characters() {
        let text = "ab\n\u{e9}\u{e9}x\n";
        let idx = LineIndex::new(text);
        assert_eq!(idx.position(text, 0), (1, 1));
        assert_eq!(idx.position(text, 1), (1, 2));
        assert_eq!(idx.position(text, 3), (2, 1));
        // "éé" is four bytes, two characters.
        assert_eq!(idx.position(text, 7), (2, 3));
    }

    #[test]
    fn directives() {
        assert_eq!(
            directive("-- k12-lint: allow truncate because the table is a cache"),
            Some(Directive::Allow {
                rules: vec![Rule::Truncate]
            })
        );
        assert_eq!(
            directive("/* k12-lint: allow drop-table, truncate because gone */"),
            Some(Directive::Allow {
                rules: vec![Rule::DropTable, Rule::Truncate]
            })
        );
        assert!(matches!(
            directive("-- k12-lint: allow truncate"),
            Some(Directive::Bad {
                rule: Rule::AllowWithoutReason,
                ..
            })
        ));
        assert!(matches!(
            directive("-- k12-lint: allow truncate because   "),
            Some(Directive::Bad {
                rule: Rule::AllowWithoutReason,
                ..
            })
        ));
        assert!(matches!(
            directive("-- k12-lint: allow no-such-rule because x"),
            Some(Directive::Bad {
                rule: Rule::AllowUnknownRule,
                ..
            })
        ));
        assert_eq!(directive("-- an ordinary comment"), None);
    }

    #[test]
    fn statement_starts_skip_comments() {
        let sql = "-- one\nSELECT 1;\n/* two */ -- three\n  SELECT 2;\n-- tail\n";
        let p = parse(sql).unwrap();
        assert_eq!(p.statements.len(), 2);
        assert_eq!(
            &sql[p.statements[0].start..p.statements[0].start + 6],
            "SELECT"
        );
        assert_eq!(p.statements[0].leading_comments.len(), 1);
        assert_eq!(
            &sql[p.statements[1].start..p.statements[1].start + 6],
            "SELECT"
        );
        assert_eq!(p.statements[1].leading_comments.len(), 2);
        assert_eq!(p.trailing_comments.len(), 1);
    }
}
