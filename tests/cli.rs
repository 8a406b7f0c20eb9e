//! The `lanes` binary end to end: real kernels, real `.npy` files (written
//! and read with npyz), exit statuses and messages (docs/LANGUAGE.md section 8).

use std::path::{Path, PathBuf};
use std::process::Command;

use npyz::WriterBuilder;

const VECTOR_ADD: &str = "tests/data/vector_add.lasm";
const BLOCK_SUM: &str = "tests/data/block_sum.lasm";
const MULTI: &str = "tests/data/cli/multi.lasm";
const SYNTAX_ERROR: &str = "tests/data/cli/syntax_error.lasm";

struct Output {
    code: i32,
    stdout: String,
    stderr: String,
}

/// Runs `lanes ARGS` in the crate root, so fixture paths are relative.
fn lanes(args: &[&str]) -> Output {
    let out = Command::new(env!("CARGO_BIN_EXE_lanes"))
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("the lanes binary runs");
    let output = Output {
        code: out
            .status
            .code()
            .expect("lanes exits normally, not by a signal"),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    };
    assert!(
        !output.stderr.contains("panicked"),
        "lanes panicked: {}",
        output.stderr
    );
    output
}

fn assert_exit(out: &Output, code: i32) {
    assert_eq!(
        out.code, code,
        "exit status\nstdout:\n{}\nstderr:\n{}",
        out.stdout, out.stderr
    );
}

/// Asserts a usage-type failure: exit 2 and an `error:` line mentioning `what`.
fn assert_usage_error(out: &Output, what: &str) {
    assert_exit(out, 2);
    assert!(out.stderr.contains("error"), "stderr: {}", out.stderr);
    assert!(
        out.stderr.contains(what),
        "stderr should mention {what:?}: {}",
        out.stderr
    );
}

struct Dir(tempfile::TempDir);

impl Dir {
    fn new() -> Dir {
        Dir(tempfile::tempdir().unwrap())
    }

    fn path(&self, name: &str) -> String {
        self.0.path().join(name).to_str().unwrap().to_string()
    }

    fn save<T: npyz::AutoSerialize + Copy>(&self, name: &str, values: &[T]) -> String {
        let path = self.path(name);
        npyz::to_file_1d(&path, values.iter().copied()).unwrap();
        path
    }
}

fn load<T: npyz::Deserialize>(path: impl AsRef<Path>) -> (Vec<u64>, String, Vec<T>) {
    let file = std::fs::File::open(path).unwrap();
    let npy = npyz::NpyFile::new(std::io::BufReader::new(file)).unwrap();
    let shape = npy.shape().to_vec();
    let descr = npy.dtype().descr();
    (shape, descr, npy.into_vec().unwrap())
}

fn inputs(n: usize) -> (Vec<f32>, Vec<f32>) {
    let a = (0..n).map(|i| i as f32 * 0.37 - 11.0).collect();
    let b = (0..n).map(|i| 1.0 / (i as f32 + 0.5)).collect();
    (a, b)
}

/// The arguments of a vector_add run over `n` elements, saving `c`.
fn vector_add_args(dir: &Dir, n: usize, c_len: usize) -> Vec<String> {
    let (a, b) = inputs(n);
    vec![
        "run".into(),
        VECTOR_ADD.into(),
        "--grid".into(),
        n.div_ceil(256).max(1).to_string(),
        "--block".into(),
        "256".into(),
        "--arg".into(),
        format!("a=@{}", dir.save("a.npy", &a)),
        "--arg".into(),
        format!("b=@{}", dir.save("b.npy", &b)),
        "--arg".into(),
        format!("c=zeros:f32:{c_len}"),
        "--arg".into(),
        format!("n={n}"),
    ]
}

fn strs(v: &[String]) -> Vec<&str> {
    v.iter().map(String::as_str).collect()
}

#[test]
fn vector_add_saves_the_sum_bit_for_bit() {
    let dir = Dir::new();
    let n = 1000;
    let mut args = vector_add_args(&dir, n, n);
    let c_path = dir.path("c.npy");
    args.extend(["--save".into(), format!("c={c_path}")]);
    let out = lanes(&strs(&args));
    assert_exit(&out, 0);
    assert!(out.stdout.contains("vector_add"), "summary: {}", out.stdout);
    assert_eq!(out.stdout.lines().count(), 1, "one summary line");

    let (shape, descr, c) = load::<f32>(&c_path);
    assert_eq!((shape, descr.as_str()), (vec![n as u64], "'<f4'"));
    let (a, b) = inputs(n);
    for i in 0..n {
        assert_eq!(c[i].to_bits(), (a[i] + b[i]).to_bits(), "element {i}");
    }
}

#[test]
fn block_sum_saves_the_total() {
    let dir = Dir::new();
    let n = 1000usize;
    let x: Vec<f32> = (0..n).map(|i| (i % 7) as f32).collect();
    let x_path = dir.save("x.npy", &x);
    let out_path = dir.path("out.npy");
    let out = lanes(&[
        "run",
        BLOCK_SUM,
        "--grid",
        "4",
        "--block",
        "256",
        "--arg",
        &format!("x=@{x_path}"),
        "--arg",
        "out=zeros:f32:1",
        "--arg",
        "n=1000",
        "--save",
        &format!("out={out_path}"),
        "--quiet",
    ]);
    assert_exit(&out, 0);
    let (shape, _, total) = load::<f32>(&out_path);
    assert_eq!(shape, vec![1]);
    assert_eq!(total, vec![x.iter().sum::<f32>()]);
}

