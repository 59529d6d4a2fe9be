/* Drives two models of a folder written by `tern export c` the way a user's program would: both linked into one
 * binary through their headers only, natively (stdio) or on a board (-DTERN_TEST_BOARD: files by semihosting,
 * relative to the folder QEMU runs in). The prefixes come in as -DTERN_EXPORT_A=p -DTERN_EXPORT_A_H=\"p.h\"
 * (and _B). For each model p it
 *   reads p.f32 (float32 HWC tensors), quantizes every value with p_quantize, runs p_run, writes p.s8;
 *   reads p_edges.f32 (any float32 values), writes p_edges.s8 (p_quantize of each);
 *   writes p_deq.f32 (p_dequantize of every code -128..127) and p_classes.txt (the class names, one a line).
 * The host compares the files with its own runtime. On a board it also prints the instructions (QEMU -icount)
 * of one p_run and of quantizing one input. Exit code 0, or 1 after printing what failed. */
#include <stdint.h>
#include <string.h>

#include TERN_EXPORT_A_H
#include TERN_EXPORT_B_H

#define CAT_(a, b) a##b
#define CAT(a, b) CAT_(a, b)
#define STR_(a) #a
#define STR(a) STR_(a)

typedef struct {
    const char *name;
    uint32_t input_bytes, output_bytes, class_count;
    int (*run)(const int8_t *input, int8_t *output);
    int8_t (*quantize)(float x);
    float (*dequantize)(int8_t q);
    const char *const *class_names;
} model_t;

#define MODEL(P, UP)                                                                                            \
    {                                                                                                           \
        .name = STR(P), .input_bytes = CAT(UP, _INPUT_BYTES), .output_bytes = CAT(UP, _OUTPUT_BYTES),           \
        .class_count = CAT(UP, _CLASS_COUNT), .run = CAT(P, _run), .quantize = CAT(P, _quantize),               \
        .dequantize = CAT(P, _dequantize), .class_names = CAT(P, _class_names)                                  \
    }

static const model_t models[2] = {MODEL(TERN_EXPORT_A, TERN_EXPORT_A_UP), MODEL(TERN_EXPORT_B, TERN_EXPORT_B_UP)};

#define MAX_BYTES 65536u /* the largest input tensor this driver takes */
static uint8_t raw[4u * MAX_BYTES];
static int8_t codes[MAX_BYTES];
static int8_t output[MAX_BYTES];

/* ---- files and messages: stdio natively, semihosting on a board ---- */
#ifdef TERN_TEST_BOARD
#include "semihost.h"
#include "tern_board.h"
typedef int file_t;
static void say(const char *s) { semihost_write(s); }
static int open_in(const char *path, file_t *f) { return (*f = semihost_open(path, SEMIHOST_READ_BINARY)) >= 0; }
static int open_out(const char *path, file_t *f) { return (*f = semihost_open(path, SEMIHOST_WRITE_BINARY)) >= 0; }
static long file_length(file_t f) { return (long)semihost_file_length(f); }
static int read_all(file_t f, void *data, uint32_t n) { return semihost_read(f, data, n) == 0; }
static int write_all(file_t f, const void *data, uint32_t n) { return semihost_put(f, data, n) == 0; }
static int close_file(file_t f) { return semihost_close(f) == 0; }
#else
#include <stdio.h>
typedef FILE *file_t;
static void say(const char *s) { fputs(s, stdout); }
static int open_in(const char *path, file_t *f) { return (*f = fopen(path, "rb")) != NULL; }
static int open_out(const char *path, file_t *f) { return (*f = fopen(path, "wb")) != NULL; }
static long file_length(file_t f)
{
    long n;
    if (fseek(f, 0, SEEK_END) != 0 || (n = ftell(f)) < 0 || fseek(f, 0, SEEK_SET) != 0) return -1;
    return n;
}
static int read_all(file_t f, void *data, uint32_t n) { return fread(data, 1, n, f) == n; }
static int write_all(file_t f, const void *data, uint32_t n) { return fwrite(data, 1, n, f) == n; }
static int close_file(file_t f) { return fclose(f) == 0; }
#endif

static void say_int(const char *label, long v)
{
    char buf[24];
    int i = (int)sizeof buf - 1;
    unsigned long u = v < 0 ? 0ul - (unsigned long)v : (unsigned long)v;
    buf[i] = '\0';
    do {
        buf[--i] = (char)('0' + u % 10u);
        u /= 10u;
    } while (u != 0u);
    if (v < 0) buf[--i] = '-';
    say(label);
    say(buf + i);
}

static int fail(const char *what, const char *name)
{
    say("FAILED: ");
    say(what);
    say(" (");
    say(name);
    say(")\n");
    return 1;
}

static float f32le(const uint8_t *b)
{
    uint32_t u = (uint32_t)b[0] | (uint32_t)b[1] << 8 | (uint32_t)b[2] << 16 | (uint32_t)b[3] << 24;
    float f;
    memcpy(&f, &u, sizeof f);
    return f;
}

