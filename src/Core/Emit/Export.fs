namespace Tern.Core

open System
open System.IO
open System.Text
open Tern.Runtime

/// Which kernel bodies an exported folder compiles (TERN_KERNELS_DSP).
type ExportKernels =
    /// tern_kernels.h decides: the DSP bodies where the target has the DSP extension, the portable ones elsewhere.
    | AutoKernels
    /// The portable reference bodies everywhere.
    | ReferenceKernels
    /// The Cortex-M4 DSP bodies everywhere (their instructions emulated in portable C off the DSP extension).
    | DspKernels

    member k.Name =
        match k with
        | AutoKernels -> "auto"
        | ReferenceKernels -> "reference"
        | DspKernels -> "dsp"

/// One integer model to export: where it came from and the prefix of its C names.
type ExportModel = {
    /// The model file as given.
    File: string
    Prefix: string
    Model: IntModel
    /// ModelFile.hash of the model.
    Hash: string
}

/// Everything an export needs besides the device sources.
type ExportSpec = {
    Models: ExportModel list
    Kernels: ExportKernels
    /// The static library is lib<Library>.a.
    Library: string
    /// The command line, written into every generated file's provenance.
    CommandLine: string
}

/// The contents of an exported folder.
type ExportedFolder = {
    /// (file name, text), sorted by name: the whole folder.
    Files: (string * string) list
    /// Each model with its emitted p.h and p.c, in the order given.
    Models: (ExportModel * EmittedModel) list
    /// The kernel sources compiled with the models (requantize.c and the kernels the layers call).
    KernelSources: string list
}

