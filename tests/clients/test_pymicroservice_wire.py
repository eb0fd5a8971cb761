#!/usr/bin/python3
# The pymicroservice client and services' exchange with the registry, replayed byte for byte
# with http.client (the library itself cannot be installed here) against the real servreg.
# Usage: test_pymicroservice_wire.py SERVREG_BINARY
import http.client
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from servreg_process import Checks, ServregProcess  # noqa: E402

# What urllib, which the pymicroservice client uses, sends besides the body.
HEADERS = {
    "Content-Type": "application/json",
    "User-Agent": "Python-urllib/3.11",
    "Accept-Encoding": "identity",
    "Connection": "close",
}


def post(port, payload):
    """POSTs one JSON-RPC payload on a new connection; returns (status, headers, body bytes)."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        conn.request("POST", "/api", body=json.dumps(payload).encode(), headers=HEADERS)
        response = conn.getresponse()
        body = response.read()
        closed = response.will_close
        return response.status, response.getheader("Content-Type"), body, closed
    finally:
        conn.close()


def client_call(port, method, params, request_id):
    """The client's call: a request with an id, and `if response["error"]: raise`."""
    status, content_type, body, _ = post(port, {"jsonrpc": "2.0", "method": method,
                                                "params": params, "id": request_id})
    assert status == 200, "%s: HTTP %d %r" % (method, status, body)
    assert content_type == "application/json", "%s: Content-Type %r" % (method, content_type)
    response = json.loads(body)
    assert "error" in response, "%s: no \"error\" member, the client's response[\"error\"] " \
                                "raises KeyError: %r" % (method, response)
    assert "result" in response, "%s: no \"result\" member: %r" % (method, response)
    if response["error"]:
        raise RuntimeError("%s failed: %r" % (method, response["error"]))
    assert response["id"] == request_id, "%s: id %r, sent %r" % (method, response["id"],
                                                                 request_id)
    return response["result"]


def service_ping(port, name, host, service_port):
    """A service's heartbeat: a notification by name, reply ignored by the service."""
    status, _, body, closed = post(port, {"jsonrpc": "2.0", "method": "ping",
                                          "params": {"name": name, "host": host,
                                                     "port": service_port}})
    assert status == 204, "ping notification: HTTP %d %r" % (status, body)
    assert body == b"", "ping notification: 204 with a body %r" % body
    assert closed, "Connection: close was not honoured"


def check_specs_first(port):
    specs = client_call(port, "get_service_specs", {}, 1)
    assert specs["name"] == "servreg", specs
    assert isinstance(specs["methods"], dict), specs
    for method in ("ping", "locate_service", "unregister", "list_services"):
        assert method in specs["methods"], "%s missing from %r" % (method, specs["methods"])


def check_services_ping(port):
    for _ in range(3):  # services ping every few seconds
        service_ping(port, "pymicro.users", "10.30.0.1", 8000)
    service_ping(port, "pymicro.users", "10.30.0.2", 8000)
    service_ping(port, "pymicro.orders", "10.30.0.3", "8001")


def check_locate(port):
    users = [{"host": "10.30.0.1", "port": 8000}, {"host": "10.30.0.2", "port": 8000}]
    found = client_call(port, "locate_service", ["pymicro.users"], 2)
    assert found == users, "positional: %r" % (found,)
    found = client_call(port, "locate_service", {"name": "pymicro.users"}, 2)
    assert found == users, "named: %r" % (found,)
    found = client_call(port, "locate_service", {"name": "pymicro.*"}, 2)
    assert found == [{"host": "10.30.0.3", "port": 8001}] + users, "glob: %r" % (found,)
    found = client_call(port, "locate_service", ["pymicro.none"], 2)
    assert found == [], "no match: %r" % (found,)


def check_error_reply_raises(port):
    try:
        client_call(port, "no_such_method", {}, 2)
    except RuntimeError as e:
        assert "-32601" in str(e), e
    else:
        raise AssertionError("an error reply did not make the client raise")


def check_unregister(port):
    assert client_call(port, "unregister", {"host": "10.30.0.3", "port": 8001}, 2) is True
    assert client_call(port, "unregister", {"host": "10.30.0.3", "port": 8001}, 2) is False
    found = client_call(port, "locate_service", {"name": "pymicro.orders"}, 2)
    assert found == [], "after unregister: %r" % (found,)


def main():
    checks = Checks()
    with ServregProcess(sys.argv[1]) as registry:
        checks.run("client: get_service_specs first, with id 1", check_specs_first,
                   registry.port)
        checks.run("services: ping notifications get 204", check_services_ping, registry.port)
        checks.run("client: locate_service by position and by name", check_locate,
                   registry.port)
        checks.run("client: an error reply raises", check_error_reply_raises, registry.port)
        checks.run("service: unregister on shutdown", check_unregister, registry.port)
    checks.finish()


if __name__ == "__main__":
    main()
