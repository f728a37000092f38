#!/usr/bin/python3
"""test_repl.py — drives bin/mgv's REPL under a pseudo-terminal as a person would.

Printing of values, multi-line input, tab completion, errors that leave the
session going, Ctrl-C in a busy Lua loop and during training (the state
survives), Ctrl-C / Ctrl-D at the prompt, history across two sessions with
Ctrl-R, and help / ?x; also the start-up check of $MGV_SIMD (bin/mgv and
bin/mgv-kernel refuse a path the CPU lacks, or an unknown name). Uses python3-pexpect only (no torch, no numpy); HOME
and MGV_HISTORY point into a temporary directory. The binary is $MGV_BIN
(default build/mgv). Prints "PASS name" / "FAIL name: why" lines.
"""
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import traceback

import pexpect

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
MGV = os.path.abspath(os.environ.get("MGV_BIN") or os.path.join(ROOT, "build", "mgv"))
SLOW = os.environ.get("SANITIZE") == "1" or "san" in os.path.basename(os.path.dirname(MGV))
T = 120 if SLOW else 30          # generous: a timeout only costs time when something is wrong
PROMPT = "mgv> "
# a fresh prompt: at the start of a line (readline redraws "mgv> text" in place
# after a completion listing or a search; those must not count)
PROMPT_RE = r"\n(?:\x1b\[[0-9;?]*[A-Za-z]|\r)*mgv> "
MORE = "...> "
ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]|\x1b[()][A-Z0-9]|\x1b[=>]|\r|\x07")

TMP = tempfile.mkdtemp(prefix="mgv-repl-")
HOME = os.path.join(TMP, "home")
os.makedirs(HOME)
HIST = os.path.join(TMP, "history")
failed = 0


def clean(s):
    return ANSI.sub("", s)


def spawn(**extra):
    env = dict(os.environ, HOME=HOME, MGV_HISTORY=HIST, TERM="xterm", INPUTRC="/dev/null",
               OPENBLAS_NUM_THREADS=os.environ.get("OPENBLAS_NUM_THREADS", "2"))
    env.update(extra)
    c = pexpect.spawn(MGV, [], env=env, encoding="utf-8", timeout=T, dimensions=(50, 200),
                      cwd=TMP)
    c.expect(PROMPT_RE)
    return c


def ask(c, line, prompt=PROMPT):
    """Sends one line; returns what was printed between its echo and the next prompt."""
    c.send(line + "\r")
    if prompt == PROMPT:
        c.expect(PROMPT_RE)
    else:
        c.expect_exact(prompt)
    out = clean(c.before)
    return out.split("\n", 1)[1] if "\n" in out else ""


def check(cond, msg):
    if not cond:
        raise AssertionError(msg)


def test(name, fn):
    global failed
    try:
        fn()
        print("PASS " + name)
    except Exception as e:   # noqa: BLE001 — any failure is a FAIL line
        failed += 1
        detail = str(e) if isinstance(e, AssertionError) else traceback.format_exc(limit=2)
        print("FAIL %s: %s" % (name, detail.strip().replace("\n", "\n    ")))
    sys.stdout.flush()


# ---- one long session for most things --------------------------------------------

s = spawn()


def t_values():
    check(ask(s, "6*7").strip() == "42", "6*7")
    check(ask(s, '1, "a", nil').strip() == "1\ta\tnil", "several results")
    check(ask(s, "6*7;").strip() == "", "a trailing ; silences")
    check(ask(s, "x = 5").strip() == "", "a statement prints nothing")
    check(ask(s, "x").strip() == "5", "x")
    check(ask(s, "print('hi')").strip() == "hi", "print")


def t_tables():
    out = ask(s, "{1, 2, a = {b = 'c'}, [10] = true}").strip()
    check(out == '{1, 2, [10] = true, a = {b = "c"}}', "nested table: " + out)
    ask(s, "cyc = {name = 'loop'}; cyc.self = cyc")
    out = ask(s, "cyc").strip()
    check(out == '{name = "loop", self = <cycle>}', "cycle: " + out)
    ask(s, "deep = {a = {b = {c = {d = {e = 1}}}}}")
    out = ask(s, "deep").strip()
    check("{...}" in out, "depth limit: " + out)
    ask(s, "long = {} for i = 1, 500 do long[i] = i end")
    out = ask(s, "long")
    check("more)" in out and len(out) < 2000, "length limit: " + out[:200])
    out = ask(s, "mgv.zeros(1000, 1000)")
    check("shape=[1000x1000]" in out and "..." in out and len(out) < 2000,
          "a big tensor is summarised: " + out[:300])
    out = ask(s, "{w = mgv.zeros(300, 2), b = mgv.ones(2)}").strip()
    check("w = tensor(shape=[300x2])" in out and "b = tensor([1, 1], shape=[2])" in out,
          "tensors inside tables: " + out)


