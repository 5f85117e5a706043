//! Client quotas: ClientQuotaRecord (`docs/formats.md` §11.4 key 14, KIP-546).
//!
//! An entity is a set of (type, name) pairs, e.g. `{user: alice, client-id: null}`; a null
//! name is the default entity of that type. Each record sets or removes one quota key.

use std::collections::BTreeMap;
use std::sync::Arc;

use protocol::messages::client_quota_record::EntityData;
use protocol::messages::{ClientQuotaRecord, MetadataRecordBody};

use crate::record::MetadataRecord;

/// Entity type (`user`, `client-id`, `ip`) → name (`None` = the default entity).
pub type ClientQuotaEntity = BTreeMap<String, Option<String>>;

/// Quota values by entity, then by key (e.g. `producer_byte_rate`).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ClientQuotasImage {
    pub entities: Arc<BTreeMap<ClientQuotaEntity, BTreeMap<String, f64>>>,
}

impl ClientQuotasImage {
    pub(crate) fn replay(&mut self, r: &ClientQuotaRecord) {
        let entity: ClientQuotaEntity = r
            .entity
            .iter()
            .map(|e| (e.entity_type.clone(), e.entity_name.clone()))
            .collect();
        if r.remove {
            let present = self
                .entities
                .get(&entity)
                .is_some_and(|q| q.contains_key(&r.key));
            if !present {
                return;
            }
            let entities = Arc::make_mut(&mut self.entities);
            if let Some(quotas) = entities.get_mut(&entity) {
                quotas.remove(&r.key);
                if quotas.is_empty() {
                    entities.remove(&entity);
                }
            }
        } else {
            Arc::make_mut(&mut self.entities)
                .entry(entity)
                .or_default()
                .insert(r.key.clone(), r.value);
        }
    }

    pub(crate) fn write(&self, out: &mut Vec<MetadataRecord>) {
        for (entity, quotas) in self.entities.iter() {
            for (key, value) in quotas {
                out.push(MetadataRecord::new(
                    0,
                    MetadataRecordBody::ClientQuota(ClientQuotaRecord {
                        entity: entity
                            .iter()
                            .map(|(t, n)| EntityData {
                                entity_type: t.clone(),
                                entity_name: n.clone(),
                            })
                            .collect(),
                        key: key.clone(),
                        value: *value,
                        remove: false,
                    }),
                ));
            }
        }
    }
}
