//! Every validation error class of docs/LANGUAGE.md section 7, each at its exact
//! `FILE:LINE:COL` with a meaningful message; files with several errors
//! report all of them, in line order, and nothing compiles.

use lanes::compile;

const HEADER: &str = ".kernel k\n.param buf buf\n.param n u32\n.param x f32\n";
const LINE: u32 = 5;

/// All errors of `src` as `(line, col, message)`.
fn errors(src: &str) -> Vec<(u32, u32, String)> {
    match compile("t.lasm", src) {
        Ok(_) => panic!("expected errors, but compiled:\n{src}"),
        Err(d) => {
            // The rendering is `FILE:LINE:COL: message`, one per line.
            let text = d.to_string();
            let lines: Vec<&str> = text.lines().collect();
            assert_eq!(lines.len(), d.errors.len());
            for (l, e) in lines.iter().zip(&d.errors) {
                assert_eq!(
                    *l,
                    format!("t.lasm:{}:{}: {}", e.span.line, e.span.col, e.message)
                );
            }
            d.errors
                .iter()
                .map(|e| (e.span.line, e.span.col, e.message.clone()))
                .collect()
        }
    }
}

/// `line` (placed at line 5 after a header) has exactly one error, at the
/// column where `at` starts in it, with a message containing `msg`.
#[track_caller]
fn bad(line: &str, at: &str, msg: &str) {
    bad_nth(line, at, 0, msg)
}

#[track_caller]
fn bad_nth(line: &str, at: &str, nth: usize, msg: &str) {
    let src = format!("{HEADER}{line}\n");
    let col = line
        .match_indices(at)
        .nth(nth)
        .unwrap_or_else(|| panic!("`{at}` not in `{line}`"))
        .0 as u32
        + 1;
    let e = errors(&src);
    assert_eq!(e.len(), 1, "`{line}`: {e:?}");
    assert_eq!((e[0].0, e[0].1), (LINE, col), "`{line}`: {e:?}");
    assert!(
        e[0].2.contains(msg),
        "`{line}`: message `{}` lacks `{msg}`",
        e[0].2
    );
}

#[track_caller]
fn bad_at(line: &str, col: u32, msg: &str) {
    let e = errors(&format!("{HEADER}{line}\n"));
    assert_eq!(e.len(), 1, "`{line}`: {e:?}");
    assert_eq!((e[0].0, e[0].1), (LINE, col), "`{line}`: {e:?}");
    assert!(
        e[0].2.contains(msg),
        "`{line}`: message `{}` lacks `{msg}`",
        e[0].2
    );
}

#[track_caller]
fn good(line: &str) {
    let src = format!("{HEADER}{line}\n");
    if let Err(e) = compile("t.lasm", &src) {
        panic!("`{line}` should compile: {e}");
    }
}

#[test]
fn syntax_errors() {
    bad("    mov.u32 r0 r1", "r1", "expected `,`");
    bad("mov.u32 r0, #1", "#", "unexpected character `#`");
    bad_at("mov.u32 r0,", 12, "expected an operand at end of line");
    bad_at("ld.global.u32 r0, [buf + r1", 28, "missing `]`");
    bad("ld.global.u32 r0, [buf + ]", "]", "");
    bad("ld.global.u32 r0, []", "[", "empty address");
    bad("ld.global.u32 r0, [buf - 4]", "4", "addresses are");
    bad("ld.global.u32 r0, [r1 + r2]", "r2", "addresses are");
    bad("ld.global.u32 r0, [4 + r1]", "r1", "addresses are");
    bad("ld.global.u32 r0, [r1 + buf]", "buf", "must come first");
    bad("ld.global.u32 r0, [buf + 1.5]", "1.5", "whole number");
    bad_nth(
        "ld.global.u32 r0, [buf + r1 + 4 + 4]",
        "4",
        1,
        "addresses are",
    );
    bad("mov.u32 r0, 12abc", "12abc", "malformed number");
    bad("mov.u32 r0, 0x", "0x", "malformed hex");
    bad("mov.u64 r0, 18446744073709551616", "1", "64 bits");
    bad("mov.u32 r0, - r1", "r1", "expected a number after `-`");
    bad("@ mov.u32 r0, 1", "mov", "predicate register");
    bad("@r1 mov.u32 r0, 1", "r1", "predicate register");
    bad("a.b: exit", "a.b", "not an identifier");
    bad_at("ld. r0", 4, "expected an identifier");
    bad("mov.u32 r0, ld.global", "ld.global", "not an operand");
    bad(".frob 3", ".frob", "unknown directive");
    bad_nth("mov.u32 r0, 1 2", "2", 1, "expected `,`");
}

