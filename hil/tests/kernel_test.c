/* Kernel and model test driver, the same source natively and on a board (build with -DTERN_TEST_BOARD and
 * the board files). Runs every vector of vectors.c through both bodies of each kernel (_ref and _dsp),
 * then the compiled-in model (tern_model.c: emitted with the prefix tern_model) on model_vectors.c's inputs,
 * and compares with the C# results.
 * Prints the first mismatch of each failing case (case, body, element, got, expected) and, for the model,
 * the first layer that differs. Exit code 0 when everything matches, 1 otherwise. On a board it also prints
 * the work (instructions under QEMU -icount) of one model inference. */
#include <stdint.h>
#include <string.h>
#include "tern_kernels.h"
#include "tern_model.h"
#include "tern_vectors.h"

#ifdef TERN_TEST_BOARD
#include "tern_board.h"
#include "semihost.h"
static void out(const char *s) { semihost_write(s); }
#else
#include <stdio.h>
static void out(const char *s) { fputs(s, stdout); }
#endif

#define GUARD 16
#define MAX_REPORTS 20

static int8_t buffer[TV_MAX_OUTPUT + GUARD];
static int reports;

static void out_int(int64_t v)
{
    char text[24];
    int n = 0;
    uint64_t u = v < 0 ? (uint64_t)0 - (uint64_t)v : (uint64_t)v;
    do {
        text[n++] = (char)('0' + (int)(u % 10u));
        u /= 10u;
    } while (u);
    if (v < 0) text[n++] = '-';
    char line[24];
    for (int i = 0; i < n; i++) line[i] = text[n - 1 - i];
    line[n] = 0;
    out(line);
}

static void out_kv(const char *key, int64_t v)
{
    out(key);
    out_int(v);
}

typedef enum { BODY_REF = 0, BODY_DSP = 1 } body;
static const char *const body_names[] = {"ref", "dsp"};

static tern_status run_case(const tv_case *c, body b, int8_t *o)
{
    const int8_t *in = c->input;
    switch (c->kind) {
    case TV_CONV_S8:
        return b == BODY_REF ? tern_conv_s8_ref(c->conv, (const int8_t *)c->weights, in, o)
                             : tern_conv_s8_dsp(c->conv, (const int8_t *)c->weights, in, o);
    case TV_CONV_T2:
        return b == BODY_REF ? tern_conv_t2_ref(c->conv, (const uint8_t *)c->weights, in, o)
                             : tern_conv_t2_dsp(c->conv, (const uint8_t *)c->weights, in, o);
    case TV_DEPTHWISE_S8:
        return b == BODY_REF ? tern_depthwise_s8_ref(c->conv, (const int8_t *)c->weights, in, o)
                             : tern_depthwise_s8_dsp(c->conv, (const int8_t *)c->weights, in, o);
    case TV_DEPTHWISE_T2:
        return b == BODY_REF ? tern_depthwise_t2_ref(c->conv, (const uint8_t *)c->weights, in, o)
                             : tern_depthwise_t2_dsp(c->conv, (const uint8_t *)c->weights, in, o);
    case TV_MAXPOOL_S8:
        return b == BODY_REF ? tern_maxpool_s8_ref(c->pool, in, o) : tern_maxpool_s8_dsp(c->pool, in, o);
    case TV_AVGPOOL_S8:
        return b == BODY_REF ? tern_avgpool_s8_ref(c->pool, in, o) : tern_avgpool_s8_dsp(c->pool, in, o);
    case TV_ADD_S8:
        if (b == BODY_REF) return tern_add_s8_ref(c->add, in, c->skip, o);
        /* the DSP body adds in place over the skip tensor, as the emitted model does */
        memcpy(o, c->skip, c->output_len);
        return tern_add_s8_dsp(c->add, in, o, o);
    default:
        return TERN_ERR_NULL;
    }
}

static void report_start(void)
{
    reports++;
    if (reports == MAX_REPORTS + 1) out("(further mismatches not printed)\n");
}

/* Runs one case with one body twice, under two poison patterns, so an element the kernel never writes
 * cannot match by accident; also checks the bytes after the output stay untouched. */
static int check_case(uint32_t index, const tv_case *c, body b)
{
    static const uint8_t poisons[2] = {0x5Au, 0xA5u};
    for (int k = 0; k < 2; k++) {
        memset(buffer, poisons[k], sizeof buffer);
        tern_status st = run_case(c, b, buffer);
        if (st != TERN_OK) {
            report_start();
            if (reports <= MAX_REPORTS) {
                out_kv("MISMATCH case ", index);
                out(" (");
                out(c->name);
                out(") body ");
                out(body_names[b]);
                out_kv(": status ", st);
                out("\n");
            }
            return 1;
        }
        for (uint32_t i = 0; i < c->output_len + GUARD; i++) {
            int32_t want = i < c->output_len ? c->expected[i] : (int8_t)poisons[k];
            if (buffer[i] != want) {
                report_start();
                if (reports <= MAX_REPORTS) {
                    out_kv("MISMATCH case ", index);
                    out(" (");
                    out(c->name);
                    out(") body ");
                    out(body_names[b]);
                    out(i < c->output_len ? " element " : " wrote past the output at ");
                    out_int(i);
                    out_kv(": got ", buffer[i]);
                    out_kv(", expected ", want);
                    out("\n");
                }
                return 1;
            }
        }
    }
    return 0;
}

