"""fetch_spec against a real HTTP server on 127.0.0.1 (see the spec server section of conftest.py)."""

from __future__ import annotations

import json
import logging
import socket
from typing import Dict, List

import pytest
from conftest import SpecReply, SpecServer

from conductor_regen.spec import fetch as spec_fetch
from conductor_regen.config import FetchConfig
from conductor_regen.errors import SpecFetchError, SpecParseError
from conductor_regen.spec.fetch import fetch_spec, resolve_spec_url, server_url
from conductor_regen.spec.intake import load_spec

SPEC = {"openapi": "3.0.1", "info": {"title": "Orkes", "version": "v2"}, "paths": {"/api/workflow": {}}}
SPEC_BYTES = json.dumps(SPEC, indent=2).encode()
YAML_SPEC = b"openapi: 3.0.1\ninfo:\n  title: Orkes\n  version: v2\npaths: {}\n"
HTML_LOGIN = b"<!DOCTYPE html>\n<html><body><form action='/login'>Sign in</form></body></html>"

KEY = "app-key-id-4f2a"
SECRET = "s3cr3t-VALUE-do-not-leak-91b7"
TOKEN = "tok.eyJhbGciOi.JIUzI1NiJ9-leakcheck-7c1e"
AUTH_ENV = {"CONDUCTOR_AUTH_KEY": KEY, "CONDUCTOR_AUTH_SECRET": SECRET}

# No retries and instant backoff unless a test is about retries.
FAST = FetchConfig(timeout=5.0, retries=0, backoff=0.001)


@pytest.fixture
def sleeps(monkeypatch: pytest.MonkeyPatch) -> List[float]:
    """Record backoff delays instead of sleeping."""
    recorded: List[float] = []
    monkeypatch.setattr(spec_fetch, "_sleep", recorded.append)
    return recorded


def good_spec() -> SpecReply:
    return SpecReply(body=SPEC_BYTES)


# --- URL handling (no network) ---


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("http://h:8080", "http://h:8080/api-docs"),
        ("http://h:8080/", "http://h:8080/api-docs"),
        ("http://h:8080/api", "http://h:8080/api-docs"),
        ("http://h:8080/api/", "http://h:8080/api-docs"),
        ("  HTTPS://h.example.com  ", "https://h.example.com/api-docs"),
        ("https://h/api-docs", "https://h/api-docs"),
        ("https://h/v3/api-docs?group=all#top", "https://h/v3/api-docs?group=all"),
        ("http://h:8080/conductor/openapi.json", "http://h:8080/conductor/openapi.json"),
    ],
)
def test_resolve_spec_url(given: str, expected: str) -> None:
    assert resolve_spec_url(given) == expected


def test_server_url_drops_path_and_query() -> None:
    assert server_url("https://h.example.com:8443/custom/spec.json?x=1") == "https://h.example.com:8443"


@pytest.mark.parametrize(
    ("given", "fragment"),
    [
        ("ftp://h/spec.json", "scheme 'ftp'"),
        ("file:///tmp/spec.json", "scheme 'file'"),
        ("localhost:8080", "only http and https"),
        ("http://", "no host"),
        ("http://h:99999/api-docs", "invalid port"),
    ],
)
def test_bad_urls_are_refused_without_a_request(given: str, fragment: str) -> None:
    with pytest.raises(SpecFetchError) as info:
        fetch_spec(given, FAST, env={})
    assert fragment in info.value.message
    assert "http" in info.value.hint


# --- success paths ---


def test_server_base_url_resolves_to_api_docs(spec_server: SpecServer) -> None:
    spec_server.serve("/api-docs", good_spec())
    fetched = fetch_spec(spec_server.url(), FAST, env={})
    assert fetched.url == spec_server.url("/api-docs")
    assert fetched.body == SPEC_BYTES
    assert fetched.content_type == "application/json"
    assert spec_server.hits == {"GET /api-docs": 1}


def test_api_base_url_resolves_to_api_docs(spec_server: SpecServer) -> None:
    spec_server.serve("/api-docs", good_spec())
    assert fetch_spec(spec_server.url("/api"), FAST, env={}).body == SPEC_BYTES


