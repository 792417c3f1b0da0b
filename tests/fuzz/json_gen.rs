//! Generators for the inspector properties: JSON values and JSON-RPC messages, written with
//! random whitespace, member order, string escapes (`\uXXXX`, surrogate pairs, `\/`, short
//! escapes, also inside keys) and numbers (i64/u64 edges, 20+ digit integers, floats, exponents),
//! so the bytes are not just serde_json's canonical output.
//!
//! Not here: the properties or the reference reading (inspect.rs).

use proptest::prelude::*;

/// A JSON string whose every character carries how it is written.
#[derive(Debug, Clone)]
pub(crate) struct JStr(Vec<(char, u8)>);

/// A JSON value, kept as a tree so it can be written many ways.
#[derive(Debug, Clone)]
pub(crate) enum J {
    Null,
    Bool(bool),
    /// The number's text, written as is.
    Num(String),
    Str(JStr),
    Arr(Vec<J>),
    Obj(Vec<(JStr, J)>),
}

impl JStr {
    /// `text` with each character's spelling drawn by the caller.
    fn with_styles(text: &str, styles: &[u8]) -> JStr {
        JStr(
            text.chars()
                .enumerate()
                .map(|(i, c)| (c, styles.get(i).copied().unwrap_or(0)))
                .collect(),
        )
    }

    fn write(&self, out: &mut String) {
        out.push('"');
        for &(c, style) in &self.0 {
            match (c, style % 4) {
                ('"', _) => out.push_str("\\\""),
                ('\\', _) => out.push_str("\\\\"),
                ('\n', 2) => out.push_str("\\n"),
                ('\t', 2) => out.push_str("\\t"),
                ('\r', 2) => out.push_str("\\r"),
                ('\u{8}', 2) => out.push_str("\\b"),
                ('\u{c}', 2) => out.push_str("\\f"),
                ('/', 2) => out.push_str("\\/"),
                (c, s) if s == 1 || s == 3 || (c as u32) < 0x20 => {
                    let mut units = [0u16; 2];
                    for unit in c.encode_utf16(&mut units) {
                        if style % 4 == 3 {
                            out.push_str(&format!("\\u{unit:04X}"));
                        } else {
                            out.push_str(&format!("\\u{unit:04x}"));
                        }
                    }
                }
                (c, _) => out.push(c),
            }
        }
        out.push('"');
    }
}

/// Text strategies: mostly ASCII, some any-char (non-BMP included), some controls and quotes.
pub(crate) fn text(max: usize) -> impl Strategy<Value = String> {
    prop_oneof![
        4 => proptest::string::string_regex(&format!("[a-zA-Z0-9/_.-]{{0,{max}}}")).unwrap(),
        2 => proptest::string::string_regex(&format!(".{{0,{max}}}")).unwrap(),
        1 => proptest::string::string_regex(&format!("[\"\\\\/\n\t\r\u{0}-\u{1f}a\u{e9}\u{1f600}]{{0,{max}}}")).unwrap(),
    ]
}

/// A string with random escapes.
pub(crate) fn jstr(text: impl Strategy<Value = String>) -> impl Strategy<Value = JStr> {
    (
        text,
        prop::collection::vec(prop_oneof![6 => Just(0u8), 1 => 1u8..4], 0..64),
    )
        .prop_map(|(text, styles)| JStr::with_styles(&text, &styles))
}

/// A known key spelled with random escapes (`"n\u0061me"` is `"name"`).
pub(crate) fn key(name: &'static str) -> impl Strategy<Value = JStr> {
    jstr(Just(name.to_owned()))
}

/// Integer and float texts, edges and big ones included.
pub(crate) fn number() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => any::<i32>().prop_map(|n| n.to_string()),
        2 => any::<i64>().prop_map(|n| n.to_string()),
        2 => any::<u64>().prop_map(|n| n.to_string()),
        1 => prop::sample::select(vec![
            "0", "-0", "9223372036854775807", "9223372036854775808", "-9223372036854775808",
            "-9223372036854775809", "18446744073709551615", "18446744073709551616", "1e2", "1E+2",
            "-1.5e-7", "0.0", "2.5E10", "1.7976931348623157e308", "5e-324", "1e-400",
        ]).prop_map(str::to_owned),
        1 => ("-?", "[1-9][0-9]{19,40}").prop_map(|(sign, digits)| format!("{sign}{digits}")),
        1 => ("-?", "(0|[1-9][0-9]{0,5})", "(\\.[0-9]{1,8})?", "([eE][+-]?[0-9]{1,3})?")
            .prop_map(|(sign, i, f, e)| format!("{sign}{i}{f}{e}")),
    ]
}