#[test]
fn save_type_reinterprets_the_bytes() {
    let dir = Dir::new();
    let n = 300;
    let mut args = vector_add_args(&dir, n, n);
    let (as_u32, as_u8) = (dir.path("c_u32.npy"), dir.path("c_u8.npy"));
    args.extend([
        "--save".into(),
        format!("c={as_u32}:u32"),
        "--save".into(),
        format!("c={as_u8}:u8"),
        "--save".into(),
        format!("a={}:i16", dir.path("a_i16.npy")),
    ]);
    assert_exit(&lanes(&strs(&args)), 0);
    let (a, b) = inputs(n);
    let want: Vec<u32> = a.iter().zip(&b).map(|(x, y)| (x + y).to_bits()).collect();
    let (shape, descr, got) = load::<u32>(&as_u32);
    assert_eq!((shape, descr.as_str()), (vec![n as u64], "'<u4'"));
    assert_eq!(got, want);
    let (shape, descr, bytes) = load::<u8>(&as_u8);
    assert_eq!((shape, descr.as_str()), (vec![4 * n as u64], "'|u1'"));
    let want_bytes: Vec<u8> = want.iter().flat_map(|v| v.to_le_bytes()).collect();
    assert_eq!(bytes, want_bytes);
    let (shape, _, halves) = load::<i16>(dir.path("a_i16.npy"));
    assert_eq!(shape, vec![2 * n as u64]);
    assert_eq!(
        halves[0],
        i16::from_le_bytes([a[0].to_le_bytes()[0], a[0].to_le_bytes()[1]])
    );
}

#[test]
fn save_type_must_divide_the_buffer() {
    let dir = Dir::new();
    let mut args = vector_add_args(&dir, 10, 11);
    args.extend(["--save".into(), format!("c={}:f64", dir.path("c.npy"))]);
    let out = lanes(&strs(&args));
    assert_usage_error(&out, "f64");
    assert!(!Path::new(&dir.path("c.npy")).exists());
}

#[test]
fn zeros_buffers_keep_their_type_when_saved() {
    let dir = Dir::new();
    let path = dir.path("iota.npy");
    let out = lanes(&[
        "run",
        MULTI,
        "--kernel",
        "iota",
        "--grid",
        "2",
        "--block",
        "64",
        "--arg",
        "out=zeros:i32:100",
        "--arg",
        "n=100",
        "--save",
        &format!("out={path}"),
    ]);
    assert_exit(&out, 0);
    let (shape, descr, v) = load::<i32>(&path);
    assert_eq!((shape, descr.as_str()), (vec![100], "'<i4'"));
    assert_eq!(v, (0..100).collect::<Vec<i32>>());
}

#[test]
fn scalar_arguments_of_several_types() {
    let dir = Dir::new();
    let path = dir.path("s.npy");
    let out = lanes(&[
        "run",
        MULTI,
        "--kernel",
        "scalars",
        "--grid",
        "1",
        "--block",
        "1",
        "--arg",
        "out=zeros:u8:24",
        "--arg",
        "a=-7",
        "--arg",
        "b=2.5",
        "--arg",
        "c=0xDEADBEEFCAFEF00D",
        "--arg",
        "d=-128",
        "--save",
        &format!("out={path}"),
    ]);
    assert_exit(&out, 0);
    let (_, descr, bytes) = load::<u8>(&path);
    assert_eq!(descr, "'|u1'");
    assert_eq!(&bytes[0..4], &(-7i32).to_le_bytes());
    assert_eq!(&bytes[4..8], &2.5f32.to_le_bytes());
    assert_eq!(&bytes[8..16], &0xDEAD_BEEF_CAFE_F00Du64.to_le_bytes());
    assert_eq!(bytes[16], 0x80);
}

#[test]
fn scalar_values_must_fit_their_type() {
    for (arg, what) in [
        ("a=2147483648", "a"),
        ("a=1.5", "a"),
        ("b=abc", "b"),
        ("c=-1", "c"),
        ("d=200", "d"),
    ] {
        let mut args = vec![
            "run", MULTI, "--kernel", "scalars", "--grid", "1", "--block", "1",
        ];
        let defaults = ["out=zeros:u8:24", "a=1", "b=1", "c=1", "d=1"];
        for d in defaults {
            args.extend(["--arg", if d.starts_with(&arg[..2]) { arg } else { d }]);
        }
        assert_usage_error(&lanes(&args), what);
    }
}

#[test]
fn kernel_choice_in_a_multi_kernel_file() {
    let out = lanes(&["run", MULTI, "--grid", "1", "--block", "1"]);
    assert_usage_error(&out, "--kernel");
    assert!(out.stderr.contains("scalars") && out.stderr.contains("iota"));
    let out = lanes(&[
        "run", MULTI, "--kernel", "nope", "--grid", "1", "--block", "1",
    ]);
    assert_usage_error(&out, "nope");
    assert!(out.stderr.contains("iota"));
    let out = lanes(&[
        "run",
        MULTI,
        "--kernel",
        "iota",
        "--grid",
        "1",
        "--block",
        "4",
        "--arg",
        "out=zeros:u32:4",
        "--arg",
        "n=4",
    ]);
    assert_exit(&out, 0);
    assert!(out.stdout.contains("iota"));
}

#[test]
fn repeat_prints_five_percentiles() {
    let dir = Dir::new();
    let mut args = vector_add_args(&dir, 100, 100);
    args.extend(["--repeat".into(), "5".into()]);
    let out = lanes(&strs(&args));
    assert_exit(&out, 0);
    let lines: Vec<&str> = out.stdout.lines().collect();
    let tail = &lines[lines.len() - 5..];
    for (line, label) in tail.iter().zip(["p50", "p90", "p99", "p99.9", "max"]) {
        let parts: Vec<&str> = line.split(' ').collect();
        assert_eq!(parts.len(), 3, "{line:?}");
        assert_eq!(parts[0], label, "{line:?}");
        assert!(parts[1].parse::<f64>().is_ok(), "{line:?}");
        assert!(["ns", "µs", "ms", "s"].contains(&parts[2]), "{line:?}");
    }
    // --quiet drops the summary but keeps the percentiles.
    args.push("--quiet".into());
    let out = lanes(&strs(&args));
    assert_exit(&out, 0);
    assert_eq!(out.stdout.lines().count(), 5, "{}", out.stdout);
    args.extend(["--repeat".into(), "0".into()]);
    assert_exit(&lanes(&strs(&args)), 2);
}

