//! `kraftbridge perf ceiling`: how many bytes per second one TCP connection over 127.0.0.1
//! carries on this machine, so every produce and consume figure can be given as a fraction of
//! what the loopback itself allows.
//!
//! A writer thread sends fixed chunks through one connection to a sink thread that reads and
//! discards them (no echo, no framing, no parsing): the cheapest possible use of the socket.
//! The clock runs from the first write to the sink's last read, so bytes still in kernel
//! buffers when the writer stops are counted only once they arrive. Every run stops at a byte
//! cap or a time cap, whichever comes first. Plain threads rather than tokio: this measures
//! the kernel path, not our runtime.

use std::io::{ErrorKind, Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::thread;
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context, Result};

use super::report::{Json, MB};

/// Default byte cap: 2 GiB takes about a second on a typical machine.
pub(super) const CEILING_BYTES_DEFAULT: u64 = 2 * 1024 * 1024 * 1024;
/// Largest byte cap accepted.
const CEILING_BYTES_MAX: u64 = 64 * 1024 * 1024 * 1024;
/// Default time cap.
pub(super) const CEILING_SECONDS_DEFAULT: f64 = 3.0;
/// Largest time cap accepted.
const CEILING_SECONDS_MAX: f64 = 60.0;
/// Default write size: the order of a Produce request with a few 16 KiB batches, and of the
/// broker's 256 KiB socket buffers.
pub(super) const CHUNK_BYTES_DEFAULT: usize = 64 * 1024;
/// Largest write size accepted.
const CHUNK_BYTES_MAX: usize = 16 * 1024 * 1024;
/// Sink read buffer.
const SINK_BUFFER_BYTES: usize = 256 * 1024;
/// How long the sink waits for the writer to connect.
const ACCEPT_TIMEOUT: Duration = Duration::from_secs(5);

/// Arguments of `kraftbridge perf ceiling`.
#[derive(Debug, clap::Args)]
pub(crate) struct CeilingArgs {
    /// Stop after this many bytes (at most 64 GiB).
    #[arg(long, default_value_t = CEILING_BYTES_DEFAULT)]
    bytes: u64,
    /// Stop after this many seconds (at most 60), whichever cap comes first.
    #[arg(long, default_value_t = CEILING_SECONDS_DEFAULT)]
    seconds: f64,
    /// Bytes per write() call.
    #[arg(long = "chunk-size", default_value_t = CHUNK_BYTES_DEFAULT)]
    chunk_size: usize,
    /// Print one JSON object instead of a line of text.
    #[arg(long)]
    json: bool,
}

/// The limits of one ceiling measurement.
#[derive(Debug, Clone, Copy)]
pub(super) struct CeilingLimits {
    pub(super) bytes: u64,
    pub(super) time: Duration,
    pub(super) chunk_size: usize,
}

impl Default for CeilingLimits {
    fn default() -> Self {
        CeilingLimits {
            bytes: CEILING_BYTES_DEFAULT,
            time: Duration::from_secs_f64(CEILING_SECONDS_DEFAULT),
            chunk_size: CHUNK_BYTES_DEFAULT,
        }
    }
}

impl CeilingLimits {
    fn validate(&self) -> Result<()> {
        if self.bytes == 0 || self.bytes > CEILING_BYTES_MAX {
            bail!("--bytes {}: expected 1 to {CEILING_BYTES_MAX}", self.bytes);
        }
        if self.time.is_zero() || self.time.as_secs_f64() > CEILING_SECONDS_MAX {
            bail!(
                "--seconds {}: expected more than 0 and at most {CEILING_SECONDS_MAX}",
                self.time.as_secs_f64()
            );
        }
        if self.chunk_size == 0 || self.chunk_size > CHUNK_BYTES_MAX {
            bail!(
                "--chunk-size {}: expected 1 to {CHUNK_BYTES_MAX}",
                self.chunk_size
            );
        }
        Ok(())
    }
}

/// One measurement: `bytes` went through in `elapsed`.
#[derive(Debug, Clone, Copy)]
pub(super) struct Ceiling {
    pub(super) bytes: u64,
    pub(super) elapsed: Duration,
    pub(super) chunk_size: usize,
}

impl Ceiling {
    pub(super) fn bytes_per_sec(&self) -> f64 {
        super::report::per_sec(self.bytes as f64, self.elapsed)
    }

    /// `rate / ceiling`, the figure every result is quoted with.
    pub(super) fn ratio(&self, bytes_per_sec: f64) -> f64 {
        let c = self.bytes_per_sec();
        if c > 0.0 {
            bytes_per_sec / c
        } else {
            0.0
        }
    }

    pub(super) fn line(&self) -> String {
        format!(
            "loopback TCP ceiling: {} bytes in {:.3} s through one connection, {:.2} MB/sec \
             ({}-byte writes)",
            self.bytes,
            self.elapsed.as_secs_f64(),
            self.bytes_per_sec() / MB,
            self.chunk_size
        )
    }

