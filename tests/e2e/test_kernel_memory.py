"""test_kernel_memory.py - bin/mgv-kernel turns a tensor the memory budget
refuses (4 TB, 60 GB, an overflowing shape, a small mgv.set_memory_limit)
into an `error` reply with the engine's message, and keeps running with its
state. Uses the kernel tests' harness (tests/kernel/kernel_harness.py) and
jupyter_client; prints PASS/FAIL lines for tests/run.sh.
"""
import os
import sys
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "kernel"))
import kernel_harness as H  # noqa: E402

H.install_kernelspec()


class KernelMemory(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.km, cls.kc = H.start_kernel()

    @classmethod
    def tearDownClass(cls):
        cls.kc.stop_channels()
        cls.km.shutdown_kernel(now=False)

    def error_of(self, code):
        reply, outs = H.execute(self.kc, code)
        self.assertEqual(reply["content"]["status"], "error", code)
        errs = [m for m in outs if m["msg_type"] == "error"]
        self.assertEqual(len(errs), 1, code)
        return reply["content"]["evalue"] + "\n" + errs[0]["content"]["evalue"]

    def test_refused_allocations_are_error_replies(self):
        reply, _ = H.execute(self.kc, "kept = mgv.ones(3)")
        self.assertEqual(reply["content"]["status"], "ok")
        for code, want in [
            ("mgv.zeros(1e6, 1e6)", "zeros: cannot allocate [1000000x1000000] (4.0 TB): the memory limit is"),
            ("x = mgv.zeros(15e9)", "zeros: cannot allocate [15000000000] (60.0 GB)"),
            ("mgv.zeros(2^40, 2^40)", "too many elements"),
            ("mgv.ones(1, 1):expand(200000, 1):matmul(mgv.ones(1, 200000))",
             "matmul: cannot allocate [200000x200000] (160.0 GB)"),
            ("collectgarbage(); mgv.set_memory_limit(mgv.memory() + 1.5 * 2^20); local a = mgv.zeros(2^18)"
             "; local ok, e = pcall(mgv.zeros, 2^18); mgv.set_memory_limit(nil); error(e, 0)",
             "zeros: cannot allocate [262144] (1.0 MB): the memory limit is "),
        ]:
            with self.subTest(code=code):
                self.assertIn(want, self.error_of(code))
        # still alive, with its state and the default limit back
        reply, outs = H.execute(self.kc, "kept:sum():item() + select(2, mgv.memory()) * 0")
        self.assertEqual(reply["content"]["status"], "ok")
        text = [m["content"]["data"]["text/plain"] for m in outs if m["msg_type"] == "execute_result"]
        self.assertEqual(text, ["3.0"])


if __name__ == "__main__":
    sys.exit(H.run(KernelMemory))
