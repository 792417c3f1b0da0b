//! A 2026-07-28 MCP server on the official Rust SDK (rmcp), used as the proxy's upstream in
//! tests/interop/test_modern.py. Binds 127.0.0.1 only.
//!
//! Flags: `--port N` (0 = any), `--legacy-sessions` (also serve legacy `initialize` sessions:
//! a dual-era server), `--sse` (answer with SSE streams instead of JSON), `--keepalive-ms N`
//! (SSE keep-alive comments; 0 = none), `--modern-only` (`server/discover` lists only
//! 2026-07-28; legacy `initialize` is refused), `--bad-header-tool` (also list `bad_header`,
//! whose `x-mcp-header` sits on a `number` property: invalid, a 2026 client drops it),
//! `--stale-first-list` (the first `tools/list` answer shows `route` without its annotations,
//! as if its schema changed afterwards), `--log-calls` (an `EVENT call <name>` line for every
//! `tools/call` that reaches the handler, before anything else happens: tells a test which calls
//! got through to the server).
//! Prints `LISTENING <url>` once bound, then one `EVENT <what>` line per observable event
//! (slow tool started/cancelled/finished, listen started/cancelled, `tools-list` per
//! `tools/list` answered), flushed at once.
//!
//! Tools: `echo {text}` returns the text; `slow {ms}` sends one progress notification when the
//! request has a progress token, then waits `ms` milliseconds unless the request is cancelled
//! (client hang-up). `ask {question}` answers `input_required` (MRTR) with one
//! `sampling/createMessage` input request under key `answer` and `requestState` `ask-state-1`,
//! and completes on the retry with `answered: <the sampled text>`. `whoami` returns the
//! request's `_meta` client name, protocol version and log level (`-` when absent). `confirm`
//! answers `input_required` with one form `elicitation/create` (no `requestState`) and completes
//! with `confirmed: <action> <content.ok>`. `route {region, count?, note?}` returns
//! `routed <region> <count>` (`-` when absent); its schema annotates `region` and `count` with
//! `x-mcp-header` (`Region`, `Count`), and `get_tool` hands rmcp the schemas, so a 2026-07-28
//! call without the matching `Mcp-Param-Region`/`Mcp-Param-Count` headers is refused with
//! -32020. `subscriptions/listen` acknowledges tool
//! list changes, sends one `notifications/tools/list_changed` (and, with `--modern-only`, which
//! also declares `resources.subscribe`, one `notifications/resources/updated` per subscribed URI),
//! then holds the stream until cancelled.

use std::io::Write as _;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use rmcp::model::{
    CallToolRequestParams, CallToolResponse, CallToolResult, ContentBlock, Implementation,
    InputRequest, InputRequiredResult, ListToolsResult, PaginatedRequestParams,
    ProgressNotificationParam, ProtocolVersion, ServerCapabilities, ServerConfig,
    SubscriptionFilter, Tool,
};
use rmcp::service::{RequestContext, SubscriptionContext};
use rmcp::transport::streamable_http_server::session::local::LocalSessionManager;
use rmcp::transport::streamable_http_server::{StreamableHttpServerConfig, StreamableHttpService};
use rmcp::{ErrorData, RoleServer, ServerHandler};

fn event(what: &str) {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "EVENT {what}");
    let _ = out.flush();
}

fn schema(json: serde_json::Value) -> Arc<serde_json::Map<String, serde_json::Value>> {
    match json {
        serde_json::Value::Object(map) => Arc::new(map),
        _ => Arc::new(serde_json::Map::new()),
    }
}

#[derive(Clone)]
struct TestServer {
    /// `--modern-only`: `server/discover` lists 2026-07-28 alone and legacy versions are refused.
    modern_only: bool,
    /// `--bad-header-tool`: also list `bad_header`, whose `x-mcp-header` breaks the spec.
    bad_header_tool: bool,
    /// `--stale-first-list`: the first `tools/list` answer shows `route` without annotations.
    stale_first_list: bool,
    /// `--log-calls`: an `EVENT call <name>` line per `tools/call` handled.
    log_calls: bool,
}

/// How many `tools/list` requests the process answered.
static LISTS: AtomicUsize = AtomicUsize::new(0);

/// What `--modern-only` supports.
const MODERN_ONLY: &[ProtocolVersion] = &[ProtocolVersion::V_2026_07_28];

