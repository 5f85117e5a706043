"""Transactional producers fail fast while transactions are not implemented: FindCoordinator
for a transactional id (and InitProducerId with one) answer TRANSACTIONAL_ID_AUTHORIZATION_FAILED,
which clients treat as fatal at once, instead of a retriable error that keeps them looking
for a coordinator until their timeout."""
import time

import pytest

#: How soon the refusal must reach the application (the clients' own timeouts are 30-60 s).
FAIL_FAST_S = 2.0


def test_confluent_kafka_init_transactions_fails_fast(kb_server):
    from confluent_kafka import KafkaError, KafkaException, Producer
    p = Producer({"bootstrap.servers": kb_server.bootstrap, "transactional.id": "kb-txn-ck",
                  "client.id": "kb-acceptance-txn", "log.connection.close": False})
    t0 = time.monotonic()
    with pytest.raises(KafkaException) as info:
        p.init_transactions(30)
    elapsed = time.monotonic() - t0
    err = info.value.args[0]
    assert err.code() == KafkaError.TRANSACTIONAL_ID_AUTHORIZATION_FAILED, err
    assert err.fatal() or not err.retriable(), "a retriable error: %s" % err
    assert elapsed < FAIL_FAST_S, "init_transactions failed after %.1fs: %s" % (elapsed, err)


def test_kafka_python_init_transactions_fails_fast(kb_server):
    from kafka import KafkaProducer
    from kafka.errors import TransactionalIdAuthorizationFailedError
    p = KafkaProducer(bootstrap_servers=[kb_server.bootstrap], transactional_id="kb-txn-kp",
                      client_id="kb-acceptance-txn", max_block_ms=30000)
    try:
        t0 = time.monotonic()
        with pytest.raises(TransactionalIdAuthorizationFailedError):
            p.init_transactions()
        elapsed = time.monotonic() - t0
        assert elapsed < FAIL_FAST_S, "init_transactions failed after %.1fs" % elapsed
    finally:
        p.close(timeout=5)
