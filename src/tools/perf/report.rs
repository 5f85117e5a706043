//! What a perf run prints: a log-bucket latency histogram, Kafka's summary lines, one JSON
//! object for `--json`, and the live counters behind the once-a-second progress line.
//!
//! Units follow Kafka's tools so that our lines read like theirs: "MB" is 2^20 bytes
//! (`1024 * 1024` in `ProducerPerformance` and `ConsumerPerformance`), latencies are in ms.
//! We keep microseconds internally because loopback latencies are often below 1 ms, where
//! Kafka's integer milliseconds would print 0.

use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// Bytes in Kafka's "MB".
pub(super) const MB: f64 = 1024.0 * 1024.0;

/// Sub-buckets per power of two: 64 keeps the relative error of a percentile under 1/64.
const SUB_BUCKET_BITS: u32 = 6;
const SUB_BUCKETS: usize = 1 << SUB_BUCKET_BITS;
/// Values below this are counted exactly, one bucket each.
const LINEAR_MAX: u64 = 1 << (SUB_BUCKET_BITS + 1);
/// Buckets for every u64: the linear part, then 64 per power of two from 2^7 to 2^63.
const BUCKETS: usize = LINEAR_MAX as usize + (64 - SUB_BUCKET_BITS as usize - 1) * SUB_BUCKETS;

/// A latency histogram in microseconds with logarithmic buckets (HdrHistogram's layout with
/// two significant digits): fixed size, no allocation when recording, exact count, sum and
/// max. We write our own rather than add `hdrhistogram` because 60 lines cover what the
/// report needs.
#[derive(Debug, Clone)]
pub(super) struct Histogram {
    counts: Vec<u64>,
    count: u64,
    sum: u128,
    max: u64,
}

impl Default for Histogram {
    fn default() -> Self {
        Histogram {
            counts: vec![0; BUCKETS],
            count: 0,
            sum: 0,
            max: 0,
        }
    }
}

impl Histogram {
    fn index(value: u64) -> usize {
        if value < LINEAR_MAX {
            return value as usize;
        }
        let msb = 63 - value.leading_zeros(); // ≥ SUB_BUCKET_BITS + 1
        let shift = msb - SUB_BUCKET_BITS;
        let sub = (value >> shift) as usize - SUB_BUCKETS;
        LINEAR_MAX as usize + (msb - SUB_BUCKET_BITS - 1) as usize * SUB_BUCKETS + sub
    }

    /// The largest value that lands in bucket `index`.
    fn highest_in(index: usize) -> u64 {
        if index < LINEAR_MAX as usize {
            return index as u64;
        }
        let j = index - LINEAR_MAX as usize;
        let msb = (j / SUB_BUCKETS) as u32 + SUB_BUCKET_BITS + 1;
        let shift = msb - SUB_BUCKET_BITS;
        let low = ((SUB_BUCKETS + j % SUB_BUCKETS) as u64) << shift;
        low + ((1u64 << shift) - 1)
    }

    pub(super) fn record(&mut self, micros: u64) {
        self.counts[Self::index(micros)] += 1;
        self.count += 1;
        self.sum += u128::from(micros);
        self.max = self.max.max(micros);
    }

    pub(super) fn merge(&mut self, other: &Histogram) {
        for (a, b) in self.counts.iter_mut().zip(&other.counts) {
            *a += b;
        }
        self.count += other.count;
        self.sum += other.sum;
        self.max = self.max.max(other.max);
    }

    #[cfg(test)]
    fn count(&self) -> u64 {
        self.count
    }

    #[cfg(test)]
    fn max_micros(&self) -> u64 {
        self.max
    }

    pub(super) fn mean_micros(&self) -> f64 {
        if self.count == 0 {
            0.0
        } else {
            self.sum as f64 / self.count as f64
        }
    }

    /// The value at quantile `q` (0–1): the highest value of the bucket holding the
    /// `ceil(q·count)`-th smallest sample, never above the exact maximum. 0 when empty.
    pub(super) fn quantile_micros(&self, q: f64) -> u64 {
        if self.count == 0 {
            return 0;
        }
        let rank = ((q * self.count as f64).ceil() as u64).clamp(1, self.count);
        let mut seen = 0;
        for (i, &c) in self.counts.iter().enumerate() {
            seen += c;
            if seen >= rank {
                return Self::highest_in(i).min(self.max);
            }
        }
        self.max
    }

