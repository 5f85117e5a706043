//! The commented single-node `server.properties` that `kraftbridge quickstart` writes: the
//! values of Kafka's own `config/kraft/server.properties` (one combined broker+controller on
//! loopback), with comments that say what each setting does, as Kafka's file does.

use std::path::Path;

use super::{java_properties, ConfigError};

/// A single-node KRaft configuration whose data lives under `<dir>/data`.
///
/// Fails only when `dir` cannot be written into a `log.dirs` value: it must be valid UTF-8 and
/// must not contain a comma (the `log.dirs` separator).
pub(crate) fn quickstart_properties(dir: &Path, node_id: i32) -> Result<String, ConfigError> {
    let data = dir.join("data");
    let data = match data.to_str() {
        Some(s) if !s.contains(',') => s.to_string(),
        _ => {
            return Err(ConfigError::InvalidValue {
                key: "log.dirs".to_string(),
                value: data.display().to_string(),
                reason: "the quickstart directory must be valid UTF-8 without commas".to_string(),
            })
        }
    };
    if node_id < 0 {
        return Err(ConfigError::InvalidValue {
            key: "node.id".to_string(),
            value: node_id.to_string(),
            reason: "must be at least 0".to_string(),
        });
    }
    let log_dirs = java_properties::escape_value(&data);
    Ok(format!(
        r#"# kraftbridge quickstart configuration: one process acting as both broker and
# controller (KRaft "combined" mode), listening on loopback only. Key names and meanings are
# Apache Kafka's, so this file also works with kafka-server-start.sh.
#
# Before the first start the log directory must be formatted:
#   kraftbridge storage format -t "$(kraftbridge storage random-uuid)" -c <this file>

############################# Server Basics #############################

# The roles of this process. Setting process.roles selects KRaft mode (no ZooKeeper);
# "broker,controller" runs both in one process.
process.roles=broker,controller

# The id of this node, unique in the cluster. Controllers use it as their Raft voter id.
node.id={node_id}

# The controller quorum as id@host:port entries, one per controller. Every broker and
# controller lists the same voters; this node is the only one.
controller.quorum.voters={node_id}@127.0.0.1:9093

############################# Socket Server Settings #############################

# Addresses to bind, as LISTENER_NAME://host:port. A combined node must list the controller
# listener here. An empty host (PLAINTEXT://:9092) binds every interface.
listeners=PLAINTEXT://127.0.0.1:9092,CONTROLLER://127.0.0.1:9093

# The listener that brokers use to talk to each other (Kafka's default: the one named after
# security.inter.broker.protocol, PLAINTEXT). A single node has no inter-broker traffic, so
# kraftbridge accepts this key without effect and logs that when it is set.
#inter.broker.listener.name=PLAINTEXT

# What clients are told to connect to. If unset, the broker listeners above are advertised.
advertised.listeners=PLAINTEXT://127.0.0.1:9092

# The listener(s) the controllers serve; required in KRaft mode. A broker-only node lists the
# name here but not in listeners.
controller.listener.names=CONTROLLER

# Maps each listener name to its security protocol. kraftbridge serves PLAINTEXT only.
listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT

# Threads for network and request handling. kraftbridge sizes its runtime itself: these are
# accepted without effect (and logged when set).
#num.network.threads=3
#num.io.threads=8

# The largest request the server accepts, a guard against memory exhaustion.
socket.request.max.bytes=104857600

############################# Log Basics #############################

# Comma-separated directories that hold partition data. The metadata log
# (__cluster_metadata-0) goes into the first one unless metadata.log.dir is set.
log.dirs={log_dirs}

# Partitions for automatically created topics and for topics created without a count.
num.partitions=1

############################# Internal Topic Settings #############################

# Replication of the internal __consumer_offsets topic. Kafka's default (3) needs three
# brokers; a single node needs 1.
offsets.topic.replication.factor=1
# The same for __transaction_state; transactions are not implemented yet, so these are
# accepted without effect (and logged when set).
#transaction.state.log.replication.factor=1
#transaction.state.log.min.isr=1

############################# Log Flush Policy #############################

# Data is acknowledged once it is in the log and the page cache; replication provides
# durability. Uncomment to also force an fsync after this many messages or milliseconds.
#log.flush.interval.messages=10000
#log.flush.interval.ms=1000

############################# Log Retention Policy #############################

# Delete segments older than this (7 days) ...
log.retention.hours=168

# ... or, if set, once a partition is larger than this many bytes.
#log.retention.bytes=1073741824

# Roll to a new segment file at this size.
log.segment.bytes=1073741824
"#
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::ServerConfig;
    use std::path::PathBuf;

    #[test]
    fn quickstart_is_a_valid_warning_free_combined_config() {
        let text = quickstart_properties(Path::new("/tmp/kb quick"), 1).unwrap();
        let loaded = ServerConfig::parse(&text, &[]).unwrap_or_else(|e| panic!("{e}"));
        assert!(loaded.warnings.is_empty(), "{:?}", loaded.warnings);
        // Starts without a single "has no effect" line: the file sets only keys that act.
        assert!(
            loaded.without_effect.is_empty(),
            "{:?}",
            loaded.without_effect
        );
        let c = loaded.config;
        assert!(c.is_broker() && c.is_controller());
        assert_eq!(c.node_id, 1);
        assert_eq!(c.log_dirs, vec![PathBuf::from("/tmp/kb quick/data")]);
        assert_eq!(c.offsets_topic_replication_factor, 1);
        assert_eq!(c.num_partitions, 1);
        assert_eq!(c.controller_quorum_voters[0].id, 1);
        assert_eq!(
            c.advertised_listeners[0].to_string(),
            "PLAINTEXT://127.0.0.1:9092"
        );
        for line in [
            "process.roles=broker,controller",
            "node.id=1",
            "controller.quorum.voters=1@127.0.0.1:9093",
            "listeners=PLAINTEXT://127.0.0.1:9092,CONTROLLER://127.0.0.1:9093",
            "advertised.listeners=PLAINTEXT://127.0.0.1:9092",
            "controller.listener.names=CONTROLLER",
        ] {
            assert!(text.lines().any(|l| l == line), "missing {line}");
        }
    }

    #[test]
    fn other_node_ids_and_odd_paths() {
        let text = quickstart_properties(Path::new("C:\\kb#1"), 7).unwrap();
        let c = ServerConfig::parse(&text, &[]).unwrap().config;
        assert_eq!(c.node_id, 7);
        assert_eq!(c.controller_quorum_voters[0].id, 7);
        assert_eq!(
            c.log_dirs[0].to_str().unwrap(),
            format!("C:\\kb#1{}data", std::path::MAIN_SEPARATOR)
        );
        assert!(quickstart_properties(Path::new("/a,b"), 1).is_err());
        assert!(quickstart_properties(Path::new("/a"), -1).is_err());
    }
}
