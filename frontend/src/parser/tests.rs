//! Unit tests of the parser: positions, errors and cases the BuildKit corpus does not cover.

use super::*;

fn one(text: &str) -> Node {
    let f = parse(text, "Dockerfile").expect("parses");
    f.instructions.into_iter().last().expect("an instruction")
}

#[test]
fn error_display_has_file_line_column() {
    let e = parse("FROM a\n\n  ENV PATH\n", "df").unwrap_err();
    assert_eq!(e.to_string(), "df:3:3: ENV must have two arguments");
    let e = parse("FROM a\nCMD [ \"a\", [\"b\"] ]", "x").unwrap_err();
    assert_eq!((e.line, e.column), (2, 1));
    assert_eq!(
        e.message,
        "when using JSON array syntax, arrays must be comprised of strings only"
    );
}

#[test]
fn no_instructions() {
    for text in ["", "\n\n", "# a\n# b\n", "\u{feff}"] {
        let e = parse(text, "Dockerfile").unwrap_err();
        assert_eq!(e.message, "file with no instructions", "{text:?}");
    }
}

#[test]
fn label_word_without_equals() {
    let e = parse("FROM a\nLABEL a=b c\n", "D").unwrap_err();
    assert_eq!(
        e.message,
        "Syntax error - can't find = in \"c\". Must be of the form: name=value"
    );
    assert_eq!(e.line, 2);
}

#[test]
fn directive_errors_are_located() {
    let e = parse("# escape=`\n# escape=\\\nFROM a", "D").unwrap_err();
    assert_eq!(
        (e.line, e.message.as_str()),
        (2, "only one escape parser directive can be used")
    );
    let e = parse("# escape=x\nFROM a", "D").unwrap_err();
    assert_eq!(e.line, 1);
}

#[test]
fn directives_recorded_and_bom_ignored() {
    let f = parse(
        "\u{feff}# syntax=docker/dockerfile:1\n#check=skip=all\n# escape=`\nFROM a `\n  AS b\n",
        "D",
    )
    .unwrap();
    let names: Vec<(&str, &str, usize)> = f
        .directives
        .iter()
        .map(|d| (d.name.as_str(), d.value.as_str(), d.line))
        .collect();
    assert_eq!(
        names,
        vec![
            ("syntax", "docker/dockerfile:1", 1),
            ("check", "skip=all", 2),
            ("escape", "`", 3)
        ]
    );
    assert_eq!(f.escape, '`');
    assert_eq!(f.instructions[0].args, vec!["a", "AS", "b"]);
    assert_eq!(
        (f.instructions[0].start_line, f.instructions[0].end_line),
        (4, 5)
    );
}

#[test]
fn directive_after_instruction_is_a_comment() {
    let f = parse("FROM a\n# escape=`\nRUN a `\n", "D").unwrap();
    assert_eq!(f.escape, '\\');
    assert!(f.directives.is_empty());
    assert_eq!(f.instructions[1].args, vec!["a `"]);
}

#[test]
fn positions_original_and_crlf() {
    let f = parse("FROM a\r\n\r\n   RUN echo a \\\r\n# c\r\n     b\r\n", "D").unwrap();
    let run = &f.instructions[1];
    assert_eq!((run.start_line, run.end_line, run.column), (3, 5, 4));
    assert_eq!(run.original, "RUN echo a      b");
    assert_eq!(run.args, vec!["echo a      b"]);
}

#[test]
fn empty_continuation_warns() {
    let f = parse("FROM a\nRUN a \\\n\n  b\n", "D").unwrap();
    assert_eq!(f.warnings.len(), 1);
    assert_eq!(f.warnings[0].line, 2);
    assert!(f.warnings[0]
        .message
        .starts_with("Empty continuation line found in: RUN a"));
    assert!(parse("FROM a\nRUN a \\\n# c\n  b\n", "D")
        .unwrap()
        .warnings
        .is_empty());
}

#[test]
fn unknown_instruction_dumps_empty_string() {
    let f = parse("FROM a\nfoo bar baz\n", "D").unwrap();
    assert_eq!(dump(&f), "(from \"a\")\n(foo \"\")");
}