/// Integer models -> one self-contained C folder for any firmware project: p.h/p.c per model, the kernels they need
/// (once), an example program, a Makefile, a CMakeLists.txt and a README.
[<RequireQualifiedAccess>]
module Export =

    /// The manifest that marks a folder as written by `tern export c` (and may be replaced by another export).
    let manifestName: string = "tern-export.json"

    /// Every kernel source of hil/kernels, by the tern_* function it defines (requantize.c is always needed;
    /// baked.c, the helpers of the ternary layers baked into code, whenever a model has one).
    let kernelStems: string list = [
        "requantize"
        "conv_s8"
        "conv_t2"
        "depthwise_s8"
        "depthwise_t2"
        "maxpool_s8"
        "avgpool_s8"
        "add_s8"
        "baked"
    ]

    /// File stems the folder holds besides the models': no prefix may take them.
    let private reservedStems =
        set (
            [
                "tern_kernels"
                "tern_kernels_internal"
                "tern_baked"
                "example"
                "tern-export"
            ]
            @ kernelStems
        )

    /// Why a prefix cannot be used in an exported folder, or None.
    let prefixProblem (prefix: string) : string option =
        match Emit.prefixProblem prefix with
        | Some why -> Some why
        | None when reservedStems.Contains(prefix.ToLowerInvariant()) ->
            Some $"names a file the folder already holds ({prefix}.c or .h)"
        | None -> None

    /// A C identifier from a name: other characters become _, a leading digit gets m_, runs of _ collapse.
    let private identifier (name: string) : string =
        let chars =
            name.ToLowerInvariant()
            |> Seq.map (fun c -> if Char.IsAsciiLetterOrDigit c then c else '_')
            |> Array.ofSeq

        let s = String(chars).Trim('_')
        let collapsed = Text.RegularExpressions.Regex.Replace(s, "_+", "_")

        if collapsed = "" then ""
        elif Char.IsAsciiDigit collapsed[0] then "m_" + collapsed
        else collapsed

    /// The default prefix of a model file: its stem made a C identifier (default-t2.tern -> default_t2); a stem
    /// that is a keyword or a reserved name gets _model.
    let defaultPrefix (file: string) : string =
        let p = identifier (Path.GetFileNameWithoutExtension file)
        let p = if p = "" then "model" else p
        let p = if p.Length > 34 then p.Substring(0, 34).TrimEnd('_') else p

        match prefixProblem p with
        | None -> p
        | Some _ -> p + "_model"

    /// The library name of an output folder: its name made a C identifier (tern_models if nothing is left).
    let libraryName (outDir: string) : string =
        let name =
            Path.GetFileName(Path.TrimEndingDirectorySeparator(Path.GetFullPath outDir))

        match identifier name with
        | "" -> "tern_models"
        | s -> s

    /// Checks a list of prefixes: each usable, no two the same (ignoring case: macros are upper case).
    let checkPrefixes (prefixes: string list) : Result<unit, string> =
        let bad =
            prefixes
            |> List.tryPick (fun p -> prefixProblem p |> Option.map (fun why -> $"prefix '{p}' {why}"))

        match bad with
        | Some e -> Error e
        | None ->
            let dup =
                prefixes
                |> List.countBy (fun p -> p.ToUpperInvariant())
                |> List.tryFind (fun (_, n) -> n > 1)

            match dup with
            | Some(p, _) ->
                let same =
                    prefixes
                    |> List.filter (fun q -> q.ToUpperInvariant() = p)
                    |> String.concat ", "

                Error $"two models would share the prefix {same}: give each its own with --prefix"
            | None -> Ok()

    /// Whether some layer of the models is baked into code in the DSP build (it then needs tern_baked.h, baked.c).
    let private anyBaked (models: IntModel list) : bool =
        models
        |> List.exists (fun m ->
            m.Layers
            |> Array.exists (function
                | :? IntConvLayer as c -> Emit.isBaked c
                | _ -> false))

    /// The kernel sources (hil/kernels file names) the models call: requantize.c always, then one per kernel used,
    /// and baked.c where a layer is baked.
    let kernelSources (models: IntModel list) : string list =
        let used =
            models
            |> List.collect (fun m -> m.Layers |> Array.map Emit.kernelName |> List.ofArray)
            |> List.filter (fun k -> k <> "")
            |> List.map (fun k -> k.Substring "tern_".Length)
            |> set

        let baked = anyBaked models

        kernelStems
        |> List.filter (fun s -> s = "requantize" || used.Contains s || (s = "baked" && baked))
        |> List.map (fun s -> s + ".c")

    /// The kernel headers the folder holds: tern_kernels.h and tern_kernels_internal.h, and tern_baked.h with baked.c.
    let kernelHeaders (kernelSources: string list) : string list =
        [ "tern_kernels.h"; "tern_kernels_internal.h" ]
        @ (if List.contains "baked.c" kernelSources then
               [ "tern_baked.h" ]
           else
               [])

    /// tern_kernels.h with the export's body choice fixed before the header's own default (a -D still wins).
    let private kernelsHeader (kernels: ExportKernels) (original: string) : string =
        let anchor = "#define TERN_KERNELS_H\n"

        match kernels with
        | AutoKernels -> original
        | _ when not (original.Contains anchor) -> failwith "tern_kernels.h has no '#define TERN_KERNELS_H' line"
        | k ->
            let value = if k = DspKernels then 1 else 0

            let fixedChoice =
                $"\n/* tern export c --kernels {k.Name}: these bodies unless the build defines TERN_KERNELS_DSP. */\n"
                + $"#ifndef TERN_KERNELS_DSP\n#define TERN_KERNELS_DSP {value}\n#endif\n"

            original.Replace(anchor, anchor + fixedChoice)

    let private exampleSource (spec: ExportSpec) (m: ExportModel) : string =
        let p = m.Prefix
        let up = p.ToUpperInvariant()
        let sb = StringBuilder()

        Emit.provenance
            sb
            $"example.c: runs model '{Emit.safeText m.Model.Name}' ({p}.h) on float inputs read from a file."
            m.Hash
            spec.CommandLine

        let text =
            """/* Usage: example INPUT.f32 OUTPUT.s8
 *   INPUT.f32  raw little-endian float32 input tensors, HWC, @UP@_INPUT_BYTES values each, one after another
 *   OUTPUT.s8  the raw int8 logits of each tensor, @UP@_OUTPUT_BYTES bytes each, in the same order
 * Each value is quantized with @P@_quantize, the tensor runs through @P@_run, and the best class is printed.
 * Exit code 0, 1 if the model or the output file failed, 2 for bad arguments or input. */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "@P@.h"

static float f32le(const unsigned char *b)
{
    uint32_t u = (uint32_t)b[0] | (uint32_t)b[1] << 8 | (uint32_t)b[2] << 16 | (uint32_t)b[3] << 24;
    float f;
    memcpy(&f, &u, sizeof f);
    return f;
}

int main(int argc, char **argv)
{
    static unsigned char raw[@UP@_INPUT_BYTES * 4u];
    static int8_t input[@UP@_INPUT_BYTES];
    int8_t output[@UP@_OUTPUT_BYTES];
    FILE *in, *out;
    long size;
    unsigned long count, n;
    if (argc != 3) {
        fprintf(stderr, "usage: %s INPUT.f32 OUTPUT.s8\n", argv[0]);
        return 2;
    }
    in = fopen(argv[1], "rb");
    if (in == NULL) {
        perror(argv[1]);
        return 2;
    }
    /* the whole input is checked before anything is written */
    if (fseek(in, 0, SEEK_END) != 0 || (size = ftell(in)) < 0 || fseek(in, 0, SEEK_SET) != 0) {
        perror(argv[1]);
        return 2;
    }
    if ((unsigned long)size % sizeof raw != 0) {
        fprintf(stderr, "%s: %ld bytes is not a whole number of input tensors (%lu bytes each)\n", argv[1], size,
                (unsigned long)sizeof raw);
        return 2;
    }
    count = (unsigned long)size / sizeof raw;
    out = fopen(argv[2], "wb");
    if (out == NULL) {
        perror(argv[2]);
        return 1;
    }
    for (n = 0; n < count; n++) {
        uint32_t i, best = 0;
        if (fread(raw, 1, sizeof raw, in) != sizeof raw) {
            fprintf(stderr, "%s: read failed at tensor %lu\n", argv[1], n);
            return 2;
        }
        for (i = 0; i < @UP@_INPUT_BYTES; i++) input[i] = @P@_quantize(f32le(raw + 4u * i));
        if (@P@_run(input, output) != 0) {
            fprintf(stderr, "@P@_run failed on tensor %lu\n", n);
            return 1;
        }
        if (fwrite(output, 1, sizeof output, out) != sizeof output) {
            perror(argv[2]);
            return 1;
        }
        for (i = 1; i < @UP@_OUTPUT_BYTES; i++)
            if (output[i] > output[best]) best = i;
        printf("%lu: %s (logit %g)\n", n, @P@_class_names[best], (double)@P@_dequantize(output[best]));
    }
    fclose(in);
    if (fclose(out) != 0) {
        perror(argv[2]);
        return 1;
    }
    fprintf(stderr, "%lu tensors: %s -> %s\n", count, argv[1], argv[2]);
    return 0;
}
"""

        sb.Append(text.Replace("@UP@", up).Replace("@P@", p)).ToString()

    let private makefile (spec: ExportSpec) (models: string list) (kernels: string list) (headers: string list) =
        """# Generated by Tern @VERSION@ (@COMMAND@). Any C99 compiler.
#   make host      ./example from example.c and the models, with the host compiler
#   make lib       @LIB@ with whatever CC, CFLAGS and AR are given, e.g. for a Cortex-M4:
#                  make lib CC=arm-none-eabi-gcc AR=arm-none-eabi-ar CFLAGS="-mcpu=cortex-m4 -mthumb -O2"
# lib always compiles everything afresh (into build/), so switching compilers needs no make clean.
CC ?= cc
AR ?= ar
CFLAGS ?= -O2 -std=c99 -Wall -Wextra

LIB = @LIB@
MODELS = @MODELS@
KERNELS = @KERNELS@
HEADERS = @HEADERS@
SOURCES = $(MODELS) $(KERNELS)

.PHONY: all host lib clean
all: host lib

host: example

example: example.c $(SOURCES) $(HEADERS)
	$(CC) $(CFLAGS) -o $@ example.c $(SOURCES) $(LDFLAGS)

lib: $(SOURCES) $(HEADERS)
	rm -rf build $(LIB)
	mkdir build
	for s in $(SOURCES); do $(CC) $(CFLAGS) -c $$s -o build/$${s%.c}.o || exit 1; done
	$(AR) rcs $(LIB) build/*.o

clean:
	rm -rf build example $(LIB)
"""
            .Replace("@VERSION@", Emit.version)
            .Replace("@COMMAND@", Emit.safeText spec.CommandLine)
            .Replace("@LIB@", $"lib{spec.Library}.a")
            .Replace("@MODELS@", String.Join(" ", models))
            .Replace("@KERNELS@", String.Join(" ", kernels))
            .Replace("@HEADERS@", String.Join(" ", headers))

    let private cmake (spec: ExportSpec) (sources: string list) =
        """# Generated by Tern @VERSION@ (@COMMAND@).
# In a CMake firmware project (STM32CubeMX's CMake output, or any other): add_subdirectory(<this folder>) and
# target_link_libraries(<your target> @NAME@). Built on its own, it also builds the host example.
cmake_minimum_required(VERSION 3.13)
project(@NAME@ C)

add_library(@NAME@ STATIC
    @SOURCES@
)
target_include_directories(@NAME@ PUBLIC ${CMAKE_CURRENT_SOURCE_DIR})
set_target_properties(@NAME@ PROPERTIES C_STANDARD 99 C_STANDARD_REQUIRED ON)

if(CMAKE_SOURCE_DIR STREQUAL CMAKE_CURRENT_SOURCE_DIR)
    add_executable(example example.c)
    target_link_libraries(example @NAME@)
endif()
"""
            .Replace("@VERSION@", Emit.version)
            .Replace("@COMMAND@", Emit.safeText spec.CommandLine)
            .Replace("@NAME@", spec.Library)
            .Replace("@SOURCES@", String.Join("\n    ", sources))

    let private readme (spec: ExportSpec) (models: (ExportModel * EmittedModel) list) (kernelFiles: string list) =
        let sb = StringBuilder()
        let line (s: string) = sb.Append(s).Append('\n') |> ignore
        let first, _ = List.head models
        let p0 = first.Prefix
        let up0 = p0.ToUpperInvariant()
        let lib = $"lib{spec.Library}.a"

        line $"# {spec.Library}: {models.Length} integer model(s) exported by Tern"
        line ""

        line
            $"Generated by Tern {Emit.version} with `{Emit.safeText spec.CommandLine}`. Do not edit the generated files;"

        line "export again instead. Everything here is plain C99 (GCC or Clang extensions only for alignment and the"
        line "Cortex-M4 DSP instructions): no malloc, no operating system, no floating point inside the models."
        line ""
        line "## Models"
        line ""
        line "| prefix | model file | SHA-256 (payload) | input | output | arena (RAM) | weights (flash) | layers |"
        line "|---|---|---|---|---|---|---|---|"

        for m, e in models do
            let i, o = m.Model.Input, m.Model.Output

            line
                $"| `{m.Prefix}` | {Emit.safeText m.File} | `{m.Hash.Substring(0, 16)}...` | {i.H}x{i.W}x{i.C} int8 | {o.Size} int8 logits | {e.ArenaBytes} B | {e.WeightBytes} B | {m.Model.Layers.Length} |"

        line ""
        line "Arena: the model's only mutable memory, a static array inside `p.c`, planned at export time (each layer"
        line "reads one end and writes the other). Weights: the bytes of weights, biases and requantization constants."

        let patched = models |> List.filter (fun (_, e) -> e.PatchBytes > 0)

        if not patched.IsEmpty then
            let names =
                patched
                |> List.map (fun (m, e) -> $"`{m.Prefix}` {e.PatchBytes} B")
                |> String.concat ", "

            line "With the DSP kernels, ternary layers are compiled into code (their zero weights vanish: code instead"
            line $"of weight bytes) and padded ones gather border windows into a small static patch ({names})."
        else
            line "With the DSP kernels, ternary layers are compiled into code (their zero weights vanish: code instead"
            line "of weight bytes)."

        line "Check the real flash and RAM of your build with `arm-none-eabi-size` or your map file."
        line ""
        line "## API (per model, prefix `p`, header `p.h`)"
        line ""
        line "```c"

        line
            "#define P_INPUT_BYTES    /* int8 codes of one input, HWC: (y * P_INPUT_WIDTH + x) * P_INPUT_CHANNELS + c */"

        line "#define P_OUTPUT_BYTES   /* int8 logits */"
        line "#define P_ARENA_BYTES    /* static working memory inside p.c */"
        line "#define P_CLASS_COUNT"
        line "/* also P_INPUT_HEIGHT/WIDTH/CHANNELS, P_OUTPUT_..., P_LAYER_COUNT, P_INPUT_SCALE, P_INPUT_ZERO_POINT,"
        line "   P_OUTPUT_SCALE, P_OUTPUT_ZERO_POINT */"
        line "int p_run(const int8_t *input, int8_t *output);   /* 0 on success, -1 for a NULL pointer */"

        line
            "int8_t p_quantize(float x);                      /* one input value -> its code, bit-exact with Tern's host */"

        line "float p_dequantize(int8_t q);                    /* one output code -> its value */"
        line "extern const char *const p_class_names[];        /* P_CLASS_COUNT names */"
        line "int p_run_layers(const int8_t *input, int last_layer, const int8_t **output, uint32_t *output_len);"
        line "extern const uint8_t p_hash[32];                 /* which model file this is */"
        line "extern const char p_kernels[];                   /* \"dsp\" or \"reference\": the bodies compiled in */"
        line "```"
        line ""
        line "A complete use, for the first model:"
        line ""
        line "```c"
        line $"#include \"{p0}.h\""
        line ""
        line "int classify(const float *features) /* HWC float features */"
        line "{"
        line $"    static int8_t input[{up0}_INPUT_BYTES];"
        line $"    int8_t logits[{up0}_OUTPUT_BYTES];"
        line "    int best = 0;"
        line $"    for (unsigned i = 0; i < {up0}_INPUT_BYTES; i++) input[i] = {p0}_quantize(features[i]);"
        line $"    if ({p0}_run(input, logits) != 0) return -1;"
        line $"    for (int c = 1; c < {up0}_CLASS_COUNT; c++)"
        line "        if (logits[c] > logits[best]) best = c;"
        line $"    return best; /* {p0}_class_names[best]; {p0}_dequantize(logits[best]) is its logit */"
        line "}"
        line "```"
        line ""
        line "`p_quantize` computes `clamp(round_half_away(x / P_INPUT_SCALE) + P_INPUT_ZERO_POINT, -128, 127)`"
        line "exactly as Tern's host does (in double), so the device sees the codes `tern run` and `tern hil` use; NaN"
        line "gives the zero point. It takes a float estimate (about 40 instructions a value on a Cortex-M4F, measured"
        line "under QEMU) and divides in double only within 2^-12 of a tie. Do not compile the model files with"
        line "`-ffast-math` (they refuse to). If your features already are int8 codes of the model's input scale, pass"
        line "them to `p_run` directly."
        line ""
        line "Threads: `p_run` is not reentrant. Each model owns its arena, so different models may run one after the"
        line "other in any order, but never two calls at once: besides the arenas, the DSP kernel bodies share one"

        line
            "static scratch buffer (`tern_scratch`, TERN_SCRATCH_BYTES = 4096 bytes, in requantize.c) used by one layer"

        line "at a time. Guard the calls with a mutex if several threads or interrupts run models."
        line ""
        line "## Files"
        line ""

        for m, _ in models do
            line $"- `{m.Prefix}.h`, `{m.Prefix}.c`: model `{Emit.safeText m.Model.Name}` ({Emit.safeText m.File})"

        let kernelList =
            kernelFiles |> List.map (fun f -> "`" + f + "`") |> String.concat ", "

        let headerList =
            kernelHeaders kernelFiles
            |> List.map (fun f -> "`" + f + "`")
            |> String.concat ", "

        line $"- {headerList}, {kernelList}:"
        line "  the Tern device kernels these models call, shared by all of them (Tern's hil/kernels)"
        line "- `example.c`: a host program (see below); not part of the library"
        line "- `Makefile`, `CMakeLists.txt`, `README.md`, `tern-export.json` (what was exported, for tools)"
        line ""
        line "## Kernel bodies"
        line ""
        line "Every kernel has a portable reference body and a Cortex-M4 DSP body (SMLAD, SSAT, ...), bit-exact with"
        line "each other; `TERN_KERNELS_DSP` picks one at compile time (1: DSP, 0: reference)."

        match spec.Kernels with
        | AutoKernels ->
            line "This folder leaves the choice to the target: the DSP bodies where the compiler targets the DSP"

            line
                "extension (`__ARM_FEATURE_DSP`: Cortex-M4, M7, M33 ...), the reference bodies elsewhere (Cortex-M0/M3,"

            line "the host). Define `TERN_KERNELS_DSP=0` or `=1` to force one."
        | k ->
            let value = if k = DspKernels then 1 else 0

            line
                $"This folder was exported with `--kernels {k.Name}`: `tern_kernels.h` sets `TERN_KERNELS_DSP` to {value}"

            line "unless your build defines it. Off the DSP extension the DSP bodies still compute the same integers,"
            line "their instructions emulated in portable C (slower)."

        line ""
        line "## Try it on the host"
        line ""
        line "```sh"
        line "make host CFLAGS=\"-O2 -std=c99 -Wall -Wextra -Werror\""
        line $"./example inputs.f32 logits.s8    # float32 HWC tensors in, {p0}'s int8 logits out"
        line "```"
        line ""

        line
            $"`example` quantizes each value with `{p0}_quantize`, runs `{p0}_run`, writes the raw int8 logits and prints"

        line "the best class of each tensor. The same values as a float32 N x H x W x C array X.npy give the same"

        line
            $"bytes on Tern's host: `tern run {Emit.safeText first.File} --input npy:X.npy --layout nhwc --save-outputs Y.npy`."

        line ""
        line "## Build a library"
        line ""
        line "```sh"

        line
            $"make lib CC=arm-none-eabi-gcc AR=arm-none-eabi-ar CFLAGS=\"-mcpu=cortex-m4 -mthumb -mfloat-abi=hard -mfpu=fpv4-sp-d16 -O2\"   # {lib}"

        line "```"
        line ""
        line "Use the CFLAGS of your firmware (same `-mcpu`, float ABI and FPU), or the linker refuses to mix them."
        line ""
        line "## Integrate"
        line ""
        line "The folder is self-contained: add every `.c` except `example.c` to your build and the folder to the"
        line "include path. Nothing needs configuring; build with optimization (`-O2`)."
        line ""
        line "- Plain Makefile: `make lib` with your toolchain as above and link the archive, or add the sources:"
        line ""
        line "  ```make"
        line $"  TERN_DIR = {spec.Library}"
        line "  C_SOURCES += $(filter-out $(TERN_DIR)/example.c,$(wildcard $(TERN_DIR)/*.c))"
        line "  C_INCLUDES += -I$(TERN_DIR)"
        line "  ```"
        line ""
        line "  (STM32CubeMX's generated Makefile uses exactly these two variables.)"
        line ""

        line
            "- STM32CubeIDE: copy the folder into the project (e.g. next to `Core`), right-click it, Add/remove include"

        line "  path...; then right-click `example.c`, Resource Configurations > Exclude from Build. The Cube project's"
        line "  compiler flags (`-mcpu=cortex-m4 -mfpu=fpv4-sp-d16 -mfloat-abi=hard` on an F4) apply as they are."
        line $"- STM32CubeMX CMake projects, or any CMake build: `add_subdirectory({spec.Library})` and"

        line
            $"  `target_link_libraries(${{CMAKE_PROJECT_NAME}} {spec.Library})`; the library takes the toolchain's flags."

        line "- Zephyr: in the application's CMakeLists.txt,"
        line ""
        line "  ```cmake"
        line $"  file(GLOB TERN_SOURCES ${{CMAKE_CURRENT_SOURCE_DIR}}/{spec.Library}/*.c)"
        line $"  list(REMOVE_ITEM TERN_SOURCES ${{CMAKE_CURRENT_SOURCE_DIR}}/{spec.Library}/example.c)"
        line "  target_sources(app PRIVATE ${TERN_SOURCES})"
        line $"  target_include_directories(app PRIVATE {spec.Library})"
        line "  ```"
        line ""
        line "  so the sources build with Zephyr's own flags. Run the models from one thread (see Threads above)."
        line ""
        line "## Provenance"
        line ""
        line $"- Tern {Emit.version}; command: `{Emit.safeText spec.CommandLine}`"

        for m, _ in models do
            line
                $"- `{m.Prefix}`: {Emit.safeText m.File}, model '{Emit.safeText m.Model.Name}', SHA-256 of the payload `{m.Hash}`"

        line "- Every generated file opens with the same provenance; the kernel sources are Tern's, unchanged"
        line "  (except the TERN_KERNELS_DSP line an explicit `--kernels` adds to `tern_kernels.h`)."

        line
            "- Bit-exactness: Tern's tests build such a folder, run `example` and a Cortex-M4 firmware (QEMU) made from"

        line "  it, and compare every output byte with Tern's host runtime."
        sb.ToString()

    let private manifest
        (spec: ExportSpec)
        (models: (ExportModel * EmittedModel) list)
        (kernelFiles: string list)
        (files: string list)
        : string =
        let q (s: string) = Text.Json.JsonSerializer.Serialize(s)

        let sb = StringBuilder()
        sb.Append("{\n") |> ignore
        sb.Append($"  \"tern_version\": {q Emit.version},\n") |> ignore
        sb.Append($"  \"command\": {q spec.CommandLine},\n") |> ignore
        sb.Append($"  \"library\": {q spec.Library},\n") |> ignore
        sb.Append($"  \"kernels\": {q spec.Kernels.Name},\n") |> ignore
        sb.Append("  \"models\": [\n") |> ignore

        models
        |> List.iteri (fun i (m, e) ->
            let comma = if i < models.Length - 1 then "," else ""

            sb.Append(
                $"    {{\"prefix\": {q m.Prefix}, \"file\": {q m.File}, \"hash\": {q m.Hash}, \"input_bytes\": {m.Model.Input.Size}, \"output_bytes\": {m.Model.Output.Size}, \"arena_bytes\": {e.ArenaBytes}, \"flash_bytes\": {e.WeightBytes}, \"class_count\": {e.ClassCount}}}{comma}\n"
            )
            |> ignore)

        sb.Append("  ],\n") |> ignore
        let fileList = files |> List.map q |> String.concat ", "
        let kernelList = kernelFiles |> List.map q |> String.concat ", "
        sb.Append($"  \"kernel_sources\": [{kernelList}],\n") |> ignore
        sb.Append($"  \"files\": [{fileList}]\n") |> ignore
        sb.Append("}\n").ToString()

    /// The folder's files for the models (validated; prefixes checked), reading Tern's device sources with
    /// readHil ("include/tern_kernels.h", "kernels/conv_s8.c", ...). Deterministic: the same spec gives the same bytes.
    let build (spec: ExportSpec) (readHil: string -> string) : Result<ExportedFolder, string> =
        if spec.Models.IsEmpty then
            Error "no model to export"
        else
            match checkPrefixes (spec.Models |> List.map (fun m -> m.Prefix)) with
            | Error e -> Error e
            | Ok() ->
                let emitted =
                    spec.Models
                    |> List.map (fun m ->
                        m,
                        Emit.model
                            {
                                CommandLine = spec.CommandLine
                                Prefix = m.Prefix
                            }
                            m.Model
                            m.Hash)

                let kernels = kernelSources (spec.Models |> List.map (fun m -> m.Model))
                let modelSources = spec.Models |> List.map (fun m -> m.Prefix + ".c")
                let modelHeaders = spec.Models |> List.map (fun m -> m.Prefix + ".h")
                let headers = modelHeaders @ kernelHeaders kernels

                let generated = [
                    for _, e in emitted do
                        e.Prefix + ".h", e.Header
                        e.Prefix + ".c", e.Source
                    "tern_kernels.h", kernelsHeader spec.Kernels (readHil "include/tern_kernels.h")
                    "tern_kernels_internal.h", readHil "kernels/tern_kernels_internal.h"

                    if List.contains "tern_baked.h" headers then
                        "tern_baked.h", readHil "include/tern_baked.h"
                    for k in kernels do
                        k, readHil ("kernels/" + k)
                    "example.c", exampleSource spec (fst emitted.Head)
                    "Makefile", makefile spec modelSources kernels headers
                    "CMakeLists.txt", cmake spec (modelSources @ kernels)
                    "README.md", readme spec emitted kernels
                ]

                let names = (manifestName :: (generated |> List.map fst)) |> List.sort

                let files =
                    (manifestName, manifest spec emitted kernels names) :: generated
                    |> List.sortBy fst

                Ok {
                    Files = files
                    Models = emitted
                    KernelSources = kernels
                }

    /// Whether a folder may be replaced by an export: it does not exist, is empty, or holds a previous export.
    let replaceable (dir: string) : bool =
        not (Directory.Exists dir)
        || Seq.isEmpty (Directory.EnumerateFileSystemEntries dir)
        || File.Exists(Path.Combine(dir, manifestName))

    /// Writes the folder whole: into a temporary sibling first, then renamed into place (a previous export is moved
    /// aside and deleted only once the new one is there). Nothing half-written is ever left at dir.
    let write (dir: string) (folder: ExportedFolder) : unit =
        let full = Path.TrimEndingDirectorySeparator(Path.GetFullPath dir)
        let parent = Path.GetDirectoryName full
        let name = Path.GetFileName full
        Directory.CreateDirectory parent |> ignore
        let tmp = Path.Combine(parent, $".{name}.tmp-{Guid.NewGuid():N}")
        let old = Path.Combine(parent, $".{name}.old-{Guid.NewGuid():N}")

        try
            Directory.CreateDirectory tmp |> ignore

            for file, text in folder.Files do
                File.WriteAllText(Path.Combine(tmp, file), text, UTF8Encoding(false))

            if Directory.Exists full then
                Directory.Move(full, old)

            try
                Directory.Move(tmp, full)
            with _ ->
                // put the previous export back before reporting the failure
                if Directory.Exists old && not (Directory.Exists full) then
                    Directory.Move(old, full)

                reraise ()

            if Directory.Exists old then
                Directory.Delete(old, true)
        finally
            if Directory.Exists tmp then
                Directory.Delete(tmp, true)
