//! Tokens of one answer, read from the stream as it passes: OpenAI's final `usage` chunk, or
//! Anthropic's `message_start` (input) and `message_delta` (output) usage. A provider that
//! sends none is counted from the text it streamed (about four characters a token) and the
//! request's size, and the record says it was estimated.

use oqto_proto::llm::{ModelInfo, ProviderApi};
use serde::Deserialize;

/// What one request used.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Usage {
    pub input_tokens: u64,
    pub output_tokens: u64,
    pub cache_read_tokens: u64,
    pub cache_write_tokens: u64,
    /// Counted by the proxy, not reported by the provider.
    pub estimated: bool,
}

impl Usage {
    pub fn tokens(&self) -> u64 {
        self.input_tokens + self.output_tokens + self.cache_read_tokens + self.cache_write_tokens
    }

    /// US dollars at the catalogue's prices (per million tokens).
    pub fn cost(&self, model: &ModelInfo) -> f64 {
        let p = &model.price;
        (self.input_tokens as f64 * p.input
            + self.output_tokens as f64 * p.output
            + self.cache_read_tokens as f64 * p.cache_read
            + self.cache_write_tokens as f64 * p.cache_write)
            / 1_000_000.0
    }
}

/// Largest line kept while waiting for its end: a usage line is short, and a longer one (a
/// huge tool call's arguments) is only counted, not parsed.
const MAX_LINE: usize = 64 * 1024;

/// Reads the usage out of a response body fed to it chunk by chunk.
pub struct UsageTap {
    api: ProviderApi,
    line: Vec<u8>,
    overlong: bool,
    reported: Option<Usage>,
    streamed_chars: u64,
    request_bytes: u64,
}

#[derive(Deserialize)]
struct OpenAiChunk {
    #[serde(default)]
    usage: Option<OpenAiUsage>,
    #[serde(default)]
    choices: Vec<OpenAiChoice>,
}

#[derive(Deserialize)]
struct OpenAiUsage {
    #[serde(default)]
    prompt_tokens: u64,
    #[serde(default)]
    completion_tokens: u64,
    #[serde(default)]
    prompt_tokens_details: Option<OpenAiPromptDetails>,
}

#[derive(Deserialize)]
struct OpenAiPromptDetails {
    #[serde(default)]
    cached_tokens: u64,
}

#[derive(Deserialize)]
struct OpenAiChoice {
    #[serde(default)]
    delta: Option<OpenAiDelta>,
    #[serde(default)]
    message: Option<OpenAiDelta>,
}

#[derive(Deserialize)]
struct OpenAiDelta {
    #[serde(default)]
    content: Option<String>,
    #[serde(default)]
    reasoning_content: Option<String>,
}

#[derive(Deserialize)]
struct AnthropicEvent {
    #[serde(rename = "type", default)]
    kind: String,
    #[serde(default)]
    message: Option<AnthropicMessage>,
    #[serde(default)]
    usage: Option<AnthropicUsage>,
    #[serde(default)]
    delta: Option<AnthropicDelta>,
}

#[derive(Deserialize)]
struct AnthropicMessage {
    #[serde(default)]
    usage: Option<AnthropicUsage>,
}

#[derive(Deserialize, Default)]
struct AnthropicUsage {
    #[serde(default)]
    input_tokens: Option<u64>,
    #[serde(default)]
    output_tokens: Option<u64>,
    #[serde(default)]
    cache_read_input_tokens: Option<u64>,
    #[serde(default)]
    cache_creation_input_tokens: Option<u64>,
}

#[derive(Deserialize)]
struct AnthropicDelta {
    #[serde(default)]
    text: Option<String>,
    #[serde(default)]
    thinking: Option<String>,
    #[serde(default)]
    partial_json: Option<String>,
}

impl UsageTap {
    pub fn new(api: ProviderApi, request_bytes: usize) -> Self {
        Self {
            api,
            line: Vec::new(),
            overlong: false,
            reported: None,
            streamed_chars: 0,
            request_bytes: request_bytes as u64,
        }
    }

    pub fn feed(&mut self, mut chunk: &[u8]) {
        while let Some(end) = chunk.iter().position(|b| *b == b'\n') {
            self.push(&chunk[..end]);
            let line = std::mem::take(&mut self.line);
            if !std::mem::replace(&mut self.overlong, false) {
                self.line_done(&line);
            }
            self.line = line;
            self.line.clear();
            chunk = &chunk[end + 1..];
        }
        self.push(chunk);
    }

    fn push(&mut self, bytes: &[u8]) {
        if self.line.len() + bytes.len() > MAX_LINE {
            self.overlong = true;
            self.streamed_chars += bytes.len() as u64;
            self.line.clear();
        } else if !self.overlong {
            self.line.extend_from_slice(bytes);
        } else {
            self.streamed_chars += bytes.len() as u64;
        }
    }

    fn line_done(&mut self, line: &[u8]) {
        // Server-sent events: `data: {…}`; a whole JSON body (a request without `stream`) is
        // one line or several, and parses as it ends.
        let data = line
            .strip_prefix(b"data:")
            .map(<[u8]>::trim_ascii)
            .unwrap_or(line);
        if data.first() != Some(&b'{') {
            return;
        }
        match self.api {
            ProviderApi::OpenAiCompletions => self.openai(data),
            ProviderApi::AnthropicMessages => self.anthropic(data),
        }
    }

