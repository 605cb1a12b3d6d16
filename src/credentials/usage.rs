//! What the proxy decides and reads, without any I/O: tokens used (from the providers' own
//! usage fields), whether a budget admits one more request, and the provider-shaped error
//! bodies a client in the container understands.

use crate::model::{Budget, Provider};
use crate::store::Usage;
use serde_json::Value;

/// Reads usage from each JSON document of a response (the whole body, or each SSE event's
/// data). Anthropic streams input tokens in `message_start` and a running output count in
/// each `message_delta`; OpenAI sends one `usage` (chat: `prompt_tokens`/`completion_tokens`,
/// responses API: `input_tokens`/`output_tokens` under `response`). The largest number seen
/// of each wins, which is right for all of them.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Tally {
    pub input_tokens: u64,
    pub output_tokens: u64,
}

impl Tally {
    pub fn see(&mut self, doc: &Value) {
        for usage in [
            doc.get("usage"),
            doc.pointer("/message/usage"),
            doc.pointer("/response/usage"),
        ]
        .into_iter()
        .flatten()
        {
            let n = |k: &str| usage.get(k).and_then(Value::as_u64).unwrap_or(0);
            let input = n("input_tokens")
                + n("prompt_tokens")
                + n("cache_creation_input_tokens")
                + n("cache_read_input_tokens");
            let output = n("output_tokens") + n("completion_tokens");
            self.input_tokens = self.input_tokens.max(input);
            self.output_tokens = self.output_tokens.max(output);
        }
    }

    pub fn see_json(&mut self, raw: &[u8]) {
        if let Ok(doc) = serde_json::from_slice::<Value>(raw) {
            self.see(&doc);
        }
    }

    pub fn usage(&self) -> Usage {
        Usage {
            requests: 0,
            input_tokens: self.input_tokens,
            output_tokens: self.output_tokens,
        }
    }
}

/// Whether a budget admits one more request after `used` today; the refusal says what was
/// spent and when it resets.
pub fn admit(budget: &Budget, used: &Usage) -> Result<(), String> {
    if let Some(limit) = budget.requests_per_day
        && used.requests >= limit
    {
        return Err(format!(
            "this workspace's budget of {limit} requests a day is spent ({} made today); it resets at 00:00 UTC",
            used.requests
        ));
    }
    if let Some(limit) = budget.tokens_per_day
        && used.tokens() >= limit
    {
        return Err(format!(
            "this workspace's budget of {limit} tokens a day is spent ({} used today); it resets at 00:00 UTC",
            used.tokens()
        ));
    }
    Ok(())
}

/// The UTC day of `at`, as `YYYY-MM-DD`: budgets are per day.
pub fn utc_day(at: std::time::SystemTime) -> String {
    humantime::format_rfc3339_seconds(at).to_string()[..10].to_string()
}

/// What went wrong, shaped as the provider's own errors so SDKs and CLIs show the message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// No token, a wrong one, or one that ended with the workspace's stop.
    Token,
    /// The workspace has no key of this provider in proxy mode.
    NoKey,
    /// The budget is spent.
    Spent,
    /// The provider could not be reached.
    Upstream,
    NotFound,
    /// Too many requests at once from the workspace.
    Busy,
}

impl Refusal {
    pub fn status(&self) -> u16 {
        match self {
            Refusal::Token => 401,
            Refusal::NoKey => 403,
            Refusal::Spent => 429,
            Refusal::Upstream => 502,
            Refusal::NotFound => 404,
            Refusal::Busy => 429,
        }
    }

