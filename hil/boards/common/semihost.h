/* ARM semihosting calls (QEMU with -semihosting-config enable=on,target=native). */
#ifndef TERN_SEMIHOST_H
#define TERN_SEMIHOST_H

void semihost_exit(int code);       /* SYS_EXIT_EXTENDED: QEMU exits with this code */
void semihost_write(const char *s); /* SYS_WRITE0: a string on QEMU's stdout/stderr */

#endif
