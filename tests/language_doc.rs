//! `docs/LANGUAGE.md` is executable: every `lasm` example compiles and runs
//! with the inputs and results its text states (on every engine), every
//! `lasm-invalid` example fails with the diagnostics of the `text` block
//! after it, every shell command runs as written, and the kernels in
//! `docs/examples/` are the document's. The README's `lanes run` and
//! `lanes check` commands run too.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use lanes::{Buffer, Dim3, Engine, Kernel, LaunchError, Runtime};

/// A fenced block of a markdown file.
#[derive(Debug)]
struct Block {
    info: String,
    text: String,
    line: usize,
}

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn blocks(file: &str) -> Vec<Block> {
    let text = std::fs::read_to_string(repo().join(file)).unwrap();
    let mut out = Vec::new();
    let mut open: Option<Block> = None;
    for (i, line) in text.lines().enumerate() {
        match (&mut open, line.strip_prefix("```")) {
            (None, Some(info)) => {
                open = Some(Block {
                    info: info.trim().to_string(),
                    text: String::new(),
                    line: i + 1,
                })
            }
            (Some(_), Some("")) => out.extend(open.take()),
            (Some(b), _) => {
                b.text.push_str(line);
                b.text.push('\n');
            }
            (None, None) => {}
        }
    }
    assert!(open.is_none(), "{file}: a fenced block is not closed");
    out
}

/// The `text` block right after block `i`.
fn text_after(blocks: &[Block], i: usize) -> &str {
    match blocks.get(i + 1) {
        Some(b) if b.info == "text" => b.text.trim_end(),
        _ => panic!(
            "the block at line {} needs a `text` block after it",
            blocks[i].line
        ),
    }
}

const ENGINES: [Engine; 3] = [Engine::Pool, Engine::Reference, Engine::Jit];

type Check = fn(&Runtime, &std::sync::Arc<Kernel>, Engine, Option<&str>);

fn f32s(rt: &Runtime, v: impl IntoIterator<Item = f32>) -> Buffer<f32> {
    rt.buffer_from(&v.into_iter().collect::<Vec<_>>()).unwrap()
}

fn u32s(rt: &Runtime, v: impl IntoIterator<Item = u32>) -> Buffer<u32> {
    rt.buffer_from(&v.into_iter().collect::<Vec<_>>()).unwrap()
}

