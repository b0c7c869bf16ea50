"""Download an OpenAPI spec over HTTP(S): Orkes token auth, bounded retries, a size cap, a sanity check."""

from __future__ import annotations

import contextlib
import dataclasses
import ipaddress
import json
import logging
import os
import re
import time
import warnings
from typing import Any, Callable, Iterator, Mapping, NoReturn, Optional, TypeVar
from urllib.parse import SplitResult, urljoin, urlsplit, urlunsplit

import requests
import urllib3

from conductor_regen.config import FetchConfig
from conductor_regen.errors import SpecFetchError

log = logging.getLogger(__name__)

AUTH_KEY_VAR = "CONDUCTOR_AUTH_KEY"
AUTH_SECRET_VAR = "CONDUCTOR_AUTH_SECRET"
TOKEN_HEADER = "X-Authorization"
SPEC_PATH = "/api-docs"
TOKEN_PATH = "/api/token"

# Paths that name the server rather than a document: Conductor serves its spec at /api-docs.
_BASE_PATHS = ("", "/api")
_CHUNK_BYTES = 64 * 1024
# A token response is a few hundred bytes; anything far bigger is not a token endpoint.
_TOKEN_MAX_BYTES = 1024 * 1024
_TOKEN_MAX_REDIRECTS = 5
_SNIFF_BYTES = 4096
_UTF8_BOM = b"\xef\xbb\xbf"
_YAML_START = re.compile(rb"^(---|%YAML|[\"']?[A-Za-z_$][\w.$-]*[\"']?[ \t]*:(\s|$))")
# The human part of urllib3's nested messages: "[Errno 111] Connection refused", "[SSL: X] why".
_NESTED_REASON = re.compile(r"\[(?:Errno|SSL)[^\]]*\] ([^'\"()\]]+)")

_T = TypeVar("_T")

# Indirection so tests can record the backoff delays instead of waiting them out.
_sleep: Callable[[float], None] = time.sleep


@dataclasses.dataclass(frozen=True)
class FetchedSpec:
    """A downloaded spec: the final URL (after redirects, userinfo masked), raw body and Content-Type."""

    url: str
    body: bytes = dataclasses.field(repr=False)
    content_type: str


@dataclasses.dataclass(frozen=True)
class _Credentials:
    key: str = dataclasses.field(repr=False)
    secret: str = dataclasses.field(repr=False)


class _Transient(SpecFetchError):
    """A failure worth another attempt: connection trouble, a timeout or a 5xx."""


class _Session(requests.Session):
    """A session that drops the token header when a redirect leaves the original host."""

    def rebuild_auth(self, prepared_request: requests.PreparedRequest, response: requests.Response) -> None:
        # requests strips `Authorization` on cross-host redirects but not our custom header.
        old_url = response.request.url or ""
        new_url = prepared_request.url or ""
        if TOKEN_HEADER in prepared_request.headers and self.should_strip_auth(old_url, new_url):  # type: ignore[no-untyped-call]
            del prepared_request.headers[TOKEN_HEADER]
        super().rebuild_auth(prepared_request, response)  # type: ignore[no-untyped-call]


def fetch_spec(url: str, config: FetchConfig, env: Optional[Mapping[str, str]] = None) -> FetchedSpec:
    """Download the spec at `url` (a spec URL, or a server base URL that resolves to /api-docs).

    URL rules: http and https only. A URL whose path is empty, `/`, `/api` or `/api/` names the
    server, and the spec is fetched from `<scheme>://<host>[:port]/api-docs`; any other path is
    taken to be the spec itself and used as is (query kept, fragment dropped).

    Auth: when `env` (default: os.environ) has both CONDUCTOR_AUTH_KEY and CONDUCTOR_AUTH_SECRET,
    a token is obtained from `<scheme>://<host>[:port]/api/token` and sent as X-Authorization.

    Transport: `config.timeout` bounds connecting and each read; connection errors, timeouts and
    5xx are retried `config.retries` times (so retries+1 attempts) with `backoff * 2**n` delays;
    4xx are not retried. Bodies over `config.max_bytes` are refused while streaming.
    """
    spec_url = resolve_spec_url(url)
    credentials = _credentials(os.environ if env is None else env)
    deadline = _Deadline(time.monotonic() + config.deadline, config.deadline)
    if config.insecure:
        log.warning(
            "TLS CERTIFICATE VERIFICATION IS DISABLED (--insecure): the spec and any credentials "
            "can be intercepted or forged; use this only against a server you trust"
        )
    with _quiet_insecure_warnings(config.insecure), _make_session(config) as session:
        token = None
        if credentials is not None:
            token = _with_retries(config, lambda: _token_attempt(
                session, spec_url, credentials, deadline.bound(config, spec_url), deadline), deadline)
        log.info("fetching spec from %s", _redact(spec_url))
        return _with_retries(config, lambda: _spec_attempt(
            session, spec_url, token, deadline.bound(config, spec_url), deadline), deadline)


