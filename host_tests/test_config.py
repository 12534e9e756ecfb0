"""config.json loading: defaults, and one clear ConfigError line per bad key."""
from lwm2m.config import ConfigError, load, validate
from coap.runner import peer_key
from coap.uri import split as split_uri
from util import raises


def _base(**kw):
    d = {"endpoint": "node-1",
         "servers": [{"uri": "coap://127.0.0.1:5683", "ssid": 1, "lifetime": 300, "binding": "U"}]}
    d.update(kw)
    return d


def _srv(**kw):
    s = {"uri": "coap://127.0.0.1:5683", "ssid": 1}
    s.update(kw)
    return s


def _msg(raw):
    e = raises(ConfigError, validate, raw)
    s = str(e)
    assert "\n" not in s, s
    return s


def test_issue_example_and_defaults():
    cfg = validate({
        "endpoint": "node-1",
        "servers": [{"uri": "coaps://127.0.0.1:5684", "ssid": 1, "lifetime": 300, "binding": "U",
                     "psk_identity": "id", "psk_key": "000102030405060708090a0b0c0d0e0f"}],
        "bootstrap": {"uri": "coap://127.0.0.1:5693", "hold_off": 0},
        "queue_mode": False, "local_port": 0, "data_dir": "data", "log": "info",
        "wifi": {"ssid": "net", "password": "pw"}})
    s = cfg["servers"][0]
    assert s["psk_identity"] == b"id"
    assert s["psk_key"] == bytes(range(16))
    assert cfg["bootstrap"] == {"uri": "coap://127.0.0.1:5693", "hold_off": 0,
                                "psk_identity": None, "psk_key": None}
    assert cfg["wifi"] == {"ssid": "net", "password": "pw"}
    d = validate({"endpoint": "e", "servers": [{"uri": "coap://h", "ssid": 7}]})
    assert d["servers"] == [{"uri": "coap://h", "ssid": 7, "lifetime": 300, "binding": "U",
                             "psk_identity": None, "psk_key": None}]
    assert d["bootstrap"] is None and d["wifi"] is None and d["ntp"] is None
    assert (d["queue_mode"], d["local_port"], d["data_dir"], d["log"]) == (False, 0, "data", "info")
    assert d["watchdog_ms"] == 30000


def test_queue_mode_default_binding():
    d = validate({"endpoint": "e", "queue_mode": True, "servers": [_srv()]})
    assert d["servers"][0]["binding"] == "UQ"
    d = validate({"endpoint": "e", "queue_mode": True, "servers": [_srv(binding="U")]})
    assert d["servers"][0]["binding"] == "U"


def test_bootstrap_only_is_enough():
    d = validate({"endpoint": "e", "bootstrap": {"uri": "coap://[::1]:5693"}})
    assert d["servers"] == [] and d["bootstrap"]["hold_off"] == 0


def test_top_level_errors():
    assert _msg([1]).startswith("config: expected a JSON object")
    assert _msg(_base(colour="red")) == "config: colour: unknown key"
    assert _msg({"servers": [_srv()]}) == "config: endpoint: expected a non-empty string, got None"
    assert _msg(_base(endpoint="")).startswith("config: endpoint: ")
    assert _msg(_base(endpoint="a b")).startswith("config: endpoint: expected printable")
    assert _msg(_base(endpoint="a&b")).startswith("config: endpoint: ")
    assert _msg(_base(endpoint="x" * 64)) == "config: endpoint: longer than 63 bytes"
    assert _msg(_base(endpoint=5)).startswith("config: endpoint: ")
    assert _msg({"endpoint": "e"}) == \
        "config: servers: need at least one server or a bootstrap entry"
    assert _msg(_base(servers={})).startswith("config: servers: expected a list")
    assert _msg(_base(queue_mode=1)) == "config: queue_mode: expected true or false, got 1"
    assert _msg(_base(local_port=70000)) == \
        "config: local_port: expected an integer 0..65535, got 70000"
    assert _msg(_base(local_port=True)).startswith("config: local_port: ")
    assert _msg(_base(local_port="5683")).startswith("config: local_port: ")
    assert _msg(_base(data_dir="")).startswith("config: data_dir: ")
    assert _msg(_base(log="verbose")) == \
        "config: log: expected one of error/warn/info/debug, got 'verbose'"
    assert _msg(_base(ntp=3)).startswith("config: ntp: ")
    assert _msg(_base(watchdog_ms=500)).startswith("config: watchdog_ms: ")
    assert _msg(_base(watchdog_ms=-1)).startswith("config: watchdog_ms: ")
    assert validate(_base(watchdog_ms=0))["watchdog_ms"] == 0
    for lv in ("error", "warn", "info", "debug"):
        assert validate(_base(log=lv))["log"] == lv


