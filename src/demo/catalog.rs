//! What the demo server offers: server info, capabilities, tools, resources and the prompt, as constant JSON text
//! written verbatim into replies, plus name lookups.
//!
//! Not here: running a tool (`tools.rs`) or routing methods (`dispatch.rs`). Allocates nothing.

/// The `initialize` result after `"protocolVersion":"…"`: capabilities, server info and instructions.
/// Only what the demo implements is declared; nothing ever changes, so every `listChanged` is false.
pub(super) const INITIALIZE_TAIL: &str = concat!(
    r#","capabilities":{"tools":{"listChanged":false},"resources":{"subscribe":false,"listChanged":false},"#,
    r#""prompts":{"listChanged":false},"logging":{}},"#,
    r#""serverInfo":{"name":"shadowcat-demo","title":"shadowcat demo server","version":""#,
    env!("CARGO_PKG_VERSION"),
    r#""},"instructions":"Demo MCP server built into shadowcat. Tools: echo (returns a message), add (sums two "#,
    r#"numbers), slow (takes steps x delay_ms and reports progress). Resources: demo://readme, demo://stats. "#,
    r#"Prompt: greet.""#
);

/// The tools every transport offers, as the comma-separated body of a `tools` array (a macro so
/// that both lists below are one `concat!` of literals).
macro_rules! common_tools {
    () => {
        concat!(
            r#"{"name":"echo","title":"Echo","description":"Returns the message it is given.","#,
            r#""inputSchema":{"type":"object","properties":{"message":{"type":"string","description":"Text to send back"}},"#,
            r#""required":["message"]},"annotations":{"readOnlyHint":true,"openWorldHint":false}},"#,
            r#"{"name":"add","title":"Add","description":"Adds two numbers.","#,
            r#""inputSchema":{"type":"object","properties":{"a":{"type":"number"},"b":{"type":"number"}},"#,
            r#""required":["a","b"]},"#,
            r#""outputSchema":{"type":"object","properties":{"sum":{"type":"number"}},"required":["sum"]},"#,
            r#""annotations":{"readOnlyHint":true,"openWorldHint":false}},"#,
            r#"{"name":"slow","title":"Slow","description":"Waits delay_ms before each of its steps; reports "#,
            r#"progress after each step when the request carries a progress token.","#,
            r#""inputSchema":{"type":"object","properties":{"#,
            r#""steps":{"type":"integer","minimum":1,"maximum":1000,"default":5},"#,
            r#""delay_ms":{"type":"integer","minimum":0,"maximum":10000,"default":100}}},"#,
            r#""annotations":{"readOnlyHint":true,"openWorldHint":false}}"#
        )
    };
}

/// The `tools/list` result over HTTP.
pub(super) const TOOLS_LIST: &str = concat!(r#"{"tools":["#, common_tools!(), r#"]}"#);

/// The `tools/list` result over stdio: the common tools plus the two that ask the client
/// (server→client requests need a channel back to the client, which the stateless HTTP demo
/// does not keep; see `README.md`).
pub(super) const STDIO_TOOLS_LIST: &str = concat!(
    r#"{"tools":["#,
    common_tools!(),
    r#",{"name":"confirm","title":"Confirm","description":"Asks the user a yes/no question through "#,
    r#"the client (elicitation/create) and returns the answer as JSON text.","#,
    r#""inputSchema":{"type":"object","properties":{"message":{"type":"string","description":"The question"}}},"#,
    r#""annotations":{"readOnlyHint":true,"openWorldHint":false}},"#,
    r#"{"name":"sample","title":"Sample","description":"Asks the client's model to answer a prompt "#,
    r#"(sampling/createMessage) and returns the answer's text.","#,
    r#""inputSchema":{"type":"object","properties":{"prompt":{"type":"string","description":"What to ask the model"}}},"#,
    r#""annotations":{"readOnlyHint":true,"openWorldHint":true}}"#,
    r#"]}"#
);

/// The `resources/list` result.
pub(super) const RESOURCES_LIST: &str = concat!(
    r#"{"resources":["#,
    r#"{"uri":"demo://readme","name":"readme","title":"About this server","#,
    r#""description":"What the demo server offers and why it exists.","mimeType":"text/plain"},"#,
    r#"{"uri":"demo://stats","name":"stats","title":"Server facts","#,
    r#""description":"Name, version, protocol versions and catalogue sizes as JSON.","mimeType":"application/json"}"#,
    r#"]}"#
);

/// The `resources/templates/list` result: the demo has no templates.
pub(super) const RESOURCE_TEMPLATES_LIST: &str = r#"{"resourceTemplates":[]}"#;

/// The `prompts/list` result.
pub(super) const PROMPTS_LIST: &str = concat!(
    r#"{"prompts":[{"name":"greet","title":"Greet","description":"Asks the model to greet someone.","#,
    r#""arguments":[{"name":"name","description":"Who to greet","required":true}]}]}"#
);

/// The text of `demo://readme`.
pub(super) const README_TEXT: &str = "shadowcat demo MCP server.\n\
Tools: echo {message}, add {a, b}, slow {steps, delay_ms} (progress notifications with a progress token).\n\
Resources: demo://readme (this text), demo://stats (JSON).\n\
Prompt: greet {name}.\n\
It is built on shadowcat's own stack so that benchmarks measure the proxy, not a slow upstream.\n";

/// The text of `demo://stats`.
pub(super) const STATS_JSON: &str = concat!(
    r#"{"server":"shadowcat-demo","version":""#,
    env!("CARGO_PKG_VERSION"),
    r#"","protocolVersions":["2024-11-05","2025-03-26","2025-06-18","2025-11-25"],"#,
    r#""tools":3,"resources":2,"resourceTemplates":0,"prompts":1}"#
);

/// The demo's tools.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Tool {
    /// `echo {message}`.
    Echo,
    /// `add {a, b}`.
    Add,
    /// `slow {steps, delay_ms}`.
    Slow,
}