def test_full_spec_url_is_used_as_is(spec_server: SpecServer) -> None:
    spec_server.serve("/custom/openapi.json", good_spec())
    fetched = fetch_spec(spec_server.url("/custom/openapi.json"), FAST, env={})
    assert fetched.body == SPEC_BYTES
    assert spec_server.hits == {"GET /custom/openapi.json": 1}


@pytest.mark.parametrize(
    "body",
    [YAML_SPEC, b"\xef\xbb\xbf  \n" + SPEC_BYTES, b"# generated\n---\n" + YAML_SPEC, b"info:\n  version: v2\n"],
    ids=["yaml", "bom-and-whitespace", "comment-and-marker", "yaml-other-first-key"],
)
def test_json_and_yaml_bodies_are_accepted(spec_server: SpecServer, body: bytes) -> None:
    spec_server.serve("/api-docs", SpecReply(body=body, content_type="application/yaml"))
    assert fetch_spec(spec_server.url(), FAST, env={}).body == body


def test_body_of_exactly_max_bytes_is_accepted(spec_server: SpecServer) -> None:
    spec_server.serve("/api-docs", good_spec())
    config = FetchConfig(timeout=5.0, retries=0, max_bytes=len(SPEC_BYTES))
    assert fetch_spec(spec_server.url(), config, env={}).body == SPEC_BYTES


def test_userinfo_in_the_url_is_masked(spec_server: SpecServer) -> None:
    spec_server.serve("/api-docs", good_spec())
    url = spec_server.url().replace("://", "://bob:hunter2-pw@")
    fetched = fetch_spec(url, FAST, env={})
    assert "hunter2-pw" not in fetched.url
    assert fetched.url == spec_server.url("/api-docs").replace("://", "://***@")


# --- refused bodies ---


def test_html_login_page_is_refused(spec_server: SpecServer) -> None:
    spec_server.serve("/api-docs", SpecReply(body=HTML_LOGIN, content_type="text/html; charset=utf-8"))
    with pytest.raises(SpecFetchError) as info:
        fetch_spec(spec_server.url(), FAST, env={})
    assert "HTML page instead of an OpenAPI spec" in info.value.message
    assert "login page or wrong URL" in info.value.message
    assert spec_server.hits["GET /api-docs"] == 1  # not retried


def test_html_content_type_is_refused_even_without_a_tag(spec_server: SpecServer) -> None:
    spec_server.serve("/api-docs", SpecReply(body=b"Please sign in", content_type="text/html"))
    with pytest.raises(SpecFetchError, match="HTML page"):
        fetch_spec(spec_server.url(), FAST, env={})


@pytest.mark.parametrize(
    ("body", "fragment"),
    [(b"Unauthorized. Bad token", "neither JSON nor YAML"), (b"", "empty body"), (b" \n\t", "empty body")],
)
def test_non_spec_bodies_are_refused(spec_server: SpecServer, body: bytes, fragment: str) -> None:
    spec_server.serve("/api-docs", SpecReply(body=body, content_type="text/plain"))
    with pytest.raises(SpecFetchError, match=fragment):
        fetch_spec(spec_server.url(), FAST, env={})