#[test]
fn onbuild_nesting_and_heredoc() {
    let n = one("FROM a\nONBUILD RUN <<EOF\necho hi\nEOF\n");
    assert_eq!(dump_node(&n), "onbuild (run \"<<EOF\")");
    assert_eq!(n.heredocs.len(), 1);
    assert_eq!(n.heredocs[0].content, "echo hi\n");
    assert_eq!((n.start_line, n.end_line), (2, 4));
    let inner = n.next.as_deref().unwrap();
    assert_eq!(inner.keyword, "RUN");
    assert_eq!(inner.column, 9);
    assert_eq!(inner.original, "RUN <<EOF");
}

#[test]
fn heredoc_after_other_words_and_fd() {
    let n = one("FROM a\nRUN cat > f <<'EOT' && cat 3<<X\n$a\nEOT\nb\nX\nCMD x\n");
    // The last instruction is CMD; look at the RUN.
    assert_eq!(n.keyword, "CMD");
    let f = parse(
        "FROM a\nRUN cat > f <<'EOT' && cat 3<<X\n$a\nEOT\nb\nX\n",
        "D",
    )
    .unwrap();
    let run = &f.instructions[1];
    assert_eq!(run.heredocs.len(), 2);
    assert_eq!(
        (run.heredocs[0].name.as_str(), run.heredocs[0].expand),
        ("EOT", false)
    );
    assert_eq!(run.heredocs[0].content, "$a\n");
    assert_eq!(
        (run.heredocs[1].name.as_str(), run.heredocs[1].fd),
        ("X", Some(3))
    );
    assert_eq!((run.start_line, run.end_line), (2, 6));
}

#[test]
fn heredoc_body_is_not_comment_or_continuation_processed() {
    let f = parse("FROM a\nRUN <<EOF\n# not a comment \\\n\nEOF\n", "D").unwrap();
    assert_eq!(
        f.instructions[1].heredocs[0].content,
        "# not a comment \\\n\n"
    );
}

#[test]
fn unterminated_heredoc_is_an_error() {
    let e = parse("FROM a\nRUN <<EOF\necho\n", "D").unwrap_err();
    assert_eq!((e.line, e.column), (2, 1));
    assert!(e.message.contains("unterminated heredoc"), "{}", e.message);
}

#[test]
fn json_form_is_not_heredoc_and_flags_everywhere() {
    let n = one("FROM a\nCOPY --chown=1:1 [\"<<EOF\", \"/x\"]\n");
    assert!(n.json && n.heredocs.is_empty());
    assert_eq!(n.flags, vec!["--chown=1:1"]);
    assert_eq!(dump_node(&n), "copy [\"--chown=1:1\"] \"<<EOF\" \"/x\"");
}

#[test]
fn env_label_arg_shapes() {
    assert_eq!(
        one("ENV a=1 b=\"2 3\"").args,
        vec!["a", "1", "=", "b", "\"2 3\"", "="]
    );
    assert_eq!(one("LABEL  k  v w").args, vec!["k", "v w", ""]);
    assert_eq!(one("ARG x y=\"1 2\"").args, vec!["x", "y=\"1 2\""]);
    assert!(one("ARG").args.is_empty());
    assert_eq!(one("healthcheck none").args, vec!["none"]);
}

#[test]
fn hostile_input_does_not_panic() {
    for text in [
        "\\",
        "RUN \\",
        "RUN <<",
        "ONBUILD",
        "ONBUILD ONBUILD",
        "COPY --",
        "RUN --x=\"",
        "ENV \"",
        "\u{0}\u{ffff}",
    ] {
        let _ = parse(text, "D");
    }
}

#[test]
fn deep_nesting_is_an_error_not_a_crash() {
    let text = format!("FROM a\n{}RUN x\n", "ONBUILD ".repeat(10_000));
    let e = parse(&text, "D").unwrap_err();
    assert!(e.message.contains("ONBUILD nested"), "{}", e.message);
    let n = one("FROM a\nONBUILD ONBUILD RUN x");
    assert_eq!(dump_node(&n), "onbuild (onbuild (run \"x\"))");
}