def resolve_spec_url(url: str) -> str:
    """Return the spec URL for `url`: a server base URL gets /api-docs, a spec URL is kept."""
    parts = _split_http_url(url)
    if parts.path.rstrip("/") in _BASE_PATHS:
        parts = parts._replace(path=SPEC_PATH)
    return urlunsplit(parts._replace(fragment=""))


def server_url(url: str) -> str:
    """Return `<scheme>://<host>[:port]` of an http(s) URL: where /api/token lives."""
    parts = _split_http_url(url)
    return urlunsplit((parts.scheme, parts.netloc, "", "", ""))


def _split_http_url(url: str) -> SplitResult:
    text = url.strip()
    parts = urlsplit(text)
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https"):
        shown = f"URL scheme '{parts.scheme}'" if "://" in text else "address"
        raise SpecFetchError(
            f"unsupported {shown} in {_redact(text)!r}: only http and https can be fetched",
            "use an http:// or https:// URL (e.g. http://localhost:8080), or a plain path for a local file",
        )
    try:
        _ = parts.port  # raises ValueError on a bad port
    except ValueError:
        raise SpecFetchError(
            f"invalid port in {_redact(text)!r}", "write the URL as http(s)://host[:port]/path"
        ) from None
    if not parts.hostname:
        raise SpecFetchError(f"no host in {_redact(text)!r}", "write the URL as http(s)://host[:port]/path")
    return parts._replace(scheme=scheme)


def _redact(url: str) -> str:
    # Userinfo (user:password@) and the query (?token=...) may carry a secret; everything we
    # show or return masks them.
    parts = urlsplit(url)
    if parts.query:
        parts = parts._replace(query="***")
    if "@" in parts.netloc:
        parts = parts._replace(netloc="***@" + parts.netloc.rpartition("@")[2])
    return urlunsplit(parts)


def _credentials(env: Mapping[str, str]) -> Optional[_Credentials]:
    key = env.get(AUTH_KEY_VAR, "")
    secret = env.get(AUTH_SECRET_VAR, "")
    if key and secret:
        return _Credentials(key, secret)
    if not key and not secret:
        return None
    present, missing = (AUTH_KEY_VAR, AUTH_SECRET_VAR) if key else (AUTH_SECRET_VAR, AUTH_KEY_VAR)
    raise SpecFetchError(
        f"{present} is set but {missing} is missing or empty",
        f"set {missing} as well, or unset {present} to fetch without authentication",
    )


@contextlib.contextmanager
def _quiet_insecure_warnings(insecure: bool) -> Iterator[None]:
    # One loud log line replaces urllib3's per-request InsecureRequestWarning.
    with warnings.catch_warnings():
        if insecure:
            warnings.simplefilter("ignore", urllib3.exceptions.InsecureRequestWarning)
        yield


def _make_session(config: FetchConfig) -> _Session:
    session = _Session()
    session.verify = not config.insecure
    session.headers["User-Agent"] = "conductor-regen"
    session.headers["Accept"] = "application/json, application/yaml;q=0.9, */*;q=0.5"
    return session


@dataclasses.dataclass(frozen=True)
class _Deadline:
    """The moment (time.monotonic) by which the whole fetch must be done."""

    at: float
    seconds: float

    def remaining(self) -> float:
        return self.at - time.monotonic()

    def error(self, url: str) -> SpecFetchError:
        return SpecFetchError(
            f"gave up on {_redact(url)}: the fetch did not finish within its {self.seconds:g}s deadline",
            "check the server; raise fetch.deadline (REGEN_FETCH_DEADLINE) for a slow link",
        )

    def bound(self, config: FetchConfig, url: str) -> FetchConfig:
        """`config` with its per-request timeout cut to what is left of the deadline."""
        left = self.remaining()
        if left <= 0:
            raise self.error(url)
        return dataclasses.replace(config, timeout=min(config.timeout, left))