def test_truncated_json_fails_clearly_in_load_spec(spec_server: SpecServer) -> None:
    cut = SPEC_BYTES[: len(SPEC_BYTES) // 2]
    spec_server.serve("/api-docs", SpecReply(body=cut))
    with pytest.raises(SpecParseError) as info:
        load_spec(spec_server.url(), FAST, env={})
    lines = cut.decode().split("\n")
    where = f"{spec_server.url('/api-docs')}:{len(lines)}:"
    assert info.value.message.startswith(where)
    assert "truncated JSON" in info.value.message
    assert "download the spec again" in info.value.hint


# --- HTTP errors and retries ---


def test_401_without_credentials_hints_at_the_variables_and_is_not_retried(
    spec_server: SpecServer, sleeps: List[float]
) -> None:
    spec_server.require_auth(KEY, SECRET, TOKEN)
    spec_server.serve("/api-docs", good_spec())
    with pytest.raises(SpecFetchError) as info:
        fetch_spec(spec_server.url(), FetchConfig(retries=3, backoff=0.001), env={})
    assert "HTTP 401" in info.value.message
    assert "CONDUCTOR_AUTH_KEY" in info.value.hint and "CONDUCTOR_AUTH_SECRET" in info.value.hint
    assert spec_server.hits == {"GET /api-docs": 1}
    assert sleeps == []


def test_404_is_not_retried(spec_server: SpecServer, sleeps: List[float]) -> None:
    with pytest.raises(SpecFetchError) as info:
        fetch_spec(spec_server.url("/nope.json"), FetchConfig(retries=3, backoff=0.001), env={})
    assert "HTTP 404" in info.value.message
    assert spec_server.hits == {"GET /nope.json": 1}
    assert sleeps == []


def test_500_is_retried_up_to_the_bound_with_exponential_backoff(
    spec_server: SpecServer, sleeps: List[float]
) -> None:
    spec_server.serve("/api-docs", SpecReply(status=500, body=b"boom"))
    with pytest.raises(SpecFetchError) as info:
        fetch_spec(spec_server.url(), FetchConfig(retries=2, backoff=0.01), env={})
    assert spec_server.hits == {"GET /api-docs": 3}  # one try plus two retries, then stop
    assert sleeps == [0.01, 0.02]
    assert "HTTP 500" in info.value.message
    assert "gave up after 3 attempts" in info.value.message


def test_recovers_when_a_retry_succeeds(spec_server: SpecServer, sleeps: List[float]) -> None:
    spec_server.serve("/api-docs", SpecReply(status=503), SpecReply(status=502), good_spec())
    fetched = fetch_spec(spec_server.url(), FetchConfig(retries=3, backoff=0.001), env={})
    assert fetched.body == SPEC_BYTES
    assert spec_server.hits == {"GET /api-docs": 3}
    assert len(sleeps) == 2


@pytest.mark.waits
def test_slow_server_times_out_and_is_retried(spec_server: SpecServer, sleeps: List[float]) -> None:
    spec_server.serve("/api-docs", SpecReply(body=SPEC_BYTES, delay=1.0))
    with pytest.raises(SpecFetchError) as info:
        fetch_spec(spec_server.url(), FetchConfig(timeout=0.3, retries=1, backoff=0.001), env={})
    assert spec_server.hits == {"GET /api-docs": 2}
    assert "timed out after 0.3s" in info.value.message
    assert "--timeout" in info.value.hint


def test_connection_refused_is_retried_then_reported(sleeps: List[float]) -> None:
    with socket.socket() as sock:  # grab a free port, then close it so nothing listens there
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with pytest.raises(SpecFetchError) as info:
        fetch_spec(f"http://127.0.0.1:{port}", FetchConfig(timeout=2.0, retries=2, backoff=0.001), env={})
    assert f"cannot connect to 127.0.0.1:{port}" in info.value.message
    assert "\n" not in info.value.message
    assert "running" in info.value.hint
    assert len(sleeps) == 2


# --- size cap ---


def test_declared_oversized_body_is_refused_up_front(spec_server: SpecServer) -> None:
    spec_server.serve("/api-docs", SpecReply(body=b"{" + b" " * 5000 + b"}"))
    with pytest.raises(SpecFetchError) as info:
        fetch_spec(spec_server.url(), FetchConfig(retries=2, max_bytes=1000), env={})
    assert "declares 5002 bytes" in info.value.message
    assert "max_bytes" in info.value.hint
    assert spec_server.hits == {"GET /api-docs": 1}


def test_endless_body_is_cut_off_while_streaming(spec_server: SpecServer) -> None:
    # No Content-Length and a body that never ends: only a streaming cap can stop this.
    spec_server.serve("/api-docs", SpecReply(body=b"{" + b" " * 65535, endless=True, send_length=False))
    with pytest.raises(SpecFetchError) as info:
        fetch_spec(spec_server.url(), FetchConfig(retries=0, max_bytes=200_000), env={})
    assert "sent more than 200000 bytes" in info.value.message


# --- auth ---


def test_token_is_obtained_and_sent(spec_server: SpecServer) -> None:
    spec_server.require_auth(KEY, SECRET, TOKEN)
    spec_server.serve("/api-docs", good_spec())
    fetched = fetch_spec(spec_server.url(), FAST, env=AUTH_ENV)
    assert fetched.body == SPEC_BYTES
    assert spec_server.token_payloads == [{"keyId": KEY, "keySecret": SECRET}]
    assert spec_server.seen_headers["/api-docs"]["X-Authorization"] == TOKEN
    assert spec_server.hits == {"POST /api/token": 1, "GET /api-docs": 1}


def test_token_endpoint_is_at_the_server_root_for_a_full_spec_url(spec_server: SpecServer) -> None:
    spec_server.require_auth(KEY, SECRET, TOKEN)
    spec_server.serve("/deep/path/spec.json", good_spec())
    fetch_spec(spec_server.url("/deep/path/spec.json"), FAST, env=AUTH_ENV)
    assert spec_server.hits["POST /api/token"] == 1


def test_rejected_credentials_are_reported_and_not_retried(
    spec_server: SpecServer, sleeps: List[float]
) -> None:
    spec_server.require_auth(KEY, "the-real-secret", TOKEN)
    spec_server.serve("/api-docs", good_spec())
    with pytest.raises(SpecFetchError) as info:
        fetch_spec(spec_server.url(), FetchConfig(retries=3, backoff=0.001), env=AUTH_ENV)
    assert "credentials rejected" in info.value.message
    assert "CONDUCTOR_AUTH_KEY" in info.value.hint and "CONDUCTOR_AUTH_SECRET" in info.value.hint
    assert spec_server.hits == {"POST /api/token": 1}
    assert sleeps == []


@pytest.mark.parametrize(
    ("env", "missing"),
    [
        ({"CONDUCTOR_AUTH_KEY": KEY}, "CONDUCTOR_AUTH_SECRET"),
        ({"CONDUCTOR_AUTH_SECRET": SECRET}, "CONDUCTOR_AUTH_KEY"),
        ({"CONDUCTOR_AUTH_KEY": KEY, "CONDUCTOR_AUTH_SECRET": ""}, "CONDUCTOR_AUTH_SECRET"),
    ],
)
def test_half_configured_credentials_name_the_missing_variable(
    spec_server: SpecServer, env: Dict[str, str], missing: str
) -> None:
    spec_server.serve("/api-docs", good_spec())
    with pytest.raises(SpecFetchError) as info:
        fetch_spec(spec_server.url(), FAST, env=env)
    assert f"{missing} is missing" in info.value.message
    assert SECRET not in info.value.render()
    assert sum(spec_server.hits.values()) == 0


def test_env_defaults_to_the_process_environment(spec_server: SpecServer, monkeypatch: pytest.MonkeyPatch) -> None:
    spec_server.require_auth(KEY, SECRET, TOKEN)
    spec_server.serve("/api-docs", good_spec())
    monkeypatch.setenv("CONDUCTOR_AUTH_KEY", KEY)
    monkeypatch.setenv("CONDUCTOR_AUTH_SECRET", SECRET)
    assert fetch_spec(spec_server.url(), FAST).body == SPEC_BYTES


def test_refused_token_on_the_spec_is_not_blamed_on_missing_variables(spec_server: SpecServer) -> None:
    spec_server.require_auth(KEY, SECRET, TOKEN)
    spec_server.serve("/api-docs", SpecReply(status=403, body=b'{"message": "forbidden"}'))
    with pytest.raises(SpecFetchError) as info:
        fetch_spec(spec_server.url(), FAST, env=AUTH_ENV)
    assert "refused the access token" in info.value.message
    assert "HTTP 403" in info.value.message


def test_credentials_against_a_server_without_token_endpoint(spec_server: SpecServer) -> None:
    spec_server.serve("/api-docs", good_spec())  # no require_auth: POST /api/token is a 404
    with pytest.raises(SpecFetchError) as info:
        fetch_spec(spec_server.url(), FAST, env=AUTH_ENV)
    assert "no token endpoint" in info.value.message
    assert "unset CONDUCTOR_AUTH_KEY" in info.value.hint


def test_token_response_without_token_is_refused(spec_server: SpecServer) -> None:
    spec_server.require_auth(KEY, SECRET, "")  # the server answers {"token": ""}
    spec_server.serve("/api-docs", good_spec())
    with pytest.raises(SpecFetchError, match="without a token"):
        fetch_spec(spec_server.url(), FAST, env=AUTH_ENV)


def test_token_is_dropped_on_a_redirect_to_another_host(spec_server: SpecServer) -> None:
    spec_server.require_auth(KEY, SECRET, TOKEN)
    elsewhere = spec_server.url("/moved.json").replace("127.0.0.1", "localhost")
    spec_server.serve("/api-docs", SpecReply(status=302, headers={"Location": elsewhere}))
    spec_server.serve("/moved.json", SpecReply(body=SPEC_BYTES, public=True))
    fetched = fetch_spec(spec_server.url(), FAST, env=AUTH_ENV)
    assert fetched.url == elsewhere
    assert spec_server.hits["GET /moved.json"] == 1
    assert "X-Authorization" not in spec_server.seen_headers["/moved.json"]


def test_token_is_kept_on_a_same_host_redirect(spec_server: SpecServer) -> None:
    spec_server.require_auth(KEY, SECRET, TOKEN)
    spec_server.serve("/api-docs", SpecReply(status=301, headers={"Location": "/v3/api-docs"}))
    spec_server.serve("/v3/api-docs", good_spec())  # not public: needs the token
    assert fetch_spec(spec_server.url(), FAST, env=AUTH_ENV).url == spec_server.url("/v3/api-docs")


# --- secrets never leak ---


def _texts(error: BaseException) -> List[str]:
    texts: List[str] = []
    current: BaseException | None = error
    while current is not None:
        texts += [str(current), repr(current)]
        if isinstance(current, SpecFetchError):
            texts += [current.message, current.hint, current.render()]
        current = current.__cause__ or current.__context__
    return texts


@pytest.mark.parametrize(
    "scenario",
    ["wrong-secret", "spec-500", "spec-403", pytest.param("spec-timeout", marks=pytest.mark.waits), "spec-html"],
)
def test_secrets_never_reach_errors_or_logs(
    spec_server: SpecServer, caplog: pytest.LogCaptureFixture, scenario: str
) -> None:
    caplog.set_level(logging.DEBUG)
    spec_server.require_auth(KEY, "the-real-secret" if scenario == "wrong-secret" else SECRET, TOKEN)
    replies = {
        "wrong-secret": good_spec(),
        "spec-500": SpecReply(status=500, body=TOKEN.encode()),
        "spec-403": SpecReply(status=403),
        "spec-timeout": SpecReply(body=SPEC_BYTES, delay=0.6),
        "spec-html": SpecReply(body=HTML_LOGIN, content_type="text/html"),
    }
    spec_server.serve("/api-docs", replies[scenario])
    with pytest.raises(SpecFetchError) as info:
        fetch_spec(spec_server.url(), FetchConfig(timeout=0.3, retries=1, backoff=0.001), env=AUTH_ENV)
    if scenario != "wrong-secret":  # the token really was in play
        assert spec_server.seen_headers["/api-docs"]["X-Authorization"] == TOKEN
    for text in _texts(info.value) + [caplog.text]:
        assert SECRET not in text
        assert TOKEN not in text


def test_secrets_never_reach_logs_or_reprs_on_success(
    spec_server: SpecServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    spec_server.require_auth(KEY, SECRET, TOKEN)
    spec_server.serve("/api-docs", good_spec())
    fetched = fetch_spec(spec_server.url(), FAST, env=AUTH_ENV)
    assert caplog.records  # logging did happen, so the check below means something
    for text in (caplog.text, repr(fetched), repr(spec_fetch._credentials(AUTH_ENV))):
        assert SECRET not in text
        assert TOKEN not in text


# --- TLS ---


def test_tls_verification_is_on_by_default(tls_spec_server: SpecServer) -> None:
    tls_spec_server.serve("/api-docs", good_spec())
    with pytest.raises(SpecFetchError) as info:
        fetch_spec(tls_spec_server.url(), FetchConfig(timeout=5.0, retries=2, backoff=0.001), env={})
    assert "TLS error" in info.value.message
    assert "certificate verify failed" in info.value.message
    assert "\n" not in info.value.message
    assert "--insecure" in info.value.hint
    assert "gave up" not in info.value.message  # a bad certificate is not retried
    assert tls_spec_server.hits == {}


def test_insecure_skips_verification_and_says_so(
    tls_spec_server: SpecServer, caplog: pytest.LogCaptureFixture
) -> None:
    tls_spec_server.serve("/api-docs", good_spec())
    caplog.set_level(logging.WARNING)
    fetched = fetch_spec(tls_spec_server.url(), FetchConfig(timeout=5.0, retries=0, insecure=True), env={})
    assert fetched.body == SPEC_BYTES
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING and r.name == spec_fetch.__name__]
    assert any("VERIFICATION IS DISABLED" in r.getMessage() for r in warnings)
