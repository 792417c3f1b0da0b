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

/// Why a stdio upstream's program cannot be run; each says what was looked for and where.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NotFound {
    /// The command has no program.
    #[error("the command is empty")]
    Empty,
    /// A path that is not an executable file.
    #[error("{} is not an executable file", .0.display())]
    NotExecutable(PathBuf),
    /// A name found in no `PATH` directory.
    #[error("program {program:?} not found on PATH ({path})")]
    NotOnPath {
        /// The name searched for.
        program: String,
        /// The `PATH` searched (lossy text).
        path: String,
    },
}

/// Where the program of `spec` would be run from.
///
/// # Errors
/// [`NotFound`]: what was looked for and where.
pub fn find_program(spec: &ChildSpec) -> Result<PathBuf, NotFound> {
    let Some(program) = spec.argv.first() else {
        return Err(NotFound::Empty);
    };
    if program.contains('/') {
        let path = match &spec.cwd {
            Some(cwd) if !program.starts_with('/') => cwd.join(program),
            _ => PathBuf::from(program),
        };
        return if is_executable(&path) {
            Ok(path)
        } else {
            Err(NotFound::NotExecutable(path))
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
        .ok_or_else(|| NotFound::NotOnPath {
            program: program.clone(),
            path: path_var.to_string_lossy().into_owned(),
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
        assert!(matches!(err, NotFound::NotOnPath { .. }), "{err}");
        assert!(err.to_string().contains("not found on PATH"), "{err}");
        assert_eq!(find_program(&spec(&[], &[])), Err(NotFound::Empty));
        assert!(find_program(&spec(&["/bin/sh"], &[])).is_ok());
        let plain = std::env::temp_dir().join(format!("shadowcat-which-{}", std::process::id()));
        std::fs::write(&plain, b"not a program").unwrap();
        std::fs::set_permissions(&plain, std::fs::Permissions::from_mode(0o644)).unwrap();
        let err = find_program(&spec(&[plain.to_str().unwrap()], &[])).unwrap_err();
        std::fs::remove_file(&plain).unwrap();
        assert_eq!(err, NotFound::NotExecutable(plain.clone()));
        assert!(err.to_string().contains("not an executable file"), "{err}");
        let relative = ChildSpec {
            cwd: Some(PathBuf::from("/bin")),
            ..spec(&["./sh"], &[])
        };
        assert_eq!(find_program(&relative).unwrap(), PathBuf::from("/bin/./sh"));
    }
}
