"""Static membership (KIP-345) with confluent-kafka: a static member restarted within its
session timeout takes its old place (and assignment) without a rebalance, so the other member
sees no revocation."""
import kb
from test_groups import PARTITIONS, consumer_conf, group_server


def test_static_member_restart_does_not_revoke_the_other(kb_servers):
    from confluent_kafka import Consumer
    srv = group_server(kb_servers)
    topic = kb.unique_topic("static")
    group = topic + "-grp"
    kb.create_topic(srv.bootstrap, topic, PARTITIONS)
    events = {}

    def member(name, instance):
        events[name] = []
        c = Consumer(consumer_conf(srv.bootstrap, group, **{
            "group.instance.id": instance, "session.timeout.ms": 30000,
            "client.id": "kb-static-" + name}))
        c.subscribe([topic],
                    on_assign=lambda _, ps: events[name].append(
                        ("assign", sorted(p.partition for p in ps))),
                    on_revoke=lambda _, ps: events[name].append(
                        ("revoke", sorted(p.partition for p in ps))))
        return c

    def assigned(name):
        got = [parts for kind, parts in events[name] if kind == "assign"]
        return got[-1] if got else None

    def poll(*consumers):
        for c in consumers:
            c.poll(0.1)

    a, b = member("a", "inst-a"), member("b", "inst-b")
    try:
        def settled():
            poll(a, b)
            ours = (assigned("a") or []) + (assigned("b") or [])
            return sorted(ours) == list(range(PARTITIONS)) and assigned("a") and assigned("b")
        kb.wait_for(settled, 60, "both static members assigned")
        b_partitions = assigned("b")
        events["a"].clear()

        b.close()  # a static member sends no LeaveGroup: its place waits for the session
        b = member("b2", "inst-b")
        kb.wait_for(lambda: poll(a, b) or assigned("b2"), 30, "the restarted member assigned")
        deadline = kb.Deadline(3)
        while not deadline.expired():
            poll(a, b)
        assert events["a"] == [], "the other member saw %s" % events["a"]
        assert assigned("b2") == b_partitions, (assigned("b2"), b_partitions)
    finally:
        a.close()
        b.close()
