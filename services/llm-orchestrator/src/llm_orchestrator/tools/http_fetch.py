"""The HTTP tool: GET (or HEAD) a page from a host of the operator's allow-list, safe against
server-side request forgery.

- The host must be in LLM_TOOLS_HTTP_ALLOWED_HOSTS (exact, or `*.example.com` for subdomains);
  cloud metadata names are refused whatever the list says.
- The name is resolved once per request and every address checked (chatbot_common.net_guard):
  loopback, private, link-local, multicast, reserved, unspecified and CGNAT addresses are
  refused unless the operator allowed their network (LLM_TOOLS_HTTP_ALLOWED_NETWORKS); cloud
  metadata addresses and IPv4-mapped IPv6 addresses are refused always.
- The connection goes to the address that was checked (the URL carries the address, the Host
  header and TLS's SNI and certificate check the name): a DNS answer that changes between the
  check and the connection (rebinding) is never used.
- Redirects are followed here, each hop checked like the first, up to a count.
- Only text and JSON answers, up to a size; no cookies, no credentials, no proxy from the
  environment; the tool's time limit covers the whole exchange.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
import ssl
import zlib
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from typing import Any

import httpx

from chatbot_common.net_guard import METADATA_HOSTS, AddressPolicy, BlockedAddress
from llm_orchestrator.providers.base import ToolSpec
from llm_orchestrator.tools.base import ToolContext, ToolError, ToolResult

# (host, port) -> the addresses it resolves to; the default asks the system resolver.
Resolver = Callable[[str, int], Awaitable[list[str]]]

NAT64 = ipaddress.ip_network("64:ff9b::/96")
TEXT_TYPES = ("text/", "application/json", "application/ld+json", "application/problem+json", "application/xml")
MAX_URL_CHARS = 2_048


async def system_resolver(host: str, port: int) -> list[str]:
    try:
        infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError):
        return []
    return list(dict.fromkeys(info[4][0] for info in infos))


def host_allowed(host: str, allowed: Sequence[str]) -> bool:
    host = host.lower().rstrip(".")
    for entry in allowed:
        entry = entry.lower().strip("[]").rstrip(".")
        if entry.startswith("*."):
            if host.endswith(entry[1:]) and host != entry[2:]:
                return True
        elif host == entry:
            return True
    return False


async def read_body(raw: AsyncIterator[bytes], encoding: str, max_bytes: int) -> bytes:
    """The answer's bytes as sent (`raw`), decoded, never more than `max_bytes` of them held: a
    compressed answer is inflated only up to the limit (httpx inflates each chunk whole, and a
    64 kB gzip chunk of zeros is 64 MB). Asked for identity, a server may still send gzip or
    deflate; any other encoding is refused."""
    encoding = encoding.strip().lower()
    if encoding in ("", "identity"):
        inflate = None
    elif encoding in ("gzip", "x-gzip", "deflate"):
        inflate = zlib.decompressobj(zlib.MAX_WBITS | 32)  # gzip or zlib-wrapped, by the header
    else:
        raise ToolError(f"the answer is encoded as {encoding[:40]}, which is not read")
    body = bytearray()
    try:
        async for chunk in raw:
            if inflate is None:
                body += chunk
            else:
                body += inflate.decompress(chunk, max_bytes + 1 - len(body))
            if len(body) > max_bytes:
                raise ToolError(f"the answer is larger than the limit of {max_bytes} bytes")
    except zlib.error:
        raise ToolError("the answer's compression is broken") from None
    return bytes(body)


def _text_type(content_type: str) -> bool:
    kind = content_type.split(";", 1)[0].strip().lower()
    return kind.startswith(TEXT_TYPES) or kind.endswith("+json")


class HttpFetch:
    """A tool: fetches a URL from an allowed host and returns its text."""

    def __init__(self, allowed_hosts: Sequence[str], allowed_networks: Sequence[str] = (), max_bytes: int = 1_000_000,
                 max_redirects: int = 3, timeout: float = 15.0, sensitive: bool = True, resolver: Resolver | None = None,
                 verify: ssl.SSLContext | None = None) -> None:
        self._hosts = [h.lower() for h in allowed_hosts]
        self._policy = AddressPolicy(allowed_networks)
        self._max_bytes = max_bytes
        self._max_redirects = max_redirects
        self._resolve = resolver or system_resolver
        self._verify = verify or True  # certificates are always checked; a test may bring its own authority
        self.timeout = timeout
        self.sensitive = sensitive
        self.spec = ToolSpec(
            name="http_fetch",
            description="Fetch a web page or JSON document by URL (GET, or HEAD for headers only) and return its text. "
                        f"Only these hosts may be reached: {', '.join(allowed_hosts) or 'none'}. Text and JSON only, at most "
                        f"{max_bytes} bytes.",
            parameters={
                "type": "object",
                "properties": {
                    "url": {"type": "string", "minLength": 8, "maxLength": MAX_URL_CHARS, "description": "an http(s) URL"},
                    "method": {"type": "string", "enum": ["GET", "HEAD"], "description": "GET (default) or HEAD"},
                },
                "required": ["url"],
                "additionalProperties": False,
            },
        )

    def _check_address(self, address: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address:
        ip = ipaddress.ip_address(address.split("%", 1)[0])
        if isinstance(ip, ipaddress.IPv6Address):
            if ip.ipv4_mapped is not None:  # no DNS answer has a reason to be one
                raise BlockedAddress(f"{ip} is an IPv4-mapped address")
            if ip in NAT64:  # the IPv4 address a NAT64 gateway would reach
                self._check_address(str(ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)))
        self._policy.check_address(ip)  # metadata addresses always, the rest unless in an allowed network
        return ip

    async def _target(self, url: httpx.URL) -> tuple[httpx.URL, str]:
        """The URL to connect to (the checked address in place of the name) and the Host header."""
        if url.scheme not in ("http", "https") or not url.host:
            raise ToolError("only http and https URLs can be fetched")
        if url.userinfo:
            raise ToolError("URLs with credentials are refused")
        host = url.host.lower().rstrip(".")
        if host in METADATA_HOSTS:
            raise ToolError(f"{host} is a cloud metadata host and is never fetched")
        if not host_allowed(host, self._hosts):
            raise ToolError(f"the host {host[:100]} is not allowed; allowed hosts: {', '.join(self._hosts) or 'none'}")
        port = url.port or (443 if url.scheme == "https" else 80)
        try:
            literal: Any = ipaddress.ip_address(host)
        except ValueError:
            literal = None
        addresses = [host] if literal is not None else await self._resolve(host, port)
        if not addresses:
            raise ToolError(f"the host {host} does not resolve")
        try:
            checked = [self._check_address(a) for a in addresses]  # one refused address refuses the name
        except (BlockedAddress, ValueError) as exc:
            named = f"{host} resolves to an address that" if literal is None else f"{host} is an address that"
            raise ToolError(f"refused: {named} may not be reached ({exc})") from None
        ip = checked[0]
        netloc = f"[{ip}]" if ip.version == 6 else str(ip)
        host_header = url.netloc.decode("ascii").rsplit("@", 1)[-1]
        return url.copy_with(host=netloc.strip("[]"), port=port), host_header

    async def call(self, arguments: dict[str, Any], context: ToolContext) -> ToolResult:
        method = arguments.get("method", "GET")
        try:
            url = httpx.URL(arguments["url"])
        except httpx.InvalidURL:
            raise ToolError("the URL is not valid") from None
        headers = {"Accept": "text/*, application/json;q=0.9", "Accept-Encoding": "identity",
                   "User-Agent": "chatbot-platform-http-tool/1"}
        async with httpx.AsyncClient(trust_env=False, follow_redirects=False, timeout=httpx.Timeout(self.timeout),
                                     verify=self._verify) as client:
            for _ in range(self._max_redirects + 1):
                target, host_header = await self._target(url)
                extensions = {"sni_hostname": url.host} if url.scheme == "https" else {}
                request = client.build_request(method, target, headers={**headers, "Host": host_header}, extensions=extensions)
                try:
                    response = await client.send(request, stream=True)
                except httpx.TimeoutException:
                    raise ToolError("the server did not answer in time") from None
                except httpx.HTTPError as exc:
                    if "CERTIFICATE_VERIFY_FAILED" in str(exc):
                        raise ToolError(f"the TLS certificate of {url.host} could not be verified") from None
                    raise ToolError(f"the request failed ({type(exc).__name__})") from None
                try:
                    if response.is_redirect and "location" in response.headers:
                        try:
                            url = url.join(response.headers["location"])
                        except httpx.InvalidURL:
                            raise ToolError("the server redirected to an invalid URL") from None
                        continue
                    return await self._result(url, method, response)
                finally:
                    await response.aclose()
        raise ToolError(f"more than {self._max_redirects} redirects")

    async def _result(self, url: httpx.URL, method: str, response: httpx.Response) -> ToolResult:
        content_type = response.headers.get("content-type", "")
        data = {"url": str(url), "status": response.status_code, "content_type": content_type}
        head = f"HTTP {response.status_code} {response.reason_phrase} from {url}"
        if method == "HEAD":
            length = response.headers.get("content-length", "unknown")
            return ToolResult(f"{head}\ncontent-type: {content_type or 'unknown'}\ncontent-length: {length}", response.is_error, data)
        if not _text_type(content_type):
            raise ToolError(f"the answer is {content_type.split(';')[0] or 'of no stated type'}; only text and JSON are read")
        declared = response.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > self._max_bytes:
            raise ToolError(f"the answer is {declared} bytes, more than the limit of {self._max_bytes}")
        try:
            body = await read_body(response.aiter_raw(), response.headers.get("content-encoding", ""), self._max_bytes)
        except httpx.TimeoutException:
            raise ToolError("the server stopped sending before the answer was complete") from None
        except httpx.HTTPError as exc:
            raise ToolError(f"reading the answer failed ({type(exc).__name__})") from None
        try:
            text = body.decode(response.charset_encoding or "utf-8", errors="replace")
        except LookupError:  # a charset Python does not know
            text = body.decode("utf-8", errors="replace")
        data["bytes"] = len(body)
        return ToolResult(f"{head}\ncontent-type: {content_type}\n\n{text}", response.is_error, data)
