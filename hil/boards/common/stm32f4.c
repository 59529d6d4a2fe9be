/* STM32F4 board support shared by qemu-netduinoplus2 and nucleo-f446re (board data: board.json defines).
 * UART: USART2 on PA2/PA3 (the ST-LINK virtual COM port on Nucleo boards; QEMU serial1), polled 8N1.
 * Work counter: DWT CYCCNT where it works (silicon: cycles); QEMU does not emulate it (DWT_CTRL reads 0),
 * so the firmware falls back to TIM2, which QEMU clocks at TERN_TIM2_HZ (1 GHz: under -icount shift=0 one
 * tick is one instruction). */
#include "tern_board.h"
#if TERN_SEMIHOSTING
#include "semihost.h"
#endif

#ifndef TERN_CLOCK_HZ
#define TERN_CLOCK_HZ 16000000u /* HSI after reset */
#endif
#ifndef TERN_TIM2_HZ
#define TERN_TIM2_HZ TERN_CLOCK_HZ
#endif
#ifndef TERN_BOARD_NAME
#define TERN_BOARD_NAME "stm32f4"
#endif

#define REG(a) (*(volatile uint32_t *)(a))
#define RCC_AHB1ENR REG(0x40023830u)
#define RCC_APB1ENR REG(0x40023840u)
#define GPIOA_MODER REG(0x40020000u)
#define GPIOA_AFRL REG(0x40020020u)
#define USART2_SR REG(0x40004400u)
#define USART2_DR REG(0x40004404u)
#define USART2_BRR REG(0x40004408u)
#define USART2_CR1 REG(0x4000440Cu)
#define TIM2_CR1 REG(0x40000000u)
#define TIM2_EGR REG(0x40000014u)
#define TIM2_CNT REG(0x40000024u)
#define TIM2_PSC REG(0x40000028u)
#define TIM2_ARR REG(0x4000002Cu)
#define DEMCR REG(0xE000EDFCu)
#define DWT_CTRL REG(0xE0001000u)
#define DWT_CYCCNT REG(0xE0001004u)

static int use_dwt;

void board_init(void)
{
    RCC_AHB1ENR |= 1u << 0;  /* GPIOA */
    RCC_APB1ENR |= 1u << 17; /* USART2 */
    RCC_APB1ENR |= 1u << 0;  /* TIM2 */
    GPIOA_MODER = (GPIOA_MODER & ~(0xFu << 4)) | (0xAu << 4);       /* PA2, PA3 alternate function */
    GPIOA_AFRL = (GPIOA_AFRL & ~(0xFFu << 8)) | (0x77u << 8);       /* AF7 = USART2 */
    USART2_BRR = (TERN_CLOCK_HZ + 115200u / 2) / 115200u;            /* 0x8B at 16 MHz */
    USART2_CR1 = (1u << 13) | (1u << 3) | (1u << 2);                /* UE, TE, RE */

    DEMCR |= 1u << 24; /* TRCENA */
    DWT_CYCCNT = 0;
    DWT_CTRL |= 1u;
    use_dwt = DWT_CTRL != 0 && DWT_CYCCNT != 0;
    if (!use_dwt) {
        TIM2_PSC = 0;
        TIM2_ARR = 0xFFFFFFFFu;
        TIM2_EGR = 1u; /* load the prescaler */
        TIM2_CR1 = 1u;
    }
}

void board_uart_write(const uint8_t *data, uint32_t len)
{
    for (uint32_t i = 0; i < len; i++) {
        while (!(USART2_SR & (1u << 7))) { }
        USART2_DR = data[i];
    }
}

int board_uart_read(void) { return (USART2_SR & (1u << 5)) ? (int)(USART2_DR & 0xFFu) : -1; }
uint32_t board_counter_read(void) { return use_dwt ? DWT_CYCCNT : TIM2_CNT; }
uint32_t board_counter_hz(void) { return use_dwt ? TERN_CLOCK_HZ : TERN_TIM2_HZ; }
uint8_t board_work_unit(void) { return use_dwt ? 1 : 0; }
uint32_t board_clock_hz(void) { return TERN_CLOCK_HZ; }
const char *board_name(void) { return TERN_BOARD_NAME; }

void board_exit(int code)
{
#if TERN_SEMIHOSTING
    semihost_exit(code);
#else
    (void)code; /* no debugger to tell: stop here */
    for (;;) { }
#endif
}