#[test]
fn quiet_prints_nothing_on_stdout() {
    let dir = Dir::new();
    let mut args = vector_add_args(&dir, 10, 10);
    args.push("--quiet".into());
    let out = lanes(&strs(&args));
    assert_exit(&out, 0);
    assert_eq!(out.stdout, "");
    assert_eq!(out.stderr, "");
}

#[test]
fn syntax_errors_exit_2_with_file_line_col() {
    let out = lanes(&["run", SYNTAX_ERROR, "--grid", "1", "--block", "1"]);
    assert_exit(&out, 2);
    assert!(
        out.stderr.contains(&format!("{SYNTAX_ERROR}:4:5: ")),
        "{}",
        out.stderr
    );
    assert!(
        out.stderr.contains(&format!("{SYNTAX_ERROR}:5:")),
        "{}",
        out.stderr
    );
    let out = lanes(&["check", SYNTAX_ERROR]);
    assert_exit(&out, 2);
    assert!(out.stderr.contains(&format!("{SYNTAX_ERROR}:4:5: ")));
    assert_eq!(out.stdout, "");
}

#[test]
fn missing_files_exit_2() {
    let out = lanes(&["run", "no/such/file.lasm", "--grid", "1", "--block", "1"]);
    assert_usage_error(&out, "no/such/file.lasm");
    assert_usage_error(&lanes(&["check", "no/such/file.lasm"]), "no/such/file.lasm");
    let dir = Dir::new();
    let mut args = vector_add_args(&dir, 10, 10);
    args[7] = "a=@no/such/a.npy".into();
    assert_usage_error(&lanes(&strs(&args)), "no/such/a.npy");
}

#[test]
fn bad_shapes_exit_2() {
    for grid in ["0,1", "1,2,3,4", "abc", "", "-1", "4294967296"] {
        let out = lanes(&["run", VECTOR_ADD, "--grid", grid, "--block", "1"]);
        assert_exit(&out, 2);
        assert!(out.stderr.contains("error"), "{grid}: {}", out.stderr);
    }
    let dir = Dir::new();
    let mut args = vector_add_args(&dir, 10, 10);
    args[5] = "1025".into();
    assert_usage_error(&lanes(&strs(&args)), "1024");
    args[5] = "32,32,2".into();
    assert_usage_error(&lanes(&strs(&args)), "2048");
}

#[test]
fn argument_mistakes_exit_2_and_list_the_parameters() {
    let dir = Dir::new();
    let args = vector_add_args(&dir, 10, 10);
    let params = "a buf, b buf, c buf, n u32";

    let missing = strs(&args[..args.len() - 2]);
    let out = lanes(&missing);
    assert_usage_error(&out, "`n`");
    assert!(out.stderr.contains(params), "{}", out.stderr);

    let mut unknown = args.clone();
    unknown.extend(["--arg".into(), "m=3".into()]);
    let out = lanes(&strs(&unknown));
    assert_usage_error(&out, "`m`");
    assert!(out.stderr.contains(params), "{}", out.stderr);

    let mut twice = args.clone();
    twice.extend(["--arg".into(), "n=3".into()]);
    assert_usage_error(&lanes(&strs(&twice)), "`n`");

    // Wrong kinds: a number for a buffer, a file for a scalar.
    let mut kind = args.clone();
    kind[11] = "c=5".into();
    assert_usage_error(&lanes(&strs(&kind)), "buffer");
    let mut kind = args.clone();
    kind[13] = format!("n=@{}", dir.path("a.npy"));
    assert_usage_error(&lanes(&strs(&kind)), "u32");

    for bad in ["c=zeros:f32", "c=zeros:f99:3", "c=zeros:f32:x"] {
        let mut z = args.clone();
        z[11] = bad.into();
        assert_usage_error(&lanes(&strs(&z)), "zeros");
    }

    let mut save = args.clone();
    save.extend(["--save".into(), format!("n={}", dir.path("n.npy"))]);
    assert_usage_error(&lanes(&strs(&save)), "not a buffer");
    let mut save = args.clone();
    save.extend(["--save".into(), format!("q={}", dir.path("q.npy"))]);
    assert_usage_error(&lanes(&strs(&save)), "`q`");
}

#[test]
fn huge_buffers_exit_2() {
    let dir = Dir::new();
    let mut args = vector_add_args(&dir, 10, 10);
    args[11] = "c=zeros:f64:1000000000000000".into();
    assert_usage_error(&lanes(&strs(&args)), "bytes");
    args[11] = "c=zeros:f64:18446744073709551615".into();
    assert_usage_error(&lanes(&strs(&args)), "too many bytes");
}

