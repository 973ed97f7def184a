//! `--chmod` modes: octal (`0755`) or symbolic like chmod(1) (`u+x,go-w`, `a+X`, `g=u`),
//! applied per file (`X` adds execute only to directories and files already executable by
//! someone). A missing "who" means `a` (no umask).

use kiln_solver::Chmod;

/// A parsed `--chmod`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ModeSpec {
    /// Replace the permission bits (and setuid/setgid/sticky) with this.
    Octal(u32),
    /// Symbolic clauses, applied in order.
    Symbolic(Vec<Clause>),
}

/// One `who op perms` step of a symbolic mode.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Clause {
    who: u32,
    op: char,
    perms: Perms,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Perms {
    /// A set of `rwxXst` letters.
    Letters(String),
    /// Copy the bits of `u`, `g` or `o`.
    Copy(char),
}

const WHO_U: u32 = 0o4700;
const WHO_G: u32 = 0o2070;
const WHO_O: u32 = 0o1007;

/// A `--chmod` value that cannot be parsed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid chmod parameter: {0:?}")]
pub struct BadMode(pub String);

impl ModeSpec {
    /// Converts the solver's [`Chmod`].
    pub fn from_chmod(c: &Chmod) -> Result<ModeSpec, BadMode> {
        match c {
            Chmod::Octal(m) if *m <= 0o7777 => Ok(ModeSpec::Octal(*m)),
            Chmod::Octal(m) => Err(BadMode(format!("{m:o}"))),
            Chmod::Symbolic(s) => ModeSpec::parse(s),
        }
    }

    /// Parses an octal or symbolic mode string.
    pub fn parse(s: &str) -> Result<ModeSpec, BadMode> {
        let bad = || BadMode(s.to_string());
        if !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) {
            let m = u32::from_str_radix(s, 8).map_err(|_| bad())?;
            if m > 0o7777 {
                return Err(bad());
            }
            return Ok(ModeSpec::Octal(m));
        }
        let mut clauses = Vec::new();
        for part in s.split(',') {
            let chars: Vec<char> = part.chars().collect();
            let mut i = 0;
            let mut who = 0;
            while i < chars.len() && matches!(chars[i], 'u' | 'g' | 'o' | 'a') {
                who |= match chars[i] {
                    'u' => WHO_U,
                    'g' => WHO_G,
                    'o' => WHO_O,
                    _ => WHO_U | WHO_G | WHO_O,
                };
                i += 1;
            }
            if who == 0 {
                who = WHO_U | WHO_G | WHO_O;
            }
            if i >= chars.len() {
                return Err(bad());
            }
            while i < chars.len() {
                let op = chars[i];
                if !matches!(op, '+' | '-' | '=') {
                    return Err(bad());
                }
                i += 1;
                let start = i;
                while i < chars.len() && !matches!(chars[i], '+' | '-' | '=') {
                    i += 1;
                }
                let letters: String = chars[start..i].iter().collect();
                let perms = if letters.len() == 1 && matches!(letters.as_str(), "u" | "g" | "o") {
                    Perms::Copy(letters.chars().next().unwrap_or('u'))
                } else if letters.chars().all(|c| "rwxXst".contains(c)) {
                    Perms::Letters(letters)
                } else {
                    return Err(bad());
                };
                clauses.push(Clause { who, op, perms });
            }
        }
        Ok(ModeSpec::Symbolic(clauses))
    }

    /// The new permission bits (`0o7777` part) for an entry whose current bits are `mode`.
    pub fn apply(&self, mode: u32, is_dir: bool) -> u32 {
        let mut m = mode & 0o7777;
        match self {
            ModeSpec::Octal(o) => *o,
            ModeSpec::Symbolic(clauses) => {
                for c in clauses {
                    let bits = match &c.perms {
                        Perms::Letters(l) => {
                            let mut b = 0;
                            for ch in l.chars() {
                                b |= match ch {
                                    'r' => 0o444,
                                    'w' => 0o222,
                                    'x' => 0o111,
                                    'X' if is_dir || m & 0o111 != 0 => 0o111,
                                    's' => 0o6000,
                                    't' => 0o1000,
                                    _ => 0,
                                };
                            }
                            b
                        }
                        Perms::Copy(from) => {
                            let t = match from {
                                'u' => (m >> 6) & 7,
                                'g' => (m >> 3) & 7,
                                _ => m & 7,
                            };
                            t * 0o111
                        }
                    };
                    let eff = bits & c.who;
                    match c.op {
                        '+' => m |= eff,
                        '-' => m &= !eff,
                        _ => m = (m & !c.who) | eff,
                    }
                }
                m
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn symbolic() {
        let p = |s: &str| ModeSpec::parse(s).unwrap();
        assert_eq!(p("go-w").apply(0o666, false), 0o644);
        assert_eq!(p("u=rw,g=r,o=r").apply(0o777, false), 0o644);
        assert_eq!(p("a+X").apply(0o644, false), 0o644);
        assert_eq!(p("a+X").apply(0o744, false), 0o755);
        assert_eq!(p("a+X").apply(0o124, true), 0o135);
        assert_eq!(p("u+rw,g+r,o-x,o+w").apply(0o124, true), 0o766);
        assert_eq!(p("g=u").apply(0o740, false), 0o770);
        assert_eq!(p("0755"), ModeSpec::Octal(0o755));
        assert!(ModeSpec::parse("64a").is_err());
        assert!(ModeSpec::parse("10000").is_err());
        assert!(ModeSpec::parse("u+q").is_err());
    }
}