    fn openai(&mut self, data: &[u8]) {
        let Ok(chunk) = serde_json::from_slice::<OpenAiChunk>(data) else {
            return;
        };
        for choice in &chunk.choices {
            for delta in [&choice.delta, &choice.message].into_iter().flatten() {
                for text in [&delta.content, &delta.reasoning_content]
                    .into_iter()
                    .flatten()
                {
                    self.streamed_chars += text.chars().count() as u64;
                }
            }
        }
        if let Some(usage) = chunk.usage {
            let cached = usage.prompt_tokens_details.map_or(0, |d| d.cached_tokens);
            self.reported = Some(Usage {
                input_tokens: usage.prompt_tokens.saturating_sub(cached),
                output_tokens: usage.completion_tokens,
                cache_read_tokens: cached,
                cache_write_tokens: 0,
                estimated: false,
            });
        }
    }

    fn anthropic(&mut self, data: &[u8]) {
        let Ok(event) = serde_json::from_slice::<AnthropicEvent>(data) else {
            return;
        };
        if let Some(delta) = &event.delta {
            for text in [&delta.text, &delta.thinking, &delta.partial_json]
                .into_iter()
                .flatten()
            {
                self.streamed_chars += text.chars().count() as u64;
            }
        }
        // message_start carries the input (and a first output count), message_delta the
        // output so far; a non-streamed message carries both at its top level.
        let usage = match event.kind.as_str() {
            "message_start" => event.message.and_then(|m| m.usage),
            _ => event.usage,
        };
        if let Some(usage) = usage {
            let mut now = self.reported.unwrap_or_default();
            if let Some(v) = usage.input_tokens {
                now.input_tokens = v;
            }
            if let Some(v) = usage.output_tokens {
                now.output_tokens = v;
            }
            if let Some(v) = usage.cache_read_input_tokens {
                now.cache_read_tokens = v;
            }
            if let Some(v) = usage.cache_creation_input_tokens {
                now.cache_write_tokens = v;
            }
            self.reported = Some(now);
        }
    }

    /// The usage, once the body has ended (or the client went away).
    pub fn finish(mut self) -> Usage {
        let rest = std::mem::take(&mut self.line);
        if !self.overlong && !rest.is_empty() {
            self.line_done(&rest);
        }
        self.reported.unwrap_or(Usage {
            input_tokens: self.request_bytes.div_ceil(4),
            output_tokens: self.streamed_chars.div_ceil(4),
            estimated: true,
            ..Usage::default()
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tap(api: ProviderApi, body: &str, split: usize) -> Usage {
        let mut tap = UsageTap::new(api, 400);
        for piece in body.as_bytes().chunks(split) {
            tap.feed(piece);
        }
        tap.finish()
    }

    #[test]
    fn openais_usage_chunk_is_read_however_the_stream_is_cut() {
        let body = concat!(
            "data: {\"choices\":[{\"delta\":{\"content\":\"Hello\"}}]}\n\n",
            "data: {\"choices\":[],\"usage\":{\"prompt_tokens\":120,\"completion_tokens\":7,",
            "\"prompt_tokens_details\":{\"cached_tokens\":100}}}\n\n",
            "data: [DONE]\n\n"
        );
        for split in [1, 3, 17, body.len()] {
            let usage = tap(ProviderApi::OpenAiCompletions, body, split);
            assert_eq!(
                usage,
                Usage {
                    input_tokens: 20,
                    output_tokens: 7,
                    cache_read_tokens: 100,
                    cache_write_tokens: 0,
                    estimated: false
                },
                "split {split}"
            );
        }
    }

    #[test]
    fn anthropics_start_and_delta_usage_add_up() {
        let body = concat!(
            "event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"usage\":",
            "{\"input_tokens\":50,\"cache_read_input_tokens\":10,\"output_tokens\":1}}}\n\n",
            "event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"delta\":",
            "{\"type\":\"text_delta\",\"text\":\"Hi\"}}\n\n",
            "event: message_delta\ndata: {\"type\":\"message_delta\",\"usage\":{\"output_tokens\":9}}\n\n"
        );
        let usage = tap(ProviderApi::AnthropicMessages, body, 5);
        assert_eq!(
            (
                usage.input_tokens,
                usage.output_tokens,
                usage.cache_read_tokens,
                usage.estimated
            ),
            (50, 9, 10, false)
        );
    }

    #[test]
    fn without_usage_the_proxy_counts_and_says_so() {
        let body =
            "data: {\"choices\":[{\"delta\":{\"content\":\"abcdefgh\"}}]}\n\ndata: [DONE]\n\n";
        let usage = tap(ProviderApi::OpenAiCompletions, body, 4);
        assert_eq!(
            (usage.input_tokens, usage.output_tokens, usage.estimated),
            (100, 2, true)
        );
        let model: ModelInfo = serde_json::from_value(serde_json::json!({"provider":"p","id":"m",
            "contextWindow":1,"maxTokens":1,"price":{"input":2.0,"output":10.0}}))
        .unwrap();
        assert!((usage.cost(&model) - (100.0 * 2.0 + 2.0 * 10.0) / 1e6).abs() < 1e-12);
    }

    #[test]
    fn an_overlong_line_is_skipped_without_growing_and_the_rest_still_counts() {
        let huge = format!(
            "data: {{\"choices\":[{{\"delta\":{{\"content\":\"{}\"}}}}]}}\n",
            "x".repeat(MAX_LINE * 2)
        );
        let body = format!(
            "{huge}data: {{\"choices\":[],\"usage\":{{\"prompt_tokens\":3,\"completion_tokens\":4}}}}\n"
        );
        let usage = tap(ProviderApi::OpenAiCompletions, &body, 1000);
        assert_eq!((usage.input_tokens, usage.output_tokens), (3, 4));
    }
}
