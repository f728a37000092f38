"""test_host.py - the interactive host the kernel shares with bin/mgv's REPL
(lua/host.lua), seen through jupyter_client: the statement/expression rule
("x = 1; x", a trailing ';', "return 5"), tables through the inspector,
text/html beside text/plain for tensors, models and routing results,
%time / %timeit / %who, ?name by value and ??name (Lua source), completion
of methods through metatables and of file names, display / update_display
in IPython's order (the old order with a deprecation note once), numbered
traceback names (In[n]) and the final "done" state of a progress line.
Prints PASS/FAIL (kernel_harness.run).
"""
import os
import re
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import kernel_harness as H  # noqa: E402

H.install_kernelspec()


def result(outs):
    for m in outs:
        if m["msg_type"] == "execute_result":
            return m["content"]["data"]
    return None


def stream(outs, name="stdout"):
    return "".join(m["content"]["text"] for m in outs
                   if m["msg_type"] == "stream" and m["content"]["name"] == name)


class HostTests(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.km, cls.kc = H.start_kernel()
        reply, _ = H.execute(cls.kc, "task = mgv.data.synth{per_class = 4}\n"
                                     "model = mgv.model{words = task.words, hidden = 16, heads = 2, "
                                     "experts = 2, proj = 16}", timeout=H.scaled(60))
        assert reply["content"]["status"] == "ok", reply

    @classmethod
    def tearDownClass(cls):
        cls.kc.stop_channels()
        cls.km.shutdown_kernel(now=True)

    def run_cell(self, code):
        reply, outs = H.execute(self.kc, code, timeout=H.scaled(60))
        return reply["content"], outs

    def test_statement_then_expression(self):
        for code, want in [("x = 1; x", "1"), ("y = 2\ny * 3", "6"), ("return 5", "5"),
                           ("a = {1}; a[1] = 'x;y'; a[1]", "x;y"),
                           ("local s = 'a;b' -- c;d\nreturn s", "a;b")]:
            _, outs = self.run_cell(code)
            self.assertEqual((result(outs) or {}).get("text/plain"), want, code)

    def test_trailing_semicolon_silences(self):
        for code in ["6 * 7;", "x = 1; x;", "return 5;"]:
            r, outs = self.run_cell(code)
            self.assertEqual(r["status"], "ok", code)
            self.assertIsNone(result(outs), code)

    def test_tables_through_the_inspector(self):
        _, outs = self.run_cell("t = {a = 1, b = {2, 3}}; t")
        self.assertEqual(result(outs)["text/plain"], "{a = 1, b = {2, 3}}")
        self.assertNotIn("0x", result(outs)["text/plain"])

    def test_html_beside_text(self):
        _, outs = self.run_cell("mgv.ones(2, 3)")
        data = result(outs)
        self.assertTrue(data["text/plain"].startswith("tensor([[1, 1, 1],"), data["text/plain"])
        self.assertIn("<table><caption>tensor shape=[2x3]</caption>", data["text/html"])
        self.assertEqual(data["text/html"].count("<td"), 6)
        _, outs = self.run_cell("mgv.randn(100, 50)")   # summarised: 20 rows of 10 shown
        html = result(outs)["text/html"]
        self.assertEqual(html.count('<td style="text-align:right">'), 20 * 11)
        _, outs = self.run_cell("model")
        data = result(outs)
        self.assertIn("MG-VMoE model", data["text/plain"])
        self.assertIn("<th style=\"text-align:left\">parameters</th>", data["text/html"])
        _, outs = self.run_cell("model:route(task.test, 1)")
        self.assertIn("<table>", result(outs)["text/html"])
        _, outs = self.run_cell("{1, 2}")
        self.assertNotIn("text/html", result(outs))   # plain tables: text only

    def test_magics(self):
        r, outs = self.run_cell("%time 6 * 7")
        self.assertEqual(r["status"], "ok")
        self.assertRegex(stream(outs), r"^Wall time: [0-9.]+ (ns|µs|ms|s)\n$")
        self.assertEqual(result(outs)["text/plain"], "42")
        _, outs = self.run_cell("%timeit local s = 0 for i = 1, 10 do s = s + i end")
        self.assertRegex(stream(outs), r"^[0-9.]+ (ns|µs|ms|s) ± [0-9.]+ (ns|µs|ms|s) per loop "
                                       r"\(mean ± std\. dev\. of [1-7] runs?, \d+ loops? each\)\n$")
        self.run_cell("w = mgv.zeros(3, 4)")
        _, outs = self.run_cell("%who")
        who = stream(outs)
        self.assertRegex(who, r"\nw +Tensor +shape=\[3x4\]\n")
        self.assertRegex(who, r"\nmodel +Model +MG-VMoE model")
        self.assertNotIn("print", who)
        r, outs = self.run_cell("%nosuch 1")
        self.assertEqual(r["status"], "error")
        self.assertIn("unknown magic %nosuch", r["evalue"])
        r, outs = self.run_cell("%time 1 +")
        self.assertEqual(r["status"], "error")

    def page(self, code):
        r, outs = self.run_cell(code)
        self.assertEqual(r["status"], "ok", code)
        return r["payload"][0]["data"]["text/plain"], outs

    def test_help_by_value_and_source(self):
        self.run_cell("t = mgv.zeros(2)\nout = model:forward(task.test, {1, 2})")
        self.assertTrue(self.page("?t")[0].startswith("mgv.Tensor"))
        self.assertTrue(self.page("?out.gate_text")[0].startswith("mgv.Tensor"))
        self.assertTrue(self.page("?model")[0].startswith("mgv.Model"))
        text, outs = self.page("?print('never printed')")
        self.assertIn("print: a function of the Lua standard library", text)
        self.assertEqual(stream(outs), "")
        self.assertTrue(self.page("?display")[0].startswith("display(obj [, id])"))
        self.assertTrue(stream(self.run_cell("mgv.help 'gates'")[1]).startswith("mgv.plot.gates("))
        self.run_cell("function twice(v)\n  -- doubles\n  return 2 * v\nend")
        text, _ = self.page("??twice")
        self.assertRegex(text, r"^-- In\[\d+\]:1\nfunction twice\(v\)\n  -- doubles\n  return 2 \* v\nend$")
        text, _ = self.page("??mgv.predict")
        self.assertIn("function M.predict(model, ds, opts)", text)
        text, _ = self.page("??mgv.zeros")
        self.assertIn("(no Lua source: a C function)", text)

    def test_completion(self):
        for code, want in [("model:tr", "model:train_step"), ("x = task.test:cl", "task.test:classes"),
                           ("mgv.ze", "mgv.zeros")]:
            c = H.shell_reply(self.kc, self.kc.complete(code), H.scaled(20))["content"]
            self.assertIn(want, c["matches"], code)
            self.assertEqual(c["cursor_end"] - c["cursor_start"], len(code.split(" ")[-1]))
        d = tempfile.mkdtemp()
        open(os.path.join(d, "probe_data.json"), "w").close()
        os.mkdir(os.path.join(d, "probe_dir"))
        code = 'f = io.open("%s/probe_' % d
        c = H.shell_reply(self.kc, self.kc.complete(code), H.scaled(20))["content"]
        self.assertEqual(c["matches"], [d + "/probe_data.json", d + "/probe_dir/"])
        self.assertEqual(c["cursor_start"], code.index('"') + 1)
        kinds = [t["type"] for t in c["metadata"]["_jupyter_types_experimental"]]
        self.assertEqual(kinds, ["file", "directory"])

    def test_display_order(self):
        _, outs = self.run_cell("display('one', 'box')\nupdate_display('two', 'box')")
        shown = [m for m in outs if m["msg_type"] not in ("status", "execute_input")]
        kinds = [(m["msg_type"], m["content"].get("transient")) for m in shown]
        self.assertEqual(kinds, [("display_data", {"display_id": "box"}),
                                 ("update_display_data", {"display_id": "box"})])
        self.assertEqual(shown[1]["content"]["data"]["text/plain"], "two")
        _, outs = self.run_cell("update_display('box', 'three')")   # the old order
        upd = [m for m in outs if m["msg_type"] == "update_display_data"][0]["content"]
        self.assertEqual((upd["transient"]["display_id"], upd["data"]["text/plain"]), ("box", "three"))
        self.assertIn("update_display(id, obj) is deprecated", stream(outs, "stderr"))
        _, outs = self.run_cell("update_display('box', mgv.ones(2))")   # warned once only
        self.assertEqual(stream(outs, "stderr"), "")
        upd = [m for m in outs if m["msg_type"] == "update_display_data"][0]["content"]
        self.assertIn("text/html", upd["data"])
        r, _ = self.run_cell("update_display('x')")
        self.assertEqual(r["status"], "error")

    def test_numbered_tracebacks(self):
        r, _ = self.run_cell("local a = 1\nerror('boom')")
        n = r["execution_count"]
        self.assertEqual(r["evalue"], "In[%d]:2: boom" % n)
        self.run_cell("function bad() error('deep') end")
        m = r["execution_count"] + 1
        r, outs = self.run_cell("bad()")
        self.assertEqual(r["evalue"], "In[%d]:1: deep" % m)
        tb = "\n".join(r["traceback"])
        self.assertIn("In[%d]:1: in function 'bad'" % m, tb)

    def test_progress_ends_done(self):
        _, outs = self.run_cell("r = mgv.train(model, task, {epochs = 1, quiet = true})")
        lines = [m["content"]["data"]["text/plain"] for m in outs
                 if m["msg_type"] in ("display_data", "update_display_data")]
        self.assertTrue(lines)
        self.assertRegex(lines[-1], r"^validate done: (\d+)/\1 in ")


if __name__ == "__main__":
    sys.exit(H.run(HostTests))