#[test]
fn buffers_made_by_arange_fill_and_random() {
    let dir = Dir::new();
    let path = |name: &str| dir.path(name);
    let src = write_file(&dir, "k.lasm", ONE_BUFFER);
    let run = |value: &str, save: &str| {
        let out = lanes(&[
            "run",
            &src,
            "--grid",
            "1",
            "--block",
            "1",
            "--arg",
            &format!("a={value}"),
            "--save",
            &format!("a={}", path(save)),
            "--quiet",
        ]);
        assert_exit(&out, 0);
    };
    run("arange:f32:1000", "a.npy");
    let (shape, descr, v) = load::<f32>(path("a.npy"));
    assert_eq!((shape, descr.as_str()), (vec![1000], "'<f4'"));
    assert_eq!(v, (0..1000).map(|i| i as f32).collect::<Vec<_>>());
    run("arange:i16:32768", "b.npy");
    let (_, descr, v) = load::<i16>(path("b.npy"));
    assert_eq!(
        (descr.as_str(), v.len(), v[32767]),
        ("'<i2'", 32768, i16::MAX)
    );
    run("fill:f64:3:-0", "c.npy");
    let (_, _, v) = load::<f64>(path("c.npy"));
    assert_eq!(
        v.iter().map(|x| x.to_bits()).collect::<Vec<_>>(),
        vec![1 << 63; 3]
    );
    run("fill:u8:70000:0xAB", "d.npy");
    let (_, descr, v) = load::<u8>(path("d.npy"));
    assert_eq!((descr.as_str(), v.len()), ("'|u1'", 70000));
    assert!(v.iter().all(|&x| x == 0xAB));
    // random: floats in [0, 1), the same for the same seed (0 when none is
    // given), different for another.
    run("random:f32:5000", "e.npy");
    run("random:f32:5000:0", "f.npy");
    run("random:f32:5000:1", "g.npy");
    let (_, _, e) = load::<f32>(path("e.npy"));
    let (_, _, f) = load::<f32>(path("f.npy"));
    let (_, _, g) = load::<f32>(path("g.npy"));
    assert_eq!(e.len(), 5000);
    assert!(e.iter().all(|x| (0.0..1.0).contains(x)), "{e:?}");
    assert_eq!(e, f);
    assert_ne!(e, g);
    let mean = e.iter().map(|&x| x as f64).sum::<f64>() / 5000.0;
    assert!((0.45..0.55).contains(&mean), "{mean}");
    run("random:i64:100:3", "h.npy");
    let (_, _, h) = load::<i64>(path("h.npy"));
    assert!(
        h.iter().any(|&x| x < 0) && h.iter().any(|&x| x > 0),
        "{h:?}"
    );
}

#[test]
fn bad_made_buffers_exit_2_saying_why() {
    let dir = Dir::new();
    let src = write_file(&dir, "k.lasm", ONE_BUFFER);
    for (value, why) in [
        (
            "arange:u8:300",
            "counts up to 299, past the largest u8 (255)",
        ),
        (
            "arange:f32",
            "should be arange:TYPE:COUNT (arange:f32:1024)",
        ),
        ("arange:f64:18446744073709551615", "too many bytes"),
        (
            "arange:f64:1000000000000000",
            "does not fit in this machine's memory",
        ),
        ("fill:f32:4", "should be fill:TYPE:COUNT:VALUE"),
        ("fill:f32:4:x", "the fill value `x` is not an f32"),
        (
            "fill:f32:4:1e39",
            "does not fit f32 (overflows to infinity)",
        ),
        ("fill:i8:4:128", "`128` does not fit i8"),
        (
            "fill:u64:1000000000000000:1",
            "does not fit in this machine's memory",
        ),
        ("random:f32:4:seed", "`seed` is not a seed"),
        ("random:q8:4", "`q8` is not a scalar type"),
        ("random:f32:-4", "`-4` is not an element count"),
        (
            "ones:f32:4",
            "give @PATH.npy, zeros:TYPE:COUNT, arange:TYPE:COUNT",
        ),
    ] {
        let out = lanes(&[
            "run",
            &src,
            "--grid",
            "1",
            "--block",
            "1",
            "--arg",
            &format!("a={value}"),
        ]);
        assert_usage_error(&out, why);
        assert!(out.stderr.contains("--arg a="), "{value}: {}", out.stderr);
    }
}

#[test]
fn bad_npy_files_exit_2() {
    let dir = Dir::new();
    let garbage = dir.path("garbage.npy");
    std::fs::write(&garbage, b"this is not numpy").unwrap();

    let big_endian = dir.path("big.npy");
    let mut w = npyz::WriteOptions::new()
        .dtype(npyz::DType::Plain(">f4".parse().unwrap()))
        .shape(&[10])
        .writer(std::fs::File::create(&big_endian).unwrap())
        .begin_nd()
        .unwrap();
    w.extend((0..10).map(|i| i as f32)).unwrap();
    w.finish().unwrap();

    let boolean = dir.save("bool.npy", &[true, false]);

    let truncated = dir.path("truncated.npy");
    let full = std::fs::read(dir.save("full.npy", &[1.0f64; 10])).unwrap();
    std::fs::write(&truncated, &full[..full.len() - 3]).unwrap();

    let huge = dir.path("huge.npy");
    let mut header = b"\x93NUMPY\x01\x00".to_vec();
    let text = "{'descr': '<f4', 'fortran_order': False, 'shape': (1000000000000000,), }\n";
    header.extend_from_slice(&(text.len() as u16).to_le_bytes());
    header.extend_from_slice(text.as_bytes());
    std::fs::write(&huge, &header).unwrap();

    for (path, what) in [
        (&garbage, "not an .npy file"),
        (&big_endian, "big-endian"),
        (&boolean, "bool"),
        (&truncated, "truncated"),
        (&huge, "truncated"),
    ] {
        let mut args = vector_add_args(&dir, 10, 10);
        args[7] = format!("a=@{path}");
        let out = lanes(&strs(&args));
        assert_usage_error(&out, what);
        assert!(out.stderr.contains(path.as_str()), "{}", out.stderr);
    }
}