/// Any JSON value, nested a few levels.
pub(crate) fn value() -> impl Strategy<Value = J> {
    let leaf = prop_oneof![
        Just(J::Null),
        any::<bool>().prop_map(J::Bool),
        number().prop_map(J::Num),
        jstr(text(12)).prop_map(J::Str),
    ];
    leaf.prop_recursive(6, 48, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(J::Arr),
            prop::collection::vec((jstr(text(8)), inner), 0..6).prop_map(J::Obj),
        ]
    })
}

/// An id: an integer in i64/u64 range or a string.
pub(crate) fn id() -> impl Strategy<Value = J> {
    prop_oneof![
        2 => any::<i64>().prop_map(|n| J::Num(n.to_string())),
        1 => any::<u64>().prop_map(|n| J::Num(n.to_string())),
        1 => (0u8..10).prop_map(|n| J::Num(n.to_string())),
        2 => jstr(text(16)).prop_map(J::Str),
    ]
}

/// Arrays nested `depth` deep around a value: deep but legal nesting inside params.
pub(crate) fn deep() -> impl Strategy<Value = J> {
    (1usize..120, value()).prop_map(|(depth, inner)| (0..depth).fold(inner, |v, _| J::Arr(vec![v])))
}

/// Whitespace used around every `:` and `,` of one message.
pub(crate) fn whitespace() -> impl Strategy<Value = &'static str> {
    prop::sample::select(vec!["", "", " ", "\n  ", "\t", "\r\n"])
}

impl J {
    /// The value as JSON text, `ws` around punctuation.
    pub(crate) fn write(&self, ws: &str, out: &mut String) {
        match self {
            J::Null => out.push_str("null"),
            J::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
            J::Num(text) => out.push_str(text),
            J::Str(s) => s.write(out),
            J::Arr(items) => {
                out.push('[');
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    out.push_str(ws);
                    item.write(ws, out);
                }
                out.push_str(ws);
                out.push(']');
            }
            J::Obj(members) => {
                out.push('{');
                for (i, (key, value)) in members.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    out.push_str(ws);
                    key.write(out);
                    out.push_str(ws);
                    out.push(':');
                    out.push_str(ws);
                    value.write(ws, out);
                }
                out.push_str(ws);
                out.push('}');
            }
        }
    }
}

/// Members the inspector reads, for each method family; extra members come from `value()`.
fn params(method: &str) -> BoxedStrategy<Vec<(JStr, J)>> {
    let version = prop_oneof![
        prop::sample::select(vec![
            "2024-11-05",
            "2025-03-26",
            "2025-06-18",
            "2025-11-25",
            "2026-07-28"
        ])
        .prop_map(str::to_owned),
        text(10),
    ];
    let meta = prop::option::of((
        prop::option::of((key("progressToken"), id())),
        prop::option::of((
            key("io.modelcontextprotocol/protocolVersion"),
            jstr(version.clone()).prop_map(J::Str),
        )),
        prop::collection::vec((jstr("x[a-z]{0,6}"), value()), 0..3),
    ))
    .prop_flat_map(|meta| {
        (key("_meta"), Just(meta)).prop_map(|(k, meta)| {
            meta.map(|(token, version, extra)| {
                let mut members: Vec<(JStr, J)> = token.into_iter().chain(version).collect();
                members.extend(extra);
                (k, J::Obj(members))
            })
        })
    });
    let own: BoxedStrategy<Option<(JStr, J)>> = match method {
        "tools/call" | "prompts/get" => {
            prop::option::of((key("name"), jstr(text(16)).prop_map(J::Str))).boxed()
        }
        "resources/read"
        | "resources/subscribe"
        | "resources/unsubscribe"
        | "notifications/resources/updated" => {
            prop::option::of((key("uri"), jstr(text(24)).prop_map(J::Str))).boxed()
        }
        "initialize" => {
            prop::option::of((key("protocolVersion"), jstr(version).prop_map(J::Str))).boxed()
        }
        "notifications/cancelled" => prop::option::of((key("requestId"), id())).boxed(),
        "notifications/progress" => prop::option::of((key("progressToken"), id())).boxed(),
        _ => Just(None).boxed(),
    };
    let extra = prop::collection::vec(
        (jstr("x[a-z]{0,6}"), prop_oneof![4 => value(), 1 => deep()]),
        0..4,
    );
    (own, meta, extra)
        .prop_map(|(own, meta, extra)| own.into_iter().chain(meta).chain(extra).collect())
        .boxed()
}