#[test]
fn structure_errors() {
    // Instruction before the first kernel.
    let e = errors("add.u32 r0, r0, 1\n.kernel k\nexit\n");
    assert_eq!(e.len(), 1);
    assert_eq!((e[0].0, e[0].1), (1, 1));
    assert!(e[0].2.contains("before the first `.kernel`"));
    // `.param` before any kernel.
    let e = errors(".param a buf\n.kernel k\n");
    assert_eq!((e[0].0, e[0].1), (1, 1));
    // No kernel at all.
    let e = errors("// nothing here\n\n");
    assert_eq!((e[0].0, e[0].1), (1, 1));
    assert!(e[0].2.contains("no kernel"));
    // `.kernel` without a name, and with extra words.
    let e = errors(".kernel\n");
    assert_eq!((e[0].0, e[0].1), (1, 8));
    let e = errors(".kernel a b\n");
    assert_eq!((e[0].0, e[0].1), (1, 11));
    assert!(e[0].2.contains("unexpected"));
}

#[test]
fn unknown_opcode_and_label() {
    bad("frob.u32 r0, r1", "frob", "unknown opcode `frob`");
    bad("  @p0 frob r0", "frob", "unknown opcode");
    bad("bra nowhere", "nowhere", "unknown label `nowhere`");
    bad("@!p1 bra nowhere", "nowhere", "unknown label");
    bad("bra r0", "r0", "takes a label");
    bad("bra.uni l\nl:", "uni", "bra LABEL");
}

#[test]
fn bad_operands() {
    bad("add.u32 r0, r1, p0", "p0", "predicate is not a value");
    bad("mov.u32 5, r1", "5", "destination must be a register");
    bad(
        "mov.u32 %tid.x, r1",
        "%tid.x",
        "destination must be a register",
    );
    bad("setp.eq.u32 r0, r1, r2", "r0", "predicate register");
    bad("selp.u32 r0, r1, r2, r3", "r3", "predicate register");
    bad("and.pred p0, r1, p2", "r1", "predicate register");
    bad("not.pred r0, p1", "r0", "predicate register");
    bad("ld.global.u32 r0, r1", "r1", "memory address");
    bad("st.global.u32 r1, r0", "r1", "memory address");
    bad("add.u32 r0, [buf], r1", "[", "address is not a value");
    bad("mov.u32 r0, %foo", "%foo", "unknown special register");
    bad("mov.u32 r0, %tid.w", "%tid.w", "unknown special register");
    bad(
        "mov.u32 r0, %laneid.x",
        "%laneid.x",
        "unknown special register",
    );
    bad("mov.u32 r0, nope", "nope", "unknown name `nope`");
    bad("mov.u32 r0, buf", "buf", "buffer `buf` is not a value");
    bad_nth(
        "st.global.u32 [buf], buf",
        "buf",
        1,
        "buffer `buf` is not a value",
    );
    bad(
        "ld.global.u32 r0, [n + r1]",
        "n",
        "scalar parameter, not a buffer",
    );
    bad(
        "ld.global.u32 r0, [nobuf]",
        "nobuf",
        "unknown buffer `nobuf`",
    );
    bad(
        "ld.shared.u32 r0, [buf + r1]",
        "buf",
        "shared address has no buffer",
    );
    bad(
        "atom.shared.add.u32 r0, [buf], 1",
        "buf",
        "shared address has no buffer",
    );
    bad(
        "ld.global.u32 r0, [r1]",
        "[",
        "global address needs a buffer",
    );
    bad(
        "st.global.u32 [4], r1",
        "[",
        "global address needs a buffer",
    );
    bad(
        "atom.global.cas.u32 r0, [r1 + 4], 1, 2",
        "[",
        "needs a buffer",
    );
}

#[test]
fn register_and_predicate_ranges() {
    bad("mov.u32 r256, 0", "r256", "register r256 out of range");
    bad("mov.u32 r0, r999999999999", "r999999999999", "out of range");
    bad("add.u32 r0, r1, r300", "r300", "r300 out of range");
    bad("ld.global.u32 r0, [buf + r256]", "r256", "out of range");
    bad("ld.shared.u32 r0, [r256 - 4]", "r256", "out of range");
    good("mov.u32 r255, r255");
    bad("@p16 exit", "@", "predicate p16 out of range");
    bad("@!p99 exit", "@", "predicate p99 out of range");
    bad("setp.eq.u32 p16, r0, r1", "p16", "out of range");
    bad("selp.u32 r0, r1, r2, p20", "p20", "out of range");
    bad("and.pred p0, p1, p16", "p16", "out of range");
    good("@!p15 setp.eq.u32 p15, r0, r1");
}

