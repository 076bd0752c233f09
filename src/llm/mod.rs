//! The language-model proposer's connection to the world: an OpenAI-compatible
//! chat-completions client and the run folder's content-addressed store of every
//! exchange, which replays a run without the endpoint.
