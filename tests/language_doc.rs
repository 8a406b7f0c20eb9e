//! `docs/LANGUAGE.md` is executable: every `lasm` example compiles and runs
//! with the inputs and results its text states (on every engine), every
//! `lasm-invalid` example fails with the diagnostics of the `text` block
//! after it, every shell command runs as written, and the kernels in
//! `docs/examples/` are the document's. The README's `lanes run` and
//! `lanes check` commands run too, and every other command of README.md and
//! docs/ is checked for what it names (a `lanes` command line parses, the
//! examples, benches, tests, fuzz targets and scripts exist).

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

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
            .jit_wait(Duration::MAX)
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
            .jit_wait(Duration::MAX)
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
            .jit_wait(Duration::MAX)
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
            .jit_wait(Duration::MAX)
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
            .jit_wait(Duration::MAX)
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
            .jit_wait(Duration::MAX)
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
            .jit_wait(Duration::MAX)
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
            .jit_wait(Duration::MAX)
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
            .jit_wait(Duration::MAX)
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
            .jit_wait(Duration::MAX)
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
            .jit_wait(Duration::MAX)
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
    assert_eq!(run_commands("docs/LANGUAGE.md", dir.path()), 5);
    let c = read_f32s(&dir.path().join("c.npy"));
    assert_eq!(c, (0..1000).map(|i| 3.0 * i as f32).collect::<Vec<_>>());
    let d = read_f32s(&dir.path().join("d.npy"));
    assert_eq!(d, (0..1000).map(|i| i as f32 + 0.5).collect::<Vec<_>>());
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

/// A shell command of a document: where it is, and its words (joined over
/// `\`, without its comment).
#[derive(Debug)]
struct ShellCommand {
    file: String,
    line: usize,
    /// The fenced block it is in (a `cd` holds until the block ends), or
    /// `None` inline.
    block: Option<usize>,
    words: Vec<String>,
}

/// The commands of `file`: every line of its `sh` blocks (indented ones,
/// in list items, too), and every inline code span that starts with
/// `cargo ` or `lanes ` and gives arguments rather than placeholders
/// (`lanes soak --seconds N` and a bare `lanes run` name a command, they do
/// not run one).
fn documented_commands(file: &str) -> Vec<ShellCommand> {
    let text = std::fs::read_to_string(repo().join(file)).unwrap();
    let mut out = Vec::new();
    let mut prose = String::new();
    let mut fence: Option<String> = None;
    let mut blocks = 0;
    let mut pending: Option<(usize, String)> = None;
    for (i, line) in text.lines().enumerate() {
        let trimmed = line.trim_start();
        if let Some(info) = trimmed.strip_prefix("```") {
            fence = match fence {
                None => {
                    blocks += 1;
                    Some(info.trim().to_string())
                }
                Some(_) => None,
            };
            prose.push('\n');
            continue;
        }
        match fence.as_deref() {
            Some("sh") => {
                prose.push('\n');
                let code = trimmed.split(" #").next().unwrap_or("");
                let code = if code.starts_with('#') { "" } else { code };
                let (start, mut joined) = pending.take().unwrap_or((i + 1, String::new()));
                match code.trim_end().strip_suffix('\\') {
                    Some(head) => {
                        joined.push_str(head);
                        joined.push(' ');
                        pending = Some((start, joined));
                    }
                    None => {
                        joined.push_str(code);
                        let words = shell_words(&joined);
                        if !words.is_empty() {
                            out.push(ShellCommand {
                                file: file.to_string(),
                                line: start,
                                block: Some(blocks),
                                words,
                            });
                        }
                    }
                }
            }
            Some(_) => prose.push('\n'),
            None => {
                prose.push_str(line);
                prose.push('\n');
            }
        }
    }
    // Inline spans may wrap over lines of a paragraph.
    let mut line = 1;
    for (n, part) in prose.split('`').enumerate() {
        let words: Vec<String> = part.split_whitespace().map(String::from).collect();
        let placeholder = words.iter().any(|w| {
            w.contains("/check") || (w.chars().all(|c| c.is_ascii_uppercase()) && !w.is_empty())
        });
        if n % 2 == 1
            && matches!(words.first().map(String::as_str), Some("cargo" | "lanes"))
            && !(words[0] == "lanes" && words.len() <= 2)
            && !placeholder
        {
            out.push(ShellCommand {
                file: file.to_string(),
                line,
                block: None,
                words,
            });
        }
        line += part.matches('\n').count();
    }
    out
}

/// `text` split into words at blanks outside double quotes, the quotes
/// removed (`A="x y" b`: `A=x y`, `b`).
fn shell_words(text: &str) -> Vec<String> {
    let mut words = Vec::new();
    let mut word: Option<String> = None;
    let mut quoted = false;
    for c in text.chars() {
        match c {
            '"' => {
                quoted = !quoted;
                word.get_or_insert_with(String::new);
            }
            c if c.is_whitespace() && !quoted => words.extend(word.take()),
            c => word.get_or_insert_with(String::new).push(c),
        }
    }
    words.extend(word);
    words
}

