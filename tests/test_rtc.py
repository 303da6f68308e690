"""WebRTC settings (:mod:`ser.rtc`): ICE/TURN servers from the environment, and secure page origins."""

from __future__ import annotations

from ser import rtc


def test_rtc_configuration_from_environment(monkeypatch):
    monkeypatch.delenv(rtc.ICE_SERVERS_ENV, raising=False)
    assert rtc.rtc_configuration() == ({"iceServers": []}, "")
    stun = [{"urls": ["stun:stun.l.google.com:19302"]}]
    monkeypatch.setenv(rtc.ICE_SERVERS_ENV, '[{"urls": ["stun:stun.l.google.com:19302"]}]')
    assert rtc.rtc_configuration() == ({"iceServers": stun}, "")
    turn = {"urls": "turn:turn.example.org:3478", "username": "u", "credential": "p"}
    assert rtc.rtc_configuration('{"iceServers": [{"urls": "turn:turn.example.org:3478", "username": "u", '
                                  '"credential": "p"}]}')[0] == {"iceServers": [turn]}
    assert rtc.rtc_configuration('{"urls": "stun:x:3478"}')[0] == {"iceServers": [{"urls": "stun:x:3478"}]}
    for bad in ("not json", "[1, 2]", '{"username": "u"}'):
        cfg, warning = rtc.rtc_configuration(bad)
        assert cfg == {"iceServers": []} and rtc.ICE_SERVERS_ENV in warning


def test_turn_server_from_environment():
    env = {rtc.TURN_URL_ENV: "turn:turn.example.org:3478?transport=udp, turns:turn.example.org:5349",
           rtc.TURN_USERNAME_ENV: "demo", rtc.TURN_CREDENTIAL_ENV: "secret"}
    turn = {"urls": ["turn:turn.example.org:3478?transport=udp", "turns:turn.example.org:5349"],
            "username": "demo", "credential": "secret"}
    assert rtc.rtc_configuration(env=env) == ({"iceServers": [turn]}, "")
    # appended to the JSON list
    env[rtc.ICE_SERVERS_ENV] = '[{"urls": "stun:stun.example.org:3478"}]'
    cfg, warning = rtc.rtc_configuration(env=env)
    assert cfg["iceServers"] == [{"urls": "stun:stun.example.org:3478"}, turn] and warning == ""
    # a TURN URL without credentials, or not a TURN URL: left out, with a warning naming the variable
    for bad in ({rtc.TURN_URL_ENV: "turn:x:3478"}, {rtc.TURN_URL_ENV: "http://x", rtc.TURN_USERNAME_ENV: "u",
                                                     rtc.TURN_CREDENTIAL_ENV: "p"}):
        cfg, warning = rtc.rtc_configuration(env=bad)
        assert cfg == {"iceServers": []} and rtc.TURN_URL_ENV in warning
    # a bad JSON list does not drop a good TURN server
    cfg, warning = rtc.rtc_configuration("{not json", env={**env, rtc.ICE_SERVERS_ENV: ""})
    assert cfg == {"iceServers": [turn]} and rtc.ICE_SERVERS_ENV in warning


def test_secure_origins():
    for url, secure in (("https://demo.example.org/analyze", True), ("http://localhost:8501/live", True),
                        ("http://127.0.0.1:8501", True), ("http://[::1]:8501/", True),
                        ("http://app.localhost:8501", True), ("wss://demo.example.org/ws", True),
                        ("http://192.168.1.20:8501/live", False), ("http://demo.example.org:8501", False),
                        ("ftp://demo.example.org", None), (None, None), ("", None)):
        assert rtc.is_secure_origin(url) is secure, url