def _with_retries(config: FetchConfig, attempt: Callable[[], _T], deadline: Optional[_Deadline] = None) -> _T:
    attempts = max(0, config.retries) + 1
    for number in range(attempts):
        try:
            return attempt()
        except _Transient as exc:
            delay = config.backoff * 2**number
            if deadline is not None and deadline.remaining() <= delay:
                raise SpecFetchError(
                    f"{exc.message} (and the {deadline.seconds:g}s fetch deadline leaves no time to retry)",
                    exc.hint + "; raise fetch.deadline (REGEN_FETCH_DEADLINE) for a slow link",
                ) from exc.__cause__
            if number + 1 >= attempts:
                suffix = f" (gave up after {attempts} attempts)" if attempts > 1 else ""
                raise SpecFetchError(exc.message + suffix, exc.hint) from exc.__cause__
            log.warning("%s; retrying in %.2fs (attempt %d of %d)", exc.message, delay, number + 2, attempts)
            _sleep(delay)
    raise AssertionError("unreachable: the last attempt returns or raises")


def _send(session: _Session, method: str, url: str, config: FetchConfig, **kwargs: Any) -> requests.Response:
    """Send one request with the body left unread; 5xx and transport trouble raise _Transient."""
    try:
        # verify is passed per request: requests lets REQUESTS_CA_BUNDLE override session.verify=False.
        response = session.request(
            method, url, timeout=config.timeout, stream=True, verify=not config.insecure, **kwargs
        )
    except requests.exceptions.SSLError as exc:
        # A bad certificate will not fix itself, so this is never retried.
        raise SpecFetchError(
            f"TLS error talking to {_host(url)}: {_reason(exc)}",
            "fix the server certificate, or point REQUESTS_CA_BUNDLE at your CA bundle; "
            "--insecure skips verification (not recommended)",
        ) from exc
    except requests.exceptions.Timeout as exc:
        raise _timeout(url, config) from exc
    except requests.exceptions.ConnectionError as exc:
        raise _Transient(
            f"cannot connect to {_host(url)}: {_reason(exc)}",
            "check the URL and that the server is running and reachable (and any HTTP(S)_PROXY settings)",
        ) from exc
    except requests.exceptions.RequestException as exc:
        raise SpecFetchError(
            f"request to {_redact(url)} failed: {_reason(exc)}", "check the URL"
        ) from exc
    if response.status_code >= 500:
        response.close()
        raise _Transient(
            f"server error HTTP {response.status_code} {response.reason or ''}".rstrip() + f" from {_redact(url)}",
            "the server is failing: retry later or check the server's logs",
        )
    return response


def _timeout(url: str, config: FetchConfig) -> _Transient:
    return _Transient(
        f"timed out after {config.timeout:g}s waiting for {_redact(url)}",
        "raise --timeout or check the server",
    )


def _host(url: str) -> str:
    return urlsplit(url).netloc.rpartition("@")[2] or url


def _reason(exc: BaseException) -> str:
    # requests nests urllib3 errors several levels deep; the errno text is what a human needs.
    text = str(exc)
    match = _NESTED_REASON.search(text)
    if match:
        return match.group(1).strip()
    line = text.splitlines()[0] if text else ""
    return (line[:200] or type(exc).__name__).strip()