    fn anthropic_type(&self) -> &'static str {
        match self {
            Refusal::Token => "authentication_error",
            Refusal::NoKey => "permission_error",
            Refusal::Spent => "rate_limit_error",
            Refusal::Upstream => "api_error",
            Refusal::NotFound => "not_found_error",
            Refusal::Busy => "rate_limit_error",
        }
    }

    fn openai_code(&self) -> &'static str {
        match self {
            Refusal::Token => "invalid_api_key",
            Refusal::NoKey => "no_key",
            Refusal::Spent => "budget_spent",
            Refusal::Upstream => "upstream_unreachable",
            Refusal::NotFound => "not_found",
            Refusal::Busy => "too_many_at_once",
        }
    }

    /// The body of the refusal, for a client of `provider` (Anthropic's shape by default).
    pub fn body(&self, provider: Option<Provider>, message: &str) -> String {
        let message = format!("Berth's credential proxy: {message}");
        let doc = match provider {
            Some(Provider::Openai) => serde_json::json!({
                "error": { "message": message, "type": "berth_proxy", "code": self.openai_code() }
            }),
            _ => serde_json::json!({
                "type": "error",
                "error": { "type": self.anthropic_type(), "message": message }
            }),
        };
        doc.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn anthropic_streams_count_input_once_and_the_last_output() {
        let mut t = Tally::default();
        t.see(&json!({"type":"message_start","message":{"usage":{"input_tokens":25,"cache_read_input_tokens":5,"output_tokens":1}}}));
        t.see(&json!({"type":"content_block_delta","delta":{"text":"hi"}}));
        t.see(&json!({"type":"message_delta","usage":{"output_tokens":15}}));
        t.see(&json!({"type":"message_delta","usage":{"output_tokens":42}}));
        assert_eq!(
            t,
            Tally {
                input_tokens: 30,
                output_tokens: 42
            }
        );
    }

    #[test]
    fn openai_shapes_are_read() {
        let mut chat = Tally::default();
        chat.see_json(br#"{"usage":{"prompt_tokens":9,"completion_tokens":12,"total_tokens":21}}"#);
        assert_eq!(chat.usage().tokens(), 21);
        let mut responses = Tally::default();
        responses.see(&json!({"type":"response.completed","response":{"usage":{"input_tokens":3,"output_tokens":4}}}));
        assert_eq!((responses.input_tokens, responses.output_tokens), (3, 4));
        // A chat stream asked without `stream_options.include_usage` tells no tokens.
        let mut silent = Tally::default();
        silent.see_json(br#"{"choices":[{"delta":{"content":"hi"}}]}"#);
        silent.see_json(br#"{"choices":[{"delta":{},"finish_reason":"stop"}]}"#);
        assert_eq!(silent.usage().tokens(), 0);
        let mut junk = Tally::default();
        junk.see_json(b"not json");
        junk.see(&json!({"usage":"none"}));
        assert_eq!(junk, Tally::default());
    }

    #[test]
    fn budgets_admit_until_spent() {
        let budget = Budget {
            requests_per_day: Some(2),
            tokens_per_day: Some(100),
        };
        let used = |requests, output_tokens| Usage {
            requests,
            input_tokens: 0,
            output_tokens,
        };
        assert!(admit(&budget, &used(1, 99)).is_ok());
        let e = admit(&budget, &used(2, 0)).unwrap_err();
        assert!(e.contains("2 requests a day is spent"), "{e}");
        let e = admit(&budget, &used(0, 100)).unwrap_err();
        assert!(e.contains("100 tokens a day"), "{e}");
        assert!(admit(&Budget::default(), &used(1_000_000, 1_000_000)).is_ok());
    }

    #[test]
    fn days_are_utc_dates() {
        let at = std::time::UNIX_EPOCH + std::time::Duration::from_secs(86_400 * 365 + 3600);
        assert_eq!(utc_day(at), "1971-01-01");
    }

    #[test]
    fn refusals_speak_each_providers_error_shape() {
        let a: Value =
            serde_json::from_str(&Refusal::Spent.body(Some(Provider::Anthropic), "spent")).unwrap();
        assert_eq!(a["error"]["type"], "rate_limit_error");
        assert!(a["error"]["message"].as_str().unwrap().contains("spent"));
        let o: Value =
            serde_json::from_str(&Refusal::Token.body(Some(Provider::Openai), "bad")).unwrap();
        assert_eq!(o["error"]["code"], "invalid_api_key");
        assert_eq!(Refusal::Token.status(), 401);
        assert_eq!(Refusal::Spent.status(), 429);
    }
}
