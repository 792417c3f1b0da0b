//! Static upstream headers (`[upstreams.NAME] headers`, issue 10) as a recording upstream
//! sees them: every request the proxy makes to that upstream (passthrough POST, GET and
//! DELETE; a 2026-07-28 client translated onto the session-era upstream; a legacy HTTP+SSE
//! client; the legacy HTTP+SSE upstream link's GET stream and POSTs) carries the configured
//! headers, `${env:NAME}` expanded, once; the client's own `Authorization`, `X-API-Key` and
//! a header a configured one replaces never arrive.
//!
//! The same paths with `[upstreams.NAME.oauth]` instead of a configured `Authorization`: the
//! token the authorization server's token endpoint gave the proxy (client credentials) is what
//! the upstream sees (the test issuer serves a fixed token response at `/token`).

use serde_json::json;

use crate::harness::{Proxy, IO_PATH};
use crate::issuer::Issuer;
use crate::mcp::{self, Session};
use crate::recorder::{Recorded, Recorder};

/// What every client request below carries besides its MCP headers.
const CLIENT_CREDENTIALS: [(&str, &str); 3] = [
    ("Authorization", "Bearer client-secret"),
    ("X-API-Key", "client-key"),
    ("X-Tenant", "client-tenant"),
];

/// A variable every test process has: its value stands in for a token from the environment.
const TOKEN_VAR: &str = "PATH";

/// The access token the test issuer's token endpoint hands out.
const UPSTREAM_TOKEN: &str = "upstream-token.from-the-issuer";

/// Where the upstream's `Authorization` comes from.
enum Credential {
    /// `headers = { Authorization = "Bearer ${env:PATH}" }`.
    Configured,
    /// `[upstreams.rec.oauth]` against this issuer's `/token`.
    OAuth(Issuer),
}

impl Credential {
    /// An issuer whose token endpoint answers [`UPSTREAM_TOKEN`].
    fn oauth() -> Credential {
        let issuer = Issuer::start(&[]);
        issuer.set(
            "/token",
            json!({"access_token": UPSTREAM_TOKEN, "token_type": "Bearer", "expires_in": 3600}),
        );
        Credential::OAuth(issuer)
    }

    /// The `[upstreams.rec]` lines that give the upstream its `Authorization`.
    fn lines(&self) -> String {
        match self {
            Credential::Configured => format!(
                "headers = {{ Authorization = \"Bearer ${{env:{TOKEN_VAR}}}\", \"X-Tenant\" = \"proxy-tenant\" }}\n"
            ),
            Credential::OAuth(issuer) => format!(
                "headers = {{ \"X-Tenant\" = \"proxy-tenant\" }}\n\
                 [upstreams.rec.oauth]\ntoken_url = \"{}/token\"\nclient_id = \"rp\"\n\
                 client_secret_env = \"{TOKEN_VAR}\"\n",
                issuer.url
            ),
        }
    }

    /// The `Authorization` value the upstream must see.
    fn authorization(&self) -> String {
        match self {
            Credential::Configured => {
                let token = std::env::var(TOKEN_VAR).expect("PATH is set and UTF-8");
                format!("Bearer {token}")
            }
            Credential::OAuth(_) => format!("Bearer {UPSTREAM_TOKEN}"),
        }
    }
}

/// `request` sent again while the proxy answers 503 (with `oauth`, its first token may still be
/// on its way; a 503 reaches no upstream).
fn until_token(mut request: impl FnMut() -> crate::client::Response) -> crate::client::Response {
    let deadline = std::time::Instant::now() + crate::client::IO_TIMEOUT;
    loop {
        let response = request();
        if response.head.status != 503 || std::time::Instant::now() > deadline {
            return response;
        }
        std::thread::yield_now();
    }
}

/// One shard routing `/mcp` (and the legacy `/sse` + `/messages`) to `upstream_lines`, an
/// `[upstreams.rec]` body, with `credential`'s lines added.
fn proxy(upstream_lines: &str, credential: &Credential) -> Proxy {
    let credential_lines = credential.lines();
    let toml = format!(
        "[runtime]\nshards = 1\nio_memory = \"256KiB\"\nio = \"{IO_PATH}\"\n\n\
         [listeners.main]\nbind = \"127.0.0.1:0\"\n\n\
         [[listeners.main.routes]]\npath = \"/mcp\"\nupstream = \"rec\"\nlegacy_sse = true\n\n\
         [upstreams.rec]\n{upstream_lines}\nrequest_timeout = \"10s\"\n{credential_lines}\n\
         [timeouts]\nshutdown_grace = \"1s\"\n\n\
         [admin]\nbind = \"127.0.0.1:0\"\n\n[log]\nlevel = \"warn\"\n"
    );
    Proxy::start_toml(&toml, 1, format!("upstream-headers-{}", std::process::id()))
}

/// Asserts `head` carries the `authorization` and configured headers once each and nothing of
/// the client's.
fn assert_configured(head: &Recorded, authorization: &str) {
    let what = format!("{} {} ({:?})", head.method, head.target, head.rpc);
    assert_eq!(head.values("authorization"), [authorization], "{what}");
    assert_eq!(head.values("x-tenant"), ["proxy-tenant"], "{what}");
    assert!(
        head.values("x-api-key").is_empty(),
        "{what}: {:?}",
        head.headers
    );
    for (name, value) in &head.headers {
        assert!(!value.contains("client-"), "{what}: {name}: {value} leaked");
    }
}

/// The session's headers plus the client's credentials.
fn with_credentials<'a>(mut headers: Vec<(&'a str, &'a str)>) -> Vec<(&'a str, &'a str)> {
    headers.extend(CLIENT_CREDENTIALS);
    headers
}

