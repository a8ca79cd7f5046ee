/* Decimal and hex formatting for the firmware mains (newlib's printf stays out of the image). */
#include <stdint.h>

#include "efm_runtime.h"

uint32_t efm_fmt_u64(char *dst, uint64_t v) {
    char tmp[20];
    uint32_t n = 0;
    do {
        /* Division by 10 through 32-bit halves keeps libgcc's 64-bit division out of the image. */
        uint32_t hi = (uint32_t)(v >> 32), lo = (uint32_t)v;
        uint32_t qhi = hi / 10u, rhi = hi % 10u;
        uint64_t rest = ((uint64_t)rhi << 32) | lo;
        /* rest < 10 * 2^32: split it again in two 32-bit steps. */
        uint32_t mid = (uint32_t)(rest >> 16);
        uint32_t qmid = mid / 10u, rmid = mid % 10u;
        uint32_t low = (rmid << 16) | (lo & 0xFFFFu);
        uint32_t qlow = low / 10u, rlow = low % 10u;
        v = ((uint64_t)qhi << 32) | ((uint64_t)qmid << 16) | qlow;
        tmp[n++] = (char)('0' + rlow);
    } while (v);
    for (uint32_t i = 0; i < n; i++) {
        dst[i] = tmp[n - 1 - i];
    }
    return n;
}

uint32_t efm_fmt_u32(char *dst, uint32_t v) {
    return efm_fmt_u64(dst, v);
}

uint32_t efm_fmt_hex8(char *dst, uint8_t v) {
    static const char digits[] = "0123456789abcdef";
    dst[0] = digits[v >> 4];
    dst[1] = digits[v & 15u];
    return 2;
}
