//! The low-level Dockerfile AST, shaped like BuildKit's `parser.Node` so that its dump matches
//! BuildKit's byte for byte, but with columns and heredocs kept for later stages.

/// A parsed Dockerfile.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Dockerfile {
    /// Parser directives found at the top (`syntax`, `escape`, `check`), keys lower-cased.
    pub directives: Vec<Directive>,
    /// The escape character in force (`\\` or `` ` ``).
    pub escape: char,
    /// Instructions in file order.
    pub instructions: Vec<Node>,
    /// Non-fatal findings of the parser (e.g. empty continuation lines).
    pub warnings: Vec<ParseWarning>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Directive {
    pub name: String,
    pub value: String,
    /// 1-based line.
    pub line: usize,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseWarning {
    pub message: String,
    pub line: usize,
}

/// One instruction.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Node {
    /// The instruction word as written (`From`, `RUN`); compare with `eq_ignore_ascii_case`.
    pub keyword: String,
    /// Leading `--flag[=value]` words, quotes removed, as written otherwise.
    pub flags: Vec<String>,
    /// Argument nodes, split per instruction as BuildKit does (see the conformance README):
    /// ENV/LABEL are (key, value, separator) triples.
    pub args: Vec<String>,
    /// The arguments came from a JSON array.
    pub json: bool,
    /// Heredocs consumed after this instruction's line, in order.
    pub heredocs: Vec<Heredoc>,
    /// For ONBUILD: the nested instruction.
    pub next: Option<Box<Node>>,
    /// The instruction's text after continuation joining (keyword included), for history and
    /// error messages.
    pub original: String,
    /// 1-based line where the instruction starts and ends (continuations and heredoc bodies
    /// included).
    pub start_line: usize,
    pub end_line: usize,
    /// 1-based column of the keyword on `start_line`.
    pub column: usize,
}

/// A heredoc attached to an instruction (`<<EOF` ... `EOF`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Heredoc {
    /// The delimiter word, quotes removed.
    pub name: String,
    /// The body as written, with a trailing newline per line (leading tabs kept even for `<<-`:
    /// `Heredoc::body()` strips them).
    pub content: String,
    /// Variables are expanded in the body (the delimiter was not quoted).
    pub expand: bool,
    /// `<<-`: leading tabs stripped.
    pub chomp: bool,
    /// File descriptor prefix (`3<<EOF`), if any.
    pub fd: Option<u32>,
}

impl Node {
    /// Lower-cased keyword.
    pub fn name(&self) -> String {
        self.keyword.to_ascii_lowercase()
    }
}
