"""test_hostile.py - the kernel keeps serving a hostile client (issue 7).

With raw pyzmq sockets next to a normal jupyter_client client:
- messages forged (other keys, other signature schemes, unsigned, upper-case
  hex) never run, on shell and control and stdin; a forged shutdown or
  interrupt on control does nothing; replays in new clothes (other
  identity, extra buffers, other port) never run again;
- truncated, oversized (a 50 MB frame, a 100,000-frame message) and random
  frames from DEALER / PUSH / XSUB / REQ sockets on every port: after each
  port's barrage a cell still runs and the heartbeat still echoes; the
  kernel's memory stays bounded (stdin between cells, IOPub subscriptions);
- a flood of 2,000 requests sent without reading: all replies come, in order;
- clients that vanish mid-reply, mid-input, or stop reading IOPub; a client
  that reconnects with its identity while a cell runs still gets its
  input_request and reply;
- memory over 10,000 executions (prints, errors, displays mixed in), and
  over cells with large results (the history keeps outputs).
The test ends by shutting the kernel down: exit status 0 (no leaks under ASan).
Each test prints PASS/FAIL (kernel_harness.run); INFO lines give figures.
"""
import hashlib
import hmac
import json
import os
import random
import socket
import struct
import sys
import tempfile
import time
import unittest
import uuid

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import kernel_harness as H  # noqa: E402

H.install_kernelspec()
if H.SLOW > 1:
    # freed blocks wait in ASan's quarantine (256 MB by default): keep it
    # small so that the kernel's resident size means what it does normally
    os.environ["ASAN_OPTIONS"] = os.environ.get("ASAN_OPTIONS", "") + ":quarantine_size_mb=16"

import zmq  # noqa: E402

T = H.scaled
MB = 1 << 20


def info(fmt, *args):
    print("INFO " + fmt % args)
    sys.stdout.flush()


def lua_str(s):
    return "'" + s.replace("\\", "\\\\").replace("'", "\\'") + "'"


def header(msg_type, session="hostile"):
    return json.dumps({"msg_id": uuid.uuid4().hex, "session": session, "username": "test",
                       "date": "2024-01-01T00:00:00Z", "msg_type": msg_type,
                       "version": "5.3"}).encode()


def sign(key, parts, digest=hashlib.sha256):
    h = hmac.new(key, digestmod=digest)
    for p in parts:
        h.update(p)
    return h.hexdigest().encode()


def signed(key, hdr, content=b"{}", parent=b"{}", metadata=b"{}", digest=hashlib.sha256):
    parts = [hdr, parent, metadata, content]
    return [b"<IDS|MSG>", sign(key, parts, digest)] + parts


class Raw:
    """A raw socket on one of the kernel's ports that signs with key."""

    def __init__(self, ctx, km, port, key, kind=zmq.DEALER, ident=None):
        self.sock = ctx.socket(kind)
        self.sock.linger = 0
        if ident:
            self.sock.setsockopt(zmq.ROUTING_ID, ident)
        self.sock.connect("tcp://%s:%d" % (km.ip, port))
        self.key = key

    def send(self, frames, block=True):
        try:
            self.sock.send_multipart(frames, flags=0 if block else zmq.NOBLOCK)
        except zmq.Again:   # a socket type the kernel refuses has no peer
            pass

    def request(self, msg_type, content=None):
        """Sends a signed request; returns its msg_id."""
        hdr = header(msg_type)
        self.send(signed(self.key, hdr, json.dumps(content or {}).encode()))
        return json.loads(hdr)["msg_id"]

    def recv(self, timeout):
        """The next message as (header, parent, content), signature checked; None on timeout."""
        if not self.sock.poll(int(timeout * 1000)):
            return None
        frames = self.sock.recv_multipart()
        i = frames.index(b"<IDS|MSG>")
        assert frames[i + 1] == sign(self.key, frames[i + 2:i + 6]), "a reply with a bad signature"
        return tuple(json.loads(f) for f in (frames[i + 2], frames[i + 3], frames[i + 5]))

    def wait_for(self, match, timeout):
        """The first message m with match(m) within timeout (others are dropped); None if none."""
        end = time.time() + timeout
        while True:
            m = self.recv(max(0.01, end - time.time()))
            if m is None or match(m):
                return m

    def reply_to(self, msg_id, timeout):
        """The message whose parent is msg_id, or None."""
        return self.wait_for(lambda m: m[1].get("msg_id") == msg_id, timeout)

    def close(self):
        self.sock.close()


