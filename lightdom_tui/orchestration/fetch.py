"""Fetch a service's sources: HTTP(S) with httpx, local files; bounded in time and size.

Every request has connect/read timeouts *and* an overall deadline (a server that
drips one byte a second cannot hold a run), a size cap checked while streaming,
and a descriptive user agent. Transient failures (5xx, 429, timeouts, connection
errors) are retried with exponential backoff; other failures are returned, never raised.

Redirects are followed by hand, at most ``max_redirects`` hops, each hop checked by
the run's :class:`~lightdom_tui.orchestration.policy.AccessPolicy` (public addresses
only unless allowed) before it is requested and again on the address connected to.
A redirect loop or a blocked hop fails that page only.
"""

from __future__ import annotations

import os
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urljoin

import httpx

from lightdom_tui import __version__ as _version
from lightdom_tui.errors import LightdomError
from lightdom_tui.orchestration.policy import AccessPolicy, BlockedAddress

USER_AGENT = f"LightDomTUI/{_version} (+https://github.com/lightdom/lightdom-tui; polite data extraction bot)"
TRANSIENT_STATUS = frozenset({429, 500, 502, 503, 504})
REDIRECT_STATUS = frozenset({301, 302, 303, 307, 308})
# no folders, public addresses only: what a Fetcher made without a run's policy may reach
PUBLIC_ONLY = AccessPolicy(Path("/"), folders=())


@dataclass(frozen=True)
class FetchOptions:
    """Limits of one fetch (per service; defaults are safe)."""

    timeout_s: float = 10.0  # overall deadline of one attempt
    connect_timeout_s: float = 5.0
    max_bytes: int = 5_000_000
    retries: int = 2
    backoff_s: float = 0.2  # first retry delay; doubles each time, capped at 5 s
    max_redirects: int = 5  # more hops than this fail the page ("too many redirects")


@dataclass
class FetchResult:
    """Outcome of fetching one source: a body, or an error saying why not."""

    source: str
    body: bytes | None = None
    status: int | None = None
    content_type: str = ""
    error: str | None = None
    attempts: int = 1
    elapsed_s: float = 0.0

    @property
    def ok(self) -> bool:
        return self.error is None


class _Transient(Exception):
    pass


class _TooLarge(Exception):
    pass


class _Refused(Exception):
    """A permanent page failure (blocked address, redirect loop): returned, not retried."""


