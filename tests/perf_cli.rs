//! `kraftbridge perf` against brokers that are absent, silent or hostile, and the loopback
//! ceiling: every case must end by itself with a clear message and a non-zero exit (never a
//! hang, never a panic). The fake brokers are plain threads on 127.0.0.1; the real-server runs
//! are in `tests/acceptance/test_perf.py`.

// A test times real processes: the root clippy.toml's clock ban is for the cores only.
#![allow(clippy::disallowed_methods)]

use std::io::{Read, Write};
use std::net::TcpListener;
use std::process::{Command, Output, Stdio};
use std::thread;
use std::time::{Duration, Instant};

/// No perf command may take longer than this in these tests.
const COMMAND_DEADLINE: Duration = Duration::from_secs(30);

/// Runs `kraftbridge perf ARGS`, killing it (and failing) at [`COMMAND_DEADLINE`].
fn perf(args: &[&str]) -> (Output, Duration) {
    let start = Instant::now();
    let mut child = Command::new(env!("CARGO_BIN_EXE_kraftbridge"))
        .arg("perf")
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn kraftbridge");
    loop {
        if child.try_wait().expect("wait").is_some() {
            break;
        }
        if start.elapsed() > COMMAND_DEADLINE {
            let _ = child.kill();
            let out = child.wait_with_output().expect("output");
            panic!(
                "kraftbridge perf {args:?} still running after {COMMAND_DEADLINE:?}; stderr:\n{}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        thread::sleep(Duration::from_millis(20));
    }
    let out = child.wait_with_output().expect("output");
    (out, start.elapsed())
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// A one-connection fake broker: for each request frame read, `answer` gives the bytes to
/// write back (`None`: close the connection at once). With `close_after_answer` it closes
/// right after its first answer. Returns its address.
fn fake_broker<F>(close_after_answer: bool, answer: F) -> String
where
    F: Fn(usize) -> Option<Vec<u8>> + Send + 'static,
{
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().expect("addr").to_string();
    thread::spawn(move || {
        let Ok((mut s, _)) = listener.accept() else {
            return;
        };
        let _ = s.set_read_timeout(Some(COMMAND_DEADLINE));
        for n in 0.. {
            let mut size = [0u8; 4];
            if s.read_exact(&mut size).is_err() {
                return;
            }
            let mut frame = vec![0u8; i32::from_be_bytes(size).clamp(0, 1 << 20) as usize];
            if s.read_exact(&mut frame).is_err() {
                return;
            }
            match answer(n) {
                Some(bytes) => {
                    if s.write_all(&bytes).is_err() || close_after_answer {
                        return;
                    }
                }
                None => return,
            }
        }
    });
    addr
}

fn produce_to(addr: &str, extra: &[&str]) -> (Output, Duration) {
    let bootstrap = format!("bootstrap.servers={addr}");
    let mut args = vec![
        "produce",
        "--topic",
        "t",
        "--num-records",
        "10",
        "--record-size",
        "10",
        "--producer-props",
        &bootstrap,
        "request.timeout.ms=1000",
    ];
    args.extend_from_slice(extra);
    perf(&args)
}

#[test]
fn absent_broker_fails_fast() {
    // Bind and drop: nothing listens on this port now.
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let addr = format!("127.0.0.1:{port}");
    let (out, took) = perf(&[
        "produce",
        "--topic",
        "t",
        "--num-records",
        "1",
        "--record-size",
        "1",
        "--bootstrap-server",
        &addr,
    ]);
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("no bootstrap server answered"),
        "{}",
        stderr(&out)
    );
    assert!(took < Duration::from_secs(10), "took {took:?}");
    let (out, _) = perf(&[
        "consume",
        "--topic",
        "t",
        "--messages",
        "1",
        "--bootstrap-server",
        &addr,
    ]);
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("no bootstrap server answered"),
        "{}",
        stderr(&out)
    );
    let (out, took) = perf(&["metadata", "--topics", "10", "--bootstrap-server", &addr]);
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("no bootstrap server answered"),
        "{}",
        stderr(&out)
    );
    assert!(took < Duration::from_secs(10), "took {took:?}");
}

