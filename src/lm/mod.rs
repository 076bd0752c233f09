//! The mechanism language model trained here: a small byte-level GPT trained with the
//! project's own trainer on genome text (`outerloop lm train`) and served over the
//! OpenAI-compatible chat-completions API on 127.0.0.1 (`outerloop lm serve`).