impl ServerHandler for TestServer {
    fn supported_protocol_versions(&self) -> std::borrow::Cow<'static, [ProtocolVersion]> {
        if self.modern_only {
            std::borrow::Cow::Borrowed(MODERN_ONLY)
        } else {
            std::borrow::Cow::Borrowed(ProtocolVersion::KNOWN_VERSIONS)
        }
    }

    fn get_info(&self) -> ServerConfig {
        let capabilities = if self.modern_only {
            // Resource subscriptions too: the proxy's legacy GET stream maps onto them.
            ServerCapabilities::builder()
                .enable_tools()
                .enable_tool_list_changed()
                .enable_resources()
                .enable_resources_subscribe()
                .build()
        } else {
            ServerCapabilities::builder()
                .enable_tools()
                .enable_tool_list_changed()
                .build()
        };
        ServerConfig::new(capabilities)
            .with_server_info(Implementation::new("rmcp-modern-test-server", "1.0.0"))
    }

    async fn list_tools(
        &self,
        _request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<ListToolsResult, ErrorData> {
        event("tools-list");
        let mut tools = tools();
        if self.stale_first_list && LISTS.fetch_add(1, Ordering::SeqCst) == 0 {
            // As if the schema changed after this answer: callers must list again.
            if let Some(route) = tools.iter_mut().find(|t| t.name == "route") {
                route.input_schema = schema(serde_json::json!({
                    "type": "object",
                    "properties": {"region": {"type": "string"}, "count": {"type": "integer"}}
                }));
            }
        }
        if self.bad_header_tool {
            // `x-mcp-header` on a `number`: a 2026 client must leave this tool out of its list.
            tools.push(Tool::new(
                "bad_header",
                "Lists an invalid x-mcp-header annotation",
                schema(serde_json::json!({
                    "type": "object",
                    "properties": {"n": {"type": "number", "x-mcp-header": "N"}}
                })),
            ));
        }
        Ok(ListToolsResult::with_all_items(tools))
    }

    /// The tool's schema: rmcp checks a 2026-07-28 call's `Mcp-Param-*` headers against it.
    fn get_tool(&self, name: &str) -> Option<Tool> {
        tools().into_iter().find(|tool| tool.name == name)
    }

    async fn call_tool(
        &self,
        request: CallToolRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, ErrorData> {
        if self.log_calls {
            event(&format!("call {}", request.name));
        }
        let args = request.arguments.unwrap_or_default();
        match request.name.as_ref() {
            "echo" => {
                let text = args
                    .get("text")
                    .and_then(|v| v.as_str())
                    .unwrap_or_default()
                    .to_owned();
                Ok(CallToolResult::success(vec![ContentBlock::text(text)]).into())
            }
            "slow" => {
                let ms = args.get("ms").and_then(|v| v.as_u64()).unwrap_or(1000);
                event("slow-started");
                if let Some(token) = context.meta.get_progress_token() {
                    // Starts the SSE answer (with `--sse`): the head reaches the client at once.
                    let _ = context
                        .peer
                        .notify_progress(ProgressNotificationParam::new(token, 0.0))
                        .await;
                }
                tokio::select! {
                    _ = context.ct.cancelled() => {
                        event("slow-cancelled");
                        Ok(CallToolResult::success(vec![ContentBlock::text("cancelled")]).into())
                    }
                    _ = tokio::time::sleep(Duration::from_millis(ms)) => {
                        event("slow-finished");
                        Ok(CallToolResult::success(vec![ContentBlock::text("done")]).into())
                    }
                }
            }
            "ask" => ask(&args, request.input_responses, request.request_state),
            "route" => {
                let region = args.get("region").and_then(|v| v.as_str()).unwrap_or("-");
                let count = args
                    .get("count")
                    .map_or_else(|| "-".to_owned(), ToString::to_string);
                let text = format!("routed {region} {count}");
                Ok(CallToolResult::success(vec![ContentBlock::text(text)]).into())
            }
            "confirm" => confirm(request.input_responses),
            "whoami" => {
                let name = context
                    .meta
                    .client_info()
                    .map(|info| info.name)
                    .unwrap_or_default();
                let version = context
                    .meta
                    .get("io.modelcontextprotocol/protocolVersion")
                    .and_then(|v| v.as_str())
                    .unwrap_or_default()
                    .to_owned();
                let level = context
                    .meta
                    .get("io.modelcontextprotocol/logLevel")
                    .and_then(|v| v.as_str())
                    .unwrap_or("-")
                    .to_owned();
                let text = format!("{name} {version} {level}");
                Ok(CallToolResult::success(vec![ContentBlock::text(text)]).into())
            }
            other => Err(ErrorData::invalid_params(
                format!("no tool {other:?}"),
                None,
            )),
        }
    }

    fn accepted_subscription_filter(
        &self,
        requested: &SubscriptionFilter,
    ) -> Option<SubscriptionFilter> {
        Some(requested.supported_by(&self.get_info().capabilities))
    }

    async fn listen(&self, context: SubscriptionContext) -> Result<(), ErrorData> {
        event("listen-started");
        context
            .sink()
            .notify_tool_list_changed()
            .await
            .map_err(|e| ErrorData::internal_error(e.to_string(), None))?;
        let uris = context
            .accepted()
            .resource_subscriptions
            .clone()
            .unwrap_or_default();
        if !uris.is_empty() {
            event(&format!("listen-resources {}", uris.join(",")));
        }
        for uri in uris {
            context
                .sink()
                .notify_resource_updated(uri)
                .await
                .map_err(|e| ErrorData::internal_error(e.to_string(), None))?;
        }
        context.cancelled().await;
        event("listen-cancelled");
        Ok(())
    }
}

/// Every tool the server lists.
fn tools() -> Vec<Tool> {
    let echo = Tool::new(
        "echo",
        "Returns its text argument",
        schema(serde_json::json!({
            "type": "object",
            "properties": {"text": {"type": "string"}},
            "required": ["text"]
        })),
    );
    let slow = Tool::new(
        "slow",
        "Waits `ms` milliseconds unless cancelled",
        schema(serde_json::json!({
            "type": "object",
            "properties": {"ms": {"type": "integer"}},
            "required": ["ms"]
        })),
    );
    let ask = Tool::new(
        "ask",
        "Asks the client for a sampled answer (MRTR), then returns it",
        schema(serde_json::json!({
            "type": "object",
            "properties": {"question": {"type": "string"}},
            "required": ["question"]
        })),
    );
    let whoami = Tool::new(
        "whoami",
        "Returns the request's _meta clientInfo name and protocol version",
        schema(serde_json::json!({"type": "object", "properties": {}})),
    );
    let confirm = Tool::new(
        "confirm",
        "Asks the client to confirm (MRTR elicitation), then reports the answer",
        schema(serde_json::json!({"type": "object", "properties": {}})),
    );
    let route = Tool::new(
        "route",
        "Returns its region and count; both are mirrored into Mcp-Param-* headers",
        schema(serde_json::json!({
            "type": "object",
            "properties": {
                "region": {"type": "string", "x-mcp-header": "Region"},
                "count": {"type": "integer", "x-mcp-header": "Count"},
                "note": {"type": "string"}
            },
            "required": ["region"]
        })),
    );
    vec![echo, slow, ask, whoami, confirm, route]
}

/// The MRTR tool: first round asks for a sample, the retry (with the answer and the echoed
/// state) completes.
fn ask(
    args: &serde_json::Map<String, serde_json::Value>,
    responses: Option<rmcp::model::InputResponses>,
    state: Option<String>,
) -> Result<CallToolResponse, ErrorData> {
    let question = args
        .get("question")
        .and_then(|v| v.as_str())
        .unwrap_or_default();
    let Some(responses) = responses else {
        let request: InputRequest = serde_json::from_value(serde_json::json!({
            "method": "sampling/createMessage",
            "params": {
                "messages": [{"role": "user", "content": {"type": "text", "text": question}}],
                "maxTokens": 50
            }
        }))
        .map_err(|e| ErrorData::internal_error(e.to_string(), None))?;
        let mut requests = rmcp::model::InputRequests::new();
        requests.insert("answer".to_owned(), request);
        event("ask-input-required");
        return Ok(InputRequiredResult::new(Some(requests), Some("ask-state-1".to_owned())).into());
    };
    if state.as_deref() != Some("ask-state-1") {
        return Err(ErrorData::invalid_params(
            format!("requestState not echoed: {state:?}"),
            None,
        ));
    }
    let text = responses
        .get("answer")
        .and_then(|r| r.get("content"))
        .and_then(|c| c.get("text"))
        .and_then(|t| t.as_str())
        .ok_or_else(|| ErrorData::invalid_params("no sampled text in inputResponses", None))?;
    event("ask-completed");
    Ok(CallToolResult::success(vec![ContentBlock::text(format!("answered: {text}"))]).into())
}

/// The elicitation MRTR tool (no `requestState`): asks for a form answer, then reports it.
fn confirm(responses: Option<rmcp::model::InputResponses>) -> Result<CallToolResponse, ErrorData> {
    let Some(responses) = responses else {
        let request: InputRequest = serde_json::from_value(serde_json::json!({
            "method": "elicitation/create",
            "params": {
                "mode": "form",
                "message": "Proceed?",
                "requestedSchema": {
                    "type": "object",
                    "properties": {"ok": {"type": "boolean"}},
                    "required": ["ok"]
                }
            }
        }))
        .map_err(|e| ErrorData::internal_error(e.to_string(), None))?;
        let mut requests = rmcp::model::InputRequests::new();
        requests.insert("confirm".to_owned(), request);
        return Ok(InputRequiredResult::new(Some(requests), None).into());
    };
    let answer = responses
        .get("confirm")
        .ok_or_else(|| ErrorData::invalid_params("no confirm in inputResponses", None))?;
    let action = answer.get("action").and_then(|a| a.as_str()).unwrap_or("?");
    let ok = answer
        .get("content")
        .and_then(|c| c.get("ok"))
        .and_then(|v| v.as_bool());
    Ok(CallToolResult::success(vec![ContentBlock::text(format!(
        "confirmed: {action} {ok:?}"
    ))])
    .into())
}

struct Args {
    port: u16,
    legacy_sessions: bool,
    sse: bool,
    keepalive_ms: u64,
    modern_only: bool,
    bad_header_tool: bool,
    stale_first_list: bool,
    log_calls: bool,
}

fn parse_args() -> Result<Args, String> {
    let mut args = Args {
        port: 0,
        legacy_sessions: false,
        sse: false,
        keepalive_ms: 0,
        modern_only: false,
        bad_header_tool: false,
        stale_first_list: false,
        log_calls: false,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        match flag.as_str() {
            "--port" => args.port = it.next().and_then(|v| v.parse().ok()).ok_or("--port N")?,
            "--keepalive-ms" => {
                args.keepalive_ms = it
                    .next()
                    .and_then(|v| v.parse().ok())
                    .ok_or("--keepalive-ms N")?
            }
            "--legacy-sessions" => args.legacy_sessions = true,
            "--sse" => args.sse = true,
            "--modern-only" => args.modern_only = true,
            "--bad-header-tool" => args.bad_header_tool = true,
            "--stale-first-list" => args.stale_first_list = true,
            "--log-calls" => args.log_calls = true,
            other => return Err(format!("unknown flag {other}")),
        }
    }
    Ok(args)
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args = parse_args()?;
    let modern_only = args.modern_only;
    let bad_header_tool = args.bad_header_tool;
    let stale_first_list = args.stale_first_list;
    let log_calls = args.log_calls;
    let keepalive = (args.keepalive_ms > 0).then(|| Duration::from_millis(args.keepalive_ms));
    let config = StreamableHttpServerConfig::default()
        .with_legacy_session_mode(args.legacy_sessions)
        .with_json_response(!args.sse)
        .with_sse_keep_alive(keepalive);
    let service: StreamableHttpService<TestServer, LocalSessionManager> =
        StreamableHttpService::new(
            move || {
                Ok(TestServer {
                    modern_only,
                    bad_header_tool,
                    stale_first_list,
                    log_calls,
                })
            },
            Default::default(),
            config,
        );
    let router = axum::Router::new().nest_service("/mcp", service);
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", args.port)).await?;
    let addr = listener.local_addr()?;
    {
        let mut out = std::io::stdout().lock();
        writeln!(out, "LISTENING http://{addr}/mcp")?;
        out.flush()?;
    }
    axum::serve(listener, router)
        .with_graceful_shutdown(async {
            let _ = tokio::signal::ctrl_c().await;
        })
        .await?;
    Ok(())
}
