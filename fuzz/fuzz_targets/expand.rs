//! Shell-word expansion. Input layout: `ENV\0WORD`, where ENV is `K=V` lines (an entry
//! without `=` sets `K` to ""); without a NUL byte the whole input is the word and the env is
//! empty. The word goes through `process_word` and `process_words` with both escape
//! characters (`\` and `` ` ``), then once more with every raw/skip option on.
#![no_main]

use kiln_frontend::shell::Lexer;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let (env_part, word) = text.split_once('\0').unwrap_or(("", &text));
    let env: Vec<String> = env_part
        .lines()
        .filter(|l| !l.is_empty())
        .map(str::to_string)
        .collect();
    for escape in ['\\', '`'] {
        let plain = Lexer::new(escape);
        let raw = Lexer {
            raw_quotes: true,
            raw_escapes: true,
            skip_unset_env: true,
            ..plain
        };
        for lexer in [plain, raw] {
            let _ = lexer.process_word_with_info(word, &env);
            let _ = lexer.process_words_with_info(word, &env);
        }
    }
});