#[test]
fn out_of_bounds_faults_exit_1_naming_lane_and_line() {
    let dir = Dir::new();
    let mut args = vector_add_args(&dir, 20, 10);
    let c_path = dir.path("c.npy");
    args.extend(["--save".into(), format!("c={c_path}")]);
    let out = lanes(&strs(&args));
    assert_exit(&out, 1);
    assert!(out.stderr.starts_with("error: "), "{}", out.stderr);
    assert!(out.stderr.contains("vector_add"), "{}", out.stderr);
    assert!(out.stderr.contains("lane (10, 0, 0)"), "{}", out.stderr);
    assert!(out.stderr.contains("line 13"), "{}", out.stderr);
    assert!(out.stderr.contains("out of bounds"), "{}", out.stderr);
    assert!(
        !PathBuf::from(c_path).exists(),
        "nothing is saved after a fault"
    );
}

#[test]
fn negative_offsets_print_signed_on_every_engine() {
    // Lane 0 reads index -48 of an f32 buffer: its offset register holds
    // 2^64 - 192, which the message shows as the -192 the kernel computed.
    let dir = Dir::new();
    let src = write_file(
        &dir,
        "neg.lasm",
        ".kernel neg\n.param x buf\n    mov.u32 r0, %tid.x\n    sub.i32 r1, r0, 48\n\
         shl.u64 r2, r1, 2\n    ld.global.f32 r3, [x + r2]\n",
    );
    for engine in lanes::Engine::ALL {
        let out = lanes(&[
            "run",
            &src,
            "--grid",
            "1",
            "--block",
            "1",
            "--arg",
            "x=zeros:f32:4",
            "--engine",
            engine.name(),
        ]);
        assert_exit(&out, 1);
        assert!(
            out.stderr.contains(
                "(line 6: `ld.global.f32 r3, [x + r2]`): out of bounds: 4-byte access at \
                 offset -192 (as u64: 18446744073709551424) of global buffer `x` (16 bytes)"
            ),
            "{engine}: {}",
            out.stderr
        );
    }
}

#[test]
fn step_limit_faults_exit_1() {
    let dir = Dir::new();
    let mut args = vector_add_args(&dir, 10, 10);
    args.extend(["--max-steps".into(), "3".into()]);
    let out = lanes(&strs(&args));
    assert_exit(&out, 1);
    assert!(out.stderr.contains("step limit"), "{}", out.stderr);
}

#[test]
fn check_prints_canonical_text_that_is_a_fixed_point() {
    let dir = Dir::new();
    for file in [VECTOR_ADD, BLOCK_SUM, MULTI] {
        let first = lanes(&["check", file]);
        assert_exit(&first, 0);
        assert!(first.stdout.contains(".kernel"));
        let copy = dir.path("copy.lasm");
        std::fs::write(&copy, &first.stdout).unwrap();
        let second = lanes(&["check", &copy]);
        assert_exit(&second, 0);
        assert_eq!(second.stdout, first.stdout, "{file}");
        let source =
            std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join(file)).unwrap();
        let original = lanes::compile(file, &source).unwrap();
        let reparsed = lanes::compile(file, &first.stdout).unwrap();
        assert_eq!(original.names(), reparsed.names());
        for (a, b) in original.kernels.iter().zip(&reparsed.kernels) {
            assert_eq!(a.instrs, b.instrs, "{file}");
            assert_eq!(a.params, b.params, "{file}");
        }
    }
}

#[test]
fn pool_engine_either_works_or_fails_cleanly() {
    let dir = Dir::new();
    let n = 700;
    let mut args = vector_add_args(&dir, n, n);
    let c_path = dir.path("c.npy");
    args.extend([
        "--engine".into(),
        "pool".into(),
        "--threads".into(),
        "2".into(),
        "--placement".into(),
        "none".into(),
        "--save".into(),
        format!("c={c_path}"),
    ]);
    let out = lanes(&strs(&args));
    if out.code == 0 {
        let (_, _, c) = load::<f32>(&c_path);
        let (a, b) = inputs(n);
        for i in 0..n {
            assert_eq!(c[i].to_bits(), (a[i] + b[i]).to_bits(), "element {i}");
        }
    } else {
        assert_exit(&out, 2);
        assert!(out.stderr.starts_with("error: "), "{}", out.stderr);
    }
}

#[test]
fn pool_settings_are_validated() {
    let dir = Dir::new();
    for (flag, value) in [
        ("--threads", "0"),
        ("--threads", "many"),
        ("--placement", "sideways"),
        ("--placement", "cpus:"),
        ("--placement", "cpus:1,1"),
        ("--engine", "gpu"),
    ] {
        let mut args = vector_add_args(&dir, 10, 10);
        args.extend([flag.into(), value.into()]);
        let out = lanes(&strs(&args));
        assert_exit(&out, 2);
        assert!(
            out.stderr.contains(value.split(':').next().unwrap()),
            "{}",
            out.stderr
        );
    }
    let mut args = vector_add_args(&dir, 10, 10);
    args.extend(
        [
            "--engine",
            "reference",
            "--threads",
            "3",
            "--placement",
            "cpus:0",
        ]
        .map(String::from),
    );
    let out = lanes(&strs(&args));
    assert_exit(&out, 0);
    assert!(out.stdout.contains("reference"), "{}", out.stdout);
}

#[test]
fn usage_without_arguments_exits_2_and_help_exits_0() {
    assert_exit(&lanes(&[]), 2);
    assert_exit(&lanes(&["frobnicate"]), 2);
    assert_exit(&lanes(&["run", VECTOR_ADD]), 2);
    let help = lanes(&["run", "--help"]);
    assert_exit(&help, 0);
    assert!(help.stdout.contains("--grid"));
}

// ---------------------------------------------------------------------------
// Hostile input: answered at once, in bounded memory, with short messages
// ---------------------------------------------------------------------------

