-- help.lua — the documentation table of the Lua API and mgv.help / mgv.doc.
--
-- One entry per public function: a signature, a paragraph, and an example
-- that runs as written (tests/lua/test_help.lua runs every example and
-- checks that every public function has an entry). Add new entries here,
-- with doc(name, signature, text, example); names are "mgv.f" for module
-- functions, "Tensor:m" for tensor methods, "Optim:m" for optimiser methods,
-- and plain topics ("indexing", "operators", ...).
-- The file is long because it is the table itself (a few lines per public
-- function); the lookup code is the short part at its end.
-- Embedded into the binary; called by luaopen_mgv with (mgv, mgv.Tensor, meta).

local M, Tensor = ...

local docs = {}
local order = {}

-- options: lines listed after the text (one per option)
local function doc(name, sig, text, example, options)
  if not docs[name] then order[#order + 1] = name end
  docs[name] = { sig = sig, text = text, example = example, options = options }
end

-------------------------------------------------------------------------------
-- topics
-------------------------------------------------------------------------------
doc("mgv", "mgv",
  "Float32 n-d tensors with reverse-mode autograd, optimisers and safetensors checkpoints, " ..
  "for the MG-VMoE model. Lua conventions throughout: axes and indices are 1-based, negative " ..
  "ones count from the end (-1 = last), slices are inclusive like string.sub. Errors are Lua " ..
  "errors whose message names the op and the shapes. mgv.help(f) explains f; mgv.help() lists " ..
  "everything.",
  "local x = mgv.randn(3, 4):requires_grad_()\nlocal loss = (x * x):sum()\nloss:backward()\nprint(x.grad)")

doc("indexing", "t[i], t[i] = v",
  "t[i] selects entry i of the first axis: a view tensor (sharing storage) for a tensor with " ..
  "two or more axes, a number for a 1-d tensor. Negative i counts from the end; an index out " ..
  "of range is an error. t[i] = v writes a number (filled), a tensor (broadcast) or a nested " ..
  "table into that entry. #t is the size of the first axis. For one element use t:get(i, j, ...).",
  "local t = mgv.tensor{{1, 2}, {3, 4}}\nprint(t[2])        -- tensor([3, 4], shape=[2])\n" ..
  "print(t[-1][1])    -- 3\nt[1] = 0            -- first row becomes zeros\nt[2] = mgv.tensor{7, 8}")

doc("Tensor", "mgv.Tensor (from mgv.tensor, mgv.zeros, mgv.randn, ...)",
  "An n-d float32 tensor with reverse-mode autograd. Methods: t:shape(), t:numel(), t:dim(), " ..
  "t:get(i, ...), t:set(v, i, ...), t:reshape(...), t:transpose(a, b), t:narrow(...), t:sum(), " ..
  "t:mean(), t:matmul(b), t:softmax(), t:totable(), t:item(), t:clone(), t:copy(src), " ..
  "t:backward(), t:requires_grad_(); fields t.grad, t.requires_grad, t.grad_fn. Indexing " ..
  "(t[i]) and the operators have topics of their own: mgv.help 'indexing', mgv.help " ..
  "'operators'. At the REPL a tensor prints numpy-style, summarised when large; in a notebook " ..
  "it also shows as an HTML table.",
  "local t = mgv.randn(2, 3)\nprint(t:shape()[2], t:sum():item() == t:sum():item())")

doc("display", "display(obj [, id])",
  "Shows obj now, without ending the cell: in a notebook as display_data (text/plain always, " ..
  "text/html for tensors, models, data sets and routing results, image/png for pictures); in " ..
  "bin/mgv its text form is printed. With a display id (a string) update_display(obj2, id) " ..
  "later replaces what was shown. Returns nothing, as IPython's display.",
  "display(mgv.tensor{1, 2}, 'my-id')\nupdate_display(mgv.tensor{3, 4}, 'my-id')")
doc("update_display", "update_display(obj, id)",
  "Replaces the output shown by display(_, id) with obj (in bin/mgv: prints obj's text). The " ..
  "argument order is IPython's, the same as display's; the old order update_display(id, obj) " ..
  "still works and prints a deprecation note once.",
  "display('step 1', 'status')\nupdate_display('step 2', 'status')")
doc("magics", "%time STMT, %timeit STMT, %who, %help [name], ?name, ??name",
  "Lines the REPL and the notebook answer themselves; a line starting with % is never run as " ..
  "Lua. %time runs STMT once and prints the wall time (then its value, as a typed chunk); " ..
  "%timeit runs it in loops of a count chosen so a run takes about 0.2 s and prints the mean " ..
  "and standard deviation per loop over up to 7 runs; %who lists your globals with their " ..
  "types and shapes; %help name is ?name. ?name (or name?) shows the help of a name, looked " ..
  "up by its value first (?t for a tensor t shows the Tensor type, ?model the Model), without " ..
  "calling anything (?print('x') shows print); ??name shows the Lua source of a Lua function. " ..
  "The value of the last expression of a chunk is shown (x = 1; x shows 1; return x shows x); " ..
  "a trailing ; silences it.",
  "-- typed at the prompt: %time mgv.randn(100, 100):sum()\n" ..
  "-- what the front ends do with such a line:\n" ..
  "local kind, run = mgv._host.compile('%time 6 * 7')\nprint(kind, run())   -- run  42")

doc("operators", "a + b, a - b, a * b, a / b, -a, a ^ p",
  "Element-wise arithmetic with numpy broadcasting between tensors, or between a tensor and a " ..
  "number on either side (2 - t, 1 / t). a ^ p raises to a number power. All are recorded for " ..
  "autograd. Matrix product is a:matmul(b).",
  "local a = mgv.tensor{1, 2, 3}\nprint(2 * a + 1)   -- tensor([3, 5, 7], shape=[3])\nprint(1 / a, a ^ 2, -a)")

doc("Tensor.grad", "t.grad",
  "The gradient accumulated into t by backward (a tensor of t's shape), or nil. Assign nil " ..
  "(or use t:zero_grad()) to clear it; gradients accumulate across backward calls otherwise.",
  "local w = mgv.ones(2):requires_grad_()\n;(w * 3):sum():backward()\nprint(w.grad)   -- tensor([3, 3], shape=[2])")

doc("Tensor.requires_grad", "t.requires_grad, t.requires_grad = bool",
  "true when t is a parameter (a leaf whose gradient is wanted) or was computed from one with " ..
  "grad mode on. Assigning makes a leaf a parameter or not; t:requires_grad_() does the same " ..
  "and returns t for chaining. Also t.is_leaf (not computed by an op) and t.grad_fn (the name " ..
  "of the op that computed t, or nil).",
  "local w = mgv.zeros(3)\nw.requires_grad = true\nprint(w.requires_grad, w.is_leaf, (w * 2).grad_fn)")

-------------------------------------------------------------------------------
-- constructors
-------------------------------------------------------------------------------
doc("mgv.tensor", "mgv.tensor(nested_table | number | tensor)",
  "A new tensor from a nested table of numbers (the shape is inferred; ragged tables are an " ..
  "error), a 0-d tensor from a number, or a copy of a tensor's values.",
  "local t = mgv.tensor{{1, 2, 3}, {4, 5, 6}}\nprint(t:shape()[1], t:shape()[2])   -- 2 3\nprint(mgv.tensor(2.5))")

doc("mgv.zeros", "mgv.zeros(d1, d2, ...) | mgv.zeros{d1, d2, ...}",
  "A new tensor of zeros. The shape is given as sizes or as a table; no sizes give a 0-d tensor.",
  "local z = mgv.zeros(2, 3)\nlocal s = mgv.zeros{4}\nprint(z, s)")

doc("mgv.ones", "mgv.ones(d1, d2, ...) | mgv.ones{d1, d2, ...}",
  "A new tensor of ones (shape as for mgv.zeros).",
  "print(mgv.ones(2, 2))")

doc("mgv.full", "mgv.full(shape, value)",
  "A new tensor with every element set to value; shape is a table of sizes or one size.",
  "print(mgv.full({2, 2}, 7), mgv.full(3, 0.5))")

doc("mgv.rand", "mgv.rand(d1, d2, ...) | mgv.rand{...}",
  "Uniform random numbers in [0, 1) from the global generator (see mgv.seed).",
  "mgv.seed(1)\nlocal u = mgv.rand(2, 3)\nprint(u)")

doc("mgv.randn", "mgv.randn(d1, d2, ...) | mgv.randn{...}",
  "Standard normal random numbers from the global generator (see mgv.seed).",
  "mgv.seed(1)\nlocal w = mgv.randn(3, 4):scale(0.1):detach():requires_grad_()\nprint(w)")

doc("mgv.arange", "mgv.arange(n) | mgv.arange(start, stop [, step])",
  "A 1-d tensor of evenly spaced floats: 0, 1, ..., n-1, or start, start+step, ... below stop.",
  "print(mgv.arange(4))         -- tensor([0, 1, 2, 3], shape=[4])\nprint(mgv.arange(1, 2, 0.25))")

doc("mgv.seed", "mgv.seed(n)",
  "Seeds the global random generator used by rand, randn, dropout, uniform_ and normal_: the " ..
  "same seed gives the same numbers.",
  "mgv.seed(42)\nlocal a = mgv.rand(3)\nmgv.seed(42)\nassert(mgv.rand(3):get(1) == a:get(1))")

doc("mgv.cat", "mgv.cat({a, b, ...} [, axis = 1])",
  "Joins tensors along an existing axis; the other sizes must agree. Recorded for autograd.",
  "local a, b = mgv.ones(2, 2), mgv.zeros(1, 2)\nprint(mgv.cat({a, b}, 1))   -- shape [3x2]")

doc("mgv.is_tensor", "mgv.is_tensor(x)",
  "true when x is an mgv tensor (a live or freed mgv.Tensor userdata), false for anything else.",
  "print(mgv.is_tensor(mgv.zeros(1)), mgv.is_tensor({}))")

doc("mgv.broadcast_shape", "mgv.broadcast_shape(a, b)",
  "The shape (a table) that a and b broadcast to under numpy rules, or an error naming both shapes.",
  "print(table.concat(mgv.broadcast_shape(mgv.zeros(3, 1), mgv.zeros(4)), 'x'))   -- 3x4")

doc("mgv.rss", "mgv.rss()",
  "The resident memory of the process in bytes (from /proc/self/statm).",
  "print(mgv.rss() // 2^20 .. ' MiB')")

doc("mgv.memory", "mgv.memory() -> used, limit, cached",
  "Bytes of tensor storage the engine currently holds (all tensors, gradients and optimiser " ..
  "state), the memory limit in bytes (see mgv.set_memory_limit), and the bytes of freed " ..
  "storage kept for the next tensors of the same sizes (a training step frees and asks for " ..
  "the same sizes every step; at most a quarter of the limit, never more than the limit " ..
  "leaves beside the live storage).",
  "local used, limit = mgv.memory()\nprint(used, limit // 2^20 .. ' MiB limit')")

doc("mgv.set_memory_limit", "mgv.set_memory_limit(bytes) -> previous limit",
  "Caps the bytes of live tensor storage: a tensor that would take the total above the limit " ..
  "is refused with an error naming its shape and size, instead of the process being killed " ..
  "for lack of memory. The default is 0.9 of the physical RAM (or of RLIMIT_AS or the " ..
  "cgroup's memory.max when lower); nil restores it. Returns the previous limit.",
  "local old = mgv.set_memory_limit(2^30)        -- 1 GiB\n" ..
  "print(pcall(mgv.zeros, 1e5, 1e5))             -- false  zeros: cannot allocate ...\n" ..
  "mgv.set_memory_limit(old)")

doc("mgv.set_printoptions", "mgv.set_printoptions{precision=4, threshold=1000, edgeitems=3, linewidth=80}",
  "Changes how tensors print: digits after the point, the element count above which tensors " ..
  "are summarised with '...', the entries kept at each end of a summarised axis, and the line " ..
  "width. Returns the previous options (pass them back to restore).",
  "local old = mgv.set_printoptions{precision = 2}\nprint(mgv.tensor{math.pi})\nmgv.set_printoptions(old)")

-------------------------------------------------------------------------------
-- tensor basics
-------------------------------------------------------------------------------
doc("Tensor:shape", "t:shape()", "The sizes of t's axes as a Lua table.",
  "print(table.concat(mgv.zeros(2, 3):shape(), 'x'))   -- 2x3")
doc("Tensor:size", "t:size([axis])", "The size of one axis (1-based, negative from the end), " ..
  "or the shape table without an axis.", "print(mgv.zeros(2, 3):size(-1))   -- 3")
doc("Tensor:dim", "t:dim()", "The number of axes (0 for a scalar tensor).",
  "print(mgv.zeros(2, 3):dim())   -- 2")
doc("Tensor:numel", "t:numel()", "The number of elements: the product of the sizes (1 for a 0-d tensor).", "print(mgv.zeros(2, 3):numel())   -- 6")
doc("Tensor:is_contiguous", "t:is_contiguous()",
  "true when t's elements are laid out densely in row-major order (transposes and strided " ..
  "slices are not).", "print(mgv.zeros(2, 3):transpose():is_contiguous())   -- false")
doc("Tensor:get", "t:get(i, j, ...)", "The element at the given 1-based indices (one per axis; " ..
  "negative from the end).", "print(mgv.tensor{{1, 2}, {3, 4}}:get(2, -1))   -- 4")
doc("Tensor:set", "t:set(value, i, j, ...)", "Sets one element in place; returns t.",
  "local t = mgv.zeros(2, 2):set(5, 1, 2)\nprint(t)")
doc("Tensor:item", "t:item()", "The value of a one-element tensor as a Lua number.",
  "print(mgv.tensor{1, 2, 3}:sum():item())   -- 6")
doc("Tensor:totable", "t:totable()", "The values as a nested Lua table (a number for 0-d).",
  "print(mgv.tensor{{1, 2}}:totable()[1][2])   -- 2")
doc("Tensor:clone", "t:clone()", "A copy with its own storage; differentiable when t requires grad.",
  "local a = mgv.ones(2)\nlocal b = a:clone()\nb[1] = 5\nprint(a, b)")
doc("Tensor:detach", "t:detach()", "A view of t's values without autograd history (shares storage).",
  "local w = mgv.ones(2):requires_grad_()\nprint(w:detach().requires_grad)   -- false")
doc("Tensor:fill", "t:fill(value)", "Sets every element in place; returns t.",
  "print(mgv.zeros(3):fill(2))")
doc("Tensor:copy", "t:copy(src)", "Copies src (a tensor broadcast to t's shape, a nested table " ..
  "or a number) into t in place; returns t.", "print(mgv.zeros(2, 2):copy(mgv.tensor{1, 2}))")
doc("Tensor:uniform_", "t:uniform_([lo = 0 [, hi = 1]])",
  "Fills t in place with uniform random numbers in [lo, hi); returns t.",
  "local r = mgv.zeros(1, 8):uniform_(-0.05, 0.05)\nprint(r)")
doc("Tensor:normal_", "t:normal_([mean = 0 [, std = 1]])",
  "Fills t in place with normal random numbers; returns t.",
  "local w = mgv.zeros(4, 4):normal_(0, 0.02)\nprint(w)")
doc("Tensor:free", "t:free()", "Releases t's storage now instead of at garbage collection; t " ..
  "cannot be used afterwards. A to-be-closed variable (local t <close> = ...) does the same at " ..
  "the end of its scope.", "local big = mgv.zeros(1000, 1000)\nbig:free()")

-------------------------------------------------------------------------------
-- shape ops
-------------------------------------------------------------------------------
doc("Tensor:reshape", "t:reshape(d1, d2, ...) | t:reshape{...}",
  "The same elements in a new shape; one size may be -1 (inferred). A view when t is contiguous, " ..
  "else a copy.", "print(mgv.arange(6):reshape(2, -1))   -- shape [2x3]")
doc("Tensor:view", "t:view(d1, d2, ...) | t:view{...}",
  "As reshape, but always a view: an error when t is not contiguous.",
  "print(mgv.arange(6):view{3, 2})")
doc("Tensor:flatten", "t:flatten()", "A 1-d version of t (t:reshape(-1)).",
  "print(mgv.ones(2, 2):flatten())")
doc("Tensor:transpose", "t:transpose([a = -2, b = -1])",
  "Swaps two axes (a view); without arguments the last two.",
  "print(mgv.tensor{{1, 2, 3}}:transpose())   -- shape [3x1]")
doc("Tensor:permute", "t:permute(p1, p2, ...) | t:permute{...}",
  "Reorders the axes: axis k of the result is axis p_k of t (a view).",
  "print(table.concat(mgv.zeros(2, 3, 4):permute(3, 1, 2):shape(), 'x'))   -- 4x2x3")
doc("Tensor:slice", "t:slice(axis, i [, j = -1 [, step = 1]])",
  "Elements i..j (inclusive, 1-based, negative from the end, like string.sub) along axis, every " ..
  "step-th; a view.", "print(mgv.arange(10):slice(1, 2, -2, 3))   -- tensor([1, 4, 7], shape=[3])")
doc("Tensor:select", "t:select(axis, i)", "Entry i of an axis, dropping that axis (a view).",
  "print(mgv.tensor{{1, 2}, {3, 4}}:select(2, 1))   -- tensor([1, 3], shape=[2])")
doc("Tensor:unsqueeze", "t:unsqueeze(axis)",
  "Inserts an axis of size 1 at position axis of the result (1..dim+1; -1 = at the end).",
  "print(table.concat(mgv.zeros(3):unsqueeze(1):shape(), 'x'))   -- 1x3")
doc("Tensor:squeeze", "t:squeeze([axis])",
  "Removes an axis of size 1; without an axis every axis of size 1.",
  "print(table.concat(mgv.zeros(1, 3, 1):squeeze():shape(), 'x'))   -- 3")
doc("Tensor:expand", "t:expand(d1, d2, ...) | t:expand{...}",
  "Broadcasts t to a larger shape without copying (size-1 axes repeat; -1 keeps a size).",
  "print(mgv.tensor{{1}, {2}}:expand(2, 3))")
doc("Tensor:contiguous", "t:contiguous()", "t itself when contiguous, else a dense copy.",
  "print(mgv.zeros(2, 3):transpose():contiguous():is_contiguous())   -- true")
doc("Tensor:index_select", "t:index_select(axis, indices)",
  "Gathers entries of an axis by 1-based indices (a table or a tensor); that axis gets one entry " ..
  "per index. Backward scatter-adds.", "print(mgv.tensor{10, 20, 30}:index_select(1, {3, 1, 3}))")

-------------------------------------------------------------------------------
-- element-wise
-------------------------------------------------------------------------------
doc("Tensor:add", "t:add(x)", "t + x for a tensor (broadcast) or a number.",
  "print(mgv.ones(2):add(mgv.tensor{1, 2}), mgv.ones(2):add(3))")
doc("Tensor:sub", "t:sub(x)", "t - x for a tensor (broadcast) or a number.",
  "print(mgv.ones(2):sub(1))")
doc("Tensor:mul", "t:mul(x)", "t * x element-wise for a tensor (broadcast) or a number.",
  "print(mgv.tensor{1, 2}:mul(mgv.tensor{3, 4}))   -- tensor([3, 8], shape=[2])")
doc("Tensor:div", "t:div(x)", "t / x element-wise for a tensor (broadcast) or a number.",
  "print(mgv.tensor{1, 2}:div(2))")
doc("Tensor:scale", "t:scale(s)", "s * t for a number s, as a new tensor (recorded for autograd).", "print(mgv.ones(2):scale(0.5))")
doc("Tensor:pow", "t:pow(p)", "t ^ p element-wise for a number p (also written t ^ p).",
  "print(mgv.tensor{1, 2, 3}:pow(2))")
doc("Tensor:neg", "t:neg()", "-t element-wise, as a new tensor (also written -t; recorded for autograd).", "print(mgv.ones(2):neg())")
doc("Tensor:exp", "t:exp()", "e ^ t element-wise, as a new tensor (recorded for autograd).", "print(mgv.zeros(2):exp())")
doc("Tensor:log", "t:log()", "Natural logarithm element-wise.", "print(mgv.ones(2):log())")
doc("Tensor:sqrt", "t:sqrt()", "Square root element-wise (nan below 0), as a new tensor.", "print(mgv.tensor{4, 9}:sqrt())")
doc("Tensor:tanh", "t:tanh()", "Hyperbolic tangent element-wise.", "print(mgv.zeros(2):tanh())")
doc("Tensor:relu", "t:relu()", "max(t, 0) element-wise; the gradient is 1 where t > 0, else 0.", "print(mgv.tensor{-1, 2}:relu())")
doc("Tensor:gelu", "t:gelu()", "GELU, exact form t * Phi(t) with erf (as BERT).",
  "print(mgv.tensor{-1, 0, 1}:gelu())")
doc("Tensor:sigmoid", "t:sigmoid()", "1 / (1 + e ^ -t) element-wise.", "print(mgv.zeros(2):sigmoid())")

-------------------------------------------------------------------------------
-- reductions, products, nn
-------------------------------------------------------------------------------
doc("Tensor:sum", "t:sum([axis | {axes}] [, keepdim = false])",
  "Sum over one axis, a table of axes, or (without) every element (a 0-d tensor). keepdim " ..
  "keeps the reduced axes with size 1.",
  "local t = mgv.tensor{{1, 2}, {3, 4}}\nprint(t:sum(), t:sum(1), t:sum(-1, true))")
doc("Tensor:mean", "t:mean([axis | {axes}] [, keepdim = false])", "The mean over one axis, a table of axes or every element, with the axes and keepdim of sum.",
  "print(mgv.tensor{{1, 2}, {3, 4}}:mean(2))   -- tensor([1.5000, 3.5000], shape=[2])")
doc("Tensor:max", "t:max([axis [, keepdim = false]]) -> values, indices",
  "The maximum along an axis and where it is (1-based indices, as a tensor). Without an axis, " ..
  "over all elements (a flat index). The gradient flows to the first maximal element.",
  "local v, i = mgv.tensor{{1, 5}, {7, 2}}:max(2)\nprint(v, i)   -- [5, 7] and [2, 1]")
doc("Tensor:matmul", "a:matmul(b)",
  "Matrix product of [..., n, k] and [..., k, m] (leading axes broadcast); 1-d operands must " ..
  "be reshaped first.", "print(mgv.ones(2, 3):matmul(mgv.ones(3, 4)))   -- all 3, shape [2x4]")
doc("Tensor:linear", "x:linear(W [, b])",
  "x W^T + b, as torch.nn.Linear: x [..., in], W [out, in], b [out].",
  "local x, W, b = mgv.ones(5, 3), mgv.ones(2, 3), mgv.zeros(2)\nprint(x:linear(W, b))")
doc("Tensor:softmax", "t:softmax([axis = -1])", "Softmax along an axis (exp(t) / sum exp(t), computed stably): entries in [0, 1] that sum to 1.",
  "print(mgv.zeros(1, 4):softmax())   -- all 0.25")
doc("Tensor:log_softmax", "t:log_softmax([axis = -1])",
  "log(softmax(t)) along an axis, computed stably.", "print(mgv.zeros(1, 2):log_softmax())")
doc("Tensor:layer_norm", "x:layer_norm([gamma [, beta [, eps = 1e-5]]])",
  "Normalises over the last axis to mean 0 and variance 1, then scales by gamma and shifts by " ..
  "beta ([d] tensors, optional).", "print(mgv.tensor{{1, 2, 3}}:layer_norm())")
doc("Tensor:dropout", "x:dropout([p = 0.5 [, training = true]])",
  "Inverted dropout: zeroes each element with probability p and scales the rest by 1/(1-p) " ..
  "when training; x itself otherwise.", "mgv.seed(0)\nprint(mgv.ones(8):dropout(0.5), mgv.ones(2):dropout(0.5, false))")
doc("Tensor:masked_fill", "x:masked_fill(mask, value)",
  "value where mask (broadcast to x) is non-zero, x elsewhere.",
  "print(mgv.zeros(3):masked_fill(mgv.tensor{1, 0, 1}, -1))   -- [-1, 0, -1]")
doc("Tensor:cosine_similarity", "a:cosine_similarity(b [, axis = -1 [, eps = 1e-8]])",
  "<a, b> / max(|a| |b|, eps) along an axis (a and b broadcast); the axis is removed.",
  "print(mgv.tensor{{1, 0}}:cosine_similarity(mgv.tensor{{1, 1}}))   -- 0.7071")
doc("Tensor:l2_norm", "x:l2_norm([axis = -1 [, keepdim = false]])", "The Euclidean norm sqrt(sum x^2) along an axis.",
  "print(mgv.tensor{{3, 4}}:l2_norm())   -- tensor([5], shape=[1])")

doc("mgv.embedding", "mgv.embedding(weight, indices)",
  "Rows of weight [V x d] picked by 1-based indices (a number, a table, a nested table or a " ..
  "tensor); the result has the indices' shape plus [d]. Backward scatter-adds into weight.",
  "local E = mgv.randn(10, 4)\nprint(mgv.embedding(E, {{1, 2, 3}, {4, 5, 6}}))   -- shape [2x3x4]")
doc("mgv.cross_entropy", "mgv.cross_entropy(logits, targets)",
  "Mean over N of -log softmax(logits)[i, target_i] for logits [N x C] and N 1-based class " ..
  "targets (a table or a tensor); a 0-d tensor.",
  "print(mgv.cross_entropy(mgv.zeros(2, 4), {1, 3}))   -- log 4 = 1.3863")
doc("mgv.margin_ranking", "mgv.margin_ranking(scores, targets [, margin = 1])",
  "MG-VMoE's zero-shot ranking loss: mean over B of sum_{j ~= y} max(0, margin - s_y + s_j) for " ..
  "scores [B x C] and 1-based targets.",
  "print(mgv.margin_ranking(mgv.tensor{{2, 0, 0}}, {1}))   -- 0")
doc("mgv.kl_categorical", "mgv.kl_categorical(logp, logq [, axis = -1])",
  "KL(p || q) = sum exp(logp) (logp - logq) along an axis, from log-probabilities; the axis " ..
  "is removed.", "local lp = mgv.zeros(1, 2):log_softmax()\nprint(mgv.kl_categorical(lp, lp))   -- 0")
doc("mgv.gaussian_kl", "mgv.gaussian_kl(mu, logvar [, n_sum_dims = 1])",
  "KL(N(mu, exp(logvar)) || N(0, I)) = -1/2 sum (1 + logvar - mu^2 - exp(logvar)) over the last " ..
  "n_sum_dims axes.", "print(mgv.gaussian_kl(mgv.ones(1, 2), mgv.zeros(1, 2)))   -- [1]")

-------------------------------------------------------------------------------
-- autograd
-------------------------------------------------------------------------------
doc("Tensor:requires_grad_", "t:requires_grad_([on = true])",
  "Makes the leaf t a parameter (its gradient is computed by backward) or not; returns t, so " ..
  "it chains. Only leaves qualify: detach() a computed tensor first. (The field t.requires_grad " ..
  "reads the flag.)", "local w = mgv.randn(3, 4):requires_grad_()\nprint(w.requires_grad)")
doc("Tensor:backward", "t:backward([grad])",
  "Backpropagates from t, adding gradients into .grad of every parameter that led to t. grad " ..
  "(a tensor of t's shape, or a number) may be omitted for a one-element t. Frees the graph: a " ..
  "second backward through it is an error.",
  "local w = mgv.tensor{1, 2}:requires_grad_()\n;(w * w):sum():backward()\nprint(w.grad)   -- [2, 4]")
doc("Tensor:zero_grad", "t:zero_grad()", "Clears t.grad (sets it to nil); returns t. Gradients accumulate otherwise.",
  "local w = mgv.ones(1):requires_grad_()\nw:sum():backward()\nw:zero_grad()\nprint(w.grad)   -- nil")
doc("Tensor:retain_grad", "t:retain_grad()",
  "Keeps .grad on a computed (non-leaf) tensor after backward; returns t.",
  "local w = mgv.ones(2):requires_grad_()\nlocal h = (w * 2):retain_grad()\nh:sum():backward()\nprint(h.grad)")
doc("mgv.no_grad", "mgv.no_grad(fn, ...)",
  "Calls fn(...) with grad mode off (nothing is recorded) and returns its results; the mode is " ..
  "restored even when fn raises an error.",
  "local w = mgv.ones(2):requires_grad_()\nlocal y = mgv.no_grad(function() return w * 2 end)\nprint(y.requires_grad)   -- false")
doc("mgv.profile", "mgv.profile(fn [, {print = true, top = 20}]) -> Profile",
  "Runs fn with the engine's op timer on and prints where the time went: by op (forward, " ..
  "'(backward)' per autograd node, '(update)' per optimiser step) and by layer (the scope the " ..
  "op ran in: 'text/layer 3' for a transformer layer of the text encoder, 'labels/...', 'head'; " ..
  "a backward node counts in the scope its forward ran in). Each op is charged the time since " ..
  "the previous op ended, so Lua code between ops counts with the next op; '(autograd)' is the " ..
  "tape's own work. The result has seconds (wall), in_ops, outside, and ops and layers as " ..
  "lists of {name, seconds, calls}, longest first; print = false keeps it quiet. The timer " ..
  "costs nothing when off.",
  "local w = mgv.randn(64, 64):requires_grad_()\n" ..
  "local p = mgv.profile(function() w:matmul(w):sum():backward() end, {print = false})\n" ..
  "print(p.ops[1].name, p.in_ops <= p.seconds)")
doc("mgv.grad_enabled", "mgv.grad_enabled([on])",
  "Without an argument, whether grad mode is on. With one, sets the mode and returns the " ..
  "previous one (to restore it). Prefer mgv.no_grad, which restores the mode on errors too.",
  "local old = mgv.grad_enabled(false)\nprint(mgv.grad_enabled())   -- false\nmgv.grad_enabled(old)")

doc("mgv.threads", "mgv.threads([n])",
  "The number of threads the engine uses for matrix products and large kernels; with n, " ..
  "sets it first. The default comes from $MGV_NUM_THREADS, else $OPENBLAS_NUM_THREADS, " ..
  "else the number of processors. Results do not depend on it.",
  "print(mgv.threads())")

doc("mgv.simd", "mgv.simd()",
  "The SIMD path the engine's row loops run (\"avx512\", \"avx2\" or \"generic\") and the " ..
  "OpenBLAS core that goes with it. The best path the CPU has unless $MGV_SIMD forces " ..
  "another (`mgv --simd-paths` lists them); README, Determinism and SIMD paths.",
  "print(mgv.simd())")

-------------------------------------------------------------------------------
-- optimisers and checkpoints
-------------------------------------------------------------------------------
doc("mgv.optim.sgd", "mgv.optim.sgd(params, {lr = , momentum = 0, weight_decay = 0})",
  "Stochastic gradient descent over params (an array of tensors, or a table name -> tensor " ..
  "taken in name order) with optional momentum and L2 weight decay; lr is required. Unknown " ..
  "options are errors. The optimiser has :step(), :zero_grad(), :params() and settable fields " ..
  "lr, momentum, weight_decay.",
  "local w = mgv.zeros(2):requires_grad_()\nlocal opt = mgv.optim.sgd({w}, {lr = 0.1})\n" ..
  ";(w - 1):pow(2):sum():backward()\nopt:step()\nprint(w)   -- [0.2, 0.2]")
doc("mgv.optim.adam", "mgv.optim.adam(params, {lr = 1e-3, betas = {0.9, 0.999}, eps = 1e-8, weight_decay = 0})",
  "Adam (weight decay added to the gradient, as torch.optim.Adam). Fields lr, beta1, beta2, " ..
  "betas, eps, weight_decay are readable and settable (o.lr = 1e-4); o.steps counts steps.",
  "local w = mgv.zeros(2):requires_grad_()\nlocal opt = mgv.optim.adam({w}, {lr = 0.01})\n" ..
  "for _ = 1, 10 do opt:zero_grad(); (w - 1):pow(2):sum():backward(); opt:step() end\nprint(w, opt.steps)")
doc("mgv.optim.adamw", "mgv.optim.adamw(params, {lr = 1e-3, betas = {0.9, 0.999}, eps = 1e-8, weight_decay = 1e-2})",
  "AdamW: Adam with decoupled weight decay (as torch.optim.AdamW).",
  "local w = mgv.ones(2):requires_grad_()\nlocal opt = mgv.optim.adamw({w}, {lr = 0.1, weight_decay = 0.1})\nw:sum():backward()\nopt:step()\nprint(w)")
doc("mgv.optim.clip_grad_norm", "mgv.optim.clip_grad_norm(params, max_norm) -> norm",
  "Scales all gradients of params together so that their joint L2 norm is at most max_norm; " ..
  "returns the norm before clipping (as torch.nn.utils.clip_grad_norm_).",
  "local w = mgv.zeros(2):requires_grad_()\n;(w * mgv.tensor{3, 4}):sum():backward()\n" ..
  "print(mgv.optim.clip_grad_norm({w}, 1), w.grad)   -- 5, [0.6, 0.8]")
doc("Optim:step", "opt:step()", "Updates every parameter that has a gradient.",
  "local w = mgv.ones(1):requires_grad_()\nlocal opt = mgv.optim.sgd({w}, {lr = 1})\nw:sum():backward()\nopt:step()\nprint(w)   -- [0]")
doc("Optim:zero_grad", "opt:zero_grad()", "Clears the gradients of all parameters.",
  "local w = mgv.ones(1):requires_grad_()\nlocal opt = mgv.optim.sgd({w}, {lr = 1})\nw:sum():backward()\nopt:zero_grad()\nprint(w.grad)   -- nil")
doc("Optim:params", "opt:params()", "The parameter tensors, as a Lua array.",
  "local opt = mgv.optim.adam({mgv.ones(1):requires_grad_()})\nprint(#opt:params())   -- 1")

doc("mgv.save", "mgv.save(path, {name = tensor, ...} [, {key = string, ...}])",
  "Writes the named tensors (and optional string metadata) to a safetensors file, atomically " ..
  "(temporary file, fsync, rename). Readable by other tools (Python's safetensors).",
  "local path = os.tmpname()\nmgv.save(path, {w = mgv.ones(2, 2)}, {epoch = '3'})\nos.remove(path)")
doc("mgv.load", "mgv.load(path) -> tensors, metadata",
  "Reads a safetensors file: a table name -> tensor and a table of string metadata. F16, BF16 " ..
  "and F64 data are converted to float32.",
  "local path = os.tmpname()\nmgv.save(path, {w = mgv.ones(2)}, {note = 'hi'})\n" ..
  "local t, meta = mgv.load(path)\nprint(t.w, meta.note)\nos.remove(path)")

doc("repl", "bin/mgv (no arguments, on a terminal)",
  "The interactive prompt. An expression prints its values (tables nested, tensors " ..
  "numpy-style, models and data sets by their description); a trailing ';' silences it; " ..
  "unfinished input (a function, a loop, a table) continues on a '...>' line. ?x or help(x) " ..
  "shows the documentation of x (a name, or any expression: ?model:train_step). Tab " ..
  "completes globals, fields and methods (mgv.ze -> mgv.zeros, t:res -> t:reshape) and, " ..
  "inside a string, file names. Ctrl-C stops running code (a loop, a training epoch) and " ..
  "keeps every variable; at the prompt it clears the line. Ctrl-D on an empty line leaves " ..
  "(asking first once something has run). History is kept in $MGV_HISTORY (default " ..
  "~/.mgv_history; empty for none), at most $MGV_HISTORY_SIZE entries (1000); Ctrl-R " ..
  "searches it. Locals do not outlive their line: use globals at the prompt.",
  "-- what the prompt prints for a value:\nprint(mgv.inspect({1, 2, name = 'x', w = mgv.zeros(500, 2)}))")

doc("mgv.help", "mgv.help([x])",
  "Prints the documentation of x: a function (mgv.zeros, t.reshape), a name ('zeros', " ..
  "'Tensor:reshape', 'optim.adam', 'indexing'), an object (a model, a data set), or with no " ..
  "argument the list of topics. At the prompt, help(x) and ?x do the same.",
  "mgv.help(mgv.zeros)\nmgv.help('reshape')")
doc("mgv.doc", "mgv.doc(x) -> string | nil",
  "The documentation text mgv.help would print for x, or nil when there is none (for tools " ..
  "such as the notebook kernel's inspect).", "print(mgv.doc('zeros'))")

doc("mgv.inspect", "mgv.inspect(v [, {depth = 4, items = 40, width = 80, strlen = 200}]) -> string",
  "Readable text for any value, as the REPL prints results: tables nested with sorted keys (the " ..
  "array part first), on one line when short and indented otherwise; a table inside itself " ..
  "prints as <cycle>, levels deeper than depth as {...}, and more than items entries end with " ..
  "'... (n more)'. Tensors print numpy-style; inside a table only few-valued ones show their " ..
  "values, others their shape. Objects with __tostring (models, data sets) use it; functions " ..
  "show their documented name.",
  "print(mgv.inspect({1, 2, name = 'x', nested = {ok = true}}))\n" ..
  "local t = {}\nt.self = t\nprint(mgv.inspect(t))   -- {self = <cycle>}\n" ..
  "print(mgv.inspect({w = mgv.zeros(100, 100)}, {width = 60}))")

-------------------------------------------------------------------------------
-- data sets
-------------------------------------------------------------------------------
doc("Dataset", "mgv.Dataset (from mgv.data.synth / mre / met)",
  "A split of instances (a sentence, its entity mention spans, a class and maybe an image). " ..
  "#ds and ds.n count the instances, ds.n_classes the classes, ds.vocab is the task's word " ..
  "list (token id -> word; nil for data sets made of features). Methods: ds:classes(), " ..
  "ds:labels(), ds:instance(i), ds:image(i), ds:subset{...}, ds:load_images(dir), ds:free(). " ..
  "Indices and class numbers are 1-based.",
  "local task = mgv.data.synth{per_class = 4}\nlocal ds = task.train\nprint(ds, #ds, ds.n_classes)")

doc("mgv.data.synth", "mgv.data.synth{seed = 0, classes = 64, per_class = 40, ambiguous = 0.5, " ..
  "latent = 6, image_size = 16, sentence_len = 10} -> task",
  "The built-in synthetic zero-shot entity-typing task, generated from the seed: classes (an " ..
  "even number; they come in confusable pairs) with made-up names whose meaning the frozen " ..
  "word table carries, sentences with one mention word, and 3 x image_size x image_size " ..
  "pictures that tell the pair members apart when the text is 'ambiguous'. The task table " ..
  "holds the data sets train, val and test (disjoint classes) and all, the word table words " ..
  "[V x 100] with its vocab (V strings), and name = 'synth'.",
  "local task = mgv.data.synth{seed = 1, per_class = 4}\n" ..
  "print(task.train, task.val, task.test)\nprint(task.words, task.vocab[1])")

doc("mgv.data.mre", "mgv.data.mre{dir = , glove = , seed = 0, descriptions = nil} -> task",
  "Loads MNRE relation extraction from dir (train.txt, val.txt, test.txt) and splits it by " ..
  "relation for zero-shot learning (seed picks the split). Words are looked up in glove (a " ..
  "table from mgv.glove.open); label names become phrases ('/per/loc/place_of_birth' reads " ..
  "'person location place of birth') unless descriptions names a file of 'name<TAB>phrase' " ..
  "lines. The task table is as mgv.data.synth's, plus n_tokens and n_unknown (GloVe coverage).",
  "local dir = (os.getenv('MGV_DATA') or 'data')\n" ..
  "local cache = dir .. '/glove/glove-100d.bin'   -- made by scripts/get-data.sh\n" ..
  "if io.open(cache) and io.open(dir .. '/mnre/train.txt') then\n" ..
  "  local task = mgv.data.mre{dir = dir .. '/mnre', glove = mgv.glove.open(cache)}\n" ..
  "  print(task.train, task.test:classes()[1])\nend")

doc("mgv.data.met", "mgv.data.met{file = , glove = , task = 1, descriptions = nil} -> task",
  "Loads multimodal entity typing from a WikiDiverse-format JSON file (all entries pooled) and " ..
  "splits it by type for zero-shot learning; task picks the reference's split 1..3. Words are " ..
  "looked up in glove (mgv.glove.open); descriptions, a file of 'name<TAB>phrase' lines, " ..
  "explains type names GloVe lacks. The task table is as mgv.data.synth's.",
  "local file = (os.getenv('MGV_DATA') or 'data') .. '/wikidiverse/all.json'\n" ..
  "local cache = (os.getenv('MGV_DATA') or 'data') .. '/glove/glove-100d.bin'\n" ..
  "if io.open(file) and io.open(cache) then\n" ..
  "  local task = mgv.data.met{file = file, glove = mgv.glove.open(cache)}\n" ..
  "  print(task.train)\nend")

doc("Dataset:classes", "ds:classes() -> {names}",
  "The class names of the data set, in class-number order (labels index this list).",
  "local ds = mgv.data.synth{per_class = 4}.train\nprint(#ds:classes(), ds:classes()[1])")
doc("Dataset:labels", "ds:labels() -> {classes}",
  "The gold class number (1-based) of every instance, as a Lua array of #ds entries.",
  "local ds = mgv.data.synth{per_class = 4}.train\nlocal y = ds:labels()\nprint(#y, y[1])")
doc("Dataset:instance", "ds:instance(i) -> {tokens, spans, label, class, image}",
  "Instance i: its token ids (rows of the task's word table; 0 for a word the table lacks), " ..
  "its mention spans as inclusive 1-based {first, last} token pairs, its class number and " ..
  "name, and its picture number when it has one.",
  "local task = mgv.data.synth{per_class = 4}\nlocal x = task.train:instance(1)\n" ..
  "print(x.class, x.spans[1][1], task.vocab[x.tokens[x.spans[1][1]]])")
doc("Dataset:image", "ds:image(i) -> tensor [3 x S x S] | nil",
  "The picture of instance i as a view of the data set's image tensor (channels first, " ..
  "pixels in [-1, 1]), or nil when the instance has none.",
  "local ds = mgv.data.synth{per_class = 4}.train\nprint(table.concat(ds:image(1):shape(), 'x'))   -- 3x16x16")
doc("Dataset:subset", "ds:subset{c1, c2, ...} -> Dataset",
  "A new data set with only the instances of the given classes (1-based class numbers), " ..
  "relabelled 1..k in the order given.",
  "local ds = mgv.data.synth{per_class = 4}.train\nlocal two = ds:subset{3, 1}\n" ..
  "print(two, two:classes()[1] == ds:classes()[3])")
doc("Dataset:load_images", "ds:load_images(dir [, {size = 16, policy = 'blank'}]) -> missing",
  "Reads the instances' pictures (JPEG/PNG files named by the data set) from dir, resized " ..
  "to size x size and scaled to [-1, 1]; policy says what a missing or unreadable picture " ..
  "does: 'blank' (the instance keeps no image, which the model masks), 'skip' (the instance " ..
  "is dropped from the data set) or 'fail' (an error). Returns how many were missing. Long " ..
  "imports stop at Ctrl-C.",
  "local ds = mgv.data.synth{per_class = 4}.train\n" ..
  "local ok, err = pcall(ds.load_images, ds, '/nonexistent', {policy = 'fail'})\nprint(ok, err)")
doc("Dataset:load_features", "ds:load_features(path)",
  "Attaches precomputed features from an outside encoder to the data set, from a " ..
  "safetensors file with 'text' [N x L x d], optional 'text_mask' [N x L] (1 real, 0 " ..
  "padding), 'entity' [N x DE], optional 'image' [N x P x d] and 'image_mask' [N x P], and " ..
  "'labels' [C x DL] (one vector per class, in class order), N and C being the data set's " ..
  "instances and classes. A model made with text = 'features' (and image = 'features') " ..
  "then trains on them. Checked against the data set; on an error it is unchanged.",
  "local ds = mgv.data.synth{per_class = 4}.train\nlocal path = os.tmpname()\n" ..
  "mgv.save(path, {text = mgv.randn(#ds, 10, 8), entity = mgv.randn(#ds, 16),\n" ..
  "                labels = mgv.randn(ds.n_classes, 8)})\nds:load_features(path)\n" ..
  "local model = mgv.model{text = 'features', images = false, hidden = 8, heads = 2,\n" ..
  "                        entity_dim = 16, label_dim = 8}\n" ..
  "print(model:train_step(ds, {1, 2, 3}).loss)\nos.remove(path)")
doc("mgv.data.features", "mgv.data.features(path) -> Dataset",
  "A data set made of precomputed features alone: a safetensors file as ds:load_features " ..
  "reads, which also holds 'target' [N] (0-based class indices) and the class names in the " ..
  "metadata key 'classes' (a JSON array of strings). Its instances have no tokens; train a " ..
  "model with text = 'features' on it.",
  "local path = os.tmpname()\n" ..
  "mgv.save(path, {text = mgv.randn(4, 3, 8), entity = mgv.randn(4, 16), labels = mgv.randn(2, 8),\n" ..
  "                target = mgv.tensor{0, 1, 0, 1}}, {classes = '[\"cat\", \"dog\"]'})\n" ..
  "local ds = mgv.data.features(path)\nprint(ds, ds:classes()[2])   -- ... dog\nos.remove(path)")
doc("Dataset:free", "ds:free()",
  "Releases the data set now instead of at garbage collection; using it afterwards is an " ..
  "error. (local ds <close> = ... does the same at the end of the scope.)",
  "local task = mgv.data.synth{per_class = 4}\ntask.all:free()\nprint(task.all)   -- Dataset (freed)")

-------------------------------------------------------------------------------
-- word vectors
-------------------------------------------------------------------------------
doc("mgv.glove.open", "mgv.glove.open(path [, cache [, progress]]) -> Glove",
  "Opens a table of word vectors. path is a binary cache, or a JSON file in the " ..
  "wink-embeddings format, which is converted once into cache (a later open reuses the cache " ..
  "while it is newer than the JSON); progress(done_bytes, total_bytes) is called during the " ..
  "conversion, which Ctrl-C stops. The table is memory-mapped; words are looked up " ..
  "lower-cased.",
  "local cache = os.tmpname()\nos.remove(cache)\n" ..
  "local g = mgv.glove.open((os.getenv('MGV_ROOT') or '.') .. '/tests/fixtures/glove_small.json', cache)\n" ..
  "print(g)   -- GloVe: 6 words x 3\ng:close()\nos.remove(cache)")
doc("Glove", "mgv.Glove (from mgv.glove.open)",
  "A memory-mapped word-vector table: g:lookup(word), g:vector(word), g:close(). Pass it as " ..
  "the glove option of mgv.data.mre / mgv.data.met.",
  "local cache = os.tmpname()\nos.remove(cache)\n" ..
  "local g = mgv.glove.open((os.getenv('MGV_ROOT') or '.') .. '/tests/fixtures/glove_small.json', cache)\n" ..
  "print(g)\ng:close()\nos.remove(cache)")
doc("Glove:lookup", "g:lookup(word) -> row | nil",
  "The 1-based row of word (ASCII-lowercased) in the table, or nil when it is not there.",
  "local cache = os.tmpname()\nos.remove(cache)\n" ..
  "local g = mgv.glove.open((os.getenv('MGV_ROOT') or '.') .. '/tests/fixtures/glove_small.json', cache)\n" ..
  "print(g:lookup('The'), g:lookup('nope'))   -- 1 nil\ng:close()\nos.remove(cache)")
doc("Glove:vector", "g:vector(word) -> tensor [dim] | nil",
  "The vector of word (ASCII-lowercased) as a new 1-d tensor, or nil when the word is missing.",
  "local cache = os.tmpname()\nos.remove(cache)\n" ..
  "local g = mgv.glove.open((os.getenv('MGV_ROOT') or '.') .. '/tests/fixtures/glove_small.json', cache)\n" ..
  "print(g:vector('the'))\ng:close()\nos.remove(cache)")
doc("Glove:close", "g:close()",
  "Unmaps the table now instead of at garbage collection; using it afterwards is an error.",
  "local cache = os.tmpname()\nos.remove(cache)\n" ..
  "local g = mgv.glove.open((os.getenv('MGV_ROOT') or '.') .. '/tests/fixtures/glove_small.json', cache)\n" ..
  "g:close()\nprint(g)   -- GloVe (closed)\nos.remove(cache)")

-------------------------------------------------------------------------------
-- the paper's encoders: WordPiece, BERT, ViT (Hugging Face directories)
-------------------------------------------------------------------------------
-- the examples use the tiny golden models of the tests (MGV_ROOT = the repository)
local R = "(os.getenv('MGV_ROOT') or '.') .. '/tests/golden/"
doc("mgv.wordpiece.load", "mgv.wordpiece.load(vocab_txt | dir [, {lowercase, strip_accents, nfc = true, " ..
  "chinese_chars = true, max_chars = 100}]) -> WordPiece",
  "BERT's WordPiece tokenizer, as Hugging Face's BertTokenizer: special tokens in the text " ..
  "([CLS] [SEP] [UNK] [PAD] [MASK] [unusedN]) stay whole; the rest is cleaned (control " ..
  "characters dropped), CJK characters spaced, NFC-normalised, split on whitespace and " ..
  "punctuation, lower-cased and stripped of accents when uncased, then cut into the longest " ..
  "vocabulary pieces ('##' continues a word; a word of more than max_chars characters or one " ..
  "it cannot cover is [UNK]). A directory gives vocab.txt and the settings of its " ..
  "tokenizer_config.json; options override them. nfc = false matches the fast tokenizer.",
  "local tok = mgv.wordpiece.load(" .. R .. "vocab_small.txt')\n" ..
  "print(tok, table.concat(tok:tokenize('hello World unaffable'), ' '))   -- ... un ##aff ##able")
doc("WordPiece", "mgv.WordPiece (from mgv.wordpiece.load or bert:tokenizer())",
  "A WordPiece tokenizer: tok:encode(text), tok:tokenize(text), tok:basic(text), " ..
  "tok:sequence(inputs), tok:id(token), tok:token(id), #tok (vocabulary size), tok:free(). " ..
  "Ids are the vocabulary's own numbers (line numbers from 0, as in Hugging Face).",
  "local tok = mgv.wordpiece.load(" .. R .. "vocab_small.txt')\nprint(#tok, tok:id('[CLS]'), tok:token(7))")
doc("WordPiece:encode", "tok:encode(text) -> {ids}",
  "The vocabulary ids of text (no [CLS]/[SEP] added).",
  "local tok = mgv.wordpiece.load(" .. R .. "vocab_small.txt')\nprint(table.concat(tok:encode('Hello, world!'), ' '))")
doc("WordPiece:tokenize", "tok:tokenize(text) -> {tokens}",
  "The vocabulary entries text is cut into, as strings.",
  "local tok = mgv.wordpiece.load(" .. R .. "vocab_small.txt', {lowercase = true})\n" ..
  "print(table.concat(tok:tokenize('Héllo WORLD'), ' '))   -- hello world")
doc("WordPiece:basic", "tok:basic(text) -> {words}",
  "The words of the basic tokenizer (cleaning, lower-casing, accents, punctuation) before " ..
  "they are cut into WordPiece units.",
  "local tok = mgv.wordpiece.load(" .. R .. "vocab_small.txt')\nprint(table.concat(tok:basic(\"don't stop\"), '|'))   -- don|'|t|stop")
doc("WordPiece:id", "tok:id(token) -> id | nil",
  "The id of a vocabulary entry, or nil.",
  "local tok = mgv.wordpiece.load(" .. R .. "vocab_small.txt')\nprint(tok:id('[SEP]'), tok:id('zzz'))")
doc("WordPiece:token", "tok:token(id) -> string | nil",
  "The vocabulary entry of an id (0-based, as the file counts), or nil.",
  "local tok = mgv.wordpiece.load(" .. R .. "vocab_small.txt')\nprint(tok:token(0))   -- [PAD]")
doc("WordPiece:sequence", "tok:sequence(input | {inputs} [, {max_len = 128}]) -> ids, markers",
  "BERT inputs with the entity markers of MG-VMoE: [CLS] ... [SEP], with [unused1] / " ..
  "[unused2] around the first span and [unused3] / [unused4] around the second. An input is " ..
  "a string, {words = {...}, spans = {{first, last}, ...}} (word spans, as MNRE) or " ..
  "{text = '...', spans = {{first, last}}} (byte spans, as string.sub). Long inputs are cut " ..
  "to max_len around the markers. Returns the ids and the 1-based positions of the opening " ..
  "markers (1, the [CLS], when one had to be cut off) — per input for a list of inputs.",
  "local tok = mgv.wordpiece.load(" .. R .. "vocab_small.txt')\n" ..
  "local ids, markers = tok:sequence{words = {'Rafael', 'Nadal', 'and', 'York'}, spans = {{1, 2}, {4, 4}}}\n" ..
  "print(#ids, markers[1], markers[2])   -- 10 2 7")
doc("WordPiece:free", "tok:free()",
  "Releases the tokenizer now instead of at garbage collection.",
  "local tok = mgv.wordpiece.load(" .. R .. "vocab_small.txt')\ntok:free()\nprint(tok)   -- WordPiece (freed)")

doc("mgv.bert.load", "mgv.bert.load(dir [, {prefix = '', tokenizer = true}]) -> Bert",
  "BERT from a Hugging Face directory: config.json, model.safetensors (names with or without " ..
  "'bert.', old gamma/beta LayerNorm names accepted, heads ignored) and vocab.txt (with " ..
  "tokenizer_config.json) for its tokenizer. A checkpoint that does not fit the config is an " ..
  "error listing the missing and mis-shaped tensors. Post-LN layers with exact GELU, forward " ..
  "and backward, so it can be fine-tuned: bert:parameters() go to an optimiser.",
  "local bert = mgv.bert.load(" .. R .. "bert_tiny')\nprint(bert)")
doc("mgv.bert.new", "mgv.bert.new{vocab_size = 28996, hidden = 768, layers = 12, heads = 12, " ..
  "intermediate = 4 hidden, max_position = 512, type_vocab_size = 2, pooler = true, seed = 0, " ..
  "vocab = nil} -> Bert",
  "A BERT with random weights (BERT's initialisation: N(0, 0.02) weights, zero biases), e.g. " ..
  "for benchmarks or training from scratch; vocab names a vocab.txt for bert:encode.",
  "local bert = mgv.bert.new{vocab_size = 100, hidden = 16, layers = 1, heads = 2, max_position = 8}\n" ..
  "print(bert:forward({{1, 2, 3}}):shape()[3])   -- 16")
doc("Bert", "mgv.Bert (from mgv.bert.load or mgv.bert.new)",
  "A BERT model: bert:encode(inputs), bert:forward(ids), bert:pool(H), bert:parameters(), " ..
  "bert:tokenizer(), bert:config(), bert:free().",
  "local bert = mgv.bert.load(" .. R .. "bert_tiny')\nprint(bert:config().hidden)")
doc("Bert:encode", "bert:encode(input | {inputs} [, {max_len = 128, training = false}]) -> H, mask, markers",
  "Tokenises the inputs (as tok:sequence: strings, or words / text with entity spans, " ..
  "markers [unused1..4] inserted), pads them to one length and runs the model: H [B x L x d] " ..
  "(recorded for autograd when grad mode is on), mask [B x L] (1 real, 0 padding) and for " ..
  "each input the 1-based positions of its opening markers. The entity feature of MG-VMoE " ..
  "is [H[b][1]; H[b][marker]]. training = true applies dropout.",
  "local bert = mgv.bert.load(" .. R .. "bert_tiny')\n" ..
  "local H, mask, markers = mgv.no_grad(function() return bert:encode{\n" ..
  "  {words = {'Rafael', 'Nadal', 'and', 'York'}, spans = {{1, 2}, {4, 4}}}, 'hello world'} end)\n" ..
  "print(table.concat(H:shape(), 'x'), markers[1][1], markers[1][2])   -- 2x10x32 2 7")
doc("Bert:forward", "bert:forward(ids [, {mask = , types = , training = false}]) -> H",
  "The last hidden states [B x L x d] of vocabulary ids (a [B x L] tensor or a table of id " ..
  "lists), with an optional padding mask [B x L] and token types.",
  "local bert = mgv.bert.load(" .. R .. "bert_tiny')\n" ..
  "local H = bert:forward({{7, 61, 8}, {7, 8, 0}}, {mask = mgv.tensor{{1, 1, 1}, {1, 1, 0}}})\nprint(H:shape()[3])")
doc("Bert:pool", "bert:pool(H) -> [B x d]",
  "BERT's pooler: tanh(W H[:, 1] + b) on the [CLS] states (when the checkpoint has one).",
  "local bert = mgv.bert.load(" .. R .. "bert_tiny')\nprint(bert:pool(bert:forward({{7, 61, 8}})))")
doc("Bert:parameters", "bert:parameters() -> {name = tensor}",
  "The model's parameters by their Hugging Face names (after the load prefix), for an " ..
  "optimiser or for inspection. They are the model's own tensors.",
  "local bert = mgv.bert.load(" .. R .. "bert_tiny')\n" ..
  "print(bert:parameters()['embeddings.word_embeddings.weight']:shape()[1])   -- 155")
doc("Bert:tokenizer", "bert:tokenizer() -> WordPiece | nil",
  "The tokenizer loaded with the model (from its vocab.txt).",
  "local bert = mgv.bert.load(" .. R .. "bert_tiny')\nprint(bert:tokenizer())")
doc("Bert:config", "bert:config() -> table",
  "The model's configuration: vocab_size, hidden, layers, heads, intermediate, max_position, " ..
  "type_vocab_size, layer_norm_eps, dropouts, pooler.",
  "local bert = mgv.bert.load(" .. R .. "bert_tiny')\nprint(bert:config().layers)")
doc("Bert:free", "bert:free()",
  "Releases the model now instead of at garbage collection.",
  "local bert = mgv.bert.load(" .. R .. "bert_tiny')\nbert:free()\nprint(bert)   -- Bert (freed)")

doc("mgv.vit.load", "mgv.vit.load(dir [, {prefix = ''}]) -> ViT",
  "A Vision Transformer from a Hugging Face directory (config.json, model.safetensors; names " ..
  "with or without 'vit.'; classifier and pooler ignored), e.g. google/vit-base-patch16-384: " ..
  "patch embedding as a matmul, [CLS], position embeddings, pre-LN layers, final layernorm. " ..
  "Images are preprocessed as ds:load_images does (resize, then x / 127.5 - 1).",
  "local vit = mgv.vit.load(" .. R .. "vit_tiny')\nprint(vit)")
doc("mgv.vit.new", "mgv.vit.new{hidden = 768, layers = 12, heads = 12, intermediate = 4 hidden, " ..
  "image_size = 384, patch = 16, channels = 3, seed = 0} -> ViT",
  "A ViT with random weights (N(0, 0.02)), e.g. for benchmarks.",
  "local vit = mgv.vit.new{hidden = 16, layers = 1, heads = 2, image_size = 16, patch = 8}\n" ..
  "print(vit:config().tokens)   -- 5")
doc("ViT", "mgv.ViT (from mgv.vit.load or mgv.vit.new)",
  "A ViT model: vit:forward(images), vit:features(images | paths, opts), vit:attach(ds, dir, " ..
  "opts), vit:parameters(), vit:config(), vit:free().",
  "local vit = mgv.vit.load(" .. R .. "vit_tiny')\nprint(vit:config().tokens)   -- 17")
doc("ViT:forward", "vit:forward(images) -> H",
  "The last hidden states [B x (1 + N) x d] of preprocessed images [B x 3 x S x S].",
  "local vit = mgv.vit.load(" .. R .. "vit_tiny')\nprint(table.concat(vit:forward(mgv.zeros(1, 3, 32, 32)):shape(), 'x'))   -- 1x17x32")
doc("ViT:features", "vit:features(images | {paths} [, {cache = nil, batch = 16, pool = 0, " ..
  "policy = 'blank', progress = nil}]) -> tensor [, present]",
  "Frozen image tokens [N x P x d], batch images at a time without autograd. images is a " ..
  "[N x 3 x S x S] tensor, or a table of JPEG/PNG paths (each preprocessed; a missing or " ..
  "unreadable one gives zeros and present[i] = false, or an error with policy = 'fail'). " ..
  "pool = 0 keeps all 1 + N tokens; pool = k keeps [CLS] and the means of a k x k grid of " ..
  "patch cells (1 + k^2 tokens: 577 ViT-B/16-384 tokens are 1.8 MB an image). cache names a " ..
  "safetensors file: when it holds the features of the same weights, pool and pictures they " ..
  "are read back, else computed and written. progress(done, total) is called per batch.",
  "local vit = mgv.vit.load(" .. R .. "vit_tiny')\n" ..
  "local f = vit:features(mgv.zeros(2, 3, 32, 32), {pool = 2})\nprint(table.concat(f:shape(), 'x'))   -- 2x5x32")
doc("ViT:attach", "vit:attach(ds, dir [, opts]) -> missing",
  "Computes (or reads from opts.cache) the features of the data set's pictures, found in " ..
  "dir under the instances' image names (each distinct file once), and attaches them as its " ..
  "image features ('image' [N x P x d] and 'image_mask'): a model made with image = " ..
  "'features' and hidden = d then uses them. Options as vit:features. Returns the number of " ..
  "instances without a readable picture (their tokens are masked).",
  "local vit = mgv.vit.load(" .. R .. "vit_tiny')\nlocal ds = mgv.data.synth{per_class = 2}.train\n" ..
  "print(vit:attach(ds, '/nonexistent'))   -- every picture is missing")
doc("ViT:parameters", "vit:parameters() -> {name = tensor}",
  "The model's parameters by their Hugging Face names.",
  "local vit = mgv.vit.load(" .. R .. "vit_tiny')\nprint(vit:parameters()['layernorm.weight'])")
doc("ViT:config", "vit:config() -> table",
  "hidden, layers, heads, intermediate, image_size, patch, channels, tokens, layer_norm_eps.",
  "local vit = mgv.vit.load(" .. R .. "vit_tiny')\nprint(vit:config().image_size)   -- 32")
doc("ViT:free", "vit:free()",
  "Releases the model now instead of at garbage collection.",
  "local vit = mgv.vit.load(" .. R .. "vit_tiny')\nvit:free()\nprint(vit)   -- ViT (freed)")

-------------------------------------------------------------------------------
-- the model
-------------------------------------------------------------------------------
-- mgv.model's options come from the engine's table (engine/mgvmoe/model_options.h)
local function show(v)
  if type(v) == "string" then return "'" .. v .. "'" end
  if math.type(v) == "float" then return string.format("%g", v) end
  return tostring(v)
end
local model_sig, model_options = { "words = " }, {}
for _, o in ipairs(M._model_options()) do
  model_sig[#model_sig + 1] = o.name .. " = " .. show(o.default)
  model_options[#model_options + 1] = o.name .. " = " .. show(o.default) .. ": " .. o.help ..
    (o.known and o.reference ~= o.default and " (the paper: " .. show(o.reference) .. ")" or "")
end
doc("mgv.model", "mgv.model{" .. table.concat(model_sig, ", ") .. "} -> Model",
  "A new MG-VMoE model over the frozen word table words (task.words): a transformer text " ..
  "encoder, a patch encoder for images ('mre' has no images), the variational mixture of " ..
  "experts (vmoe = false puts a linear layer there), InfoNCE between text and image (nce), and " ..
  "graph-based virtual adversarial training (mg). task is 'met', 'mre' (two spans) or 'synth'. " ..
  "The model owns its Adam optimiser (lr, weight_decay, gradient clipping at clip). " ..
  "text = 'features' / image = 'features' replace the encoders by precomputed features of " ..
  "the data set (ds:load_features, mgv.data.features; words is then optional), whose entity " ..
  "and label vectors have entity_dim and label_dim entries. " ..
  "prior = true scores with a word-vector prior instead of the bilinear form: tau times the " ..
  "cosine of W1 [h_x; g_x] and W2 [h_l; g_l], where g_x holds mean word vectors of the " ..
  "mentions (and, for 'mre', of head, tail, sentence and the words between) and g_l of the " ..
  "label phrase; the maps start as the identity on the mention and label means (so an " ..
  "untrained model is the word-vector similarity baseline) and prior_decay |W - W_init|^2 " ..
  "keeps them near it. bert = DIR (a Hugging Face BERT directory: config.json, " ..
  "model.safetensors, vocab.txt) makes BERT the text encoder, fine-tuned with the rest: the " ..
  "instances' raw words (mgv.data.mre) or sentence (mgv.data.met) go through its WordPiece " ..
  "tokenizer with the entity markers [unused1] [unused2] (first span) and [unused3] [unused4] " ..
  "(second span); h_e is [CLS] and the opening markers, label vectors the mean over each label " ..
  "phrase's tokens; hidden, heads, layers and dropout are BERT's, max_len is capped at its " ..
  "positions; words is then optional and prior is refused (it needs GloVe). " ..
  "preset = 'paper' starts from the authors' values instead of ours (every option whose " ..
  "value their code states; proj 256 for 'mre', 768 for 'met'); options given with it win. " ..
  "Unknown options are errors. Printing a model shows its parts, options and parameter counts.",
  "local task = mgv.data.synth{per_class = 4}\n" ..
  "local model = mgv.model{words = task.words, hidden = 16, heads = 2, experts = 2, proj = 16}\n" ..
  "print(model)", model_options)
doc("mgv.model_config", "mgv.model_config{...} -> table",
  "The options mgv.model would use for the same table (preset resolved, defaults filled), " ..
  "without building a model; words is not needed.",
  "local c = mgv.model_config{preset = 'paper', task = 'met'}\n" ..
  "print(c.experts, c.proj, c.mg_update)")
doc("Model", "mgv.Model (from mgv.model)",
  "The MG-VMoE model: model:train_step(ds, idx), model:predict(ds), model:forward(ds, idx), " ..
  "model:route(ds, i), model:neighbours(ds, i, k), " ..
  "model:save(path), model:load(path), model:parameters(), model:config(), " ..
  "model:set_lr(lr), model:free(); fields model.steps (optimiser steps taken) and model.lr.",
  "local task = mgv.data.synth{per_class = 4}\n" ..
  "local model = mgv.model{words = task.words, hidden = 16, heads = 2, experts = 2, proj = 16}\n" ..
  "print(model.steps, model.lr)")
doc("Model:train_step", "model:train_step(ds, indices) -> stats",
  "One optimisation step on the batch of instances indices (1-based, a table or tensor) of " ..
  "ds: forward in training mode, the loss (ranking + VIB-MoE + InfoNCE + MG-VAT terms), " ..
  "backward, clipping and an Adam step, then the update of the adversarial perturbation. " ..
  "Returns a table of numbers: loss, rank, vmoe, nce, mg, r_objective, grad_norm and " ..
  "accuracy (of the batch). Ctrl-C stops a long step with an error; the model stays usable. " ..
  "Under mpirun every rank passes the same global batch: each encodes its share of the rows, " ..
  "the head runs on the whole batch, and the encoders' gradients are summed over the ranks, " ..
  "so the step is the one-process step (mgv.dist).",
  "local task = mgv.data.synth{per_class = 4}\n" ..
  "local model = mgv.model{words = task.words, hidden = 16, heads = 2, experts = 2, proj = 16}\n" ..
  "local st = model:train_step(task.train, {1, 2, 3, 4})\nprint(st.loss, st.accuracy, model.steps)")
doc("Model:predict", "model:predict(ds [, {batch = 64, first = 1, count = #ds, " ..
  "disable_experts = {k, ...}, gates = 'uniform' | tensor}]) -> {classes}",
  "The predicted class number (1-based, among ds's classes) of instances first .. " ..
  "first+count-1, in evaluation mode, batch instances at a time; disable_experts and gates " ..
  "intervene on the routing as in model:forward. mgv.predict does the same " ..
  "for a whole data set with a progress bar.",
  "local task = mgv.data.synth{per_class = 4}\n" ..
  "local model = mgv.model{words = task.words, hidden = 16, heads = 2, experts = 2, proj = 16}\n" ..
  "local p = model:predict(task.val, {first = 1, count = 5})\nprint(#p, p[1])")
doc("Model:forward", "model:forward(ds, indices [, {training = false, loss = true, " ..
  "disable_experts = {k, ...}, gates = 'uniform' | tensor, inputs = false, grads = false}]) -> out",
  "Runs the model on a batch without recording gradients and returns what it computed, for " ..
  "inspection: scores [B x C]; the losses loss, rank, vmoe, nce, mg (0-d); gating weights per " ..
  "token gate_text [B x L x K] and gate_image [B x P x K]; expert usage per sample usage_text " ..
  "and usage_image [B x K]; the MoE outputs o_text, o_image; the fusion attention " ..
  "[B x (P+L)]; the batch graph [B x B]; p and p_tilde [B x 2] (clean and perturbed); node " ..
  "vectors g; and tokens, each sample's token ids as the encoder saw them. Interventions on " ..
  "the routing, for this call only: disable_experts gives the listed experts gate 0 and " ..
  "renormalises the others' gates (softmax over the rest); gates forces them ('uniform', or " ..
  "a tensor broadcasting to [..., K]). inputs = true adds out.inputs, what the head saw " ..
  "(text, text_mask, image, image_mask, entity, labels), to rebuild the head in Lua " ..
  "(examples/custom_moe.lua); grads = true adds out.grads, the gradient of the loss for " ..
  "every head parameter by name, leaving the model's own gradients clear.",
  "local task = mgv.data.synth{per_class = 4}\n" ..
  "local model = mgv.model{words = task.words, hidden = 16, heads = 2, experts = 2, proj = 16}\n" ..
  "local out = model:forward(task.train, {1, 2, 3})\nprint(out.usage_text, out.graph, out.p)\n" ..
  "local off = model:forward(task.train, {1, 2, 3}, {disable_experts = {2}})\n" ..
  "print(off.usage_text)   -- expert 2 reads 0")
doc("Model:save", "model:save(path [, metadata [, with_optimiser = false]])",
  "Writes the model's parameters (and with_optimiser, the Adam state and step count) to a " ..
  "safetensors checkpoint, atomically; metadata is a table of strings stored alongside " ..
  "(read them back with mgv.load).",
  "local task = mgv.data.synth{per_class = 4}\n" ..
  "local model = mgv.model{words = task.words, hidden = 16, heads = 2, experts = 2, proj = 16}\n" ..
  "local path = os.tmpname()\nmodel:save(path, {note = 'first try'})\n" ..
  "print(select(2, mgv.load(path)).note)\nos.remove(path)")
doc("Model:load", "model:load(path)",
  "Reads a checkpoint written by model:save into this model (and the optimiser state when it " ..
  "was saved); the shapes must match the model's configuration, else an error names the " ..
  "tensor.",
  "local task = mgv.data.synth{per_class = 4}\n" ..
  "local cfg = {words = task.words, hidden = 16, heads = 2, experts = 2, proj = 16}\n" ..
  "local a, b = mgv.model(cfg), mgv.model(cfg)\nlocal path = os.tmpname()\n" ..
  "a:save(path)\nb:load(path)\nos.remove(path)")
doc("Model:parameters", "model:parameters() -> {name = tensor}",
  "The model's parameter tensors by name ('text.proj.weight', 'vmoe.gate.weight', ..., and " ..
  "'vat.r', the perturbation). They share storage with the model: changing one in place " ..
  "changes the model.",
  "local task = mgv.data.synth{per_class = 4}\n" ..
  "local model = mgv.model{words = task.words, hidden = 16, heads = 2, experts = 2, proj = 16}\n" ..
  "local n = 0\nfor name, p in pairs(model:parameters()) do n = n + p:numel() end\nprint(n)")
doc("Model:set_lr", "model:set_lr(lr)",
  "Sets the learning rate of the model's optimisers (model.lr reads it), e.g. for a schedule " ..
  "in a training loop of your own.",
  "local task = mgv.data.synth{per_class = 4}\n" ..
  "local model = mgv.model{words = task.words, hidden = 16, heads = 2, experts = 2, proj = 16}\n" ..
  "model:set_lr(5e-4)\nprint(model.lr)")
doc("Model:config", "model:config() -> table",
  "The model's configuration as a table with the keys of mgv.model's options (task, hidden, " ..
  "heads, layers, experts, images, vat, lr, ...), to print or to build a twin model.",
  "local task = mgv.data.synth{per_class = 4}\n" ..
  "local model = mgv.model{words = task.words, hidden = 16, heads = 2, experts = 2, proj = 16}\n" ..
  "print(mgv.inspect(model:config()))")
doc("Model:free", "model:free()",
  "Releases the model's memory now instead of at garbage collection; using it afterwards is " ..
  "an error that says so.",
  "local task = mgv.data.synth{per_class = 4}\n" ..
  "local model = mgv.model{words = task.words, hidden = 16, heads = 2, experts = 2, proj = 16}\n" ..
  "model:free()\nprint(model)   -- Model (freed)")

doc("Model:route", "model:route(ds, i [, {vocab = ds.vocab}]) -> route",
  "Which experts sample i of ds goes to: its tokens as text (words of ds.vocab, the task's " ..
  "words; special tokens by name: [CLS], [E], [/E], [E1], [/E1], ...), their gates and top " ..
  "experts, and the same for its image patches. Fields: index, class, label, pred, " ..
  "pred_label, tokens, ids, gates (a tensor [n x K], rows sum to 1), top (the argmax of each " ..
  "row), image = {tokens, gates, top} (when the model has an image side and the sample a " ..
  "picture). Prints as a table (long ones summarised); route:html() gives an HTML table; " ..
  "mgv.plot.gates(route [, other]) draws it.",
  "local task = mgv.data.synth{per_class = 4}\n" ..
  "local model = mgv.model{words = task.words, hidden = 16, heads = 2, experts = 2, proj = 16}\n" ..
  "local r = model:route(task.test, 3)\nprint(r)\nprint(r.tokens[1], r.top[1], r.gates:sum(2))")
doc("Model:neighbours", "model:neighbours(ds, i [, k = 8 [, {pool = 512, seed = 0, batch = 64}]]) -> list",
  "The k samples with the strongest edges to sample i in the MG-VAT graph G_ij = (cos(g_i, " ..
  "g_j) + 1) / 2 over i and a pool of other samples of ds: all of them when there are at most " ..
  "pool, else a seeded sample of pool. Strongest first, each {index, class, label, weight}; " ..
  "fields index, class and pool (its size). Prints as a table; :html() gives an HTML table; " ..
  "mgv.plot.ego draws it. Needs a model with an image side (the graph joins both modalities).",
  "local task = mgv.data.synth{per_class = 4}\n" ..
  "local model = mgv.model{words = task.words, hidden = 16, heads = 2, experts = 2, proj = 16}\n" ..
  "local nb = model:neighbours(task.test, 1, 3)\nprint(nb)\nprint(nb[1].index, nb[1].weight)")
doc("mgv.routing_stats", "mgv.routing_stats(model, ds [, {batch = 64}]) or mgv.routing_stats(routes) -> stats",
  "Routing over a data set, per modality (stats.text, stats.image): tokens, usage (the mean " ..
  "gate of each expert over all tokens; sums to 1), by_class (a tensor [C x K], the mean gate " ..
  "per class), top_counts[c][k] (tokens of class c whose top expert is k), entropy (the mean " ..
  "gate entropy per token) and mi, the mutual information between a token's top expert and " ..
  "its sample's class; entropy and mi are in nats (0 <= mi <= log K). Also samples, classes, " ..
  "experts. Prints as tables; stats:html() gives HTML; stats:plot() or mgv.plot.bars(stats) " ..
  "draws the usage per class. A list of routes (model:route) works in place of model and ds.",
  "local task = mgv.data.synth{per_class = 4}\n" ..
  "local model = mgv.model{words = task.words, hidden = 16, heads = 2, experts = 2, proj = 16}\n" ..
  "local st = mgv.routing_stats(model, task.test)\nprint(st)\nprint(st.text.mi, st.image.entropy)")

-------------------------------------------------------------------------------
-- training, evaluation, metrics
-------------------------------------------------------------------------------
doc("mgv.sampler", "mgv.sampler(ds [, seed = 0]) -> Sampler",
  "A class-balanced batch sampler over ds: s:next(n) gives n instance indices, going round " ..
  "the classes in turn and taking a random instance of each (seeded; the same seed gives the " ..
  "same batches).",
  "local ds = mgv.data.synth{per_class = 4}.train\nlocal s = mgv.sampler(ds, 7)\n" ..
  "print(table.concat(s:next(8), ' '))")
doc("Sampler", "mgv.Sampler (from mgv.sampler)",
  "A class-balanced sampler of batches: s:next(n).",
  "local s = mgv.sampler(mgv.data.synth{per_class = 4}.train)\nprint(#s:next())   -- 16")
doc("Sampler:next", "s:next([n = 16]) -> {indices}",
  "The next n instance indices (1-based) of the sampler's data set, class-balanced.",
  "local ds = mgv.data.synth{per_class = 4}.train\nlocal s = mgv.sampler(ds)\n" ..
  "local batch = s:next(10)\nprint(#batch, ds:instance(batch[1]).class)")

doc("mgv.metrics", "mgv.metrics(gold, pred [, names]) -> m",
  "Scores predictions against gold labels (two arrays of 1-based class numbers, as " ..
  "ds:labels() and model:predict give). m has macro_p, macro_r, macro_f1 and micro_f1 " ..
  "(as scikit-learn: classes absent from gold and pred are left out of the macro average), " ..
  "n, per_class (precision, recall, f1, support and name per class) and table, a printable " ..
  "per-class table; names (ds:classes()) label it.",
  "local m = mgv.metrics({1, 1, 2, 2, 3}, {1, 2, 2, 2, 1}, {'a', 'b', 'c'})\n" ..
  "print(m.macro_f1, m.micro_f1)\nprint(m.table)")
doc("mgv.glove_baseline", "mgv.glove_baseline(ds, words) -> {classes}",
  "The no-training zero-shot baseline: for each instance, the class whose label phrase (mean " ..
  "word vector) is most cosine-similar to the mean vector of the mention's words (the whole " ..
  "sentence when no mention word is known). words is the task's word table.",
  "local task = mgv.data.synth{per_class = 4}\n" ..
  "local pred = mgv.glove_baseline(task.test, task.words)\n" ..
  "print(mgv.metrics(task.test:labels(), pred).macro_f1)")
doc("mgv.isatty", "mgv.isatty([fd = 2]) -> boolean",
  "Whether file descriptor fd (1 standard output, 2 standard error) is a terminal; progress " ..
  "bars draw only then.",
  "print(mgv.isatty(1), mgv.isatty(2))")
doc("mgv.clock", "mgv.clock() -> seconds",
  "Monotonic wall-clock time in seconds (os.clock counts CPU time of all threads instead); " ..
  "progress bars and the training loop time themselves with it.",
  "local t0 = mgv.clock()\nlocal x = mgv.randn(200, 200):matmul(mgv.randn(200, 200))\n" ..
  "print(string.format('%.3f s', mgv.clock() - t0))")
doc("mgv.progress", "mgv.progress(total [, label]) -> bar",
  "A progress bar on standard error with the count, the rate and the time left (ETA), drawn " ..
  "only when standard error is a terminal and at most ten times a second. bar:update(done " ..
  "[, info]) redraws it with an extra text; bar:close() erases it.",
  "local bar = mgv.progress(100, 'work')\nfor i = 1, 100 do bar:update(i, 'step ' .. i) end\nbar:close()")
doc("mgv.predict", "mgv.predict(model, ds [, {batch = 64, label = 'predict'}]) -> {classes}",
  "model:predict over a whole data set in chunks, with a progress bar: the predicted class " ..
  "number of every instance.",
  "local task = mgv.data.synth{per_class = 4}\n" ..
  "local model = mgv.model{words = task.words, hidden = 16, heads = 2, experts = 2, proj = 16}\n" ..
  "local p = mgv.predict(model, task.val)\nprint(#p == #task.val)")
doc("mgv.evaluate", "mgv.evaluate(model, ds [, opts]) -> m",
  "Predicts every instance of ds (as mgv.predict, same options) and scores the predictions " ..
  "with mgv.metrics against ds's labels and class names; m also holds the predictions as " ..
  "m.pred. opts.disable_experts = {k, ...} and opts.gates intervene on the routing (see " ..
  "model:forward): what an expert is worth on a split is the drop without it.",
  "local task = mgv.data.synth{per_class = 4}\n" ..
  "local model = mgv.model{words = task.words, hidden = 16, heads = 2, experts = 2, proj = 16}\n" ..
  "local m = mgv.evaluate(model, task.test)\nprint(m.macro_f1)\nprint(m.table)\n" ..
  "print(mgv.evaluate(model, task.test, {disable_experts = {1}}).macro_f1)")

-------------------------------------------------------------------------------
-- building blocks (blocks.lua, lblocks.c)
-------------------------------------------------------------------------------
doc("mgv.nn", "mgv.nn",
  "Layers of the model as Lua objects, to build variants of it in Lua: mgv.nn.vib_moe, the " ..
  "VIB-MoE layer. With mgv.vat (MG-VAT's graph routines) and the tensor ops they rebuild " ..
  "the whole head (examples/custom_moe.lua) or variants (examples/text_vat.lua).",
  "local moe = mgv.nn.vib_moe{dim = 8, experts = 4}\nprint(moe)")
doc("mgv.nn.vib_moe", "mgv.nn.vib_moe{dim = d, experts = K [, sample = false] [, route = fn]} -> moe",
  "The VIB-MoE layer: a gate softmax(x Wg^T + bg) over K Gaussian experts z_k = mu_k + " ..
  "exp(lv_k / 2) eps (eps only with sample = true; else z_k = mu_k), mixed as sum_k pi_k " ..
  "z_k, through the fused C op (mgv.vmoe_experts). Weights start as the model's (PyTorch's " ..
  "uniform, from mgv.seed's generator). route(logits [..., K]) -> gates replaces the softmax " ..
  "(e.g. top-k routing). moe.experts[k] holds expert k's weights as views: mu.weight " ..
  "[d x d], mu.bias, logvar.weight, logvar.bias. Methods: moe:forward, moe:parameters, " ..
  "moe:load.",
  "mgv.seed(1)\nlocal moe = mgv.nn.vib_moe{dim = 4, experts = 3}\n" ..
  "print(moe.experts[2].mu.weight:shape()[1])   -- 4")
doc("mgv.nn.VibMoE.forward", "moe:forward(x [, mask]) -> o, {gates, kl, entropy}",
  "Runs the layer on x [..., d]: o [..., d], the gates [..., K], and the KL of the experts " ..
  "to N(0, I) and the gates' entropy as 0-d tensors, their means over the tokens where mask " ..
  "[...] is 1 (over all without a mask). Differentiable in x and in the layer's weights.",
  "mgv.seed(1)\nlocal moe = mgv.nn.vib_moe{dim = 4, experts = 3}\n" ..
  "local o, info = moe:forward(mgv.randn(2, 5, 4), mgv.ones(2, 5))\n" ..
  "print(o:shape()[3], info.gates:shape()[3], info.kl, info.entropy)\n" ..
  ";(o:sum() + info.kl):backward()\nprint(moe:parameters()['mu.weight'].grad ~= nil)")
doc("mgv.nn.VibMoE.parameters", "moe:parameters() -> {name = tensor}",
  "The layer's weights by name: gate.weight [K x d], gate.bias, mu.weight [K*d x d], " ..
  "mu.bias, logvar.weight, logvar.bias (the model's names without 'vmoe.'), e.g. for " ..
  "mgv.optim.adam.",
  "local moe = mgv.nn.vib_moe{dim = 4, experts = 3}\n" ..
  "local opt = mgv.optim.adam(moe:parameters(), {lr = 1e-3})\nprint(opt)")
doc("mgv.nn.VibMoE.load", "moe:load(params [, prefix = ''])",
  "Copies params[prefix .. name] into each of the layer's weights, e.g. a model's VIB-MoE " ..
  "with moe:load(model:parameters(), 'vmoe.').",
  "local task = mgv.data.synth{per_class = 4}\n" ..
  "local model = mgv.model{words = task.words, hidden = 16, heads = 2, experts = 2, proj = 16}\n" ..
  "local moe = mgv.nn.vib_moe{dim = 16, experts = 2}\nmoe:load(model:parameters(), 'vmoe.')")
doc("mgv.vmoe_experts", "mgv.vmoe_experts(h, pi, Wmu, bmu, Wlv, blv [, {sample = false, noise = t, kl = true}]) -> [..., d + 1]",
  "The fused experts op of the VIB-MoE layer: for tokens h [..., d] and gates pi [..., K], " ..
  "with Wmu, Wlv [K*d x d] (expert k owns rows (k-1)d+1 .. kd) and bmu, blv [K*d], the " ..
  "mixture sum_k pi_k z_k in the first d columns and each token's KL to N(0, I), summed " ..
  "over the experts, in the last. sample draws the noise (noise gives it: [..., K, d]); " ..
  "kl = false without noise skips the log-variances (that column is then 0). " ..
  "Differentiable in every input.",
  "local d, K = 2, 2\nlocal W = mgv.randn(K * d, d)\n" ..
  "local out = mgv.vmoe_experts(mgv.randn(3, d), mgv.full({3, K}, 0.5), W, mgv.zeros(K * d), W, mgv.zeros(K * d))\n" ..
  "print(out:shape()[2])   -- 3: o and the KL")
doc("mgv.vat", "mgv.vat",
  "MG-VAT's routines on node vectors g [B x D] (one row per sample): mgv.vat.graph, " ..
  "mgv.vat.probs, mgv.vat.loss, mgv.vat.power and the learned perturbation " ..
  "mgv.vat.perturbation. The same C code as the model's head; differentiable where the " ..
  "maths is.",
  "local g = mgv.randn(4, 6)\nlocal G = mgv.vat.graph(g)\nprint(mgv.vat.loss(g, G, mgv.randn(1, 6) * 0.1))")
doc("mgv.vat.graph", "mgv.vat.graph(g) -> G",
  "The batch graph G [B x B], G_ij = (cos(g_i, g_j) + 1) / 2 over the rows of g. " ..
  "Differentiable in g.",
  "print(mgv.vat.graph(mgv.tensor{{1, 0}, {0, 1}, {1, 1}}))")
doc("mgv.vat.probs", "mgv.vat.probs(g, G [, r]) -> p [B x 2]",
  "Each node's distribution p = softmax([<g_i, (G g)_i>, <g_i, ((1 - G) g)_i>]): how much " ..
  "its neighbours in G agree with it, against the rest. With r ([D], [1 x D] or [B x D]) " ..
  "the same for g + r in the same G: p-tilde. Differentiable in g, G and r.",
  "local g = mgv.randn(4, 6)\nlocal G = mgv.vat.graph(g)\nprint(mgv.vat.probs(g, G), mgv.vat.probs(g, G, mgv.randn(6)))")
doc("mgv.vat.loss", "mgv.vat.loss(g, G, r) -> L_mg",
  "MG-VAT's divergence: the mean over nodes of KL(p || p-tilde), p from g and p-tilde from " ..
  "g + r in the same graph G (mgv.vat.probs). 0-d; differentiable in g, G and r.",
  "local g = mgv.randn(4, 6)\nlocal G = mgv.vat.graph(g)\nprint(mgv.vat.loss(g, G, mgv.randn(1, 6) * 0.1))")
doc("mgv.vat.power", "mgv.vat.power(g, G [, {xi = 1e-6, eps = 1, iters = 1}]) -> r_adv",
  "Classic VAT's perturbation (Miyato et al.), the model's vat = 'power': from a random " ..
  "direction, iters power iterations on KL(p || p(g + xi d)) with p and G held fixed; " ..
  "each row of r_adv [B x D] has norm eps. A constant (no gradient), as in the model; use " ..
  "it in mgv.vat.loss(g, G, r_adv).",
  "local g = mgv.randn(4, 6)\nlocal G = mgv.vat.graph(g)\n" ..
  "local r = mgv.vat.power(g, G, {xi = 0.1, eps = 0.5, iters = 2})\nprint(r[1]:l2_norm(1))   -- 0.5")
doc("mgv.vat.perturbation", "mgv.vat.perturbation{dim = D [, lr = 5e-4] [, init = 0.05]} -> r",
  "MG-VAT's learned perturbation: r.r, a [1 x D] tensor (U(-init, init)) with its own Adam " ..
  "(r.opt, learning rate lr). r:step(g, G) moves it against the model, as the model's " ..
  "training step does after each batch.",
  "local p = mgv.vat.perturbation{dim = 6, lr = 1e-3}\nprint(p, p.r:shape()[2])")
doc("mgv.vat.Perturbation.step", "r:step(g, G) -> objective",
  "One step of r's Adam on -L_mg(g, G, r) + |r|_2 (mgv.vat.loss; the plain norm of r), with " ..
  "g and G held fixed (no gradient reaches them); returns that objective before the step.",
  "local g = mgv.randn(4, 6)\nlocal G = mgv.vat.graph(g)\nlocal p = mgv.vat.perturbation{dim = 6}\n" ..
  "print(p:step(g, G), p:step(g, G))")
doc("mgv.train", "mgv.train(model, task [, {epochs = 20, patience = 10, batch = 16, seed = 0, " ..
  "dir = nil, resume = false, steps_per_epoch, on_epoch, quiet = false}]) -> result",
  "The zero-shot training loop, written in Lua over model:train_step (lua/train.lua: copy it " ..
  "to write your own). Each epoch takes steps_per_epoch (#task.train // batch + 1) " ..
  "class-balanced batches of task.train, then scores task.val; the weights are kept when " ..
  "validation macro-F1 or micro-F1 reaches its best, and training stops after patience " ..
  "epochs without that. The best weights are put back at the end. They are kept in memory: " ..
  "nothing is written unless dir names a folder, which then receives best.safetensors (the " ..
  "best weights) and last.safetensors (the last epoch with the optimiser state); resume " ..
  "continues from dir's last.safetensors. on_epoch(info) is called after each epoch; quiet " ..
  "drops the log lines. Returns best_epoch, val_macro_f1, val_micro_f1, history, dir and " ..
  "seconds. Ctrl-C stops it between (or inside) steps and returns the result so far with " ..
  "interrupted = true, the best weights put back (best_epoch 0: the weights from before " ..
  "training) and a line saying so; any other error is raised. Under mpirun (mgv.dist) every " ..
  "rank runs it with the same seed: each global batch is split over the ranks inside " ..
  "model:train_step, evaluation is sharded, and rank 0 alone logs and writes dir; a run " ..
  "resumes with any number of ranks. There, SIGINT or SIGTERM to any rank (mpirun sends " ..
  "SIGTERM when it is interrupted) stops every rank after the same step " ..
  "(mgv.dist.defer_stop).",
  "local task = mgv.data.synth{per_class = 4}\n" ..
  "local model = mgv.model{words = task.words, hidden = 16, heads = 2, experts = 2, proj = 16}\n" ..
  "local r = mgv.train(model, task, {epochs = 2, quiet = true})\n" ..
  "print(r.best_epoch, r.val_macro_f1, r.interrupted, mgv.evaluate(model, task.test).macro_f1)")

-------------------------------------------------------------------------------
-- several processes (MPI)
-------------------------------------------------------------------------------
doc("mgv.dist", "mgv.dist",
  "The ranks of a data-parallel run. Started with `mpirun -np N bin/mgv script.lua`, every " ..
  "rank runs the whole script; mgv.dist says which rank this is and moves float tensors " ..
  "between the ranks. Outside mpirun, or in a build without MPI (mgv.dist.mpi false), there " ..
  "is one rank and every call returns its input unchanged, so the same script runs both " ..
  "ways. Collectives (allreduce, broadcast, barrier, and model:train_step and mgv.predict " ..
  "with several ranks) must be called by every rank in the same order: iterate parameter " ..
  "tables in sorted key order, not with pairs. README, \"Several processes\".",
  "print(mgv.dist.rank(), mgv.dist.size(), mgv.dist.mpi)")
doc("mgv.dist.rank", "mgv.dist.rank() -> integer",
  "This process's rank, 0 .. size - 1 (0 outside mpirun). By convention rank 0 prints and " ..
  "writes files.",
  "if mgv.dist.rank() == 0 then print('I write the checkpoints') end")
doc("mgv.dist.size", "mgv.dist.size() -> integer",
  "The number of ranks (1 outside mpirun).",
  "print(mgv.dist.size())")
doc("mgv.dist.allreduce", "mgv.dist.allreduce(t [, op = 'sum']) -> t",
  "Reduces the contiguous tensor t over the ranks in place, op 'sum', 'mean' or 'max', and " ..
  "returns it: afterwards every rank holds the same values.",
  "local loss = mgv.tensor{0.5 + mgv.dist.rank()}\nmgv.dist.allreduce(loss, 'mean')\n" ..
  "print(loss[1])   -- the mean over the ranks")
doc("mgv.dist.broadcast", "mgv.dist.broadcast(t [, root = 0]) -> t",
  "Copies root's values of the contiguous tensor t into t on every rank (same shape on all).",
  "local w = mgv.randn(3)\nmgv.dist.broadcast(w, 0)   -- every rank now has rank 0's w\nprint(w)")
doc("mgv.dist.barrier", "mgv.dist.barrier()",
  "Waits until every rank has reached it (e.g. rank 0 wrote a file the others read next).",
  "mgv.dist.barrier()")
doc("mgv.dist.split", "mgv.dist.split(n) -> first, count",
  "This rank's share of the items 1..n: items first .. first + count - 1, contiguous, in rank " ..
  "order, the shares differing by at most one (mgv.predict shards evaluation this way).",
  "local first, count = mgv.dist.split(10)\nprint(first, count)")
doc("mgv.dist.defer_stop", "mgv.dist.defer_stop(on)",
  "While on, SIGINT (Ctrl-C) and SIGTERM (what Open MPI's mpirun sends its ranks when it is " ..
  "interrupted) only note a stop request, which mgv.dist.stop_requested then reports on " ..
  "every rank: the ranks stop after the same step, where one stopping alone would leave the " ..
  "others waiting in a collective. A second signal of the same kind acts as usual (it ends " ..
  "a script). defer_stop(false) puts the previous handling back. mgv.train does this when " ..
  "there are several ranks.",
  "mgv.dist.defer_stop(true)\nfor step = 1, 3 do\n  -- one training step here\n" ..
  "  if mgv.dist.stop_requested() then print('stopping after step', step) break end\nend\n" ..
  "mgv.dist.defer_stop(false)")
doc("mgv.dist.stop_requested", "mgv.dist.stop_requested() -> boolean",
  "True on every rank when any rank noted SIGINT or SIGTERM since mgv.dist.defer_stop(true). " ..
  "A collective of one integer, cheap enough once per step: every rank calls it equally often.",
  "print(mgv.dist.stop_requested())   -- false")
doc("mgv.dist.stats", "mgv.dist.stats() -> {bytes, seconds}",
  "The bytes this rank has moved through collectives so far and the seconds spent in them " ..
  "(waiting for slower ranks included): communication against computation.",
  "local s = mgv.dist.stats()\nprint(s.bytes, s.seconds)")

-------------------------------------------------------------------------------
-- JSON
-------------------------------------------------------------------------------
doc("mgv.json.encode", "mgv.json.encode(v [, pretty = false]) -> string",
  "JSON text for a Lua value: a table whose keys are exactly 1..n (or an empty table) becomes " ..
  "an array, another table an object (number keys become strings), tensors nested arrays, " ..
  "nil, functions, NaN and infinities null. pretty indents by two spaces. Cycles are errors.",
  "print(mgv.json.encode({name = 'x', scores = {1, 2.5}, w = mgv.ones(2)}))")
doc("mgv.json.decode", "mgv.json.decode(text) -> value",
  "The Lua value of a JSON text: objects and arrays become tables (arrays 1-based), null " ..
  "becomes nil. Malformed input is an error naming the line and column.",
  "local v = mgv.json.decode('{\"a\": [1, 2, {\"b\": null}]}')\nprint(v.a[2])   -- 2")

-------------------------------------------------------------------------------
-- lookup
-------------------------------------------------------------------------------

-- Classes documented as "Class:method", with the registry name of their metatable.
local CLASSES = { Tensor = "mgv.Tensor", Optim = "mgv.Optim", Model = "mgv.Model",
                  Dataset = "mgv.Dataset", Sampler = "mgv.Sampler", Glove = "mgv.Glove",
                  Plot = "mgv.Plot" }

-- Every documented name: those added with doc() in order, then entries other
-- files put straight into M._docs (plot.lua), sorted.
local function all_names()
  local seen, names, extra = {}, {}, {}
  for _, name in ipairs(order) do
    seen[name] = true
    names[#names + 1] = name
  end
  for name in pairs(docs) do
    if not seen[name] then extra[#extra + 1] = name end
  end
  table.sort(extra)
  for _, name in ipairs(extra) do names[#names + 1] = name end
  return names
end

-- The topic of a class: "Model", else its module's ("Plot" -> "mgv.plot").
local function class_topic(class)
  if docs[class] then return class end
  if docs["mgv." .. class:lower()] then return "mgv." .. class:lower() end
  return nil
end

-- The methods table of a class: __methods, a table __index, or the table a C
-- __index function keeps as its first upvalue.
local function methods_of(class)
  if class == "Tensor" then return Tensor end
  local reg = debug and debug.getregistry and debug.getregistry()
  local mt = reg and reg[CLASSES[class]]
  if type(mt) ~= "table" then return nil end
  if type(mt.__methods) == "table" then return mt.__methods end
  if type(mt.__index) == "table" then return mt.__index end
  if type(mt.__index) == "function" then
    local ok, _, up = pcall(debug.getupvalue, mt.__index, 1)
    if ok and type(up) == "table" then return up end
  end
  return nil
end

-- A value at a dotted path below the module ("optim.adam" -> M.optim.adam).
local function module_value(path)
  local v = M
  for part in path:gmatch("[^.]+") do
    if type(v) ~= "table" then return nil end
    v = rawget(v, part)
  end
  return v
end

-- Function value -> doc name, built on first use (functions are compared by identity).
local by_function
local function function_names()
  if by_function then return by_function end
  by_function = {}
  for _, name in ipairs(all_names()) do
    local f
    local class, m = name:match("^(%u%a*):(.+)$")
    if class and CLASSES[class] then
      local methods = methods_of(class)
      f = methods and rawget(methods, m)
    else
      local path = name:match("^mgv%.(.+)$")
      if path then f = module_value(path) end
    end
    if type(f) == "function" and not by_function[f] then by_function[f] = name end
  end
  -- undocumented methods of a class lead to the class's topic
  for class in pairs(CLASSES) do
    local methods, topic = methods_of(class), class_topic(class)
    if methods and topic then
      for _, f in pairs(methods) do
        if type(f) == "function" and not by_function[f] then by_function[f] = topic end
      end
    end
  end
  return by_function
end

-- The class name ("Model") of a userdata value, from its metatable's __name.
local function class_of(x)
  local mt = getmetatable(x)
  local name = type(mt) == "table" and rawget(mt, "__name")
  for class, reg in pairs(CLASSES) do
    if reg == name then return class end
  end
  return nil
end

local function resolve(x)
  if type(x) == "function" then return function_names()[x] end
  if M.is_tensor(x) then return "Tensor" end
  if type(x) == "userdata" then
    local class = class_of(x)
    return class and class_topic(class)
  end
  if type(x) ~= "string" then return nil end
  x = x:gsub("^t[:.]", "Tensor:"):gsub("^Tensor%.(%l)", "Tensor:%1")
  x = x:gsub("^opt:", "Optim:"):gsub("^model[:.]", "Model:"):gsub("^ds[:.]", "Dataset:")
  local dotted = x:gsub("^Tensor:", "Tensor.")
  local cands = { x, dotted, "mgv." .. x, "Tensor:" .. x, "mgv.optim." .. x, "Optim:" .. x,
    "Tensor." .. x, (x:gsub("^mgv%.", "Tensor:")) }   -- mgv.exp(t) is t:exp()
  for _, class in ipairs({ "Model", "Dataset", "Sampler", "Glove" }) do
    cands[#cands + 1] = class .. ":" .. x
    cands[#cands + 1] = (x:gsub("^" .. class:lower() .. "[:.]", class .. ":"))
  end
  for _, cand in ipairs(cands) do
    if docs[cand] then return cand end
  end
  return nil
end

local function topics()
  local groups = { {}, {}, {}, {}, {} }
  for _, name in ipairs(all_names()) do
    if name:match("^Tensor[:.]") then table.insert(groups[2], name)
    elseif name:match("^mgv%.optim") or name:match("^Optim:") then table.insert(groups[3], name)
    elseif name:match("^%u%a*:") or CLASSES[name] then table.insert(groups[4], name)
    elseif name:match("^mgv%.") then table.insert(groups[1], name)
    else table.insert(groups[5], name) end
  end
  local out = { "mgv " .. M.version .. " — mgv.help(name) for details. Topics:" }
  local titles = { "module functions", "tensor methods and fields (t:name)", "optimisers",
    "models, data sets, samplers, word vectors (Class, Class:method)", "topics" }
  for i, g in ipairs(groups) do
    out[#out + 1] = "  " .. titles[i] .. ":"
    local line = "    "
    for _, name in ipairs(g) do
      local short = name:gsub("^mgv%.", ""):gsub("^Tensor[:.]", "")
      if #line + #short + 2 > 78 then
        out[#out + 1] = line
        line = "    "
      end
      line = line .. short .. "  "
    end
    out[#out + 1] = line
  end
  return table.concat(out, "\n")
end

local function wrap(text, width, indent)
  local lines, line = {}, indent
  for word in text:gmatch("%S+") do
    if #line + #word + 1 > width and #line > #indent then
      lines[#lines + 1] = line
      line = indent
    end
    line = line .. (#line > #indent and " " or "") .. word
  end
  lines[#lines + 1] = line
  return table.concat(lines, "\n")
end

-- A long signature breaks after its commas, continuation lines indented.
local function wrap_sig(sig, width)
  if #sig <= width then return sig end
  local pieces = {}
  for piece in sig:gmatch("(.-, )") do pieces[#pieces + 1] = piece end
  pieces[#pieces + 1] = sig:match(".*, (.-)$") or sig
  local lines, line = {}, ""
  for _, piece in ipairs(pieces) do
    if #line + #piece > width and #line > 4 then
      lines[#lines + 1] = (line:gsub("%s+$", ""))
      line = "    "
    end
    line = line .. piece
  end
  lines[#lines + 1] = line
  return table.concat(lines, "\n")
end

function M.doc(x)
  if x == nil then return topics() end
  local name = resolve(x)
  local d = name and docs[name]
  if not d then return nil end
  local ex = d.example and ("\n  Example:" .. ("\n" .. d.example):gsub("\n", "\n    ")) or ""
  local opts = ""
  if d.options then
    local lines = {}
    for i, line in ipairs(d.options) do lines[i] = wrap(line, 78, "    ") end
    opts = "\n  Options:\n" .. table.concat(lines, "\n")
  end
  return wrap_sig(d.sig, 78) .. "\n" .. wrap(d.text, 78, "  ") .. opts .. ex
end

-- The help of the topics whose names contain s (case-insensitive): the one
-- topic, or a list of them, else those whose text mentions s, else nil.
local function search(s)
  local needle = s:lower()
  local named, mentioned = {}, {}
  for _, name in ipairs(all_names()) do
    local d = docs[name]
    if name:lower():find(needle, 1, true) then named[#named + 1] = name
    elseif (d.sig .. " " .. d.text):lower():find(needle, 1, true) then mentioned[#mentioned + 1] = name end
  end
  if #named == 1 then return M.doc(named[1]) end
  local list = #named > 0 and named or mentioned
  if #list == 0 then return nil end
  return string.format("no topic '%s'; %s:\n  %s", s, #named > 0 and "topics whose names contain it"
    or "topics that mention it", table.concat(list, "\n  "))
end

-- The help of x, else of topics matching it, else a "no help" line.
function M._search_help(x)
  local text = M.doc(x) or (type(x) == "string" and x:match("^[%w_.: ]*[%w_][%w_.: ]*$") and search(x))
  return text or ("no help for " .. tostring(x) .. "; mgv.help() lists the topics")
end

function M.help(x)
  print(M._search_help(x))
end

-- The documented name of a function value, or nil (mgv.inspect prints it).
function M._doc_name(f)
  if type(f) ~= "function" then return nil end
  return function_names()[f]
end

-- The REPL's "?x": the help of the name x by its value, else as a topic
-- (mgv._host.help_text: nothing is called). Prints.
function M._help_line(src)
  if type(src) ~= "string" then error("help: a string expected, got " .. type(src), 2) end
  print(M._host.help_text(src))
end

-- For tests and tools: every documented name with its entry.
M._docs = docs
