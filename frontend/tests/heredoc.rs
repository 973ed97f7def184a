//! The heredoc rows of `../shared/conformance/buildkit-parser/heredoc-cases.md` (parser level:
//! H*, HJ*, HN*, HL*). The instruction-level rows (HC*, HR*) belong to the instructions
//! package; HC3/HR6's chomp behaviour is checked here through `Heredoc::body`.

use kiln_frontend::ast::{Heredoc, Node};
use kiln_frontend::parser::{chomp_heredoc, heredocs_from_line, parse, parse_heredoc_word};
use std::path::PathBuf;

fn corpus_present() -> bool {
    let f = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../shared/conformance/buildkit-parser/heredoc-cases.md");
    if !f.is_file() {
        println!("SKIPPED: ../shared/conformance not found ({})", f.display());
    }
    f.is_file()
}

fn hd(name: &str, content: &str, expand: bool, chomp: bool, fd: Option<u32>) -> Heredoc {
    Heredoc {
        name: name.into(),
        content: content.into(),
        expand,
        chomp,
        fd,
    }
}

fn report(corpus: &str, total: usize, failures: &[String]) {
    println!("{corpus}: {}/{total} passed", total - failures.len());
    assert!(
        failures.is_empty(),
        "{corpus}: {} of {total} failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

/// (id, instruction text incl. body and terminator lines, expected heredocs).
fn parser_rows() -> Vec<(&'static str, &'static str, Vec<Heredoc>)> {
    vec![
        ("H1", "USER <<INVALID\nINVALID", vec![]),
        ("H2", "RUN <<EMPTY\nEMPTY", vec![hd("EMPTY", "", true, false, None)]),
        ("H3", "RUN 3<<EMPTY2\nEMPTY2", vec![hd("EMPTY2", "", true, false, Some(3))]),
        ("H4", "RUN \"<<NOHEREDOC\"", vec![]),
        ("H5", "RUN <<INDENT\n\tfoo\n\tbar\nINDENT", vec![hd("INDENT", "\tfoo\n\tbar\n", true, false, None)]),
        ("H6", "RUN <<-UNINDENT\n\tbaz\n\tquux\nUNINDENT", vec![hd("UNINDENT", "\tbaz\n\tquux\n", true, true, None)]),
        ("H7", "RUN <<-UNINDENT2\n\tbaz\n\tquux\n\tUNINDENT2", vec![hd("UNINDENT2", "\tbaz\n\tquux\n", true, true, None)]),
        ("H8", "RUN <<-EXPAND\n\texpand $NAME\nEXPAND", vec![hd("EXPAND", "\texpand $NAME\n", true, true, None)]),
        ("H9", "RUN <<-'NOEXPAND'\n\tdon't expand $NAME\nNOEXPAND", vec![hd("NOEXPAND", "\tdon't expand $NAME\n", false, true, None)]),
        ("H10", "RUN <<COPY\necho hello world\necho foo bar\nCOPY", vec![hd("COPY", "echo hello world\necho foo bar\n", true, false, None)]),
        (
            "H11",
            "RUN <<COMMENT\n# internal comment\necho hello world\necho foo bar # trailing comment\nCOMMENT",
            vec![hd("COMMENT", "# internal comment\necho hello world\necho foo bar # trailing comment\n", true, false, None)],
        ),
        ("H12", "RUN --mount=type=cache,target=/foo <<MOUNT\necho hello\nMOUNT", vec![hd("MOUNT", "echo hello\n", true, false, None)]),
        (
            "H13",
            "COPY <<FILE1 <<FILE2 /dest\ncontent 1\nFILE1\ncontent 2\nFILE2",
            vec![hd("FILE1", "content 1\n", true, false, None), hd("FILE2", "content 2\n", true, false, None)],
        ),
        ("H14", "COPY <<EOF /quotes\n\"foo\"\n'bar'\nEOF", vec![hd("EOF", "\"foo\"\n'bar'\n", true, false, None)]),
        ("H15", "COPY <<X <<Y /dest\nY\nX\nX\nY", vec![hd("X", "Y\n", true, false, None), hd("Y", "X\n", true, false, None)]),
        ("H16", "RUN <<COMPLEX python3\nprint('hello world')\nCOMPLEX", vec![hd("COMPLEX", "print('hello world')\n", true, false, None)]),
        ("H17", "COPY <<file.txt /dest\nhello world\nfile.txt", vec![hd("file.txt", "hello world\n", true, false, None)]),
        ("H18", "RUN <<eo'f'\necho foo\neof", vec![hd("eof", "echo foo\n", false, false, None)]),
        ("H19", "RUN <<eo\\'f\necho foo\neo'f", vec![hd("eo'f", "echo foo\n", true, false, None)]),
        ("H20", "RUN <<'e'o\\'f\necho foo\neo'f", vec![hd("eo'f", "echo foo\n", false, false, None)]),
        ("H21", "RUN <<'one two'\necho bar\none two", vec![hd("one two", "echo bar\n", false, false, None)]),
        ("H22", "RUN <<$EOF\n$EOF", vec![hd("$EOF", "", true, false, None)]),
        ("H23", "RUN <<  EOF\nEOF", vec![hd("EOF", "", true, false, None)]),
        ("H24", "RUN <<  EOF  > foo\nEOF", vec![hd("EOF", "", true, false, None)]),
    ]
}

#[test]
fn parser_level_rows_in_one_file() {
    if !corpus_present() {
        return;
    }
    let rows = parser_rows();
    let mut text = String::from("FROM alpine:3.6\n\nENV NAME=me\n\nRUN ls\n");
    for (_, body, _) in &rows {
        text.push('\n');
        text.push_str(body);
        text.push('\n');
    }
    let file = parse(&text, "Dockerfile").expect("heredoc Dockerfile parses");
    // H1's terminator `INVALID` becomes its own (unknown) instruction.
    let mut nodes: Vec<&Node> = file.instructions.iter().skip(3).collect();
    let invalid = nodes.iter().position(|n| n.keyword == "INVALID");
    let mut failures = Vec::new();
    match invalid {
        Some(1) => {
            nodes.remove(1);
        }
        other => failures.push(format!(
            "H1: INVALID instruction at {other:?}, expected right after USER"
        )),
    }
    if nodes.len() != rows.len() {
        failures.push(format!(
            "{} instructions for {} rows",
            nodes.len(),
            rows.len()
        ));
    }
    for ((id, _, expected), node) in rows.iter().zip(&nodes) {
        if &node.heredocs != expected {
            failures.push(format!(
                "{id}: got {:?}, expected {expected:?}",
                node.heredocs
            ));
        }
    }
    report("heredoc parser rows (H1-H24)", rows.len(), &failures);
}

#[test]
fn json_form_never_has_heredocs() {
    if !corpus_present() {
        return;
    }
    let rows = [
        ("HJ1", "RUN [\"whoami\"]"),
        ("HJ2", "RUN [\"<<EOF\"]"),
        ("HJ3", "RUN [\"<<'EOF'\"]"),
    ];
    let mut failures = Vec::new();
    for (id, line) in rows {
        let text = format!("FROM a\n{line}\nEOF\n");
        match parse(&text, "Dockerfile") {
            Ok(f) if f.instructions[1].heredocs.is_empty() && f.instructions.len() == 3 => {}
            other => failures.push(format!("{id}: {other:?}")),
        }
    }
    report("heredoc JSON rows (HJ)", rows.len(), &failures);
}

#[test]
fn single_word_recogniser() {
    if !corpus_present() {
        return;
    }
    let mut failures = Vec::new();
    let mut total = 0;
    for w in [
        "<<EOF",
        "<<'EOF'",
        "<<\"EOF\"",
        "<<-EOF",
        "<<-'EOF'",
        "<<-\"EOF\"",
        "<<EO\"F\"",
        "<< EOF",
        "<<- EOF",
    ] {
        total += 1;
        match parse_heredoc_word(w) {
            Ok(Some(h)) if h.name == "EOF" => {}
            other => failures.push(format!("HN1 {w:?}: {other:?}")),
        }
    }
    for w in ["<<'EOF", "<<\"EOF", "<<EOF'", "<<EOF\""] {
        total += 1;
        if parse_heredoc_word(w).is_ok() {
            failures.push(format!("HN2 {w:?}: expected an error"));
        }
    }
    for w in ["", "EOF", "<<", "<<-", "<EOF", "<<<EOF", "<<EOF sh"] {
        total += 1;
        match parse_heredoc_word(w) {
            Ok(None) => {}
            other => failures.push(format!("HN3 {w:?}: {other:?}")),
        }
    }
    total += 1;
    if chomp_heredoc("\thello\n\tworld\n") != "hello\nworld\n" {
        failures.push("HN4: chomp".into());
    }
    let lines: [(&str, &[&str]); 9] = [
        ("RUN <<EOF", &["EOF"]),
        ("RUN <<-EOF", &["EOF"]),
        ("RUN <<- EOF", &["EOF"]),
        ("RUN << -EOF", &["-EOF"]),
        ("RUN <<'EOF'", &["EOF"]),
        ("RUN 4<<EOF", &["EOF"]),
        ("RUN <<EOF <<EOF2", &["EOF", "EOF2"]),
        ("RUN '<<EOF'", &[]),
        ("RUN \"<<EOF\"", &[]),
    ];
    for (i, (line, names)) in lines.iter().enumerate() {
        total += 1;
        match heredocs_from_line(line) {
            Ok(docs)
                if docs
                    .iter()
                    .map(|d| d.name.as_str())
                    .eq(names.iter().copied()) => {}
            other => failures.push(format!("HL{} {line:?}: {other:?}", i + 1)),
        }
    }
    report("heredoc word/line rows (HN, HL)", total, &failures);
}

/// HC3 and HR6 at parser level: content keeps tabs, `body()` strips them for `<<-`.
#[test]
fn chomp_rows_keep_tabs_until_body() {
    if !corpus_present() {
        return;
    }
    let f = parse(
        "FROM a\nCOPY <<-EOF /bar\n\tTESTING\nEOF\nRUN <<-EOF\n\techo test\nEOF\n",
        "D",
    )
    .unwrap();
    let copy = &f.instructions[1].heredocs[0];
    assert_eq!(copy.content, "\tTESTING\n");
    assert_eq!(copy.body(), "TESTING\n");
    let run = &f.instructions[2].heredocs[0];
    assert!(run.chomp);
    assert_eq!(run.content, "\techo test\n");
    assert_eq!(run.body(), "echo test\n");
    // HR4/HR5: the command line keeps the heredoc word.
    let f = parse(
        "FROM a\nRUN <<'EOF' | python\nprint(\"hello\")\nprint(\"world\")\nEOF\n",
        "D",
    )
    .unwrap();
    assert_eq!(f.instructions[1].args, vec!["<<'EOF' | python".to_string()]);
    assert_eq!(
        f.instructions[1].heredocs[0].content,
        "print(\"hello\")\nprint(\"world\")\n"
    );
    assert!(!f.instructions[1].heredocs[0].expand);
}
