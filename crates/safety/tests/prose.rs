//! School prose screened as many short prompts is never withheld: the learned stage
//! reads every byte of a short prompt, so a class trained on harmful questions framed by
//! school subject ("How can I use chemistry to ...") must not learn the subject itself.
//! (Issue 17, fourth round: trained on HarmfulQA without school-subject negatives, the
//! hazard class withheld "... carbon dioxide and water to make glucose, releasing oxygen
//! ..." at strict.)

#[path = "../examples/shared/prose.rs"]
mod prose;

use safety::{Direction, Level, Pipeline, Policy, Role};

#[test]
fn school_prose_as_prompts_is_never_withheld() {
    let p = Pipeline::new();
    let text = prose::mixed_english(256 << 10);
    for size in [120, 200, 320] {
        for level in [Level::Strict, Level::Moderate, Level::Standard] {
            let policy = Policy::new(level, Role::Student);
            for q in prose::prompts(&text, size) {
                for dir in [Direction::Input, Direction::Output] {
                    let v = p.check(q, dir, &policy);
                    assert!(v.passed, "{level:?} {dir:?} withheld: {} | {q:?}", v.detail);
                }
            }
        }
    }
}