/// The words after `flag` (`--test a --test b`: a, b).
fn values_of<'a>(words: &'a [String], flag: &str) -> Vec<&'a str> {
    words
        .windows(2)
        .filter(|w| w[0] == flag)
        .map(|w| w[1].as_str())
        .collect()
}

/// Checks what a documented command names without running it (the `run`
/// and `check` commands run in the tests above): a `lanes` command line
/// parses with the binary's own parser, and every example, bench, test
/// file, test name, fuzz target and script it names exists. `cwd` follows
/// the block's `cd`. A command of a kind this does not know is an error, so
/// that a new one gets a check.
fn check_command(cmd: &ShellCommand, cwd: &mut PathBuf) -> Result<(), String> {
    use clap::Parser;
    let exists = |path: PathBuf| -> Result<(), String> {
        if path.exists() {
            Ok(())
        } else {
            Err(format!("{} does not exist", path.display()))
        }
    };
    let lanes_args = |args: &[String]| -> Result<(), String> {
        let argv = std::iter::once("lanes").chain(args.iter().map(String::as_str));
        lanes::cli::Cli::try_parse_from(argv)
            .map(drop)
            .map_err(|e| e.to_string())
    };
    // Environment assignments before the program.
    let words: Vec<String> = cmd
        .words
        .iter()
        .skip_while(|w| w.contains('=') && !w.starts_with('-'))
        .cloned()
        .collect();
    let Some(program) = words.first() else {
        return Ok(());
    };
    match program.as_str() {
        "lanes" => lanes_args(&words[1..]),
        "cd" => {
            *cwd = cwd.join(&words[1]);
            exists(cwd.clone())
        }
        "bash" => exists(cwd.join(&words[1])),
        "valgrind" => {
            let binary = words
                .iter()
                .find_map(|w| w.strip_prefix("target/release/examples/"))
                .ok_or("valgrind runs no example")?;
            exists(repo().join("examples").join(format!("{binary}.rs")))
        }
        // Toolchain setup and the environment of the commands after it.
        "rustup" | "export" => Ok(()),
        // The MPI packages the `mpi` feature builds against.
        "apt-get" => match words.get(1).map(String::as_str) {
            Some("install") => Ok(()),
            other => Err(format!("apt-get {other:?}")),
        },
        // `mpirun [OPTIONS] target/release/lanes ARGS`: the lanes command
        // line parses.
        "mpirun" => match words.iter().position(|w| w.ends_with("/lanes")) {
            Some(i) => lanes_args(&words[i + 1..]),
            None => Err("mpirun runs no lanes binary".to_string()),
        },
        // The Python package's tools: the files they name exist (the
        // virtual environment is made by `bash test.sh`).
        "source" => match words.get(1) {
            Some(w) if w.starts_with("target/python-venv/") => Ok(()),
            other => Err(format!("source of an unknown script {other:?}")),
        },
        "maturin" => {
            let manifest = values_of(&words[1..], "-m");
            let [m] = manifest.as_slice() else {
                return Err("maturin names no `-m` manifest".to_string());
            };
            exists(repo().join(m))
        }
        "python" | "python3" => {
            let args: Vec<&String> = words[1..].iter().collect();
            match args.first().map(|w| w.as_str()) {
                Some("-m") => {
                    let paths: Vec<&&String> = args
                        .iter()
                        .skip(2)
                        .filter(|w| !w.starts_with('-'))
                        .collect();
                    paths.iter().try_for_each(|p| exists(repo().join(p)))
                }
                Some(script) => exists(repo().join(script)),
                None => Err("python runs nothing".to_string()),
            }
        }
        "cargo" => {
            let rest: Vec<String> = words[1..]
                .iter()
                .filter(|w| !w.starts_with('+'))
                .cloned()
                .collect();
            let (cargo_args, after) = match rest.iter().position(|w| w == "--") {
                Some(i) => (&rest[..i], &rest[i + 1..]),
                None => (&rest[..], &[][..]),
            };
            let package = match values_of(cargo_args, "-p").first() {
                Some(&"lanes-scheduler") => repo().join("scheduler"),
                // `cd fuzz` first: the fuzz crate (outside the workspace).
                None if cwd.ends_with("fuzz") => cwd.clone(),
                Some(&"lanes") | None => repo(),
                Some(other) => return Err(format!("unknown package `{other}`")),
            };
            let sub = cargo_args.first().map(String::as_str);
            for example in values_of(cargo_args, "--example") {
                exists(package.join("examples").join(format!("{example}.rs")))?;
            }
            for bench in values_of(cargo_args, "--bench") {
                exists(package.join("benches").join(format!("{bench}.rs")))?;
            }
            let tests = values_of(cargo_args, "--test");
            for test in &tests {
                exists(package.join("tests").join(format!("{test}.rs")))?;
            }
            match sub {
                Some("run") if values_of(cargo_args, "--example").is_empty() => lanes_args(after),
                Some("run" | "build" | "bench") => Ok(()),
                Some("install") => (rest.get(1).map(String::as_str) == Some("cargo-fuzz"))
                    .then_some(())
                    .ok_or_else(|| "installs an unknown tool".to_string()),
                Some("fuzz") => match cargo_args.get(1).map(String::as_str) {
                    // The one target named (flags and their values aside).
                    Some("run" | "build" | "fmt" | "tmin") => {
                        let takes_value = ["-s", "--sanitizer", "--target-dir"];
                        let target = cargo_args[2..]
                            .iter()
                            .enumerate()
                            .find(|&(i, w)| {
                                !w.starts_with('-')
                                    && (i == 0
                                        || !takes_value.contains(&cargo_args[i + 1].as_str()))
                            })
                            .map(|(_, w)| w)
                            .ok_or("names no fuzz target")?;
                        exists(cwd.join("fuzz_targets").join(format!("{target}.rs")))
                    }
                    _ => Err("an unknown cargo fuzz command".to_string()),
                },
                Some("test" | "miri") => {
                    // Test names after `--` (not flags, not `--skip`'s value)
                    // appear in the files they filter.
                    let mut files: Vec<PathBuf> = tests
                        .iter()
                        .map(|t| package.join("tests").join(format!("{t}.rs")))
                        .collect();
                    if cargo_args.iter().any(|w| w == "--lib") {
                        files.push(package.join("src"));
                    }
                    // `cargo test --lib NAME` and `cargo test -- NAME`.
                    let takes_value = ["-p", "--test", "--target", "--skip", "--features"];
                    let skip = if sub == Some("miri") { 2 } else { 1 };
                    let names = |words: &[String]| -> Vec<String> {
                        words
                            .iter()
                            .enumerate()
                            .filter(|&(i, w)| {
                                !w.starts_with('-')
                                    && (i == 0 || !takes_value.contains(&words[i - 1].as_str()))
                            })
                            .map(|(_, w)| w.clone())
                            .collect()
                    };
                    let mut filters = names(&cargo_args[skip.min(cargo_args.len())..]);
                    filters.extend(names(after));
                    for name in &filters {
                        // `engine::tests`: a module `engine` that
                        // mentions `tests`.
                        let (path, last) = name.rsplit_once("::").unwrap_or(("", name));
                        let files: Vec<PathBuf> = if path.is_empty() {
                            files.clone()
                        } else {
                            let module = package.join("src").join(path.replace("::", "/"));
                            vec![module.with_extension("rs"), module]
                        };
                        if !files.iter().any(|f| f.exists() && mentions(f, last)) {
                            return Err(format!("no test named like `{name}` in {files:?}"));
                        }
                    }
                    Ok(())
                }
                _ => Err("an unknown cargo command".to_string()),
            }
        }
        // A fuzz target's binary, run without `cargo fuzz` (from `fuzz/`).
        binary if binary.contains("/release/") && cwd.ends_with("fuzz") => {
            let target = binary.rsplit('/').next().unwrap_or_default();
            exists(cwd.join("fuzz_targets").join(format!("{target}.rs")))
        }
        _ => Err("an unknown program".to_string()),
    }
}

