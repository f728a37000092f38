-- help.lua — the documentation table of the Lua API and mgv.help / mgv.doc.
--
-- One entry per public function: a signature, a paragraph, and an example
-- that runs as written (tests/lua/test_help.lua runs every example and
-- checks that every public function has an entry). Add new entries here,
-- with doc(name, signature, text, example); names are "mgv.f" for module
-- functions, "Tensor:m" for tensor methods, "Optim:m" for optimiser methods,
-- and plain topics ("indexing", "operators", ...).
-- Embedded into the binary; called by luaopen_mgv with (mgv, mgv.Tensor, meta).

local M, Tensor = ...

local docs = {}
local order = {}

local function doc(name, sig, text, example)
  if not docs[name] then order[#order + 1] = name end
  docs[name] = { sig = sig, text = text, example = example }
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
  "true when x is an mgv tensor.",
  "print(mgv.is_tensor(mgv.zeros(1)), mgv.is_tensor({}))")

doc("mgv.broadcast_shape", "mgv.broadcast_shape(a, b)",
  "The shape (a table) that a and b broadcast to under numpy rules, or an error naming both shapes.",
  "print(table.concat(mgv.broadcast_shape(mgv.zeros(3, 1), mgv.zeros(4)), 'x'))   -- 3x4")

doc("mgv.rss", "mgv.rss()",
  "The resident memory of the process in bytes (from /proc/self/statm).",
  "print(mgv.rss() // 2^20 .. ' MiB')")

doc("mgv.memory", "mgv.memory()",
  "Bytes of tensor storage the engine currently holds (all tensors, gradients and optimiser state).",
  "print(mgv.memory())")

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
doc("Tensor:numel", "t:numel()", "The number of elements.", "print(mgv.zeros(2, 3):numel())   -- 6")
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
doc("Tensor:scale", "t:scale(s)", "s * t for a number s.", "print(mgv.ones(2):scale(0.5))")
doc("Tensor:pow", "t:pow(p)", "t ^ p element-wise for a number p (also written t ^ p).",
  "print(mgv.tensor{1, 2, 3}:pow(2))")
