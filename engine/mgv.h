/* mgv.h — the whole engine API in one include. */
#ifndef MGV_H
#define MGV_H

#include "autograd.h"
#include "error.h"
#include "ops_elementwise.h"
#include "ops_loss.h"
#include "ops_matmul.h"
#include "ops_nn.h"
#include "ops_reduce.h"
#include "ops_shape.h"
#include "ops_softmax.h"
#include "rng.h"
#include "tensor.h"

#endif