#[test]
fn immediates_must_fit() {
    for (ty, lo, hi) in [
        ("u8", "0", "255"),
        ("u16", "0", "65535"),
        ("u32", "0", "4294967295"),
        ("u64", "0", "18446744073709551615"),
        ("i8", "-128", "127"),
        ("i16", "-32768", "32767"),
        ("i32", "-2147483648", "2147483647"),
        ("i64", "-9223372036854775808", "9223372036854775807"),
    ] {
        good(&format!("mov.{ty} r0, {lo}"));
        good(&format!("mov.{ty} r0, {hi}"));
        good(&format!("add.{ty} r0, {lo}, {hi}"));
    }
    for (ty, v) in [
        ("u8", "256"),
        ("u8", "-1"),
        ("u16", "65536"),
        ("u16", "0x10000"),
        ("u32", "-1"),
        ("u32", "4294967296"),
        ("u64", "-1"),
        ("i8", "-129"),
        ("i8", "128"),
        ("i8", "0x100"),
        ("i8", "-0x81"),
        ("i16", "32768"),
        ("i16", "-32769"),
        ("i32", "2147483648"),
        ("i32", "-2147483649"),
        ("i64", "9223372036854775808"),
        ("i64", "-9223372036854775809"),
    ] {
        bad(
            &format!("mov.{ty} r0, {v}"),
            v,
            &format!(
                "immediate {} does not fit type {ty}",
                v.to_uppercase().replace("0X", "0x")
            ),
        );
    }
    // In other operand positions too.
    bad("add.u8 r0, r1, 256", "256", "does not fit type u8");
    bad("setp.lt.i8 p0, r1, 200", "200", "does not fit type i8");
    bad(
        "st.global.u16 [buf], 70000",
        "70000",
        "does not fit type u16",
    );
    bad(
        "atom.global.add.u32 r0, [buf], -1",
        "-1",
        "does not fit type u32",
    );
    bad("cvt.u8.i8 r0, 200", "200", "does not fit type i8");
    good("cvt.i8.u8 r0, 200");
    // Hex may give the full bit pattern of a signed type (documented).
    good("mov.i8 r0, 0xFF");
    good("mov.i32 r0, 0xFFFFFFFF");
    good("mov.i8 r0, -0x80");
    // Floats: non-integer literals only for float types; finite overflow is
    // an error; inf and nan are fine.
    bad(
        "mov.u32 r0, 1.5",
        "1.5",
        "float immediate 1.5 used with integer type u32",
    );
    bad("mov.i32 r0, inf", "inf", "integer type");
    bad("mov.i32 r0, -nan", "-nan", "integer type");
    bad("mov.f32 r0, 1e39", "1e39", "does not fit type f32");
    bad("mov.f32 r0, -1e39", "-1e39", "does not fit type f32");
    bad("mov.f64 r0, 1e309", "1e309", "does not fit type f64");
    good("mov.f64 r0, 1e39");
    good("mov.f32 r0, 3.4028235e38");
    good("mov.f32 r0, -inf");
    good("mov.f64 r0, nan");
    good("mov.f32 r0, 1e-50");
    good("mov.f32 r0, 4294967295");
}

#[test]
fn wrong_type_modifiers() {
    bad("sqrt.u32 r0, r1", "u32", "`sqrt` does not take type `u32`");
    bad("floor.i32 r0, r1", "i32", "does not take type `i32`");
    bad(
        "and.f32 r0, r1, r2",
        "f32",
        "`and` does not take type `f32`",
    );
    bad("shl.f64 r0, r1, r2", "f64", "does not take type `f64`");
    bad("not.f32 r0, r1", "f32", "does not take type");
    bad("neg.u32 r0, r1", "u32", "`neg` does not take type `u32`");
    bad("abs.u8 r0, r1", "u8", "`abs` does not take type `u8`");
    bad(
        "atom.global.add.u8 r0, [buf], r1",
        "u8",
        "does not take type `u8`",
    );
    bad(
        "atom.shared.min.i16 r0, [r1], r1",
        "i16",
        "does not take type `i16`",
    );
    bad(
        "atom.global.cas.f32 r0, [buf], r1, r2",
        "f32",
        "does not take type `f32`",
    );
    bad(
        "atom.global.cas.f64 r0, [buf], r1, r2",
        "f64",
        "allowed: u32 i32 u64 i64",
    );
    bad("add.x32 r0, r1, r2", "x32", "unknown type modifier `.x32`");
    bad("cvt.f32.x8 r0, r1", "x8", "unknown type modifier `.x8`");
    bad("mov.pred r0, r1", "pred", "unknown type modifier `.pred`");
    bad(
        "shl.pred p0, p1, p2",
        "pred",
        "unknown type modifier `.pred`",
    );
    bad("setp.xx.u32 p0, r0, r1", "xx", "unknown comparison `.xx`");
    bad("setp.lt p0, r0, r1", "setp.lt", "setp.CMP.T");
    bad("ld.local.u32 r0, [buf]", "local", "state space");
    bad(
        "atom.global.sub.u32 r0, [buf], r1",
        "sub",
        "unknown atomic operation `.sub`",
    );
    bad("bar.arrive", "arrive", "expected `bar.sync`");
    bad("bar", "bar", "bar.sync");
    bad("mov r0, r1", "mov", "expected `mov.T`");
    bad_nth("add.u32.u32 r0, r1, r2", "u32", 1, "add.T");
    bad("exit.now", "now", "exit");
    bad("ld.global r0, [buf]", "ld.global", "ld.SPACE.T");
}

