/* QEMU mps2-an386: CMSDK APB UART0 (QEMU serial0) polled, CMSDK timer0 as the work counter. */
#include "tern_board.h"
#include "semihost.h"

#define UART0 0x40004000u
#define UART_DATA (*(volatile uint32_t *)(UART0 + 0x00))
#define UART_STATE (*(volatile uint32_t *)(UART0 + 0x04))
#define UART_CTRL (*(volatile uint32_t *)(UART0 + 0x08))
#define UART_BAUDDIV (*(volatile uint32_t *)(UART0 + 0x10))

#define TIMER0 0x40000000u
#define TIMER_CTRL (*(volatile uint32_t *)(TIMER0 + 0x00))
#define TIMER_VALUE (*(volatile uint32_t *)(TIMER0 + 0x04))
#define TIMER_RELOAD (*(volatile uint32_t *)(TIMER0 + 0x08))

#define CLOCK_HZ 25000000u

void board_init(void)
{
    UART_BAUDDIV = CLOCK_HZ / 115200u; /* QEMU ignores the rate but requires >= 16 */
    UART_CTRL = 0x3u;                  /* TX and RX enable, no interrupts */
    TIMER_RELOAD = 0xFFFFFFFFu;
    TIMER_VALUE = 0xFFFFFFFFu;
    TIMER_CTRL = 0x1u; /* enable; counts down at the 25 MHz peripheral clock */
}

void board_uart_write(const uint8_t *data, uint32_t len)
{
    for (uint32_t i = 0; i < len; i++) {
        while (UART_STATE & 0x1u) { }
        UART_DATA = data[i];
    }
}

int board_uart_read(void) { return (UART_STATE & 0x2u) ? (int)(UART_DATA & 0xFFu) : -1; }

/* Under -icount shift=0 one instruction is 1 ns of guest time, so 25 MHz ticks count instructions / 40. */
uint32_t board_counter_read(void) { return 0xFFFFFFFFu - TIMER_VALUE; }
uint32_t board_counter_hz(void) { return CLOCK_HZ; }
uint8_t board_work_unit(void) { return 0; }
uint32_t board_clock_hz(void) { return CLOCK_HZ; }
const char *board_name(void) { return "qemu-mps2-an386"; }
void board_exit(int code) { semihost_exit(code); }
