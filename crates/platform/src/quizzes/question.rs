//! The four question types and the JSON each one takes, checked before anything reaches
//! the database:
//!
//! | type | `choices` | `correct_answer` | a student's `answer` |
//! |---|---|---|---|
//! | `multiple_choice` | 2 to 50 `{"id": "a", "text": "Paris"}`, ids unique | required: the id of one choice, e.g. `"a"` | a choice id, e.g. `"a"` |
//! | `true_false` | empty | required: `true` or `false` | `true` or `false` |
//! | `short_answer` | empty | optional: a reference answer (string) for the grader | a string |
//! | `essay` | empty | optional: a model answer (string) for the grader | a string |
//!
//! Multiple-choice and true/false answers are graded automatically (an answer is correct
//! when it equals `correct_answer`); short answers and essays wait for a person.

use std::collections::HashSet;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::error::{ApiError, ApiResult};

/// The longest text answer a student may save (an essay).
const MAX_ANSWER_CHARS: usize = 100_000;

/// A question type.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum QuestionType {
    MultipleChoice,
    TrueFalse,
    ShortAnswer,
    Essay,
}

impl QuestionType {
    /// Parses the API (and database) name of a type.
    pub fn parse(s: &str) -> ApiResult<Self> {
        match s {
            "multiple_choice" => Ok(Self::MultipleChoice),
            "true_false" => Ok(Self::TrueFalse),
            "short_answer" => Ok(Self::ShortAnswer),
            "essay" => Ok(Self::Essay),
            _ => Err(ApiError::invalid(
                "type",
                "must be multiple_choice, true_false, short_answer or essay",
            )),
        }
    }

    /// The name used in the API and stored in `questions.type`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::MultipleChoice => "multiple_choice",
            Self::TrueFalse => "true_false",
            Self::ShortAnswer => "short_answer",
            Self::Essay => "essay",
        }
    }
}

/// One choice of a multiple-choice question. Answers name the choice by `id`, so the
/// text can be corrected without invalidating answers already given.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Choice {
    /// 1 to 50 characters, unique within the question (e.g. `"a"`).
    pub id: String,
    /// 1 to 2000 characters.
    pub text: String,
}

/// A question's type, choices and answer key, valid together.
#[derive(Clone, Debug)]
pub struct QuestionContent {
    kind: QuestionType,
    choices: Vec<Choice>,
    correct_answer: Option<Value>,
}

impl QuestionContent {
    /// Checks that choices and answer key fit the type (see the module table).
    pub fn parse(
        kind: QuestionType,
        choices: Vec<Choice>,
        correct_answer: Option<Value>,
    ) -> ApiResult<Self> {
        let correct_answer = correct_answer.filter(|v| !v.is_null());
        match kind {
            QuestionType::MultipleChoice => {
                if !(2..=50).contains(&choices.len()) {
                    return Err(ApiError::invalid(
                        "choices",
                        "a multiple_choice question needs 2 to 50 choices",
                    ));
                }
                let mut ids = HashSet::new();
                for c in &choices {
                    if c.id.is_empty() || c.id.chars().count() > 50 {
                        return Err(ApiError::invalid(
                            "choices",
                            "ids must be 1 to 50 characters",
                        ));
                    }
                    let n = c.text.trim().chars().count();
                    if n == 0 || n > 2000 {
                        return Err(ApiError::invalid(
                            "choices",
                            "texts must be 1 to 2000 characters",
                        ));
                    }
                    if !ids.insert(c.id.as_str()) {
                        return Err(ApiError::invalid(
                            "choices",
                            format!("choice id {:?} appears twice", c.id),
                        ));
                    }
                }
                match correct_answer.as_ref().and_then(Value::as_str) {
                    Some(id) if ids.contains(id) => {}
                    _ => {
                        return Err(ApiError::invalid(
                            "correct_answer",
                            "must be the id of one of the choices",
                        ))
                    }
                }
            }
            QuestionType::TrueFalse => {
                no_choices(&choices)?;
                if !correct_answer.as_ref().is_some_and(Value::is_boolean) {
                    return Err(ApiError::invalid(
                        "correct_answer",
                        "a true_false question needs true or false",
                    ));
                }
            }
            QuestionType::ShortAnswer | QuestionType::Essay => {
                no_choices(&choices)?;
                match &correct_answer {
                    None => {}
                    Some(Value::String(s)) if s.chars().count() <= 20_000 => {}
                    Some(_) => return Err(ApiError::invalid(
                        "correct_answer",
                        "must be absent, null or a reference answer of at most 20000 characters",
                    )),
                }
            }
        }
        Ok(Self {
            kind,
            choices,
            correct_answer,
        })
    }

