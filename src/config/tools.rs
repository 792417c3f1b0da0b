//! A route's tool allow/deny lists (`allow_tools`, `deny_tools`, `--allow-tool`, `--deny-tool`):
//! the globs checked at load, and the one question the pipeline asks per tool name.
//!
//! Not here: hiding tools from listings or refusing calls (the pipeline's `tool_filter` stage).
//! Hot path: [`ToolFilter::visible`] allocates nothing and never fails; a glob match is linear
//! in the name with one backtrack point (no exponential patterns).

use super::error::Error;

/// What an `allow_tools`/`deny_tools` entry may look like.
const GLOB_ALLOWED: &str = "a tool name or glob (`*` = any run of characters, `?` = one \
     character), 1 to 128 printable characters, e.g. \"echo\" or \"add*\"";

/// Longest glob accepted (tool names are short; a bound keeps matching cheap).
const MAX_GLOB_BYTES: usize = 128;

/// Which tools a route shows and lets clients call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ToolFilter {
    /// When non-empty, only tools matching one of these are visible.
    allow: Vec<String>,
    /// Tools matching one of these are hidden (wins over `allow`).
    deny: Vec<String>,
}

impl ToolFilter {
    /// Checks both lists; `None` when both are empty (the route shows every tool).
    ///
    /// # Errors
    /// [`Error::Invalid`] naming the entry (`KEY[i]`) that is not a usable glob.
    pub fn build(key: &str, allow: &[String], deny: &[String]) -> Result<Option<Self>, Error> {
        for (list, name) in [(allow, "allow_tools"), (deny, "deny_tools")] {
            for (index, glob) in list.iter().enumerate() {
                check_glob(&format!("{key}.{name}[{index}]"), glob)?;
            }
        }
        if allow.is_empty() && deny.is_empty() {
            return Ok(None);
        }
        Ok(Some(ToolFilter {
            allow: allow.to_vec(),
            deny: deny.to_vec(),
        }))
    }

    /// Whether the tool `name` is offered on this route.
    pub fn visible(&self, name: &str) -> bool {
        let name = name.as_bytes();
        (self.allow.is_empty() || self.allow.iter().any(|g| glob_match(g.as_bytes(), name)))
            && !self.deny.iter().any(|g| glob_match(g.as_bytes(), name))
    }

    /// The allow globs as configured.
    pub fn allow(&self) -> &[String] {
        &self.allow
    }

    /// The deny globs as configured.
    pub fn deny(&self) -> &[String] {
        &self.deny
    }
}

pub(super) fn check_glob(key: &str, glob: &str) -> Result<(), Error> {
    let printable = glob.chars().all(|c| !c.is_control());
    if glob.is_empty() || glob.len() > MAX_GLOB_BYTES || !printable {
        return Err(Error::Invalid {
            key: key.to_owned(),
            value: format!("{glob:?}"),
            allowed: GLOB_ALLOWED,
        });
    }
    Ok(())
}

