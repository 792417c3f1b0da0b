//! `shadowcat forward` flags -> [`ForwardConfig`].
//!
//! Not here: the flag syntax (`mod.rs`), the config types and `--header` syntax (the config
//! module's `forward.rs`), running it (the forward module).

use super::ForwardArgs;
use crate::config::defaults as d;
use crate::config::{
    invalid_str, parse_upstream_url, trust_for, Error, ForwardConfig, ForwardTarget, LogConfig,
    ToolFilter, UpstreamTrust, UpstreamUrl,
};

/// Turns `forward` flags into its config (resolves the target's host name, blocking, once).
///
/// # Errors
/// [`Error`] naming the flag at fault (`--target`).
pub(crate) fn forward_config(args: &ForwardArgs) -> Result<ForwardConfig, Error> {
    let target = match (&args.target, args.command.is_empty()) {
        (Some(url), true) => {
            let url = parse_upstream_url("--target", url)?;
            ForwardTarget::Http {
                trust: target_trust(args, &url)?,
                url,
                headers: args.headers.clone(),
            }
        }
        (None, false) => ForwardTarget::Stdio {
            command: args.command.clone(),
            env: args.env.clone(),
            cwd: args.cwd.clone(),
        },
        // clap's argument group makes these unreachable; say what is wrong anyway.
        (Some(url), false) => {
            return Err(invalid_str(
                "--target",
                url,
                "either --target URL or -- CMD ARGS..., not both",
            ))
        }
        (None, true) => {
            return Err(invalid_str(
                "--target",
                "",
                "--target URL or -- CMD ARGS...",
            ))
        }
    };
    let tools =
        ToolFilter::build("forward", &args.allow_tools, &args.deny_tools).map_err(name_the_flag)?;
    let recording = args
        .record
        .as_deref()
        .map(crate::config::recording_in)
        .transpose()
        .map_err(|e| e.rename_keys(&|key| (key == "recording.dir").then_some("--record")))?;
    Ok(ForwardConfig {
        target,
        tools,
        recording,
        request_timeout: args.request_timeout.unwrap_or(d::UPSTREAM_REQUEST_TIMEOUT),
        connect_timeout: args.connect_timeout.unwrap_or(d::UPSTREAM_CONNECT_TIMEOUT),
        kill_grace: args.kill_grace.unwrap_or(d::STDIO_KILL_GRACE),
        log: LogConfig {
            level: args
                .log_level
                .clone()
                .unwrap_or_else(|| d::LOG_LEVEL.to_owned()),
        },
    })
}

/// The trust of an `https://` target (`--target-ca`, `--target-insecure`, else the built-in
/// roots), checked now; the two flags on an `http://` target are an error.
fn target_trust(args: &ForwardArgs, url: &UpstreamUrl) -> Result<Option<UpstreamTrust>, Error> {
    let settings = (args.target_ca.as_deref(), args.target_insecure);
    if !url.tls {
        return match settings {
            (None, false) => Ok(None),
            _ => Err(invalid_str(
                if args.target_insecure {
                    "--target-insecure"
                } else {
                    "--target-ca"
                },
                &url.to_url(),
                "--target-ca and --target-insecure apply to https:// targets only",
            )),
        };
    }
    let keys = ("--target-ca", "--target-insecure", "--target");
    let trust = trust_for(url, settings, keys)?;
    if trust == UpstreamTrust::Insecure {
        tracing::warn!(target = %url.to_url(), "--target-insecure: the target's certificate is not verified");
    }
    Ok(Some(trust))
}

