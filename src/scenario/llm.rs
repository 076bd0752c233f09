//! `[proposer.llm]` validated: where the language-model proposer's endpoint is, how it
//! samples, and what share of the children it writes.

use toml::Spanned;

use super::file::LlmFile;
use super::validate::Validator;

/// The language-model proposer's settings.
#[derive(Debug, Clone, PartialEq)]
pub struct LlmSettings {
    /// Base URL of the chat-completions API (`None`: replay only).
    pub endpoint: Option<String>,
    /// Model name sent with each request.
    pub model: String,
    /// Sampling temperature.
    pub temperature: f64,
    /// Most tokens per reply.
    pub max_tokens: u32,
    /// Seconds to wait for one reply.
    pub timeout_s: f64,
    /// The environment variable holding the API key.
    pub api_key_env: Option<String>,
    /// Share of the proposer's children the model writes.
    pub share: f64,
}

impl LlmSettings {
    /// Whether draft `index` (0-based, counted over the tick's drafts) is the model's:
    /// the model's drafts are spread evenly, `share` of every run of drafts to rounding.
    pub fn writes(&self, index: usize) -> bool {
        let before = (index as f64 * self.share).floor();
        let after = ((index + 1) as f64 * self.share).floor();
        after > before
    }
}

/// Validate `[proposer.llm]`; problems are recorded in `v`.
pub fn validate(v: &mut Validator<'_>, raw: &Spanned<LlmFile>) -> LlmSettings {
    let file = raw.get_ref();
    let endpoint = file.endpoint.as_ref().map(|e| {
        let url = e.get_ref().trim().trim_end_matches('/').to_string();
        let scheme_ok = url.starts_with("http://") || url.starts_with("https://");
        if !scheme_ok || url.len() <= "https://".len() {
            v.error(
                e.span(),
                format!("`proposer.llm.endpoint` = \"{}\" is not an http(s) URL", e.get_ref()),
                "e.g. \"http://127.0.0.1:8080/v1\" (the API's base URL; `/chat/completions` is appended)",
            );
        }
        url
    });
    let api_key_env = file.api_key_env.as_ref().map(|k| {
        let name = k.get_ref();
        let valid = !name.is_empty() && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
        if !valid {
            v.error(
                k.span(),
                format!("`proposer.llm.api_key_env` = \"{name}\" is not an environment variable's name"),
                "name the variable (e.g. \"OPENAI_API_KEY\"), never the key itself",
            );
        }
        name.clone()
    });
    let model = match &file.model {
        Some(m) if m.get_ref().trim().is_empty() => {
            v.error(m.span(), "`proposer.llm.model` is empty", "name the model the endpoint serves, e.g. \"default\"");
            String::new()
        }
        Some(m) => m.get_ref().clone(),
        None => {
            v.default_of::<String>("proposer.llm.model").map(|s| s.trim_matches('"').to_string()).unwrap_or_default()
        }
    };
    LlmSettings {
        endpoint,
        model,
        temperature: v.real_or_default(file.temperature.as_ref(), "proposer.llm.temperature"),
        max_tokens: v.int_or_default(file.max_tokens.as_ref(), "proposer.llm.max_tokens") as u32,
        timeout_s: v.real_or_default(file.timeout.as_ref(), "proposer.llm.timeout"),
        api_key_env,
        share: v.real_or_default(file.share.as_ref(), "proposer.llm.share"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_share_spreads_the_models_drafts_evenly() {
        let with = |share| LlmSettings {
            endpoint: None,
            model: "m".into(),
            temperature: 0.8,
            max_tokens: 64,
            timeout_s: 1.0,
            api_key_env: None,
            share,
        };
        let picks = |share| (0..8).filter(|&i| with(share).writes(i)).collect::<Vec<_>>();
        assert_eq!(picks(0.5), vec![1, 3, 5, 7]);
        assert_eq!(picks(1.0), (0..8).collect::<Vec<_>>());
        assert!(picks(0.0).is_empty());
        assert_eq!(picks(0.25), vec![3, 7]);
    }
}