    /// avg, max, p50, p95, p99, p99.9 in ms, for a histogram of microseconds.
    pub(super) fn summary_ms(&self) -> LatencySummary {
        self.summary_in_ms(1000.0)
    }

    /// The same for a histogram in other units: `units_per_ms` is 1 for a histogram of
    /// milliseconds (exact below 128 ms, where microsecond buckets would blur whole ms).
    pub(super) fn summary_in_ms(&self, units_per_ms: f64) -> LatencySummary {
        let ms = |v: u64| v as f64 / units_per_ms;
        LatencySummary {
            avg: self.mean_micros() / units_per_ms,
            max: ms(self.max),
            p50: ms(self.quantile_micros(0.50)),
            p95: ms(self.quantile_micros(0.95)),
            p99: ms(self.quantile_micros(0.99)),
            p999: ms(self.quantile_micros(0.999)),
        }
    }
}

/// Latency figures in milliseconds.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub(super) struct LatencySummary {
    pub(super) avg: f64,
    pub(super) max: f64,
    pub(super) p50: f64,
    pub(super) p95: f64,
    pub(super) p99: f64,
    pub(super) p999: f64,
}

impl LatencySummary {
    pub(super) fn to_json(self) -> String {
        let mut j = Json::new();
        j.f64("avg", self.avg);
        j.f64("max", self.max);
        j.f64("p50", self.p50);
        j.f64("p95", self.p95);
        j.f64("p99", self.p99);
        j.f64("p99_9", self.p999);
        j.finish()
    }
}

/// `count / seconds`, 0 for an empty interval.
pub(super) fn per_sec(count: f64, elapsed: Duration) -> f64 {
    let s = elapsed.as_secs_f64();
    if s > 0.0 {
        count / s
    } else {
        0.0
    }
}

/// Kafka `ProducerPerformance`'s final line, with percentiles to 0.01 ms instead of whole ms.
pub(super) fn producer_summary_line(
    records: u64,
    elapsed: Duration,
    payload_bytes: u64,
    latency: &LatencySummary,
) -> String {
    format!(
        "{records} records sent, {:.6} records/sec ({:.2} MB/sec), {:.2} ms avg latency, {:.2} ms \
         max latency, {:.2} ms 50th, {:.2} ms 95th, {:.2} ms 99th, {:.2} ms 99.9th.",
        per_sec(records as f64, elapsed),
        per_sec(payload_bytes as f64, elapsed) / MB,
        latency.avg,
        latency.max,
        latency.p50,
        latency.p95,
        latency.p99,
        latency.p999,
    )
}

/// Counters that run tasks add to and the progress printer reads once a second.
#[derive(Debug, Default)]
pub(super) struct Progress {
    pub(super) records: AtomicU64,
    pub(super) payload_bytes: AtomicU64,
    /// Latency of the records counted since the last window, for the producer's window line.
    window_latency_sum_us: AtomicU64,
    window_latency_max_us: AtomicU64,
}

/// Totals and the latency of one progress window.
#[derive(Debug, Clone, Copy, Default)]
pub(super) struct ProgressSnapshot {
    pub(super) records: u64,
    pub(super) payload_bytes: u64,
    pub(super) window_latency_sum_us: u64,
    pub(super) window_latency_max_us: u64,
}

impl Progress {
    /// Adds `records` records of `payload_bytes` whose latencies sum to `latency_sum_us`.
    pub(super) fn add(
        &self,
        records: u64,
        payload_bytes: u64,
        latency_sum_us: u64,
        latency_max_us: u64,
    ) {
        self.records.fetch_add(records, Ordering::Relaxed);
        self.payload_bytes
            .fetch_add(payload_bytes, Ordering::Relaxed);
        self.window_latency_sum_us
            .fetch_add(latency_sum_us, Ordering::Relaxed);
        self.window_latency_max_us
            .fetch_max(latency_max_us, Ordering::Relaxed);
    }

