/* Arm semihosting calls (BKPT 0xAB in Thumb state): console output and exit with a code. */
#include <stdint.h>

#include "efm_runtime.h"

#define SYS_WRITE0 0x04
#define SYS_EXIT_EXTENDED 0x20
#define ADP_STOPPED_APPLICATION_EXIT 0x20026u

static int efm_semihost_call(int op, const void *arg) {
    register int r0 __asm__("r0") = op;
    register const void *r1 __asm__("r1") = arg;
    __asm__ volatile("bkpt 0xAB" : "+r"(r0) : "r"(r1) : "memory");
    return r0;
}

void efm_semihost_write0(const char *s) {
    (void)efm_semihost_call(SYS_WRITE0, s);
}

void efm_semihost_exit(int code) {
    /* SYS_EXIT_EXTENDED takes a pointer to {reason, exit code} also on AArch32, so the code reaches the host. */
    const uint32_t block[2] = {ADP_STOPPED_APPLICATION_EXIT, (uint32_t)code};
    (void)efm_semihost_call(SYS_EXIT_EXTENDED, block);
    for (;;) {
    }
}
