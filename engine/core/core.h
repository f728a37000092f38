/* core.h — the tensor core in one include: tensors, autograd, the ops, RNG,
 * errors. The whole engine API is mgv.h. */
#ifndef MGV_CORE_H
#define MGV_CORE_H

#include "core/autograd.h"
#include "core/error.h"
#include "core/ops_elementwise.h"
#include "core/ops_loss.h"
#include "core/ops_matmul.h"
#include "core/ops_nn.h"
#include "core/ops_reduce.h"
#include "core/ops_shape.h"
#include "core/ops_softmax.h"
#include "core/rng.h"
#include "core/tensor.h"

#endif
