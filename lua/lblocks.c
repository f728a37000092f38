/*
 * lblocks.c — the model's building blocks for Lua: the fused VIB-MoE experts
 * op (mgv.vmoe_experts, engine/mgvmoe/ops_vmoe.h) and MG-VAT's graph
 * routines (mgv.vat.graph / probs / loss / power and the perturbation step,
 * engine/mgvmoe/head.h). The layer objects over them (mgv.nn.vib_moe,
 * mgv.vat.perturbation) are Lua, in blocks.lua.
 */
#define LMGV_INTERNAL
#include "lmgv.h"

#include "mgvmoe/head.h"
#include "mgvmoe/ops_vmoe.h"

/* mgv.vmoe_experts(h, pi, Wmu, bmu, Wlv, blv [, {sample = false, noise = t, kl = true}])
 * -> [..., d + 1]: the mixture output and the per-token KL in the last column */
static const char *const vmoe_opts[] = {"sample", "noise", "kl", NULL};

static int l_vmoe_experts(lua_State *L)
{
    lua_settop(L, 7);
    mgv_tensor *t[6];
    for (int i = 0; i < 6; i++) t[i] = lmgv_check(L, i + 1);
    const char *op = "vmoe_experts";
    lmgv_check_options(L, 7, vmoe_opts, op);
    int flags = lmgv_opt_bool(L, 7, "sample", 0) ? MGV_VMOE_SAMPLE : 0;
    if (!lmgv_opt_bool(L, 7, "kl", 1)) flags |= MGV_VMOE_NO_KL;
    mgv_tensor *eps = NULL;
    if (lmgv_has_option(L, 7, "noise")) {
        lua_getfield(L, 7, "noise");
        if (!(eps = lmgv_test(L, -1)))
            return luaL_error(L, "%s: option 'noise' must be a tensor [..., K, d]", op);
    }
    lmgv_tensor *u = lmgv_slot(L);
    u->t = mgv_vmoe_experts(t[0], t[1], t[2], t[3], t[4], t[5], eps, flags, NULL);
    lmgv_done(L, u);
    return 1;
}

/* mgv.vat.graph(g) -> G */
static int l_vat_graph(lua_State *L)
{
    mgv_tensor *g = lmgv_check(L, 1);
    lmgv_tensor *u = lmgv_slot(L);
    u->t = mgv_vat_graph(g);
    lmgv_done(L, u);
    return 1;
}

/* mgv.vat.probs(g, G [, r]) -> p (p~ with r) */
static int l_vat_probs(lua_State *L)
{
    mgv_tensor *g = lmgv_check(L, 1), *G = lmgv_check(L, 2), *r = lmgv_opt(L, 3);
    lmgv_tensor *lp = lmgv_slot(L);
    lp->t = mgv_vat_logp(g, G, r);
    lmgv_done(L, lp);
    lmgv_tensor *u = lmgv_slot(L);
    u->t = mgv_exp(lp->t);
    lmgv_done(L, u);
    return 1;
}

/* mgv.vat.loss(g, G, r) -> mean KL(p || p~) */
static int l_vat_loss(lua_State *L)
{
    mgv_tensor *g = lmgv_check(L, 1), *G = lmgv_check(L, 2), *r = lmgv_check(L, 3);
    lmgv_tensor *u = lmgv_slot(L);
    u->t = mgv_vat_loss(g, G, r);
    lmgv_done(L, u);
    return 1;
}

/* mgv.vat.power(g, G [, {xi = 1e-6, eps = 1, iters = 1}]) -> r_adv */
static const char *const power_opts[] = {"xi", "eps", "iters", NULL};

static int l_vat_power(lua_State *L)
{
    lua_settop(L, 3);
    mgv_tensor *g = lmgv_check(L, 1), *G = lmgv_check(L, 2);
    const char *op = "vat.power";
    lmgv_check_options(L, 3, power_opts, op);
    double xi = lmgv_opt_number(L, 3, "xi", 1e-6, op);
    double eps = lmgv_opt_number(L, 3, "eps", 1.0, op);
    int iters = lmgv_opt_int(L, 3, "iters", 1, op);
    lmgv_tensor *u = lmgv_slot(L);
    u->t = mgv_vat_power(g, G, (float)xi, (float)eps, iters, NULL);
    lmgv_done(L, u);
    return 1;
}

/* mgv.vat._step(r, opt, g [, G]) -> objective before the step (blocks.lua's r:step) */
static int l_vat_step(lua_State *L)
{
    mgv_tensor *r = lmgv_check(L, 1);
    mgv_optim *opt = lmgv_check_optim(L, 2);
    mgv_tensor *g = lmgv_check(L, 3), *G = lmgv_opt(L, 4);
    double obj = 0;
    if (mgv_vat_perturb_step(r, g, G, opt, &obj) < 0) return lmgv_error(L);
    lmgv_account(L);
    lua_pushnumber(L, obj);
    return 1;
}

static const luaL_Reg vat_funcs[] = {
    {"graph", l_vat_graph}, {"probs", l_vat_probs}, {"loss", l_vat_loss},
    {"power", l_vat_power}, {"_step", l_vat_step},  {NULL, NULL}};

void lmgv_open_blocks(lua_State *L, int module)
{
    lua_pushcfunction(L, l_vmoe_experts);
    lua_setfield(L, module, "vmoe_experts");
    lmgv_new_lib(L, module, "vat", vat_funcs);
}
