//! `shadowcat intercept …`: the operator's side of interception, over the admin API of a
//! running proxy (`--admin URL`, default the local admin address): list the paused messages,
//! resume, block or modify one, show or replace the rule set.
//!
//! Not here: the endpoints (crate::admin::intercept). A tiny blocking HTTP/1.1 client: the
//! admin API is plain HTTP on loopback (or behind its token, `--admin-token-file`).

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use clap::{Args, Subcommand};
use serde_json::{json, Value};

use crate::config::intercept::RawIntercept;

/// How long the CLI waits for the admin API.
const TIMEOUT: Duration = Duration::from_secs(10);

/// Arguments of `shadowcat intercept`.
#[derive(Debug, Clone, Args)]
pub struct InterceptArgs {
    /// The proxy's admin API.
    #[arg(
        long,
        value_name = "URL",
        default_value = "http://127.0.0.1:9901",
        global = true
    )]
    pub admin: String,
    /// A file holding the admin API's bearer token (when the proxy has `[admin] token_file`).
    #[arg(long, value_name = "FILE", global = true)]
    pub admin_token_file: Option<PathBuf>,
    /// What to do.
    #[command(subcommand)]
    pub action: InterceptAction,
}

/// `shadowcat intercept` subcommands.
#[derive(Debug, Clone, Subcommand)]
pub enum InterceptAction {
    /// List the paused messages (id, age, direction, method, tool, session, rule).
    List {
        /// Print the admin API's JSON instead.
        #[arg(long)]
        json: bool,
    },
    /// Send a paused message on as it is.
    Resume {
        /// The paused message's id (`SHARD-N`, from `list`).
        id: String,
    },
    /// Answer a paused request with the rule's JSON-RPC error (a paused answer becomes that
    /// error; a paused notification going to the client is dropped).
    Block {
        /// The paused message's id.
        id: String,
        /// The error message (default: the rule's).
        #[arg(long, value_name = "M")]
        message: Option<String>,
    },
    /// Send a paused message on with a JSON merge patch (RFC 7396) applied to its params (an
    /// answer going to the client: its result).
    Modify {
        /// The paused message's id.
        id: String,
        /// The merge patch, a JSON object (`'{"arguments":{"text":"hi"}}'`).
        #[arg(long, value_name = "JSON")]
        patch: String,
    },
    /// Print the rule set in force, or replace it (`--set FILE`: TOML `[[rules]]` or
    /// `[[intercept.rules]]`, or JSON); a bad set is refused whole and the old one stays.
    Rules {
        /// The new rule set.
        #[arg(long, value_name = "FILE")]
        set: Option<PathBuf>,
    },
}

/// Runs the command; exit 0 on success, 1 when the API refused, 2 when it cannot be reached
/// or the input is unusable.
pub fn run(args: &InterceptArgs) -> ExitCode {
    match execute(args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(Failure::Refused(why)) => {
            eprintln!("shadowcat intercept: {why}");
            ExitCode::from(1)
        }
        Err(Failure::Unusable(why)) => {
            eprintln!("shadowcat intercept: {why}");
            ExitCode::from(2)
        }
    }
}

/// Why a command failed.
enum Failure {
    /// The admin API answered with an error.
    Refused(String),
    /// No answer, or bad input.
    Unusable(String),
}

fn execute(args: &InterceptArgs) -> Result<(), Failure> {
    let api = Api::new(args)?;
    let done = |answer: Value| {
        println!("{}", answer);
        Ok(())
    };
    match &args.action {
        InterceptAction::List { json } => {
            let answer = api.call("GET", "paused", None)?;
            if *json {
                return done(answer);
            }
            print_paused(&answer);
            Ok(())
        }
        InterceptAction::Resume { id } => {
            done(api.call("POST", &format!("paused/{id}/resume"), None)?)
        }
        InterceptAction::Block { id, message } => {
            let body = message.as_ref().map(|m| json!({ "message": m }));
            done(api.call("POST", &format!("paused/{id}/block"), body)?)
        }
        InterceptAction::Modify { id, patch } => {
            let patch: Value = serde_json::from_str(patch)
                .map_err(|e| Failure::Unusable(format!("--patch is not JSON: {e}")))?;
            done(api.call("POST", &format!("paused/{id}/modify"), Some(patch))?)
        }
        InterceptAction::Rules { set: None } => done(api.call("GET", "rules", None)?),
        InterceptAction::Rules { set: Some(file) } => {
            let rules = read_rules(file)?;
            done(api.call("PUT", "rules", Some(rules))?)
        }
    }
}