    pub(super) fn to_json(self) -> String {
        let mut j = Json::new();
        j.u64("bytes", self.bytes);
        j.f64("elapsed_s", self.elapsed.as_secs_f64());
        j.f64("bytes_per_sec", self.bytes_per_sec());
        j.f64("mb_per_sec", self.bytes_per_sec() / MB);
        j.u64("chunk_size", self.chunk_size as u64);
        j.finish()
    }
}

/// `kraftbridge perf ceiling`.
pub(super) fn run(args: CeilingArgs) -> Result<()> {
    if !args.seconds.is_finite() || args.seconds <= 0.0 || args.seconds > CEILING_SECONDS_MAX {
        bail!(
            "--seconds {}: expected more than 0 and at most {CEILING_SECONDS_MAX}",
            args.seconds
        );
    }
    let limits = CeilingLimits {
        bytes: args.bytes,
        time: Duration::from_secs_f64(args.seconds),
        chunk_size: args.chunk_size,
    };
    let ceiling = measure(limits)?;
    if args.json {
        println!("{}", ceiling.to_json());
    } else {
        println!("{}", ceiling.line());
    }
    Ok(())
}

/// Measures the loopback ceiling within `limits`.
pub(super) fn measure(limits: CeilingLimits) -> Result<Ceiling> {
    limits.validate()?;
    let listener = TcpListener::bind("127.0.0.1:0").context("binding a loopback listener")?;
    let addr = listener.local_addr()?;
    // Nonblocking accept with a deadline, so a failed connect cannot leave the sink waiting
    // forever.
    listener.set_nonblocking(true)?;
    let read_limit = limits.time + Duration::from_secs(10);
    let sink = thread::Builder::new()
        .name("perf-ceiling-sink".into())
        .spawn(move || sink(listener, read_limit))
        .context("starting the sink thread")?;

    let mut conn = TcpStream::connect(addr).with_context(|| format!("connecting to {addr}"))?;
    conn.set_nodelay(true)?;
    conn.set_write_timeout(Some(read_limit))?;
    let chunk = vec![0x5a_u8; limits.chunk_size];
    let start = Instant::now();
    let mut sent: u64 = 0;
    while sent < limits.bytes && start.elapsed() < limits.time {
        let n = (limits.bytes - sent).min(chunk.len() as u64) as usize;
        conn.write_all(&chunk[..n])
            .context("writing to the loopback sink")?;
        sent += n as u64;
    }
    conn.shutdown(Shutdown::Write)?;
    let (received, last_read) = sink
        .join()
        .map_err(|_| anyhow!("the sink thread panicked"))??;
    drop(conn);
    if received != sent {
        bail!("the loopback sink received {received} bytes of {sent}");
    }
    Ok(Ceiling {
        bytes: received,
        elapsed: last_read.saturating_duration_since(start),
        chunk_size: limits.chunk_size,
    })
}

/// Accepts one connection and reads it to the end: returns the byte count and when the last
/// byte arrived.
fn sink(listener: TcpListener, read_limit: Duration) -> Result<(u64, Instant)> {
    let deadline = Instant::now() + ACCEPT_TIMEOUT;
    let mut stream = loop {
        match listener.accept() {
            Ok((s, _)) => break s,
            Err(e) if e.kind() == ErrorKind::WouldBlock => {
                if Instant::now() >= deadline {
                    bail!(
                        "the ceiling writer did not connect within {} s",
                        ACCEPT_TIMEOUT.as_secs()
                    );
                }
                thread::sleep(Duration::from_millis(1));
            }
            Err(e) => return Err(e).context("accepting the ceiling connection"),
        }
    };
    stream.set_nonblocking(false)?;
    stream.set_read_timeout(Some(read_limit))?;
    let mut buf = vec![0u8; SINK_BUFFER_BYTES];
    let mut total: u64 = 0;
    let mut last = Instant::now();
    loop {
        match stream.read(&mut buf) {
            Ok(0) => return Ok((total, last)),
            Ok(n) => {
                total += n as u64;
                last = Instant::now();
            }
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(e) => return Err(e).context("reading in the loopback sink"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn measures_a_small_capped_run() {
        let c = measure(CeilingLimits {
            bytes: 8 * 1024 * 1024,
            time: Duration::from_secs(5),
            chunk_size: 64 * 1024,
        })
        .unwrap();
        assert_eq!(c.bytes, 8 * 1024 * 1024);
        assert!(c.bytes_per_sec() > 0.0);
        assert!((c.ratio(c.bytes_per_sec()) - 1.0).abs() < 1e-9);
        assert!(c.to_json().contains("\"bytes\":8388608"));
    }

    #[test]
    fn rejects_unbounded_limits() {
        assert!(measure(CeilingLimits {
            bytes: 0,
            ..Default::default()
        })
        .is_err());
        let huge_chunk = CeilingLimits {
            chunk_size: CHUNK_BYTES_MAX + 1,
            ..Default::default()
        };
        assert!(measure(huge_chunk).is_err());
    }
}
