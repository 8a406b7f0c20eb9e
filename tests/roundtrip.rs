//! parse -> print -> parse gives the same module (spans aside), printing is
//! idempotent, and compiling the printed text gives identical lowered
//! kernels, over every instruction form and modifier and over random valid
//! programs.

use lanes::asm::{self, Module, OperandKind, Span, Statement};
use lanes::compile;
use proptest::prelude::*;

/// The module with every span set to the default, so modules parsed from
/// differently laid-out text compare equal.
fn strip(m: &Module) -> Module {
    let z = Span::default();
    let mut m = m.clone();
    for k in &mut m.kernels {
        k.span = z;
        for p in &mut k.params {
            p.span = z;
            p.ty_span = z;
        }
        for s in &mut k.shared {
            s.1 = z;
        }
        for s in &mut k.body {
            match s {
                Statement::Label { span, .. } => *span = z,
                Statement::Instr(i) => {
                    i.span = z;
                    i.opcode_span = z;
                    if let Some(g) = &mut i.guard {
                        g.span = z;
                    }
                    for o in &mut i.operands {
                        o.span = z;
                        if let OperandKind::Address(a) = &mut o.kind {
                            if let Some(b) = &mut a.buffer {
                                b.1 = z;
                            }
                            if let Some(r) = &mut a.reg {
                                r.1 = z;
                            }
                            if let Some(d) = &mut a.disp {
                                d.span = z;
                            }
                        }
                    }
                }
            }
        }
    }
    m
}

/// Checks the round trip of `src`, which must be a valid program.
#[track_caller]
fn round_trip(src: &str) {
    let (m1, e1) = asm::parse(src);
    assert!(e1.is_empty(), "parse errors: {e1:?}\n{src}");
    let printed = asm::print(&m1);
    let (m2, e2) = asm::parse(&printed);
    assert!(
        e2.is_empty(),
        "printed text does not parse: {e2:?}\n{printed}"
    );
    assert_eq!(
        strip(&m1),
        strip(&m2),
        "module changed through print:\n{printed}"
    );
    assert_eq!(asm::print(&m2), printed, "printing is not idempotent");

    let p1 = compile("a.lasm", src).unwrap_or_else(|e| panic!("{e}\n{src}"));
    let p2 = compile("b.lasm", &printed).unwrap_or_else(|e| panic!("{e}\n{printed}"));
    assert_eq!(p1.kernels.len(), p2.kernels.len());
    for (k1, k2) in p1.kernels.iter().zip(&p2.kernels) {
        assert_eq!(k1.name, k2.name);
        assert_eq!(k1.params, k2.params);
        assert_eq!(k1.shared_bytes, k2.shared_bytes);
        assert_eq!(k1.buffer_slots, k2.buffer_slots);
        assert_eq!(k1.scalar_slots, k2.scalar_slots);
        assert_eq!(k1.instrs, k2.instrs, "lowered instructions differ");
        let t1: Vec<&str> = k1.lines.iter().map(|l| l.text.as_str()).collect();
        let t2: Vec<&str> = k2.lines.iter().map(|l| l.text.as_str()).collect();
        assert_eq!(t1, t2);
    }
}

const TYPES: [&str; 10] = [
    "u8", "u16", "u32", "u64", "i8", "i16", "i32", "i64", "f32", "f64",
];
const SPECIALS: [&str; 14] = [
    "%tid.x",
    "%tid.y",
    "%tid.z",
    "%ntid.x",
    "%ntid.y",
    "%ntid.z",
    "%ctaid.x",
    "%ctaid.y",
    "%ctaid.z",
    "%nctaid.x",
    "%nctaid.y",
    "%nctaid.z",
    "%laneid",
    "%gid",
];
const CMPS: [&str; 6] = ["eq", "ne", "lt", "le", "gt", "ge"];
const GUARDS: [&str; 4] = ["", "@p0 ", "@!p15 ", "@!p3 "];

const HEADER: &str =
    ".param buf buf\n.param n u32\n.param h i64\n.param x f32\n.param y f64\n.shared 256\n";

