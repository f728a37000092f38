/*
 * lmodel.h — what the data binding (ldata.c) shares with the model binding
 * (lmodel.c): the data-set and GloVe userdata and their checks.
 */
#ifndef LMODEL_H
#define LMODEL_H

#include "data/dataset.h"
#include "formats/glove.h"

#define LMGV_DATASET "mgv.Dataset"

typedef struct {
    mgv_dataset ds;
    int live;
} lmgv_dataset;

typedef struct {
    mgv_glove *g;
} lmgv_glove;

lmgv_dataset *lmgv_dataset_ud(lua_State *L, int arg);   /* the live userdata at arg */
lmgv_glove *lmgv_check_glove(lua_State *L, int arg);
/* registers ldata.c's classes and functions into the module table */
void lmgv_open_data(lua_State *L, int module);

#endif
