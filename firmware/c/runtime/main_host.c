/* Host main (`edgefmr build --board host`): runs the generated model on the build machine.
 *
 *   model            reads records of the concatenated graph inputs from stdin until EOF; after each record writes
 *                    the concatenated graph outputs to stdout.
 *   model --layers   the same, but writes every layer's output, in layer order, instead of the graph outputs.
 *   model --info     prints the model hash, arena bytes and layer count.
 * A streaming build (EFM_STREAMING) starts from a reset state; each record is one frame, each answer the step's output,
 * and the state is carried from record to record.
 */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "model.h"

static int read_exact(void *dst, uint32_t n) {
    return n == 0 || fread(dst, 1, n, stdin) == n;
}

int main(int argc, char **argv) {
    int layers = 0;
    if (argc > 1) {
        if (strcmp(argv[1], "--info") == 0) {
            printf("hash %s\narena_bytes %lu\nlayers %d\ninputs %d\noutputs %d\n", efm_model_hash,
                   (unsigned long)efm_arena_bytes, EFM_NUM_LAYERS, EFM_NUM_INPUTS, EFM_NUM_OUTPUTS);
            return 0;
        }
        if (strcmp(argv[1], "--layers") != 0) {
            fprintf(stderr, "usage: %s [--layers | --info] < inputs > outputs\n", argv[0]);
            return 2;
        }
        layers = 1;
    }
#ifdef EFM_STREAMING
    efm_model_reset();
#endif
    for (;;) {
        int c = getc(stdin);
        if (c == EOF) {
            break;
        }
        ungetc(c, stdin);
        for (int i = 0; i < EFM_NUM_INPUTS; i++) {
            if (!read_exact(efm_input(i), efm_input_bytes(i))) {
                fprintf(stderr, "model: truncated input record (input %d needs %lu bytes)\n", i,
                        (unsigned long)efm_input_bytes(i));
                return 1;
            }
        }
        if (layers) {
            for (int l = 0; l < EFM_NUM_LAYERS; l++) {
                efm_run_layer(l);
                fwrite(efm_layer_output(l), 1, efm_layer_output_bytes(l), stdout);
            }
#ifdef EFM_STREAMING
            efm_state_commit();
#endif
        } else {
            efm_run();
            for (int o = 0; o < EFM_NUM_OUTPUTS; o++) {
                fwrite(efm_output(o), 1, efm_output_bytes(o), stdout);
            }
        }
    }
    return fflush(stdout) == 0 ? 0 : 1;
}