def _read_body(response: requests.Response, url: str, limit: int, config: FetchConfig,
               deadline: Optional[_Deadline] = None) -> bytes:
    """Read the body in chunks, refusing it as soon as it passes `limit` bytes."""
    declared = response.headers.get("Content-Length", "")
    if declared.isdigit() and int(declared) > limit:
        _too_large(url, f"declares {int(declared)} bytes", limit)
    body = bytearray()
    try:
        for chunk in _chunks(response):
            body += chunk
            if len(body) > limit:
                _too_large(url, f"sent more than {limit} bytes", limit)
            if deadline is not None and deadline.remaining() < 0:
                # A server dripping bytes never trips the per-read timeout; the deadline still holds.
                raise deadline.error(url)
    except requests.exceptions.ConnectionError as exc:
        # requests reports a read timeout mid-body as a ConnectionError wrapping urllib3's.
        if exc.args and isinstance(exc.args[0], urllib3.exceptions.ReadTimeoutError):
            raise _timeout(url, config) from exc
        raise _dropped(url, exc) from exc
    except (requests.exceptions.ChunkedEncodingError, requests.exceptions.ContentDecodingError) as exc:
        raise _dropped(url, exc) from exc
    except urllib3.exceptions.ReadTimeoutError as exc:
        raise _timeout(url, config) from exc
    except (urllib3.exceptions.ProtocolError, urllib3.exceptions.DecodeError) as exc:
        raise _dropped(url, exc) from exc
    return bytes(body)


def _chunks(response: requests.Response) -> Iterator[bytes]:
    """The body as it arrives: read1 returns what one read gets, so a dripping server is seen
    between chunks (iter_content would block until a whole chunk or the end)."""
    while True:
        chunk = response.raw.read1(_CHUNK_BYTES, decode_content=True)
        if not chunk:
            return
        yield chunk


def _dropped(url: str, exc: BaseException) -> _Transient:
    return _Transient(
        f"connection to {_host(url)} broke while downloading: {_reason(exc)}",
        "retry, or check the server and network",
    )


def _too_large(url: str, what: str, limit: int) -> NoReturn:
    raise SpecFetchError(
        f"response from {_redact(url)} {what}, over the {limit}-byte limit",
        "check the URL points at the spec; raise fetch.max_bytes if the spec really is that big",
    )


def _token_attempt(session: _Session, spec_url: str, credentials: _Credentials, config: FetchConfig,
                   deadline: Optional[_Deadline] = None) -> str:
    """POST the key id and secret to /api/token and return the token; never logs either."""
    token_url = server_url(spec_url) + TOKEN_PATH
    _warn_if_plaintext(token_url)
    log.info("requesting an access token from %s", _redact(token_url))
    payload = {"keyId": credentials.key, "keySecret": credentials.secret}
    # requests keeps a POST body on 307/308, even across origins: follow redirects by hand, and
    # only while they stay on the origin the credentials were meant for.
    for _ in range(_TOKEN_MAX_REDIRECTS + 1):
        response = _send(session, "POST", token_url, config, json=payload, allow_redirects=False)
        if not response.is_redirect:
            break
        response.close()
        token_url = _same_origin_redirect(token_url, response.headers.get("Location", ""))
    else:
        raise SpecFetchError(f"too many redirects from {_redact(token_url)}", "check the server URL")
    with response:
        _check_token_status(response, token_url)
        raw = _read_body(response, token_url, _TOKEN_MAX_BYTES, config, deadline)
    token = _parse_token(raw, token_url)
    log.debug("got an access token (%d characters)", len(token))
    return token


def _origin(url: str) -> tuple[str, str, Optional[int]]:
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    return scheme, (parts.hostname or "").lower(), parts.port or {"http": 80, "https": 443}.get(scheme)


def _same_origin_redirect(token_url: str, location: str) -> str:
    """The redirect target if it is on the token URL's origin; SpecFetchError otherwise."""
    target = urljoin(token_url, location)
    if _origin(target) != _origin(token_url):
        raise SpecFetchError(
            f"the token endpoint {_redact(token_url)} redirects to another origin "
            f"({_host(target)}); the credentials were not sent there",
            "pass the server's final URL (the one it redirects to) if you trust it",
        )
    return target


def _warn_if_plaintext(token_url: str) -> None:
    parts = urlsplit(token_url)
    if parts.scheme == "http" and not _is_loopback(parts.hostname or ""):
        log.warning("sending %s/%s to %s over plain http; use https", AUTH_KEY_VAR, AUTH_SECRET_VAR, parts.hostname)


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _check_token_status(response: requests.Response, token_url: str) -> None:
    status = response.status_code
    shown = _redact(token_url)
    if status in (401, 403):
        raise SpecFetchError(
            f"credentials rejected by {shown} (HTTP {status})",
            f"check {AUTH_KEY_VAR}/{AUTH_SECRET_VAR}: they must be the key id and secret of an "
            "application's access key on this server",
        )
    if status in (404, 405):
        raise SpecFetchError(
            f"no token endpoint at {shown} (HTTP {status}): this server does not look like Orkes",
            f"check the URL; for a server without auth, unset {AUTH_KEY_VAR} and {AUTH_SECRET_VAR}",
        )
    if not 200 <= status < 300:
        raise SpecFetchError(
            f"token request to {shown} failed with HTTP {status} {response.reason or ''}".rstrip(),
            f"check the URL and {AUTH_KEY_VAR}/{AUTH_SECRET_VAR}",
        )