/// Whole-name glob match: `*` any run of characters (also none), `?` one character, the rest
/// literal (byte for byte, which on UTF-8 is character for character).
///
/// The classic single-backtrack algorithm: on a mismatch, retry from the last `*` one
/// character further. Positions in `name` only move by whole characters.
pub(super) fn glob_match(glob: &[u8], name: &[u8]) -> bool {
    // The length of the character starting at byte `at` of `name` (1 past the end).
    let char_len = |at: usize| match name.get(at) {
        Some(&b) if b >= 0xF0 => 4,
        Some(&b) if b >= 0xE0 => 3,
        Some(&b) if b >= 0xC0 => 2,
        _ => 1,
    };
    let (mut g, mut n) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while n < name.len() {
        match glob.get(g) {
            Some(b'*') => {
                star = Some((g, n));
                g += 1;
            }
            Some(b'?') => {
                g += 1;
                n += char_len(n);
            }
            Some(&c) if Some(&c) == name.get(n) => {
                g += 1;
                n += 1;
            }
            _ => match star {
                Some((star_g, star_n)) => {
                    let next = star_n + char_len(star_n);
                    g = star_g + 1;
                    n = next;
                    star = Some((star_g, next));
                }
                None => return false,
            },
        }
    }
    glob.get(g..)
        .is_some_and(|rest| rest.iter().all(|&c| c == b'*'))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn filter(allow: &[&str], deny: &[&str]) -> ToolFilter {
        let own = |l: &[&str]| l.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>();
        ToolFilter::build("r", &own(allow), &own(deny))
            .unwrap()
            .unwrap()
    }

    #[test]
    fn globs_match_whole_names() {
        for (glob, name, hit) in [
            ("echo", "echo", true),
            ("echo", "echo2", false),
            ("echo", "ech", false),
            ("add*", "add", true),
            ("add*", "add_numbers", true),
            ("add*", "xadd", false),
            ("*", "", true),
            ("*", "anything", true),
            ("?cho", "echo", true),
            ("?cho", "cho", false),
            ("a*b*c", "aXXbYYc", true),
            ("a*b*c", "aXXbYY", false),
            ("*long-running*", "long-running-operation", true),
            ("a*a*a*a*b", "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", false),
            ("", "", true),
            ("", "x", false),
            ("caf?", "café", true),
            ("caf?", "cafés", false),
            ("?", "é", true),
            ("??", "é", false),
            ("*é", "café", true),
            ("*?s", "cafés", true),
        ] {
            assert_eq!(
                glob_match(glob.as_bytes(), name.as_bytes()),
                hit,
                "{glob} {name}"
            );
        }
    }

    #[test]
    fn deny_wins_over_allow_and_empty_allow_means_all() {
        let f = filter(&["add*", "echo"], &["add_secret"]);
        assert!(f.visible("echo") && f.visible("add") && f.visible("add_two"));
        assert!(!f.visible("add_secret") && !f.visible("sample"));
        let deny_only = filter(&[], &["get-env", "*zip*"]);
        assert!(deny_only.visible("echo"));
        assert!(!deny_only.visible("get-env") && !deny_only.visible("gzip-file"));
    }

    #[test]
    fn routes_take_lists_from_toml_and_print_them_back() {
        let text = "[upstreams.demo]\nurl = \"http://127.0.0.1:9000/mcp\"\n\
            [listeners.main]\nbind = \"127.0.0.1:8080\"\n\
            [[listeners.main.routes]]\npath = \"/mcp\"\nupstream = \"demo\"\n\
            allow_tools = [\"echo\", \"add*\"]\ndeny_tools = [\"add_secret\"]\n";
        let config = crate::config::from_toml_str(text, "t.toml").unwrap();
        let tools = config.listeners[0].routes[0].tools.as_ref().unwrap();
        assert!(tools.visible("add_two") && !tools.visible("add_secret") && !tools.visible("x"));
        let printed = crate::config::to_toml(&config);
        assert!(
            printed.contains("allow_tools = [\n    \"echo\",\n    \"add*\",\n]"),
            "{printed}"
        );
        let again = crate::config::from_toml_str(&printed, "printed.toml").unwrap();
        assert_eq!(again, config);
        let bad = text.replace("\"add_secret\"", "\"\"");
        let err = crate::config::from_toml_str(&bad, "t.toml")
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("listeners.main.routes[0].deny_tools[0]"),
            "{err}"
        );
    }

    #[test]
    fn empty_lists_build_no_filter_and_bad_globs_name_their_key() {
        assert_eq!(ToolFilter::build("r", &[], &[]).unwrap(), None);
        let err = ToolFilter::build("listeners.main.routes[0]", &["ok".into()], &["".into()])
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("listeners.main.routes[0].deny_tools[0]"),
            "{err}"
        );
        assert!(ToolFilter::build("r", &["a\nb".into()], &[]).is_err());
        assert!(ToolFilter::build("r", &["x".repeat(129)], &[]).is_err());
    }
}
