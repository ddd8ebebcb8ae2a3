//! Small validations shared by the features, each answering a 422 naming the field.

use serde::Deserialize;

use crate::error::{ApiError, ApiResult};

/// `value`, trimmed, has between `min` and `max` characters.
pub fn text(field: &str, value: &str, min: usize, max: usize) -> ApiResult<()> {
    let n = value.trim().chars().count();
    if n < min || n > max {
        return Err(if min == 0 {
            ApiError::invalid(field, format!("must be at most {max} characters"))
        } else {
            ApiError::invalid(field, format!("must be {min} to {max} characters"))
        });
    }
    Ok(())
}

/// `value`, if present, passes [`text`].
pub fn optional_text(field: &str, value: Option<&str>, min: usize, max: usize) -> ApiResult<()> {
    value.map_or(Ok(()), |v| text(field, v, min, max))
}

/// A query value kept as typed, so that text that is not a number is a 422 like a number
/// out of range.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub enum IntParam {
    Integer(i64),
    Text(String),
}

impl IntParam {
    /// The value if it is an integer within `range`, else a 422 naming `field`.
    pub fn within(
        value: Option<&Self>,
        field: &str,
        default: i64,
        range: std::ops::RangeInclusive<i64>,
    ) -> ApiResult<i64> {
        let n = match value {
            None => return Ok(default),
            Some(Self::Integer(n)) => Some(*n),
            Some(Self::Text(t)) => t.trim().parse().ok(),
        };
        match n {
            Some(n) if range.contains(&n) => Ok(n),
            _ => Err(ApiError::invalid(
                field,
                format!(
                    "must be an integer between {} and {}",
                    range.start(),
                    range.end()
                ),
            )),
        }
    }
}
