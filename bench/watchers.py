"""Many watch_service calls held at once, for bench.py's watching scenario: one connection per
watcher, all non-blocking in one epoll loop, each reply's arrival time taken by the kernel.

A Python loop reading 10,000 replies takes longer than the server takes to send them, so the
time the harness reads a reply says more about the harness than about servreg. Every socket
asks for SO_TIMESTAMPNS instead: each read then carries the time the kernel received the data
it returns, and the arrival of a watcher's answer is the kernel's time of the read that
completes it. Those are CLOCK_REALTIME times, compared with time.time_ns() taken just before
the change is sent.
"""

import json
import re
import selectors
import socket
import struct
import time
from pathlib import Path

# Linux's value (asm-generic), which Python's socket module does not name.
SO_TIMESTAMPNS = getattr(socket, "SO_TIMESTAMPNS", 35)
TIMESPEC = struct.Struct("qq")
ANCILLARY_SIZE = socket.CMSG_SPACE(TIMESPEC.size)
OPEN_BATCH = 500  # connections opened before their first answers are read: under the backlog
CONTENT_LENGTH = re.compile(rb"\r\ncontent-length:\s*(\d+)", re.IGNORECASE)


class watch_error(Exception):
    """A watcher saw something servreg must not do (an early answer, a wrong one, a close)."""


def request_bytes(body):
    return (f"POST /api HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\n\r\n{body}").encode()


def take_reply(buffer):
    """The (status, body) of the first complete HTTP reply in buffer, removed from it; None
    while it is incomplete."""
    end = buffer.find(b"\r\n\r\n")
    if end < 0:
        return None
    head = bytes(buffer[:end])
    length = CONTENT_LENGTH.search(head)
    if not length:
        raise watch_error(f"a reply without Content-Length: {head[:300]!r}")
    total = end + 4 + int(length.group(1))
    if len(buffer) < total:
        return None
    body = bytes(buffer[end + 4:total])
    del buffer[:total]
    return int(head[9:12]), body


def kernel_time_ns(ancillary):
    for level, kind, data in ancillary:
        if level == socket.SOL_SOCKET and kind == SO_TIMESTAMPNS and len(data) >= TIMESPEC.size:
            seconds, nanoseconds = TIMESPEC.unpack_from(data)
            return seconds * 1_000_000_000 + nanoseconds
    return None


def server_unread(port):
    """(established connections to port, bytes they hold that the server has not read), from
    /proc/net/tcp: every call sent is with the server when the second is 0."""
    local = f":{port:04X}"
    count = unread = 0
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            if fields[1].endswith(local) and fields[3] == "01":  # ESTABLISHED
                count += 1
                unread += int(fields[4].split(":")[1], 16)  # rx_queue
    return count, unread