    /// Totals so far; the window latency figures are reset.
    pub(super) fn take(&self) -> ProgressSnapshot {
        ProgressSnapshot {
            records: self.records.load(Ordering::Relaxed),
            payload_bytes: self.payload_bytes.load(Ordering::Relaxed),
            window_latency_sum_us: self.window_latency_sum_us.swap(0, Ordering::Relaxed),
            window_latency_max_us: self.window_latency_max_us.swap(0, Ordering::Relaxed),
        }
    }
}

/// A JSON object written by hand: the root crate has no `serde_json`, and the reports are
/// flat numbers and a few strings.
#[derive(Debug)]
pub(super) struct Json {
    out: String,
    empty: bool,
}

impl Json {
    pub(super) fn new() -> Json {
        Json {
            out: String::from("{"),
            empty: true,
        }
    }

    fn key(&mut self, key: &str) {
        if !self.empty {
            self.out.push(',');
        }
        self.empty = false;
        protocol::json::write_string(&mut self.out, key);
        self.out.push(':');
    }

    pub(super) fn str(&mut self, key: &str, value: &str) {
        self.key(key);
        protocol::json::write_string(&mut self.out, value);
    }

    pub(super) fn opt_str(&mut self, key: &str, value: Option<&str>) {
        match value {
            Some(v) => self.str(key, v),
            None => self.raw(key, "null"),
        }
    }

    pub(super) fn u64(&mut self, key: &str, value: u64) {
        self.key(key);
        let _ = write!(self.out, "{value}");
    }

    pub(super) fn i64(&mut self, key: &str, value: i64) {
        self.key(key);
        let _ = write!(self.out, "{value}");
    }

    pub(super) fn opt_i64(&mut self, key: &str, value: Option<i64>) {
        match value {
            Some(v) => self.i64(key, v),
            None => self.raw(key, "null"),
        }
    }

    /// Finite numbers with up to 6 decimals; NaN and infinities (which JSON lacks) as null.
    pub(super) fn f64(&mut self, key: &str, value: f64) {
        self.key(key);
        if value.is_finite() {
            let text = format!("{value:.6}");
            let text = text.trim_end_matches('0').trim_end_matches('.');
            self.out.push_str(if text.is_empty() || text == "-" {
                "0"
            } else {
                text
            });
        } else {
            self.out.push_str("null");
        }
    }

    pub(super) fn bool(&mut self, key: &str, value: bool) {
        self.key(key);
        self.out.push_str(if value { "true" } else { "false" });
    }

    /// `value` must already be JSON (a nested object from another [`Json`], `null`, …).
    pub(super) fn raw(&mut self, key: &str, value: &str) {
        self.key(key);
        self.out.push_str(value);
    }

    pub(super) fn finish(mut self) -> String {
        self.out.push('}');
        self.out
    }
}

/// A JSON array of already-encoded values.
pub(super) fn json_array<I: IntoIterator<Item = String>>(items: I) -> String {
    let mut out = String::from("[");
    for (i, item) in items.into_iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push_str(&item);
    }
    out.push(']');
    out
}

/// A JSON string literal.
pub(super) fn json_string(s: &str) -> String {
    let mut out = String::new();
    protocol::json::write_string(&mut out, s);
    out
}

/// Milliseconds since the Unix epoch as Kafka's consumer tool prints them by default
/// (`yyyy-MM-dd HH:mm:ss:SSS`), in UTC (Kafka uses the JVM's zone; UTC is unambiguous).
pub(super) fn format_utc_millis(epoch_ms: i64) -> String {
    let days = epoch_ms.div_euclid(86_400_000);
    let ms_of_day = epoch_ms.rem_euclid(86_400_000);
    let (y, m, d) = civil_from_days(days);
    let (h, rest) = (ms_of_day / 3_600_000, ms_of_day % 3_600_000);
    let (min, rest) = (rest / 60_000, rest % 60_000);
    let (s, ms) = (rest / 1000, rest % 1000);
    format!("{y:04}-{m:02}-{d:02} {h:02}:{min:02}:{s:02}:{ms:03}")
}

