//! Splits one source line into tokens with their columns.

use super::diag::{Diagnostic, Span};

/// A token of one line.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Token {
    /// An identifier, possibly dotted (`ld.global.f32`, `r3`, `loop`).
    Word(String),
    /// `.kernel`, `.param`, `.shared` (text without the dot).
    Directive(String),
    /// `%tid.x` (text without the `%`).
    Special(String),
    /// A number as written, without sign (`42`, `0x1F`, `1.5`, `2e-3`).
    Number(String),
    /// One of `@ ! , [ ] + - :`.
    Punct(char),
}

/// A token and where it starts.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Spanned {
    pub token: Token,
    pub span: Span,
}

/// Cuts a line at its comment (`//` or `;`).
pub(crate) fn strip_comment(line: &str) -> &str {
    let semi = line.find(';');
    let slashes = line.find("//");
    let cut = match (semi, slashes) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    };
    match cut {
        Some(i) => &line[..i],
        None => line,
    }
}

fn is_ident_start(c: char) -> bool {
    c.is_ascii_alphabetic() || c == '_'
}

fn is_ident_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_'
}

/// Tokenizes one line (comment already removed). `line_no` is 1-based.
pub(crate) fn tokenize(text: &str, line_no: u32) -> Result<Vec<Spanned>, Diagnostic> {
    let chars: Vec<char> = text.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    let span_at = |i: usize| Span::new(line_no, i as u32 + 1);
    while i < chars.len() {
        let c = chars[i];
        if c.is_whitespace() {
            i += 1;
            continue;
        }
        let start = i;
        let token = if matches!(c, '@' | '!' | ',' | '[' | ']' | '+' | '-' | ':') {
            i += 1;
            Token::Punct(c)
        } else if c.is_ascii_digit()
            || (c == '.' && chars.get(i + 1).is_some_and(char::is_ascii_digit))
        {
            let hex = c == '0' && matches!(chars.get(i + 1), Some('x' | 'X'));
            while i < chars.len() {
                let ch = chars[i];
                let exponent_sign = !hex
                    && matches!(ch, '+' | '-')
                    && matches!(chars[i - 1], 'e' | 'E')
                    && chars.get(i + 1).is_some_and(char::is_ascii_digit);
                if ch.is_ascii_alphanumeric() || ch == '.' || ch == '_' || exponent_sign {
                    i += 1;
                } else {
                    break;
                }
            }
            Token::Number(chars[start..i].iter().collect())
        } else if is_ident_start(c) || c == '.' || c == '%' {
            // Words may be dotted (`setp.lt.u32`, `%tid.x`); every part is an
            // identifier.
            let prefix = if c == '.' || c == '%' { 1 } else { 0 };
            i += prefix;
            loop {
                if i >= chars.len() || !is_ident_start(chars[i]) {
                    return Err(Diagnostic::new(
                        span_at(i.min(chars.len())),
                        match chars.get(i) {
                            Some(ch) => format!("expected an identifier, found `{ch}`"),
                            None => "expected an identifier at end of line".to_string(),
                        },
                    ));
                }
                while i < chars.len() && is_ident_char(chars[i]) {
                    i += 1;
                }
                if i < chars.len() && chars[i] == '.' {
                    i += 1;
                } else {
                    break;
                }
            }
            let body: String = chars[start + prefix..i].iter().collect();
            match c {
                '.' => Token::Directive(body),
                '%' => Token::Special(body),
                _ => Token::Word(body),
            }
        } else {
            return Err(Diagnostic::new(
                span_at(i),
                format!("unexpected character `{}`", c.escape_debug()),
            ));
        };
        out.push(Spanned {
            token,
            span: span_at(start),
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kinds(line: &str) -> Vec<Token> {
        tokenize(line, 1)
            .unwrap()
            .into_iter()
            .map(|s| s.token)
            .collect()
    }

    #[test]
    fn splits_an_instruction() {
        assert_eq!(
            kinds("@!p0 ld.global.f32 r2, [a + r1 - 0x10]"),
            vec![
                Token::Punct('@'),
                Token::Punct('!'),
                Token::Word("p0".into()),
                Token::Word("ld.global.f32".into()),
                Token::Word("r2".into()),
                Token::Punct(','),
                Token::Punct('['),
                Token::Word("a".into()),
                Token::Punct('+'),
                Token::Word("r1".into()),
                Token::Punct('-'),
                Token::Number("0x10".into()),
                Token::Punct(']'),
            ]
        );
    }

    #[test]
    fn numbers_keep_exponent_signs() {
        assert_eq!(
            kinds("mov.f32 r0, -2e-3"),
            vec![
                Token::Word("mov.f32".into()),
                Token::Word("r0".into()),
                Token::Punct(','),
                Token::Punct('-'),
                Token::Number("2e-3".into()),
            ]
        );
        assert_eq!(
            kinds("0x1e-3"),
            vec![
                Token::Number("0x1e".into()),
                Token::Punct('-'),
                Token::Number("3".into())
            ]
        );
    }

    #[test]
    fn specials_and_directives() {
        assert_eq!(
            kinds(".param n u32 %tid.x"),
            vec![
                Token::Directive("param".into()),
                Token::Word("n".into()),
                Token::Word("u32".into()),
                Token::Special("tid.x".into()),
            ]
        );
    }

    #[test]
    fn comments_are_cut() {
        assert_eq!(strip_comment("add ; x // y"), "add ");
        assert_eq!(strip_comment("add // x ; y"), "add ");
        assert_eq!(strip_comment("add"), "add");
    }

    #[test]
    fn bad_characters_are_errors_with_columns() {
        let err = tokenize("mov.u32 r0, #1", 3).unwrap_err();
        assert_eq!(err.span, Span::new(3, 13));
        assert!(err.message.contains('#'));
        let err = tokenize("ld.", 1).unwrap_err();
        assert!(err.message.contains("end of line"));
    }
}