def percentile(values, share):
    """Nearest rank: of 20 values, the p50 is the 10th and the p99 the largest."""
    ordered = sorted(values)
    rank = max(1, -(-len(ordered) * share // 1))
    return ordered[int(rank) - 1]


class watch_pool:
    """count connections, each with one watch_service(pattern) call; held with wait_s."""

    def __init__(self, port, count, pattern, wait_s):
        self.port = port
        self.count = count
        self.pattern = pattern
        self.wait_s = wait_s
        self.selector = selectors.DefaultSelector()
        self.sockets = []
        self.buffers = {}
        self.index = None  # the index every watcher holds with
        self.instances = None  # the answer they hold

    def request(self, index, rpc_id):
        params = {"name": self.pattern, "index": index, "wait": self.wait_s}
        return request_bytes(json.dumps({"jsonrpc": "2.0", "method": "watch_service",
                                         "params": params, "id": rpc_id}, separators=(",", ":")))

    def send(self, sock, data):
        try:
            sent = sock.send(data)
        except OSError as e:
            raise watch_error(f"sending a watch_service call: {e}") from None
        if sent != len(data):  # a fresh or drained socket takes a few hundred bytes whole
            raise watch_error(f"a watch_service call was sent in part ({sent} of {len(data)})")

    def open(self, timeout_s=60.0):
        """Connects every watcher, learns the index with index 0, then holds every call with
        it. Returns the seconds taken."""
        started = time.monotonic()
        for start in range(0, self.count, OPEN_BATCH):
            batch = []
            for i in range(start, min(start + OPEN_BATCH, self.count)):
                sock = socket.create_connection(("127.0.0.1", self.port), timeout=10)
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                sock.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)
                sock.setblocking(False)
                self.sockets.append(sock)
                self.buffers[sock] = bytearray()
                self.selector.register(sock, selectors.EVENT_READ)
                self.send(sock, self.request(0, i))
                batch.append(sock)
            for sock, (result, _, _) in self.collect(batch, timeout_s).items():
                if self.index is None:
                    self.index, self.instances = result["index"], result["instances"]
                elif (result["index"], result["instances"]) != (self.index, self.instances):
                    raise watch_error(f"two watchers of {self.pattern} got different answers "
                                      f"with nothing changing: {result} and index {self.index}, "
                                      f"{self.instances}")
        for i, sock in enumerate(self.sockets):
            self.send(sock, self.request(self.index, i))
        return time.monotonic() - started

    def settle(self, timeout_s=60.0):
        """Waits until the server has read every call sent; then none may have an answer."""
        deadline = time.monotonic() + timeout_s
        while True:
            count, unread = server_unread(self.port)
            if count >= self.count and unread == 0:
                break
            if time.monotonic() > deadline:
                raise watch_error(f"after {timeout_s:.0f} s the server holds {count:,} "
                                  f"connections of {self.count:,} watchers, {unread:,} bytes "
                                  "of them unread")
            time.sleep(0.05)
        self.expect_silence(0.2)

    def expect_silence(self, seconds):
        """Nothing changed: no watcher may get an answer (or lose its connection)."""
        events = self.selector.select(seconds)
        if events:
            sock = events[0][0].fileobj
            data = sock.recv(2000)
            raise watch_error(f"{len(events)} watcher(s) answered with nothing changed; one "
                              f"got {data[:600]!r}")

    def collect(self, waiting, timeout_s, on_answer=None):
        """Reads until every socket of waiting has its answer; returns {socket: (result, kernel
        arrival ns, read ns)}. on_answer(socket, result) runs as each answer is complete."""
        pending = set(waiting)
        out = {}
        deadline = time.monotonic() + timeout_s
        while pending:
            left = deadline - time.monotonic()
            if left <= 0:
                raise watch_error(f"{len(pending):,} of {len(waiting):,} watchers got no answer "
                                  f"within {timeout_s:.0f} s")
            for key, _ in self.selector.select(min(left, 1.0)):
                sock = key.fileobj
                try:
                    data, ancillary, _, _ = sock.recvmsg(65536, ANCILLARY_SIZE)
                except BlockingIOError:
                    continue
                if not data:
                    raise watch_error("the server closed a watcher's connection")
                buffer = self.buffers[sock]
                buffer += data
                reply = take_reply(buffer)
                if reply is None:
                    continue
                if sock not in pending:
                    raise watch_error(f"a watcher got a second answer or one nobody asked for: "
                                      f"{reply[1][:300]!r}")
                result = self.result_of(*reply)
                out[sock] = (result, kernel_time_ns(ancillary), time.time_ns())
                pending.discard(sock)
                if on_answer:
                    on_answer(sock, result)
        return out

    def result_of(self, status, body):
        try:
            reply = json.loads(body)
            result = reply["result"]
            if status == 200 and isinstance(result["index"], int) and \
                    isinstance(result["instances"], list):
                return result
        except (ValueError, KeyError, TypeError):
            pass
        raise watch_error(f"watch_service({self.pattern!r}) answered HTTP {status}: {body[:300]!r}")

    def change(self, send_change, expected, timeout_s=60.0, rearm=True):
        """Runs send_change() and reads every watcher's answer, re-arming each at once with the
        index it got, as a client loop does (unless rearm is False: then every connection is
        left idle, and the server notices when it is closed; servreg does not notice a client
        leaving while its call waits). expected: the instance the answer must now hold.
        Returns (ns from just before the change to the last answer's arrival, ns to the last
        read by this process, ns to the median arrival)."""
        before = self.index
        answers = {}

        def check(sock, result):
            if result["index"] == before or expected not in result["instances"]:
                raise watch_error(f"after the change (index {before}), a watcher of "
                                  f"{self.pattern} got {result}: a new index with {expected} "
                                  "expected")
            answers[sock] = result
            if rearm:
                self.send(sock, self.request(result["index"], 0))

        started = time.time_ns()
        send_change()
        got = self.collect(self.sockets, timeout_s, check)
        indexes = {result["index"] for result in answers.values()}
        if len(indexes) != 1:
            raise watch_error(f"one change, and the watchers of {self.pattern} got "
                              f"{len(indexes)} different indexes: {sorted(indexes)[:10]}")
        self.index = indexes.pop()
        self.instances = next(iter(answers.values()))["instances"]
        arrivals = [kernel for _, kernel, _ in got.values()]
        if None in arrivals:
            raise watch_error("the kernel gave no receive time (SO_TIMESTAMPNS) for an answer")
        last_read = max(read for _, _, read in got.values())
        return (max(arrivals) - started, last_read - started,
                percentile(arrivals, 0.5) - started)

    def close(self):
        for sock in self.sockets:
            self.selector.unregister(sock)
            sock.close()
        self.sockets.clear()
        self.buffers.clear()
        self.selector.close()
