"""What the browser needs to stream the microphone to the app: ICE servers and a secure page.

* :func:`rtc_configuration` builds the live page's WebRTC ``rtc_configuration`` (its STUN/TURN servers)
  from ``SER_ICE_SERVERS`` and ``SER_TURN_URL`` / ``SER_TURN_USERNAME`` / ``SER_TURN_CREDENTIAL``.
* :func:`is_secure_origin` says whether a page URL is a secure context, where browsers allow the
  microphone at all.

No Streamlit here (the pages and :mod:`ser.ui` show the warnings), so both are plain functions of their
inputs and the environment.
"""

from __future__ import annotations

import ipaddress
import json
import os
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

#: Environment variable with the STUN/TURN servers for the live page, as JSON.
ICE_SERVERS_ENV = "SER_ICE_SERVERS"
#: Environment variables for one TURN server (added to ``SER_ICE_SERVERS``): comma-separated URLs
#: (``turn:turn.example.org:3478?transport=udp,turns:turn.example.org:5349``), user name, credential.
TURN_URL_ENV = "SER_TURN_URL"
TURN_USERNAME_ENV = "SER_TURN_USERNAME"
TURN_CREDENTIAL_ENV = "SER_TURN_CREDENTIAL"


def _turn_server(env: Mapping[str, str]) -> tuple[dict[str, Any] | None, str]:
    """The TURN server of ``SER_TURN_URL`` / ``_USERNAME`` / ``_CREDENTIAL`` (``None`` if unset) and a warning."""
    urls = [u.strip() for u in env.get(TURN_URL_ENV, "").split(",") if u.strip()]
    if not urls:
        return None, ""
    bad = [u for u in urls if not u.startswith(("turn:", "turns:", "stun:"))]
    if bad:
        return None, f"{TURN_URL_ENV} must hold turn:, turns: or stun: URLs (got {bad[0]!r}); TURN not used"
    server: dict[str, Any] = {"urls": urls}
    user, cred = env.get(TURN_USERNAME_ENV, ""), env.get(TURN_CREDENTIAL_ENV, "")
    if any(u.startswith(("turn:", "turns:")) for u in urls) and not (user and cred):
        return None, f"{TURN_URL_ENV} is set but {TURN_USERNAME_ENV} / {TURN_CREDENTIAL_ENV} are not; TURN not used"
    if user:
        server["username"] = user
    if cred:
        server["credential"] = cred
    return server, ""


def rtc_configuration(value: str | None = None, *, env: Mapping[str, str] | None = None) -> tuple[dict[str, Any], str]:
    """The page's WebRTC ``rtc_configuration`` and a warning (``""`` when none).

    ``value`` (default: ``$SER_ICE_SERVERS``) is JSON: a list of RTCIceServer objects
    (``[{"urls": ["stun:stun.l.google.com:19302"]}, {"urls": "turn:turn.example.org:3478",
    "username": "u", "credential": "p"}]``), one such object, or ``{"iceServers": [...]}``. A TURN
    server given by ``SER_TURN_URL`` (comma-separated URLs), ``SER_TURN_USERNAME`` and
    ``SER_TURN_CREDENTIAL`` is appended. Nothing set gives ``{"iceServers": []}``: no STUN/TURN, host
    candidates only, which connects a browser on the same machine or LAN without any internet access.
    Invalid settings are left out, with a warning. ``env``: the environment to read (default
    ``os.environ``).
    """
    env = os.environ if env is None else env
    raw = (env.get(ICE_SERVERS_ENV, "") if value is None else value).strip()
    servers: list[dict[str, Any]] = []
    warnings: list[str] = []
    if raw:
        try:
            data = json.loads(raw)
        except json.JSONDecodeError as exc:
            data = None
            warnings.append(f"{ICE_SERVERS_ENV} is not valid JSON ({exc.msg}); its ICE servers are not used")
        if isinstance(data, dict):
            data = data["iceServers"] if "iceServers" in data else [data]
        if data is not None:
            if isinstance(data, list) and all(isinstance(s, dict) and "urls" in s for s in data):
                servers += data
            else:
                warnings.append(f"{ICE_SERVERS_ENV} must be a JSON list of objects with \"urls\"; "
                                "its ICE servers are not used")
    turn, warning = _turn_server(env)
    if turn is not None:
        servers.append(turn)
    if warning:
        warnings.append(warning)
    return {"iceServers": servers}, "; ".join(warnings)


def is_secure_origin(url: str | None) -> bool | None:
    """Whether a browser treats the page at ``url`` as a secure context, where it may use the microphone.

    ``https:`` is; so is ``http:`` on a loopback host (``localhost``, ``*.localhost``, ``127.0.0.0/8``,
    ``[::1]``), as browsers define "potentially trustworthy" origins. ``http://<server>:8501`` from
    another machine is not. ``None`` when ``url`` is unknown (no browser, e.g. tests).
    """
    if not url:
        return None
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme in ("https", "wss"):
        return True
    if scheme not in ("http", "ws"):
        return None
    host = (parts.hostname or "").lower().rstrip(".")
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


__all__ = [
    "ICE_SERVERS_ENV",
    "TURN_CREDENTIAL_ENV",
    "TURN_URL_ENV",
    "TURN_USERNAME_ENV",
    "is_secure_origin",
    "rtc_configuration",
]
