//! Accumulates the whitespace-split words of [`super::Lexer::process_words`].

/// Words built while scanning: unquoted expansion results are split on whitespace, quoted
/// text and literal characters are not.
#[derive(Debug, Default)]
pub(crate) struct Words {
    words: Vec<String>,
    word: String,
    in_word: bool,
}

impl Words {
    /// A character that splits words when it is whitespace.
    pub(crate) fn add_char(&mut self, c: char) {
        if c.is_whitespace() {
            if self.in_word && !self.word.is_empty() {
                self.words.push(std::mem::take(&mut self.word));
                self.in_word = false;
            }
        } else {
            self.add_raw_char(c);
        }
    }

    /// A character that never splits.
    pub(crate) fn add_raw_char(&mut self, c: char) {
        self.word.push(c);
        self.in_word = true;
    }

    /// An unquoted expansion result: split on whitespace.
    pub(crate) fn add_string(&mut self, s: &str) {
        for c in s.chars() {
            self.add_char(c);
        }
    }

    /// Quoted text: kept whole.
    pub(crate) fn add_raw_string(&mut self, s: &str) {
        self.word.push_str(s);
        self.in_word = true;
    }

    /// The finished words (empty words dropped).
    pub(crate) fn finish(mut self) -> Vec<String> {
        if !self.word.is_empty() {
            self.words.push(self.word);
        }
        self.words
    }
}