#[test]
fn wrong_operand_counts() {
    bad(
        "add.u32 r0, r1",
        "add.u32",
        "takes 3 operands (d, a, b), found 2",
    );
    bad("add.u32 r0, r1, r2, r3", "r3", "takes 3 operands");
    bad("fma.f32 r0, r1, r2", "fma.f32", "takes 4 operands");
    bad("mov.u32 r0", "mov.u32", "takes 2 operands");
    bad("exit r0", "r0", "takes 0 operands");
    bad("bar.sync 1", "1", "takes 0 operands");
    bad("bra", "bra", "takes 1 operand (LABEL), found 0");
    bad("not.pred p0, p1, p2", "p2", "takes 2 operands");
    bad(
        "atom.global.cas.u32 r0, [buf], r1",
        "atom",
        "takes 4 operands",
    );
    bad(
        "atom.global.add.u32 r0, [buf], r1, r2",
        "r2",
        "takes 3 operands",
    );
    bad("st.global.u32 [buf]", "st", "takes 2 operands");
}

#[test]
fn declarations() {
    // Duplicate parameter: at the second declaration's name.
    let e = errors(".kernel k\n.param a buf\n.param a u32\nexit\n");
    assert_eq!(e.len(), 1, "{e:?}");
    assert_eq!((e[0].0, e[0].1), (3, 8));
    assert!(e[0].2.contains("duplicate parameter `a`"));
    // Unknown parameter type, reserved names.
    let e = errors(".kernel k\n.param a u33\n.param r1 u32\n.param inf f32\n");
    assert_eq!(
        e.iter().map(|e| (e.0, e.1)).collect::<Vec<_>>(),
        vec![(2, 10), (3, 8), (4, 8)],
        "{e:?}"
    );
    assert!(e[0].2.contains("unknown parameter type `u33`"));
    assert!(e[1].2.contains("reserved"));
    // Duplicate label: at the second one, naming the first line.
    let e = errors(".kernel k\nl: exit\n  l:\nexit\n");
    assert_eq!(e.len(), 1);
    assert_eq!((e[0].0, e[0].1), (3, 3));
    assert!(
        e[0].2
            .contains("duplicate label `l` (first defined on line 2)")
    );
    // Labels are per kernel.
    assert!(compile("t", ".kernel a\nl: exit\n.kernel b\nl: bra l\n").is_ok());
    // Duplicate kernel: at the second name.
    let e = errors(".kernel k\nexit\n.kernel   k\nexit\n");
    assert_eq!((e[0].0, e[0].1), (3, 11));
    assert!(
        e[0].2
            .contains("duplicate kernel `k` (first defined on line 1)")
    );
    // Shared memory: at most 65536 bytes, one directive.
    assert!(compile("t", ".kernel k\n.shared 65536\nexit\n").is_ok());
    assert!(compile("t", ".kernel k\n.shared 0x10000\nexit\n").is_ok());
    let e = errors(".kernel k\n.shared 65537\nexit\n");
    assert_eq!((e[0].0, e[0].1), (2, 9));
    assert!(e[0].2.contains("exceeds the limit of 65536"));
    let e = errors(".kernel k\n.shared 4\n.shared 8\n");
    assert_eq!((e[0].0, e[0].1), (3, 9));
    assert!(e[0].2.contains("duplicate `.shared`"));
    let e = errors(".kernel k\n.shared -4\n");
    assert_eq!((e[0].0, e[0].1), (2, 9));
    let e = errors(".kernel k\n.shared 1.5\n");
    assert!(e[0].2.contains("whole number"));
    // Directives after instructions or labels.
    let e = errors(".kernel k\n.param a u32\nexit\n  .param b u32\n.shared 16\n");
    assert_eq!(
        e.iter().map(|e| (e.0, e.1)).collect::<Vec<_>>(),
        vec![(4, 3), (5, 1)]
    );
    assert!(e[0].2.contains("must come before"));
    let e = errors(".kernel k\nstart:\n.shared 16\n");
    assert_eq!((e[0].0, e[0].1), (3, 1));
    // Reserved names can't be labels a `bra` could name.
    let e = errors(".kernel k\nr1:\nexit\n");
    assert_eq!((e[0].0, e[0].1), (2, 1), "{e:?}");
    assert!(e[0].2.contains("reserved"));
}