fn method() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => prop::sample::select(vec![
            "initialize", "ping", "tools/list", "tools/call", "prompts/get", "prompts/list",
            "resources/read", "resources/subscribe", "resources/unsubscribe", "resources/list",
            "notifications/initialized", "notifications/cancelled", "notifications/progress",
            "notifications/resources/updated", "logging/setLevel", "completion/complete",
        ]).prop_map(str::to_owned),
        1 => text(20),
    ]
}

/// One valid JSON-RPC message as an object (members in random order).
pub(crate) fn message() -> impl Strategy<Value = J> {
    let request =
        (method(), prop::option::of(id()), any::<u8>()).prop_flat_map(|(method, id, shape)| {
            let params: BoxedStrategy<Option<J>> = match shape % 4 {
                0 => Just(None).boxed(),
                1 => prop::collection::vec(value(), 0..4)
                    .prop_map(|v| Some(J::Arr(v)))
                    .boxed(),
                _ => params(&method).prop_map(|m| Some(J::Obj(m))).boxed(),
            };
            (
                key("method"),
                jstr(Just(method)),
                key("id"),
                Just(id),
                key("params"),
                params,
            )
                .prop_map(|(mk, method, ik, id, pk, params)| {
                    let mut members = vec![(mk, J::Str(method))];
                    members.extend(id.map(|id| (ik, id)));
                    members.extend(params.map(|p| (pk, p)));
                    members
                })
        });
    let result = (
        key("id"),
        id(),
        key("result"),
        prop_oneof![
            2 => value(),
            1 => (key("protocolVersion"), jstr(text(10)), prop::collection::vec((jstr("x[a-z]{0,6}"), value()), 0..3))
                .prop_map(|(k, v, mut extra)| { extra.insert(0, (k, J::Str(v))); J::Obj(extra) }),
        ],
    )
        .prop_map(|(ik, id, rk, result)| vec![(ik, id), (rk, result)]);
    let error = (
        prop_oneof![2 => id().prop_map(Some), 1 => Just(Some(J::Null)), 1 => Just(None)],
        key("id"),
        key("error"),
        key("code"),
        any::<i64>(),
        jstr(text(16)),
        prop::option::of(value()),
    )
        .prop_map(|(id, ik, ek, ck, code, message, data)| {
            let mut error = vec![
                (ck, J::Num(code.to_string())),
                (JStr::with_styles("message", &[]), J::Str(message)),
            ];
            error.extend(data.map(|d| (JStr::with_styles("data", &[]), d)));
            let mut members = vec![(ek, J::Obj(error))];
            members.extend(id.map(|id| (ik, id)));
            members
        });
    let body = prop_oneof![3 => request, 1 => result, 1 => error];
    (
        body,
        key("jsonrpc"),
        jstr(Just("2.0".to_owned())),
        prop::collection::vec((jstr("x[a-z]{0,6}"), value()), 0..3),
        any::<proptest::sample::Index>(),
    )
        .prop_map(|(mut members, jk, version, extra, at)| {
            members.push((jk, J::Str(version)));
            members.extend(extra);
            // A random rotation: member order must not matter.
            let at = at.index(members.len());
            members.rotate_left(at);
            J::Obj(members)
        })
}

/// A message or a batch of 1..6 messages, written as bytes.
pub(crate) fn body() -> impl Strategy<Value = Vec<u8>> {
    let json =
        prop_oneof![3 => message(), 1 => prop::collection::vec(message(), 1..6).prop_map(J::Arr)];
    (json, whitespace(), whitespace()).prop_map(|(json, ws, around)| {
        let mut out = String::from(around);
        json.write(ws, &mut out);
        out.push_str(around);
        out.into_bytes()
    })
}
