#!/bin/sh
# The example scripts run as a newcomer would run them, and the main job
# writes the JSON it promises. Prints PASS/FAIL lines for tests/run.sh.
. "$(dirname "$0")/harness.sh"
check "examples/tour.lua runs" sh -c "$MGV examples/tour.lua | grep -q 'reloaded'"
check "examples/routing.lua writes its pictures" sh -c "$MGV examples/routing.lua $tmp >/dev/null && test -s $tmp/gates.png && test -s $tmp/graph.png && test -s $tmp/history.png"
check "zeroshot.lua --task synth writes the result JSON" sh -c "
  $MGV examples/zeroshot.lua --task synth --seed 1 --epochs 1 --quiet --json $tmp/r.json >/dev/null &&
  $MGV -e '
    local f = assert(io.open(\"$tmp/r.json\")); local r = mgv.json.decode(f:read(\"a\")); f:close()
    for _, k in ipairs{\"macro_f1\", \"micro_f1\", \"macro_p\", \"macro_r\", \"n_test\", \"seconds\"} do
      assert(type(r[k]) == \"number\", k) end
    assert(r.n_test > 0 and #r.test_labels >= 2 and r.task == \"synth\")
    assert(r.macro_f1 >= 0 and r.macro_f1 <= 1)'"
check "zeroshot.lua falls back to the synthetic set without MNRE" sh -c "
  $MGV examples/zeroshot.lua --task mre --data $tmp/none --epochs 1 --quiet --json $tmp/f.json 2>$tmp/err >/dev/null &&
  grep -q 'MNRE not found' $tmp/err && grep -q '\"task\":\"synth\"' $tmp/f.json"
check "zeroshot.lua rejects a bad option with status 2" sh -c "
  $MGV examples/zeroshot.lua --task nope 2>$tmp/e; test \$? -eq 2 && grep -q 'must be mre, met or synth' $tmp/e"
exit $fails
