//! The `shadowcat` binary: parse the command line, resolve the config, run.
//!
//! Not here: anything else (crate::app starts the shards).

use std::process::ExitCode;

use clap::Parser as _;
use shadowcat::cli::{self, Cli, Command};
use shadowcat::config;

fn main() -> ExitCode {
    let cli = Cli::parse();
    let command = match cli::from_cli(&cli) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("shadowcat: {e}");
            return ExitCode::from(u8::try_from(e.exit_code()).unwrap_or(2));
        }
    };
    let result = match command {
        Command::Tape(command) => return cli::tape_run::run(&command),
        Command::Replay(args) => return cli::replay_run::run(&args, init_logging),
        Command::ConfigCheck(path) => {
            return match config::load(&path) {
                Ok(config) => {
                    // The effective config, then the truth about what each route's requests pass.
                    let (io, why) = shadowcat::app::io_choice(&config.runtime);
                    let why = why.map(|w| format!(" ({w})")).unwrap_or_default();
                    println!(
                        "{}{}# socket I/O path on this machine: {}{why}",
                        config::to_toml(&config),
                        shadowcat::pipeline::describe(&config),
                        config::io_name(io),
                    );
                    ExitCode::SUCCESS
                }
                Err(e) => {
                    eprintln!("shadowcat: {e}");
                    ExitCode::from(u8::try_from(e.exit_code()).unwrap_or(2))
                }
            };
        }
        Command::Proxy(config) => {
            init_logging(&config.log.level);
            shadowcat::app::run_proxy(*config)
        }
        Command::DemoServer(config) => {
            init_logging(&config.log.level);
            shadowcat::app::run_demo_server(config)
        }
        Command::Intercept(args) => return cli::intercept::run(&args),
        Command::Forward(config) => {
            init_logging(&config.log.level);
            return forward_exit(shadowcat::forward::run(*config));
        }
        Command::DemoStdio(config) => {
            init_logging(&config.log.level);
            return match shadowcat::demo::stdio::run() {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    eprintln!("shadowcat: demo-server --stdio: {e}");
                    ExitCode::FAILURE
                }
            };
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("shadowcat: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Exit status of `forward`: 0 when the client was done, 1 when the target ended or forward
/// could not start.
fn forward_exit(
    result: Result<shadowcat::forward::ForwardExit, shadowcat::forward::ForwardError>,
) -> ExitCode {
    match result {
        Ok(shadowcat::forward::ForwardExit::Clean) => ExitCode::SUCCESS,
        Ok(shadowcat::forward::ForwardExit::TargetEnded(how)) => {
            eprintln!("shadowcat forward: {how}");
            ExitCode::FAILURE
        }
        Err(e) => {
            eprintln!("shadowcat forward: {e}");
            ExitCode::FAILURE
        }
    }
}

fn init_logging(level: &str) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .or_else(|_| tracing_subscriber::EnvFilter::try_new(level))
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_target(false)
        .init();
}
