/* Cortex-M startup shared by every board: vector table, .data copy, .bss clear, FPU enable, main().
 * The linker script of each board provides the symbols below. */
#include <stdint.h>

extern uint32_t _estack, _sidata, _sdata, _edata, _sbss, _ebss;
extern int main(void);
extern void board_exit(int code);

void Reset_Handler(void);
void Fault_Handler(void);

/* A fault ends the run with a distinct exit code under QEMU (semihosting) instead of hanging. */
void Fault_Handler(void) { board_exit(70); for (;;) { } }

__attribute__((section(".isr_vector"), used)) void (*const tern_vectors[16])(void) = {
    (void (*)(void))(&_estack), Reset_Handler, Fault_Handler, Fault_Handler, Fault_Handler,
    Fault_Handler, Fault_Handler, 0, 0, 0, 0, Fault_Handler, Fault_Handler, 0, Fault_Handler, Fault_Handler,
};

void Reset_Handler(void)
{
    /* Flash boards keep .data's initial values at _sidata; RAM-loaded boards have _sidata == _sdata. */
    uint32_t *src = &_sidata, *dst = &_sdata;
    if (src != dst)
        while (dst < &_edata) *dst++ = *src++;
    for (dst = &_sbss; dst < &_ebss;) *dst++ = 0;
#if defined(__ARM_FP)
    /* Hard-float code faults on the first FPU instruction unless CP10/CP11 are enabled. */
    *(volatile uint32_t *)0xE000ED88 |= 0xFu << 20;
    __asm volatile("dsb\n isb");
#endif
    board_exit(main());
}
