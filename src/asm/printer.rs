//! Canonical text for a [`Module`]: one directive or statement per line,
//! instructions indented by four spaces, labels on their own line.

use std::fmt::Write;

use super::ast::*;

/// Writes the canonical source text of `module`.
pub fn print(module: &Module) -> String {
    let mut out = String::new();
    for (i, k) in module.kernels.iter().enumerate() {
        if i > 0 {
            out.push('\n');
        }
        let _ = writeln!(out, ".kernel {}", k.name);
        for p in &k.params {
            let _ = writeln!(out, ".param {} {}", p.name, p.ty);
        }
        for (bytes, _) in &k.shared {
            let _ = writeln!(out, ".shared {bytes}");
        }
        for s in &k.body {
            match s {
                Statement::Label { name, .. } => {
                    let _ = writeln!(out, "{name}:");
                }
                Statement::Instr(instr) => {
                    let _ = writeln!(out, "    {}", print_instruction(instr));
                }
            }
        }
    }
    out
}

/// The canonical text of one instruction, without indentation.
pub fn print_instruction(instr: &Instruction) -> String {
    let mut out = String::new();
    if let Some(g) = &instr.guard {
        let _ = write!(out, "@{}p{} ", if g.negated { "!" } else { "" }, g.pred);
    }
    out.push_str(&instr.opcode);
    for (i, op) in instr.operands.iter().enumerate() {
        out.push_str(if i == 0 { " " } else { ", " });
        write_operand(&mut out, &op.kind);
    }
    out
}

fn write_int(out: &mut String, negative: bool, magnitude: u64, hex: bool) {
    if negative {
        out.push('-');
    }
    if hex {
        let _ = write!(out, "0x{magnitude:X}");
    } else {
        let _ = write!(out, "{magnitude}");
    }
}

fn write_operand(out: &mut String, kind: &OperandKind) {
    match kind {
        OperandKind::Reg(n) => {
            let _ = write!(out, "r{n}");
        }
        OperandKind::Pred(n) => {
            let _ = write!(out, "p{n}");
        }
        OperandKind::Special(s) => {
            let _ = write!(out, "%{s}");
        }
        OperandKind::Name(n) => out.push_str(n),
        OperandKind::Literal(Literal::Int {
            negative,
            magnitude,
            hex,
        }) => write_int(out, *negative, *magnitude, *hex),
        OperandKind::Literal(Literal::Float(text)) => out.push_str(text),
        OperandKind::Address(a) => {
            out.push('[');
            let mut empty = true;
            if let Some((b, _)) = &a.buffer {
                out.push_str(b);
                empty = false;
            }
            if let Some((r, _)) = &a.reg {
                if !empty {
                    out.push_str(" + ");
                }
                let _ = write!(out, "r{r}");
                empty = false;
            }
            if let Some(d) = &a.disp {
                if !empty {
                    out.push_str(if d.negative { " - " } else { " + " });
                }
                write_int(out, false, d.value, d.hex);
            }
            out.push(']');
        }
    }
}
