"""test_train_interrupt.py - Ctrl-C during mgv.train returns the partial
result with the best weights restored; training leaves no files behind.

bin/mgv runs a training script with SIGINT sent at different moments (inside
training steps, inside validation, between epochs); each time the script
must go on with r.interrupted == true, the history so far, the best epoch,
and the model holding exactly the best epoch's weights (or the weights from
before training when no epoch was validated). A training that fails with an
error exits 1 with the message. The main job, interrupted, tests the best
epoch, writes JSON that says "interrupted" and exits with 130. Each run has
its own empty TMPDIR, which must be empty afterwards (also with --out DIR,
which then holds only best.safetensors and last.safetensors).
Standard library only. Prints PASS/FAIL lines for tests/run.sh.
"""
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time

ROOT = os.environ.get("MGV_ROOT") or os.path.abspath(
    os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
MGV = os.environ.get("MGV_BIN") or os.path.join(ROOT, "build", "mgv")
SLOW = os.environ.get("SANITIZE") == "1" or "build-san" in MGV
T = 600 if SLOW else 120

SCRIPT = r"""
local task = mgv.data.synth{seed = 1, per_class = 12, classes = 30}
local model = mgv.model{words = task.words, task = "met", hidden = 32, heads = 2, experts = 4,
                        proj = 32, seed = 2}
local function weights()
  local s = {}
  mgv.no_grad(function() for k, p in pairs(model:parameters()) do s[k] = p:clone() end end)
  return s
end
local function differ(snap)
  local worst = 0
  for k, p in pairs(model:parameters()) do
    local d = p - snap[k]
    worst = math.max(worst, d:max():item(), (-d):max():item())
  end
  return worst
end
local at = {[0] = weights()}
local mode = arg[1]
print("training") io.stdout:flush()
local r = mgv.train(model, task, {epochs = 400, patience = 400, on_epoch = function(info)
  at[info.epoch] = weights()
  if mode == "fail" and info.epoch == 2 then error("on_epoch failed on purpose") end
end})
local v = mgv.evaluate(model, task.val)
io.write(mgv.json.encode{interrupted = r.interrupted, epochs = #r.history, best_epoch = r.best_epoch,
  val_macro_f1 = r.val_macro_f1, recorded = r.history[r.best_epoch] and r.history[r.best_epoch].val_macro_f1,
  now_macro_f1 = v.macro_f1, diff = at[r.best_epoch] and differ(at[r.best_epoch])}, "\n")
"""

fails = 0


def report(ok, name, detail=""):
    global fails
    if ok:
        print("PASS " + name)
    else:
        fails += 1
        print("FAIL %s: %s" % (name, detail))
    sys.stdout.flush()


class Run:
    """bin/mgv with its own TMPDIR; stdout collected line by line."""

    def __init__(self, args, tmpdir, cwd):
        env = dict(os.environ, TMPDIR=tmpdir, OPENBLAS_NUM_THREADS="1")
        self.lines = []
        self.p = subprocess.Popen([MGV] + args, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                  text=True, env=env, cwd=cwd)
        self.t = threading.Thread(target=self._read, daemon=True)
        self.t.start()

    def _read(self):
        for line in self.p.stdout:
            self.lines.append(line)

    def wait_for(self, text, timeout):
        end = time.time() + timeout
        while time.time() < end and self.p.poll() is None:
            if any(text in l for l in self.lines):
                return True
            time.sleep(0.005)
        return any(text in l for l in self.lines)

    def finish(self):
        try:
            self.p.wait(T)
        except subprocess.TimeoutExpired:
            self.p.kill()
            self.p.wait()
        self.t.join(5)
        err = self.p.stderr.read()
        self.p.stderr.close()
        return self.p.returncode, "".join(self.lines), err


def main():
    tmp = tempfile.mkdtemp(prefix="mgv-train-int-")
    try:
        script = os.path.join(tmp, "train.lua")
        with open(script, "w") as f:
            f.write(SCRIPT)

        def fresh(name):
            d = os.path.join(tmp, name)
            os.makedirs(d)
            return d

        # one epoch's length, to spread the interrupts over an epoch
        tdir = fresh("tmp-calib")
        run = Run([script], tdir, tmp)
        ok = run.wait_for("epoch  2 ", T)
        t0 = time.time()
        ok = ok and run.wait_for("epoch  4 ", T)
        epoch_s = (time.time() - t0) / 2
        run.p.send_signal(signal.SIGINT)
        run.finish()
        if not ok:
            report(False, "the training script runs", "no epoch lines")
            return 1

        # interrupts at moments spread over an epoch (steps, validation, the end),
        # and one before the first epoch ends
        problems, kinds = [], {"no epoch": 0, "later": 0}
        delays = [(None, 0.3 * epoch_s)] + [("epoch  %d " % (2 + k % 3), epoch_s * k / 7.0)
                                            for k in range(7)]
        for i, (after, delay) in enumerate(delays):
            tdir = fresh("tmp-int-%d" % i)
            run = Run([script], tdir, tmp)
            run.wait_for(after or "training", T)
            time.sleep(delay)
            run.p.send_signal(signal.SIGINT)
            rc, out, err = run.finish()
            try:
                r = json.loads(out.strip().splitlines()[-1])
            except (ValueError, IndexError):
                problems.append("run %d: exit %s, no result line: %s %s" % (i, rc, out[-300:], err[-500:]))
                continue
            why = []
            if rc != 0:
                why.append("exit %s" % rc)
            if r.get("interrupted") is not True:
                why.append("interrupted is %r" % r.get("interrupted"))
            if "training interrupted in epoch" not in err:
                why.append("no line on stderr: %r" % err[-300:])
            if not (0 <= r["best_epoch"] <= r["epochs"]):
                why.append("best epoch %d of %d" % (r["best_epoch"], r["epochs"]))
            if r["best_epoch"] > 0 and abs(r["val_macro_f1"] - r["recorded"]) > 1e-12:
                why.append("val_macro_f1 %r is not the best epoch's %r" % (r["val_macro_f1"], r["recorded"]))
            if r["best_epoch"] > 0 and abs(r["now_macro_f1"] - r["val_macro_f1"]) > 1e-9:
                why.append("the model scores %r, its best epoch %r" % (r["now_macro_f1"], r["val_macro_f1"]))
            if r.get("diff") is not None and r["diff"] != 0:
                why.append("weights differ from the best epoch's by %g" % r["diff"])
            if r["best_epoch"] == 0 and r.get("diff") != 0:
                why.append("no epoch validated but the weights are not the initial ones")
            if os.listdir(tdir):
                why.append("left in TMPDIR: %s" % os.listdir(tdir))
            if why:
                problems.append("run %d (%s + %.2fs): %s" % (i, after, delay, "; ".join(why)))
            kinds["no epoch" if r["epochs"] == 0 else "later"] += 1
        report(not problems, "SIGINT during mgv.train (%d moments): the partial result, interrupted "
               "= true, the best epoch's weights, nothing in TMPDIR" % len(delays), "\n  ".join(problems))
        report(kinds["no epoch"] >= 1 and kinds["later"] >= 5,
               "the interrupts landed before the first validation and after several epochs",
               repr(kinds))

        # a failing training: the error, status 1, nothing left
        tdir = fresh("tmp-fail")
        rc, out, err = Run([script, "fail"], tdir, tmp).finish()
        report(rc == 1 and "on_epoch failed on purpose" in err and not os.listdir(tdir),
               "an error in training exits 1 with its message and leaves nothing in TMPDIR",
               "exit %s, TMPDIR %s, stderr %s" % (rc, os.listdir(tdir), err[-300:]))

        # the main job, interrupted, with and without --out
        for out_dir in (None, os.path.join(tmp, "run")):
            tdir = fresh("tmp-main-%s" % bool(out_dir))
            js = os.path.join(tmp, "main-%s.json" % bool(out_dir))
            args = [os.path.join(ROOT, "examples", "zeroshot.lua"), "--task", "synth", "--epochs", "400",
                    "--patience", "400", "--json", js] + (["--out", out_dir] if out_dir else [])
            run = Run(args, tdir, tmp)
            run.wait_for("epoch  2 ", T)
            time.sleep(0.4 * epoch_s)
            run.p.send_signal(signal.SIGINT)
            rc, out, err = run.finish()
            why = []
            if rc != 130:
                why.append("exit %s" % rc)
            try:
                with open(js) as f:
                    r = json.load(f)
                if r.get("interrupted") is not True or r.get("epochs_run", 0) < 2:
                    why.append("JSON interrupted %r epochs_run %r" % (r.get("interrupted"), r.get("epochs_run")))
                if not 1 <= r.get("best_epoch", 0) <= r.get("epochs_run", 0):
                    why.append("JSON best_epoch %r" % r.get("best_epoch"))
            except (OSError, ValueError) as e:
                why.append("no JSON: %s" % e)
            if "training interrupted after" not in out or "training interrupted in epoch" not in err:
                why.append("the output does not say so: %s / %s" % (out[-300:], err[-300:]))
            if os.listdir(tdir):
                why.append("left in TMPDIR: %s" % os.listdir(tdir))
            if out_dir and sorted(os.listdir(out_dir)) != ["best.safetensors", "last.safetensors"]:
                why.append("--out holds %s" % sorted(os.listdir(out_dir)))
            report(not why, "the main job interrupted%s: status 130, JSON says interrupted, nothing in TMPDIR"
                   % (" with --out DIR" if out_dir else ""), "; ".join(why))
    finally:
        shutil.rmtree(tmp, True)
    return 1 if fails else 0


if __name__ == "__main__":
    sys.exit(main())
