"""The HTTP tool against real HTTP servers on loopback (127.0.0.1, and 127.0.0.2 as the private
host a redirect points to). Loopback, private, link-local, metadata and mapped addresses are
refused, literally and through names ('localhost', and names a resolver hook maps); a redirect
from an allowed host to a private one is refused before it is followed, and the private server
never sees a request; the connection goes to the address that was checked; size, time, type
and redirect limits hold. LLM_TOOLS_HTTP_ALLOWED_NETWORKS (here 127.0.0.1/32) is how a test
makes a loopback server count as reachable; without it nothing on loopback is."""

from __future__ import annotations

import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

import pytest

from llm_orchestrator.tools.base import ToolContext
from llm_orchestrator.tools.http_fetch import HttpFetch
from llm_orchestrator.tools.running import run_tool

pytestmark = pytest.mark.contract

CTX = ToolContext(tenant_id="acme", user_id="usr_alice")
PAGE = "Opening hours: 9 to 17, Monday to Friday."


class Handler(BaseHTTPRequestHandler):
    def log_message(self, *args):  # quiet
        pass

    def _send(self, status, body=b"", content_type="text/plain; charset=utf-8", headers=None, length=True):
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        if length:
            self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def do_HEAD(self):
        self.do_GET()

    def do_GET(self):
        self.server.seen.append((self.headers.get("Host"), self.path))
        parts = urlsplit(self.path)
        query = parse_qs(parts.query)
        if parts.path == "/text":
            self._send(200, PAGE.encode())
        elif parts.path == "/json":
            self._send(200, b'{"temperature": 21}', "application/json")
        elif parts.path == "/big":
            self._send(200, b"x" * 50_000)
        elif parts.path == "/big-unannounced":
            self.send_response(200)
            self.send_header("Content-Type", "text/plain")
            self.send_header("Connection", "close")
            self.end_headers()
            for _ in range(50):
                self.wfile.write(b"y" * 1_000)
        elif parts.path == "/slow":
            self.send_response(200)
            self.send_header("Content-Type", "text/plain")
            self.send_header("Content-Length", "100")
            self.end_headers()
            self.wfile.write(b"partial")
            self.wfile.flush()
            time.sleep(5)
        elif parts.path == "/png":
            self._send(200, b"\x89PNG\r\n", "image/png")
        elif parts.path == "/redirect":
            self._send(302, b"", headers={"Location": query["to"][0]})
        elif parts.path == "/loop":
            self._send(302, b"", headers={"Location": "/loop"})
        elif parts.path == "/missing":
            self._send(404, b"not here")
        else:
            self._send(200, b"private data: salaries")


def serve(host: str) -> ThreadingHTTPServer:
    server = ThreadingHTTPServer((host, 0), Handler)
    server.seen = []
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


@pytest.fixture(scope="module")
def public():
    server = serve("127.0.0.1")
    yield server
    server.shutdown()


@pytest.fixture(scope="module")
def private():
    server = serve("127.0.0.2")
    yield server
    server.shutdown()


@pytest.fixture(autouse=True)
def clear(public, private):
    public.seen.clear()
    private.seen.clear()


class Names:
    """A resolver hook: names mapped to addresses, and the lookups made."""

    def __init__(self, table):
        self.table = table
        self.lookups: list[str] = []

    async def __call__(self, host, port):
        self.lookups.append(host)
        answer = self.table[host]
        return answer.pop(0) if answer and isinstance(answer[0], list) else answer


def fetcher(names=None, hosts=("api.test", "private.test", "public.test"), networks=("127.0.0.1/32",), **kw):
    return HttpFetch(list(hosts), list(networks), resolver=names, **kw)


async def fetch(tool, url, method=None):
    arguments = {"url": url} | ({"method": method} if method else {})
    return await run_tool(tool, arguments, CTX)


async def test_an_allowed_host_is_fetched_at_the_checked_address(public):
    names = Names({"api.test": ["127.0.0.1"]})
    tool = fetcher(names)
    result = await fetch(tool, f"http://api.test:{public.server_port}/text")
    assert not result.is_error, result.content
    assert result.content.endswith(PAGE) and "HTTP 200 OK" in result.content
    assert result.data == {"url": f"http://api.test:{public.server_port}/text", "status": 200,
                           "content_type": "text/plain; charset=utf-8", "bytes": len(PAGE)}
    # The request reached the address checked, under its own name (Host header), resolved once.
    assert public.seen == [(f"api.test:{public.server_port}", "/text")]
    assert names.lookups == ["api.test"]
    json_result = await fetch(tool, f"http://api.test:{public.server_port}/json")
    assert json_result.content.endswith('{"temperature": 21}')
    head = await fetch(tool, f"http://api.test:{public.server_port}/text", "HEAD")
    assert "content-length: 41" in head.content and PAGE not in head.content
    missing = await fetch(tool, f"http://api.test:{public.server_port}/missing")
    assert missing.is_error and "HTTP 404" in missing.content


