"""kernel_harness.py - shared set-up of the kernel tests.

install_kernelspec() installs the kernelspec of $MGV_KERNEL_BIN (the kernel
under test: build/mgv-kernel, or build-san/mgv-kernel under SANITIZE=1) into
a temporary directory and points JUPYTER_PATH (and the runtime and data
dirs) there, so nothing outside the temporary directory is read or written.
start_kernel() starts the installed kernel with a ready client;
execute(kc, code) runs a cell and gathers its reply and IOPub messages.
run(*cases) runs unittest cases and prints one "PASS name" / "FAIL name"
line per test (and per failing subtest) for tests/run.sh; a skipped test
counts as a failure, since every test should run.
"""
import atexit
import os
import shutil
import subprocess
import sys
import tempfile
import time
import traceback
import unittest

ROOT = os.environ.get("MGV_ROOT") or os.path.abspath(
    os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
KERNEL = os.environ.get("MGV_KERNEL_BIN") or os.path.join(ROOT, "build", "mgv-kernel")
# AddressSanitizer builds run several times slower: scale the waits
SLOW = 4.0 if (os.environ.get("SANITIZE") == "1" or "build-san" in KERNEL) else 1.0

# Every temporary file of a kernel test (markers, connection files, the
# kernels' own os.tmpname) goes into one directory removed at exit, so that
# a kernel killed on purpose leaves nothing behind.
_SCRATCH = tempfile.mkdtemp(prefix="mgv-kernel-test-")
atexit.register(shutil.rmtree, _SCRATCH, True)
tempfile.tempdir = _SCRATCH
os.environ["TMPDIR"] = _SCRATCH


def scaled(seconds):
    return seconds * SLOW


def install_kernelspec(interrupt_mode="message", name="mgv"):
    """Installs the kernelspec into a temporary JUPYTER_PATH; returns its dir."""
    tmp = tempfile.mkdtemp(prefix="mgv-kernel-test-")
    atexit.register(shutil.rmtree, tmp, True)
    subprocess.run([KERNEL, "install", "--prefix", tmp, "--name", name,
                    "--interrupt-mode", interrupt_mode],
                   check=True, stdout=subprocess.DEVNULL)
    os.environ["JUPYTER_PATH"] = os.path.join(tmp, "share", "jupyter")
    os.environ["JUPYTER_RUNTIME_DIR"] = os.path.join(tmp, "runtime")
    os.environ["JUPYTER_DATA_DIR"] = os.path.join(tmp, "data")
    os.environ["JUPYTER_CONFIG_DIR"] = os.path.join(tmp, "config")
    os.environ["IPYTHONDIR"] = os.path.join(tmp, "ipython")
    return os.path.join(tmp, "share", "jupyter", "kernels", name)


def start_client(km):
    """A client of the kernel manager km, with its channels started and ready."""
    kc = km.client()
    kc.start_channels()
    kc.wait_for_ready(timeout=scaled(30))
    return kc


def start_kernel(name="mgv"):
    """Starts kernel `name` (install_kernelspec first); returns (manager, client)."""
    from jupyter_client.manager import KernelManager
    km = KernelManager(kernel_name=name)
    km.start_kernel()
    return km, start_client(km)


def shell_reply(kc, msg_id, timeout):
    """The shell reply to msg_id (other replies are dropped)."""
    end = time.time() + timeout
    while True:
        m = kc.get_shell_msg(timeout=max(0.01, end - time.time()))
        if m["parent_header"].get("msg_id") == msg_id:
            return m


def execute(kc, code, timeout=None):
    """Runs code; returns its execute_reply and the IOPub messages it caused
    before going idle. timeout (default 20 s, scaled) bounds the wait for the
    reply and then the wait for the idle status."""
    timeout = timeout or scaled(20)
    mid = kc.execute(code)
    reply = shell_reply(kc, mid, timeout)
    end = time.time() + timeout
    outs = []
    while True:
        m = kc.get_iopub_msg(timeout=max(0.01, end - time.time()))
        if m["parent_header"].get("msg_id") != mid:
            continue
        if m["msg_type"] == "status" and m["content"]["execution_state"] == "idle":
            return reply, outs
        outs.append(m)


class _Result(unittest.TestResult):
    def __init__(self):
        super().__init__()
        self.bad = 0
        self.started = {}

    def _name(self, test):
        return test.id().split(".", 1)[-1]

    def startTest(self, test):
        super().startTest(test)
        self.started[test.id()] = time.time()

    def _took(self, test):
        t = self.started.get(test.id())
        return " (%.2fs)" % (time.time() - t) if t else ""

    def _fail(self, test, err, what="FAIL"):
        self.bad += 1
        text = "".join(traceback.format_exception(*err)) if isinstance(err, tuple) else str(err)
        print("%s %s%s\n%s" % (what, self._name(test), self._took(test), text.rstrip()))
        sys.stdout.flush()

    def addSuccess(self, test):
        super().addSuccess(test)
        print("PASS %s%s" % (self._name(test), self._took(test)))
        sys.stdout.flush()

    def addFailure(self, test, err):
        super().addFailure(test, err)
        self._fail(test, err)

    def addError(self, test, err):
        super().addError(test, err)
        self._fail(test, err)

    def addSkip(self, test, reason):
        super().addSkip(test, reason)
        self._fail(test, "skipped: %s" % reason)

    def addSubTest(self, test, subtest, err):
        super().addSubTest(test, subtest, err)
        if err is not None:
            self._fail(subtest, err)

    def addExpectedFailure(self, test, err):
        self._fail(test, err, "FAIL (expected failure)")

    def addUnexpectedSuccess(self, test):
        self._fail(test, "unexpected success")


def run(*cases):
    """Runs the TestCase classes; exit status 1 when anything failed."""
    suite = unittest.TestSuite()
    loader = unittest.TestLoader()
    for c in cases:
        suite.addTests(loader.loadTestsFromTestCase(c))
    result = _Result()
    suite.run(result)
    sys.stdout.flush()
    return 1 if result.bad else 0