#[test]
fn passthrough_post_get_and_delete_carry_the_configured_headers_only() {
    passthrough(&Credential::Configured);
}

#[test]
fn passthrough_post_get_and_delete_carry_the_oauth_token() {
    passthrough(&Credential::oauth());
}

fn passthrough(credential: &Credential) {
    let authorization = credential.authorization();
    let assert_configured = |head: &Recorded| assert_configured(head, &authorization);
    let recorder = Recorder::start();
    let proxy = proxy(
        &format!("url = \"http://{}/mcp\"\nera = \"legacy\"", recorder.addr),
        credential,
    );
    let mut conn = proxy.conn();
    let init = until_token(|| {
        proxy.conn().request(
            "POST",
            mcp::PATH,
            &with_credentials(mcp::fresh_headers()),
            &mcp::initialize(json!(0)),
        )
    });
    assert_eq!(init.head.status, 200, "{}", init.describe());
    let session = Session {
        id: init.header("mcp-session-id").expect("a session").to_owned(),
    };
    let (head, skipped) = recorder.until("POST", Some("initialize"));
    assert!(skipped.is_empty(), "{skipped:?}");
    assert_configured(&head);

    let post_headers = with_credentials(session.post_headers());
    let call = conn.request("POST", mcp::PATH, &post_headers, &mcp::echo(json!(1), "x"));
    assert_eq!(call.head.status, 200, "{}", call.describe());
    let (head, _) = recorder.until("POST", Some("tools/call"));
    assert_configured(&head);
    assert_eq!(
        head.values("mcp-session-id"),
        [crate::recorder::UPSTREAM_SESSION]
    );

    let get_headers = with_credentials(session.get_headers());
    let get = conn.request("GET", mcp::PATH, &get_headers, b"");
    assert_eq!(
        get.head.status,
        405,
        "the upstream's answer: {}",
        get.describe()
    );
    let (head, _) = recorder.until("GET", None);
    assert_configured(&head);

    let delete = conn.request("DELETE", mcp::PATH, &get_headers, b"");
    assert_eq!(delete.head.status, 200, "{}", delete.describe());
    let (head, _) = recorder.until("DELETE", None);
    assert_configured(&head);
    assert_eq!(
        head.values("mcp-session-id"),
        [crate::recorder::UPSTREAM_SESSION]
    );
    drop(proxy);
}

#[test]
fn translated_and_legacy_clients_requests_carry_them_too() {
    translated_and_legacy(&Credential::Configured);
}

#[test]
fn translated_and_legacy_clients_requests_carry_the_oauth_token_too() {
    translated_and_legacy(&Credential::oauth());
}

fn translated_and_legacy(credential: &Credential) {
    let authorization = credential.authorization();
    let assert_configured = |head: &Recorded| assert_configured(head, &authorization);
    let recorder = Recorder::start();
    let proxy = proxy(
        &format!("url = \"http://{}/mcp\"\nera = \"legacy\"", recorder.addr),
        credential,
    );
    // A 2026-07-28 stateless call: the proxy opens a pooled upstream session for it.
    let call = mcp::modern_call(json!(1), "echo");
    let answer = until_token(|| {
        proxy.conn().request(
            "POST",
            mcp::PATH,
            &with_credentials(call.headers()),
            &call.body,
        )
    });
    assert_eq!(answer.head.status, 200, "{}", answer.describe());
    let (head, before) = recorder.until("POST", Some("tools/call"));
    assert!(
        before
            .iter()
            .any(|h| h.rpc.as_deref() == Some("initialize")),
        "{before:?}"
    );
    for head in before.iter().chain([&head]) {
        assert_configured(head);
    }

    // A legacy HTTP+SSE client: its messages become Streamable HTTP POSTs upstream.
    let mut stream_conn = proxy.conn();
    let (mut events, endpoint) = crate::legacy::open_stream(&mut stream_conn);
    let post_headers = with_credentials(vec![("Content-Type", "application/json")]);
    let accepted = proxy.conn().request(
        "POST",
        &endpoint,
        &post_headers,
        &mcp::initialize(json!("init")),
    );
    assert_eq!(accepted.head.status, 202, "{}", accepted.describe());
    let init = crate::legacy::next_message(&mut events, "the initialize answer");
    assert_eq!(init["id"], "init", "{init}");
    let (head, _) = recorder.until("POST", Some("initialize"));
    assert_configured(&head);
    drop(events);
    drop(proxy);
}

#[test]
fn the_legacy_sse_upstream_link_sends_them_on_its_stream_and_posts() {
    let authorization = Credential::Configured.authorization();
    let assert_configured = |head: &Recorded| assert_configured(head, &authorization);
    let recorder = Recorder::start();
    let proxy = proxy(
        &format!(
            "url = \"http://{}/sse\"\ntransport = \"sse\"",
            recorder.addr
        ),
        &Credential::Configured,
    );
    // The link answers arrive on the stream, which the recorder never writes to: the client's
    // request stays pending; what matters is what reached the upstream.
    let mut conn = proxy.conn();
    conn.send(
        "POST",
        mcp::PATH,
        &with_credentials(mcp::fresh_headers()),
        &mcp::initialize(json!(0)),
    );
    let (stream, skipped) = recorder.until("GET", None);
    assert!(skipped.is_empty(), "{skipped:?}");
    assert_eq!(stream.target, "/sse");
    assert_configured(&stream);
    let (post, _) = recorder.until("POST", Some("initialize"));
    assert_eq!(post.target, "/messages?session=1");
    assert_configured(&post);
    drop(conn);
    drop(proxy);
}