/// Source operands valid for type `ty`: registers, special registers, scalar
/// parameters and immediates of every form the type allows.
fn srcs(ty: &str) -> Vec<String> {
    let mut v: Vec<String> = vec![
        "r7".into(),
        "r255".into(),
        "n".into(),
        "h".into(),
        "x".into(),
    ];
    v.extend(SPECIALS.iter().map(|s| s.to_string()));
    let bits: u32 = ty[1..].parse().unwrap();
    match &ty[..1] {
        "u" => {
            v.extend(["0", "1", "0x1F", "0XfF"].map(String::from));
            v.push(
                if bits == 64 {
                    u64::MAX
                } else {
                    (1u64 << bits) - 1
                }
                .to_string(),
            );
        }
        "i" => {
            v.extend(["0", "-1", "0x1F", "-0x10"].map(String::from));
            v.push((-(1i128 << (bits - 1))).to_string());
            v.push(((1i128 << (bits - 1)) - 1).to_string());
            v.push(format!("0x{:X}", (1u128 << bits) - 1));
        }
        _ => {
            v.extend(
                [
                    "1.5", "-2e-3", "inf", "-inf", "nan", "-nan", "3", "-7", ".5", "1E3", "0x10",
                    "1.", "-0.0", "2.5e+2",
                ]
                .map(String::from),
            );
        }
    }
    v
}

fn addrs(space: &str) -> Vec<&'static str> {
    if space == "global" {
        vec![
            "[buf]",
            "[buf + r1]",
            "[buf + 16]",
            "[buf + 0x10]",
            "[buf + r1 + 8]",
            "[buf + r1 - 8]",
            "[buf + r255 - 0xFF]",
            "[ buf+r2+0 ]",
        ]
    } else {
        vec![
            "[r1]", "[16]", "[0x10]", "[r1 + 8]", "[r1 - 8]", "[r3-0x4]", "[0]",
        ]
    }
}

/// Every instruction form: every opcode, every allowed type, every operand
/// kind, every address form, with guards rotating.
fn all_forms() -> Vec<String> {
    let mut out = Vec::new();
    for ty in TYPES {
        let s = srcs(ty);
        let float = ty.starts_with('f');
        let signed = ty.starts_with('i') || float;
        for a in &s {
            out.push(format!("mov.{ty} r1, {a}"));
        }
        for space in ["global", "shared"] {
            for ad in addrs(space) {
                out.push(format!("ld.{space}.{ty} r2, {ad}"));
                out.push(format!("st.{space}.{ty} {ad}, r3"));
            }
            out.push(format!(
                "st.{space}.{ty} {}, {}",
                addrs(space)[1],
                s[s.len() - 1]
            ));
        }
        for from in TYPES {
            out.push(format!("cvt.{ty}.{from} r3, r4"));
            out.push(format!(
                "cvt.{ty}.{from} r3, {}",
                srcs(from).last().unwrap()
            ));
        }
        for op in ["add", "sub", "mul", "div", "rem", "min", "max"] {
            for (i, a) in s.iter().enumerate() {
                out.push(format!("{op}.{ty} r4, {a}, {}", s[(i * 7 + 3) % s.len()]));
            }
        }
        out.push(format!("fma.{ty} r5, r1, {}, {}", s[2], s[s.len() - 1]));
        if signed {
            for op in ["neg", "abs"] {
                out.push(format!("{op}.{ty} r6, r7"));
                out.push(format!("{op}.{ty} r6, {}", s[s.len() - 2]));
            }
        }
        if float {
            for op in [
                "sqrt", "rsqrt", "exp", "exp2", "log", "log2", "sin", "cos", "tanh", "floor",
                "ceil",
            ] {
                out.push(format!("{op}.{ty} r8, r9"));
                out.push(format!("{op}.{ty} r8, -2e-3"));
            }
        } else {
            for op in ["and", "or", "xor", "shl", "shr"] {
                out.push(format!("{op}.{ty} r10, r11, {}", s[s.len() - 1]));
                out.push(format!("{op}.{ty} r10, %laneid, r12"));
            }
            out.push(format!("not.{ty} r13, r14"));
            out.push(format!("not.{ty} r13, {}", s[s.len() - 1]));
        }
        for c in CMPS {
            out.push(format!("setp.{c}.{ty} p1, r1, {}", s[s.len() - 1]));
            out.push(format!("setp.{c}.{ty} p15, {}, r2", s[3]));
        }
        out.push(format!("selp.{ty} r15, r16, {}, p2", s[s.len() - 1]));
        if ["u32", "i32", "u64", "i64", "f32", "f64"].contains(&ty) {
            for space in ["global", "shared"] {
                for op in ["add", "min", "max", "exch"] {
                    for ad in addrs(space) {
                        out.push(format!("atom.{space}.{op}.{ty} r17, {ad}, r18"));
                    }
                    out.push(format!(
                        "atom.{space}.{op}.{ty} r17, {}, {}",
                        addrs(space)[0],
                        s[s.len() - 1]
                    ));
                }
                if !float {
                    for ad in addrs(space) {
                        out.push(format!(
                            "atom.{space}.cas.{ty} r19, {ad}, r20, {}",
                            s[s.len() - 1]
                        ));
                    }
                }
            }
        }
    }
    for op in ["and", "or", "xor"] {
        out.push(format!("{op}.pred p1, p2, p3"));
    }
    out.push("not.pred p4, p5".into());
    out.push("bra top".into());
    out.push("bra end".into());
    out.push("bar.sync".into());
    out.push("exit".into());
    // Guards on every form, rotating.
    out.iter()
        .enumerate()
        .map(|(i, l)| format!("{}{l}", GUARDS[i % GUARDS.len()]))
        .collect()
}

