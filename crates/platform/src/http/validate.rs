//! Small validations shared by the features, each answering a 422 naming the field.

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
