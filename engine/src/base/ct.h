/* Constant-time helpers: masks are all-ones (true) or all-zeros (false) and
 * are computed without branches, so secret values (CBC padding length, MAC
 * position) never steer control flow or memory addresses. */
#ifndef TLS_CT_H
#define TLS_CT_H

#include <stddef.h>
#include <stdint.h>

/* Hides a value from the optimiser so it cannot turn mask arithmetic back
 * into a branch. */
static inline size_t ct_barrier(size_t x)
{
    __asm__("" : "+r"(x));
    return x;
}

/* all-ones if the top bit of a is set */
static inline size_t ct_msb(size_t a)
{
    return (size_t)0 - (ct_barrier(a) >> (sizeof(size_t) * 8 - 1));
}
static inline size_t ct_is_zero(size_t a) { return ct_msb(~a & (a - 1)); }
static inline size_t ct_eq(size_t a, size_t b) { return ct_is_zero(a ^ b); }
/* a < b for any a, b: the top bit of a ^ ((a ^ b) | ((a - b) ^ b)) */
static inline size_t ct_lt(size_t a, size_t b) { return ct_msb(a ^ ((a ^ b) | ((a - b) ^ b))); }
static inline size_t ct_ge(size_t a, size_t b) { return ~ct_lt(a, b); }
static inline size_t ct_select(size_t mask, size_t a, size_t b) { return (mask & a) | (~mask & b); }
static inline uint8_t ct_select_u8(size_t mask, uint8_t a, uint8_t b)
{
    return (uint8_t)((mask & a) | (~mask & b));
}

#endif
