//! DescribeCluster and DescribeLogDirs.

use protocol::messages::describe_cluster_response::DescribeClusterBroker;
use protocol::messages::describe_log_dirs_response::{
    DescribeLogDirsPartition, DescribeLogDirsResult, DescribeLogDirsTopic,
};
use protocol::messages::{
    DescribeClusterRequest, DescribeClusterResponse, DescribeLogDirsRequest,
    DescribeLogDirsResponse,
};
use protocol::ErrorCode;

use super::Broker;

/// Every cluster operation bit (no authorizer): ALTER 7, DESCRIBE 8, CLUSTER_ACTION 9,
/// DESCRIBE_CONFIGS 10, ALTER_CONFIGS 11, IDEMPOTENT_WRITE 12, CREATE 5.
const CLUSTER_OPERATIONS_ALL: i32 =
    (1 << 5) | (1 << 7) | (1 << 8) | (1 << 9) | (1 << 10) | (1 << 11) | (1 << 12);

impl Broker {
    pub(super) fn describe_cluster(
        &self,
        req: DescribeClusterRequest,
        version: i16,
    ) -> DescribeClusterResponse {
        // v1 EndpointType 2 asks for controllers (KIP-919): this node is a combined node, so
        // it answers for itself on the controller listener only once the quorum issue lands;
        // until then brokers (1) is the only endpoint type we serve.
        if version >= 1 && req.endpoint_type != 1 {
            return DescribeClusterResponse {
                error_code: ErrorCode::UNSUPPORTED_ENDPOINT_TYPE.code(),
                error_message: Some("only broker endpoints (endpoint type 1) are served".into()),
                endpoint_type: req.endpoint_type,
                cluster_id: self.settings.cluster_id.clone(),
                ..Default::default()
            };
        }
        let image = self.image();
        let brokers = self
            .alive_brokers(&image)
            .into_iter()
            .map(|b| DescribeClusterBroker {
                broker_id: b.node_id,
                host: b.host,
                port: b.port,
                rack: b.rack,
            })
            .collect();
        DescribeClusterResponse {
            cluster_id: self.settings.cluster_id.clone(),
            controller_id: self.settings.node_id,
            brokers,
            cluster_authorized_operations: if req.include_cluster_authorized_operations {
                CLUSTER_OPERATIONS_ALL
            } else {
                i32::MIN
            },
            ..Default::default()
        }
    }

    pub(super) async fn describe_log_dirs(
        &self,
        req: DescribeLogDirsRequest,
    ) -> DescribeLogDirsResponse {
        let sizes = self.replicas.partition_sizes().await;
        let wanted = |topic: &str, partition: i32| match &req.topics {
            None => true,
            Some(list) => list
                .iter()
                .any(|t| t.topic == topic && t.partitions.contains(&partition)),
        };
        let mut topics: Vec<DescribeLogDirsTopic> = Vec::new();
        for (tp, size) in sizes {
            if !wanted(&tp.topic, tp.partition) {
                continue;
            }
            let part = DescribeLogDirsPartition {
                partition_index: tp.partition,
                partition_size: size as i64,
                offset_lag: 0,
                is_future_key: false,
            };
            match topics.last_mut() {
                Some(t) if t.name == tp.topic => t.partitions.push(part),
                _ => topics.push(DescribeLogDirsTopic {
                    name: tp.topic,
                    partitions: vec![part],
                }),
            }
        }
        let dir = self.replicas.log_dir();
        DescribeLogDirsResponse {
            results: vec![DescribeLogDirsResult {
                error_code: 0,
                log_dir: dir.display().to_string(),
                topics,
                // Total and usable bytes (v4) stay -1, "unknown", until we read statvfs.
                total_bytes: -1,
                usable_bytes: -1,
            }],
            ..Default::default()
        }
    }
}
