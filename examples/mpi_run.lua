-- mpi_run.lua — starts the main job on several ranks as a subprocess and
-- follows its progress, line by line, until it ends (from a script, the REPL
-- or a notebook cell; the run itself is `mpirun -np N bin/mgv
-- examples/zeroshot.lua ...`, README "Several processes").
--
--   bin/mgv examples/mpi_run.lua [-np N] [zeroshot.lua options]
--
-- In a notebook cell:
--   arg = {"-np", "2", "--task", "synth", "--epochs", "3"}
--   dofile("examples/mpi_run.lua")
--
-- Defaults: 2 ranks, --task synth --seed 0 --epochs 3. The binary is $MGV_BIN,
-- else bin/mgv next to this folder, else mgv on PATH. An error when the run
-- fails (its status).

local args = arg or {}
local np, rest = 2, {}
local i = 1
while i <= #args do
  if args[i] == "-np" then
    np = math.tointeger(tonumber(args[i + 1] or "")) or error("mpi_run: -np needs a number")
    i = i + 2
  else
    rest[#rest + 1] = args[i]
    i = i + 1
  end
end
if #rest == 0 then rest = { "--task", "synth", "--seed", "0", "--epochs", "3" } end

local function quote(s) return "'" .. tostring(s):gsub("'", "'\\''") .. "'" end
local here = (debug.getinfo(1, "S").source:match("^@(.*)/[^/]*$") or "."):gsub("/?examples$", "")
if here == "" then here = "." end
local bin = os.getenv("MGV_BIN") or (here .. "/bin/mgv")
local f = io.open(bin, "rb")
if f then f:close() else bin = "mgv" end   -- installed: the one on PATH
local p = io.popen("id -u")
local root = p:read("l") == "0"
p:close()
local words = {}
for _, a in ipairs(rest) do words[#words + 1] = quote(a) end
-- the ranks share this machine's cores: one engine thread each unless set
local threads = os.getenv("MGV_NUM_THREADS") or "1"
local log = os.tmpname()
-- (Open MPI's options: ranks may outnumber cores, and yield them while they wait)
os.execute(string.format("(mpirun %s--oversubscribe --mca mpi_yield_when_idle 1 -np %d " ..
  "-x MGV_NUM_THREADS=%s %s %s %s >%s 2>&1; " ..
  "echo \"mpi_run: exit $?\" >>%s) &", root and "--allow-run-as-root " or "", np, threads,
  quote(bin), quote(here .. "/examples/zeroshot.lua"), table.concat(words, " "), quote(log),
  quote(log)))

-- follow the log: print each complete line as it appears
local seen, status, pending = 0, nil, ""
while not status do
  local f = io.open(log, "rb")
  if f then
    f:seek("set", seen)
    local chunk = f:read("a") or ""
    f:close()
    seen = seen + #chunk
    pending = pending .. chunk
    for line in pending:gmatch("([^\n]*)\n") do
      local code = line:match("^mpi_run: exit (%d+)$")
      if code then status = tonumber(code) else print(line) end
    end
    pending = pending:match("([^\n]*)$")
  end
  if not status then os.execute("sleep 0.3") end
end
os.remove(log)
if status ~= 0 then error(string.format("mpi_run: the %d-rank run failed (status %d)", np, status)) end
print(string.format("mpi_run: the %d-rank run finished", np))