impl Tool {
    /// The tool called `name`.
    pub(super) fn find(name: &str) -> Option<Self> {
        match name {
            "echo" => Some(Self::Echo),
            "add" => Some(Self::Add),
            "slow" => Some(Self::Slow),
            _ => None,
        }
    }

    /// Its name in `tools/list`.
    pub(super) fn name(self) -> &'static str {
        match self {
            Self::Echo => "echo",
            Self::Add => "add",
            Self::Slow => "slow",
        }
    }
}

/// The demo's resources.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Resource {
    /// `demo://readme`, plain text.
    Readme,
    /// `demo://stats`, JSON.
    Stats,
}

impl Resource {
    /// The resource at `uri`.
    pub(super) fn find(uri: &str) -> Option<Self> {
        match uri {
            "demo://readme" => Some(Self::Readme),
            "demo://stats" => Some(Self::Stats),
            _ => None,
        }
    }

    /// Its uri.
    pub(super) fn uri(self) -> &'static str {
        match self {
            Self::Readme => "demo://readme",
            Self::Stats => "demo://stats",
        }
    }

    /// Its MIME type.
    pub(super) fn mime_type(self) -> &'static str {
        match self {
            Self::Readme => "text/plain",
            Self::Stats => "application/json",
        }
    }

    /// Its contents.
    pub(super) fn text(self) -> &'static str {
        match self {
            Self::Readme => README_TEXT,
            Self::Stats => STATS_JSON,
        }
    }
}

/// The one prompt's name.
pub(super) const GREET_PROMPT: &str = "greet";

#[cfg(test)]
mod tests {
    use serde_json::Value;

    use super::*;
    use crate::demo::headers::SUPPORTED_VERSIONS;
    use crate::demo::test_support::names;

    fn parse(text: &str) -> Value {
        serde_json::from_str(text).unwrap_or_else(|error| panic!("{error}: {text}"))
    }

    #[test]
    fn constant_json_is_valid() {
        parse(&format!(r#"{{"protocolVersion":"x"{INITIALIZE_TAIL}}}"#));
        for text in [
            TOOLS_LIST,
            STDIO_TOOLS_LIST,
            RESOURCES_LIST,
            RESOURCE_TEMPLATES_LIST,
            PROMPTS_LIST,
            STATS_JSON,
        ] {
            parse(text);
        }
    }

    #[test]
    fn lists_and_lookups_agree() {
        let tools = parse(TOOLS_LIST);
        let names = names(&tools["tools"], "name");
        assert_eq!(names, ["echo", "add", "slow"]);
        assert!(names
            .iter()
            .all(|name| Tool::find(name).map(Tool::name) == Some(*name)));
        assert_eq!(Tool::find("nope"), None);
        let stdio = parse(STDIO_TOOLS_LIST);
        let stdio_names = super::super::test_support::names(&stdio["tools"], "name");
        assert_eq!(stdio_names, ["echo", "add", "slow", "confirm", "sample"]);
        let common = tools["tools"].as_array().unwrap();
        assert_eq!(stdio["tools"].as_array().unwrap()[..3], common[..]);

        let resources = parse(RESOURCES_LIST);
        for listed in resources["resources"].as_array().unwrap() {
            let resource = Resource::find(listed["uri"].as_str().unwrap()).unwrap();
            assert_eq!(listed["uri"], resource.uri());
            assert_eq!(listed["mimeType"], resource.mime_type());
        }
        assert_eq!(Resource::find("demo://nope"), None);

        let prompts = parse(PROMPTS_LIST);
        assert_eq!(prompts["prompts"][0]["name"], GREET_PROMPT);
    }

    #[test]
    fn stats_match_the_catalogue() {
        let stats = parse(STATS_JSON);
        assert_eq!(stats["server"], "shadowcat-demo");
        assert_eq!(
            stats["protocolVersions"],
            serde_json::json!(SUPPORTED_VERSIONS)
        );
        assert_eq!(
            stats["tools"],
            parse(TOOLS_LIST)["tools"].as_array().unwrap().len()
        );
        assert_eq!(
            stats["resources"],
            parse(RESOURCES_LIST)["resources"].as_array().unwrap().len()
        );
        assert_eq!(
            stats["prompts"],
            parse(PROMPTS_LIST)["prompts"].as_array().unwrap().len()
        );
    }
}
