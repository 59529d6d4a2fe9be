/* ARM semihosting calls (QEMU with -semihosting-config enable=on,target=native). File paths are relative to
 * the folder QEMU runs in. */
#ifndef TERN_SEMIHOST_H
#define TERN_SEMIHOST_H

#include <stdint.h>

void semihost_exit(int code);       /* SYS_EXIT_EXTENDED: QEMU exits with this code */
void semihost_write(const char *s); /* SYS_WRITE0: a string on QEMU's stdout/stderr */

#define SEMIHOST_READ_BINARY 1  /* fopen mode "rb" */
#define SEMIHOST_WRITE_BINARY 5 /* fopen mode "wb" */

int semihost_open(const char *path, int mode);                   /* SYS_OPEN: a handle, or -1 */
int semihost_close(int handle);                                  /* SYS_CLOSE: 0, or -1 */
int32_t semihost_file_length(int handle);                        /* SYS_FLEN: bytes, or -1 */
uint32_t semihost_read(int handle, void *data, uint32_t len);    /* SYS_READ: bytes NOT read (0: all read) */
uint32_t semihost_put(int handle, const void *data, uint32_t len); /* SYS_WRITE: bytes NOT written */

#endif
