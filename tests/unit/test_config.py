"""The member configuration: layering, validation, and the documented defaults."""
import re
import tomllib
from pathlib import Path

import pytest

from petcd.common.config import KNOBS, ConfigError, load

CONF = Path(__file__).resolve().parents[2] / "conf" / "petcd.toml"


def test_defaults_serve_like_etcd():
    c = load({}, env={})
    assert c.listen_client_urls == ("http://127.0.0.1:2379",)
    assert c.listen_client_zmq_urls == ("tcp://127.0.0.1:2378",)
    assert c.listen_peer_urls == ("tcp://127.0.0.1:2380",)
    assert c.data_dir == "default.petcd"
    assert c.request_timeout_s == 7.0  # etcd: 5 s + 2 x election timeout


def test_precedence_is_defaults_file_env_flags(tmp_path):
    f = tmp_path / "c.toml"
    f.write_text('heartbeat-interval = 50\nelection-timeout = 600\nname = "fromfile"\n')
    c = load({}, env={}, config_file=str(f))
    assert (c.heartbeat_interval, c.name) == (50, "fromfile")
    c = load({}, env={"PETCD_HEARTBEAT_INTERVAL": "60"}, config_file=str(f))
    assert c.heartbeat_interval == 60
    c = load({"heartbeat-interval": "70"}, env={"PETCD_HEARTBEAT_INTERVAL": "60"},
             config_file=str(f))
    assert c.heartbeat_interval == 70 and c.election_timeout == 600


@pytest.mark.parametrize("flags, fragment", [
    ({"heartbeat-interval": "abc"}, "invalid value 'abc' for --heartbeat-interval"),
    ({"election-timeout": "100"}, "at least 5 times"),
    ({"initial-cluster-state": "old"}, "'new' or 'existing'"),
    ({"bogus": "1"}, "unknown flag --bogus"),
])
def test_bad_values_are_one_clear_line(flags, fragment):
    with pytest.raises(ConfigError) as e:
        load(flags, env={})
    assert fragment in str(e.value) and "\n" not in str(e.value)


def test_conf_file_documents_every_knob_with_its_default():
    # conf/petcd.toml holds every knob commented out; uncommented, it must parse to defaults.
    text = "\n".join(line[2:] for line in CONF.read_text().splitlines()
                     if re.match(r"# [a-z-]+ = ", line))
    doc = tomllib.loads(text)
    assert set(doc) == {k.name for k in KNOBS}
    c = load({}, env={}, config_file=None)
    for k in KNOBS:
        assert k.type(doc[k.name]) == getattr(c, k.name.replace("-", "_")) or k.name == "data-dir"


@pytest.mark.parametrize("mode, text, expect", [
    ("periodic", "1", 3600.0), ("periodic", "30m", 1800.0), ("periodic", "1h30m", 5400.0),
    ("periodic", "0", 0.0), ("revision", "1000", 1000.0)])
def test_auto_compaction_retention_parses_like_etcd(mode, text, expect):
    from petcd.common.config import parse_retention
    assert parse_retention(mode, text) == expect


def test_bad_auto_compaction_retention_is_refused():
    with pytest.raises(ConfigError):
        load({"auto-compaction-retention": "soon"}, env={})