class Fetcher:
    """A reusable HTTP client plus file reader with the limits of ``FetchOptions``."""

    def __init__(self, options: FetchOptions | None = None, policy: AccessPolicy | None = None) -> None:
        self.options = options or FetchOptions()
        self.policy = policy or PUBLIC_ONLY
        self._hosts: dict[str, None] = {}  # hosts whose DNS answers were checked (per fetcher, so per run)
        self._http: httpx.Client | None = None
        self._lock = threading.Lock()

    @property
    def _client(self) -> httpx.Client:
        # created on first HTTP use: building the SSL context costs ~0.2 s, wasted on file services
        with self._lock:
            if self._http is None:
                o = self.options
                self._http = httpx.Client(
                    timeout=httpx.Timeout(o.timeout_s, connect=o.connect_timeout_s),
                    headers={"User-Agent": USER_AGENT, "Accept": "text/html,application/json;q=0.9,*/*;q=0.5"},
                    follow_redirects=False,  # followed by hand: every hop is checked
                    limits=httpx.Limits(max_connections=64, max_keepalive_connections=16),
                )
            return self._http

    def close(self) -> None:
        """Release pooled connections."""
        if self._http is not None:
            self._http.close()

    def __enter__(self) -> Fetcher:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def fetch(self, source: str, should_stop: object = None) -> FetchResult:
        """Fetch a URL or a local path; retries transient failures; never raises for I/O."""
        started = time.monotonic()
        if not source.startswith(("http://", "https://")):
            try:
                self.policy.check_path(source.removeprefix("file://"), "source")
            except LightdomError as exc:
                return self._fail(source, str(exc), 1, started)
            result = read_file(source, self.options.max_bytes)
            result.elapsed_s = time.monotonic() - started
            return result
        o = self.options
        attempt = 0
        while True:
            attempt += 1
            try:
                body, status, content_type = self._get(source)
                return FetchResult(source, body=body, status=status, content_type=content_type,
                                   attempts=attempt, elapsed_s=time.monotonic() - started)
            except (_TooLarge, _Refused, BlockedAddress) as exc:
                return self._fail(source, str(exc), attempt, started)
            except _Transient as exc:
                reason = str(exc)
            except httpx.TimeoutException as exc:
                reason = f"timeout ({type(exc).__name__})"
            except httpx.TransportError as exc:
                reason = f"connection error: {exc}"
            except httpx.HTTPStatusError as exc:
                return self._fail(source, f"HTTP {exc.response.status_code}", attempt, started,
                                  status=exc.response.status_code)
            except (httpx.HTTPError, httpx.InvalidURL) as exc:  # a bad redirect target, a broken stream
                return self._fail(source, f"{type(exc).__name__}: {exc}", attempt, started)
            stopping = callable(should_stop) and should_stop()
            if attempt > o.retries or stopping:
                return self._fail(source, reason, attempt, started)
            time.sleep(min(o.backoff_s * (2 ** (attempt - 1)), 5.0))

    def _get(self, url: str) -> tuple[bytes, int, str]:
        o = self.options
        deadline = time.monotonic() + o.timeout_s
        for _hop in range(o.max_redirects + 1):
            self.policy.check_url(url, self._hosts)
            with self._client.stream("GET", url) as response:
                self._check_peer(response)
                location = response.headers.get("location")
                if response.status_code in REDIRECT_STATUS and location:
                    url = urljoin(str(response.url), location)
                    continue
                return self._read(response, deadline)
        raise _Refused(f"too many redirects (more than {o.max_redirects}); last hop {url}")

    def _check_peer(self, response: httpx.Response) -> None:
        """The address actually connected to must be allowed too (DNS may answer differently twice)."""
        stream = response.extensions.get("network_stream")
        peer = stream.get_extra_info("server_addr") if stream is not None else None
        if peer:
            self.policy.check_address(str(peer[0]))

    def _read(self, response: httpx.Response, deadline: float) -> tuple[bytes, int, str]:
        o = self.options
        if response.status_code in TRANSIENT_STATUS:
            raise _Transient(f"HTTP {response.status_code}")
        response.raise_for_status()
        declared = response.headers.get("content-length")
        if declared and declared.isdigit() and int(declared) > o.max_bytes:
            raise _TooLarge(f"too large: {declared} bytes > max_bytes {o.max_bytes}")
        chunks: list[bytes] = []
        size = 0
        for chunk in response.iter_bytes():
            size += len(chunk)
            if size > o.max_bytes:
                raise _TooLarge(f"too large: more than max_bytes {o.max_bytes}")
            if time.monotonic() > deadline:
                raise httpx.ReadTimeout(f"deadline of {o.timeout_s}s exceeded")
            chunks.append(chunk)
        return b"".join(chunks), response.status_code, response.headers.get("content-type", "")

    @staticmethod
    def _fail(source: str, reason: str, attempts: int, started: float, status: int | None = None) -> FetchResult:
        return FetchResult(source, error=reason, status=status, attempts=attempts,
                           elapsed_s=time.monotonic() - started)


JSON_SUFFIXES = (".json", ".jsonl")


def read_local(path: str, max_bytes: int) -> tuple[bytes, None] | tuple[None, str]:
    """``(body, None)``, or ``(None, why not)`` for a missing, unreadable or too large file."""
    try:
        with open(path, "rb", buffering=0) as handle:
            size = os.fstat(handle.fileno()).st_size
            if size > max_bytes:
                return None, f"too large: {size} bytes > max_bytes {max_bytes}"
            # one read of the known size (read() would stat the file again); a file that grew
            # meanwhile, or reports no size (/proc, pipes), shows as longer and is read to the end
            body = handle.read(size + 1)
            if len(body) > size:
                body += handle.readall()
    except OSError as exc:
        return None, f"cannot read file: {exc.strerror or exc}"
    if len(body) > max_bytes:  # grew while we read it
        return None, f"too large: more than max_bytes {max_bytes}"
    return body, None


def read_file(source: str, max_bytes: int) -> FetchResult:
    """A local page (``file://`` or a path) within ``max_bytes``; errors are returned, never raised."""
    path = source.removeprefix("file://")
    body, error = read_local(path, max_bytes)
    if error is not None:
        return FetchResult(source, error=error)
    content_type = "application/json" if path.lower().endswith(JSON_SUFFIXES) else "text/html"
    return FetchResult(source, body=body, content_type=content_type)