def test_server_errors():
    def m(**kw):
        return _msg(_base(servers=[_srv(**kw)]))
    assert m(uri="http://x") == \
        "config: servers[0].uri: expected coap:// or coaps:// URI, got 'http://x'"
    assert m(uri="coap://").startswith("config: servers[0].uri: ")
    assert m(uri="coap://h:0").startswith("config: servers[0].uri: ")
    assert m(uri="coap://h:99999").startswith("config: servers[0].uri: ")
    assert m(uri="coap://h:x").startswith("config: servers[0].uri: ")
    assert m(uri="coap://h/rd").startswith("config: servers[0].uri: expected no path")
    assert m(uri=None).startswith("config: servers[0].uri: ")
    assert m(ssid=0) == "config: servers[0].ssid: expected an integer 1..65534, got 0"
    assert m(ssid=65535).startswith("config: servers[0].ssid: ")
    assert m(ssid="1").startswith("config: servers[0].ssid: ")
    assert m(lifetime=0) == "config: servers[0].lifetime: expected an integer >= 1, got 0"
    assert m(lifetime=1.5).startswith("config: servers[0].lifetime: ")
    assert m(binding="T") == "config: servers[0].binding: expected \"U\" or \"UQ\", got 'T'"
    assert m(bogus=1) == "config: servers[0].bogus: unknown key"
    assert _msg(_base(servers=[{"uri": "coap://h"}])) == \
        "config: servers[0].ssid: required (1..65534)"
    assert _msg(_base(servers=["coap://h"])).startswith("config: servers[0]: expected an object")
    assert _msg(_base(servers=[_srv(), _srv(uri="coap://b")])) == \
        "config: servers[1].ssid: 1 used twice"
    d = validate(_base(servers=[_srv(), _srv(uri="coap://b", ssid=2)]))
    assert [s["ssid"] for s in d["servers"]] == [1, 2]


def test_psk_errors():
    def m(**kw):
        return _msg(_base(servers=[_srv(uri="coaps://h", **kw)]))
    assert m(psk_key="00") == "config: servers[0].psk_identity: required for a coaps:// URI"
    assert m(psk_identity="id") == "config: servers[0].psk_key: required for a coaps:// URI"
    assert m(psk_identity="", psk_key="00").startswith("config: servers[0].psk_identity: ")
    assert m(psk_identity="id", psk_key="0").startswith("config: servers[0].psk_key: ")
    assert m(psk_identity="id", psk_key="zz").startswith("config: servers[0].psk_key: ")
    assert m(psk_identity="id", psk_key="00" * 33).startswith("config: servers[0].psk_key: ")
    assert m(psk_identity="id", psk_key=5).startswith("config: servers[0].psk_key: ")
    ok = validate(_base(servers=[_srv(uri="coaps://h", psk_identity="id", psk_key="ab" * 32)]))
    assert ok["servers"][0]["psk_key"] == b"\xab" * 32


