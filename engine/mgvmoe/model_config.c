/*
 * model_config.c — the model's options as data (the table of
 * model_options.h): choices, option descriptions and reasons, the default
 * configuration and the presets.
 */
#include "mgvmoe/model.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/core.h"

/* the table of options as data (model_options.h) */
#define DEFINE_CHOICES(option, ...) \
    const mgv_choice mgv_model_choices_##option[] = {__VA_ARGS__, {NULL, 0}};
MGV_MODEL_CHOICES(DEFINE_CHOICES)
#undef DEFINE_CHOICES

#define CHOICES_INT(option) NULL
#define CHOICES_NUM(option) NULL
#define CHOICES_BOOL(option) NULL
#define CHOICES_STR(option) NULL
#define CHOICES_CHOICE(option) mgv_model_choices_##option
#define NUMBER_INT(v) (v)
#define NUMBER_NUM(v) (v)
#define NUMBER_BOOL(v) (v)
#define NUMBER_STR(v) 0
#define NUMBER_CHOICE(v) (v)
#define OPTION_ROW(name, at, field, kind, def, ref, known, help)                              \
    {#name, help, MGV_OPT_##kind, CHOICES_##kind(name), NUMBER_##kind(def), NUMBER_##kind(ref), \
     known},
const mgv_model_option mgv_model_options[] = {
    MGV_MODEL_OPTIONS(OPTION_ROW){NULL, NULL, MGV_OPT_INT, NULL, 0, 0, 0}};
#undef OPTION_ROW

const char *mgv_choice_name(const mgv_choice *choices, int v)
{
    for (; choices->name; choices++)
        if (choices->value == v) return choices->name;
    return NULL;
}

const char *mgv_model_option_why(const char *name)
{
#define WHY_ROW(option, reason) \
    if (strcmp(name, #option) == 0) return reason;
    MGV_MODEL_WHY(WHY_ROW)
#undef WHY_ROW
    return NULL;
}

int mgv_model_preset(const char *name, mgv_model_config *c)
{
    if (!name || strcmp(name, "paper") != 0)
        return mgv_fail("model: unknown preset '%s' (known: 'paper')", name ? name : "(null)");
    int n_spans = c->n_spans;
#define SET_KNOWN(option, at, field, kind, def, ref, known, help) \
    if (known && MGV_OPT_##kind != MGV_OPT_STR) MGV_OPTION_FIELD(*c, at, field) = NUMBER_##kind(ref);
    MGV_MODEL_OPTIONS(SET_KNOWN)
#undef SET_KNOWN
    c->n_spans = n_spans;
    /* MET/model.py:36 d = 768; MRE/model.py:70 d = 256 */
    c->head.proj = n_spans == 1 ? 768 : 256;
    return 0;
}

mgv_model_config mgv_model_default_config(void)
{
    mgv_model_config c;
    memset(&c, 0, sizeof c);
    /* what no option sets: the margin, classic VAT's radius, ... */
    c.head = mgv_head_default_config(0, 0, 0, 0, 0);
#define SET_DEFAULT(name, at, field, kind, def, ref, known, help) \
    MGV_OPTION_FIELD(c, at, field) = def;
    MGV_MODEL_OPTIONS(SET_DEFAULT)
#undef SET_DEFAULT
    return c;
}
