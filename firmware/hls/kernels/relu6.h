/* RELU6: relu.h with the upper bound at 6 (set in P by the emitter). */
#ifndef EFM_HLS_RELU6_H
#define EFM_HLS_RELU6_H

#include "relu.h"

#endif
