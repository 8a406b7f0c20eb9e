//! `lanes soak` end to end: a short run is part of the normal suite (so CI
//! exercises concurrent launches, faults and pool rebuilds on every run);
//! the long run is ignored by default.

use std::process::Command;

fn soak(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_lanes"))
        .arg("soak")
        .args(args)
        .output()
        .expect("the lanes binary runs");
    (
        out.status
            .code()
            .expect("lanes exits normally, not by a signal"),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn assert_clean(code: i32, stdout: &str, stderr: &str) {
    assert_eq!(code, 0, "soak failed\nstdout:\n{stdout}\nstderr:\n{stderr}");
    assert!(stdout.contains(" 0 wrong, 0 lost"), "{stdout}");
    assert!(stdout.contains("soak: ok"), "{stdout}");
    assert!(!stderr.contains("panicked"), "{stderr}");
}

#[test]
fn short_soak_with_more_clients_and_workers_than_cores() {
    let (code, stdout, stderr) = soak(&["--seconds", "2", "--clients", "4", "--threads", "5"]);
    assert_clean(code, &stdout, &stderr);
}

#[test]
fn soak_rejects_a_bad_duration() {
    let (code, _, stderr) = soak(&["--seconds", "0"]);
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("--seconds"), "{stderr}");
}

#[test]
#[ignore = "a one-minute soak; run with cargo test --release --test soak -- --ignored"]
fn one_minute_soak() {
    let (code, stdout, stderr) = soak(&["--seconds", "60", "--clients", "8"]);
    println!("{stdout}");
    assert_clean(code, &stdout, &stderr);
}