doc("Tensor:neg", "t:neg()", "-t.", "print(mgv.ones(2):neg())")
doc("Tensor:exp", "t:exp()", "e ^ t element-wise.", "print(mgv.zeros(2):exp())")
doc("Tensor:log", "t:log()", "Natural logarithm element-wise.", "print(mgv.ones(2):log())")
doc("Tensor:sqrt", "t:sqrt()", "Square root element-wise.", "print(mgv.tensor{4, 9}:sqrt())")
doc("Tensor:tanh", "t:tanh()", "Hyperbolic tangent element-wise.", "print(mgv.zeros(2):tanh())")
doc("Tensor:relu", "t:relu()", "max(t, 0) element-wise.", "print(mgv.tensor{-1, 2}:relu())")
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
doc("Tensor:mean", "t:mean([axis | {axes}] [, keepdim = false])", "Mean, with the axes of sum.",
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
doc("Tensor:softmax", "t:softmax([axis = -1])", "Softmax along an axis.",
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
doc("Tensor:l2_norm", "x:l2_norm([axis = -1 [, keepdim = false]])", "sqrt(sum x^2) along an axis.",
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
doc("Tensor:zero_grad", "t:zero_grad()", "Clears t.grad; returns t.",
  "local w = mgv.ones(1):requires_grad_()\nw:sum():backward()\nw:zero_grad()\nprint(w.grad)   -- nil")
doc("Tensor:retain_grad", "t:retain_grad()",
  "Keeps .grad on a computed (non-leaf) tensor after backward; returns t.",
  "local w = mgv.ones(2):requires_grad_()\nlocal h = (w * 2):retain_grad()\nh:sum():backward()\nprint(h.grad)")
doc("mgv.no_grad", "mgv.no_grad(fn, ...)",
  "Calls fn(...) with grad mode off (nothing is recorded) and returns its results; the mode is " ..
  "restored even when fn raises an error.",
  "local w = mgv.ones(2):requires_grad_()\nlocal y = mgv.no_grad(function() return w * 2 end)\nprint(y.requires_grad)   -- false")
doc("mgv.grad_enabled", "mgv.grad_enabled([on])",
  "Without an argument, whether grad mode is on. With one, sets the mode and returns the " ..
  "previous one (to restore it). Prefer mgv.no_grad, which restores the mode on errors too.",
  "local old = mgv.grad_enabled(false)\nprint(mgv.grad_enabled())   -- false\nmgv.grad_enabled(old)")

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

doc("mgv.help", "mgv.help([x])",
  "Prints the documentation of x: a function (mgv.zeros, t.reshape), a name ('zeros', " ..
  "'Tensor:reshape', 'optim.adam', 'indexing'), or with no argument the list of topics.",
  "mgv.help(mgv.zeros)\nmgv.help('reshape')")
doc("mgv.doc", "mgv.doc(x) -> string | nil",
  "The documentation text mgv.help would print for x, or nil when there is none (for tools " ..
  "such as the notebook kernel's inspect).", "print(mgv.doc('zeros'))")

-------------------------------------------------------------------------------
-- lookup
-------------------------------------------------------------------------------

-- Function value -> doc name, built on first use (functions are compared by identity).
local by_function
local function function_names()
  if by_function then return by_function end
  by_function = {}
  local optim_meta = debug and debug.getregistry and debug.getregistry()["mgv.Optim"]
  for _, name in ipairs(order) do
    local f
    local m = name:match("^Tensor:(.+)$")
    if m then f = Tensor[m] end
    local g = name:match("^mgv%.optim%.(.+)$")
    if g then f = M.optim[g] end
    local h = not g and name:match("^mgv%.(.+)$")
    if h then f = M[h] end
    if type(f) == "function" and not by_function[f] then by_function[f] = name end
    local o = name:match("^Optim:(.+)$")
    if o and optim_meta then
      local ok, _, idx = pcall(debug.getupvalue, optim_meta.__index, 1)
      if ok and type(idx) == "table" and type(idx[o]) == "function" then by_function[idx[o]] = name end
    end
  end
  return by_function
end

local function resolve(x)
  if type(x) == "function" then return function_names()[x] end
  if M.is_tensor(x) then return "Tensor" end
  if type(x) ~= "string" then return nil end
  x = x:gsub("^t[:.]", "Tensor:"):gsub("^Tensor%.(%l)", "Tensor:%1")
  x = x:gsub("^opt:", "Optim:")
  local dotted = x:gsub("^Tensor:", "Tensor.")
  for _, cand in ipairs({ x, dotted, "mgv." .. x, "Tensor:" .. x, "mgv.optim." .. x,
    "Optim:" .. x, "Tensor." .. x }) do
    if docs[cand] then return cand end
  end
  return nil
end

local function topics()
  local groups = { {}, {}, {}, {} }
  for _, name in ipairs(order) do
    if name:match("^Tensor[:.]") then table.insert(groups[2], name)
    elseif name:match("^mgv%.optim") or name:match("^Optim:") then table.insert(groups[3], name)
    elseif name:match("^mgv%.") then table.insert(groups[1], name)
    else table.insert(groups[4], name) end
  end
  local out = { "mgv " .. M.version .. " — mgv.help(name) for details. Topics:" }
  local titles = { "module functions", "tensor methods and fields (t:name)", "optimisers",
    "topics" }
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

function M.doc(x)
  if x == nil then return topics() end
  local name = resolve(x)
  if name == "Tensor" then name = "indexing" end
  local d = name and docs[name]
  if not d then return nil end
  local ex = d.example and ("\n  Example:" .. ("\n" .. d.example):gsub("\n", "\n    ")) or ""
  return d.sig .. "\n" .. wrap(d.text, 78, "  ") .. ex
end

function M.help(x)
  local text = M.doc(x)
  if not text then
    text = "no help for " .. tostring(x) .. "; mgv.help() lists the topics"
  end
  print(text)
end

-- For tests and tools: every documented name with its entry.
M._docs = docs
