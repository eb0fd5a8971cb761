#!/usr/bin/python3
# tinyrpc (Debian's python3-tinyrpc, a strict JSON-RPC 2.0 client) against the real servreg:
# it works with --strict-jsonrpc and the JSON content type, and shows why both are needed.
# Usage: test_tinyrpc.py SERVREG_BINARY
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from servreg_process import Checks, ServregProcess  # noqa: E402

import requests  # noqa: E402
from tinyrpc import RPCClient  # noqa: E402
from tinyrpc.exc import InvalidReplyError, RPCError  # noqa: E402
from tinyrpc.protocols.jsonrpc import JSONRPCProtocol  # noqa: E402
from tinyrpc.transports.http import HttpPostClientTransport  # noqa: E402

JSON_HEADERS = {"Content-Type": "application/json"}


class Recorder:
    """A post method for tinyrpc's transport that keeps the HTTP responses."""

    def __init__(self):
        self.responses = []

    def __call__(self, url, **kwargs):
        response = requests.post(url, **kwargs)
        self.responses.append(response)
        return response


def proxy(url, headers=JSON_HEADERS, post=None):
    kwargs = {"headers": headers} if headers is not None else {}
    transport = HttpPostClientTransport(url, post_method=post, **kwargs)
    return RPCClient(JSONRPCProtocol(), transport).get_proxy()


def raw_locate(url, pattern):
    reply = requests.post(url, json={"jsonrpc": "2.0", "method": "locate_service",
                                     "params": [pattern], "id": 1}).json()
    return reply["result"]


def check_ping(url):
    registry = proxy(url)
    result = registry.ping("tiny.svc", "10.20.0.1", 8000)
    assert result is True, "ping returned %r" % (result,)
    result = registry.ping(name="tiny.svc", host="10.20.0.2", port=8001)
    assert result is True, "ping with named params returned %r" % (result,)


def check_locate(url):
    registry = proxy(url)
    expected = [{"host": "10.20.0.1", "port": 8000}, {"host": "10.20.0.2", "port": 8001}]
    found = registry.locate_service("tiny.*")
    assert found == expected, "locate_service('tiny.*') returned %r" % (found,)
    found = registry.locate_service(name="tiny.svc")
    assert found == expected, "locate_service(name='tiny.svc') returned %r" % (found,)
    found = registry.locate_service("tiny.none")
    assert found == [], "locate_service('tiny.none') returned %r" % (found,)


def check_error(url):
    registry = proxy(url)
    try:
        registry.no_such_method(1)
    except RPCError as e:
        assert "Method not found" in str(e), "unexpected error: %s" % e
    else:
        raise AssertionError("no_such_method did not raise")


def check_default_content_type_is_refused(url):
    recorder = Recorder()
    registry = proxy(url, headers=None, post=recorder)
    try:
        registry.ping("tiny.refused", "10.20.0.3", 1)
    except RPCError as e:
        assert "Invalid Request" in str(e), "unexpected error: %s" % e
    else:
        raise AssertionError("a ping without Content-Type was accepted")
    response = recorder.responses[-1]
    sent = response.request.headers.get("Content-Type")
    assert sent is None, "tinyrpc sent Content-Type %r; expected none by default" % sent
    assert response.status_code == 415, "status %d, body %r" % (response.status_code,
                                                                  response.text)
    assert response.headers["Content-Type"] == "application/json", response.headers
    assert response.json()["error"]["code"] == -32600, response.text
    found = raw_locate(url, "tiny.refused")
    assert found == [], "a refused ping was recorded: %r" % (found,)


def check_compatible_replies_are_refused(url):
    registry = proxy(url)
    try:
        registry.ping("tiny.compat", "10.20.0.4", 1)
    except InvalidReplyError as e:
        assert "exactly one" in str(e), "unexpected error: %s" % e
    else:
        raise AssertionError("tinyrpc accepted a reply with both result and error")
    reply = requests.post(url, headers=JSON_HEADERS,
                          data='{"jsonrpc":"2.0","method":"ping","params":'
                               '["tiny.compat","10.20.0.4",1],"id":1}').json()
    assert reply == {"jsonrpc": "2.0", "result": True, "error": None, "id": 1}, reply


def main():
    binary = sys.argv[1]
    checks = Checks()
    with ServregProcess(binary, "--strict-jsonrpc") as strict:
        checks.run("strict: ping returns True", check_ping, strict.url)
        checks.run("strict: locate_service positional and named", check_locate, strict.url)
        checks.run("strict: unknown method raises RPCError", check_error, strict.url)
        checks.run("strict: tinyrpc's default (no Content-Type) gets 415",
                   check_default_content_type_is_refused, strict.url)
    with ServregProcess(binary) as compatible:
        checks.run("default: tinyrpc refuses a reply with both result and error",
                   check_compatible_replies_are_refused, compatible.url)
    checks.finish()


if __name__ == "__main__":
    main()
