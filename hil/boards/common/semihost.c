#include "semihost.h"
#include <string.h>

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

int semihost_open(const char *path, int mode)
{
    uint32_t block[3] = {(uint32_t)(uintptr_t)path, (uint32_t)mode, (uint32_t)strlen(path)};
    return semihost_call(0x01, block);
}

int semihost_close(int handle)
{
    uint32_t block[1] = {(uint32_t)handle};
    return semihost_call(0x02, block);
}

int32_t semihost_file_length(int handle)
{
    uint32_t block[1] = {(uint32_t)handle};
    return semihost_call(0x0C, block);
}

uint32_t semihost_read(int handle, void *data, uint32_t len)
{
    uint32_t block[3] = {(uint32_t)handle, (uint32_t)(uintptr_t)data, len};
    return (uint32_t)semihost_call(0x06, block);
}

uint32_t semihost_put(int handle, const void *data, uint32_t len)
{
    uint32_t block[3] = {(uint32_t)handle, (uint32_t)(uintptr_t)data, len};
    return (uint32_t)semihost_call(0x05, block);
}