/// The checks of the examples, by kernel name: each builds the inputs its
/// text describes and asserts the results it states.
fn checks() -> HashMap<&'static str, Check> {
    let mut c: HashMap<&'static str, Check> = HashMap::new();
    c.insert("vector_add", |rt, k, engine, _| {
        let a = f32s(rt, (0..1000).map(|i| i as f32));
        let b = f32s(rt, (0..1000).map(|i| 2.0 * i as f32));
        let out = rt.buffer_zeroed::<f32>(1000).unwrap();
        k.launch(Dim3::x(4), Dim3::x(256))
            .arg(&a)
            .arg(&b)
            .arg(&out)
            .arg(1000u32)
            .engine(engine)
            .run(rt)
            .unwrap();
        assert_eq!(
            out.read().unwrap(),
            (0..1000).map(|i| 3.0 * i as f32).collect::<Vec<_>>()
        );
    });
    c.insert("iota", |rt, k, engine, _| {
        let out = rt.buffer_zeroed::<f32>(1000).unwrap();
        k.launch(Dim3::x(4), Dim3::x(256))
            .arg(&out)
            .arg(2.0f32)
            .arg(1000u32)
            .engine(engine)
            .run(rt)
            .unwrap();
        assert_eq!(
            out.read().unwrap(),
            (0..1000).map(|i| 2.0 * i as f32).collect::<Vec<_>>()
        );
    });
    c.insert("two_barriers", |rt, k, engine, _| {
        let out = rt.buffer_zeroed::<u32>(64).unwrap();
        k.launch(Dim3::x(1), Dim3::x(64))
            .arg(&out)
            .engine(engine)
            .run(rt)
            .unwrap();
        let mut want = vec![42u32; 64];
        want[0] = 0;
        assert_eq!(out.read().unwrap(), want);
    });
    c.insert("block_sums", |rt, k, engine, _| {
        let x: Vec<f32> = (0..1000).map(|i| (i % 7) as f32).collect();
        let bx = rt.buffer_from(&x).unwrap();
        let out = rt.buffer_zeroed::<f32>(4).unwrap();
        k.launch(Dim3::x(4), Dim3::x(256))
            .arg(&bx)
            .arg(&out)
            .arg(1000u32)
            .engine(engine)
            .run(rt)
            .unwrap();
        let want: Vec<f32> = x.chunks(256).map(|c| c.iter().sum()).collect();
        assert_eq!(out.read().unwrap(), want);
    });
    c.insert("past_the_end", |rt, k, engine, message| {
        let x = f32s(rt, [1.0, 2.0, 3.0]);
        let err = k
            .launch(Dim3::x(1), Dim3::x(4))
            .arg(&x)
            .engine(engine)
            .run(rt)
            .unwrap_err();
        assert!(matches!(err, LaunchError::Fault(_)));
        assert_eq!(Some(err.to_string().as_str()), message);
    });
    c.insert("axpy", |rt, k, engine, _| {
        let x = f32s(rt, (0..300).map(|i| i as f32));
        let y = f32s(rt, [1.0; 300]);
        k.launch(Dim3::x(2), Dim3::x(256))
            .arg(2.0f32)
            .arg(&x)
            .arg(&y)
            .arg(300u32)
            .engine(engine)
            .run(rt)
            .unwrap();
        assert_eq!(
            y.read().unwrap(),
            (0..300).map(|i| 2.0 * i as f32 + 1.0).collect::<Vec<_>>()
        );
    });
    c.insert("brighten", |rt, k, engine, _| {
        let px = rt.buffer_from(&[0u8, 200, 230, 215, 255]).unwrap();
        k.launch(Dim3::x(1), Dim3::x(32))
            .arg(&px)
            .arg(5u32)
            .engine(engine)
            .run(rt)
            .unwrap();
        assert_eq!(px.read().unwrap(), [40, 240, 255, 255, 255]);
    });
    c.insert("transpose", |rt, k, engine, _| {
        let (rows, cols) = (20u32, 35u32);
        let m = u32s(
            rt,
            (0..rows).flat_map(|r| (0..cols).map(move |c| 100 * r + c)),
        );
        let t = rt.buffer_zeroed::<u32>((rows * cols) as usize).unwrap();
        k.launch(Dim3::new(3, 2, 1), Dim3::new(16, 16, 1))
            .arg(&m)
            .arg(&t)
            .arg(rows)
            .arg(cols)
            .engine(engine)
            .run(rt)
            .unwrap();
        let want: Vec<u32> = (0..cols)
            .flat_map(|c| (0..rows).map(move |r| 100 * r + c))
            .collect();
        assert_eq!(t.read().unwrap(), want);
    });
    c.insert("histogram", |rt, k, engine, _| {
        let x = u32s(rt, (0..1000).map(|i| i % 10));
        let bins = rt.buffer_zeroed::<u32>(10).unwrap();
        k.launch(Dim3::x(4), Dim3::x(256))
            .arg(&x)
            .arg(&bins)
            .arg(1000u32)
            .engine(engine)
            .run(rt)
            .unwrap();
        assert_eq!(bins.read().unwrap(), [100; 10]);
    });
    c.insert("collatz", |rt, k, engine, _| {
        let steps = rt.buffer_zeroed::<u32>(1000).unwrap();
        k.launch(Dim3::x(4), Dim3::x(256))
            .arg(&steps)
            .arg(1000u32)
            .engine(engine)
            .run(rt)
            .unwrap();
        let collatz = |mut v: u64| {
            let mut s = 0;
            while v > 1 {
                v = if v % 2 == 0 { v / 2 } else { 3 * v + 1 };
                s += 1;
            }
            s
        };
        let got = steps.read().unwrap();
        assert_eq!(got, (1..=1000).map(collatz).collect::<Vec<u32>>());
        assert_eq!((got[0], got[1], got[2], got[26]), (0, 1, 7, 111));
    });
    c.insert("first_wins", |rt, k, engine, _| {
        let winner = rt.buffer_zeroed::<u32>(1).unwrap();
        k.launch(Dim3::x(3), Dim3::x(100))
            .arg(&winner)
            .engine(engine)
            .run(rt)
            .unwrap();
        let w = winner.read().unwrap()[0];
        assert!((1..=300).contains(&w), "{w}");
    });
    c
}

