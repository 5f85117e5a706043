//! Security metadata: ACLs (AccessControlEntryRecord / RemoveAccessControlEntryRecord, keys
//! 18/19, KIP-801), SCRAM credentials (UserScramCredentialRecord /
//! RemoveUserScramCredentialRecord, keys 11/22, KIP-554) and delegation tokens
//! (DelegationTokenRecord / RemoveDelegationTokenRecord, keys 10/26, KIP-900).
//!
//! Stored as plain maps; the authorizer and SASL layers that read them come later.

use std::collections::BTreeMap;
use std::sync::Arc;

use bytes::Bytes;
use protocol::messages::{
    AccessControlEntryRecord, DelegationTokenRecord, MetadataRecordBody,
    RemoveAccessControlEntryRecord, RemoveDelegationTokenRecord, RemoveUserScramCredentialRecord,
    UserScramCredentialRecord,
};
use protocol::Uuid;

use crate::error::ReplayError;
use crate::record::MetadataRecord;

/// One ACL binding (Kafka's `StandardAcl`); the enums keep Kafka's wire ids.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct StandardAcl {
    pub resource_type: i8,
    pub resource_name: String,
    pub pattern_type: i8,
    pub principal: String,
    pub host: String,
    pub operation: i8,
    pub permission_type: i8,
}

/// ACLs by their id.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct AclsImage {
    pub acls: Arc<BTreeMap<Uuid, StandardAcl>>,
}

impl AclsImage {
    pub(crate) fn replay(&mut self, r: &AccessControlEntryRecord) {
        let acl = StandardAcl {
            resource_type: r.resource_type,
            resource_name: r.resource_name.clone(),
            pattern_type: r.pattern_type,
            principal: r.principal.clone(),
            host: r.host.clone(),
            operation: r.operation,
            permission_type: r.permission_type,
        };
        Arc::make_mut(&mut self.acls).insert(r.id, acl);
    }

    /// Kafka's `AclsDelta` throws for an unknown id; so do we.
    pub(crate) fn replay_remove(
        &mut self,
        r: &RemoveAccessControlEntryRecord,
    ) -> Result<(), ReplayError> {
        if !self.acls.contains_key(&r.id) {
            return Err(ReplayError::UnknownAcl { id: r.id });
        }
        Arc::make_mut(&mut self.acls).remove(&r.id);
        Ok(())
    }

    pub(crate) fn write(&self, out: &mut Vec<MetadataRecord>) {
        for (id, a) in self.acls.iter() {
            out.push(MetadataRecord::new(
                0,
                MetadataRecordBody::AccessControlEntry(AccessControlEntryRecord {
                    id: *id,
                    resource_type: a.resource_type,
                    resource_name: a.resource_name.clone(),
                    pattern_type: a.pattern_type,
                    principal: a.principal.clone(),
                    host: a.host.clone(),
                    operation: a.operation,
                    permission_type: a.permission_type,
                }),
            ));
        }
    }
}

/// A SCRAM credential's identity: user name and mechanism (1 SHA-256, 2 SHA-512).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ScramKey {
    pub name: String,
    pub mechanism: i8,
}

/// A stored SCRAM credential (RFC 5802 salted keys).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ScramCredential {
    pub salt: Bytes,
    pub stored_key: Bytes,
    pub server_key: Bytes,
    pub iterations: i32,
}

/// SCRAM credentials by user and mechanism.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ScramImage {
    pub credentials: Arc<BTreeMap<ScramKey, ScramCredential>>,
}

impl ScramImage {
    pub(crate) fn replay(&mut self, r: &UserScramCredentialRecord) {
        let key = ScramKey {
            name: r.name.clone(),
            mechanism: r.mechanism,
        };
        let credential = ScramCredential {
            salt: r.salt.clone(),
            stored_key: r.stored_key.clone(),
            server_key: r.server_key.clone(),
            iterations: r.iterations,
        };
        Arc::make_mut(&mut self.credentials).insert(key, credential);
    }

    /// Removing an absent credential is a no-op, as in Kafka's `ScramDelta`.
    pub(crate) fn replay_remove(&mut self, r: &RemoveUserScramCredentialRecord) {
        let key = ScramKey {
            name: r.name.clone(),
            mechanism: r.mechanism,
        };
        if self.credentials.contains_key(&key) {
            Arc::make_mut(&mut self.credentials).remove(&key);
        }
    }

    pub(crate) fn write(&self, out: &mut Vec<MetadataRecord>) {
        for (k, c) in self.credentials.iter() {
            out.push(MetadataRecord::new(
                0,
                MetadataRecordBody::UserScramCredential(UserScramCredentialRecord {
                    name: k.name.clone(),
                    mechanism: k.mechanism,
                    salt: c.salt.clone(),
                    stored_key: c.stored_key.clone(),
                    server_key: c.server_key.clone(),
                    iterations: c.iterations,
                }),
            ));
        }
    }
}

/// A delegation token's metadata (not its HMAC, which brokers derive).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct DelegationTokenData {
    pub owner: String,
    pub requester: String,
    pub renewers: Vec<String>,
    pub issue_timestamp: i64,
    pub max_timestamp: i64,
    pub expiration_timestamp: i64,
}

/// Delegation tokens by token id.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct DelegationTokensImage {
    pub tokens: Arc<BTreeMap<String, DelegationTokenData>>,
}

impl DelegationTokensImage {
    pub(crate) fn replay(&mut self, r: &DelegationTokenRecord) {
        let data = DelegationTokenData {
            owner: r.owner.clone(),
            requester: r.requester.clone(),
            renewers: r.renewers.clone(),
            issue_timestamp: r.issue_timestamp,
            max_timestamp: r.max_timestamp,
            expiration_timestamp: r.expiration_timestamp,
        };
        Arc::make_mut(&mut self.tokens).insert(r.token_id.clone(), data);
    }

    /// Removing an absent token is a no-op, as in Kafka's `DelegationTokenDelta`.
    pub(crate) fn replay_remove(&mut self, r: &RemoveDelegationTokenRecord) {
        if self.tokens.contains_key(&r.token_id) {
            Arc::make_mut(&mut self.tokens).remove(&r.token_id);
        }
    }

    pub(crate) fn write(&self, out: &mut Vec<MetadataRecord>) {
        for (id, t) in self.tokens.iter() {
            out.push(MetadataRecord::new(
                0,
                MetadataRecordBody::DelegationToken(DelegationTokenRecord {
                    owner: t.owner.clone(),
                    requester: t.requester.clone(),
                    renewers: t.renewers.clone(),
                    issue_timestamp: t.issue_timestamp,
                    max_timestamp: t.max_timestamp,
                    expiration_timestamp: t.expiration_timestamp,
                    token_id: id.clone(),
                }),
            ));
        }
    }
}