fn print_paused(answer: &Value) {
    let items = answer["paused"].as_array().cloned().unwrap_or_default();
    if items.is_empty() {
        println!("no paused messages");
        return;
    }
    println!("ID\tAGE\tDIR\tMETHOD\tTOOL\tSESSION\tRULE");
    for item in items {
        let text = |key: &str| item[key].as_str().unwrap_or("-").to_owned();
        let age = item["age_ms"].as_u64().unwrap_or_default() as f64 / 1000.0;
        println!(
            "{}\t{age:.1}s\t{}\t{}\t{}\t{}\t{}",
            text("id"),
            text("direction"),
            text("method"),
            text("tool"),
            text("session"),
            text("rule")
        );
    }
}

/// A rule file: JSON (`{"rules": [...]}` or a list) or TOML (`[[rules]]`, or a config's
/// `[[intercept.rules]]`), as the JSON the API takes.
fn read_rules(file: &Path) -> Result<Value, Failure> {
    let text = std::fs::read_to_string(file)
        .map_err(|e| Failure::Unusable(format!("cannot read {}: {e}", file.display())))?;
    if let Ok(value) = serde_json::from_str::<Value>(&text) {
        return Ok(value);
    }
    #[derive(serde::Deserialize)]
    struct Wrapped {
        intercept: RawIntercept,
    }
    let rules = match toml::from_str::<Wrapped>(&text) {
        Ok(wrapped) => wrapped.intercept.rules,
        Err(_) => {
            toml::from_str::<RawIntercept>(&text)
                .map_err(|e| Failure::Unusable(format!("{}: {e}", file.display())))?
                .rules
        }
    };
    Ok(json!({ "rules": rules }))
}

/// The admin API's address and token.
struct Api {
    addr: String,
    host: String,
    token: Option<String>,
}

impl Api {
    fn new(args: &InterceptArgs) -> Result<Api, Failure> {
        let url = url::Url::parse(&args.admin)
            .map_err(|e| Failure::Unusable(format!("--admin {:?}: {e}", args.admin)))?;
        if url.scheme() != "http" {
            return Err(Failure::Unusable(
                "--admin must be an http:// URL".to_owned(),
            ));
        }
        let host = url
            .host_str()
            .ok_or_else(|| Failure::Unusable("--admin names no host".to_owned()))?
            .to_owned();
        let port = url.port_or_known_default().unwrap_or(80);
        let token = match &args.admin_token_file {
            None => None,
            Some(file) => Some(
                std::fs::read_to_string(file)
                    .map_err(|e| Failure::Unusable(format!("cannot read {}: {e}", file.display())))?
                    .trim()
                    .to_owned(),
            ),
        };
        Ok(Api {
            addr: format!("{host}:{port}"),
            host,
            token,
        })
    }

    /// One request to `/api/intercept/PATH`; the answer's JSON, or why not.
    fn call(&self, method: &str, path: &str, body: Option<Value>) -> Result<Value, Failure> {
        let body = body.map(|b| b.to_string()).unwrap_or_default();
        let mut request = format!(
            "{method} /api/intercept/{path} HTTP/1.1\r\nHost: {}\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: {}\r\n",
            self.host,
            body.len()
        );
        if let Some(token) = &self.token {
            request.push_str(&format!("Authorization: Bearer {token}\r\n"));
        }
        request.push_str("\r\n");
        request.push_str(&body);
        let unreachable = |e: std::io::Error| {
            Failure::Unusable(format!("cannot reach the admin API at {}: {e}", self.addr))
        };
        let mut stream = TcpStream::connect(&self.addr).map_err(unreachable)?;
        stream
            .set_read_timeout(Some(TIMEOUT))
            .map_err(unreachable)?;
        stream.write_all(request.as_bytes()).map_err(unreachable)?;
        let mut answer = Vec::new();
        stream.read_to_end(&mut answer).map_err(unreachable)?;
        let text = String::from_utf8_lossy(&answer);
        let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
        let status: u16 = head
            .split_whitespace()
            .nth(1)
            .and_then(|s| s.parse().ok())
            .unwrap_or_default();
        let value: Value =
            serde_json::from_str(body).unwrap_or_else(|_| json!({ "error": body.trim() }));
        match status {
            200 => Ok(value),
            0 => Err(Failure::Unusable(format!(
                "no HTTP answer from {}",
                self.addr
            ))),
            status => Err(Failure::Refused(format!(
                "{status}: {}",
                value["error"].as_str().unwrap_or(body.trim())
            ))),
        }
    }
}
