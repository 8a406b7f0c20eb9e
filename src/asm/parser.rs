//! Line-by-line parser from source text to [`Module`].

use super::ast::*;
use super::diag::{Diagnostic, Span};
use super::lexer::{Spanned, Token, strip_comment, tokenize};

/// Parses a whole source file.
///
/// Returns the module built from every line that parsed, and one diagnostic
/// per line that did not (the parser goes on after an error, so a file with
/// several mistakes reports all of them).
pub fn parse(source: &str) -> (Module, Vec<Diagnostic>) {
    // A UTF-8 byte order mark (some editors write one) is not text.
    let source = source.strip_prefix('\u{feff}').unwrap_or(source);
    let mut module = Module::default();
    let mut errors = Vec::new();
    for (index, raw) in source.lines().enumerate() {
        let line_no = u32::try_from(index + 1).unwrap_or(u32::MAX);
        let text = strip_comment(raw);
        if let Err(e) = parse_line(text, line_no, &mut module) {
            errors.push(e);
        }
    }
    (module, errors)
}

fn parse_line(text: &str, line_no: u32, module: &mut Module) -> Result<(), Diagnostic> {
    let tokens = tokenize(text, line_no)?;
    if tokens.is_empty() {
        return Ok(());
    }
    let mut cur = Cursor {
        tokens: &tokens,
        pos: 0,
        line_end: Span::new(line_no, text.chars().count() as u32 + 1),
    };
    if let Token::Directive(name) = &tokens[0].token {
        cur.pos = 1;
        return parse_directive(name, tokens[0].span, &mut cur, module);
    }
    let Some(kernel) = module.kernels.last_mut() else {
        return Err(Diagnostic::new(
            tokens[0].span,
            "instruction or label before the first `.kernel`",
        ));
    };
    // `NAME:` starts a label; an instruction may follow on the same line.
    if let (Some(Token::Word(name)), Some(Token::Punct(':'))) = (
        tokens.first().map(|t| &t.token),
        tokens.get(1).map(|t| &t.token),
    ) {
        if name.contains('.') {
            return Err(Diagnostic::new(
                tokens[0].span,
                format!("label `{name}` is not an identifier"),
            ));
        }
        kernel.body.push(Statement::Label {
            name: name.clone(),
            span: tokens[0].span,
        });
        cur.pos = 2;
        if cur.at_end() {
            return Ok(());
        }
    }
    let instr = parse_instruction(&mut cur)?;
    kernel.body.push(Statement::Instr(instr));
    Ok(())
}

struct Cursor<'a> {
    tokens: &'a [Spanned],
    pos: usize,
    line_end: Span,
}

impl<'a> Cursor<'a> {
    fn at_end(&self) -> bool {
        self.pos >= self.tokens.len()
    }

    fn peek(&self) -> Option<&'a Spanned> {
        self.tokens.get(self.pos)
    }

    fn span(&self) -> Span {
        self.peek().map_or(self.line_end, |t| t.span)
    }

    fn next(&mut self) -> Option<&'a Spanned> {
        let t = self.tokens.get(self.pos);
        self.pos += 1;
        t
    }

    fn eat_punct(&mut self, c: char) -> bool {
        if matches!(self.peek(), Some(Spanned { token: Token::Punct(p), .. }) if *p == c) {
            self.pos += 1;
            true
        } else {
            false
        }
    }

    fn expect_word(&mut self, what: &str) -> Result<(String, Span), Diagnostic> {
        let span = self.span();
        match self.next() {
            Some(Spanned {
                token: Token::Word(w),
                ..
            }) if !w.contains('.') => Ok((w.clone(), span)),
            Some(t) => Err(Diagnostic::new(
                span,
                format!("expected {what}, found {}", describe(&t.token)),
            )),
            None => Err(Diagnostic::new(
                span,
                format!("expected {what} at end of line"),
            )),
        }
    }

    fn expect_end(&self) -> Result<(), Diagnostic> {
        match self.peek() {
            None => Ok(()),
            Some(t) => Err(Diagnostic::new(
                t.span,
                format!("unexpected {} at end of statement", describe(&t.token)),
            )),
        }
    }
}

fn describe(token: &Token) -> String {
    match token {
        Token::Word(w) => format!("`{w}`"),
        Token::Directive(d) => format!("`.{d}`"),
        Token::Special(s) => format!("`%{s}`"),
        Token::Number(n) => format!("number `{n}`"),
        Token::Punct(c) => format!("`{c}`"),
    }
}