#[test]
fn every_form_round_trips() {
    let forms = all_forms();
    assert!(forms.len() > 2000, "{}", forms.len());
    let mut src = format!(".kernel every\n{HEADER}top:\n");
    for (i, f) in forms.iter().enumerate() {
        // Labels on their own line and before an instruction.
        match i % 97 {
            0 => src += &format!("l{i}:\n    {f}\n"),
            50 => src += &format!("l{i}: {f}\n"),
            _ => src += &format!("    {f}\n"),
        }
    }
    src += "end:\n";
    src += "\n.kernel second\n.param q buf\n    ld.global.u8 r0, [q]\nend:\n";
    round_trip(&src);
    let p = compile("t", &src).unwrap();
    assert_eq!(p.kernels[0].instrs.len(), forms.len());
}

#[test]
fn printer_output_is_canonical() {
    let src = ".kernel   k   // comment\n\
               .param\tb   buf\n\
               .shared 0x20\n\
               \tloop:   @!p1   add.u32 r1 ,r2,  -0x1f ; c\n\
               ld.global.f32 r1,[ b+r2-0x10 ]\n\
               mov.f64 r0, - inf\n\
               st.shared.u8 [ 4 ] , r0\n\
               @ ! p2 bra loop\n";
    let (m, e) = asm::parse(src);
    assert!(e.is_empty(), "{e:?}");
    assert_eq!(
        asm::print(&m),
        ".kernel k\n.param b buf\n.shared 32\nloop:\n    @!p1 add.u32 r1, r2, -0x1F\n    \
         ld.global.f32 r1, [b + r2 - 0x10]\n    mov.f64 r0, -inf\n    st.shared.u8 [4], r0\n    \
         @!p2 bra loop\n"
    );
}

#[test]
fn source_lines_keep_canonical_text_and_line_numbers() {
    let src = ".kernel k\n.param b buf\n\n  // c\nl:   st.global.u32 [b+4],   7\n\n@p1 exit\n";
    let p = compile("t", src).unwrap();
    let k = &p.kernels[0];
    assert_eq!(k.lines[0].line, 5);
    assert_eq!(k.lines[0].text, "st.global.u32 [b + 4], 7");
    assert_eq!(k.lines[1].line, 7);
    assert_eq!(k.lines[1].text, "@p1 exit");
}

/// A deterministic generator of valid instruction lines.
struct Gen(u64);

impl Gen {
    fn next(&mut self) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        let x = self.0;
        (x ^ (x >> 29)).wrapping_mul(0xBF58_476D_1CE4_E5B9) >> 7
    }
    fn pick<'a, T>(&mut self, v: &'a [T]) -> &'a T {
        &v[(self.next() % v.len() as u64) as usize]
    }
}

fn random_program(seed: u64, len: usize, kernels: usize) -> String {
    let forms = all_forms();
    let mut g = Gen(seed);
    let spaces = ["", " ", "\t", "   "];
    let comments = ["", " // note", " ; x", "// ; both"];
    let mut src = String::new();
    for k in 0..kernels {
        src += &format!(".kernel k{k}\n{HEADER}");
        src += "top:\n";
        for i in 0..len {
            let f = g.pick(&forms).clone();
            let sp = *g.pick(&spaces);
            let c = *g.pick(&comments);
            match g.next() % 10 {
                0 => src += &format!("lab{i}:{c}\n"),
                1 => src += &format!("{sp}lab{i}:{sp}{f}{c}\n"),
                2 => src += &format!("{c}\n"),
                _ => src += &format!("{sp}{f}{sp}{c}\n"),
            }
        }
        src += "end:\n";
    }
    src
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn random_programs_round_trip(seed in any::<u64>(), len in 0usize..60, kernels in 1usize..4) {
        round_trip(&random_program(seed, len, kernels));
    }
}
