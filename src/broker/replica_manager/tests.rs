//! Replica manager tests on real temp dirs: the periodic flush's locking and clean shutdown.
//! The helpers build managers and metadata images for the other modules' tests too.

use metadata::{MetadataImage, MetadataRecordBody};
use protocol::records::{BatchBuilder, Compression};
use storage::log::LogConfig;

use super::*;
use crate::broker::test_broker::{next_image, topic_records};

/// A manager over `dir` whose partitions use `log` as their config.
pub(super) fn manager(dir: &Path, log: LogConfig) -> ReplicaManager {
    let config = PartitionConfig {
        log,
        log_append_time: false,
    };
    // Kafka's defaults of producer.id.expiration.ms and its check interval.
    let expiry = ProducerExpiry {
        expiration_ms: 86_400_000,
        check_interval_ms: 600_000,
    };
    ReplicaManager::open(1, dir.to_path_buf(), config, expiry).expect("open")
}

/// The records of a topic `name` with id `[id; 16]` and `partitions` partitions on node 1.
pub(super) fn topic(name: &str, id: u8, partitions: i32) -> Vec<MetadataRecordBody> {
    topic_records(name, Uuid([id; 16]), partitions)
}

/// A manager hosting topic "a" with `partitions` partitions.
fn hosting(dir: &Path, partitions: i32, log: LogConfig) -> ReplicaManager {
    let m = manager(dir, log);
    m.apply_image(
        None,
        &next_image(&MetadataImage::empty(), topic("a", 1, partitions)),
    );
    m
}

/// Appends one client batch of `records` records as a Produce would; returns its offset.
fn produce(m: &ReplicaManager, tp: &TopicPartition, records: usize) -> i64 {
    let mut b = BatchBuilder::new(Compression::None);
    for _ in 0..records {
        b.append(now_ms(), None, Some(&[b'v'; 100]), &[])
            .expect("record");
    }
    let mut batch = BytesMut::from(&b.build().expect("batch").bytes[..]);
    match m.append_one(tp, &mut batch, Keys::Missing, now_ms(), MayBlock::Yes) {
        Some(AppendOutcome::Appended { base_offset, .. }) => base_offset,
        other => panic!("append failed: {other:?}"),
    }
}

/// The periodic flush releases the partition's log lock while its fsyncs run: from inside
/// the job's run (where `maintain` fsyncs), the lock is free and an append proceeds, and the
/// completed flush does not claim that append as durable.
#[test]
fn append_proceeds_while_a_flush_job_runs() {
    let dir = tempfile::tempdir().expect("tempdir");
    // flush.ms = 0: every housekeeping run flushes everything appended.
    let config = LogConfig {
        flush_ms: 0,
        ..LogConfig::default()
    };
    let m = hosting(dir.path(), 1, config);
    let tp = TopicPartition::new("a", 0);
    let p = m.get(&tp).expect("hosted");
    produce(&m, &tp, 5);

    let mut appended_during_job = None;
    flush_if_due(&tp, &p, now_ms(), |job| {
        assert_eq!(job.offset(), 5);
        assert!(
            p.log.try_lock().is_ok(),
            "the log is locked during the fsyncs"
        );
        appended_during_job = Some(produce(&m, &tp, 3));
        job.run()
    });
    assert_eq!(appended_during_job, Some(5));
    let log = p.log();
    assert_eq!(log.log_end_offset(), 8);
    assert_eq!(log.recovery_point(), 5, "the job's offset, not the log end");
}

/// A clean shutdown closes every partition (here on several threads), then writes the
/// recovery checkpoint and the clean-shutdown marker; the next start trusts them.
#[test]
fn close_closes_every_partition_then_marks_a_clean_shutdown() {
    let dir = tempfile::tempdir().expect("tempdir");
    let m = hosting(dir.path(), 40, LogConfig::default());
    for partition in 0..40 {
        let tp = TopicPartition::new("a", partition);
        for _ in 0..=partition % 3 {
            produce(&m, &tp, 2);
        }
    }
    m.close(true).expect("close");
    assert!(m.partitions.read().expect("lock").is_empty());

    let dir = LogDir::open(dir.path()).expect("log dir");
    assert_eq!(dir.shutdown(), storage::Shutdown::Clean);
    for partition in 0..40 {
        let tp = TopicPartition::new("a", partition);
        let options = dir.load_options(&tp);
        let end = 2 * (1 + i64::from(partition % 3));
        assert_eq!(options.recovery_point, end, "{tp}");
    }
}