/// Writes `text` to `name` in `dir`; returns the path.
fn write_file(dir: &Dir, name: &str, text: &str) -> String {
    let path = dir.path(name);
    std::fs::write(&path, text).unwrap();
    path
}

const ONE_BUFFER: &str = ".kernel k\n.param a buf\n    exit\n";

#[cfg(unix)]
#[test]
fn endless_devices_are_refused_at_once() {
    let dir = Dir::new();
    let src = write_file(&dir, "k.lasm", ONE_BUFFER);
    let out = lanes(&[
        "run",
        &src,
        "--grid",
        "1",
        "--block",
        "1",
        "--arg",
        "a=@/dev/zero",
    ]);
    assert_usage_error(&out, "not an .npy file");
    let out = lanes(&["check", "/dev/zero"]);
    assert_usage_error(&out, "larger than 64 MiB");
}

#[test]
fn npy_files_whose_length_differs_from_their_header_are_refused() {
    let dir = Dir::new();
    let src = write_file(&dir, "k.lasm", ONE_BUFFER);
    let path = dir.save("one.npy", &[1.5f32]);
    // A (sparse) GiB after the declared element: refused from the lengths,
    // without reading it.
    let file = std::fs::OpenOptions::new().write(true).open(&path).unwrap();
    let len = file.metadata().unwrap().len();
    file.set_len(len + (1 << 30)).unwrap();
    let arg = format!("a=@{path}");
    let out = lanes(&["run", &src, "--grid", "1", "--block", "1", "--arg", &arg]);
    assert_usage_error(&out, "trailing data");
    assert!(
        out.stderr.contains("needs 4 bytes")
            && out
                .stderr
                .contains(&format!("has {} bytes", 4 + (1u64 << 30))),
        "{}",
        out.stderr
    );
}

#[test]
fn minus_zero_is_negative_zero_as_an_argument_and_as_an_immediate() {
    // `--arg s=-0` for a float parameter is -0.0, as the immediate `-0` is
    // (docs/LANGUAGE.md section 9); `0` stays +0.0.
    let dir = Dir::new();
    let src = write_file(
        &dir,
        "z.lasm",
        ".kernel z\n.param s f32\n.param d f64\n.param o buf\n.param p buf\n\
         st.global.f32 [o], s\n    st.global.f64 [p], d\n\
         mov.f32 r0, -0\n    st.global.f32 [o + 4], r0\n\
         mov.f64 r1, -0\n    st.global.f64 [p + 8], r1\n",
    );
    for (arg, sign) in [("-0", true), ("0", false)] {
        let (o, p) = (dir.path("o.npy"), dir.path("p.npy"));
        let out = lanes(&[
            "run",
            &src,
            "--grid",
            "1",
            "--block",
            "1",
            "--arg",
            &format!("s={arg}"),
            "--arg",
            &format!("d={arg}"),
            "--arg",
            "o=zeros:f32:2",
            "--arg",
            "p=zeros:f64:2",
            "--save",
            &format!("o={o}"),
            "--save",
            &format!("p={p}"),
            "--quiet",
        ]);
        assert_exit(&out, 0);
        let (_, _, o) = load::<f32>(&o);
        let (_, _, p) = load::<f64>(&p);
        assert_eq!(
            (o[0].to_bits(), p[0].to_bits()),
            (sign as u32 * 0x8000_0000, sign as u64 * (1 << 63)),
            "--arg {arg}"
        );
        assert_eq!(
            (o[1].to_bits(), p[1].to_bits()),
            (0x8000_0000, 1 << 63),
            "immediate -0"
        );
    }
}

#[test]
fn float_arguments_that_overflow_are_refused_like_immediates() {
    let dir = Dir::new();
    let f32k = write_file(&dir, "f.lasm", ".kernel k\n.param x f32\n    exit\n");
    let f64k = write_file(&dir, "d.lasm", ".kernel k\n.param x f64\n    exit\n");
    for (src, arg) in [(&f32k, "x=1e39"), (&f32k, "x=-1e39"), (&f64k, "x=1e309")] {
        let out = lanes(&["run", src, "--grid", "1", "--block", "1", "--arg", arg]);
        assert_usage_error(&out, "overflows to infinity");
    }
    for (src, arg) in [(&f32k, "x=inf"), (&f64k, "x=-inf"), (&f32k, "x=3.4e38")] {
        let out = lanes(&[
            "run", src, "--grid", "1", "--block", "1", "--arg", arg, "-q",
        ]);
        assert_exit(&out, 0);
    }
}

#[test]
fn thread_counts_above_the_limit_are_refused_by_every_command() {
    let dir = Dir::new();
    let src = write_file(&dir, "k.lasm", ".kernel k\n    exit\n");
    for args in [
        vec![
            "run",
            &src,
            "--grid",
            "1",
            "--block",
            "1",
            "--threads",
            "100000",
        ],
        vec!["bench", "--threads", "100000"],
        vec!["affinity", "--threads", "1,100000"],
        vec!["soak", "--threads", "100000"],
    ] {
        let out = lanes(&args);
        assert_usage_error(&out, "1024");
    }
}

