//! `kraftbridge dump-log` (Kafka's `kafka-dump-log.sh`): prints the batches and records of
//! log segments (`*.log`) and KRaft snapshots (`*.checkpoint`, the same RecordBatch framing),
//! line for line as Kafka 3.9's `DumpLogSegments` does.
//!
//! With `--cluster-metadata-decoder`, each `__cluster_metadata` record is printed as
//! `payload: {"type":"TOPIC_RECORD","version":0,"data":{…}}`, the JSON coming from the
//! converters `protocol/build.rs` generates from the schemas. Control records print as Kafka
//! prints them (`SnapshotHeader {…}`, `KRaftVoters {…}`, `controlType: LEADER_CHANGE(2)`, …).
//!
//! Reads files only; never writes. A partial batch at the end is reported as Kafka does
//! ("Found N invalid bytes at the end of …"); a corrupt batch stops the dump with an error
//! naming the file and byte position, where Kafka's reader throws.

use std::io::Write;
use std::path::Path;

use anyhow::{bail, Context};
use bytes::Bytes;
use metadata::MetadataRecord;
use protocol::json::{JsonValue, ToJson};
use protocol::messages::{
    KRaftVersionRecord, Message, SnapshotFooterRecord, SnapshotHeaderRecord, VotersRecord,
};
use protocol::records::{
    log_batches, Batch, ControlRecordType, EndTxnMarker, LogScanError, Record, TimestampType,
};

/// Kafka's `RecordIndent`, the start of every record line.
const RECORD_INDENT: &str = "|";
/// Kafka's name of the binary bootstrap snapshot (`BootstrapDirectory`).
const BOOTSTRAP_FILE: &str = "bootstrap.checkpoint";

/// What to print for each record's key and value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Payload {
    /// Nothing (`--deep-iteration` alone).
    None,
    /// Key and value as UTF-8 text (`--print-data-log`, Kafka's default `StringDecoder`).
    Text,
    /// `__cluster_metadata` records as JSON (`--cluster-metadata-decoder`).
    ClusterMetadata,
}

/// The options of one run, as Kafka's `DumpLogSegmentsOptions` derives them.
#[derive(Debug, Clone, Copy)]
pub(crate) struct DumpOptions {
    /// Print a line per record, not only per batch.
    pub(crate) deep: bool,
    pub(crate) payload: Payload,
    /// `--skip-record-metadata`: no offset/timestamp/size part in record lines.
    pub(crate) skip_record_metadata: bool,
}

impl DumpOptions {
    /// Kafka: a decoder or `--print-data-log` implies deep iteration.
    pub(crate) fn new(
        cluster_metadata_decoder: bool,
        print_data_log: bool,
        deep_iteration: bool,
        skip_record_metadata: bool,
    ) -> DumpOptions {
        let payload = if cluster_metadata_decoder {
            Payload::ClusterMetadata
        } else if print_data_log {
            Payload::Text
        } else {
            Payload::None
        };
        DumpOptions {
            deep: deep_iteration || payload != Payload::None,
            payload,
            skip_record_metadata,
        }
    }
}

