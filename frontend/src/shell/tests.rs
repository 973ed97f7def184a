//! Unit tests of the lexer beyond BuildKit's corpus: pattern operators, error texts,
//! variable tracking and options.

use super::*;
use std::collections::BTreeMap;

fn env() -> BTreeMap<String, String> {
    [
        ("P", "/usr/local/bin"),
        ("F", "file.tar.gz"),
        ("E", ""),
        ("S", "a b  c"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect()
}

fn word(s: &str) -> Result<String, ExpandError> {
    Lexer::new('\\').process_word(s, &env())
}

#[test]
fn pattern_operators() {
    assert_eq!(word("${P#*/}").unwrap(), "usr/local/bin");
    assert_eq!(word("${P##*/}").unwrap(), "bin");
    assert_eq!(word("${F%.*}").unwrap(), "file.tar");
    assert_eq!(word("${F%%.*}").unwrap(), "file");
    assert_eq!(word("${P/local/share}").unwrap(), "/usr/share/bin");
    assert_eq!(word("${P//\\//:}").unwrap(), ":usr:local:bin");
    assert_eq!(word("${F/?ile/x}").unwrap(), "x.tar.gz");
    assert_eq!(word("${NOPE#x}").unwrap(), "");
}

#[test]
fn unset_and_empty_forms() {
    assert_eq!(word("${E-x}").unwrap(), "");
    assert_eq!(word("${E:-x}").unwrap(), "x");
    assert_eq!(word("${U-x}").unwrap(), "x");
    assert_eq!(word("${E+x}").unwrap(), "x");
    assert_eq!(word("${E:+x}").unwrap(), "");
    assert_eq!(word("${E?m}").unwrap(), "");
}

#[test]
fn error_messages() {
    assert_eq!(word("${U:?need it}").unwrap_err().to_string(), "U: need it");
    assert_eq!(
        word("${U?}").unwrap_err().to_string(),
        "U: is not allowed to be unset"
    );
    assert_eq!(
        word("${E:?}").unwrap_err().to_string(),
        "E: is not allowed to be empty"
    );
    assert_eq!(
        word("${P").unwrap_err().to_string(),
        "syntax error: missing '}'"
    );
    assert_eq!(
        word("${}").unwrap_err().to_string(),
        "syntax error: bad substitution"
    );
    assert_eq!(
        word("${P:=x}").unwrap_err().to_string(),
        "unsupported modifier (=) in substitution"
    );
    assert_eq!(
        word("${P/x}").unwrap_err().to_string(),
        "syntax error: missing '/' in ${}"
    );
    assert_eq!(
        word("'a").unwrap_err().to_string(),
        "unexpected end of statement while looking for matching single-quote"
    );
}

#[test]
fn info_tracks_used_and_unset() {
    let lx = Lexer::new('\\');
    let (s, info) = lx
        .process_word_with_info("$P ${U1} ${U2:-d} $1 ${U3#x}", &env())
        .unwrap();
    assert_eq!(s, "/usr/local/bin  d  ");
    let used: Vec<&str> = info.used.iter().map(String::as_str).collect();
    assert_eq!(used, vec!["1", "P", "U1", "U2", "U3"]);
    let unset: Vec<&str> = info.unset.iter().map(String::as_str).collect();
    assert_eq!(unset, vec!["U1", "U3"]);
    let (words, info) = lx.process_words_with_info("$S \"$S\"", &env()).unwrap();
    assert_eq!(words, vec!["a", "b", "c", "a b  c"]);
    assert!(info.unset.is_empty());
}

#[test]
fn backtick_escape() {
    let lx = Lexer::new('`');
    assert_eq!(lx.process_word("a`$P\\b", &env()).unwrap(), "a$P\\b");
    assert_eq!(lx.process_word("\"`\"x\"", &env()).unwrap(), "\"x");
}

#[test]
fn options() {
    let mut lx = Lexer::new('\\');
    lx.skip_unset_env = true;
    assert_eq!(
        lx.process_word("$U ${U} $P", &env()).unwrap(),
        "$U ${U} /usr/local/bin"
    );
    let mut lx = Lexer::new('\\');
    lx.raw_quotes = true;
    assert_eq!(
        lx.process_words("'a b' \"$E\"c", &env()).unwrap(),
        vec!["'a b'", "\"\"c"]
    );
    let mut lx = Lexer::new('\\');
    lx.raw_escapes = true;
    assert_eq!(lx.process_word("a\\ b", &env()).unwrap(), "a\\ b");
}

#[test]
fn env_impls() {
    let lx = Lexer::default();
    let list = vec!["A=1".to_string(), "A=2".to_string()];
    assert_eq!(lx.process_word("$A", &list).unwrap(), "2");
    let pairs = vec![("A".to_string(), "x".to_string())];
    assert_eq!(lx.process_word("${A}", &pairs).unwrap(), "x");
    let map: std::collections::HashMap<String, String> =
        [("A".to_string(), "h".to_string())].into();
    assert_eq!(lx.process_word("$A", &map).unwrap(), "h");
}

#[test]
fn deep_nesting_is_an_error_not_a_crash() {
    let text = format!("{}x{}", "${A:-".repeat(100_000), "}".repeat(100_000));
    assert_eq!(word(&text).unwrap_err(), ExpandError::TooDeep(100));
    assert_eq!(word("${A:-${B:-${C:-z}}}").unwrap(), "z");
}

/// Fuzzing work (hand-made `lower` input): `ENV A=$A$A$A$A` repeated grew exponentially.
#[test]
fn doubling_chains_hit_the_length_limit() {
    let lx = Lexer::default();
    let mut env: BTreeMap<String, String> = [("A".to_string(), "0123456789".to_string())].into();
    let mut steps = 0;
    let err = loop {
        match lx.process_word("$A$A\"$A\"${A:-}", &env) {
            Ok(v) => {
                env.insert("A".into(), v);
                steps += 1;
            }
            Err(e) => break e,
        }
    };
    assert_eq!(err, ExpandError::TooLong(MAX_WORD_LEN));
    assert_eq!(steps, 8);
    assert!(env["A"].len() <= MAX_WORD_LEN);
    assert_eq!(
        err.to_string(),
        format!("expansion result longer than {MAX_WORD_LEN} bytes")
    );
}

/// Fuzzing work (hand-made `expand` input): `${V//?/$V}` squares the length of `V`.
#[test]
fn quadratic_replacement_hits_the_length_limit() {
    let env: BTreeMap<String, String> = [("V".to_string(), "v".repeat(2000))].into();
    let lx = Lexer::default();
    assert_eq!(
        lx.process_word("${V//?/$V}", &env),
        Err(ExpandError::TooLong(MAX_WORD_LEN))
    );
    assert_eq!(
        lx.process_words("\"${V//?/$V}\"", &env),
        Err(ExpandError::TooLong(MAX_WORD_LEN))
    );
    assert_eq!(
        lx.process_word("${V//?/x}", &env).unwrap(),
        "x".repeat(2000)
    );
}