fn parse_directive(
    name: &str,
    span: Span,
    cur: &mut Cursor<'_>,
    module: &mut Module,
) -> Result<(), Diagnostic> {
    match name {
        "kernel" => {
            let (kname, kspan) = cur.expect_word("a kernel name")?;
            cur.expect_end()?;
            module.kernels.push(KernelDef {
                name: kname,
                span: kspan,
                params: Vec::new(),
                shared: Vec::new(),
                body: Vec::new(),
            });
            Ok(())
        }
        "param" | "shared" => {
            let Some(kernel) = module.kernels.last_mut() else {
                return Err(Diagnostic::new(
                    span,
                    format!("`.{name}` before the first `.kernel`"),
                ));
            };
            if !kernel.body.is_empty() {
                return Err(Diagnostic::new(
                    span,
                    format!("`.{name}` must come before the kernel's first instruction or label"),
                ));
            }
            if name == "param" {
                let (pname, pspan) = cur.expect_word("a parameter name")?;
                let (ty, ty_span) = cur.expect_word("a parameter type (`buf` or a scalar type)")?;
                cur.expect_end()?;
                kernel.params.push(ParamDecl {
                    name: pname,
                    span: pspan,
                    ty,
                    ty_span,
                });
            } else {
                let nspan = cur.span();
                let bytes = match cur.next() {
                    Some(Spanned {
                        token: Token::Number(n),
                        ..
                    }) => match parse_number(n, nspan)? {
                        Literal::Int { magnitude, .. } => magnitude,
                        Literal::Float(_) => {
                            return Err(Diagnostic::new(
                                nspan,
                                "`.shared` takes a whole number of bytes",
                            ));
                        }
                    },
                    _ => {
                        return Err(Diagnostic::new(
                            nspan,
                            "`.shared` takes a whole number of bytes",
                        ));
                    }
                };
                cur.expect_end()?;
                kernel.shared.push((bytes, nspan));
            }
            Ok(())
        }
        other => Err(Diagnostic::new(
            span,
            format!("unknown directive `.{other}` (expected `.kernel`, `.param` or `.shared`)"),
        )),
    }
}

fn parse_instruction(cur: &mut Cursor<'_>) -> Result<Instruction, Diagnostic> {
    let span = cur.span();
    let mut guard = None;
    if cur.eat_punct('@') {
        let negated = cur.eat_punct('!');
        let (word, wspan) = cur.expect_word("a predicate register `pN` after `@`")?;
        match register_number(&word, 'p') {
            Some(pred) => {
                guard = Some(Guard {
                    negated,
                    pred,
                    span,
                })
            }
            None => {
                return Err(Diagnostic::new(
                    wspan,
                    format!("expected a predicate register `pN` after `@`, found `{word}`"),
                ));
            }
        }
    }
    let opcode_span = cur.span();
    let opcode = match cur.next() {
        Some(Spanned {
            token: Token::Word(w),
            ..
        }) => w.clone(),
        Some(t) => {
            return Err(Diagnostic::new(
                opcode_span,
                format!("expected an opcode, found {}", describe(&t.token)),
            ));
        }
        None => {
            return Err(Diagnostic::new(
                opcode_span,
                "expected an opcode after the guard",
            ));
        }
    };
    // Most instructions have 2 or 3 operands: room for 3, grown only for
    // the few with more.
    let mut operands = Vec::with_capacity(3);
    if !cur.at_end() {
        loop {
            operands.push(parse_operand(cur)?);
            if cur.at_end() {
                break;
            }
            if !cur.eat_punct(',') {
                let t = cur.peek().map(|t| describe(&t.token)).unwrap_or_default();
                return Err(Diagnostic::new(
                    cur.span(),
                    format!("expected `,` between operands, found {t}"),
                ));
            }
        }
    }
    // No spare room kept per line (a shrink in place is cheap; growing
    // from empty for every line was not).
    if operands.len() < operands.capacity() {
        operands.shrink_to_fit();
    }
    Ok(Instruction {
        guard,
        opcode,
        opcode_span,
        operands,
        span,
    })
}

/// `r12` -> 12 for prefix `r`. Numbers too large for u32 saturate so that the
/// range check later still rejects them.
fn register_number(word: &str, prefix: char) -> Option<u32> {
    let digits = word.strip_prefix(prefix)?;
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    Some(digits.parse::<u32>().unwrap_or(u32::MAX))
}