/// A bad glob's error names the flag it came from, not the TOML key `build` names.
fn name_the_flag(error: Error) -> Error {
    match error {
        Error::Invalid {
            key,
            value,
            allowed,
        } => Error::Invalid {
            key: if key.contains("deny_tools") {
                "--deny-tool"
            } else {
                "--allow-tool"
            }
            .to_owned(),
            value,
            allowed,
        },
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use clap::{CommandFactory, Parser};

    use super::*;
    use crate::cli::{Cli, CliCommand};

    fn config(args: &[&str]) -> Result<ForwardConfig, String> {
        let cli = Cli::try_parse_from(args).map_err(|e| e.to_string())?;
        let CliCommand::Forward(args) = cli.command else {
            panic!("not forward")
        };
        forward_config(&args).map_err(|e| e.to_string())
    }

    #[test]
    fn http_target_with_headers_and_defaults() {
        let c = config(&[
            "shadowcat",
            "forward",
            "--target",
            "http://127.0.0.1:8080/mcp",
            "--header",
            "Authorization: Bearer t",
        ])
        .unwrap();
        let ForwardTarget::Http { url, headers, .. } = &c.target else {
            panic!("not http")
        };
        assert_eq!(url.to_url(), "http://127.0.0.1:8080/mcp");
        assert_eq!(
            headers,
            &[("Authorization".to_owned(), "Bearer t".to_owned())]
        );
        assert_eq!(c.request_timeout, d::UPSTREAM_REQUEST_TIMEOUT);
        assert_eq!(c.connect_timeout, d::UPSTREAM_CONNECT_TIMEOUT);
        assert_eq!(c.kill_grace, d::STDIO_KILL_GRACE);
        assert_eq!(c.log.level, d::LOG_LEVEL);
    }

    #[test]
    fn stdio_target_takes_everything_after_the_dashes() {
        let c = config(&[
            "shadowcat",
            "forward",
            "--env",
            "A=1",
            "--cwd",
            "/tmp",
            "--kill-grace",
            "5s",
            "--log-level",
            "debug",
            "--",
            "node",
            "server.js",
            "--target",
            "x",
        ])
        .unwrap();
        let ForwardTarget::Stdio { command, env, cwd } = &c.target else {
            panic!("not stdio")
        };
        assert_eq!(command, &["node", "server.js", "--target", "x"]);
        assert_eq!(env, &[("A".to_owned(), "1".to_owned())]);
        assert_eq!(cwd.as_deref(), Some(std::path::Path::new("/tmp")));
        assert_eq!(c.kill_grace, Duration::from_secs(5));
        assert_eq!(c.log.level, "debug");
    }

    #[test]
    fn exactly_one_target_and_flags_only_for_theirs() {
        for (args, fragment) in [
            (&["shadowcat", "forward"][..], "required"),
            (
                &["shadowcat", "forward", "--target", "http://a/", "--", "cat"],
                "cannot be used with",
            ),
            (
                &["shadowcat", "forward", "--header", "A: b", "--", "cat"],
                "cannot be used with",
            ),
            (
                &[
                    "shadowcat",
                    "forward",
                    "--env",
                    "A=b",
                    "--target",
                    "http://a/",
                ],
                "cannot be used with",
            ),
            (
                &[
                    "shadowcat",
                    "forward",
                    "--target",
                    "http://a/",
                    "--header",
                    "Host: x",
                ],
                "set by shadowcat",
            ),
        ] {
            let err = config(args).unwrap_err();
            assert!(err.contains(fragment), "{args:?}: {err}");
        }
        // An https:// target is checked against the default roots.
        let c = config(&["shadowcat", "forward", "--target", "https://127.0.0.1/"]).unwrap();
        assert!(
            matches!(c.target, ForwardTarget::Http { url, trust: Some(UpstreamTrust::DefaultRoots), .. } if url.tls)
        );
    }

    #[test]
    fn target_trust_flags_apply_to_https_targets_only() {
        let https = ["shadowcat", "forward", "--target", "https://127.0.0.1/mcp"];
        let c = config(&[&https[..], &["--target-insecure"]].concat()).unwrap();
        assert!(matches!(
            c.target,
            ForwardTarget::Http {
                trust: Some(UpstreamTrust::Insecure),
                ..
            }
        ));
        let missing = config(&[&https[..], &["--target-ca", "/nonexistent/ca.pem"]].concat());
        assert!(missing.unwrap_err().contains("--target-ca"));
        let plain = ["shadowcat", "forward", "--target", "http://127.0.0.1/mcp"];
        let c = config(&plain).unwrap();
        assert!(matches!(c.target, ForwardTarget::Http { trust: None, .. }));
        let err = config(&[&plain[..], &["--target-insecure"]].concat()).unwrap_err();
        assert!(err.contains("https:// targets only"), "{err}");
        let both = [&https[..], &["--target-insecure", "--target-ca", "x.pem"]].concat();
        assert!(config(&both).is_err());
    }

    #[test]
    fn tool_flags_build_the_filter_and_bad_globs_name_their_flag() {
        let c = config(&[
            "shadowcat",
            "forward",
            "--deny-tool",
            "add*",
            "--allow-tool",
            "*",
            "--",
            "cat",
        ])
        .unwrap();
        let tools = c.tools.expect("a filter");
        assert!(tools.visible("echo") && !tools.visible("add_two"));
        let plain = config(&["shadowcat", "forward", "--target", "http://127.0.0.1:1/"]).unwrap();
        assert_eq!(plain.tools, None);
        for (flag, fragment) in [
            ("--deny-tool", "--deny-tool"),
            ("--allow-tool", "--allow-tool"),
        ] {
            let err = config(&["shadowcat", "forward", flag, "", "--", "cat"]).unwrap_err();
            assert!(err.contains(fragment), "{flag}: {err}");
        }
    }

    #[test]
    fn help_defaults_match_the_constants() {
        let cli = Cli::command();
        let forward = cli.find_subcommand("forward").unwrap();
        let help_of = |id: &str| {
            let arg = forward.get_arguments().find(|a| a.get_id() == id).unwrap();
            arg.get_help().unwrap().to_string()
        };
        use crate::config::format_duration;
        for (id, default) in [
            (
                "request_timeout",
                format_duration(d::UPSTREAM_REQUEST_TIMEOUT),
            ),
            (
                "connect_timeout",
                format_duration(d::UPSTREAM_CONNECT_TIMEOUT),
            ),
            ("kill_grace", format_duration(d::STDIO_KILL_GRACE)),
            ("log_level", d::LOG_LEVEL.to_owned()),
        ] {
            assert!(
                help_of(id).contains(&format!("[default: {default}]")),
                "{id}"
            );
        }
    }
}