#[test]
fn every_lasm_example_runs_as_its_text_says() {
    let doc = blocks("docs/LANGUAGE.md");
    let checks = checks();
    let rt = Runtime::new();
    let mut seen = Vec::new();
    for (i, b) in doc.iter().enumerate() {
        if b.info != "lasm" {
            continue;
        }
        let program = rt
            .compile("example.lasm", &b.text)
            .unwrap_or_else(|d| panic!("the example at line {} does not compile:\n{d}", b.line));
        for k in &program.kernels {
            let check = checks
                .get(k.name.as_str())
                .unwrap_or_else(|| panic!("no check for example `{}` (line {})", k.name, b.line));
            let message = doc
                .get(i + 1)
                .filter(|n| n.info == "text")
                .map(|n| n.text.trim_end());
            for engine in ENGINES {
                check(&rt, k, engine, message);
            }
            seen.push(k.name.clone());
        }
    }
    let mut unused: Vec<&&str> = checks
        .keys()
        .filter(|k| !seen.iter().any(|s| s == *k))
        .collect();
    unused.sort();
    assert!(
        unused.is_empty(),
        "checks for examples the document no longer has: {unused:?}"
    );
}

#[test]
fn invalid_examples_fail_with_the_documented_diagnostics() {
    let doc = blocks("docs/LANGUAGE.md");
    let mut count = 0;
    for (i, b) in doc
        .iter()
        .enumerate()
        .filter(|(_, b)| b.info == "lasm-invalid")
    {
        let err = lanes::compile("example.lasm", &b.text).unwrap_err();
        assert_eq!(err.to_string(), text_after(&doc, i), "line {}", b.line);
        count += 1;
    }
    assert!(count > 0);
}

#[test]
fn the_example_files_are_the_documents_examples() {
    let doc = blocks("docs/LANGUAGE.md");
    let dir = repo().join("docs/examples");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    assert!(!files.is_empty());
    for f in files {
        let text = std::fs::read_to_string(&f).unwrap();
        assert!(
            doc.iter().any(|b| b.info == "lasm" && b.text == text),
            "{} is not, verbatim, an example of docs/LANGUAGE.md",
            f.display()
        );
    }
}

/// Runs the `lanes` commands of `file`'s `sh` blocks (lines starting with
/// `cargo run --release -- run` or `-- check`, joined over `\`) in a fresh
/// directory, with the repository's paths made absolute.
fn run_commands(file: &str, in_dir: &Path) -> usize {
    let mut ran = 0;
    for b in blocks(file).iter().filter(|b| b.info == "sh") {
        let joined = b.text.replace("\\\n", " ");
        for line in joined.lines() {
            let line = line.split('#').next().unwrap_or("").trim();
            let Some(rest) = line.strip_prefix("cargo run --release -- ") else {
                continue;
            };
            if !(rest.starts_with("run ") || rest.starts_with("check ")) {
                continue;
            }
            let args: Vec<String> = rest
                .split_whitespace()
                .map(|a| {
                    if a.starts_with("docs/") || a.starts_with("tests/") {
                        repo().join(a).to_string_lossy().into_owned()
                    } else {
                        a.to_string()
                    }
                })
                .collect();
            let out = Command::new(env!("CARGO_BIN_EXE_lanes"))
                .args(&args)
                .current_dir(in_dir)
                .output()
                .unwrap();
            assert!(
                out.status.success(),
                "{file} (block at line {}): `{line}` failed:\n{}",
                b.line,
                String::from_utf8_lossy(&out.stderr)
            );
            ran += 1;
        }
    }
    ran
}

fn read_f32s(path: &Path) -> Vec<f32> {
    let a = lanes::npy::read(path).unwrap();
    a.bytes
        .chunks_exact(4)
        .map(|c| f32::from_le_bytes(c.try_into().unwrap()))
        .collect()
}

#[test]
fn the_documents_commands_run_as_written() {
    let dir = tempfile::tempdir().unwrap();
    assert_eq!(run_commands("docs/LANGUAGE.md", dir.path()), 4);
    let c = read_f32s(&dir.path().join("c.npy"));
    assert_eq!(c, (0..1000).map(|i| 3.0 * i as f32).collect::<Vec<_>>());
}

#[test]
fn the_readmes_run_and_check_commands_run_as_written() {
    let dir = tempfile::tempdir().unwrap();
    assert!(run_commands("README.md", dir.path()) >= 2);
}

#[test]
fn the_readmes_library_lines_are_the_custom_kernel_example() {
    let readme = blocks("README.md");
    let snippet = readme
        .iter()
        .find(|b| b.info == "rust")
        .expect("the README shows the library in a rust block");
    let example = std::fs::read_to_string(repo().join("examples/custom_kernel.rs")).unwrap();
    let trimmed = |t: &str| -> Vec<String> {
        t.lines()
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .map(String::from)
            .collect()
    };
    let (want, have) = (trimmed(&snippet.text), trimmed(&example));
    assert!(
        have.windows(want.len()).any(|w| w == want.as_slice()),
        "README.md's rust block (line {}) is not, line for line, in examples/custom_kernel.rs",
        snippet.line
    );
}
