#!/usr/bin/python3
# The three generations of the pymicroservice/gemstone family (SPEC 4.1) against one real
# servreg, each exchange replayed byte for byte: the exact request bytes the client's HTTP
# library puts on the wire (urllib for pymicroservice and gemstone up to 0.8, Tornado's
# HTTPClient for gemstone 0.10-0.12), and the reply read the way the client reads it. The
# libraries are only on PyPI, which is not reachable here, so their requests are written out.
# Usage: test_gemstone_wire.py SERVREG_BINARY
import json
import os
import random
import socket
import string
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from servreg_process import Checks, ServregProcess  # noqa: E402


def urllib_request(port, body):
    """What urllib.request.urlopen sends for Request(url, data=body) with the Content-Type
    header the clients add (Python 3.11): header names title-cased, Connection: close."""
    return (b"POST /api HTTP/1.1\r\n"
            b"Accept-Encoding: identity\r\n"
            b"Content-Length: %d\r\n"
            b"Host: 127.0.0.1:%d\r\n"
            b"User-Agent: Python-urllib/3.11\r\n"
            b"Content-Type: application/json\r\n"
            b"Connection: close\r\n"
            b"\r\n" % (len(body), port)) + body


def tornado_request(port, body):
    """What tornado.httpclient.HTTPClient().fetch(HTTPRequest(url, method="POST",
    headers={"content-type": "application/json"}, body=body)) sends (Tornado 6)."""
    return (b"POST /api HTTP/1.1\r\n"
            b"Content-Type: application/json\r\n"
            b"Connection: close\r\n"
            b"Host: 127.0.0.1:%d\r\n"
            b"User-Agent: Tornado/6.4\r\n"
            b"Accept-Encoding: gzip\r\n"
            b"Content-Length: %d\r\n"
            b"\r\n" % (port, len(body))) + body


def exchange(port, request):
    """Sends the exact bytes; returns (status, headers dict lower-cased, body) of the reply,
    read to the end of the connection as both clients do with Connection: close."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        s.sendall(request)
        data = b""
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split(" ")[1])
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    if "content-length" in headers:
        assert len(body) == int(headers["content-length"]), \
            "Content-Length %s but %d bytes: %r" % (headers["content-length"], len(body), data)
    return status, headers, body


def dumps(payload):
    """json.dumps and simplejson.dumps with their defaults: ", " and ": " separators."""
    return json.dumps(payload).encode()


def call(port, request_of, payload, what):
    """A call with an id, read the way the clients read it: response["error"] then
    response["result"]; a non-2xx status is an error to Tornado, and urllib raises on it."""
    sent = request_of(port, dumps(payload))
    status, headers, body = exchange(port, sent)
    context = "%s\n  request: %r\n  reply: %d %r %r" % (what, sent, status, headers, body)
    assert status == 200, context
    assert headers.get("content-type") == "application/json", context
    response = json.loads(body)
    assert "error" in response and "result" in response, context
    assert response["error"] is None, context
    assert response["id"] == payload["id"], context
    return response["result"]


def notify(port, request_of, payload, what):
    """A notification: 204 and no body, the connection closed."""
    sent = request_of(port, dumps(payload))
    status, headers, body = exchange(port, sent)
    context = "%s\n  request: %r\n  reply: %d %r %r" % (what, sent, status, headers, body)
    assert status == 204, context
    assert body == b"", context


def random_id():
    """gemstone 0.10-0.12's id: ten random ASCII letters."""
    return "".join(random.choice(string.ascii_letters) for _ in range(10))


def check_pymicroservice(port):
    """pymicroservice and gemstone <= 0.3: pings {"name","host","port"} as notifications,
    locate_service(["glob"]) with id 2, reads [{"host","port"}]."""
    for _ in range(2):
        notify(port, urllib_request,
               {"jsonrpc": "2.0", "method": "ping",
                "params": {"name": "gen1.users", "host": "10.51.0.1", "port": 8000}},
               "gen1 ping")
    specs = call(port, urllib_request, {"jsonrpc": "2.0", "method": "get_service_specs", "id": 1},
                 "gen1 get_service_specs")
    assert "locate_service" in specs["methods"], specs
    found = call(port, urllib_request,
                 {"jsonrpc": "2.0", "method": "locate_service", "params": ["gen1.*"], "id": 2},
                 "gen1 locate_service")
    assert found == [{"host": "10.51.0.1", "port": 8000}], found


