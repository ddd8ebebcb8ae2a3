//! Who is asking and how strict to be.

use std::fmt;
use std::str::FromStr;
use std::sync::Arc;

use regex::Regex;
use serde::{Deserialize, Serialize};

/// The tenant's safety level, by school stage.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Level {
    /// K-5: the classifier blocks from a score of 3.
    #[default]
    Strict,
    /// 6-8: from 6.
    Moderate,
    /// 9-12: from 10.
    Standard,
}

impl Level {
    /// The content-classifier score at which a category blocks.
    pub fn threshold(self) -> u32 {
        match self {
            Level::Strict => 3,
            Level::Moderate => 6,
            Level::Standard => 10,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Level::Strict => "strict",
            Level::Moderate => "moderate",
            Level::Standard => "standard",
        }
    }
}

impl FromStr for Level {
    type Err = UnknownValue;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "strict" => Ok(Level::Strict),
            "moderate" => Ok(Level::Moderate),
            "standard" => Ok(Level::Standard),
            _ => Err(UnknownValue::new("level", s)),
        }
    }
}

/// The role of the person whose prompt is screened.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    #[default]
    Student,
    Guardian,
    Teacher,
    CurriculumLead,
    Admin,
}

impl Role {
    /// Staff prompts are judged at the `standard` level at most, so a lesson on the First
    /// World War or on drug prevention is never refused.
    pub fn is_staff(self) -> bool {
        matches!(self, Role::Teacher | Role::CurriculumLead | Role::Admin)
    }
}

impl FromStr for Role {
    type Err = UnknownValue;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "student" => Ok(Role::Student),
            "guardian" => Ok(Role::Guardian),
            "teacher" => Ok(Role::Teacher),
            "curriculum_lead" => Ok(Role::CurriculumLead),
            "admin" => Ok(Role::Admin),
            _ => Err(UnknownValue::new("role", s)),
        }
    }
}

/// Which way the text travels.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Direction {
    /// A prompt on its way to the model.
    #[default]
    Input,
    /// An answer on its way to the reader.
    Output,
}

impl FromStr for Direction {
    type Err = UnknownValue;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "input" => Ok(Direction::Input),
            "output" => Ok(Direction::Output),
            _ => Err(UnknownValue::new("direction", s)),
        }
    }
}

/// A value that is not one of the allowed names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnknownValue {
    pub field: &'static str,
    pub value: String,
}

impl UnknownValue {
    fn new(field: &'static str, value: &str) -> Self {
        Self {
            field,
            value: value.chars().take(64).collect(),
        }
    }
}

impl fmt::Display for UnknownValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "unknown {} {:?}", self.field, self.value)
    }
}

impl std::error::Error for UnknownValue {}

/// A tenant's own student-id format, e.g. `S\d{6}` or `STU-\d{4,8}`, matched as a whole
/// word anywhere in the text (the built-in rule only matches digits after "student id",
/// "student number" or "SID").
#[derive(Debug, Clone)]
pub struct StudentIdPattern(Arc<Regex>);

impl StudentIdPattern {
    /// Compiles the pattern. Rejects patterns that could match an empty string or that
    /// compile to more than 256 KiB, so a tenant setting can't slow screening down.
    pub fn parse(pattern: &str) -> Result<Self, InvalidPattern> {
        let regex = regex::RegexBuilder::new(&format!(r"\b(?:{pattern})\b"))
            .size_limit(256 * 1024)
            .build()
            .map_err(|e| InvalidPattern(e.to_string()))?;
        if regex.is_match("") {
            return Err(InvalidPattern("the pattern matches an empty string".into()));
        }
        Ok(Self(Arc::new(regex)))
    }

    pub(crate) fn regex(&self) -> &Regex {
        &self.0
    }
}

impl PartialEq for StudentIdPattern {
    fn eq(&self, other: &Self) -> bool {
        self.0.as_str() == other.0.as_str()
    }
}

/// A student-id pattern that does not compile or is unsafe to use.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InvalidPattern(pub String);

impl fmt::Display for InvalidPattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "invalid student-id pattern: {}", self.0)
    }
}

impl std::error::Error for InvalidPattern {}

/// How to screen: the tenant's level, the requester's role and the tenant's student-id
/// format.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Policy {
    pub level: Level,
    pub role: Role,
    pub student_id: Option<StudentIdPattern>,
}

impl Policy {
    pub fn new(level: Level, role: Role) -> Self {
        Self {
            level,
            role,
            student_id: None,
        }
    }

    pub fn with_student_id(mut self, pattern: StudentIdPattern) -> Self {
        self.student_id = Some(pattern);
        self
    }

    /// The level the content classifier applies: staff prompts at `standard` at most.
    pub fn effective_level(&self, direction: Direction) -> Level {
        if direction == Direction::Input && self.role.is_staff() {
            Level::Standard
        } else {
            self.level
        }
    }
}