def t_multiline():
    c = s
    c.send("function add(a, b)\r")
    c.expect_exact(MORE)
    c.send("  return a + b\r")
    c.expect_exact(MORE)
    out = ask(c, "end")
    check(out.strip() == "", "definition prints nothing: " + out)
    check(ask(c, "add(2, 3)").strip() == "5", "the function works")
    c.send("{1,\r")
    c.expect_exact(MORE)
    check(ask(c, "2}").strip() == "{1, 2}", "a multi-line expression")
    c.send("for i = 1, 2 do\r")
    c.expect_exact(MORE)
    out = ask(c, "print('row', i) end")
    check("row\t1" in out and "row\t2" in out, "a multi-line loop: " + out)


def t_completion():
    c = s
    c.send("mgv.ze\t")
    c.expect_exact("zeros")
    check(ask(c, "(1)").strip() == "tensor([0], shape=[1])", "mgv.ze<TAB> -> mgv.zeros")
    ask(c, "t = mgv.ones(2, 3)")
    c.send("t:res\t")
    c.expect_exact("reshape")
    out = ask(c, "(3, 2)")
    check("shape=[3x2]" in out, "t:res<TAB> -> t:reshape: " + out)
    # a listing shows the names without the path
    c.send("mgv.optim.\t\t")
    c.expect(r"adam\s+adamw\s+clip_grad_norm\s+sgd")
    time.sleep(0.3)  # let readline finish redrawing before the interrupt
    c.sendintr()     # drop the half-typed line
    c.expect_exact("^C")
    c.expect(PROMPT_RE)
    check(ask(c, "1 + 1").strip() == "2", "the line was cleared")
    # an __index that loops forever cannot hang the prompt (an instruction budget)
    ask(c, "loopy = setmetatable({}, {__index = function() while true do end end})")
    c.send("loopy.x.\t")
    c.expect_exact("\x07")     # the bell: no matches
    time.sleep(0.3)
    c.sendintr()
    c.expect_exact("^C")
    c.expect(PROMPT_RE)
    check(ask(c, "2 + 2").strip() == "4", "completion of a looping __index returned")


def t_model_completion_and_printing():
    ask(s, "task = mgv.data.synth{per_class = 8, classes = 30}")
    ask(s, "model = mgv.model{words = task.words}")
    out = ask(s, "model")
    check("MG-VMoE model" in out and "parameters:" in out, "model prints its layers: " + out)
    s.send("model:train_s\t")
    s.expect_exact("train_step")
    out = ask(s, "(task.train, {1, 2, 3, 4}).loss > 0")
    check(out.strip() == "true", "model:train_s<TAB> -> model:train_step: " + out)
    s.send("task.train:cla\t")
    s.expect_exact("classes")
    out = ask(s, "()[1]")
    check(out.strip() != "" and "error" not in out, "Dataset method completion: " + out)
    out = ask(s, "task.train")
    check("Dataset: 80 instances, 10 classes" in out, "a data set prints: " + out)


def t_errors():
    out = ask(s, 'error("boom")')
    check(re.search(r"stdin:\d+:1: boom", out) and "traceback" not in out, "a plain error: " + out)
    out = ask(s, "local function inner() error('deep') end inner()")
    check("deep" in out and "stack traceback:" in out and "inner" in out,
          "a short traceback: " + out)
    check("[C]: in ?" not in out, "no noise frames: " + out)
    out = ask(s, "mgv.zeros(2, 3):matmul(mgv.zeros(4, 5))")
    check("matmul: shapes [2x3] and [4x5] do not fit" in out, "engine error: " + out)
    out = ask(s, "x = = 1")
    check(re.search(r"stdin:\d+:1:", out) and "near" in out, "syntax error: " + out)
    out = ask(s, "nil + 1")
    check("attempt to perform arithmetic" in out, "runtime error: " + out)
    check(ask(s, "x").strip() == "5", "the state survives errors")


def t_interrupt_loop():
    ask(s, "n = 0")
    s.send("print('looping') while true do n = n + 1 end\r")
    s.expect_exact("looping")
    time.sleep(0.2)
    s.sendintr()
    s.expect_exact("interrupted!")
    s.expect(PROMPT_RE)
    check(ask(s, "n > 0").strip() == "true", "the loop ran")
    check(ask(s, "x").strip() == "5", "globals survive")


