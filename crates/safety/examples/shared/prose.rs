//! Generated school prose, shared by `benches/throughput.rs`, `examples/profile.rs` and
//! `tests/prose.rs`.

#![allow(dead_code)]

/// Mixed English as a model would write for a class: prose, a little markup, numbers,
/// the odd email and link. Deterministic.
pub fn mixed_english(bytes: usize) -> String {
    const PARAS: &[&str] = &[
        "Photosynthesis is the process plants use to turn light energy into chemical energy. \
         Inside the chloroplast, chlorophyll absorbs sunlight, and the plant combines carbon \
         dioxide and water to make glucose, releasing oxygen as a by-product. ",
        "The First World War began in 1914 after the assassination of Archduke Franz \
         Ferdinand. Millions of soldiers died in the trenches; new weapons such as machine \
         guns and poison gas changed how wars were fought. ",
        "To solve 3x + 5 = 20, subtract 5 from both sides to get 3x = 15, then divide by 3: \
         x = 5. Check your answer by substituting it back into the equation. ",
        "<p>Homework is due on <b>Friday</b>. Email questions to the class inbox at \
         science.class@example.org or see <a href=\"https://example.org/unit-4\">unit 4</a>.</p> ",
        "In Romeo and Juliet, Shakespeare shows how a feud between two families leads to \
         tragedy. Discuss how the theme of fate is developed in Act 3, Scene 1. ",
        "Healthy habits: sleep for nine hours, drink water, and take breaks from screens. \
         Talk to a trusted adult if something online makes you uncomfortable. ",
        "def average(xs):\n    return sum(xs) / len(xs)  # ignore the first row if it is a header\n",
        "The lab is in room 204; call the front office on 555-0100 ext. 12 if you are late. ",
    ];
    let mut s = String::with_capacity(bytes + 512);
    let mut i = 0usize;
    while s.len() < bytes {
        s.push_str(PARAS[i % PARAS.len()]);
        if i % 5 == 4 {
            s.push('\n');
        }
        i = i.wrapping_mul(31).wrapping_add(7) % 1009;
    }
    s
}

/// The prose cut into prompts of about `size` bytes, each ending after a space.
pub fn prompts(text: &str, size: usize) -> Vec<&str> {
    let mut out = Vec::new();
    let mut rest = text;
    while !rest.is_empty() {
        let at = rest.len().min(size);
        let cut = rest[at..].find(' ').map_or(rest.len(), |i| at + i + 1);
        out.push(&rest[..cut]);
        rest = &rest[cut..];
    }
    out
}
