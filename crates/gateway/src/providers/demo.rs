//! The offline demo provider: composes an answer from the prompt, locally, and says so.
//! It exists so that the whole flow (`k12 dev`, the core, the screening) works with no key.

use futures::stream;

use super::{estimate_tokens, ChatRequest, Completion, Delta, DeltaStream, Role, Usage};

pub const MODEL: &str = "demo-1";

/// Words per streamed chunk.
const CHUNK_WORDS: usize = 4;

fn compose(req: &ChatRequest) -> String {
    let prompt = req
        .messages
        .iter()
        .rev()
        .find(|m| m.role == Role::User)
        .map(|m| m.content.as_str())
        .unwrap_or("");
    let topic: String = prompt
        .split_whitespace()
        .take(24)
        .collect::<Vec<_>>()
        .join(" ");
    let task = req.task_type.as_deref().unwrap_or("general");
    let body = match task {
        "lesson_plan" => format!(
            "Lesson plan outline for: {topic}\n\n1. Objective: students can explain the key idea in their own words.\n2. Warm-up (5 minutes): a question that connects the topic to what the class already knows.\n3. Direct instruction (15 minutes): introduce the idea with two worked examples.\n4. Guided practice (15 minutes): pairs solve three short problems and compare answers.\n5. Exit ticket (5 minutes): one question that checks the objective."
        ),
        "quiz" | "quiz_generation" => format!(
            "Quiz on: {topic}\n\n1. What is the main idea of the topic?\n2. Give one example from everyday life.\n3. Explain one common mistake and how to avoid it."
        ),
        _ => format!(
            "You asked about: {topic}\n\nA good way to approach this is to break it into small steps, try an example, and check your answer against what you already know."
        ),
    };
    format!(
        "[Demo answer: composed locally by the k12 gateway's offline demo provider; no AI model was called.]\n\n{body}"
    )
}

fn usage(req: &ChatRequest, content: &str) -> Usage {
    let prompt: u32 = req
        .messages
        .iter()
        .map(|m| estimate_tokens(&m.content))
        .sum();
    Usage::new(prompt, estimate_tokens(content))
}

/// Cuts the answer at most `max_tokens` estimated tokens, on a character boundary.
fn limit(mut content: String, max_tokens: u32) -> String {
    let max_bytes = (max_tokens as usize).saturating_mul(4);
    if content.len() > max_bytes {
        let mut cut = max_bytes;
        while !content.is_char_boundary(cut) {
            cut -= 1;
        }
        content.truncate(cut);
    }
    content
}

pub fn complete(req: &ChatRequest) -> Completion {
    let content = limit(compose(req), req.max_tokens);
    Completion {
        usage: Some(usage(req, &content)),
        content,
        model: MODEL.to_owned(),
    }
}

pub fn stream(req: &ChatRequest) -> DeltaStream {
    let content = limit(compose(req), req.max_tokens);
    let usage = usage(req, &content);
    let mut chunks = Vec::new();
    let mut current = String::new();
    let mut words = 0;
    for piece in content.split_inclusive(char::is_whitespace) {
        current.push_str(piece);
        words += 1;
        if words == CHUNK_WORDS {
            chunks.push(Ok(Delta::Text(std::mem::take(&mut current))));
            words = 0;
        }
    }
    if !current.is_empty() {
        chunks.push(Ok(Delta::Text(current)));
    }
    chunks.push(Ok(Delta::Usage {
        prompt_tokens: Some(usage.prompt_tokens),
        completion_tokens: Some(usage.completion_tokens),
    }));
    Box::pin(stream::iter(chunks))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::providers::Message;
    use futures::StreamExt;

    fn request(task: &str, max_tokens: u32) -> ChatRequest {
        ChatRequest {
            model: MODEL.into(),
            messages: vec![Message {
                role: Role::User,
                content: "Photosynthesis for grade 5".into(),
            }],
            max_tokens,
            temperature: None,
            task_type: Some(task.into()),
        }
    }

    #[test]
    fn says_it_is_a_demo_and_uses_the_prompt() {
        let c = complete(&request("lesson_plan", 1000));
        assert!(c.content.contains("demo provider"));
        assert!(c.content.contains("Photosynthesis for grade 5"));
        assert!(c.content.contains("Exit ticket"));
        let u = c.usage.unwrap();
        assert_eq!(u.total_tokens, u.prompt_tokens + u.completion_tokens);
    }

    #[tokio::test]
    async fn streams_the_same_text_in_several_chunks() {
        let req = request("lesson_plan", 1000);
        let chunks: Vec<_> = stream(&req).collect().await;
        let text: String = chunks
            .iter()
            .filter_map(|c| match c {
                Ok(Delta::Text(t)) => Some(t.as_str()),
                _ => None,
            })
            .collect();
        assert!(chunks.len() > 5);
        assert_eq!(text, complete(&req).content);
    }

    #[test]
    fn honours_max_tokens() {
        assert!(complete(&request("general", 5)).content.len() <= 20);
    }
}