def t_interrupt_training():
    s.send("r = mgv.train(model, task, {epochs = 50, patience = 100})\r")
    s.expect(r"epoch +2 +loss")     # the second epoch's log line
    s.sendintr()
    s.expect(r"training interrupted in epoch (\d+) of 50; best epoch (\d+) restored")
    epoch, best = int(s.match.group(1)), int(s.match.group(2))
    s.expect(PROMPT_RE)
    check(epoch >= 3 and 1 <= best < epoch, "interrupted in epoch %d, best %d" % (epoch, best))
    out = ask(s, "r.interrupted, #r.history, r.best_epoch")
    check(out.strip() == "true\t%d\t%d" % (epoch - 1, best) or
          out.strip() == "true\t%d\t%d" % (epoch, best), "the partial result: " + out)
    out = ask(s, "mgv.evaluate(model, task.val).macro_f1 == r.val_macro_f1, "
                 "r.val_macro_f1 == r.history[r.best_epoch].val_macro_f1")
    check(out.strip().endswith("true\ttrue"), "the model holds the best epoch's weights: " + out)
    out = ask(s, "model:train_step(task.train, {1, 2, 3, 4}).loss > 0")
    check(out.strip() == "true", "the model still trains: " + out)
    check(ask(s, "x, add(1, 1)").strip() == "5\t2", "the session's state is intact")


def t_help():
    out = ask(s, "?zeros")
    check("mgv.zeros(d1, d2, ...)" in out and "Example:" in out, "?zeros: " + out)
    out = ask(s, "help(mgv.ones)")
    check("mgv.ones(" in out, "help(mgv.ones): " + out)
    out = ask(s, "?model:train_step")
    check("model:train_step(ds, indices)" in out, "?model:train_step: " + out)
    out = ask(s, "?task.train")
    check("mgv.Dataset" in out, "?task.train: " + out)
    out = ask(s, "?t")
    check("t[i]" in out, "?t (a tensor): " + out)
    out = ask(s, "?nosuchname")
    check("no help for nosuchname" in out, "unknown name: " + out)
    out = ask(s, "?")
    check("module functions" in out, "? lists the topics: " + out[:200])


def t_host():
    # the statement/expression rule the kernel shares (lua/host.lua)
    check(ask(s, "y1 = 1; y1").strip() == "1", "x = 1; x")
    check(ask(s, "tt = {a = 1}; tt").strip() == "{a = 1}", "t = {a=1}; t")
    check(ask(s, "y1;").strip() == "", "a trailing ; silences")
    check(ask(s, "return 4").strip() == "4", "return 4")
    check(ask(s, "s1 = 'a;b'; s1").strip() == "a;b", "a ; inside a string does not split")
    # %magics: never Lua
    out = ask(s, "%time 6 * 7")
    check(re.match(r"Wall time: [0-9.]+ (ns|µs|ms|s)\n42$", out.strip()), "%time: " + out)
    out = ask(s, "%timeit y1 + 1")
    check(re.match(r"[0-9.]+ (ns|µs|ms|s) ± [0-9.]+ (ns|µs|ms|s) per loop \(mean ± std\. dev\. of "
                   r"[1-7] runs?, \d+ loops? each\)$", out.strip()), "%timeit: " + out)
    ask(s, "wt = mgv.zeros(2, 5)")
    out = ask(s, "%who")
    check(re.search(r"\nwt +Tensor +shape=\[2x5\]\n", out) and re.search(r"\ny1 +number +1(\n|$)", out)
          and "print" not in out, "%who: " + out)
    out = ask(s, "%bogus")
    check("unknown magic %bogus" in out, "unknown magic: " + out)
    # help by value, no calls; ??source
    out = ask(s, "?wt")
    check(out.startswith("mgv.Tensor"), "?wt (a tensor): " + out)
    out = ask(s, "?print('never')")
    check("a function of the Lua standard library" in out and "never" not in out, "?print(...): " + out)
    out = ask(s, "?display")
    check(out.startswith("display(obj [, id])"), "?display: " + out)
    out = ask(s, "mgv.help 'gates'")
    check(out.startswith("mgv.plot.gates("), "search by substring: " + out)
    out = ask(s, "??add")
    check(re.match(r"-- stdin:\d+:1\nfunction add\(a, b\)\n  return a \+ b\nend$", out.strip()),
          "??add: " + out)
    # display / update_display print the text form; the old order warns once
    check(ask(s, "display(mgv.ones(2))").strip() == "tensor([1, 1], shape=[2])", "display")
    check(ask(s, "display('v1', 'box')").strip() == "v1", "display with an id")
    out = ask(s, "update_display('box', 'v2')")
    check("deprecated" in out and out.strip().endswith("v2"), "old order: " + out)
    out = ask(s, "update_display('box', 'v3')")
    check(out.strip() == "v3", "warned once: " + out)
    check(ask(s, "update_display('v4', 'box')").strip() == "v4", "IPython's order")
    # tracebacks name the inputs by number
    out1 = ask(s, "error('first')")
    out2 = ask(s, "error('second')")
    n1 = re.search(r"stdin:(\d+):1: first", out1)
    n2 = re.search(r"stdin:(\d+):1: second", out2)
    check(n1 and n2 and int(n2.group(1)) == int(n1.group(1)) + 1, "numbered inputs: %r %r" % (out1, out2))
    # file names inside a string
    open(os.path.join(TMP, "probe_file.txt"), "w").close()
    s.send('pf = io.open("probe_fi\t')
    s.expect_exact("probe_file.txt")
    out = ask(s, '"); pf ~= nil')
    check(out.strip() == "true", "file completion: " + out)
    ask(s, "pf:close()")
    os.remove(os.path.join(TMP, "probe_file.txt"))


