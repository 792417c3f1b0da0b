//! Finding a stdio upstream's program before any child is spawned, so a typo in the command
//! stops the proxy at startup with a clear message instead of failing every `initialize`.
//!
//! Not here: spawning (child.rs). The lookup mirrors `execvp`: a name with a `/` is a path
//! (relative to the child's working directory), any other name is searched on the child's
//! `PATH` (its `env` override, else the proxy's).

use std::ffi::OsString;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use super::ChildSpec;

/// Where the program of `spec` would be run from.
///
/// # Errors
/// A sentence saying what was looked for and where.
pub fn find_program(spec: &ChildSpec) -> Result<PathBuf, String> {
    let Some(program) = spec.argv.first() else {
        return Err("the command is empty".to_owned());
    };
    if program.contains('/') {
        let path = match &spec.cwd {
            Some(cwd) if !program.starts_with('/') => cwd.join(program),
            _ => PathBuf::from(program),
        };
        return if is_executable(&path) {
            Ok(path)
        } else {
            Err(format!("{} is not an executable file", path.display()))
        };
    }
    let path_var: Option<OsString> = spec
        .env
        .iter()
        .rev()
        .find(|(name, _)| name == "PATH")
        .map(|(_, value)| value.into())
        .or_else(|| std::env::var_os("PATH"));
    let path_var = path_var.unwrap_or_default();
    std::env::split_paths(&path_var)
        .map(|dir| dir.join(program))
        .find(|candidate| is_executable(candidate))
        .ok_or_else(|| {
            format!(
                "program {program:?} not found on PATH ({})",
                path_var.to_string_lossy()
            )
        })
}

fn is_executable(path: &Path) -> bool {
    std::fs::metadata(path)
        .is_ok_and(|meta| meta.is_file() && meta.permissions().mode() & 0o111 != 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(argv: &[&str], env: &[(&str, &str)]) -> ChildSpec {
        ChildSpec {
            argv: argv.iter().map(|a| a.to_string()).collect(),
            env: env
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            cwd: None,
        }
    }

    #[test]
    fn names_are_searched_on_path_and_paths_checked() {
        assert_eq!(
            find_program(&spec(&["sh"], &[("PATH", "/nonexistent:/bin")])).unwrap(),
            PathBuf::from("/bin/sh")
        );
        let err = find_program(&spec(&["no-such-program-xyz"], &[])).unwrap_err();
        assert!(err.contains("not found on PATH"), "{err}");
        assert!(find_program(&spec(&["/bin/sh"], &[])).is_ok());
        let plain = std::env::temp_dir().join(format!("shadowcat-which-{}", std::process::id()));
        std::fs::write(&plain, b"not a program").unwrap();
        std::fs::set_permissions(&plain, std::fs::Permissions::from_mode(0o644)).unwrap();
        let err = find_program(&spec(&[plain.to_str().unwrap()], &[])).unwrap_err();
        std::fs::remove_file(&plain).unwrap();
        assert!(err.contains("not an executable file"), "{err}");
        let relative = ChildSpec {
            cwd: Some(PathBuf::from("/bin")),
            ..spec(&["./sh"], &[])
        };
        assert_eq!(find_program(&relative).unwrap(), PathBuf::from("/bin/./sh"));
    }
}
