/* ops_softmax.h — softmax and log-softmax along an axis (max-subtracted). */
#ifndef MGV_OPS_SOFTMAX_H
#define MGV_OPS_SOFTMAX_H

#include "core/tensor.h"

mgv_tensor *mgv_softmax(mgv_tensor *x, int axis);
mgv_tensor *mgv_log_softmax(mgv_tensor *x, int axis);

#endif