#[test]
fn negative_numbers_say_what_the_option_accepts() {
    let dir = Dir::new();
    let src = write_file(&dir, "k.lasm", ".kernel k\n    exit\n");
    for (option, value) in [
        ("--grid", "-1"),
        ("--block", "-32"),
        ("--repeat", "-1"),
        ("--max-steps", "-5"),
    ] {
        let mut args = vec!["run", &src, "--grid", "1", "--block", "1"];
        args.retain(|a| *a != option);
        if option == "--grid" || option == "--block" {
            let i = args.iter().position(|a| *a == "1").unwrap();
            args.drain(i..=i);
        }
        args.extend([option, value]);
        let out = lanes(&args);
        assert_usage_error(&out, "is negative");
        assert!(
            !out.stderr.contains("unexpected argument"),
            "{}",
            out.stderr
        );
    }
    for args in [
        vec!["bench", "--repeat", "-1"],
        vec!["soak", "--clients", "-2"],
        vec!["affinity", "--repeat", "-3"],
    ] {
        let out = lanes(&args);
        assert_usage_error(&out, "is negative");
    }
    for args in [
        vec![
            "run",
            &src,
            "--grid",
            "1",
            "--block",
            "1",
            "--threads",
            "-1",
        ],
        vec!["bench", "--threads", "-4"],
    ] {
        let out = lanes(&args);
        assert_usage_error(&out, "not a thread count (it is negative)");
    }
}

#[test]
fn a_timeout_cancels_an_endless_launch_and_names_its_blocks() {
    let dir = Dir::new();
    let src = write_file(&dir, "spin.lasm", ".kernel spin\nloop:\n    bra loop\n");
    for engine in ["pool", "reference"] {
        let out = lanes(&[
            "run",
            &src,
            "--grid",
            "2",
            "--block",
            "1",
            "--engine",
            engine,
            "--timeout",
            "200ms",
        ]);
        assert_exit(&out, 1);
        assert!(
            out.stderr
                .contains("did not finish within its timeout of 200ms")
                && out.stderr.contains("(0, 0, 0)"),
            "{engine}: {}",
            out.stderr
        );
    }
    let out = lanes(&[
        "run",
        &src,
        "--grid",
        "1",
        "--block",
        "1",
        "--timeout",
        "soon",
    ]);
    assert_usage_error(&out, "is not a duration");
}

#[test]
fn errors_do_not_echo_huge_input_whole() {
    let dir = Dir::new();
    // A 10 MB integer literal.
    let literal = "9".repeat(10_000_000);
    let src = write_file(
        &dir,
        "lit.lasm",
        &format!(".kernel k\n    mov.u32 r0, {literal}\n"),
    );
    let out = lanes(&["check", &src]);
    assert_exit(&out, 2);
    assert!(out.stderr.len() < 1000, "{} bytes", out.stderr.len());
    assert!(out.stderr.contains("(10000000 bytes)"), "{}", out.stderr);
    // ... and as an option value (clap's own message).
    let grid = "7".repeat(100_000);
    let out = lanes(&["run", &src, "--grid", &grid, "--block", "1"]);
    assert_exit(&out, 2);
    assert!(out.stderr.len() < 2000, "{} bytes", out.stderr.len());
    // An unknown --arg on a kernel with 100k parameters.
    let mut params = String::from(".kernel k\n");
    for i in 0..50_000 {
        params.push_str(&format!(".param b{i} buf\n.param s{i} u32\n"));
    }
    params.push_str("    exit\n");
    let src = write_file(&dir, "params.lasm", &params);
    let out = lanes(&[
        "run", &src, "--grid", "1", "--block", "1", "--arg", "nope=1",
    ]);
    assert_usage_error(&out, "unknown parameter `nope`");
    assert!(out.stderr.len() < 2000, "{} bytes", out.stderr.len());
    assert!(out.stderr.contains("takes 100000 parameters") && out.stderr.contains("(99980 more)"));
    // 100k kernels and no --kernel.
    let kernels: String = (0..100_000)
        .map(|i| format!(".kernel k{i}\n    exit\n"))
        .collect();
    let src = write_file(&dir, "kernels.lasm", &kernels);
    let out = lanes(&["run", &src, "--grid", "1", "--block", "1"]);
    assert_usage_error(&out, "has 100000 kernels");
    assert!(
        out.stderr.len() < 2000 && out.stderr.contains("(99980 more)"),
        "{}",
        out.stderr
    );
    // A thousand errors: the first 200, then how many more.
    let bad: String = (0..1000).map(|_| "    frob r0\n").collect();
    let src = write_file(&dir, "bad.lasm", &format!(".kernel k\n{bad}"));
    let out = lanes(&["check", &src]);
    assert_exit(&out, 2);
    assert_eq!(
        out.stderr.matches("unknown opcode").count(),
        200,
        "{}",
        out.stderr
    );
    assert!(
        out.stderr.contains("... and 800 more errors not shown"),
        "{}",
        out.stderr
    );
    assert!(out.stderr.contains("has 1000 errors"), "{}", out.stderr);
}

#[test]
fn more_parameters_than_slots_is_a_validation_error() {
    let dir = Dir::new();
    let params: String = (0..70_000).map(|i| format!(".param b{i} buf\n")).collect();
    let src = write_file(&dir, "many.lasm", &format!(".kernel k\n{params}    exit\n"));
    let out = lanes(&["check", &src]);
    assert_exit(&out, 2);
    assert!(
        out.stderr
            .contains("too many buffer parameters (at most 65535)"),
        "{}",
        out.stderr
    );
}

const CLUSTER: &str = "tests/data/cluster/kernels.lasm";