def t_prompt_keys():
    s.send("abc")
    s.expect_exact("abc")
    s.sendintr()
    s.expect(PROMPT_RE)
    check(ask(s, "2 + 2").strip() == "4", "Ctrl-C cleared the line")
    # Ctrl-C in a continuation drops the whole chunk
    s.send("function broken(\r")
    s.expect_exact(MORE)
    s.sendintr()
    s.expect(PROMPT_RE)
    check(ask(s, "3 + 3").strip() == "6", "Ctrl-C left the continuation")
    # Ctrl-C on an empty line explains and does not exit
    s.sendintr()
    s.expect(r"to exit press Ctrl-C again or Ctrl-D.*will be lost")
    s.expect(PROMPT_RE)
    check(ask(s, "4 + 4").strip() == "8", "still running after one Ctrl-C")
    # Ctrl-D on an empty line with work done asks first
    s.sendeof()
    s.expect(r"press Ctrl-D again to exit.*will be lost")
    s.expect(PROMPT_RE)
    check(s.isalive(), "one Ctrl-D does not exit")
    check(ask(s, "x").strip() == "5", "still the same session")
    s.sendeof()
    s.expect_exact("press Ctrl-D again")
    s.expect(PROMPT_RE)
    s.sendeof()
    s.expect(pexpect.EOF)
    s.close()
    check(s.exitstatus == 0, "exit status %r (signal %r)" % (s.exitstatus, s.signalstatus))


for name, fn in [("expressions, results, statements", t_values),
                 ("tables print nested and bounded", t_tables),
                 ("multi-line input", t_multiline),
                 ("tab completion", t_completion),
                 ("model and data set: printing and method completion",
                  t_model_completion_and_printing),
                 ("errors print and the session goes on", t_errors),
                 ("Ctrl-C interrupts a busy Lua loop", t_interrupt_loop),
                 ("Ctrl-C interrupts training: the partial result, best weights", t_interrupt_training),
                 ("help(x) and ?x", t_help),
                 ("the host shared with the kernel: values, magics, help, display", t_host),
                 ("Ctrl-C / Ctrl-D at the prompt", t_prompt_keys)]:
    test(name, fn)
if s.isalive():
    s.terminate(force=True)


# ---- history -------------------------------------------------------------------------

def t_history():
    if os.path.exists(HIST):
        os.remove(HIST)
    a = spawn()
    ask(a, "hist_marker = 12345")
    ask(a, "other = 1")
    a.sendeof()                       # nothing lost yet?  it ran code: asks first
    a.expect_exact("press Ctrl-D again")
    a.sendeof()
    a.expect(pexpect.EOF)
    a.close()
    check(os.path.exists(HIST), "no history file")
    lines = open(HIST).read().splitlines()
    check("hist_marker = 12345" in lines, "history file: %r" % lines)
    b = spawn()
    b.send("\x1b[A\x1b[A")            # Up twice: the marker line
    b.expect_exact("hist_marker = 12345")
    b.sendintr()
    b.expect(PROMPT_RE)
    b.send("\x12marker")              # Ctrl-R
    b.expect_exact("reverse-i-search")
    out = ask(b, "")                  # Enter runs the found line
    check(ask(b, "hist_marker").strip() == "12345", "Ctrl-R found and ran it: " + out)
    b.sendeof()
    b.expect_exact("press Ctrl-D again")
    b.sendeof()
    b.expect(pexpect.EOF)
    b.close()


