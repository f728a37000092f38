"""test_protocol.py - the kernel's wire protocol under pressure, with pyzmq
and jupyter_client: forged, unsigned, tampered and replayed messages are
never executed; malformed frames and raw bytes on every port leave the
kernel running; the heartbeat and control socket answer while a cell is
busy; interrupts (by message, by signal, while waiting for input) stop a
cell and keep the state (during mgv.train: the cell ends with the partial
result and the best weights); output streams while a cell runs; errors are one
message; queued cells are aborted after an error; silent / store_history;
display and update_display with PNG pictures; completion and inspection
details; stdin (input_request, the formats of io.read, io.lines, an error at
once without allow_stdin); shutdown (also of a busy kernel or of one waiting
for input) ends the process with status 0 (under ASan: no leaks); an
orphaned kernel exits.
Each test prints PASS/FAIL (kernel_harness.run).
"""
import base64
import hashlib
import hmac
import json
import os
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import time
import unittest
import uuid

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import kernel_harness as H  # noqa: E402

H.install_kernelspec()

import zmq  # noqa: E402
from jupyter_client.manager import KernelManager  # noqa: E402
from jupyter_client.session import Session  # noqa: E402

T = H.scaled  # a wait, scaled for sanitizer builds


def start_kernel():
    km = KernelManager(kernel_name="mgv")
    km.start_kernel()
    kc = km.client()
    kc.start_channels()
    kc.wait_for_ready(timeout=T(30))
    return km, kc


def stop_kernel(km, kc):
    kc.stop_channels()
    km.shutdown_kernel(now=False)


def lua_str(s):
    return "'" + s.replace("\\", "\\\\").replace("'", "\\'") + "'"


def reply_to(kc, msg_id, timeout):
    end = time.time() + timeout
    while True:
        m = kc.get_shell_msg(timeout=max(0.01, end - time.time()))
        if m["parent_header"].get("msg_id") == msg_id:
            return m


def outputs_of(kc, msg_id, timeout):
    """IOPub messages of a request up to its idle status (statuses left out)."""
    out, end = [], time.time() + timeout
    while True:
        m = kc.get_iopub_msg(timeout=max(0.01, end - time.time()))
        if m["parent_header"].get("msg_id") != msg_id:
            continue
        if m["msg_type"] == "status":
            if m["content"]["execution_state"] == "idle":
                return out
            continue
        out.append(m)


def execute(kc, code, timeout=None, **kw):
    timeout = timeout or T(15)
    mid = kc.execute(code, **kw)
    reply = reply_to(kc, mid, timeout)
    return reply, outputs_of(kc, mid, timeout)


def wait_busy(kc, msg_id, timeout):
    end = time.time() + timeout
    while True:
        m = kc.get_iopub_msg(timeout=max(0.01, end - time.time()))
        if (m["parent_header"].get("msg_id") == msg_id and m["msg_type"] == "status"
                and m["content"]["execution_state"] == "busy"):
            return


def result_text(outs):
    for m in outs:
        if m["msg_type"] == "execute_result":
            return m["content"]["data"]["text/plain"]
    return None


def stream_text(outs):
    return "".join(m["content"]["text"] for m in outs if m["msg_type"] == "stream")


def info(fmt, *args):
    print("INFO " + fmt % args)


def png_size(data):
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    return struct.unpack(">II", data[16:24])


class Raw:
    """A DEALER socket on one of the kernel's ROUTER ports, sending raw frames."""

    def __init__(self, ctx, km, port):
        self.sock = ctx.socket(zmq.DEALER)
        self.sock.linger = 0
        self.sock.connect("tcp://%s:%d" % (km.ip, port))

    def send(self, frames):
        self.sock.send_multipart(frames)

    def recv(self, timeout):
        if self.sock.poll(int(timeout * 1000)):
            return self.sock.recv_multipart()
        return None

    def close(self):
        self.sock.close()


def signed(key, header, parent=b"{}", metadata=b"{}", content=b"{}"):
    """Frames of a message signed with key over the parts exactly as given."""
    h = hmac.new(key, digestmod=hashlib.sha256)
    for p in (header, parent, metadata, content):
        h.update(p)
    return [b"<IDS|MSG>", h.hexdigest().encode(), header, parent, metadata, content]


