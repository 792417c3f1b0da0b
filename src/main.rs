//! The `shadowcat` binary: parse the command line, resolve the config, run.

fn main() {}
