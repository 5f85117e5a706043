"""ACL APIs without an authorizer (Kafka's behaviour when `authorizer.class.name` is unset):
kafka-python and confluent-kafka admin clients get SECURITY_DISABLED, not a closed
connection."""
import pytest

import kb


def test_confluent_kafka_acl_calls_say_security_disabled(kb_server):
    from confluent_kafka import KafkaError, KafkaException
    from confluent_kafka.admin import (AclBinding, AclBindingFilter, AclOperation,
                                       AclPermissionType, AdminClient, ResourcePatternType,
                                       ResourceType)
    admin = AdminClient(kb.admin_conf(kb_server.bootstrap))
    match_all = AclBindingFilter(ResourceType.ANY, None, ResourcePatternType.ANY, None, None,
                                 AclOperation.ANY, AclPermissionType.ANY)
    binding = AclBinding(ResourceType.TOPIC, "t", ResourcePatternType.LITERAL, "User:alice",
                         "*", AclOperation.READ, AclPermissionType.ALLOW)
    # librdkafka drops DescribeAcls' error code and reports an empty listing, against Kafka
    # too (`rd_kafka_DescribeAclsResponse_parse`); kafka-python shows it (below).
    assert admin.describe_acls(match_all, request_timeout=10).result(timeout=15) == []
    calls = [
        lambda: admin.create_acls([binding], request_timeout=10)[binding].result(timeout=15),
        lambda: admin.delete_acls([match_all], request_timeout=10)[match_all].result(timeout=15),
    ]
    for call in calls:
        with pytest.raises(KafkaException) as e:
            call()
        assert e.value.args[0].code() == KafkaError.SECURITY_DISABLED, e.value


def test_kafka_python_describe_acls_says_security_disabled(kb_server):
    from kafka import KafkaAdminClient
    from kafka.admin import (ACLFilter, ACLOperation, ACLPermissionType, ACLResourcePatternType,
                             ResourcePatternFilter, ResourceType)
    from kafka.errors import SecurityDisabledError
    admin = KafkaAdminClient(bootstrap_servers=kb_server.bootstrap, request_timeout_ms=10000)
    try:
        match_all = ACLFilter(principal=None, host="*", operation=ACLOperation.ANY,
                              permission_type=ACLPermissionType.ANY,
                              resource_pattern=ResourcePatternFilter(
                                  ResourceType.ANY, None, ACLResourcePatternType.ANY))
        with pytest.raises(SecurityDisabledError):
            admin.describe_acls(match_all)
    finally:
        admin.close()
