//! placeholder
/// Runs.
pub fn run() -> std::io::Result<()> {
    Ok(())
}
