/*
 * mgv.h — the whole public engine API in one include, layer by layer (each
 * layer includes only the ones above it in this list).
 */
#ifndef MGV_H
#define MGV_H

/* core: tensors, autograd, ops, optimisers, threads, RNG, errors, version */
#include "core/core.h"
#include "core/dist.h"
#include "core/optim.h"
#include "core/parallel.h"
#include "core/params.h"
#include "core/version.h"

/* formats: files in and out */
#include "formats/canvas.h"
#include "formats/glove.h"
#include "formats/image.h"
#include "formats/plot.h"
#include "formats/pyliteral.h"
#include "formats/safetensors.h"
#include "formats/utf8.h"
#include "formats/wordpiece.h"

/* nn: network blocks and encoders */
#include "nn/bert.h"
#include "nn/hf.h"
#include "nn/patch_encoder.h"
#include "nn/text_encoder.h"
#include "nn/transformer.h"
#include "nn/vit.h"

/* data: data sets, readers, tasks, splits, metrics */
#include "data/dataset.h"
#include "data/features.h"
#include "data/met.h"
#include "data/metrics.h"
#include "data/mnre.h"
#include "data/synth.h"
#include "data/tasks.h"
#include "data/textnorm.h"
#include "data/zsplit.h"

/* mgvmoe: the VIB-MoE op, the head, the model */
#include "mgvmoe/head.h"
#include "mgvmoe/model.h"
#include "mgvmoe/ops_vmoe.h"

#endif