static void put_f32le(uint8_t *b, float f)
{
    uint32_t u;
    memcpy(&u, &f, sizeof u);
    b[0] = (uint8_t)u;
    b[1] = (uint8_t)(u >> 8);
    b[2] = (uint8_t)(u >> 16);
    b[3] = (uint8_t)(u >> 24);
}

static void path_of(char *dst, const char *name, const char *suffix)
{
    size_t n = strlen(name);
    memcpy(dst, name, n);
    strcpy(dst + n, suffix);
}

/* p.f32 -> p.s8 */
static int run_tensors(const model_t *m)
{
    char path[96];
    file_t in, out;
    long size, count, t;
    uint32_t raw_bytes = 4u * m->input_bytes;
    if (m->input_bytes > MAX_BYTES || m->output_bytes > MAX_BYTES) return fail("tensor larger than the driver", m->name);
    path_of(path, m->name, ".f32");
    if (!open_in(path, &in)) return fail("cannot open the input tensors", path);
    size = file_length(in);
    if (size < 0 || size % (long)raw_bytes != 0) return fail("input is not whole tensors", path);
    count = size / (long)raw_bytes;
    path_of(path, m->name, ".s8");
    if (!open_out(path, &out)) return fail("cannot create the outputs", path);
    for (t = 0; t < count; t++) {
        uint32_t i;
#ifdef TERN_TEST_BOARD
        uint32_t t0, t1, t2;
#endif
        if (!read_all(in, raw, raw_bytes)) return fail("short read", m->name);
#ifdef TERN_TEST_BOARD
        t0 = board_counter_read();
#endif
        for (i = 0; i < m->input_bytes; i++) codes[i] = m->quantize(f32le(raw + 4u * i));
#ifdef TERN_TEST_BOARD
        t1 = board_counter_read();
#endif
        if (m->run(codes, output) != 0) return fail("run returned an error", m->name);
#ifdef TERN_TEST_BOARD
        t2 = board_counter_read();
        if (t == 0 && board_work_unit() == 0) {
            /* under QEMU -icount shift=0 one instruction is 1 ns of guest time */
            const long per_tick = (long)(1000000000u / board_counter_hz());
            say(m->name);
            say_int(" run instructions=", (long)(t2 - t1) * per_tick);
            say_int(" quantize instructions=", (long)(t1 - t0) * per_tick);
            say("\n");
        }
#endif
        if (!write_all(out, output, m->output_bytes)) return fail("short write", m->name);
    }
    if (!close_file(in) || !close_file(out)) return fail("close", m->name);
    say(m->name);
    say_int(": tensors ", count);
    say("\n");
    return 0;
}

/* p_edges.f32 -> p_edges.s8, and p_deq.f32 */
static int quantization(const model_t *m)
{
    char path[96];
    file_t in, out;
    long size, done, i;
    path_of(path, m->name, "_edges.f32");
    if (!open_in(path, &in)) return fail("cannot open the edge values", path);
    size = file_length(in);
    if (size < 0 || size % 4 != 0) return fail("edge values are not whole float32", path);
    path_of(path, m->name, "_edges.s8");
    if (!open_out(path, &out)) return fail("cannot create the edge codes", path);
    for (done = 0; done < size / 4;) {
        long n = size / 4 - done;
        if (n > (long)MAX_BYTES) n = (long)MAX_BYTES;
        if (!read_all(in, raw, 4u * (uint32_t)n)) return fail("short read of the edge values", m->name);
        for (i = 0; i < n; i++) codes[i] = m->quantize(f32le(raw + 4 * i));
        if (!write_all(out, codes, (uint32_t)n)) return fail("short write of the edge codes", m->name);
        done += n;
    }
    if (!close_file(in) || !close_file(out)) return fail("close", m->name);
    path_of(path, m->name, "_deq.f32");
    if (!open_out(path, &out)) return fail("cannot create the dequantized codes", path);
    for (i = 0; i < 256; i++) put_f32le(raw + 4 * i, m->dequantize((int8_t)(i - 128)));
    if (!write_all(out, raw, 4u * 256u) || !close_file(out)) return fail("dequantized codes", m->name);
    if (m->class_count != m->output_bytes) return fail("class count", m->name);
    path_of(path, m->name, "_classes.txt");
    if (!open_out(path, &out)) return fail("cannot create the class names", path);
    for (i = 0; i < (long)m->class_count; i++)
        if (!write_all(out, m->class_names[i], (uint32_t)strlen(m->class_names[i])) || !write_all(out, "\n", 1))
            return fail("class names", m->name);
    if (!close_file(out)) return fail("close", m->name);
    return 0;
}

int main(void)
{
    int failures = 0, k;
#ifdef TERN_TEST_BOARD
    board_init();
#endif
    for (k = 0; k < 2; k++) failures += run_tensors(&models[k]) + quantization(&models[k]);
    say_int("failures: ", failures);
    say("\n");
    return failures ? 1 : 0;
}