def check_gemstone_04(port):
    """gemstone 0.4-0.8: pings {"name","url"} as notifications, locate_service(["glob"]) with
    id 2 after get_service_specs with id 1, reads URL strings and picks one at random."""
    for url in ("http://10.52.0.1:8000/api", "http://10.52.0.2:9000/api"):
        notify(port, urllib_request,
               {"jsonrpc": "2.0", "method": "ping", "params": {"name": "gen2.users", "url": url}},
               "gen2 ping")
    call(port, urllib_request, {"jsonrpc": "2.0", "method": "get_service_specs", "id": 1},
         "gen2 get_service_specs")
    found = call(port, urllib_request,
                 {"jsonrpc": "2.0", "method": "locate_service", "params": ["gen2.users"], "id": 2},
                 "gen2 locate_service")
    assert found == ["http://10.52.0.1:8000/api", "http://10.52.0.2:9000/api"], found


def check_gemstone_010(port):
    """gemstone 0.10-0.12 (HttpDiscoveryStrategy): every ping is a call with a random string
    id, {"name","url"} by name; locate_service {"name": glob}; reads response["result"]."""
    for url in ("https://10.53.0.1:8443/api", "http://10.53.0.2/api/v2"):
        result = call(port, tornado_request,
                      {"jsonrpc": "2.0", "method": "ping",
                       "params": {"name": "gen3.billing", "url": url}, "id": random_id()},
                      "gen3 ping")
        assert result is True, result
    found = call(port, tornado_request,
                 {"jsonrpc": "2.0", "method": "locate_service", "params": {"name": "gen3.*"},
                  "id": random_id()},
                 "gen3 locate_service")
    assert found == ["https://10.53.0.1:8443/api", "http://10.53.0.2/api/v2"], found


def check_mixed_fleet(port):
    """One registry serves every generation: each instance answers in its own form, and a
    pinger that moves to a URL ping (an upgraded service) answers as a URL from then on."""
    found = call(port, tornado_request,
                 {"jsonrpc": "2.0", "method": "locate_service", "params": {"name": "gen?.*"},
                  "id": random_id()},
                 "mixed locate_service")
    assert found == [{"host": "10.51.0.1", "port": 8000},
                     "http://10.52.0.1:8000/api", "http://10.52.0.2:9000/api",
                     "https://10.53.0.1:8443/api", "http://10.53.0.2/api/v2"], found
    notify(port, urllib_request,
           {"jsonrpc": "2.0", "method": "ping",
            "params": {"name": "gen1.users", "url": "http://10.51.0.1:8000/api"}},
           "gen1 upgraded to a URL ping")
    found = call(port, urllib_request,
                 {"jsonrpc": "2.0", "method": "locate_service", "params": ["gen1.*"], "id": 2},
                 "gen1 locate_service after the upgrade")
    assert found == ["http://10.51.0.1:8000/api"], found


def check_bad_url_refused(port):
    """A bad URL is -32602 with a 200 status (a JSON-RPC error reply, which gemstone
    0.10 raises from), and nothing is stored."""
    payload = {"jsonrpc": "2.0", "method": "ping",
               "params": {"name": "gen3.bad", "url": "10.54.0.1:80/api"}, "id": random_id()}
    sent = tornado_request(port, dumps(payload))
    status, _, body = exchange(port, sent)
    response = json.loads(body)
    assert status == 200 and response["error"]["code"] == -32602, (sent, status, body)
    assert response["id"] == payload["id"], (sent, body)
    found = call(port, urllib_request,
                 {"jsonrpc": "2.0", "method": "locate_service", "params": ["gen3.bad"], "id": 2},
                 "locate after a refused ping")
    assert found == [], found


def main():
    checks = Checks()
    with ServregProcess(sys.argv[1]) as registry:
        checks.run("pymicroservice and gemstone <= 0.3", check_pymicroservice, registry.port)
        checks.run("gemstone 0.4-0.8", check_gemstone_04, registry.port)
        checks.run("gemstone 0.10-0.12", check_gemstone_010, registry.port)
        checks.run("a mixed fleet, and an upgraded pinger", check_mixed_fleet, registry.port)
        checks.run("a bad URL is refused, nothing stored",
                   check_bad_url_refused, registry.port)
    checks.finish()


if __name__ == "__main__":
    main()