def _parse_token(raw: bytes, token_url: str) -> str:
    try:
        data = json.loads(raw.decode("utf-8-sig"))
    except (UnicodeDecodeError, ValueError):
        data = None
    token = data.get("token") if isinstance(data, dict) else None
    if not isinstance(token, str) or not token:
        # Never quote the body: a misbehaving server may echo the secret back.
        raise SpecFetchError(
            f"token endpoint {_redact(token_url)} answered without a token",
            "check the URL points at an Orkes server",
        )
    return token


def _spec_attempt(session: _Session, spec_url: str, token: Optional[str], config: FetchConfig,
                  deadline: Optional[_Deadline] = None) -> FetchedSpec:
    """GET the spec once, check status, size and shape, and return it."""
    headers = {TOKEN_HEADER: token} if token else {}
    with _send(session, "GET", spec_url, config, headers=headers) as response:
        _check_spec_status(response, spec_url, authenticated=token is not None)
        body = _read_body(response, spec_url, config.max_bytes, config, deadline)
        content_type = response.headers.get("Content-Type", "")
        final_url = _redact(response.url or spec_url)
    _check_looks_like_spec(body, content_type, final_url)
    log.info("fetched %d bytes from %s (%s)", len(body), final_url, content_type or "no Content-Type")
    return FetchedSpec(url=final_url, body=body, content_type=content_type)


def _check_spec_status(response: requests.Response, spec_url: str, authenticated: bool) -> None:
    status = response.status_code
    shown = _redact(spec_url)
    if status in (401, 403) and authenticated:
        raise SpecFetchError(
            f"the server refused the access token for {shown} (HTTP {status})",
            f"check that the application behind {AUTH_KEY_VAR} may read the API docs",
        )
    if status in (401, 403):
        raise SpecFetchError(
            f"the server requires authentication for {shown} (HTTP {status})",
            f"set {AUTH_KEY_VAR} and {AUTH_SECRET_VAR} to an application's access key id and secret",
        )
    if status == 404:
        raise SpecFetchError(
            f"no spec at {shown} (HTTP 404)",
            f"check the URL; the server base URL (e.g. http://host:8080) is enough, {SPEC_PATH} is added",
        )
    if not 200 <= status < 300:
        raise SpecFetchError(
            f"HTTP {status} {response.reason or ''}".rstrip() + f" from {shown}",
            "check the URL points at the OpenAPI spec",
        )


def _check_looks_like_spec(body: bytes, content_type: str, url: str) -> None:
    """Refuse bodies that cannot be a JSON or YAML spec, naming the likely cause."""
    head = body[:_SNIFF_BYTES]
    if head.startswith(_UTF8_BOM):
        head = head[len(_UTF8_BOM) :]
    head = _skip_yaml_comments(head.lstrip())
    if head.startswith(b"{"):
        return
    if head.startswith(b"<") or "html" in content_type.lower():
        raise SpecFetchError(
            f"server returned an HTML page instead of an OpenAPI spec from {url} (a login page or wrong URL?)",
            "point at the spec itself (the server base URL resolves to /api-docs) and check credentials",
        )
    if not head:
        raise SpecFetchError(f"server returned an empty body from {url}", "check the URL points at the OpenAPI spec")
    if _YAML_START.match(head):
        return
    raise SpecFetchError(
        f"server returned neither JSON nor YAML from {url} (Content-Type: {content_type or 'none'})",
        "check the URL points at the OpenAPI spec",
    )


def _skip_yaml_comments(head: bytes) -> bytes:
    while head.startswith(b"#"):
        head = head.partition(b"\n")[2].lstrip()
    return head
