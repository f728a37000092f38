"""test_kernel.py - bin/mgv-kernel against jupyter_kernel_test (Debian's
python3-jupyter-kernel-test), with every attribute of KernelTests filled in:
kernel_info, stdout and stderr streams, completion, is_complete, the pager
payload of ?name, errors, execute_result (text and a PNG picture),
display_data, history (tail, range, search), inspect and clear_output.
Each test prints PASS/FAIL (kernel_harness.run).
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import kernel_harness as H  # noqa: E402

H.install_kernelspec()

import jupyter_kernel_test as jkt  # noqa: E402


class MgvKernelTests(jkt.KernelTests):
    kernel_name = "mgv"
    language_name = "lua"
    file_extension = ".lua"

    code_hello_world = 'print("hello, world")'
    code_stderr = 'local _ = io.stderr:write("something went wrong\\n")'

    # a model and a data set, made before the tests (setUpClass), for the
    # method completions below
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        mid = cls.kc.execute("task = mgv.data.synth{per_class = 2}\n"
                             "model = mgv.model{words = task.words, hidden = 16, heads = 2, "
                             "experts = 2, proj = 16}")
        reply = H.shell_reply(cls.kc, mid, H.scaled(60))
        assert reply["content"]["status"] == "ok", reply

    completion_samples = [
        {"text": "model:tr", "matches": {"model:train_step"}},
        {"text": "task.test:cl", "matches": {"task.test:classes"}},
        {"text": 'f = io.open("tests/kernel/test_ker', "matches": {"tests/kernel/test_kernel.py"}},
        {"text": "mgv.zer", "matches": {"mgv.zeros"}},
        {"text": "string.for", "matches": {"string.format"}},
        {"text": "pri", "matches": {"print"}},
        {"text": "mgv.plot.hea", "matches": {"mgv.plot.heatmap"}},
        {"text": "x = math.fl", "matches": {"math.floor"}},
        {"text": "whi", "matches": {"while"}},
    ]
    complete_code_samples = [
        "1 + 1",
        "x = 1",
        "for i = 1, 3 do print(i) end",
        "local t = {\n  1,\n  2,\n}",
        "?mgv.zeros",
        "",
    ]
    incomplete_code_samples = [
        "for i = 1, 3 do",
        "function f(x)",
        "x = {",
        "if x then\n  print(x)",
        "s = [[a long string",
        "print(1,",
    ]
    invalid_code_samples = [
        "x = = 1",
        "1 +* 2",
        "end",
        "x = )",
        "local 1 = 2",
    ]

    code_page_something = "?mgv.zeros"
    code_generate_error = 'error("boom")'
    code_execute_result = [
        {"code": "6*7", "result": "42"},
        {"code": "'mgv' .. 1", "result": "mgv1"},
        {"code": "x = 20\nx + 1", "result": "21"},
        {"code": "x = 1; x", "result": "1"},
        {"code": "return 5", "result": "5"},
        {"code": "t = {a = 1}; t", "result": "{a = 1}"},
        {"code": "math.max(3, 9), 'two values'", "result": "9\ttwo values"},
        {"code": "mgv.plot.heatmap(mgv.rand(2, 3))", "mime": "image/png"},
    ]
    code_display_data = [
        {"code": "display(mgv.plot.bars({1, 2, 3}))", "mime": "image/png"},
        {"code": "display(mgv.plot.bars({1, 2, 3}))", "mime": "text/plain"},
        {"code": "display('some text')", "mime": "text/plain"},
    ]

    supported_history_operations = ("tail", "range", "search")
    code_history_pattern = "6?7"

    code_inspect_sample = "mgv.zeros"
    code_clear_output = "clear_output()"


if __name__ == "__main__":
    sys.exit(H.run(MgvKernelTests))