    /// The question's type.
    pub fn kind(&self) -> QuestionType {
        self.kind
    }

    /// The choices as stored (`[]` for every type but multiple choice).
    pub fn choices_json(&self) -> Value {
        serde_json::to_value(&self.choices).expect("choices serialise")
    }

    /// The answer key, if the question has one (always for auto-graded types).
    pub fn correct_answer(&self) -> Option<&Value> {
        self.correct_answer.as_ref()
    }
}

fn no_choices(choices: &[Choice]) -> ApiResult<()> {
    if choices.is_empty() {
        Ok(())
    } else {
        Err(ApiError::invalid(
            "choices",
            "only multiple_choice questions have choices",
        ))
    }
}

/// Checks a student's answer against the question's type (and choices). `Err` holds the
/// reason, for a 422 naming the question.
pub fn check_answer(kind: QuestionType, choices: &[Choice], answer: &Value) -> Result<(), String> {
    match kind {
        QuestionType::MultipleChoice => match answer.as_str() {
            Some(id) if choices.iter().any(|c| c.id == id) => Ok(()),
            _ => Err("must be the id of one of the choices".into()),
        },
        QuestionType::TrueFalse => {
            if answer.is_boolean() {
                Ok(())
            } else {
                Err("must be true or false".into())
            }
        }
        QuestionType::ShortAnswer | QuestionType::Essay => match answer.as_str() {
            Some(s) if s.chars().count() <= MAX_ANSWER_CHARS => Ok(()),
            Some(_) => Err(format!("must be at most {MAX_ANSWER_CHARS} characters")),
            None => Err("must be a string".into()),
        },
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn choices(ids: &[&str]) -> Vec<Choice> {
        ids.iter()
            .map(|id| Choice {
                id: id.to_string(),
                text: format!("choice {id}"),
            })
            .collect()
    }

    #[test]
    fn multiple_choice_needs_two_choices_and_a_key_among_them() {
        let mc = QuestionType::MultipleChoice;
        assert!(QuestionContent::parse(mc, choices(&["a", "b"]), Some(json!("b"))).is_ok());
        assert!(QuestionContent::parse(mc, choices(&["a"]), Some(json!("a"))).is_err());
        assert!(QuestionContent::parse(mc, choices(&["a", "b"]), Some(json!("c"))).is_err());
        assert!(QuestionContent::parse(mc, choices(&["a", "b"]), None).is_err());
        assert!(QuestionContent::parse(mc, choices(&["a", "a"]), Some(json!("a"))).is_err());
        assert!(QuestionContent::parse(mc, choices(&["a", "b"]), Some(json!(0))).is_err());
    }

    #[test]
    fn true_false_needs_a_boolean_key_and_no_choices() {
        let tf = QuestionType::TrueFalse;
        assert!(QuestionContent::parse(tf, vec![], Some(json!(false))).is_ok());
        assert!(QuestionContent::parse(tf, vec![], Some(json!("true"))).is_err());
        assert!(QuestionContent::parse(tf, vec![], None).is_err());
        assert!(QuestionContent::parse(tf, choices(&["a", "b"]), Some(json!(true))).is_err());
    }

    #[test]
    fn open_questions_may_have_a_reference_answer() {
        for kind in [QuestionType::ShortAnswer, QuestionType::Essay] {
            assert!(QuestionContent::parse(kind, vec![], None).is_ok());
            assert!(QuestionContent::parse(kind, vec![], Some(Value::Null)).is_ok());
            assert!(QuestionContent::parse(kind, vec![], Some(json!("photosynthesis"))).is_ok());
            assert!(QuestionContent::parse(kind, vec![], Some(json!(3))).is_err());
        }
    }

    #[test]
    fn answers_must_fit_the_type() {
        let c = choices(&["a", "b"]);
        assert!(check_answer(QuestionType::MultipleChoice, &c, &json!("a")).is_ok());
        assert!(check_answer(QuestionType::MultipleChoice, &c, &json!("z")).is_err());
        assert!(check_answer(QuestionType::TrueFalse, &[], &json!(true)).is_ok());
        assert!(check_answer(QuestionType::TrueFalse, &[], &json!("true")).is_err());
        assert!(check_answer(QuestionType::Essay, &[], &json!("words")).is_ok());
        assert!(check_answer(QuestionType::ShortAnswer, &[], &json!(1)).is_err());
    }
}
