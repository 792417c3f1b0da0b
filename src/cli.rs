//! Command-line interface (clap types only).
