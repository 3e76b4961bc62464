"""The ctl conformance normalizer: ids of fewer than 16 hex digits (1 run in 16 has one)."""
from tests.conformance.record_ctl import normalize

CLUSTER_ID = 0x9A3C5E7F1B2D4F60
STATUS = "127.0.0.1:5555, %x, 3.4.23, 20 kB, true, false, 2, 5, 5, \n"
ADDED = "Member %16x added to cluster %16x\n"
WANT = ("127.0.0.1:<client_port>, <member_id_hex>, <version>, <db_size>, true, false, "
        "<raft_term>, <raft_index>, <raft_index>, \n"
        "Member <member_id_hex> added to cluster <cluster_id_hex>\n")


def test_short_and_full_ids_normalize_alike():
    for member_id in (0x0ABCDEF123456789, 0xFBCDEF1234567890, 0x12345):
        text = STATUS % member_id + ADDED % (member_id, CLUSTER_ID)
        assert normalize(text, cluster_id=CLUSTER_ID, member_id=member_id, client_port=5555,
                         peer_port=6666) == WANT
