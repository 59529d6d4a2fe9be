#include "semihost.h"
#include <stdint.h>

static int semihost_call(int op, const void *arg)
{
    register int r0 __asm__("r0") = op;
    register const void *r1 __asm__("r1") = arg;
    __asm volatile("bkpt 0xAB" : "+r"(r0) : "r"(r1) : "memory");
    return r0;
}

void semihost_exit(int code)
{
    /* ADP_Stopped_ApplicationExit with an exit code (SYS_EXIT_EXTENDED, 0x20). */
    uint32_t block[2] = {0x20026u, (uint32_t)code};
    semihost_call(0x20, block);
    for (;;) { }
}

void semihost_write(const char *s) { semihost_call(0x04, s); }
