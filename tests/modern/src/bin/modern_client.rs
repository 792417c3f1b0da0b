//! A 2026-07-28 MCP client on the official Rust SDK (rmcp), run against the proxy by
//! tests/interop/test_modern.py. Starts with `server/discover` (no `initialize`, no session)
//! and prints one JSON line per result on stdout.
//!
//! Usage: `modern_client URL list` | `URL call NAME JSON_ARGS` | `URL list-call NAME JSON_ARGS`
//! (lists the tools first, so rmcp sends the `Mcp-Param-*` headers their schemas ask for) |
//! `URL discover` (print the server's discovered info) |
//! `URL probe NAME JSON_ARGS NAME2 JSON_ARGS2` (list the tools, then call NAME, then NAME2; prints
//! `{"tools": [...], "calls": [ONE, TWO]}` where each call is `{"text", "is_error"}` or, when the
//! call failed with a JSON-RPC error, `{"error": {"code", "message"}}`; exit 0 either way) |
//! `URL listen HOLD_SECONDS` (open `subscriptions/listen`, print the first notification, then
//! check the stream stays open for HOLD_SECONDS; prints `{"held":true}` or `{"ended":…}`).
//! The client declares `sampling` and `elicitation` and answers those input requests (MRTR
//! rounds driven by rmcp's `call_tool`): sampling with the text `sampled by rmcp`, elicitation
//! by accepting with `{"answer": "elicited by rmcp"}`; the printed call result also has
//! `"rounds"` (when not 0): how many input requests it answered.
//! Exit status 0 on success, 1 with the error on stderr.

// Sampling is what the legacy peers under test ask for (SEP-2577 deprecates it later).
#![allow(deprecated)]

use std::time::Duration;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use rmcp::model::{
    CallToolRequestParams, ClientCapabilities, ClientConfig, CreateMessageRequestParams,
    CreateMessageResult, ElicitRequestParams, ElicitResult, ElicitationAction, Implementation,
    ProtocolVersion, SamplingMessage, SubscriptionFilter,
};
use rmcp::service::RequestContext;
use rmcp::transport::streamable_http_client::StreamableHttpClientTransportConfig;
use rmcp::transport::StreamableHttpClientTransport;
use rmcp::{ClientHandler, ClientLifecycleMode, ClientServiceExt, RoleClient};

type Error = Box<dyn std::error::Error>;

/// Answers sampling input requests with a fixed text and counts them.
#[derive(Clone, Default)]
struct Sampler {
    rounds: Arc<AtomicUsize>,
}

impl ClientHandler for Sampler {
    async fn create_message(
        &self,
        _params: CreateMessageRequestParams,
        _context: RequestContext<RoleClient>,
    ) -> Result<CreateMessageResult, rmcp::ErrorData> {
        self.rounds.fetch_add(1, Ordering::SeqCst);
        Ok(CreateMessageResult::new(
            SamplingMessage::assistant_text("sampled by rmcp"),
            "shadowcat-test-model".to_string(),
        ))
    }

    async fn create_elicitation(
        &self,
        _request: ElicitRequestParams,
        _context: RequestContext<RoleClient>,
    ) -> Result<ElicitResult, rmcp::ErrorData> {
        self.rounds.fetch_add(1, Ordering::SeqCst);
        Ok(ElicitResult::new(ElicitationAction::Accept)
            .with_content(serde_json::json!({ "answer": "elicited by rmcp" })))
    }

    fn get_info(&self) -> ClientConfig {
        ClientConfig::new(
            ClientCapabilities::builder()
                .enable_elicitation()
                .enable_sampling()
                .build(),
            Implementation::new("shadowcat-modern-client", "0.0.0"),
        )
    }
}