/// Howard Hinnant's `civil_from_days`: days since 1970-01-01 → (year, month, day).
fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn small_values_are_exact() {
        let mut h = Histogram::default();
        for v in 1..=100 {
            h.record(v);
        }
        assert_eq!(h.count(), 100);
        assert_eq!(h.quantile_micros(0.5), 50);
        assert_eq!(h.quantile_micros(0.99), 99);
        assert_eq!(h.quantile_micros(1.0), 100);
        assert_eq!(h.max_micros(), 100);
        assert!((h.mean_micros() - 50.5).abs() < 1e-9);
    }

    #[test]
    fn buckets_tile_the_range_and_keep_two_digits() {
        // Every value maps to a bucket whose range contains it, and ranges are contiguous.
        let mut prev_high = None;
        for i in 0..BUCKETS {
            let high = Histogram::highest_in(i);
            if let Some(p) = prev_high {
                assert_eq!(
                    Histogram::index(p + 1),
                    i,
                    "bucket {i} starts right after {p}"
                );
            }
            assert_eq!(Histogram::index(high), i);
            prev_high = Some(high);
            if high == u64::MAX {
                assert_eq!(i, BUCKETS - 1);
            }
        }
        for v in [128u64, 1000, 12_345, 999_999, 1 << 40, u64::MAX] {
            let high = Histogram::highest_in(Histogram::index(v));
            assert!(
                high >= v && (high - v) as f64 <= v as f64 / 64.0,
                "{v} -> {high}"
            );
        }
    }

    #[test]
    fn quantiles_of_a_wide_distribution() {
        let mut h = Histogram::default();
        for v in 0..10_000u64 {
            h.record(v * 100); // 0 .. 999_900 µs
        }
        let p99 = h.quantile_micros(0.99) as f64;
        assert!((p99 - 989_900.0).abs() / 989_900.0 < 1.0 / 64.0, "{p99}");
        assert_eq!(h.quantile_micros(1.0), 999_900);
        let mut other = Histogram::default();
        other.record(5_000_000);
        h.merge(&other);
        assert_eq!(h.max_micros(), 5_000_000);
        assert_eq!(h.count(), 10_001);
    }

    #[test]
    fn empty_histogram_reports_zero() {
        let s = Histogram::default().summary_ms();
        assert_eq!(s, LatencySummary::default());
    }

    #[test]
    fn producer_line_reads_like_kafkas() {
        let mut h = Histogram::default();
        h.record(1500);
        h.record(2500);
        let line =
            producer_summary_line(2, Duration::from_secs(1), 2 * 1024 * 1024, &h.summary_ms());
        assert_eq!(
            line,
            "2 records sent, 2.000000 records/sec (2.00 MB/sec), 2.00 ms avg latency, 2.50 ms \
             max latency, 1.50 ms 50th, 2.50 ms 95th, 2.50 ms 99th, 2.50 ms 99.9th."
        );
    }

    #[test]
    fn json_escapes_and_formats() {
        let mut j = Json::new();
        j.str("topic", "a\"b\\c\n\u{1}");
        j.u64("n", 5000);
        j.f64("rate", 12.5);
        j.f64("zero", 0.0);
        j.f64("nan", f64::NAN);
        j.bool("ok", true);
        j.raw("lat", &LatencySummary::default().to_json());
        assert_eq!(
            j.finish(),
            r#"{"topic":"a\"b\\c\n\u0001","n":5000,"rate":12.5,"zero":0,"nan":null,"ok":true,"lat":{"avg":0,"max":0,"p50":0,"p95":0,"p99":0,"p99_9":0}}"#
        );
        assert_eq!(json_array(vec!["1".to_string(), "2".to_string()]), "[1,2]");
    }

    #[test]
    fn utc_dates() {
        assert_eq!(format_utc_millis(0), "1970-01-01 00:00:00:000");
        assert_eq!(
            format_utc_millis(951_782_400_123),
            "2000-02-29 00:00:00:123"
        );
        assert_eq!(
            format_utc_millis(1_700_000_000_000),
            "2023-11-14 22:13:20:000"
        );
        assert_eq!(format_utc_millis(-1), "1969-12-31 23:59:59:999");
    }
}