#[test]
fn suite_against_an_absent_broker_fails_after_its_ceilings() {
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let dir = tempfile::tempdir().unwrap();
    let addr = format!("127.0.0.1:{port}");
    let data_dir = dir.path().to_str().unwrap();
    let (out, took) = perf(&[
        "suite",
        "--quick",
        "--bootstrap-server",
        &addr,
        "--data-dir",
        data_dir,
    ]);
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("no bootstrap server answered"),
        "{}",
        stderr(&out)
    );
    assert!(took < Duration::from_secs(20), "took {took:?}");
    // The ceilings were measured and printed, and their scratch files are gone.
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("loopback TCP ceiling"), "{stdout}");
    assert!(stdout.contains("disk write ceiling"), "{stdout}");
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
}

#[test]
fn metadata_and_suite_refuse_unbounded_flags() {
    for args in [
        &[
            "metadata",
            "--bootstrap-server",
            "127.0.0.1:1",
            "--topics",
            "0",
        ][..],
        &[
            "metadata",
            "--bootstrap-server",
            "127.0.0.1:1",
            "--topics",
            "1000001",
        ],
        &[
            "metadata",
            "--bootstrap-server",
            "127.0.0.1:1",
            "--concurrency",
            "0",
        ],
        &["suite", "--disk-bytes", "99999999999999"],
        &["suite", "--produce-bytes", "0"],
    ] {
        let (out, took) = perf(args);
        assert_eq!(out.status.code(), Some(1), "{args:?}: {}", stderr(&out));
        assert!(
            stderr(&out).contains("expected"),
            "{args:?}: {}",
            stderr(&out)
        );
        assert!(took < Duration::from_secs(10), "{args:?} took {took:?}");
    }
}

#[test]
fn silent_broker_times_out() {
    // Accepts and reads, never answers: request.timeout.ms (1 s here) bounds the wait.
    let addr = fake_broker(false, |_| Some(Vec::new()));
    let (out, took) = produce_to(&addr, &[]);
    assert!(!out.status.success());
    assert!(stderr(&out).contains("within 1000 ms"), "{}", stderr(&out));
    assert!(took < Duration::from_secs(10), "took {took:?}");
}

#[test]
fn garbage_answers_are_errors_not_panics() {
    // A response frame whose body is not an ApiVersions response.
    let addr = fake_broker(false, |_| Some(vec![0, 0, 0, 6, 0, 0, 0, 1, 0xff, 0xff]));
    let (out, _) = produce_to(&addr, &[]);
    let err = stderr(&out);
    assert!(!out.status.success() && !err.contains("panicked"), "{err}");
    assert!(err.contains("ApiVersions"), "{err}");

    // A size prefix far beyond any response: refused before anything is allocated.
    let addr = fake_broker(false, |_| {
        Some(b"HTTP/1.1 400 Bad Request\r\n\r\n".to_vec())
    });
    let (out, _) = produce_to(&addr, &[]);
    let err = stderr(&out);
    assert!(!out.status.success() && !err.contains("panicked"), "{err}");
    assert!(err.contains("really a Kafka listener"), "{err}");

    // The connection closes in the middle of a frame.
    let addr = fake_broker(true, |_| Some(vec![0, 0, 1, 0, 0, 0]));
    let (out, _) = produce_to(&addr, &[]);
    let err = stderr(&out);
    assert!(!out.status.success() && !err.contains("panicked"), "{err}");
    assert!(err.contains("closed the connection"), "{err}");
}

#[test]
fn unsupported_settings_fail_before_connecting() {
    // No broker at all: the settings check comes first.
    let (out, _) = produce_to("127.0.0.1:1", &["enable.idempotence=true"]);
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("not supported yet"),
        "{}",
        stderr(&out)
    );
    let (out, _) = produce_to("127.0.0.1:1", &["acks=2"]);
    assert!(stderr(&out).contains("acks=2"), "{}", stderr(&out));
    let (out, _) = perf(&["produce", "--topic", "t", "--num-records", "1", "--bogus"]);
    assert_eq!(out.status.code(), Some(2), "clap's usage error");
}

#[test]
fn ceiling_prints_one_json_object() {
    let (out, _) = perf(&["ceiling", "--bytes", "16777216", "--seconds", "5", "--json"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let doc: serde_json::Value =
        serde_json::from_slice(&out.stdout).expect("ceiling --json prints JSON");
    assert_eq!(doc["bytes"], 16_777_216);
    assert!(doc["bytes_per_sec"].as_f64().unwrap() > 0.0, "{doc}");
    // Unbounded runs are refused.
    let (out, _) = perf(&["ceiling", "--bytes", "0"]);
    assert!(!out.status.success());
}