#[test]
fn many_errors_in_many_kernels_all_reported_in_line_order() {
    let src = "\
.kernel one
.param a buf
.param a u32
    mov.u8 r0, 256
    frob r1
    add.u32 r0, r1 r2
.kernel two
.shared 70000
    sqrt.u32 r0, r1
loop:
    bra nowhere
loop:
    @p16 exit
.kernel one
    mov.u32 r300, 1
    ld.shared.f32 r0, [buf]
";
    let e = compile("multi.lasm", src).unwrap_err();
    let got: Vec<(u32, u32)> = e.errors.iter().map(|d| (d.span.line, d.span.col)).collect();
    assert_eq!(
        got,
        vec![
            (3, 8),
            (4, 16),
            (5, 5),
            (6, 20),
            (8, 9),
            (9, 10),
            (11, 9),
            (12, 1),
            (13, 5),
            (14, 9),
            (15, 13),
            (16, 24),
        ],
        "{e}"
    );
    let text = e.to_string();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 12);
    assert!(lines[0].starts_with("multi.lasm:3:8: duplicate parameter"));
    assert!(
        lines[11].starts_with("multi.lasm:16:24: unknown name `buf`")
            || lines[11].starts_with("multi.lasm:16:24:")
    );
}

#[test]
fn a_bad_kernel_fails_the_whole_file() {
    // Nothing runs: even the good kernel of a file with an error is not
    // returned.
    let src = ".kernel good\nexit\n.kernel bad\nfrob\n";
    assert!(compile("t", src).is_err());
}

#[test]
fn valid_corner_cases() {
    // A label at the very end, a label before an instruction on the same line,
    // comments of both kinds, blank lines.
    let src = ".kernel k  // c\n; full comment\n\nstart: mov.u32 r0, 1 ; trailing\n@p0 bra end\nbra start\nend:\n";
    let p = compile("t", src).unwrap();
    assert_eq!(p.kernels[0].instrs.len(), 3);
    // CRLF line ends and a leading byte order mark are fine; columns do not
    // count the mark.
    let p = compile("t", "\u{feff}.kernel k\r\n    exit\r\n").unwrap();
    assert_eq!(p.kernels[0].name, "k");
    let e = errors("\u{feff}.kernel k\r\n  frob\r\n");
    assert_eq!((e[0].0, e[0].1), (2, 3));
    let e = errors("\u{feff}mov.u32 r0, 1\n");
    assert_eq!((e[0].0, e[0].1), (1, 1));
    // Every opcode in every allowed type compiles (no false errors).
    let mut body = String::new();
    for t in [
        "u8", "u16", "u32", "u64", "i8", "i16", "i32", "i64", "f32", "f64",
    ] {
        for op in ["add", "sub", "mul", "div", "rem", "min", "max"] {
            body += &format!("{op}.{t} r1, r2, r3\n");
        }
        body += &format!("fma.{t} r1, r2, r3, r4\nmov.{t} r1, n\nselp.{t} r1, r2, 1, p3\n");
        for c in ["eq", "ne", "lt", "le", "gt", "ge"] {
            body += &format!("setp.{c}.{t} p1, r2, %tid.x\n");
        }
        for s in ["global", "shared"] {
            let a = if s == "global" {
                "[buf + r1 + 8]"
            } else {
                "[r1 - 8]"
            };
            body += &format!("ld.{s}.{t} r1, {a}\nst.{s}.{t} {a}, r2\n");
        }
        for u in [
            "u8", "u16", "u32", "u64", "i8", "i16", "i32", "i64", "f32", "f64",
        ] {
            body += &format!("cvt.{t}.{u} r1, r2\n");
        }
    }
    let src = format!("{HEADER}{body}");
    assert!(compile("t", &src).is_ok(), "{:?}", compile("t", &src).err());
}