async def test_dns_rebinding_cannot_move_the_connection(public):
    # The first answer passes the check, a second one would point inside: it is never asked for.
    names = Names({"api.test": [["127.0.0.1"], ["10.0.0.5"], ["10.0.0.5"]]})
    result = await fetch(fetcher(names), f"http://api.test:{public.server_port}/text")
    assert not result.is_error and result.content.endswith(PAGE)
    assert names.lookups == ["api.test"]


@pytest.mark.parametrize("url", [
    "http://127.0.0.1:{port}/secret",
    "http://localhost:{port}/secret",
    "http://[::1]:{port}/secret",
    "http://[::ffff:127.0.0.1]:{port}/secret",
    "http://0.0.0.0:{port}/secret",
    "http://10.1.2.3/secret",
    "http://172.16.0.1/secret",
    "http://192.168.1.1/secret",
    "http://169.254.169.254/latest/meta-data/",
    "http://[fd00:ec2::254]/latest/meta-data/",
    "http://100.100.100.200/latest/meta-data/",
    "http://224.0.0.1/",
])
async def test_loopback_private_link_local_and_metadata_addresses_are_refused(public, url):
    hosts = ["127.0.0.1", "localhost", "::1", "::ffff:127.0.0.1", "0.0.0.0", "10.1.2.3", "172.16.0.1", "192.168.1.1",
             "169.254.169.254", "fd00:ec2::254", "100.100.100.200", "224.0.0.1"]
    tool = HttpFetch(hosts, [])  # no allowed network: nothing on loopback counts as reachable
    result = await fetch(tool, url.format(port=public.server_port))
    assert result.is_error and "refused" in result.content, result.content
    assert public.seen == []


async def test_metadata_stays_refused_inside_an_allowed_network():
    tool = HttpFetch(["169.254.169.254", "metadata.google.internal"], ["169.254.0.0/16"])
    result = await fetch(tool, "http://169.254.169.254/latest/meta-data/")
    assert result.is_error and "metadata address" in result.content
    named = await fetch(tool, "http://metadata.google.internal/computeMetadata/v1/")
    assert named.is_error and "metadata host" in named.content


@pytest.mark.parametrize(("answer", "says"), [
    (["10.20.30.40"], "10.20.30.40 is not a public address"),
    (["93.184.215.14", "127.0.0.2"], "127.0.0.2 is not a public address"),  # one bad address refuses the name
    (["::ffff:10.0.0.1"], "IPv4-mapped"),
    (["fe80::1"], "not a public address"),
    (["169.254.169.254"], "metadata address"),
    ([], "does not resolve"),
])
async def test_names_resolving_to_private_addresses_are_refused(private, answer, says):
    names = Names({"api.test": answer})
    result = await fetch(fetcher(names), f"http://api.test:{private.server_port}/secret")
    assert result.is_error and says in result.content, result.content
    assert private.seen == []


async def test_a_redirect_to_a_private_host_is_refused_before_it_is_followed(public, private):
    names = Names({"public.test": ["127.0.0.1"], "private.test": ["127.0.0.2"]})
    tool = fetcher(names)
    for target in (f"http://private.test:{private.server_port}/secret",      # allowed name, private address
                   f"http://127.0.0.2:{private.server_port}/secret",         # not an allowed host
                   "http://169.254.169.254/latest/meta-data/iam/"):
        result = await fetch(tool, f"http://public.test:{public.server_port}/redirect?to={target}")
        assert result.is_error, result.content
        assert "refused" in result.content or "not allowed" in result.content
    assert private.seen == []
    assert len(public.seen) == 3
    # A redirect to an allowed place is followed.
    ok = await fetch(tool, f"http://public.test:{public.server_port}/redirect?to=/text")
    assert not ok.is_error and ok.content.endswith(PAGE) and ok.data["url"].endswith("/text")


