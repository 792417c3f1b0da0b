//! `[upstreams.NAME]`: which transport a table describes (`url` or `command`), and the checks of
//! a stdio upstream's keys (command, env, cwd, mode, warm, max, max_line, kill_grace).
//!
//! Not here: HTTP URLs (`url.rs`), the keys every upstream has (`resolve.rs`), running children
//! (the upstream module's `stdio/`). Runs once at load: `cwd` is checked against the file system here.

use std::collections::BTreeMap;
use std::path::PathBuf;

use super::defaults as d;
use super::error::{invalid_str, Error};
use super::model::{StdioMode, StdioUpstream};
use super::raw::RawUpstream;
use super::setting::{count, duration, size, Bound};

/// What `transport` may say.
const TRANSPORT_ALLOWED: &str = "\"streamable-http\" or \"sse\" (with url; sse is the legacy \
                                 HTTP+SSE transport of 2024-11-05) or \"stdio\" (with command); \
                                 optional for streamable-http and stdio";

/// The transport a `[upstreams.NAME]` table describes, with the key that chose it.
#[derive(Debug)]
pub(super) enum UpstreamKind<'a> {
    /// `url = "http://..."`.
    Http(&'a str),
    /// `url = "http://.../sse"` with `transport = "sse"`.
    Sse(&'a str),
    /// `command = [...]`.
    Stdio(&'a [String]),
}

/// Decides between `url` and `command` (exactly one), checks `transport` agrees, and rejects
/// keys that do not apply to the chosen transport.
pub(super) fn upstream_kind<'a>(
    name: &str,
    raw: &'a RawUpstream,
) -> Result<UpstreamKind<'a>, Error> {
    let key = |field: &str| format!("upstreams.{name}.{field}");
    let kind = match (&raw.url, &raw.command) {
        (Some(_), Some(_)) => {
            return Err(Error::Conflict {
                key: key("url"),
                other: key("command"),
                allowed: "an upstream is an HTTP server (url) or a stdio server the proxy runs \
                          (command), not both",
            })
        }
        (None, None) => {
            return Err(Error::Missing {
                key: format!("upstreams.{name}"),
                allowed: "set url = \"http://host:port/mcp\" for an HTTP server, or command = \
                          [\"program\", \"arg\"] for a stdio server",
            })
        }
        (Some(url), None) => UpstreamKind::Http(url),
        (None, Some(command)) => UpstreamKind::Stdio(command),
    };
    let mut kind = kind;
    if let Some(transport) = &raw.transport {
        let agrees = match (transport.as_str(), &kind) {
            ("streamable-http", UpstreamKind::Http(_)) | ("stdio", UpstreamKind::Stdio(_)) => true,
            ("sse", UpstreamKind::Http(url)) => {
                kind = UpstreamKind::Sse(url);
                true
            }
            ("streamable-http" | "stdio" | "sse", _) => false,
            _ => return Err(invalid_str(&key("transport"), transport, TRANSPORT_ALLOWED)),
        };
        if !agrees {
            return Err(invalid_str(&key("transport"), transport, TRANSPORT_ALLOWED));
        }
    }
    if matches!(kind, UpstreamKind::Sse(_)) && raw.pool_max_idle.is_some() {
        return Err(Error::Conflict {
            key: key("pool_max_idle"),
            other: key("transport"),
            allowed: "pool_max_idle applies to streamable-http upstreams: an sse upstream \
                      session holds its own connections",
        });
    }
    check_keys_apply(name, raw, &kind)?;
    Ok(kind)
}

/// Rejects keys that do not apply to the upstream's transport (`kind`): the stdio keys on an
/// HTTP or SSE upstream, the HTTP keys on a stdio one.
fn check_keys_apply(name: &str, raw: &RawUpstream, kind: &UpstreamKind<'_>) -> Result<(), Error> {
    let key = |field: &str| format!("upstreams.{name}.{field}");
    match kind {
        UpstreamKind::Http(_) | UpstreamKind::Sse(_) => {
            let stdio_only = [
                ("env", raw.env.is_some()),
                ("cwd", raw.cwd.is_some()),
                ("mode", raw.mode.is_some()),
                ("warm", raw.warm.is_some()),
                ("max", raw.max.is_some()),
                ("max_line", raw.max_line.is_some()),
                ("kill_grace", raw.kill_grace.is_some()),
            ];
            if let Some((field, _)) = stdio_only.iter().find(|(_, set)| *set) {
                return Err(Error::Conflict {
                    key: key(field),
                    other: key("url"),
                    allowed: "env, cwd, mode, warm, max, max_line and kill_grace apply to stdio \
                              upstreams (command) only",
                });
            }
        }
        UpstreamKind::Stdio(_) => {
            let http_only = [
                ("connect_timeout", raw.connect_timeout.is_some()),
                ("pool_max_idle", raw.pool_max_idle.is_some()),
            ];
            if let Some((field, _)) = http_only.iter().find(|(_, set)| *set) {
                return Err(Error::Conflict {
                    key: key(field),
                    other: key("command"),
                    allowed: "connect_timeout and pool_max_idle apply to HTTP upstreams (url) only",
                });
            }
        }
    }
    Ok(())
}

