//! Authentication (issue 10) on the request path: a route with `auth` in front of a recording
//! upstream. API keys and issuer tokens name the principal; no or bad credentials get 401 with
//! the challenge, a missing scope 403, a token in the query 400; sessions belong to the
//! principal that opened them (anyone else's requests get 404, as for an unknown id); the key
//! file reloads on the reload signal; an unknown `kid` refreshes the issuer's keys once; the
//! Protected Resource Metadata is served open; the upstream never sees a client credential.

use std::path::PathBuf;

use serde_json::{json, Value};

use crate::client::{Conn, Response, IO_TIMEOUT};
use crate::harness::{Proxy, IO_PATH};
use crate::issuer::{Issuer, SigningKey};
use crate::mcp::{self, assert_error, fresh_headers, PATH};
use crate::recorder::Recorder;

pub(crate) const UNAUTHENTICATED: i64 = -32012;
pub(crate) const FORBIDDEN: i64 = -32013;

/// A key file holding `keys` (name, key) as SHA-256 digests; removed on drop.
pub(crate) struct KeyFile(pub(crate) PathBuf);

impl KeyFile {
    pub(crate) fn new(tag: &str, keys: &[(&str, &str)]) -> KeyFile {
        let path = std::env::temp_dir().join(format!(
            "shadowcat-request-path-keys-{}-{tag}-{IO_PATH}.toml",
            std::process::id()
        ));
        let file = KeyFile(path);
        file.write(keys);
        file
    }

    /// The route's `api_keys = "PATH"` line.
    pub(crate) fn setting(&self) -> String {
        format!("api_keys = {:?}", self.0.display().to_string())
    }

    fn write(&self, keys: &[(&str, &str)]) {
        let mut text = String::new();
        for (name, key) in keys {
            let digest = ring::digest::digest(&ring::digest::SHA256, key.as_bytes());
            let hex: String = digest.as_ref().iter().map(|b| format!("{b:02x}")).collect();
            text.push_str(&format!(
                "[keys.{name}]\nsha256 = \"{hex}\"\nscopes = [\"mcp\"]\n"
            ));
        }
        std::fs::write(&self.0, text).expect("key file written");
    }
}

impl Drop for KeyFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// One shard; `/mcp` (legacy SSE too) checks `auth_lines`, `/open` checks nothing; both go to
/// the recorder.
pub(crate) fn proxy(recorder: &Recorder, auth_lines: &str) -> Proxy {
    proxy_on(recorder, 1, auth_lines)
}

/// [`proxy`] on `shards` shards.
pub(crate) fn proxy_on(recorder: &Recorder, shards: usize, auth_lines: &str) -> Proxy {
    let toml = format!(
        "[runtime]\nshards = {shards}\nio_memory = \"256KiB\"\nio = \"{IO_PATH}\"\n\n\
         [listeners.main]\nbind = \"127.0.0.1:0\"\n\n\
         [[listeners.main.routes]]\npath = \"/mcp\"\nupstream = \"rec\"\nlegacy_sse = true\n\
         [listeners.main.routes.auth]\n{auth_lines}\n\n\
         [[listeners.main.routes]]\npath = \"/open\"\nupstream = \"rec\"\n\n\
         [upstreams.rec]\nurl = \"http://{}/mcp\"\nrequest_timeout = \"10s\"\n\n\
         [timeouts]\nshutdown_grace = \"1s\"\n\n\
         [admin]\nbind = \"127.0.0.1:0\"\n\n[log]\nlevel = \"warn\"\n",
        recorder.addr
    );
    Proxy::start_toml(&toml, shards, format!("auth-{}", std::process::id()))
}

/// `initialize` with `credential` headers; the proxy's session id, or the refusal.
pub(crate) fn initialize(conn: &mut Conn, credential: &[(&str, &str)]) -> Result<String, Response> {
    let mut headers = fresh_headers();
    headers.extend_from_slice(credential);
    let answer = conn.request("POST", PATH, &headers, &mcp::initialize(json!(0)));
    match answer.header("mcp-session-id") {
        Some(id) if answer.head.status == 200 => Ok(id.to_owned()),
        _ => Err(answer),
    }
}

/// A session-era request's headers with `credential`.
pub(crate) fn in_session<'a>(
    sid: &'a str,
    credential: &[(&'a str, &'a str)],
) -> Vec<(&'a str, &'a str)> {
    let mut headers = fresh_headers();
    headers.push(("Mcp-Session-Id", sid));
    headers.push(("MCP-Protocol-Version", mcp::VERSION));
    headers.extend_from_slice(credential);
    headers
}