def test_bootstrap_and_wifi_errors():
    assert _msg(_base(bootstrap={"uri": "udp://x"})).startswith("config: bootstrap.uri: ")
    assert _msg(_base(bootstrap={})).startswith("config: bootstrap.uri: ")
    assert _msg(_base(bootstrap={"uri": "coap://x", "hold_off": -1})) == \
        "config: bootstrap.hold_off: expected an integer >= 0, got -1"
    assert _msg(_base(bootstrap={"uri": "coap://x", "x": 1})) == "config: bootstrap.x: unknown key"
    assert _msg(_base(bootstrap={"uri": "coaps://x"})) == \
        "config: bootstrap.psk_identity: required for a coaps:// URI"
    assert _msg(_base(bootstrap="coap://x")).startswith("config: bootstrap: expected an object")
    assert _msg(_base(wifi={"ssid": ""})).startswith("config: wifi.ssid: ")
    assert _msg(_base(wifi={"ssid": "n", "password": 1})).startswith("config: wifi.password: ")
    assert _msg(_base(wifi={"ssid": "n", "key": "k"})) == "config: wifi.key: unknown key"
    assert validate(_base(wifi={"ssid": "open"}))["wifi"] == {"ssid": "open", "password": ""}


def _write(name, text):
    path = "/tmp/lwm2m_cfg_test_" + name
    with open(path, "w") as f:
        f.write(text)
    return path


def test_load_file():
    p = _write("ok.json", '{"endpoint": "n", "servers": [{"uri": "coap://h:1", "ssid": 3}]}')
    assert load(p)["servers"][0]["ssid"] == 3
    p = _write("bad.json", '{"endpoint": ')
    s = str(raises(ConfigError, load, p))
    assert s.startswith("config: " + p + ": invalid JSON") and "\n" not in s
    s = str(raises(ConfigError, load, "/tmp/lwm2m_cfg_test_missing/none.json"))
    assert s.startswith("config: /tmp/lwm2m_cfg_test_missing/none.json: cannot read")


def test_split_uri_and_peer_key():
    assert split_uri("coap://h") == ("coap", "h", 5683, "")
    assert split_uri("coaps://h") == ("coaps", "h", 5684, "")
    assert split_uri("coap://10.0.0.1:99/x?y") == ("coap", "10.0.0.1", 99, "/x?y")
    assert split_uri("coaps://[fe80::1]:7") == ("coaps", "fe80::1", 7, "")
    assert split_uri("coap://[::1]") == ("coap", "::1", 5683, "")
    for bad in ("coap:/h", "coap://[::1", "coap://[::1]x", "coap://u@h", "h:5683", "coap://h:"):
        raises(ValueError, split_uri, bad)
    assert peer_key(bytearray(b"\x02\x00")) == b"\x02\x00"
    assert peer_key(("1.2.3.4", 5)) == ("1.2.3.4", 5)
    assert peer_key(("::1", 5, 99, 0)) == ("::1", 5, 0, 0)


def test_sleep_section():
    assert validate(_base())["sleep"] is None
    assert validate(_base(sleep={"mode": "none"}))["sleep"] is None
    d = validate(_base(queue_mode=True, local_port=5690, sleep={"mode": "deep", "interval": 600}))
    assert d["sleep"] == {"mode": "deep", "interval": 600, "awake": 93}
    assert _msg(_base(queue_mode=True, sleep={"mode": "deep", "interval": 600})) == (
        "config: local_port: deep sleep needs a fixed local port, got 0")
    d = validate(_base(queue_mode=True, sleep={"mode": "light", "interval": 60, "awake": 5}))
    assert d["sleep"] == {"mode": "light", "interval": 60, "awake": 5}
    # sleeping without queue mode: the server would send to a client that is not listening
    s = _msg(_base(sleep={"mode": "deep", "interval": 600}))
    assert s.startswith("config: sleep.mode:") and "queue_mode" in s and "UQ" in s, s
    assert _msg(_base(queue_mode=True, sleep={"mode": "hibernate", "interval": 6})).startswith(
        "config: sleep.mode:")
    assert _msg(_base(queue_mode=True, sleep={"mode": "deep"})).startswith(
        "config: sleep.interval:")
    assert _msg(_base(queue_mode=True, sleep={"mode": "deep", "interval": 6, "awake": 94})
                ).startswith("config: sleep.awake:")
    assert _msg(_base(queue_mode=True, sleep={"mode": "deep", "interval": 6, "x": 1})
                ).startswith("config: sleep.x: unknown key")