def t_history_multiline():
    # a multi-line entry with a comment comes back whole after a restart
    path = os.path.join(TMP, "ml_history")
    c = spawn(MGV_HISTORY=path)
    c.send("for i = 1, 2 do -- a loop; comment\r")
    c.expect_exact(MORE)
    c.send("  print('ml' .. i)\r")
    c.expect_exact(MORE)
    out = ask(c, "end")
    check("ml1" in out and "ml2" in out, "the loop ran: " + out)
    ask(c, "after = 1")
    c.sendeof()
    c.expect_exact("press Ctrl-D again")
    c.sendeof()
    c.expect(pexpect.EOF)
    c.close()
    d = spawn(MGV_HISTORY=path)
    d.send("\x1b[A\x1b[A")          # Up twice: the whole loop
    out = ask(d, "")
    check("ml1" in out and "ml2" in out, "recalled as one entry and ran: " + out)
    d.sendeof()
    d.expect_exact("press Ctrl-D again")
    d.sendeof()
    d.expect(pexpect.EOF)
    d.close()
    os.remove(path)


def t_history_bounded():
    path = os.path.join(TMP, "small_history")
    c = spawn(MGV_HISTORY=path, MGV_HISTORY_SIZE="5")
    for i in range(12):
        ask(c, "v%d = %d" % (i, i))
    c.sendeof()
    c.expect_exact("press Ctrl-D again")
    c.sendeof()
    c.expect(pexpect.EOF)
    c.close()
    lines = [l for l in open(path).read().splitlines() if not re.match(r"#\d+$", l)]
    check(len(lines) == 5 and lines[-1] == "v11 = 11", "bounded history: %r" % lines)


def t_fresh_exit():
    # nothing ran: Ctrl-D leaves at once; an empty MGV_HISTORY writes no file
    c = spawn(MGV_HISTORY="")
    c.sendeof()
    c.expect(pexpect.EOF)
    c.close()
    check(c.exitstatus == 0, "exit status %r" % c.exitstatus)


def t_simd():
    # --simd-paths lists "path core" lines, best first, ending with generic;
    # each runs, anything else is refused before any work (exit 2)
    kernel = os.environ.get("MGV_KERNEL_BIN") or os.path.join(os.path.dirname(MGV), "mgv-kernel")
    env = dict(os.environ)
    env.pop("MGV_SIMD", None)
    r = subprocess.run([MGV, "--simd-paths"], env=env, capture_output=True, text=True, timeout=T)
    paths = [line.split() for line in r.stdout.splitlines()]
    check(r.returncode == 0 and paths and paths[-1] == ["generic", "Prescott"] and
          all(len(p) == 2 for p in paths), "--simd-paths: %r" % r.stdout)
    have = ", ".join(p[0] for p in paths)
    for name in ("avx512", "avx2", "generic", "sse9"):
        env["MGV_SIMD"] = name
        r = subprocess.run([MGV, "-e", "print(6 * 7)"], env=env, capture_output=True, text=True,
                           timeout=T)
        if name in have.split(", "):
            check(r.returncode == 0 and r.stdout == "42\n", "%s: %r" % (name, r))
            continue
        why = ("unknown path (this CPU has: %s, or auto)" % have if name == "sse9" else
               "this CPU has no %s (it has: %s)" % ({"avx512": "AVX-512", "avx2": "AVX2"}[name], have))
        check(r.returncode == 2 and r.stdout == "" and
              r.stderr == "mgv: MGV_SIMD=%s: %s\n" % (name, why), "%s: %r" % (name, r))
        r = subprocess.run([kernel, "--version"], env=env, capture_output=True, text=True, timeout=T)
        check(r.returncode == 2 and r.stderr == "mgv-kernel: MGV_SIMD=%s: %s\n" % (name, why),
              "kernel, %s: %r" % (name, r))


test("history across two sessions, Ctrl-R", t_history)
test("history keeps multi-line entries whole", t_history_multiline)
test("history is bounded (MGV_HISTORY_SIZE)", t_history_bounded)
test("Ctrl-D in a fresh session exits at once", t_fresh_exit)
test("MGV_SIMD: the paths, a refused path", t_simd)

shutil.rmtree(TMP, ignore_errors=True)
print("%s" % ("all passed" if failed == 0 else "%d failed" % failed))
sys.exit(1 if failed else 0)