const WARM: Bound = Bound {
    default: d::STDIO_WARM,
    min: 0,
    max: d::STDIO_WARM_MAX,
    allowed: "a number of pre-spawned children per shard from 0 to 64",
};
const MAX: Bound = Bound {
    default: d::STDIO_MAX,
    min: 1,
    max: d::STDIO_MAX_MAX,
    allowed: "a number of children per shard from 1 to 100000",
};
const MAX_LINE: Bound = Bound {
    default: d::STDIO_MAX_LINE,
    min: d::STDIO_MAX_LINE_MIN,
    max: d::MAX_MESSAGE_BYTES_MAX,
    allowed: "a size from 1KiB to 1GiB, e.g. \"4MiB\"",
};

/// Resolves the stdio keys of `[upstreams.NAME]` whose `command` is `command`.
pub(super) fn resolve_stdio(
    name: &str,
    raw: &RawUpstream,
    command: &[String],
) -> Result<StdioUpstream, Error> {
    let key = |field: &str| format!("upstreams.{name}.{field}");
    let mode = match raw.mode.as_deref() {
        None | Some("per-session") => StdioMode::PerSession,
        Some("shared") => StdioMode::Shared,
        Some(other) => {
            return Err(invalid_str(
                &key("mode"),
                other,
                "\"per-session\" (one child per client session) or \"shared\" (one child per \
                 shard serving every session)",
            ))
        }
    };
    let warm = count(&key("warm"), raw.warm, &WARM)?;
    let max = count(&key("max"), raw.max, &MAX)?;
    if mode == StdioMode::PerSession && warm > max {
        return Err(Error::Invalid {
            key: key("warm"),
            value: warm.to_string(),
            allowed: "at most `max`: pre-spawned children count against the per-shard maximum",
        });
    }
    Ok(StdioUpstream {
        command: check_command(&key("command"), command)?,
        env: check_env(&key("env"), raw.env.as_ref())?,
        cwd: raw
            .cwd
            .as_deref()
            .map(|cwd| check_cwd(&key("cwd"), cwd))
            .transpose()?,
        mode,
        warm,
        max,
        max_line: size(&key("max_line"), raw.max_line.as_ref(), &MAX_LINE)?,
        kill_grace: duration(
            &key("kill_grace"),
            raw.kill_grace.as_ref(),
            d::STDIO_KILL_GRACE,
        )?,
    })
}

/// A program and its arguments: at least the program, which is not empty; no NUL anywhere
/// (`execve` takes C strings, so a NUL would silently cut the argument).
fn check_command(key: &str, command: &[String]) -> Result<Vec<String>, Error> {
    let Some(program) = command.first() else {
        return Err(Error::Invalid {
            key: key.to_owned(),
            value: "[]".to_owned(),
            allowed: "a program and its arguments, like [\"node\", \"server.js\"]",
        });
    };
    if program.is_empty() {
        return Err(invalid_str(
            &format!("{key}[0]"),
            program,
            "a program name or path (looked up on PATH unless it contains '/')",
        ));
    }
    if let Some(index) = command.iter().position(|arg| arg.contains('\0')) {
        let arg = command.get(index).map_or("", String::as_str);
        return Err(invalid_str(
            &format!("{key}[{index}]"),
            arg,
            "text without NUL characters (the OS cannot pass them to a program)",
        ));
    }
    Ok(command.to_vec())
}

/// Variable names: not empty, no `=` or NUL; values: no NUL. Sorted by name (the map is).
fn check_env(
    key: &str,
    env: Option<&BTreeMap<String, String>>,
) -> Result<Vec<(String, String)>, Error> {
    let Some(env) = env else {
        return Ok(Vec::new());
    };
    for (name, value) in env {
        if name.is_empty() || name.contains(['=', '\0']) {
            return Err(invalid_str(
                key,
                name,
                "variable names that are not empty and contain no '=' or NUL",
            ));
        }
        if value.contains('\0') {
            return Err(invalid_str(
                &format!("{key}.{name}"),
                value,
                "a value without NUL characters (the OS cannot pass them to a program)",
            ));
        }
    }
    Ok(env.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
}

/// The children's working directory: it must exist and be a directory now, so a typo fails at
/// load rather than on every spawn. Kept as written (relative paths are relative to the
/// proxy's working directory).
fn check_cwd(key: &str, cwd: &str) -> Result<PathBuf, Error> {
    let is_dir = !cwd.is_empty()
        && !cwd.contains('\0')
        && std::fs::metadata(cwd).is_ok_and(|meta| meta.is_dir());
    if is_dir {
        Ok(PathBuf::from(cwd))
    } else {
        Err(invalid_str(
            key,
            cwd,
            "an existing directory (the children's working directory)",
        ))
    }
}