fn parse_number(text: &str, span: Span) -> Result<Literal, Diagnostic> {
    if let Some(hex) = text.strip_prefix("0x").or_else(|| text.strip_prefix("0X")) {
        return match u64::from_str_radix(hex, 16) {
            Ok(v) if !hex.is_empty() && !hex.starts_with('+') => Ok(Literal::Int {
                negative: false,
                magnitude: v,
                hex: true,
            }),
            Err(e) if *e.kind() == std::num::IntErrorKind::PosOverflow => Err(Diagnostic::new(
                span,
                format!("integer `{text}` does not fit in 64 bits"),
            )),
            _ => Err(Diagnostic::new(
                span,
                format!("malformed hex number `{text}`"),
            )),
        };
    }
    if text.bytes().all(|b| b.is_ascii_digit()) {
        return match text.parse::<u64>() {
            Ok(v) => Ok(Literal::Int {
                negative: false,
                magnitude: v,
                hex: false,
            }),
            Err(_) => Err(Diagnostic::new(
                span,
                format!("integer `{text}` does not fit in 64 bits"),
            )),
        };
    }
    let looks_float = text
        .bytes()
        .all(|b| b.is_ascii_digit() || matches!(b, b'.' | b'e' | b'E' | b'+' | b'-'));
    if looks_float && text.parse::<f64>().is_ok() {
        Ok(Literal::Float(text.to_string()))
    } else {
        Err(Diagnostic::new(span, format!("malformed number `{text}`")))
    }
}

fn negate(lit: Literal) -> Literal {
    match lit {
        Literal::Int {
            negative,
            magnitude,
            hex,
        } => Literal::Int {
            negative: !negative,
            magnitude,
            hex,
        },
        Literal::Float(t) => match t.strip_prefix('-') {
            Some(rest) => Literal::Float(rest.to_string()),
            None => Literal::Float(format!("-{t}")),
        },
    }
}

fn parse_operand(cur: &mut Cursor<'_>) -> Result<Operand, Diagnostic> {
    let span = cur.span();
    let Some(tok) = cur.next() else {
        return Err(Diagnostic::new(span, "expected an operand at end of line"));
    };
    let kind = match &tok.token {
        Token::Punct('[') => OperandKind::Address(Box::new(parse_address(cur, span)?)),
        Token::Punct('-') => {
            let inner = cur.span();
            match cur.next().map(|t| &t.token) {
                Some(Token::Number(n)) => OperandKind::Literal(negate(parse_number(n, inner)?)),
                Some(Token::Word(w)) if w == "inf" || w == "nan" => {
                    OperandKind::Literal(Literal::Float(format!("-{w}")))
                }
                _ => return Err(Diagnostic::new(inner, "expected a number after `-`")),
            }
        }
        Token::Number(n) => OperandKind::Literal(parse_number(n, span)?),
        Token::Special(s) => OperandKind::Special(s.clone()),
        Token::Word(w) => {
            if let Some(n) = register_number(w, 'r') {
                OperandKind::Reg(n)
            } else if let Some(n) = register_number(w, 'p') {
                OperandKind::Pred(n)
            } else if w == "inf" || w == "nan" {
                OperandKind::Literal(Literal::Float(w.clone()))
            } else if w.contains('.') {
                return Err(Diagnostic::new(
                    span,
                    format!("`{w}` is not an operand (a dotted word where an operand belongs)"),
                ));
            } else {
                OperandKind::Name(w.clone())
            }
        }
        other => {
            return Err(Diagnostic::new(
                span,
                format!("expected an operand, found {}", describe(other)),
            ));
        }
    };
    Ok(Operand { kind, span })
}

const ADDRESS_FORMS: &str = "addresses are [BUF], [BUF + rX], [BUF + IMM], [BUF + rX + IMM], [BUF + rX - IMM] or the same without BUF";