static int check_requants(void)
{
    int failures = 0;
    for (uint32_t i = 0; i < tv_requant_count; i++) {
        const tv_requant *r = &tv_requants[i];
        int32_t got[2];
        got[0] = tern_requantize_ref(r->acc, r->m, r->s, r->z, r->lo, r->hi);
        got[1] = tern_requantize_dsp(r->acc, r->m, r->s, r->z, r->lo, r->hi);
        for (int b = 0; b < 2; b++)
            if (got[b] != r->expected) {
                failures++;
                report_start();
                if (reports <= MAX_REPORTS) {
                    out_kv("MISMATCH requantize ", i);
                    out(" body ");
                    out(body_names[b]);
                    out_kv(": acc ", r->acc);
                    out_kv(" m ", r->m);
                    out_kv(" s ", r->s);
                    out_kv(": got ", got[b]);
                    out_kv(", expected ", r->expected);
                    out("\n");
                }
            }
    }
    return failures;
}

static int same(const int8_t *a, const int8_t *b, uint32_t n, uint32_t *first)
{
    for (uint32_t i = 0; i < n; i++)
        if (a[i] != b[i]) {
            *first = i;
            return 0;
        }
    return 1;
}

/* Finds and prints the first layer whose output differs from the C# runner's. */
static void diagnose_model(uint32_t input)
{
    for (uint32_t l = 0; l < tv_model_layer_count; l++) {
        const int8_t *got;
        uint32_t len, at = 0;
        const int8_t *want = tv_model_layer_outputs[input * tv_model_layer_count + l];
        int r = tern_model_run_layers(tv_model_inputs[input], (int)l, &got, &len);
        if (r != 0 || len != tv_model_layer_lengths[l] || !same(got, want, len, &at)) {
            out_kv("  first differing layer ", l);
            if (r != 0) {
                out_kv(": tern_model_run_layers returned ", r);
            } else if (len != tv_model_layer_lengths[l]) {
                out_kv(": length ", len);
                out_kv(", expected ", tv_model_layer_lengths[l]);
            } else {
                out_kv(", element ", at);
                out_kv(": got ", got[at]);
                out_kv(", expected ", want[at]);
            }
            out("\n");
            return;
        }
    }
}

static int check_model(void)
{
    int failures = 0;
    out("model ");
    out(tv_model_name);
    out(" kernels ");
    out(tern_model_kernels);
    out("\n");
    if (memcmp(tern_model_hash, tv_model_hash, 32) != 0) {
        out("MISMATCH model hash: tern_model.c and model_vectors.c come from different models\n");
        return 1;
    }
    if (TERN_MODEL_LAYER_COUNT != tv_model_layer_count) {
        out_kv("MISMATCH model layer count ", TERN_MODEL_LAYER_COUNT);
        out_kv(", expected ", tv_model_layer_count);
        out("\n");
        return 1;
    }
    const int last = (int)tv_model_layer_count - 1;
    for (uint32_t i = 0; i < tv_model_input_count; i++) {
        const int8_t *got;
        uint32_t len, at = 0;
#ifdef TERN_TEST_BOARD
        uint32_t t0 = board_counter_read();
#endif
        int r = tern_model_run_layers(tv_model_inputs[i], last, &got, &len);
#ifdef TERN_TEST_BOARD
        uint32_t ticks = board_counter_read() - t0;
        /* under QEMU -icount shift=0 one instruction is 1 ns: instructions = ticks * 10^9 / f_counter */
        out_kv("model_run input ", i);
        out(board_work_unit() == 0 ? " instructions=" : " cycles=");
        out_int(board_work_unit() == 0 ? (int64_t)ticks * (int64_t)(1000000000u / board_counter_hz())
                                       : (int64_t)ticks * (int64_t)(board_clock_hz() / board_counter_hz()));
        out("\n");
#endif
        const int8_t *want = tv_model_layer_outputs[i * tv_model_layer_count + (uint32_t)last];
        if (r != 0 || len != tv_model_layer_lengths[last] || !same(got, want, len, &at)) {
            failures++;
            out_kv("MISMATCH model input ", i);
            if (r == 0) {
                out_kv(" output element ", at);
                out_kv(": got ", got[at]);
                out_kv(", expected ", want[at]);
            } else {
                out_kv(": tern_model_run_layers returned ", r);
            }
            out("\n");
            diagnose_model(i);
        }
    }
#ifdef TERN_TEST_BOARD
    /* per-layer work: running layers 0..l minus running 0..l-1 (the input copy cancels out) */
    int64_t previous = 0;
    for (uint32_t l = 0; l < tv_model_layer_count; l++) {
        const int8_t *o;
        uint32_t n;
        uint32_t t0 = board_counter_read();
        tern_model_run_layers(tv_model_inputs[0], (int)l, &o, &n);
        int64_t total = (int64_t)(board_counter_read() - t0) * (int64_t)(1000000000u / board_counter_hz());
        out_kv("layer ", l);
        out_kv(board_work_unit() == 0 ? " instructions=" : " ticks=", total - previous);
        out("\n");
        previous = total;
    }
#endif
    const int8_t *dummy;
    uint32_t dummy_len;
    if (tern_model_run_layers(tv_model_inputs[0], last + 1, &dummy, &dummy_len) >= 0 ||
        tern_model_run_layers(tv_model_inputs[0], -1, &dummy, &dummy_len) >= 0) {
        failures++;
        out("MISMATCH model: an out-of-range last_layer was accepted\n");
    }
    return failures;
}

int main(void)
{
#ifdef TERN_TEST_BOARD
    board_init();
#endif
    out("kernel_test: ");
    out(tv_stamp);
    out("\n");
    int failures = check_requants();
    out_kv("requantize vectors: ", tv_requant_count);
    out("\n");
    for (uint32_t i = 0; i < tv_case_count; i++)
        for (int b = 0; b < 2; b++) failures += check_case(i, &tv_cases[i], (body)b);
    out_kv("kernel cases: ", tv_case_count);
    out(" x 2 bodies\n");
    failures += check_model();
    out_kv("failures: ", failures);
    out("\n");
    return failures ? 1 : 0;
}