/// `kraftbridge dump-log`: dumps every file in order. Unknown suffixes are skipped with a
/// note on `err`, as Kafka does; an unreadable or corrupt file stops the run.
pub(crate) fn dump_command(
    files: &[impl AsRef<Path>],
    opts: DumpOptions,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> anyhow::Result<()> {
    if files.is_empty() {
        bail!("Missing required argument \"[files]\"");
    }
    for file in files {
        let file = file.as_ref();
        writeln!(out, "Dumping {}", file.display())?;
        let name = file_name(file);
        if name.ends_with(".log") || name.ends_with(".checkpoint") {
            let bytes =
                std::fs::read(file).with_context(|| format!("cannot read {}", file.display()))?;
            dump_file(file, Bytes::from(bytes), opts, out, err)?;
        } else {
            writeln!(err, "Ignoring unknown file {}", file.display())?;
        }
    }
    Ok(())
}

fn file_name(file: &Path) -> String {
    file.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}

/// Dumps one segment or snapshot whose contents are `bytes`.
pub(crate) fn dump_file(
    file: &Path,
    bytes: Bytes,
    opts: DumpOptions,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> anyhow::Result<()> {
    let name = file_name(file);
    if let Some(stem) = name.strip_suffix(".log") {
        let start: i64 = stem
            .parse()
            .with_context(|| format!("{}: not a log segment name", file.display()))?;
        writeln!(out, "Log starting offset: {start}")?;
    } else if name == BOOTSTRAP_FILE {
        writeln!(out, "KRaft bootstrap snapshot")?;
    } else if let Some((offset, epoch)) = snapshot_id(&name) {
        writeln!(out, "Snapshot end offset: {offset}, epoch: {epoch}")?;
    } else {
        bail!(
            "{}: not a snapshot name (<offset>-<epoch>.checkpoint)",
            file.display()
        );
    }
    let mut valid_bytes = 0usize;
    let mut last_offset: Option<i64> = None;
    let mut gaps = Vec::new();
    for batch in log_batches(&bytes) {
        let batch = match batch {
            Ok(batch) => batch,
            // Kafka's file reader stops silently at a partial batch; the count below tells.
            Err(LogScanError::TruncatedTail { .. }) => break,
            Err(LogScanError::Corrupt { position, error }) => {
                bail!(
                    "{}: corrupt batch at position {position}: {error}",
                    file.display()
                )
            }
        };
        write_batch_line(out, &batch, valid_bytes)?;
        if opts.deep {
            for record in batch.records() {
                let record = record.with_context(|| {
                    format!(
                        "{}: corrupt record in the batch at position {valid_bytes} \
                         (baseOffset {})",
                        file.display(),
                        batch.header.base_offset
                    )
                })?;
                if let Some(last) = last_offset {
                    if record.offset() != last + 1 {
                        gaps.push((last, record.offset()));
                    }
                }
                last_offset = Some(record.offset());
                write_record_line(out, &batch, &record, opts).with_context(|| {
                    format!(
                        "{}: record at offset {} (batch at position {valid_bytes})",
                        file.display(),
                        record.offset()
                    )
                })?;
            }
        }
        valid_bytes += batch.size_in_bytes();
    }
    let trailing = bytes.len() - valid_bytes;
    if trailing > 0 {
        writeln!(out, "Found {trailing} invalid bytes at the end of {name}")?;
    }
    if !gaps.is_empty() {
        writeln!(err, "Non-consecutive offsets in {}", file.display())?;
        for (first, second) in gaps {
            writeln!(err, "  {first} is followed by {second}")?;
        }
    }
    Ok(())
}

/// The snapshot id in `<20-digit end offset>-<10-digit epoch>.checkpoint`.
pub(crate) fn snapshot_id(name: &str) -> Option<(i64, i32)> {
    let (offset, epoch) = name.strip_suffix(".checkpoint")?.split_once('-')?;
    if offset.len() != 20 || epoch.len() != 10 {
        return None;
    }
    Some((offset.parse().ok()?, epoch.parse().ok()?))
}

fn timestamp_type(t: TimestampType) -> &'static str {
    match t {
        TimestampType::CreateTime => "CreateTime",
        TimestampType::LogAppendTime => "LogAppendTime",
    }
}

/// Kafka's `printBatchLevel` for a v2 batch.
fn write_batch_line(out: &mut dyn Write, batch: &Batch, position: usize) -> anyhow::Result<()> {
    let h = &batch.header;
    let delete_horizon = if h.has_delete_horizon() {
        format!("OptionalLong[{}]", h.base_timestamp)
    } else {
        "OptionalLong.empty".to_string()
    };
    let codec = match h.compression() {
        Ok(c) => c.name().to_string(),
        Err(_) => format!("unknown({})", h.attributes & 0x07),
    };
    writeln!(
        out,
        "baseOffset: {} lastOffset: {} count: {} baseSequence: {} lastSequence: {} \
         producerId: {} producerEpoch: {} partitionLeaderEpoch: {} isTransactional: {} \
         isControl: {} deleteHorizonMs: {} position: {} {}: {} size: {} magic: {} \
         compresscodec: {} crc: {} isvalid: {}",
        h.base_offset,
        h.last_offset(),
        h.records_count,
        h.base_sequence,
        h.last_sequence(),
        h.producer_id,
        h.producer_epoch,
        h.partition_leader_epoch,
        h.is_transactional(),
        h.is_control(),
        delete_horizon,
        position,
        timestamp_type(h.timestamp_type()),
        h.max_timestamp,
        batch.size_in_bytes(),
        h.magic,
        codec,
        h.crc,
        batch.verify_crc().is_ok(),
    )?;
    Ok(())
}

/// One `| offset: …` line, as Kafka's `dumpLog` prints it.
fn write_record_line(
    out: &mut dyn Write,
    batch: &Batch,
    record: &Record,
    opts: DumpOptions,
) -> anyhow::Result<()> {
    let mut line = String::new();
    let mut prefix = format!("{RECORD_INDENT} ");
    if !opts.skip_record_metadata {
        let header_keys: Vec<String> = record
            .headers()
            .map(|h| String::from_utf8_lossy(h.key).into_owned())
            .collect();
        line.push_str(&format!(
            "{prefix}offset: {} {}: {} keySize: {} valueSize: {} sequence: {} headerKeys: [{}]",
            record.offset(),
            timestamp_type(batch.header.timestamp_type()),
            record.timestamp(),
            record.key().map_or(-1, |k| k.len() as i64),
            record.value().map_or(-1, |v| v.len() as i64),
            record.sequence(),
            header_keys.join(","),
        ));
        prefix = " ".to_string();
        if batch.header.is_control() {
            line.push_str(&control_text(record)?);
        }
    }
    if !batch.header.is_control() {
        match opts.payload {
            Payload::None => {}
            Payload::Text => {
                if let Some(key) = record.key() {
                    line.push_str(&format!("{prefix}key: {}", String::from_utf8_lossy(key)));
                }
                if let Some(value) = record.value() {
                    line.push_str(&format!(" payload: {}", String::from_utf8_lossy(value)));
                }
            }
            Payload::ClusterMetadata => {
                line.push_str(&format!(" payload: {}", metadata_payload(record)));
            }
        }
    }
    writeln!(out, "{line}")?;
    Ok(())
}

/// Kafka's `ClusterMetadataLogMessageParser`: the record as `{"type","version","data"}`, or
/// `Error at OFFSET, skipping. REASON` for a value that is not a metadata record.
fn metadata_payload(record: &Record) -> String {
    let Some(value) = record.value_bytes() else {
        return format!(
            "Error at {}, skipping. the record has no value",
            record.offset()
        );
    };
    match MetadataRecord::decode(value) {
        Ok(r) => JsonValue::Object(vec![
            ("type", JsonValue::Str(r.body.type_name().to_string())),
            ("version", JsonValue::Int(i64::from(r.version))),
            ("data", r.body.to_json(r.version)),
        ])
        .to_compact(),
        Err(e) => format!("Error at {}, skipping. {e}", record.offset()),
    }
}

/// The part of a control record's line after its metadata: Kafka prints the Raft control
/// messages as JSON and names the other types.
fn control_text(record: &Record) -> anyhow::Result<String> {
    let key = record.key().unwrap_or_default();
    let kind = ControlRecordType::parse_key(key)?;
    let value = record.value().unwrap_or_default();
    Ok(match kind {
        ControlRecordType::Abort | ControlRecordType::Commit => {
            let marker = EndTxnMarker::parse_value(value)?;
            format!(
                " endTxnMarker: {} coordinatorEpoch: {}",
                control_type_name(kind),
                marker.coordinator_epoch
            )
        }
        ControlRecordType::SnapshotHeader => {
            format!(
                " SnapshotHeader {}",
                control_json::<SnapshotHeaderRecord>(value)?
            )
        }
        ControlRecordType::SnapshotFooter => {
            format!(
                " SnapshotFooter {}",
                control_json::<SnapshotFooterRecord>(value)?
            )
        }
        ControlRecordType::KraftVersion => {
            format!(
                " KRaftVersion {}",
                control_json::<KRaftVersionRecord>(value)?
            )
        }
        ControlRecordType::KraftVoters => {
            format!(" KRaftVoters {}", control_json::<VotersRecord>(value)?)
        }
        ControlRecordType::LeaderChange | ControlRecordType::Unknown(_) => {
            format!(" controlType: {}({})", control_type_name(kind), kind.id())
        }
    })
}

/// Kafka's `ControlRecordType` constant names.
fn control_type_name(kind: ControlRecordType) -> &'static str {
    match kind {
        ControlRecordType::Abort => "ABORT",
        ControlRecordType::Commit => "COMMIT",
        ControlRecordType::LeaderChange => "LEADER_CHANGE",
        ControlRecordType::SnapshotHeader => "SNAPSHOT_HEADER",
        ControlRecordType::SnapshotFooter => "SNAPSHOT_FOOTER",
        ControlRecordType::KraftVersion => "KRAFT_VERSION",
        ControlRecordType::KraftVoters => "KRAFT_VOTERS",
        ControlRecordType::Unknown(_) => "UNKNOWN",
    }
}

/// A Raft control message as Kafka's `ControlRecordUtils` reads it: its first field is an
/// int16 version, which is also the schema version of the whole value.
fn control_json<T: Message + ToJson>(value: &[u8]) -> anyhow::Result<String> {
    let Some(version) = value.first_chunk::<2>().map(|v| i16::from_be_bytes(*v)) else {
        bail!("{} value shorter than its version field", T::NAME);
    };
    let message = T::decode(&mut Bytes::copy_from_slice(value), version)
        .map_err(|e| anyhow::anyhow!("cannot decode {} version {version}: {e}", T::NAME))?;
    Ok(message.to_json(version).to_compact())
}

#[cfg(test)]
mod tests;