#[test]
fn dry_run_prints_the_partition_and_the_bytes_each_rank_moves() {
    let out = lanes(&[
        "run",
        CLUSTER,
        "--kernel",
        "smooth",
        "--grid",
        "10",
        "--block",
        "64",
        "--arg",
        "x=zeros:f32:640",
        "--arg",
        "y=zeros:f32:640",
        "--arg",
        "n=640",
        "--access",
        "x=blocks:64:halo=2",
        "--access",
        "y=blocks:64",
        "--save",
        "y=unused.npy",
        "--dry-run-ranks",
        "3",
    ]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let s = &out.stdout;
    assert!(s.contains("10 blocks on 3 ranks (lazy movement)"), "{s}");
    assert!(
        s.contains(
            "rank 1: blocks 3..6 (3); `x` bytes 768..1536 (reads 760..1544); `y` bytes 768..1536"
        ),
        "{s}"
    );
    // Rank 0 holds y's first 3 blocks and receives the other 7.
    assert!(s.contains("saves to rank 0 1792 B"), "{s}");
    // Nothing was saved: it did not run.
    assert!(
        !Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("unused.npy")
            .exists()
    );
}

#[test]
fn dry_run_over_many_rank_counts_prints_a_line_each() {
    let out = lanes(&[
        "run",
        CLUSTER,
        "--kernel",
        "hist",
        "--grid",
        "64",
        "--block",
        "128",
        "--arg",
        "x=zeros:u32:8192",
        "--arg",
        "h=zeros:u32:256",
        "--arg",
        "s=zeros:f32:1",
        "--arg",
        "lo=zeros:u32:1",
        "--arg",
        "n=8192",
        "--arg",
        "bins=256",
        "--access",
        "x=blocks:128",
        "--access",
        "h=reduce:add",
        "--access",
        "s=reduce:add",
        "--access",
        "lo=reduce:min",
        "--dry-run-ranks",
        "2,8,1024",
        "--movement",
        "eager",
    ]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let lines: Vec<&str> = out.stdout.lines().collect();
    assert_eq!(lines.len(), 3, "{}", out.stdout);
    // 8 ranks: 7 partials of 1032 bytes up the tree, then eager movement
    // sends the 1032-byte result from rank 0 to the 7 others.
    assert!(
        lines[1].starts_with("ranks 8: launch 1 moves 14448 B"),
        "{}",
        lines[1]
    );
}

#[test]
fn dry_run_cuts_a_2d_array_into_tiles() {
    // 100 x 37 f32 in tiles of 16 x 8: a grid of 7 x 5 blocks. On 2
    // ranks, rank 0 runs tile rows 0 and 1 (rows 0..16, one range) and
    // the first 3 tiles of tile row 2 (48 elements of each of rows 16..24);
    // with a halo of 1 it reads rows 0..17 and 49 elements of rows 17..25.
    let base = [
        "run",
        CLUSTER,
        "--kernel",
        "blur2d",
        "--block",
        "16,8",
        "--arg",
        "x=zeros:f32:3700",
        "--arg",
        "y=zeros:f32:3700",
        "--arg",
        "width=100",
        "--arg",
        "height=37",
        "--access",
        "x=tiles:16x8:100:halo=1",
        "--access",
        "y=tiles:16x8:100",
        "--dry-run-ranks",
        "2",
    ];
    let with = |grid: &str| {
        let args: Vec<&str> = base.iter().copied().chain(["--grid", grid]).collect();
        lanes(&args)
    };
    let out = with("7,5");
    assert_eq!(out.code, 0, "{}", out.stderr);
    let s = &out.stdout;
    assert!(
        s.contains(
            "rank 0: blocks 0..17 (17); `x` bytes 0..6592, 6800..6992, 7200..7392, 7600..7792, \
             ... (8 ranges, 7936 bytes) (reads 0..6996, 7200..7396, 7600..7796, 8000..8196, \
             ... (8 ranges, 8368 bytes))"
        ),
        "{s}"
    );
    // The grid must have one block per tile of a row.
    let out = with("8,5");
    assert_eq!(out.code, 2);
    assert!(
        out.stderr.contains("the grid's x must be 7, not 8"),
        "{}",
        out.stderr
    );
}

#[test]
fn access_declarations_are_checked_before_anything_runs() {
    let base = [
        "run",
        CLUSTER,
        "--kernel",
        "smooth",
        "--grid",
        "10",
        "--block",
        "64",
        "--arg",
        "x=zeros:f32:640",
        "--arg",
        "y=zeros:f32:640",
        "--arg",
        "n=640",
    ];
    let with = |extra: &[&str]| {
        let args: Vec<&str> = base.iter().chain(extra).copied().collect();
        lanes(&args)
    };
    // The kernel writes y: it must be declared writable.
    let out = with(&["--dry-run-ranks", "2"]);
    assert_eq!(out.code, 2);
    assert!(
        out.stderr
            .contains("kernel `smooth`, buffer `y` (undeclared)"),
        "{}",
        out.stderr
    );
    let out = with(&["--access", "y=all", "--dry-run-ranks", "2"]);
    assert_eq!(out.code, 2);
    assert!(out.stderr.contains("stores to it (line"), "{}", out.stderr);
    let out = with(&["--access", "y=blocks:0", "--dry-run-ranks", "2"]);
    assert_eq!(out.code, 2);
    assert!(out.stderr.contains("blocks:0"), "{}", out.stderr);
    let out = with(&["--access", "n=all", "--dry-run-ranks", "2"]);
    assert_eq!(out.code, 2);
    assert!(out.stderr.contains("not a buffer"), "{}", out.stderr);
    // Declarations mean nothing to a plain run.
    let out = with(&["--access", "y=blocks:64"]);
    assert_eq!(out.code, 2);
    assert!(out.stderr.contains("--distribute"), "{}", out.stderr);
}

#[cfg(not(feature = "mpi"))]
#[test]
fn distribute_needs_the_mpi_feature() {
    let out = lanes(&[
        "run",
        VECTOR_ADD,
        "--grid",
        "1",
        "--block",
        "4",
        "--arg",
        "a=zeros:f32:4",
        "--arg",
        "b=zeros:f32:4",
        "--arg",
        "c=zeros:f32:4",
        "--arg",
        "n=4",
        "--access",
        "c=blocks:4",
        "--distribute",
    ]);
    assert_eq!(out.code, 2);
    assert!(out.stderr.contains("`mpi` cargo feature"), "{}", out.stderr);
}