def zmtp_send(host, port, socket_type, frames, timeout):
    """Speaks ZMTP 3.0 (NULL mechanism) over a plain TCP connection as a
    socket_type peer and sends one message: unlike a ZeroMQ SUB socket, it
    keeps no subscription trie of its own (libzmq's XSUB overflows its stack
    freeing a topic of a megabyte)."""
    greeting = b"\xff" + b"\0" * 8 + b"\x7f" + b"\x03\x00" + b"NULL".ljust(20, b"\0") + b"\0" + b"\0" * 31
    prop = b"\x0bSocket-Type" + struct.pack(">I", len(socket_type)) + socket_type
    body = b"\x05READY" + prop
    ready = b"\x04" + bytes([len(body)]) + body
    out = b""
    for i, f in enumerate(frames):
        more = 1 if i < len(frames) - 1 else 0
        out += (struct.pack(">BQ", 2 | more, len(f)) if len(f) > 255 else bytes([more, len(f)])) + f
    with socket.create_connection((host, port), timeout=timeout) as s:
        try:
            s.sendall(greeting + ready + out)
            time.sleep(0.1)
        except OSError:   # refused half-way (a frame over the size limit)
            pass


def rss_mb(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024.0
    raise AssertionError("no VmRSS for %d" % pid)


class HostileTests(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.km, cls.kc = H.start_kernel()
        cls.pid = cls.km.provisioner.process.pid
        cls.key = cls.km.session.key
        cls.ctx = zmq.Context()
        cls.ports = {"shell": cls.km.shell_port, "control": cls.km.control_port,
                     "stdin": cls.km.stdin_port, "iopub": cls.km.iopub_port, "hb": cls.km.hb_port}

    @classmethod
    def tearDownClass(cls):
        cls.ctx.destroy(linger=0)
        cls.kc.stop_channels()
        if cls.km.is_alive():
            cls.km.shutdown_kernel(now=False)

    def setUp(self):
        self.drain()

    def drain(self):
        for get in (self.kc.get_shell_msg, self.kc.get_iopub_msg, self.kc.get_stdin_msg):
            while True:
                try:
                    get(timeout=0.02)
                except Exception:
                    break

    # ---- helpers ------------------------------------------------------------------

    def reply_to(self, msg_id, timeout):
        return H.shell_reply(self.kc, msg_id, timeout)

    def run_cell(self, code, timeout=None):
        """The text/plain result of code run by the normal client (None: no result)."""
        reply, outs = H.execute(self.kc, code, timeout or T(15))
        self.assertEqual(reply["content"]["status"], "ok", reply["content"])
        results = [m["content"]["data"]["text/plain"] for m in outs
                   if m["msg_type"] == "execute_result"]
        return results[-1] if results else None

    def wait_idle(self, msg_id, timeout):
        end = time.time() + timeout
        while True:
            m = self.kc.get_iopub_msg(timeout=max(0.01, end - time.time()))
            if (m["parent_header"].get("msg_id") == msg_id and m["msg_type"] == "status"
                    and m["content"]["execution_state"] == "idle"):
                return

    def alive(self, what="", hb_wait=2):
        self.assertTrue(self.km.is_alive(), "the kernel died " + what)
        self.assertEqual(self.run_cell("20 + 22"), "42", what)
        self.hb_echoes(what, hb_wait)

    def hb_echoes(self, what="", wait=2):
        hb = self.ctx.socket(zmq.REQ)
        hb.linger = 0
        hb.connect("tcp://%s:%d" % (self.km.ip, self.km.hb_port))
        try:
            ping = os.urandom(16)
            hb.send(ping)
            self.assertTrue(hb.poll(int(T(wait) * 1000)), "no heartbeat " + what)
            self.assertEqual(hb.recv(), ping)
        finally:
            hb.close()

    def rss(self):
        return rss_mb(self.pid)

    def marker(self):
        path = os.path.join(tempfile.mkdtemp(), "ran")
        code = "io.open(%s, 'w'):close() hostile_runs = (hostile_runs or 0) + 1" % lua_str(path)
        return path, json.dumps({"code": code, "silent": False, "stop_on_error": False}).encode()

    # ---- signatures -------------------------------------------------------------------

    def test_forged_messages_never_run(self):
        marker, content = self.marker()
        k = self.key
        others = [b"not the key", k[:-1], k + b"x", k.upper() if k.upper() != k else k + k,
                  b"", bytes(len(k))]

        def forged_variants(msg_type, content):
            out = []
            for other in others:   # a signature made with another key
                out.append(signed(other, header(msg_type), content))
            for digest in (hashlib.sha512, hashlib.sha1, hashlib.md5, hashlib.sha384):
                out.append(signed(k, header(msg_type), content, digest=digest))   # another scheme
            hdr = header(msg_type)
            parts = [hdr, b"{}", b"{}", content]
            out.append([b"<IDS|MSG>", hashlib.sha256(b"".join(parts)).hexdigest().encode()] + parts)
            out.append([b"<IDS|MSG>", hashlib.sha256(k + b"".join(parts)).hexdigest().encode()] + parts)
            good = signed(k, header(msg_type), content)
            for sig in (good[1].upper(), good[1] + b"\n", b" " + good[1], good[1][:32], good[1] * 2, b""):
                out.append([good[0], sig] + good[2:])
            return out

        for name in ("shell", "control"):
            raw = Raw(self.ctx, self.km, self.ports[name], k)
            try:
                for frames in forged_variants("execute_request", content):
                    raw.send(frames)
                self.assertIsNone(raw.recv(T(0.5)), "a forged message was answered on " + name)
            finally:
                raw.close()
            self.assertFalse(os.path.exists(marker), "a forged message ran on " + name)
            self.alive(name)
        self.assertEqual(self.run_cell("hostile_runs"), "nil")

        # forged shutdown and interrupt on control, while a cell runs: nothing happens
        mid = self.kc.execute("local t = os.clock() while os.clock() - t < %g do end survived = 1" % T(0.6))
        raw = Raw(self.ctx, self.km, self.ports["control"], k)
        try:
            for msg_type, c in (("shutdown_request", b'{"restart": false}'), ("interrupt_request", b"{}")):
                for frames in forged_variants(msg_type, c):
                    raw.send(frames)
            self.assertIsNone(raw.recv(T(0.3)))
        finally:
            raw.close()
        reply = self.reply_to(mid, T(15))
        self.assertEqual(reply["content"]["status"], "ok", "a forged interrupt stopped the cell")
        self.alive("after forged shutdown")
        self.assertEqual(self.run_cell("survived"), "1")

        # forged input replies are not taken as the user's input
        mid = self.kc.execute("typed = io.read()", allow_stdin=True)
        req = self.kc.get_stdin_msg(timeout=T(10))
        self.assertEqual(req["msg_type"], "input_request")
        # (the kernel takes an input_reply from any peer: only the signature counts. A
        # peer taking the client's own identity would take its connection over: the
        # stdin/shell sockets hand identities over, for clients that reconnect)
        raw = Raw(self.ctx, self.km, self.ports["stdin"], k)
        try:
            for frames in forged_variants("input_reply", b'{"value": "forged"}'):
                raw.send(frames)
            time.sleep(T(0.3))
        finally:
            raw.close()
        self.kc.input("genuine")
        self.assertEqual(self.reply_to(mid, T(10))["content"]["status"], "ok")
        self.assertEqual(self.run_cell("typed == 'genuine'"), "true")

    def test_replays_in_other_clothes_never_run(self):
        marker, content = self.marker()
        k = self.key
        good = signed(k, header("execute_request"), content)
        raw = Raw(self.ctx, self.km, self.ports["shell"], k)
        try:
            raw.send(good)
            # the genuine message runs once
            m = raw.wait_for(lambda m: m[0]["msg_type"] == "execute_reply", T(10))
            self.assertIsNotNone(m, "no reply to a good message")
            self.assertTrue(os.path.exists(marker))
            os.remove(marker)
            replays = [
                [good[0], good[1].upper()] + good[2:],             # same signature, upper case
                good + [b"an extra buffer"],                      # buffers are not signed
                good + [os.urandom(1000) for _ in range(3)],
                [b"an-identity"] + good,                          # a routing prefix
                [good[0], sign(k, good[2:6], hashlib.sha512)] + good[2:],   # re-signed, other scheme
            ]
            for frames in replays:
                raw.send(frames)
            self.assertIsNone(raw.recv(T(0.5)), "a replay was answered")
        finally:
            raw.close()
        for name in ("shell", "control"):   # from another peer, on either port
            other = Raw(self.ctx, self.km, self.ports[name], k, ident=b"other-peer")
            try:
                other.send(good)
                other.send(good + [b"buffer"])
                self.assertIsNone(other.recv(T(0.5)), "a replay was answered on " + name)
            finally:
                other.close()
        self.assertFalse(os.path.exists(marker), "a replay ran")
        self.assertEqual(self.run_cell("hostile_runs"), "1")

    # ---- bad frames on every port ----------------------------------------------------------

    def garbage(self, rng, marker_content):
        """Truncated, random and odd messages (small ones)."""
        k = self.key
        good = signed(k, header("execute_request"), marker_content)
        out = [good[:n] for n in range(1, 6)]                    # cut after n frames
        for i in range(2, 6):                                    # a JSON frame cut, re-signed
            parts = list(good[2:])
            parts[i - 2] = parts[i - 2][:len(parts[i - 2]) // 2]
            out.append(signed(k, *[parts[0], parts[3], parts[1], parts[2]]))
        out.append([b"<IDS|MSG>"] * 7)
        out.append([b"<IDS|MSG>", good[1]])
        out.append([b"<IDS|MSG>", good[1], b"{", b"}", b"", b""])
        for _ in range(200):
            n = rng.randint(1, 10)
            frames = [rng.randbytes(rng.choice((0, 1, 7, 64, 600, 3000))) for _ in range(n)]
            if rng.random() < 0.3:
                frames.insert(rng.randint(0, n), b"<IDS|MSG>")
            out.append(frames)
        return out

    def test_barrage_on_every_port(self):
        rng = random.Random(7)
        marker, content = self.marker()
        big = b"\xa5" * (50 * MB)
        many = [b"f%d" % (i % 10) for i in range(100000)]
        kinds = {"shell": (zmq.DEALER, zmq.PUSH), "control": (zmq.DEALER, zmq.PUSH),
                 "stdin": (zmq.DEALER, zmq.PUSH), "iopub": (zmq.XSUB, zmq.DEALER, zmq.PUSH),
                 "hb": (zmq.REQ, zmq.DEALER, zmq.PUSH)}
        rss0 = self.rss()
        for name, port in self.ports.items():
            t0 = time.time()
            for kind in kinds[name]:
                raw = Raw(self.ctx, self.km, port, self.key, kind=kind)
                try:
                    time.sleep(0.05)   # let the handshake settle (or fail)
                    if kind == zmq.REQ:   # strict send/receive turns: one ping at a time
                        raw.send([b"a"] * 3)
                        self.assertTrue(raw.sock.poll(int(T(2) * 1000)))
                        self.assertEqual(raw.sock.recv_multipart(), [b"a"] * 3)
                        raw.send(many)
                        if raw.sock.poll(int(T(5) * 1000)):   # the first 15 frames and the last come back
                            self.assertEqual(len(raw.sock.recv_multipart()), 16)
                        continue
                    block = kind == kinds[name][0]   # the compatible type
                    for frames in self.garbage(rng, content):
                        raw.send(frames, block)
                    raw.send([big], block)
                    raw.send([b"<IDS|MSG>", b"0" * 64, header("execute_request"), b"{}", b"{}", big], block)
                    raw.send(many, block)
                    time.sleep(0.05)
                finally:
                    raw.close()
            # the heartbeat socket answers in turn: first the 100,000-frame
            # pings of the barrage still queued (the wait allowed for one above)
            self.alive("after the barrage on " + name, hb_wait=5 if name == "hb" else 2)
            self.assertFalse(os.path.exists(marker), "a truncated message ran (%s)" % name)
            info("barrage on %s: %.2f s, kernel RSS %.0f MB", name, time.time() - t0, self.rss())
        # a correctly signed 50 MB request is handled
        raw = Raw(self.ctx, self.km, self.ports["shell"], self.key)
        try:
            mid = raw.request("execute_request", {"code": "big_ok = 1", "pad": "p" * (50 * MB),
                                                  "silent": True})
            m = raw.reply_to(mid, T(20))
            self.assertIsNotNone(m, "no reply to a 50 MB request")
            self.assertEqual(m[2]["status"], "ok")
        finally:
            raw.close()
        self.assertEqual(self.run_cell("big_ok"), "1")
        grown = self.rss() - rss0
        info("kernel RSS after all barrages: %+.0f MB", grown)
        self.assertLess(grown, 200, "memory kept after the barrages")

    def test_stdin_between_cells_is_not_hoarded(self):
        # nothing reads stdin between cells: a peer must not fill the kernel's memory there
        raw = Raw(self.ctx, self.km, self.ports["stdin"], self.key)
        rss0 = self.rss()
        try:
            chunk = b"s" * (8 * MB)
            for _ in range(30):
                raw.send([chunk])
            raw.send([b"<IDS|MSG>"] + [chunk] * 6)
            time.sleep(T(1.0))
            grown = self.rss() - rss0
        finally:
            raw.close()
        info("kernel RSS after 280 MB sent to stdin between cells: %+.0f MB", grown)
        self.assertLess(grown, 64, "stdin messages pile up in the kernel")
        self.alive()

    def test_iopub_subscriptions_bounded(self):
        rss0 = self.rss()
        for frame in (b"\x01" + os.urandom(4 * MB), b"\x01" + os.urandom(512)):   # too long; fine
            # the first would cost ~120 MB of ZeroMQ's subscription trie if taken
            zmtp_send(self.km.ip, self.ports["iopub"], b"SUB", [frame], T(5))
            self.run_cell("1")   # the kernel processes subscriptions when it publishes
        grown = self.rss() - rss0
        info("kernel RSS after a 4 MB subscription: %+.0f MB", grown)
        self.assertLess(grown, 32, "a long subscription costs memory")
        self.alive()

    # ---- floods and vanishing clients -----------------------------------------------------

    def test_flood_of_requests(self):
        self.quiet_client()
        raw = Raw(self.ctx, self.km, self.ports["shell"], self.key)
        n = 2000
        try:
            t0 = time.time()
            ids = []
            for i in range(n):
                if i % 2:
                    ids.append(raw.request("execute_request", {"code": "flood = (flood or 0) + 1",
                                                               "silent": False}))
                else:
                    ids.append(raw.request("kernel_info_request"))
            sent = time.time() - t0
            got = []
            while len(got) < n:
                m = raw.recv(T(20))
                self.assertIsNotNone(m, "only %d of %d replies came" % (len(got), n))
                got.append((m[1].get("msg_id"), m[0]["msg_type"], m[2]["status"]))
            took = time.time() - t0
        finally:
            raw.close()
            self.restart_client()
        self.assertEqual([g[0] for g in got], ids, "replies out of order")
        self.assertEqual({g[2] for g in got}, {"ok"})
        self.assertEqual([g[1] for g in got[:2]], ["kernel_info_reply", "execute_reply"])
        info("flood: %d requests sent in %.2f s, all replies in %.2f s (%.0f requests/s)",
             n, sent, took, n / took)
        self.assertEqual(self.run_cell("flood"), str(n // 2))

    def test_clients_vanishing(self):
        # 1. a request with a big output, its client gone at once
        shell = Raw(self.ctx, self.km, self.ports["shell"], self.key)
        sub = Raw(self.ctx, self.km, self.ports["iopub"], self.key, kind=zmq.SUB)
        sub.sock.setsockopt(zmq.SUBSCRIBE, b"")
        time.sleep(0.1)
        mid = shell.request("execute_request", {"code": "for i = 1, 3000 do print(string.rep('x', 1000)) end "
                                                        "gone1 = true return string.rep('y', 3000000)"})
        shell.sock.close(linger=1000)   # returns at once; the request still goes out
        sub.close()
        self.wait_idle(mid, T(20))
        self.assertEqual(self.run_cell("gone1"), "true")

        # 2. a subscriber that never reads while a cell prints 60 MB: the cell is not held up
        sub = Raw(self.ctx, self.km, self.ports["iopub"], self.key, kind=zmq.SUB)
        sub.sock.setsockopt(zmq.SUBSCRIBE, b"")
        sub.sock.setsockopt(zmq.RCVHWM, 10)
        try:
            time.sleep(0.1)
            t0, rss0 = time.time(), self.rss()
            self.run_cell("local s = string.rep('z', 9999) for i = 1, 6000 do print(s) end", timeout=T(30))
            info("60 MB printed with a subscriber that does not read: %.2f s, kernel RSS %+.0f MB",
                 time.time() - t0, self.rss() - rss0)
        finally:
            sub.close()

        # 3. a client gone while its cell waits for input: an interrupt frees the kernel
        ident = b"vanishing-client"
        shell = Raw(self.ctx, self.km, self.ports["shell"], self.key, ident=ident)
        stdin = Raw(self.ctx, self.km, self.ports["stdin"], self.key, ident=ident)
        time.sleep(0.1)
        stuck = shell.request("execute_request", {"code": "stuck = 1 io.read()", "allow_stdin": True})
        m = stdin.recv(T(10))
        self.assertIsNotNone(m, "no input_request")
        self.assertEqual(m[0]["msg_type"], "input_request")
        shell.close()
        stdin.close()
        time.sleep(0.2)
        self.km.interrupt_kernel()
        # a request sent before the interrupted cell ends would be aborted (stop_on_error)
        self.wait_idle(stuck, T(10))
        self.assertEqual(self.run_cell("stuck", timeout=T(15)), "1")
        self.alive()

    def test_client_reconnecting_with_its_identity(self):
        # a client that reconnects (same routing identity, as jupyter_client's
        # session id) while a cell runs gets the cell's input_request and reply
        ident = b"reconnecting-" + uuid.uuid4().hex.encode()
        shell = Raw(self.ctx, self.km, self.ports["shell"], self.key, ident=ident)
        stdin = Raw(self.ctx, self.km, self.ports["stdin"], self.key, ident=ident)
        time.sleep(0.1)
        mid = shell.request("execute_request", {
            "code": "local t = os.clock() while os.clock() - t < %g do end again = io.read() return again" % T(0.5),
            "allow_stdin": True})
        shell.sock.close(linger=1000)
        stdin.close()
        time.sleep(0.1)
        shell = Raw(self.ctx, self.km, self.ports["shell"], self.key, ident=ident)
        stdin = Raw(self.ctx, self.km, self.ports["stdin"], self.key, ident=ident)
        m = None
        try:
            m = stdin.recv(T(10))
            self.assertIsNotNone(m, "the input_request went to the old connection")
            self.assertEqual(m[0]["msg_type"], "input_request")
            stdin.request("input_reply", {"value": "back"})
            m = shell.reply_to(mid, T(10))
            self.assertIsNotNone(m, "no execute_reply after reconnecting")
            self.assertEqual(m[2]["status"], "ok")
        finally:
            shell.close()
            stdin.close()
            if m is None:   # free the kernel for the other tests
                self.km.interrupt_kernel()
                self.wait_idle(mid, T(10))
        self.assertEqual(self.run_cell("again"), "back")

    # ---- memory --------------------------------------------------------------------------

    def execute_many(self, raw, first, n, batch=250):
        """Runs cells first..first+n-1 (a mix of kinds), batch requests at a time."""
        for b0 in range(first, first + n, batch):
            ids = {}
            for i in range(b0, min(b0 + batch, first + n)):
                kind = i % 10
                if kind == 3:
                    code = "print('line', %d)" % i
                elif kind == 5:
                    code = "error('boom %d')" % i
                elif kind == 7:
                    code = "display({%d, 2, 3})" % i
                elif i % 500 == 250:
                    code = "display(mgv.plot.bars({1, %d}))" % (i % 7 + 1)
                else:
                    code = "x = %d + 1 return x" % i
                ids[raw.request("execute_request", {"code": code, "silent": False,
                                                    "stop_on_error": False})] = kind
            left = len(ids)
            while left:
                m = raw.recv(T(30))
                self.assertIsNotNone(m, "replies stopped")
                kind = ids.get(m[1].get("msg_id"))
                self.assertIsNotNone(kind)
                self.assertEqual(m[2]["status"], "error" if kind == 5 else "ok", m[2])
                left -= 1

    def quiet_client(self):
        """Stops the normal client's channels: its IOPub would lag behind by
        tens of thousands of messages. restart_client() brings them back."""
        self.kc.stop_channels()

    def restart_client(self):
        type(self).kc = H.start_client(self.km)
        self.drain()

    def test_memory_over_10000_executions(self):
        self.quiet_client()
        raw = Raw(self.ctx, self.km, self.ports["shell"], self.key)
        try:
            rss0 = self.rss()
            self.execute_many(raw, 0, 1000)
            time.sleep(0.2)
            rss1 = self.rss()
            t0 = time.time()
            self.execute_many(raw, 1000, 9000)
            took = time.time() - t0
            time.sleep(0.2)
            rss10 = self.rss()
        finally:
            raw.close()
            self.restart_client()
        info("RSS before %.1f MB, after 1,000 executions %.1f MB, after 10,000 %.1f MB (%+.1f MB); "
             "%.0f executions/s", rss0, rss1, rss10, rss10 - rss1, 9000 / took)
        self.assertLess(rss10 - rss1, 8, "memory grows with executions")
        self.alive()

    def test_memory_with_large_results(self):
        # each cell's result text is kept in the history (history_request with output)
        rss0 = self.rss()
        n = 150
        for i in range(n):
            self.run_cell("string.rep('%d', 1000000)" % (i % 10), timeout=T(20))
        grown = self.rss() - rss0
        info("RSS after %d cells with 1 MB results: %+.1f MB", n, grown)
        self.assertLess(grown, 48, "results are kept without bound")   # unbounded: ~150 MB
        mid = self.kc.history(hist_access_type="tail", n=3, output=True)
        hist = self.reply_to(mid, T(10))["content"]["history"]
        self.assertEqual(len(hist), 3)
        out = hist[-1][2][1]   # [session, line, [input, output]], output cut at 64 KB
        self.assertTrue(out.startswith("9" * 1000) and out.endswith("\u2026"), out[:20])
        self.assertLessEqual(len(out), 65 * 1024)
        mid = self.kc.history(hist_access_type="tail", n=1000, output=True)
        hist = self.reply_to(mid, T(10))["content"]["history"]
        kept = [h for h in hist if h[2][1] is not None]
        self.assertLessEqual(len(kept), 200)   # older outputs are dropped, inputs stay
        self.alive()

    def test_z_shutdown_exits_cleanly(self):
        self.alive()
        mid = self.kc.shutdown()
        end = time.time() + T(10)
        while True:
            m = self.kc.get_control_msg(timeout=max(0.01, end - time.time()))
            if m["parent_header"].get("msg_id") == mid:
                break
        rc = self.km.provisioner.process.wait(timeout=T(20))
        self.assertEqual(rc, 0, "the kernel exited with status %s (ASan: leaks?)" % rc)
        self.km.cleanup_resources()


if __name__ == "__main__":
    sys.exit(H.run(HostileTests))
