/* Input records of a semihosting test image (generated efm_test_vectors.c): efm_test_count records, each the
 * graph inputs' bytes concatenated in input order. */
#ifndef EFM_TEST_VECTORS_H
#define EFM_TEST_VECTORS_H

#include <stdint.h>

extern const uint32_t efm_test_count;
extern const uint8_t efm_test_data[];

#endif
