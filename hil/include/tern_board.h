/* What the firmware needs from a board (hil/boards/<board>/board.c implements it). */
#ifndef TERN_BOARD_H
#define TERN_BOARD_H

#include <stdint.h>

void board_init(void);                                   /* clocks, UART (8N1, polled), work counter */
void board_uart_write(const uint8_t *data, uint32_t len); /* blocking */
int board_uart_read(void);                               /* next received byte, or -1 if none yet */
uint32_t board_counter_read(void);                       /* free-running up-counter of work ticks */
uint32_t board_counter_hz(void);                         /* ticks per second of that counter */
uint8_t board_work_unit(void);                           /* 0 instructions (QEMU -icount), 1 cycles */
uint32_t board_clock_hz(void);                           /* core clock */
const char *board_name(void);
void board_exit(int code);                               /* semihosting exit where available, else spin */

#endif