fn parse_address(cur: &mut Cursor<'_>, open: Span) -> Result<Address, Diagnostic> {
    let mut addr = Address {
        buffer: None,
        reg: None,
        disp: None,
    };
    let mut first = true;
    loop {
        let mut negative = false;
        if !first {
            if cur.eat_punct(']') {
                break;
            }
            if cur.eat_punct('-') {
                negative = true;
            } else if !cur.eat_punct('+') {
                let found = cur.peek().map(|t| describe(&t.token));
                return Err(Diagnostic::new(
                    cur.span(),
                    match found {
                        Some(f) => format!("expected `+`, `-` or `]` in address, found {f}"),
                        None => "missing `]` at end of address".to_string(),
                    },
                ));
            }
        }
        let span = cur.span();
        let term = cur.next().map(|t| &t.token);
        match term {
            Some(Token::Word(w)) if register_number(w, 'r').is_some() => {
                if negative || addr.reg.is_some() || addr.disp.is_some() {
                    return Err(Diagnostic::new(span, ADDRESS_FORMS));
                }
                addr.reg = Some((register_number(w, 'r').unwrap_or(u32::MAX), span));
            }
            Some(Token::Word(w)) if !w.contains('.') => {
                if !first {
                    return Err(Diagnostic::new(
                        span,
                        format!("the buffer `{w}` must come first in an address; {ADDRESS_FORMS}"),
                    ));
                }
                addr.buffer = Some((w.clone(), span));
            }
            Some(Token::Number(n)) => {
                if addr.disp.is_some() || (negative && addr.reg.is_none()) {
                    return Err(Diagnostic::new(span, ADDRESS_FORMS));
                }
                match parse_number(n, span)? {
                    Literal::Int { magnitude, hex, .. } => {
                        addr.disp = Some(Displacement {
                            negative,
                            value: magnitude,
                            hex,
                            span,
                        })
                    }
                    Literal::Float(_) => {
                        return Err(Diagnostic::new(
                            span,
                            format!("address offset `{n}` must be a whole number of bytes"),
                        ));
                    }
                }
            }
            Some(Token::Punct(']')) if first => {
                return Err(Diagnostic::new(open, "empty address `[]`"));
            }
            Some(t) => {
                return Err(Diagnostic::new(
                    span,
                    format!("unexpected {} in address; {ADDRESS_FORMS}", describe(t)),
                ));
            }
            None => return Err(Diagnostic::new(span, "missing `]` at end of address")),
        }
        first = false;
    }
    Ok(addr)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one_instr(line: &str) -> Instruction {
        let (m, errors) = parse(&format!(".kernel k\n{line}\n"));
        assert!(errors.is_empty(), "{errors:?}");
        match &m.kernels[0].body[0] {
            Statement::Instr(i) => i.clone(),
            other => panic!("not an instruction: {other:?}"),
        }
    }

    #[test]
    fn parses_kernel_with_params_and_labels() {
        let src = ".kernel k\n.param a buf\n.param n u32\n.shared 64\nloop: add.u32 r1, r1, 1\n@!p0 bra loop\nexit\n";
        let (m, errors) = parse(src);
        assert!(errors.is_empty(), "{errors:?}");
        let k = &m.kernels[0];
        assert_eq!(k.name, "k");
        assert_eq!(k.params.len(), 2);
        assert_eq!(k.shared, vec![(64, Span::new(4, 9))]);
        assert_eq!(k.body.len(), 4);
        assert!(matches!(&k.body[0], Statement::Label { name, .. } if name == "loop"));
    }

    #[test]
    fn parses_addresses() {
        let i = one_instr("ld.global.f32 r2, [a + r1 - 0x10]");
        let OperandKind::Address(a) = &i.operands[1].kind else {
            panic!()
        };
        assert_eq!(a.buffer.as_ref().unwrap().0, "a");
        assert_eq!(a.reg.unwrap().0, 1);
        let d = a.disp.unwrap();
        assert!(d.negative && d.hex && d.value == 16);
        let i = one_instr("st.shared.u8 [12], r0");
        let OperandKind::Address(a) = &i.operands[0].kind else {
            panic!()
        };
        assert!(a.buffer.is_none() && a.reg.is_none());
        assert_eq!(a.disp.unwrap().value, 12);
    }

    #[test]
    fn parses_literals() {
        let i = one_instr("mov.f32 r0, -2e-3");
        assert_eq!(
            i.operands[1].kind,
            OperandKind::Literal(Literal::Float("-2e-3".into()))
        );
        let i = one_instr("mov.i32 r0, -0x7f");
        assert_eq!(
            i.operands[1].kind,
            OperandKind::Literal(Literal::Int {
                negative: true,
                magnitude: 127,
                hex: true
            })
        );
        let i = one_instr("mov.f64 r0, -inf");
        assert_eq!(
            i.operands[1].kind,
            OperandKind::Literal(Literal::Float("-inf".into()))
        );
    }

    #[test]
    fn reports_every_bad_line() {
        let src = ".kernel k\nexit\nmov.u32 r0 r1\nadd.u32 r0, [a + ]\n.param late u32\nld.global.u32 r0, [a - 4]\n";
        let (_, errors) = parse(src);
        let lines: Vec<u32> = errors.iter().map(|e| e.span.line).collect();
        assert_eq!(lines, vec![3, 4, 5, 6], "{errors:?}");
    }

    #[test]
    fn instruction_outside_kernel_is_an_error() {
        let (_, errors) = parse("add.u32 r0, r0, 1\n");
        assert_eq!(errors.len(), 1);
        assert_eq!(errors[0].span, Span::new(1, 1));
    }

    #[test]
    fn huge_numbers_are_errors() {
        let (_, errors) = parse(".kernel k\nmov.u64 r0, 18446744073709551616\n");
        assert!(errors[0].message.contains("64 bits"), "{errors:?}");
    }
}