pub(crate) fn challenge(answer: &Response) -> String {
    answer
        .header("www-authenticate")
        .unwrap_or_else(|| panic!("no challenge: {}", answer.describe()))
        .to_owned()
}

#[test]
fn api_keys_name_principals_and_everyone_else_gets_401() {
    let recorder = Recorder::start();
    let keys = KeyFile::new(
        "names",
        &[("alice", "alice-secret-key"), ("bob", "bob-key-2")],
    );
    let proxy = proxy(&recorder, &keys.setting());
    let mut conn = proxy.conn();

    let refused = initialize(&mut conn, &[]).unwrap_err();
    assert_error(&refused, 401, UNAUTHENTICATED, &Value::Null);
    assert_eq!(challenge(&refused), "Bearer realm=\"mcp\"");
    let mut conn = proxy.conn();
    let refused = initialize(&mut conn, &[("X-API-Key", "alice-secret-kez")]).unwrap_err();
    assert_error(&refused, 401, UNAUTHENTICATED, &Value::Null);
    assert!(challenge(&refused).contains("error=\"invalid_token\""));
    // GET, DELETE and the legacy stream are checked too, before anything else.
    for (method, target, accept) in [
        ("GET", "/mcp", "text/event-stream"),
        ("DELETE", "/mcp", "text/event-stream"),
        ("GET", "/sse", "text/event-stream"),
        ("POST", "/messages?sessionId=x", "application/json"),
    ] {
        let mut conn = proxy.conn();
        let answer = conn.request(method, target, &[("Accept", accept)], b"");
        assert_eq!(
            answer.head.status,
            401,
            "{method} {target}: {}",
            answer.describe()
        );
    }
    // A key in the query string is refused even when it is right.
    let mut conn = proxy.conn();
    let target = "/mcp?api_key=alice-secret-key";
    let answer = conn.request("POST", target, &fresh_headers(), &mcp::initialize(json!(0)));
    assert_eq!(answer.head.status, 400, "{}", answer.describe());

    // Both header forms let in; the upstream sees neither credential.
    let mut conn = proxy.conn();
    initialize(&mut conn, &[("X-API-Key", "alice-secret-key")]).unwrap();
    initialize(&mut conn, &[("Authorization", "Bearer bob-key-2")]).unwrap();
    for _ in 0..2 {
        let (head, _) = recorder.until("POST", Some("initialize"));
        assert!(
            head.values("authorization").is_empty(),
            "{:?}",
            head.headers
        );
        assert!(head.values("x-api-key").is_empty(), "{:?}", head.headers);
    }
    // The route without auth stays open.
    let mut conn = proxy.conn();
    let answer = conn.request(
        "POST",
        "/open",
        &fresh_headers(),
        &mcp::initialize(json!(0)),
    );
    assert_eq!(answer.head.status, 200, "{}", answer.describe());
}

#[test]
fn a_session_belongs_to_the_principal_that_opened_it() {
    let recorder = Recorder::start();
    let keys = KeyFile::new(
        "owners",
        &[("alice", "alice-secret-key"), ("bob", "bob-key-2")],
    );
    let proxy = proxy(&recorder, &keys.setting());
    let alice = [("X-API-Key", "alice-secret-key")];
    let bob = [("X-API-Key", "bob-key-2")];
    let mut conn = proxy.conn();
    let sid = initialize(&mut conn, &alice).unwrap();
    let list = mcp::request(json!(1), "tools/list", json!({}));

    // Bob holding Alice's session id: as if the session did not exist, on every method.
    let answer = conn.request("POST", PATH, &in_session(&sid, &bob), &list);
    assert_error(&answer, 404, -32001, &json!(1));
    for method in ["GET", "DELETE"] {
        let mut headers = in_session(&sid, &bob);
        headers[0] = ("Accept", "text/event-stream");
        let answer = conn.request(method, PATH, &headers, b"");
        assert_eq!(answer.head.status, 404, "{method}: {}", answer.describe());
    }
    // Nobody at all: 401 before the session is looked at (and the body is left unread, so
    // the connection closes).
    let answer = conn.request("POST", PATH, &in_session(&sid, &[]), &list);
    assert_eq!(answer.head.status, 401, "{}", answer.describe());
    assert!(!answer.head.keeps_alive());
    // Alice's session is untouched by all that.
    let mut conn = proxy.conn();
    let answer = conn.request("POST", PATH, &in_session(&sid, &alice), &list);
    assert_eq!(answer.head.status, 200, "{}", answer.describe());
}

