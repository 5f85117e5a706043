//! DescribeAcls, CreateAcls and DeleteAcls without an authorizer: kraftbridge has none yet, so
//! each answers SECURITY_DISABLED with Kafka's message, per request (describe) or per creation
//! and filter, as Kafka 3.9's `AclApis` does when `authorizer.class.name` is unset. Admin
//! clients then report "security is disabled" instead of a closed connection.

use protocol::messages::create_acls_response::AclCreationResult;
use protocol::messages::delete_acls_response::DeleteAclsFilterResult;
use protocol::messages::{
    CreateAclsRequest, CreateAclsResponse, DeleteAclsRequest, DeleteAclsResponse,
    DescribeAclsRequest, DescribeAclsResponse,
};
use protocol::ErrorCode;

use super::Broker;

/// Kafka's text for every ACL request on a broker without an authorizer.
const NO_AUTHORIZER: &str = "No Authorizer is configured on the broker";

impl Broker {
    pub(super) fn describe_acls(&self, _req: DescribeAclsRequest) -> DescribeAclsResponse {
        DescribeAclsResponse {
            error_code: ErrorCode::SECURITY_DISABLED.code(),
            error_message: Some(NO_AUTHORIZER.to_string()),
            ..Default::default()
        }
    }

    pub(super) fn create_acls(&self, req: CreateAclsRequest) -> CreateAclsResponse {
        CreateAclsResponse {
            results: req
                .creations
                .iter()
                .map(|_| AclCreationResult {
                    error_code: ErrorCode::SECURITY_DISABLED.code(),
                    error_message: Some(NO_AUTHORIZER.to_string()),
                })
                .collect(),
            ..Default::default()
        }
    }

    pub(super) fn delete_acls(&self, req: DeleteAclsRequest) -> DeleteAclsResponse {
        DeleteAclsResponse {
            filter_results: req
                .filters
                .iter()
                .map(|_| DeleteAclsFilterResult {
                    error_code: ErrorCode::SECURITY_DISABLED.code(),
                    error_message: Some(NO_AUTHORIZER.to_string()),
                    matching_acls: Vec::new(),
                })
                .collect(),
            ..Default::default()
        }
    }
}

#[cfg(test)]
mod tests {
    use protocol::messages::create_acls_request::AclCreation;
    use protocol::messages::delete_acls_request::DeleteAclsFilter;
    use protocol::messages::{
        ApiKey, CreateAclsRequest, CreateAclsResponse, DeleteAclsRequest, DeleteAclsResponse,
        DescribeAclsRequest, DescribeAclsResponse,
    };
    use protocol::ErrorCode;

    use crate::broker::test_broker::TestBroker;

    const DISABLED: i16 = ErrorCode::SECURITY_DISABLED.0;

    /// Every advertised version of the three APIs is answered SECURITY_DISABLED.
    #[tokio::test]
    async fn acl_apis_answer_security_disabled() {
        let b = TestBroker::new(&[]);
        for version in 1..=3 {
            let r: DescribeAclsResponse = b
                .call(
                    ApiKey::DescribeAcls,
                    version,
                    &DescribeAclsRequest::default(),
                )
                .await;
            assert_eq!(r.error_code, DISABLED, "describe v{version}");
            assert!(r.resources.is_empty());

            let create = CreateAclsRequest {
                creations: vec![AclCreation::default(), AclCreation::default()],
            };
            let r: CreateAclsResponse = b.call(ApiKey::CreateAcls, version, &create).await;
            let codes: Vec<i16> = r.results.iter().map(|r| r.error_code).collect();
            assert_eq!(codes, [DISABLED, DISABLED], "create v{version}");

            let delete = DeleteAclsRequest {
                filters: vec![DeleteAclsFilter::default()],
            };
            let r: DeleteAclsResponse = b.call(ApiKey::DeleteAcls, version, &delete).await;
            assert_eq!(
                r.filter_results[0].error_code, DISABLED,
                "delete v{version}"
            );
        }
    }
}
