//! Source positions and error messages of the form `FILE:LINE:COL: message`.

use std::fmt;

/// A position in the source text: 1-based line and column (in characters).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Span {
    /// 1-based line number.
    pub line: u32,
    /// 1-based column, counted in characters.
    pub col: u32,
}

impl Span {
    /// A span at `line`, `col`.
    pub fn new(line: u32, col: u32) -> Span {
        Span { line, col }
    }
}

/// One error found before running: where, and what.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Diagnostic {
    /// Where the problem is.
    pub span: Span,
    /// What is wrong, in words.
    pub message: String,
}

impl Diagnostic {
    /// A diagnostic at `span`. Long quoted input in `message` is shortened
    /// (see [`crate::text::shorten_quoted`]).
    pub fn new(span: Span, message: impl Into<String>) -> Diagnostic {
        let message = message.into();
        let message = if message.len() > 2 * crate::text::QUOTE_CHARS {
            crate::text::shorten_quoted(&message)
        } else {
            message
        };
        Diagnostic { span, message }
    }
}

/// Every error found in one file, rendered as `FILE:LINE:COL: message` lines.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub struct Diagnostics {
    /// The file name shown in front of each line.
    pub file: String,
    /// The errors, in source order.
    pub errors: Vec<Diagnostic>,
}

impl Diagnostics {
    /// Diagnostics for `file`, sorted by position.
    pub fn new(file: impl Into<String>, mut errors: Vec<Diagnostic>) -> Diagnostics {
        errors.sort_by_key(|d| d.span);
        Diagnostics {
            file: file.into(),
            errors,
        }
    }
}

/// One line per error, at most [`crate::text::MAX_SHOWN_DIAGNOSTICS`] of
/// them, then a line saying how many more there are.
impl fmt::Display for Diagnostics {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let shown = crate::text::MAX_SHOWN_DIAGNOSTICS;
        for (i, d) in self.errors.iter().take(shown).enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(
                f,
                "{}:{}:{}: {}",
                self.file, d.span.line, d.span.col, d.message
            )?;
        }
        if self.errors.len() > shown {
            let more = self.errors.len() - shown;
            write!(
                f,
                "\n{}: ... and {more} more error{} not shown",
                self.file,
                if more == 1 { "" } else { "s" }
            )?;
        }
        Ok(())
    }
}