#[test]
fn the_reload_signal_rereads_the_key_file() {
    let recorder = Recorder::start();
    let keys = KeyFile::new("reload", &[("alice", "old-alice-key")]);
    let proxy = proxy(&recorder, &keys.setting());
    let mut conn = proxy.conn();
    initialize(&mut conn, &[("X-API-Key", "old-alice-key")]).unwrap();

    keys.write(&[("alice", "new-alice-key")]);
    proxy.reload();
    // The reload runs on the shard: await it by asking until the new key is taken.
    let deadline = std::time::Instant::now() + IO_TIMEOUT;
    while initialize(&mut proxy.conn(), &[("X-API-Key", "new-alice-key")]).is_err() {
        assert!(
            std::time::Instant::now() < deadline,
            "the new key never got in"
        );
    }
    let refused = initialize(&mut proxy.conn(), &[("X-API-Key", "old-alice-key")]).unwrap_err();
    assert_eq!(refused.head.status, 401, "{}", refused.describe());

    // A file that no longer loads keeps the keys in use.
    std::fs::write(&keys.0, "not toml [").unwrap();
    proxy.reload();
    let answer = initialize(&mut proxy.conn(), &[("X-API-Key", "new-alice-key")]);
    assert!(answer.is_ok(), "a broken file dropped the keys");
}

/// Claims of a token for the proxy at `proxy` from `issuer`, valid for five minutes.
pub(crate) fn claims(issuer: &Issuer, proxy: &Proxy, sub: &str, scope: &str) -> Value {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    json!({"iss": issuer.url, "aud": format!("http://{}/mcp", proxy.addr), "sub": sub,
           "scope": scope, "iat": now, "exp": now + 300})
}

pub(crate) fn bearer(token: &str) -> String {
    format!("Bearer {token}")
}

#[test]
fn issuer_tokens_are_checked_and_the_metadata_says_where_to_get_them() {
    let recorder = Recorder::start();
    let key = SigningKey::new("k1");
    let issuer = Issuer::start(&[&key]);
    let proxy = proxy(
        &recorder,
        &format!("issuer = {:?}\nscopes = [\"mcp:tools\"]", issuer.url),
    );
    let metadata = format!(
        "http://{}/.well-known/oauth-protected-resource/mcp",
        proxy.addr
    );

    let refused = initialize(&mut proxy.conn(), &[]).unwrap_err();
    assert_error(&refused, 401, UNAUTHENTICATED, &Value::Null);
    assert_eq!(
        challenge(&refused),
        format!("Bearer scope=\"mcp:tools\", resource_metadata=\"{metadata}\"")
    );
    // The metadata, at the path-suffixed and the bare well-known path, open to anyone.
    for path in [
        "/.well-known/oauth-protected-resource/mcp",
        "/.well-known/oauth-protected-resource",
    ] {
        let answer = proxy.conn().request("GET", path, &[], b"");
        assert_eq!(answer.head.status, 200, "{path}: {}", answer.describe());
        let doc = answer.json();
        assert_eq!(doc["resource"], json!(format!("http://{}/mcp", proxy.addr)));
        assert_eq!(doc["authorization_servers"], json!([issuer.url]));
        assert_eq!(doc["scopes_supported"], json!(["mcp:tools"]));
        assert_eq!(doc["bearer_methods_supported"], json!(["header"]));
    }

    let good = key.sign(&claims(&issuer, &proxy, "alice", "mcp:tools"));
    let sid = initialize(&mut proxy.conn(), &[("Authorization", &bearer(&good))]).unwrap();
    let (head, _) = recorder.until("POST", Some("initialize"));
    assert!(
        head.values("authorization").is_empty(),
        "{:?}",
        head.headers
    );

    // Refusals: what is wrong goes into the challenge.
    let mut expired = claims(&issuer, &proxy, "alice", "mcp:tools");
    expired["exp"] = json!(expired["iat"].as_u64().unwrap() - 600);
    let mut foreign = claims(&issuer, &proxy, "alice", "mcp:tools");
    foreign["aud"] = json!("http://elsewhere.example/mcp");
    let mut wrong_iss = claims(&issuer, &proxy, "alice", "mcp:tools");
    wrong_iss["iss"] = json!("http://127.0.0.1:1");
    for (claims, why) in [
        (expired, "expired"),
        (foreign, "another resource"),
        (wrong_iss, "another authorization server"),
    ] {
        let refused = initialize(
            &mut proxy.conn(),
            &[("Authorization", &bearer(&key.sign(&claims)))],
        )
        .unwrap_err();
        assert_error(&refused, 401, UNAUTHENTICATED, &Value::Null);
        let text = challenge(&refused);
        assert!(
            text.contains("error=\"invalid_token\"") && text.contains(why),
            "{text}"
        );
    }
    // A valid token without the scope: 403 naming it.
    let narrow = key.sign(&claims(&issuer, &proxy, "alice", "other"));
    let refused =
        initialize(&mut proxy.conn(), &[("Authorization", &bearer(&narrow))]).unwrap_err();
    assert_error(&refused, 403, FORBIDDEN, &Value::Null);
    assert!(
        challenge(&refused).starts_with("Bearer error=\"insufficient_scope\", scope=\"mcp:tools\"")
    );

    // Another subject's token on Alice's session: 404.
    let mallory = key.sign(&claims(&issuer, &proxy, "mallory", "mcp:tools"));
    let list = mcp::request(json!(1), "tools/list", json!({}));
    let mut conn = proxy.conn();
    let answer = conn.request(
        "POST",
        PATH,
        &in_session(&sid, &[("Authorization", &bearer(&mallory))]),
        &list,
    );
    assert_error(&answer, 404, -32001, &json!(1));
    let answer = conn.request(
        "POST",
        PATH,
        &in_session(&sid, &[("Authorization", &bearer(&good))]),
        &list,
    );
    assert_eq!(answer.head.status, 200, "{}", answer.describe());
}