/// Whether the file (or any `.rs` file under the directory) mentions `word`.
fn mentions(path: &Path, word: &str) -> bool {
    if path.is_dir() {
        std::fs::read_dir(path)
            .unwrap()
            .any(|e| mentions(&e.unwrap().path(), word))
    } else {
        path.extension().is_some_and(|e| e == "rs")
            && std::fs::read_to_string(path).is_ok_and(|t| t.contains(word))
    }
}

#[test]
fn every_documented_command_names_what_exists() {
    let mut files = vec!["README.md".to_string()];
    let mut docs: Vec<String> = std::fs::read_dir(repo().join("docs"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "md"))
        .map(|p| format!("docs/{}", p.file_name().unwrap().to_string_lossy()))
        .collect();
    docs.sort();
    files.extend(docs);
    let mut checked = 0;
    let mut failures = Vec::new();
    for file in &files {
        let mut cwd = repo();
        let mut block = None;
        for cmd in documented_commands(file) {
            // A block's `cd` holds for the rest of that block only.
            if cmd.block != block || cmd.block.is_none() {
                cwd = repo();
                block = cmd.block;
            }
            if let Err(e) = check_command(&cmd, &mut cwd) {
                failures.push(format!(
                    "{}:{}: `{}`: {e}",
                    cmd.file,
                    cmd.line,
                    cmd.words.join(" ")
                ));
            }
            checked += 1;
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    assert!(checked >= 40, "only {checked} commands found");
}
