#!/usr/bin/env python3
"""Kernel benchmark (issue 5's targets): start-up of bin/mgv-kernel to its
kernel_info_reply, and the round trip of a trivial cell against ipykernel
measured with the same client in the same run.
    MGV_KERNEL_BIN=build/mgv-kernel /usr/bin/python3 scripts/bench_kernel.py

Two clients time the round trip, each against both kernels:
- jupyter_client's execute_interactive (what notebooks and consoles use);
  its Python session costs about 1 ms of CPU per round trip here, which
  bounds the ratio it can show;
- scripts/kernel_rtt.c, a lean C client (libzmq, one HMAC per request).
"""
import os
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
sys.path.insert(0, os.path.join(ROOT, "tests", "kernel"))
os.environ.setdefault("MGV_KERNEL_BIN", os.path.join(ROOT, "build", "mgv-kernel"))
import kernel_harness as H  # noqa: E402
H.install_kernelspec()
import zmq  # noqa: E402
from jupyter_client.connect import write_connection_file  # noqa: E402
from jupyter_client.session import Session  # noqa: E402
from jupyter_client.manager import KernelManager  # noqa: E402
from jupyter_client.kernelspec import KernelSpecManager  # noqa: E402

def startup(argv_of, n=10):
    times = []
    for _ in range(n):
        d = tempfile.mkdtemp()
        fname, cfg = write_connection_file(os.path.join(d, "c.json"))
        ctx = zmq.Context()
        s = ctx.socket(zmq.DEALER); s.linger = 0; s.setsockopt(zmq.RECONNECT_IVL, 2)
        s.connect("tcp://127.0.0.1:%d" % cfg["shell_port"])
        sess = Session(key=cfg["key"].encode())
        t0 = time.perf_counter()
        p = subprocess.Popen(argv_of(fname), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        sess.send(s, "kernel_info_request", {})
        while True:
            if s.poll(10000):
                idents, msg = sess.feed_identities(s.recv_multipart())
                m = sess.deserialize(msg)
                if m["msg_type"] == "kernel_info_reply": break
            else:
                raise SystemExit("no reply")
        times.append((time.perf_counter() - t0) * 1000)
        sess.send(s, "shutdown_request", {"restart": False})
        c = ctx.socket(zmq.DEALER); c.linger = 0; c.connect("tcp://127.0.0.1:%d" % cfg["control_port"])
        sess.send(c, "shutdown_request", {"restart": False})
        try: p.wait(5)
        except Exception: p.kill(); p.wait()
        s.close(); c.close(); ctx.term()
    return times

def build_lean_client():
    exe = os.path.join(tempfile.mkdtemp(), "kernel_rtt")
    flags = subprocess.run(["pkg-config", "--cflags", "--libs", "jansson", "libzmq"],
                           capture_output=True, text=True, check=True).stdout.split()
    subprocess.run(["cc", "-O2", "-o", exe, os.path.join(ROOT, "scripts", "kernel_rtt.c")]
                   + flags + ["-lcrypto"], check=True)
    return exe

def roundtrip(kernel_name, lean, n=300):
    """(jupyter_client times, lean client median) for one kernel."""
    km = KernelManager(kernel_name=kernel_name); km.start_kernel()
    kc = km.client(); kc.start_channels(); kc.wait_for_ready(timeout=60)
    for _ in range(20): kc.execute_interactive("1", timeout=10, output_hook=lambda m: None)
    t = []
    for _ in range(n):
        t0 = time.perf_counter()
        kc.execute_interactive("1", timeout=10, output_hook=lambda m: None)
        t.append((time.perf_counter() - t0) * 1000)
    kc.stop_channels()
    out = subprocess.run([lean, km.connection_file, "2000"], capture_output=True, text=True,
                         timeout=300)
    if out.returncode != 0:
        raise SystemExit("kernel_rtt: " + out.stderr.strip())
    fields = dict(kv.split("=") for kv in out.stdout.split())
    km.shutdown_kernel(now=False)
    return t, float(fields["median_ms"])

kern = os.environ["MGV_KERNEL_BIN"]
st = startup(lambda f: [kern, "-f", f])
print("mgv-kernel start-up to kernel_info_reply: median %.1f ms, min %.1f, max %.1f (n=%d)" % (statistics.median(st), min(st), max(st), len(st)))

lean = build_lean_client()
rm, lm = roundtrip("mgv", lean)
print("mgv-kernel trivial execute round trip (execute_interactive, reply+idle): median %.3f ms, mean %.3f" % (statistics.median(rm), statistics.mean(rm)))
print("mgv-kernel trivial execute round trip (lean C client scripts/kernel_rtt.c): median %.3f ms" % lm)
ksm = KernelSpecManager()
if "python3" in ksm.find_kernel_specs():
    ri, li = roundtrip("python3", lean)
    print("ipykernel, execute_interactive: median %.3f ms, mean %.3f; ratio %.1fx" % (statistics.median(ri), statistics.mean(ri), statistics.median(ri) / statistics.median(rm)))
    print("ipykernel, lean C client: median %.3f ms; ratio %.1fx" % (li, li / lm))