#[test]
fn an_unknown_kid_refreshes_the_keys_once() {
    let recorder = Recorder::start();
    let old = SigningKey::new("old");
    let issuer = Issuer::start(&[&old]);
    let proxy = proxy(&recorder, &format!("issuer = {:?}", issuer.url));
    let token = old.sign(&claims(&issuer, &proxy, "alice", ""));
    initialize(&mut proxy.conn(), &[("Authorization", &bearer(&token))]).unwrap();
    let fetched = issuer.fetches("/jwks");
    assert!(fetched >= 1);

    // The issuer rotates: a token of the new key makes the proxy fetch the set again.
    let new = SigningKey::new("new");
    issuer.serve_keys(&[&old, &new]);
    let token = new.sign(&claims(&issuer, &proxy, "alice", ""));
    initialize(&mut proxy.conn(), &[("Authorization", &bearer(&token))]).unwrap();
    assert_eq!(issuer.fetches("/jwks"), fetched + 1);

    // Forged kids right after: refused, and no fetch each (refreshes are rate-limited).
    let stranger = SigningKey::new("stranger");
    for n in 0..5 {
        let token = stranger.sign(&claims(&issuer, &proxy, &format!("x{n}"), ""));
        let refused =
            initialize(&mut proxy.conn(), &[("Authorization", &bearer(&token))]).unwrap_err();
        assert_error(&refused, 401, UNAUTHENTICATED, &Value::Null);
    }
    assert_eq!(issuer.fetches("/jwks"), fetched + 1);
}

#[test]
fn requests_without_a_credential_are_refused_where_they_land() {
    // Two shards: without the check, about half of these session ids would belong to the
    // other shard and move the connection there before the 401.
    let recorder = Recorder::start();
    let keys = KeyFile::new("handoff", &[("alice", "alice-secret-key")]);
    let proxy = proxy_on(&recorder, 2, &keys.setting());
    let list = mcp::request(json!(1), "tools/list", json!({}));
    for n in 0..16u32 {
        let sid = format!(
            "{:032x}",
            u128::from(n).wrapping_mul(0x9e37_79b9_7f4a_7c15_f39c_c060_5ced_c835)
        );
        let answer = proxy
            .conn()
            .request("POST", PATH, &in_session(&sid, &[]), &list);
        assert_eq!(answer.head.status, 401, "{}", answer.describe());
    }
    assert_eq!(
        proxy.metric("shadowcat_hops_total"),
        0.0,
        "no connection moved"
    );
}