def header(msg_type):
    return json.dumps({"msg_id": uuid.uuid4().hex, "session": "raw", "username": "test",
                       "date": "2024-01-01T00:00:00Z", "msg_type": msg_type,
                       "version": "5.3"}).encode()


class ProtocolTests(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        t0 = time.time()
        cls.km, cls.kc = start_kernel()
        print("INFO kernel ready (jupyter_client start + kernel_info) in %.0f ms" % ((time.time() - t0) * 1000))
        cls.ctx = zmq.Context()
        cls.key = cls.km.session.key

    @classmethod
    def tearDownClass(cls):
        cls.ctx.term()
        stop_kernel(cls.km, cls.kc)

    def setUp(self):
        # each test starts from quiet channels
        for get in (self.kc.get_shell_msg, self.kc.get_iopub_msg):
            while True:
                try:
                    get(timeout=0.05)
                except Exception:
                    break

    def alive(self):
        reply, outs = execute(self.kc, "20 + 22")
        self.assertEqual(reply["content"]["status"], "ok")
        self.assertEqual(result_text(outs), "42")
        self.assertTrue(self.km.is_alive())

    # ---- signatures ------------------------------------------------------------

    def test_forged_unsigned_tampered_replayed_never_run(self):
        marker = os.path.join(tempfile.mkdtemp(), "ran")
        code = "io.open(%s, 'w'):close() ran = (ran or 0) + 1" % lua_str(marker)
        content = json.dumps({"code": code, "silent": False}).encode()
        raw = Raw(self.ctx, self.km, self.km.shell_port)
        try:
            bad = [
                signed(b"not the key", header("execute_request"), content=content),   # forged
                [b"<IDS|MSG>", b"", header("execute_request"), b"{}", b"{}", content],   # unsigned
            ]
            good = signed(self.key, header("execute_request"), content=content)
            tampered = list(good)
            tampered[5] = content.replace(b"ran", b"rum")   # content changed after signing
            bad.append(tampered)
            upper = list(signed(self.key, header("execute_request"), content=content))
            upper[1] = upper[1][:-1]   # a truncated signature
            bad.append(upper)
            for frames in bad:
                raw.send(frames)
            self.assertIsNone(raw.recv(T(0.5)), "a bad message was answered")
            self.assertFalse(os.path.exists(marker), "a bad message was executed")
            self.alive()
            # the same message correctly signed runs, once; its replay is dropped
            raw.send(good)
            reply = None
            end = time.time() + T(10)
            while time.time() < end:
                frames = raw.recv(T(5))
                self.assertIsNotNone(frames, "no reply to a good message")
                i = frames.index(b"<IDS|MSG>")
                reply = json.loads(frames[i + 2])
                if reply["msg_type"] == "execute_reply":
                    break
            self.assertEqual(reply["msg_type"], "execute_reply")
            self.assertTrue(os.path.exists(marker))
            os.remove(marker)
            raw.send(good)
            self.assertIsNone(raw.recv(T(0.5)), "a replayed message was answered")
            self.assertFalse(os.path.exists(marker), "a replayed message was executed")
            _, outs = execute(self.kc, "ran")
            self.assertEqual(result_text(outs), "1")
        finally:
            raw.close()

    def test_replies_are_signed(self):
        mid = self.kc.kernel_info()
        reply = reply_to(self.kc, mid, T(10))   # jupyter_client checks the signature itself
        self.assertEqual(reply["content"]["protocol_version"], "5.3")
        raw = Raw(self.ctx, self.km, self.km.shell_port)
        try:
            raw.send(signed(self.key, header("kernel_info_request")))
            frames = raw.recv(T(5))
            i = frames.index(b"<IDS|MSG>")
            h = hmac.new(self.key, digestmod=hashlib.sha256)
            for p in frames[i + 2:i + 6]:
                h.update(p)
            self.assertEqual(frames[i + 1], h.hexdigest().encode())
        finally:
            raw.close()

    # ---- bad input -----------------------------------------------------------------

    def test_malformed_frames_leave_kernel_running(self):
        k = self.key
        garbage = [
            [b"hello"],
            [b""],
            [b"<IDS|MSG>"],
            [b"<IDS|MSG>", b"sig", b"{}", b"{}", b"{}"],
            [b"no", b"delimiter", b"here", b"{}", b"{}", b"{}", b"{}"],
            signed(k, b"not json"),
            signed(k, b"[1, 2, 3]"),
            signed(k, b'{"msg_id": "x"}'),
            signed(k, b'{"msg_id": "x", "msg_type": 5}'),
            signed(k, header("execute_request"), content=b'{"code": "\xff\xfe"}'),
            signed(k, header("execute_request"), content=b'{"code": "\\ud800"}'),
            signed(k, header("execute_request"), content=b"[]"),
            signed(k, header("execute_request"), parent=b"null"),
            signed(k, header("execute_request"), content=b'{"code": 12}'),
            signed(k, header("complete_request"), content=b'{"code": 1, "cursor_pos": "x"}'),
            signed(k, header("inspect_request"), content=b'{"code": "mgv", "cursor_pos": -5}'),
            signed(k, header("history_request"), content=b'{"hist_access_type": "range", "n": -3}'),
            signed(k, header("nonsense_request")),
            signed(k, header("execute_request"), content=json.dumps({"code": "x" * 2000000}).encode()),
            [b"<IDS|MSG>"] * 5000,
            [os.urandom(64) for _ in range(8)],
        ]
        for port in (self.km.shell_port, self.km.control_port, self.km.stdin_port):
            raw = Raw(self.ctx, self.km, port)
            for frames in garbage:
                raw.send(frames)
            time.sleep(T(0.2))
            raw.close()
        # the heartbeat echoes whatever it gets, also several frames
        hb = self.ctx.socket(zmq.REQ)
        hb.linger = 0
        hb.connect("tcp://%s:%d" % (self.km.ip, self.km.hb_port))
        hb.send_multipart([b"a", b"\x00\xff", b""])
        self.assertTrue(hb.poll(int(T(2) * 1000)))
        self.assertEqual(hb.recv_multipart(), [b"a", b"\x00\xff", b""])
        hb.close()
        # raw bytes on every port, the IOPub one included
        for port in (self.km.shell_port, self.km.iopub_port, self.km.stdin_port,
                     self.km.control_port, self.km.hb_port):
            for payload in (os.urandom(4096), b"\xff" + b"\x00" * 8 + b"\x7f" + os.urandom(64), b"GET / HTTP/1.0\r\n\r\n"):
                with socket.create_connection((self.km.ip, port), timeout=T(2)) as s:
                    try:
                        s.sendall(payload)
                    except OSError:
                        pass
        time.sleep(T(0.3))
        self.alive()

    def test_invalid_utf8_output_is_replaced(self):
        reply, outs = execute(self.kc, "io.write('\\255\\254 ok\\n') io.write('\\226\\130') io.write('\\172!\\n')")
        self.assertEqual(reply["content"]["status"], "ok")
        text = "".join(m["content"]["text"] for m in outs if m["msg_type"] == "stream")
        self.assertIn("\ufffd\ufffd ok\n", text)
        self.assertIn("\u20ac!\n", text)   # a sequence split over two writes stays whole

    # ---- concurrency --------------------------------------------------------------

    def test_heartbeat_and_control_answer_while_busy(self):
        busy = 1.5
        mid = self.kc.execute("local t = os.clock() while os.clock() - t < %g do end" % busy)
        wait_busy(self.kc, mid, T(5))
        hb = self.ctx.socket(zmq.REQ)
        hb.linger = 0
        hb.connect("tcp://%s:%d" % (self.km.ip, self.km.hb_port))
        control = Raw(self.ctx, self.km, self.km.control_port)
        try:
            for i in range(3):
                t0 = time.time()
                hb.send(b"ping %d" % i)
                self.assertTrue(hb.poll(int(T(0.5) * 1000)), "no heartbeat while busy")
                self.assertEqual(hb.recv(), b"ping %d" % i)
                self.assertLess(time.time() - t0, T(0.5))
            control.send(signed(self.key, header("kernel_info_request")))
            frames = control.recv(T(0.5))
            self.assertIsNotNone(frames, "no kernel_info_reply on control while busy")
            i = frames.index(b"<IDS|MSG>")
            self.assertEqual(json.loads(frames[i + 2])["msg_type"], "kernel_info_reply")
        finally:
            hb.close()
            control.close()
        reply = reply_to(self.kc, mid, busy + T(10))
        self.assertEqual(reply["content"]["status"], "ok")
        outputs_of(self.kc, mid, T(5))

    def _interrupted(self, mid):
        reply = reply_to(self.kc, mid, T(10))
        outs = outputs_of(self.kc, mid, T(5))
        self.assertEqual(reply["content"]["status"], "error")
        self.assertEqual(reply["content"]["ename"], "Interrupted")
        errors = [m for m in outs if m["msg_type"] == "error"]
        self.assertEqual(len(errors), 1)

    def test_interrupt_by_message_keeps_state(self):
        mid = self.kc.execute("x = 41 while true do end")
        wait_busy(self.kc, mid, T(5))
        time.sleep(T(0.3))
        self.km.interrupt_kernel()   # interrupt_mode "message": interrupt_request on control
        self._interrupted(mid)
        reply, outs = execute(self.kc, "x + 1")
        self.assertEqual(result_text(outs), "42", reply["content"])

    def test_interrupt_by_signal_keeps_state(self):
        mid = self.kc.execute("y = 6 local n = 0 while true do n = n + 1 end")
        wait_busy(self.kc, mid, T(5))
        time.sleep(T(0.3))
        os.kill(self.km.provisioner.process.pid, signal.SIGINT)
        self._interrupted(mid)
        reply, outs = execute(self.kc, "y * 7")
        self.assertEqual(result_text(outs), "42", reply["content"])

    def test_interrupt_training_returns_partial_result(self):
        execute(self.kc, "task = mgv.data.synth{seed = 1, per_class = 12, classes = 30} "
                "model = mgv.model{words = task.words, task = 'met', hidden = 32, heads = 2, "
                "experts = 4, proj = 32, seed = 2}")
        mid = self.kc.execute("r = mgv.train(model, task, {epochs = 400, patience = 400})")
        # wait for the second epoch's log line, then interrupt by message
        end, text = time.time() + T(60), ""
        while "epoch  2 " not in text:
            m = self.kc.get_iopub_msg(timeout=max(0.01, end - time.time()))
            if m["parent_header"].get("msg_id") == mid and m["msg_type"] == "stream":
                text += m["content"]["text"]
        self.km.interrupt_kernel()
        reply = reply_to(self.kc, mid, T(30))
        outs = outputs_of(self.kc, mid, T(5))
        self.assertEqual(reply["content"]["status"], "ok", "train returned: the cell ends normally")
        err = "".join(m["content"]["text"] for m in outs
                      if m["msg_type"] == "stream" and m["content"]["name"] == "stderr")
        self.assertRegex(err, r"training interrupted in epoch \d+ of 400; best epoch \d+ restored")
        _, outs = execute(self.kc, "r.interrupted, #r.history >= 2, r.best_epoch >= 1, "
                          "r.val_macro_f1 == r.history[r.best_epoch].val_macro_f1, "
                          "mgv.evaluate(model, task.val).macro_f1 == r.val_macro_f1")
        self.assertEqual(result_text(outs), "true\ttrue\ttrue\ttrue\ttrue")

    def test_interrupt_while_waiting_for_input(self):
        mid = self.kc.execute("z = 5 io.read()", allow_stdin=True)
        msg = self.kc.get_stdin_msg(timeout=T(10))
        self.assertEqual(msg["msg_type"], "input_request")
        t0 = time.time()
        self.km.interrupt_kernel()
        reply = reply_to(self.kc, mid, T(10))
        info("interrupt to execute_reply while waiting for input: %.0f ms", (time.time() - t0) * 1000)
        self.assertLess(time.time() - t0, T(2))
        self.assertEqual(reply["content"]["ename"], "Interrupted")
        self.assertIn("interrupted!", reply["content"]["evalue"])
        outs = outputs_of(self.kc, mid, T(5))
        self.assertEqual([m["msg_type"] for m in outs], ["execute_input", "error"])
        # a reply that comes late is not taken by the next read
        self.kc.input("too late")
        reply, outs = execute(self.kc, "z", allow_stdin=True)
        self.assertEqual(result_text(outs), "5")
        mid = self.kc.execute("return io.read()", allow_stdin=True)
        self.kc.get_stdin_msg(timeout=T(10))
        self.kc.input("fresh")
        reply_to(self.kc, mid, T(10))
        self.assertEqual(result_text(outputs_of(self.kc, mid, T(5))), "fresh")

    def _with_input(self, code, replies):
        """Runs code with stdin allowed, answering each input_request with the
        next reply; returns the reply, the IOPub outputs and the requests."""
        mid = self.kc.execute(code, allow_stdin=True)
        requests = []
        for value in replies:
            req = self.kc.get_stdin_msg(timeout=T(10))
            requests.append(req)
            self.kc.input(value)
        reply = reply_to(self.kc, mid, T(10))
        outs = outputs_of(self.kc, mid, T(5))
        for get in (self.kc.get_stdin_msg,):   # no request beyond the replies given
            with self.assertRaises(Exception):
                get(timeout=0.2)
        return reply, outs, requests

    def test_stdin_input(self):
        reply, outs, reqs = self._with_input("print('got ' .. io.read())", ["hello there"])
        req = reqs[0]
        self.assertEqual(req["msg_type"], "input_request")
        self.assertEqual(req["content"], {"prompt": "", "password": False})
        self.assertEqual(req["parent_header"]["msg_id"], reply["parent_header"]["msg_id"])
        self.assertEqual(req["parent_header"]["msg_type"], "execute_request")
        self.assertEqual(reply["content"]["status"], "ok")
        self.assertEqual(stream_text(outs), "got hello there\n")

    def test_stdin_formats(self):
        # "n": the reply as a number; fail when it is not one
        _, outs, _ = self._with_input("local n = io.read('n') print(n + 1, math.type(n))", ["41"])
        self.assertEqual(stream_text(outs), "42\tinteger\n")
        _, outs, _ = self._with_input("return io.read('n')", [" 2.5e1 "])
        self.assertEqual(result_text(outs), "25.0")
        _, outs, _ = self._with_input("return io.read('n')", ["4 2"])
        self.assertEqual(result_text(outs), "nil")
        # several formats read several replies; a failed one ends the list, as in Lua
        _, outs, _ = self._with_input("return select('#', io.read('n', 'l'))", ["x"])
        self.assertEqual(result_text(outs), "1")
        _, outs, _ = self._with_input("local a, b, c, d, e = io.read('l', 'L', 'a', 3, 0) "
                                      "return ('%q %q %q %q %q'):format(a, b, c, d, e)",
                                      ["one", "two", "three", "fourth"])
        self.assertEqual(result_text(outs), '"one" "two\\\n" "three" "fou" ""')
        # io.stdin's methods and io.input() read replies too; another default input does not
        _, outs, _ = self._with_input("return io.stdin:read('n') + io.input():read('n')", ["40", "2"])
        self.assertEqual(result_text(outs), "42")
        _, outs, _ = self._with_input(
            "local f = io.tmpfile() f:write('from a file\\n') f:seek('set') io.input(f) "
            "local a = io.read() io.input(io.stdin) f:close() return a .. ', ' .. io.read()", ["typed"])
        self.assertEqual(result_text(outs), "from a file, typed")
        reply, _, _ = self._with_input("io.read('x')", [])
        self.assertIn("invalid format", reply["content"]["evalue"])

    def test_stdin_lines_until_end_of_input(self):
        # "\x04" (jupyter console's Ctrl-D) is the end of input: nil, never the character
        _, outs, _ = self._with_input("for l in io.lines() do print('[' .. l .. ']') end",
                                      ["a", "", "b c", "\x04"])
        self.assertEqual(stream_text(outs), "[a]\n[]\n[b c]\n")
        _, outs, _ = self._with_input("local s = 0 for n in io.stdin:lines('n') do s = s + n end print(s)",
                                      ["1", "2", "39", "\x04"])
        self.assertEqual(stream_text(outs), "42\n")
        _, outs, _ = self._with_input("return io.read(), io.read('a')", ["\x04", "\x04"])
        self.assertEqual(result_text(outs), "nil\t")

    def test_stdin_not_allowed_is_an_error_at_once(self):
        for code in ("io.read()", "io.read('n')", "for l in io.lines() do end", "io.stdin:read()",
                     "io.stdin:lines()()"):
            with self.subTest(code=code):
                t0 = time.time()
                reply, outs = execute(self.kc, "pre = 1 " + code + " post = 1", allow_stdin=False)
                took = time.time() - t0
                self.assertLess(took, 2.0, "no stdin: the cell waited")
                self.assertEqual(reply["content"]["status"], "error")
                self.assertIn("this front end does not take input requests",
                              reply["content"]["evalue"])
                self.assertEqual([m["msg_type"] for m in outs], ["execute_input", "error"])
                with self.assertRaises(Exception):
                    self.kc.get_stdin_msg(timeout=0.1)
        info("io.read() without allow_stdin: error reply in %.0f ms", took * 1000)
        _, outs = execute(self.kc, "return pre, post")
        self.assertEqual(result_text(outs), "1\tnil")

    def test_output_streams_while_cell_runs(self):
        busy = 1.0
        code = ("print('first') local t = os.clock() while os.clock() - t < %g do end "
                "print('second')" % busy)
        mid = self.kc.execute(code)
        seen = {}
        end = time.time() + busy + T(10)
        while len(seen) < 2 and time.time() < end:
            m = self.kc.get_iopub_msg(timeout=T(10))
            if m["parent_header"].get("msg_id") == mid and m["msg_type"] == "stream":
                for word in ("first", "second"):
                    if word in m["content"]["text"]:
                        seen[word] = time.time()
        self.assertEqual(set(seen), {"first", "second"})
        self.assertGreater(seen["second"] - seen["first"], busy * 0.5,
                           "the first line came only with the second")
        reply_to(self.kc, mid, T(10))
        outputs_of(self.kc, mid, T(5))

    # ---- execution ----------------------------------------------------------------

    def test_error_is_one_message(self):
        reply, outs = execute(self.kc, "print('before')\nerror('boom')")
        self.assertEqual(reply["content"]["status"], "error")
        self.assertEqual([m["msg_type"] for m in outs], ["execute_input", "stream", "error"])
        self.assertEqual(outs[1]["content"], {"name": "stdout", "text": "before\n"})
        err = outs[2]["content"]
        self.assertEqual(err["ename"], "LuaError")
        self.assertIn("boom", err["evalue"])
        self.assertIn("stack traceback:", err["traceback"])
        self.assertEqual(reply["content"]["evalue"], err["evalue"])
        reply, outs = execute(self.kc, "error({})")
        self.assertEqual(reply["content"]["evalue"], "(error object is a table value)")
        reply, outs = execute(self.kc, "x = = 1")
        self.assertEqual(reply["content"]["ename"], "SyntaxError")
        self.assertEqual([m["msg_type"] for m in outs], ["execute_input", "error"])

    def test_queued_cells_aborted_after_error(self):
        busy = T(0.3)
        first = self.kc.execute("local t = os.clock() while os.clock() - t < %g do end error('stop')" % busy)
        second = self.kc.execute("never_set = 1")          # queued behind the failing cell
        third = self.kc.execute("never_either = 1", stop_on_error=False)
        got = {}
        end = time.time() + T(10)
        while len(got) < 3:
            m = self.kc.get_shell_msg(timeout=max(0.01, end - time.time()))
            got[m["parent_header"].get("msg_id")] = m["content"]["status"]
        self.assertEqual([got.get(first), got.get(second), got.get(third)], ["error", "aborted", "aborted"])
        _, outs = execute(self.kc, "never_set == nil and never_either == nil")   # after the reply: runs
        self.assertEqual(result_text(outs), "true")

    def test_silent_and_store_history(self):
        r1, _ = execute(self.kc, "1")
        n = r1["content"]["execution_count"]
        reply, outs = execute(self.kc, "print('quiet') error('silent error')", silent=True)
        self.assertEqual(outs, [], "silent produced output")
        reply, outs = execute(self.kc, "2", store_history=False)
        self.assertEqual(result_text(outs), "2")
        r3, outs = execute(self.kc, "3")
        self.assertEqual(r3["content"]["execution_count"], n + 1)
        self.assertEqual(outs[0]["content"]["execution_count"], n + 1)

    def test_last_expression_is_the_result(self):
        cases = [("a = 2\nb = 3\na * b", "6"), ("local t = {\n 1,\n 2,\n}\n#t", "2"),
                 ("for i = 1, 2 do\n  local _ = i\nend", None), ("s = 'x'\n-- a comment\ns .. 'y'", "xy"),
                 ("function f() return 1, 2 end\nf()", "1\t2"), ("nil", "nil")]
        for code, want in cases:
            _, outs = execute(self.kc, code)
            self.assertEqual(result_text(outs), want, code)

    def test_display_update_clear(self):
        reply, outs = execute(self.kc, "display(mgv.plot.heatmap(mgv.rand(3, 4), {title = 't'}))")
        self.assertEqual(reply["content"]["status"], "ok")
        disp = [m for m in outs if m["msg_type"] == "display_data"]
        self.assertEqual(len(disp), 1)
        self.assertIsNone(result_text(outs))
        c = disp[0]["content"]
        w, h = png_size(base64.b64decode(c["data"]["image/png"]))
        self.assertEqual(c["metadata"]["image/png"], {"width": w, "height": h})
        self.assertIn("mgv.Plot heatmap", c["data"]["text/plain"])
        self.assertTrue(c["transient"]["display_id"])
        _, outs = execute(self.kc, "display(mgv.plot.bars({1, 2}), 'curve')\nupdate_display(mgv.plot.bars({2, 1}), 'curve')\nclear_output(true)")
        kinds = [m["msg_type"] for m in outs]
        self.assertEqual(kinds, ["execute_input", "display_data", "update_display_data", "clear_output"])
        self.assertEqual(outs[1]["content"]["transient"], {"display_id": "curve"})
        self.assertEqual(outs[2]["content"]["transient"], {"display_id": "curve"})
        png_size(base64.b64decode(outs[2]["content"]["data"]["image/png"]))
        self.assertEqual(outs[3]["content"], {"wait": True})
        # a cell ending in a picture: the execute_result carries the PNG
        _, outs = execute(self.kc, "mgv.plot.lines({1, 3, 2})")
        res = [m for m in outs if m["msg_type"] == "execute_result"][0]["content"]
        png_size(base64.b64decode(res["data"]["image/png"]))

    def test_progress_is_one_line_updated_in_place(self):
        code = ("for k = 1, 2 do local b = mgv.progress(3, 'work' .. k) "
                "for i = 1, 3 do b:update(i) end b:close() end")
        reply, outs = execute(self.kc, code)
        self.assertEqual(reply["content"]["status"], "ok")
        kinds = [m["msg_type"] for m in outs]
        self.assertEqual(kinds[:2], ["execute_input", "display_data"])
        self.assertGreaterEqual(len(kinds), 5)   # the last step of each bar is always drawn
        self.assertEqual(set(kinds[2:]), {"update_display_data"})
        ids = {m["content"]["transient"]["display_id"] for m in outs[1:]}
        self.assertEqual(len(ids), 1)
        self.assertTrue(outs[1]["content"]["data"]["text/plain"].startswith("work1 ["))
        self.assertTrue(outs[-2]["content"]["data"]["text/plain"].startswith("work2 ["))
        # a closed bar says so: the line's final state is not a stale count
        self.assertRegex(outs[-1]["content"]["data"]["text/plain"], r"^work2 done: 3/3 in \d")

    def test_completion_and_inspection(self):
        mid = self.kc.complete("é = 1; mgv.ze")
        c = reply_to(self.kc, mid, T(10))["content"]
        self.assertEqual(c["matches"], ["mgv.zeros", "mgv.zeros_like"] if "mgv.zeros_like" in c["matches"] else ["mgv.zeros"])
        self.assertEqual((c["cursor_start"], c["cursor_end"]), (7, 13))   # code points
        self.assertIn("_jupyter_types_experimental", c["metadata"])
        execute(self.kc, "t = mgv.zeros(2, 3)\nfunction add(a, b) return a + b end")
        mid = self.kc.complete("t:resh")
        self.assertIn("t:reshape", reply_to(self.kc, mid, T(10))["content"]["matches"])
        mid = self.kc.complete("print('mgv.ze")
        self.assertEqual(reply_to(self.kc, mid, T(10))["content"]["matches"], [])
        mid = self.kc.complete("x = mgv.zeros(2, 3) -- mgv.ze")
        self.assertEqual(reply_to(self.kc, mid, T(10))["content"]["matches"], [])
        for code, pos, want in [("mgv.zeros(", None, "mgv.zeros("), ("mgv.zeros(2, ", None, "mgv.zeros("),
                                ("add", None, "add(a, b)"), ("t", None, "mgv.Tensor"),
                                ("string.format", 10, "manual.html#pdf-string.format")]:
            mid = self.kc.inspect(code, pos if pos is not None else len(code))
            r = reply_to(self.kc, mid, T(10))["content"]
            self.assertTrue(r["found"], code)
            self.assertIn(want, r["data"]["text/plain"])
        mid = self.kc.inspect("no_such_name_here")
        self.assertFalse(reply_to(self.kc, mid, T(10))["content"]["found"])
        reply, _ = execute(self.kc, "string.format?")
        self.assertIn("string.format", reply["content"]["payload"][0]["data"]["text/plain"])

    def test_comm_and_unknown_requests(self):
        mid = self.kc.comm_info()
        self.assertEqual(reply_to(self.kc, mid, T(10))["content"], {"status": "ok", "comms": {}})
        self.alive()


class ShutdownTests(unittest.TestCase):
    def _exits(self, km, kc, busy, waiting_for_input=False):
        if busy:
            mid = kc.execute("while true do end")
            wait_busy(kc, mid, T(5))
        if waiting_for_input:
            kc.execute("io.read()", allow_stdin=True)
            self.assertEqual(kc.get_stdin_msg(timeout=T(10))["msg_type"], "input_request")
        t0 = time.time()
        mid = kc.shutdown()
        reply = None
        end = time.time() + T(10)
        while time.time() < end:
            m = kc.get_control_msg(timeout=T(10))
            if m["parent_header"].get("msg_id") == mid:
                reply = m
                break
        self.assertIsNotNone(reply)
        self.assertEqual(reply["content"], {"status": "ok", "restart": False})
        proc = km.provisioner.process
        rc = proc.wait(timeout=T(10))
        self.assertEqual(rc, 0, "the kernel exited with status %s" % rc)
        info("shutdown_request to exit: %.0f ms", (time.time() - t0) * 1000)
        kc.stop_channels()
        km.cleanup_resources()

    def test_shutdown(self):
        t0 = time.time()
        km, kc = start_kernel()
        print("INFO kernel ready in %.0f ms" % ((time.time() - t0) * 1000))
        self._exits(km, kc, busy=False)

    def test_shutdown_while_busy(self):
        km, kc = start_kernel()
        self._exits(km, kc, busy=True)

    def test_shutdown_while_waiting_for_input(self):
        km, kc = start_kernel()
        self._exits(km, kc, busy=False, waiting_for_input=True)

    def test_orphaned_kernel_exits(self):
        # a front end that dies without shutting its kernel down
        code = ("import sys; sys.path.insert(0, %r)\n"
                "from jupyter_client.manager import KernelManager\n"
                "km = KernelManager(kernel_name='mgv'); km.start_kernel()\n"
                "kc = km.client(); kc.start_channels(); kc.wait_for_ready(timeout=%g)\n"
                "print(km.provisioner.process.pid, flush=True)\n"
                "import os; os._exit(0)\n" % (os.path.dirname(__file__), T(30)))
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                             timeout=T(60), env=os.environ)
        pid = int(out.stdout.split()[0])
        end = time.time() + T(5)
        while time.time() < end:
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                return
            time.sleep(0.1)
        os.kill(pid, signal.SIGKILL)
        self.fail("the orphaned kernel %d did not exit" % pid)


if __name__ == "__main__":
    sys.exit(H.run(ProtocolTests, ShutdownTests))
