use super::*;

fn rules(toml_text: &str) -> Result<InterceptRules, String> {
    let raw: RawIntercept = toml::from_str(toml_text).map_err(|e| e.to_string())?;
    InterceptRules::compile(&raw.rules)
}

#[test]
fn every_action_compiles_from_toml() {
    let set = rules(
        r#"
        [[rules]]
        action = "block"
        message = "no deletes"
        tool = "rm_*"
        code = -32001
        [[rules]]
        method = "tools/call"
        tool = "echo"
        action = "mock"
        result = { content = [{ type = "text", text = "mocked" }] }
        [[rules]]
        action = "modify"
        patch = { isError = false }
        method = "tools/call"
        direction = "response"
        [[rules]]
        delay = "10ms"
        action = "delay"
        [[rules]]
        action = "pause"
        timeout = "2s"
        default = "block"
        [[rules]]
        direction = "both"
        when = [{ pointer = "/params/arguments/x", regex = "^a+$" }, { pointer = "/id", exists = true }]
        action = "continue"
        "#,
    )
    .unwrap();
    assert_eq!(set.rules.len(), 6);
    assert!(set.requests && set.responses);
    assert_eq!(
        set.rules[0].action,
        Action::Block {
            code: -32001,
            message: "no deletes".into()
        }
    );
    assert_eq!(
        set.rules[3].action,
        Action::Delay(Duration::from_millis(10))
    );
    match &set.rules[4].action {
        Action::Pause { timeout, default } => {
            assert_eq!(*timeout, Duration::from_secs(2));
            assert_eq!(default.name(), "block");
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(&*set.rules[5].name, "#5");
}

#[test]
fn bad_rules_are_refused_with_where_and_why() {
    let cases = [
        ("action = \"explode\"", "rules[0].action"),
        ("action = \"mock\"", "rules[0].result"),
        ("action = \"modify\"\npatch = 3", "rules[0].patch"),
        ("action = \"delay\"", "rules[0].delay"),
        ("action = \"delay\"\ndelay = \"soon\"", "rules[0].delay"),
        ("action = \"pause\"\ndefault = \"mock\"", "rules[0].default"),
        (
            "action = \"block\"\ndirection = \"sideways\"",
            "rules[0].direction",
        ),
        ("action = \"block\"\ntool = \"\"", "rules[0].tool"),
        ("action = \"continue\"\ncode = 1", "rules[0].code"),
        ("action = \"block\"\ncode = 4294967296", "rules[0].code"),
        (
            "action = \"delay\"\ndirection = \"response\"",
            "rules[0].delay",
        ),
        (
            "action = \"block\"\nwhen = [{ pointer = \"/a\", regex = \"(\" }]",
            "rules[0].when[0].regex",
        ),
        (
            "action = \"block\"\nwhen = [{ pointer = \"a\", exists = true }]",
            "rules[0].when[0].pointer",
        ),
        (
            "action = \"block\"\nwhen = [{ pointer = \"/a\", exists = true, equals = 1 }]",
            "rules[0].when[0]",
        ),
    ];
    for (body, wanted) in cases {
        let why = rules(&format!("[[rules]]\n{body}\n")).unwrap_err();
        assert!(why.contains(wanted), "{body}: {why}");
    }
}

/// `delay` and `pause` hold messages either way (a response rule holds a server-to-client
/// message), with the same settings.
#[test]
fn holds_apply_to_either_direction() {
    for direction in ["request", "response", "both"] {
        let set = rules(&format!(
            "[[rules]]\ndirection = \"{direction}\"\naction = \"delay\"\ndelay = \"20ms\"\n\
             [[rules]]\ndirection = \"{direction}\"\naction = \"pause\"\ntimeout = \"1s\"\ndefault = \"block\"\n"
        ))
        .unwrap();
        assert_eq!(
            set.rules[0].action,
            Action::Delay(Duration::from_millis(20))
        );
        assert!(
            matches!(set.rules[1].action, Action::Pause { .. }),
            "{direction}"
        );
        assert_eq!(set.responses, direction != "request");
    }
}

#[test]
fn conditions_test_the_whole_message() {
    let set = rules(
        r#"
        [[rules]]
        action = "block"
        when = [
          { pointer = "/params/arguments/n", equals = 3 },
          { pointer = "/params/arguments/s", regex = "^ab" },
          { pointer = "/params/missing", exists = false },
        ]
        "#,
    )
    .unwrap();
    let holds = |message: Value| set.rules[0].when.iter().all(|c| c.holds(&message));
    let message = serde_json::json!({"params": {"arguments": {"n": 3, "s": "abc"}}});
    assert!(holds(message));
    assert!(!holds(
        serde_json::json!({"params": {"arguments": {"n": 4, "s": "abc"}}})
    ));
    assert!(!holds(
        serde_json::json!({"params": {"arguments": {"n": 3, "s": 7}}})
    ));
    assert!(!holds(
        serde_json::json!({"params": {"arguments": {"n": 3, "s": "ab"}, "missing": 1}})
    ));
}

#[test]
fn absent_values_match_only_star_globs() {
    assert!(glob_opt(None, None));
    assert!(glob_opt(Some("*"), None));
    assert!(!glob_opt(Some("echo"), None));
    assert!(glob_opt(Some("e*"), Some("echo")));
    assert!(!glob_opt(Some("e*"), Some("add")));
}

#[test]
fn a_config_file_holds_rules_and_prints_them_back() {
    let text = "[upstreams.demo]\nurl = \"http://127.0.0.1:9000/mcp\"\n\
                [[intercept.rules]]\ntool = \"echo\"\naction = \"block\"\n";
    let config = crate::config::from_toml_str(text, "t.toml").unwrap();
    assert_eq!(config.intercept.len(), 1);
    let printed = crate::config::to_toml(&config);
    let again = crate::config::from_toml_str(&printed, "printed.toml").unwrap();
    assert_eq!(again.intercept, config.intercept);
    let bad = "[upstreams.demo]\nurl = \"http://127.0.0.1:9000/mcp\"\n\
               [[intercept.rules]]\naction = \"mock\"\n";
    let why = crate::config::from_toml_str(bad, "t.toml")
        .unwrap_err()
        .to_string();
    assert!(why.contains("rules[0].result"), "{why}");
}

/// A regex whose compiled program is large (a Unicode class repeated: ~84 ms and ~12 MB each,
/// compiled on every shard) is refused with the reason; so are too many conditions or regexes.
#[test]
fn costly_regexes_and_condition_lists_are_refused() {
    for pattern in [r"\\w{200}", r"\\w{100}\\d{100}", r"(\\pL|\\pN){300}"] {
        let toml = format!("[[rules]]\nwhen = [{{ pointer = \"/a\", regex = \"{pattern}\" }}]\naction = \"continue\"");
        let why = rules(&toml).unwrap_err();
        assert!(
            why.contains("rules[0].when[0].regex: compiles to more than 256 KiB"),
            "{why}"
        );
    }
    let ascii = "[[rules]]\nwhen = [{ pointer = \"/a\", regex = \"(?-u:\\\\w){200}\" }]\naction = \"continue\"";
    rules(ascii).unwrap();
    let many = (0..17)
        .map(|i| format!("{{ pointer = \"/a{i}\", exists = true }}"))
        .collect::<Vec<_>>()
        .join(", ");
    let why = rules(&format!(
        "[[rules]]\nwhen = [{many}]\naction = \"continue\""
    ))
    .unwrap_err();
    assert!(
        why.contains("rules[0].when: at most 16 conditions"),
        "{why}"
    );
    let regexes = (0..65)
        .map(|i| format!("[[rules]]\nwhen = [{{ pointer = \"/a\", regex = \"^{i}\" }}]\naction = \"continue\"\n"))
        .collect::<String>();
    let why = rules(&regexes).unwrap_err();
    assert!(why.contains("at most 64 regex conditions"), "{why}");
}

/// `modify` is not judged again by the policy or the tool filters: a request rule's patch may
/// not change the tool, resource or prompt a request names.
#[test]
fn patches_renaming_the_target_are_refused() {
    for (method, patch) in [
        ("", "{ name = \"rm\" }"),
        ("method = \"tools/call\"\n", "{ name = \"rm\" }"),
        (
            "method = \"resources/*\"\n",
            "{ uri = \"file:///etc/shadow\" }",
        ),
    ] {
        let toml = format!("[[rules]]\n{method}action = \"modify\"\npatch = {patch}");
        match rules(&toml) {
            Err(why) => assert!(
                why.contains("rules[0].patch: a patch may not set params.name"),
                "{why}"
            ),
            Ok(_) => panic!("accepted: {toml}"),
        }
    }
    let raw: Vec<RawRule> = serde_json::from_str(
        r#"[{"method": "prompts/get", "action": "modify", "patch": {"name": null}}]"#,
    )
    .unwrap();
    assert!(InterceptRules::compile(&raw).is_err());
    // Elsewhere, or on the response side, `name` is an ordinary member.
    rules(
        "[[rules]]\nmethod = \"logging/setLevel\"\naction = \"modify\"\npatch = { name = \"x\" }",
    )
    .unwrap();
    rules("[[rules]]\ndirection = \"response\"\naction = \"modify\"\npatch = { name = \"x\" }")
        .unwrap();
}
