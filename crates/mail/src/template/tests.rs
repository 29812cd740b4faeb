use super::*;

fn values() -> Values<'static> {
    Values {
        name: "ada",
        email: "ada@example.com",
        product: "Users",
        base: "https://u.example",
        link: Some("https://u.example/x?token=1".into()),
        role: None,
        new_email: None,
        granted: true,
    }
}

fn render(source: &str, vocabulary: Vocabulary, values: &Values<'_>) -> Rendered {
    let mut env = environment();
    env.add_template_owned("t.md", source.to_owned())
        .expect("compiles");
    render_parts(&env, "t.md", values.context(vocabulary)).expect("renders")
}

/// Loads the templates with `file` of `content` in a template directory.
fn load_with(file: &str, content: &str) -> Result<Templates, LoadError> {
    let dir = std::env::temp_dir().join(format!("um-mail-template-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    std::fs::write(dir.join(file), content).expect("write template");
    let loaded = Templates::load(Some(&dir));
    std::fs::remove_dir_all(&dir).expect("clean up");
    loaded
}

#[test]
fn variables_braces_and_conditions_render() {
    let source = "Hi {{ name }} {literal} } {{ '{{' }}\n{% if granted %}\nyes {{ product }}\n{% endif %}\n{% if not granted %}no{% endif %}end";
    let granted = render(source, Vocabulary::PRO_STATUS, &values());
    assert_eq!(granted.text, "Hi ada {literal} } {{\nyes Users\nend");
    let revoked = Values {
        granted: false,
        ..values()
    };
    let revoked = render(source, Vocabulary::PRO_STATUS, &revoked);
    assert_eq!(revoked.text, "Hi ada {literal} } {{\nnoend");
}

#[test]
fn stand_ins_round_trip_and_urls_lose_their_fake_scheme() {
    let rendered = render(
        "<{{ link }}> {{ name }}{{ name }} {{ base }}/a {{ name|upper }}",
        Vocabulary::WITH_LINK,
        &values(),
    );
    assert!(!rendered.markdown.contains("ada"), "{}", rendered.markdown);
    assert!(!rendered.markdown.contains("ADA"), "{}", rendered.markdown);
    assert_eq!(
        rendered.fill(&rendered.markdown),
        "<https://u.example/x?token=1> adaada https://u.example/a ADA"
    );
    assert_eq!(rendered.fill(&rendered.markdown), rendered.text);
}

#[test]
fn only_verbatim_template_text_reaches_the_markdown_parser() {
    let hostile = Values {
        name: "**b** <i>x</i> [l](javascript:x) http://xumvalue0x",
        ..values()
    };
    let rendered = render(
        "*{{ name }}* {% filter upper %}**{{ name }}**{% endfilter %} {{ '# h' }}",
        Vocabulary::COMMON,
        &hostile,
    );
    // The template's own `*` stays Markdown; a value, a filter block's output and a string
    // literal are values.
    assert!(
        rendered
            .markdown
            .starts_with("*http://xumvalue0x* http://xumvalue1x")
    );
    assert!(!rendered.markdown.contains("**"), "{}", rendered.markdown);
    assert!(!rendered.markdown.contains('<'), "{}", rendered.markdown);
    assert!(!rendered.markdown.contains('#'), "{}", rendered.markdown);
    // A stand-in inside a value is not filled in.
    assert_eq!(rendered.fill(&rendered.markdown), rendered.text);
    assert!(
        rendered.text.contains("http://xumvalue0x* **"),
        "{}",
        rendered.text
    );
}

#[test]
fn mistakes_are_reported_with_their_file_and_line() {
    for (file, source, expected) in [
        (
            "header.md",
            "a\n{{ nope }}",
            "line 2: unknown variable `nope`",
        ),
        ("footer.md", "{{ link }}", "line 1: unknown variable `link`"),
        (
            "pro_status_changed.md",
            "Subject: x\n\n{% if name == 'bob' %}\n{{ nope }}\n{% endif %}",
            "line 4: unknown variable `nope`",
        ),
        ("header.md", "a\nb {{ c", "line 2: syntax error"),
        (
            "pro_status_changed.md",
            "Subject: x\n\n{% if granted %}\n\nx",
            "line 4: syntax error: unexpected end of input",
        ),
        (
            "header.md",
            "x{% endif %}",
            "line 1: syntax error: unknown statement endif",
        ),
        (
            "header.md",
            "{% if pro %}{% endif %}",
            "line 1: unknown variable `pro`",
        ),
        ("header.md", "{{ name|nope }}", "line 1: unknown filter"),
        ("header.md", "{{ name.first }}", "line 1: undefined value"),
        (
            "header.md",
            "a xumvalue0x",
            "line 1: `xumvalue` is reserved",
        ),
        (
            "header.md",
            "a\nHi {name}",
            "line 2: `{name}` is the placeholder syntax of earlier versions; write `{{ name }}`",
        ),
        (
            "pro_status_changed.md",
            "Subject: x\n\n{#granted}\nyes\n{/granted}",
            "line 3: `{#granted}` is the placeholder syntax of earlier versions; write `{% if granted %}`",
        ),
        (
            "pro_status_changed.md",
            "Subject: x\n\n{^granted}no{/granted}",
            "line 3: `{^granted}` is the placeholder syntax of earlier versions; write `{% if not granted %}`",
        ),
    ] {
        let err = load_with(file, source).expect_err(source);
        assert!(err.file.ends_with(file), "{source:?}: {err:?}");
        assert!(
            err.reason.starts_with(expected),
            "{source:?}: {}",
            err.reason
        );
    }
    // Minijinja's own tags may hold braces and the names of the variables.
    assert!(
        load_with(
            "header.md",
            "{{ name }}{{name}} {{ '{name}' }} {# {email} #}"
        )
        .is_ok()
    );
}

#[test]
fn the_header_block_gives_subject_and_button() {
    let split =
        split_header("Subject: Hi {{ product }}\nButton: Go\n\nBody {{ link }}\n").expect("splits");
    assert_eq!(split.subject.as_deref(), Some("Hi {{ product }}"));
    assert_eq!(split.button.as_deref(), Some("\nGo"), "kept on line 2");
    assert_eq!(split.body, "\n\n\nBody {{ link }}\n", "kept on line 4");

    for (source, expected) in [
        (
            "Hello\n\nbody",
            "line 1: a template must start with `Subject: …`",
        ),
        (
            "Button: x\n\nbody",
            "line 1: a template must start with `Subject: …`",
        ),
        ("\nbody", "line 1: a template must start with `Subject: …`"),
        (
            "Subject: a\nFrom: b\n\nbody",
            "line 2: unknown header `From`",
        ),
        (
            "Subject: a\nSubject: b\n\nbody",
            "line 2: `Subject` is given twice",
        ),
        ("Subject: a\nButton:\n\nbody", "line 2: `Button` is empty"),
    ] {
        let err = split_header(source).expect_err(source);
        assert!(err.starts_with(expected), "{source:?}: {err}");
    }
    for (source, expected) in [
        (
            "Subject: a\n\nx {{ nope }}",
            "line 3: unknown variable `nope`",
        ),
        (
            "Subject: {{ nope }}\n\nx",
            "line 1: unknown variable `nope`",
        ),
        (
            "Subject: a\nButton: {{ nope }}\n\nx",
            "line 2: unknown variable `nope`",
        ),
        ("Subject: a\nButton: {% if %}\n\nx", "line 2: syntax error"),
    ] {
        let err = load_with("role_changed.md", source).expect_err(source);
        assert!(
            err.reason.starts_with(expected),
            "{source:?}: {}",
            err.reason
        );
    }
}