/// A call's outcome as JSON: the result's texts, or the JSON-RPC error it failed with.
async fn try_call(
    client: &rmcp::service::RunningService<RoleClient, Sampler>,
    name: &str,
    arguments: &str,
) -> Result<serde_json::Value, Error> {
    let serde_json::Value::Object(arguments) = serde_json::from_str(arguments)? else {
        return Err("JSON_ARGS must be an object".into());
    };
    match client
        .call_tool(CallToolRequestParams::new(name.to_owned()).with_arguments(arguments))
        .await
    {
        Ok(result) => {
            let texts: Vec<String> = result
                .content
                .iter()
                .filter_map(|c| c.as_text().map(|t| t.text.clone()))
                .collect();
            Ok(serde_json::json!({ "text": texts, "is_error": result.is_error }))
        }
        Err(rmcp::ServiceError::McpError(error)) => Ok(serde_json::json!({
            "error": { "code": error.code.0, "message": error.message }
        })),
        Err(other) => Err(other.into()),
    }
}

fn print(value: serde_json::Value) {
    println!("{value}");
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (Some(url), Some(command)) = (args.first(), args.get(1)) else {
        return Err("usage: modern_client URL list|call|listen ...".into());
    };
    let transport = StreamableHttpClientTransport::from_config(
        StreamableHttpClientTransportConfig::with_uri(url.clone()),
    );
    let sampler = Sampler::default();
    let rounds = sampler.rounds.clone();
    let client = sampler
        .serve_with_lifecycle(
            transport,
            ClientLifecycleMode::Discover {
                preferred_versions: vec![ProtocolVersion::V_2026_07_28],
            },
        )
        .await?;
    match command.as_str() {
        "list" => {
            let tools = client.list_all_tools().await?;
            let names: Vec<String> = tools.iter().map(|t| t.name.to_string()).collect();
            print(serde_json::json!({ "tools": names }));
        }
        "call" | "list-call" => {
            if command == "list-call" {
                // rmcp writes Mcp-Param-* headers only for tools it has listed.
                client.list_all_tools().await?;
            }
            let name = args.get(2).ok_or("call NAME JSON_ARGS")?.clone();
            let arguments: serde_json::Value =
                serde_json::from_str(args.get(3).map_or("{}", String::as_str))?;
            let serde_json::Value::Object(arguments) = arguments else {
                return Err("JSON_ARGS must be an object".into());
            };
            let result = client
                .call_tool(CallToolRequestParams::new(name).with_arguments(arguments))
                .await?;
            let texts: Vec<String> = result
                .content
                .iter()
                .filter_map(|c| c.as_text().map(|t| t.text.clone()))
                .collect();
            let mut line = serde_json::json!({ "text": texts, "is_error": result.is_error });
            let answered = rounds.load(Ordering::SeqCst);
            if answered > 0 {
                line["rounds"] = answered.into();
            }
            print(line);
        }
        "probe" => {
            let tools = client.list_all_tools().await?;
            let names: Vec<String> = tools.iter().map(|t| t.name.to_string()).collect();
            let mut calls = Vec::new();
            for pair in args[2..].chunks(2) {
                let [name, arguments] = pair else {
                    return Err("probe NAME JSON_ARGS [NAME JSON_ARGS]...".into());
                };
                calls.push(try_call(&client, name, arguments).await?);
            }
            print(serde_json::json!({ "tools": names, "calls": calls }));
        }
        "discover" => {
            let info = client.peer_info();
            print(serde_json::json!({ "info": serde_json::to_value(info)? }));
        }
        "listen" => {
            let hold: f64 = args.get(2).ok_or("listen HOLD_SECONDS")?.parse()?;
            let mut subscription = client
                .listen(SubscriptionFilter::builder().tools_list_changed().build())
                .await?;
            let first = subscription.next().await?;
            print(serde_json::json!({ "first": format!("{first:?}") }));
            match tokio::time::timeout(Duration::from_secs_f64(hold), subscription.next()).await {
                Err(_) => print(serde_json::json!({ "held": true })),
                Ok(next) => {
                    print(serde_json::json!({
                        "ended": format!("{next:?} {:?}", subscription.end())
                    }));
                    return Err("listen stream ended early".into());
                }
            }
            subscription.cancel().await?;
        }
        other => return Err(format!("unknown command {other}").into()),
    }
    client.cancel().await?;
    Ok(())
}