async def test_redirect_loops_stop(public):
    tool = fetcher(Names({"api.test": ["127.0.0.1"]}), max_redirects=2)
    result = await fetch(tool, f"http://api.test:{public.server_port}/loop")
    assert result.is_error and "more than 2 redirects" in result.content
    assert len(public.seen) == 3


async def test_size_type_and_time_limits(public):
    tool = fetcher(Names({"api.test": ["127.0.0.1"]}), max_bytes=10_000)
    announced = await fetch(tool, f"http://api.test:{public.server_port}/big")
    assert announced.is_error and "50000 bytes, more than the limit of 10000" in announced.content
    streamed = await fetch(tool, f"http://api.test:{public.server_port}/big-unannounced")
    assert streamed.is_error and "larger than the limit of 10000 bytes" in streamed.content
    image = await fetch(tool, f"http://api.test:{public.server_port}/png")
    assert image.is_error and "image/png" in image.content
    slow = await run_tool(fetcher(Names({"api.test": ["127.0.0.1"]}), timeout=0.5),
                          {"url": f"http://api.test:{public.server_port}/slow"}, CTX)
    assert slow.is_error and ("did not finish" in slow.content or "stopped sending" in slow.content)


@pytest.mark.parametrize(("url", "says"), [
    ("file:///etc/passwd", "only http and https"),
    ("gopher://api.test/", "only http and https"),
    ("http://user:pw@api.test/", "credentials"),
    ("http://example.org/", "not allowed"),
    ("http://api.test.evil.org/", "not allowed"),
])
async def test_urls_outside_the_rules(url, says):
    result = await fetch(fetcher(Names({"api.test": ["127.0.0.1"]})), url)
    assert result.is_error and says in result.content, result.content


async def test_method_is_get_or_head_only():
    result = await fetch(fetcher(), "http://api.test/", "POST")
    assert result.is_error and "'POST' is not one of ['GET', 'HEAD']" in result.content


def tls_server(tmp_path, name: str):
    """An HTTPS server on 127.0.0.1 with a certificate for `name` from a test authority, and a
    client context that trusts that authority."""
    import datetime
    import ssl

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    now = datetime.datetime.now(datetime.UTC)

    def certificate(subject, issuer, key, signer, ca, san=None):
        builder = (x509.CertificateBuilder().subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)]))
                   .issuer_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, issuer)])).public_key(key.public_key())
                   .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(minutes=5))
                   .not_valid_after(now + datetime.timedelta(hours=1))
                   .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True))
        if san:
            builder = builder.add_extension(x509.SubjectAlternativeName([x509.DNSName(san)]), critical=False)
        return builder.sign(signer, hashes.SHA256())

    ca_key, key = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    ca = certificate("test authority", "test authority", ca_key, ca_key, True)
    leaf = certificate(name, "test authority", key, ca_key, False, san=name)
    (tmp_path / "leaf.pem").write_bytes(leaf.public_bytes(serialization.Encoding.PEM))
    (tmp_path / "key.pem").write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                                         serialization.NoEncryption()))
    server_context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_context.load_cert_chain(tmp_path / "leaf.pem", tmp_path / "key.pem")
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.seen = []
    server.daemon_threads = True
    server.socket = server_context.wrap_socket(server.socket, server_side=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    client_context = ssl.create_default_context(cadata=ca.public_bytes(serialization.Encoding.PEM).decode())
    return server, client_context


async def test_https_to_the_checked_address_verifies_the_certificate_against_the_name(tmp_path):
    server, trust = tls_server(tmp_path, "api.test")
    try:
        names = Names({"api.test": ["127.0.0.1"], "other.test": ["127.0.0.1"]})
        tool = HttpFetch(["api.test", "other.test"], ["127.0.0.1/32"], resolver=names, verify=trust)
        ok = await fetch(tool, f"https://api.test:{server.server_port}/text")
        assert not ok.is_error, ok.content
        assert ok.content.endswith(PAGE) and server.seen == [(f"api.test:{server.server_port}", "/text")]
        # The same address under another name: the certificate does not match it, nothing is read.
        wrong = await fetch(tool, f"https://other.test:{server.server_port}/text")
        assert wrong.is_error and "the TLS certificate of other.test could not be verified" in wrong.content
        assert len(server.seen) == 1
        untrusted = await fetch(HttpFetch(["api.test"], ["127.0.0.1/32"], resolver=names), f"https://api.test:{server.server_port}/")
        assert untrusted.is_error and "could not be verified" in untrusted.content
    finally:
        server.shutdown()
