namespace Tern.Rig

open System
open System.IO
open System.Text.RegularExpressions
open LibObjectFile.Dwarf
open LibObjectFile.Elf
open Tern.Core
open Tern.Runtime

/// The flash one layer owns in a firmware image.
type LayerFlash = {
    /// Its weight arrays (weights, bias, multipliers, shifts: the layer's WeightBytes); 0 where the DSP build bakes
    /// the weights into code.
    WeightBytes: int64
    /// Its parameter struct (shapes, zero points, a pool's multiplier).
    ParamBytes: int64
    /// Code only this layer runs: its baked functions (out of line, or inlined into the model's driver) and its
    /// kernel when no other layer calls that kernel.
    CodeBytes: int64
    /// The kernel function it calls; "" for a baked layer or a view.
    Kernel: string
    /// Whether other layers call the same kernel (its code is then counted once, in FirmwareMap.Shared).
    KernelShared: bool
} with

    member f.Total: int64 = f.WeightBytes + f.ParamBytes + f.CodeBytes

/// Code counted once for several layers (a shared kernel), or owned by none (the model's driver).
type SharedFlash = {
    Name: string
    Bytes: int64
    /// The layers it serves.
    Layers: int list
}

/// What each layer of the model owns in a firmware's flash, read from the ELF's symbols and its DWARF tree.
type FirmwareMap = {
    Layers: LayerFlash[]
    Shared: SharedFlash list
    /// False for an ELF without DWARF 4 debug information: code gcc inlined into the driver then counts as the
    /// driver's, and a kernel's static helpers are not counted.
    DebugInfo: bool
}

[<RequireQualifiedAccess>]
module FirmwareMap =
    type private Symbol = {
        Name: string
        Address: uint64
        Size: uint64
        IsFunction: bool
    }

    /// Defined symbols with a size; Thumb function addresses without their mode bit.
    let private symbols (elf: ElfFile) : Symbol list = [
        for section in elf.Sections do
            match section with
            | :? ElfSymbolTable as table ->
                for s in table.Entries do
                    let name = s.Name.Value

                    if not (String.IsNullOrEmpty name) && s.Size > 0UL then
                        let isFunction = s.Type = ElfSymbolType.Function

                        yield {
                            Name = name
                            Address = (if isFunction then s.Value &&& ~~~1UL else s.Value)
                            Size = s.Size
                            IsFunction = isFunction
                        }
            | _ -> ()
    ]

    let private sectionBytes (elf: ElfFile) (name: string) : byte[] option =
        elf.Sections
        |> Seq.tryPick (fun section ->
            match section with
            | :? ElfStreamSection as s when s.Name.Value = name ->
                use copy = new MemoryStream()
                s.Stream.Position <- 0L
                s.Stream.CopyTo copy
                Some(copy.ToArray())
            | _ -> None)

    /// The root DIE of every DWARF 4 compilation unit, each unit read on its own: the C library's units are
    /// DWARF 5, which the reader does not take, and only ours (built with -gdwarf-4) are needed.
    let private compileUnits (info: byte[]) (abbrev: byte[]) (strings: byte[]) : DwarfDIE list =
        let roots = Collections.Generic.List<DwarfDIE>()
        let mutable offset = 0

        while offset + 6 <= info.Length do
            let length = BitConverter.ToUInt32(info, offset)

            if length >= 0xFFFFFFF0u || int64 offset + 4L + int64 length > int64 info.Length then
                offset <- info.Length // 64-bit DWARF or a damaged unit: nothing after it can be framed
            else
                if BitConverter.ToUInt16(info, offset + 4) = 4us then
                    try
                        let context = DwarfReaderContext()
                        context.IsLittleEndian <- true
                        context.AddressSize <- DwarfAddressSize.Bit32
                        context.DebugInfoStream <- new MemoryStream(info, offset, int length + 4, false)
                        context.DebugAbbrevStream <- new MemoryStream(abbrev, false)
                        context.DebugStringStream <- new MemoryStream(strings, false)

                        for unit in (DwarfFile.Read context).InfoSection.Units do
                            roots.Add unit.Root
                    with _ ->
                        () // a unit the reader cannot take is left out; the map says what it could not see

                offset <- offset + int length + 4

        List.ofSeq roots

    let private attribute (die: DwarfDIE) (kind: DwarfAttributeKind) : DwarfAttribute option =
        let key = DwarfAttributeKindEx.op_Implicit kind
        die.Attributes |> Seq.tryFind (fun a -> a.Kind = key)

    let private isTag (die: DwarfDIE) (tag: DwarfTag) = die.Tag = DwarfTagEx.op_Implicit tag

    /// A DIE's name, through its abstract origin or specification (inlined instances and clones have none of
    /// their own).
    let rec private nameOf (die: DwarfDIE) : string =
        match attribute die DwarfAttributeKind.Name with
        | Some a -> string a.ValueAsObject
        | None ->
            [ DwarfAttributeKind.AbstractOrigin; DwarfAttributeKind.Specification ]
            |> List.tryPick (fun k ->
                match attribute die k |> Option.map (fun a -> a.ValueAsObject) with
                | Some(:? DwarfDIE as origin) -> Some(nameOf origin)
                | _ -> None)
            |> Option.defaultValue ""

    /// DWARF 4 .debug_ranges: (begin, end) pairs of 32-bit addresses, (0, 0) ending the list, 0xFFFFFFFF selecting
    /// a new base address.
    let private rangeList (section: byte[]) (cuBase: uint64) (offset: uint64) : (uint64 * uint64) list =
        let rec go (at: int) (baseAddress: uint64) acc =
            if at < 0 || at + 8 > section.Length then
                List.rev acc
            else
                let b = uint64 (BitConverter.ToUInt32(section, at))
                let e = uint64 (BitConverter.ToUInt32(section, at + 4))

                if b = 0UL && e = 0UL then
                    List.rev acc
                elif b = 0xFFFFFFFFUL then
                    go (at + 8) e acc
                else
                    go (at + 8) baseAddress ((baseAddress + b, baseAddress + e) :: acc)

        if offset > uint64 Int32.MaxValue then
            []
        else
            go (int offset) cuBase []

    /// The address ranges a DIE covers (low/high pc or a range list).
    let private rangesOf (rangesSection: byte[]) (cuBase: uint64) (die: DwarfDIE) : (uint64 * uint64) list =
        match
            attribute die DwarfAttributeKind.LowPC,
            attribute die DwarfAttributeKind.HighPC,
            attribute die DwarfAttributeKind.Ranges
        with
        | Some lo, Some hi, _ ->
            let low = lo.ValueAsU64
            // DWARF 4: high pc is an address (DW_FORM_addr) or, as gcc writes it, the length
            let high =
                if hi.Form = DwarfAttributeFormEx.op_Implicit DwarfAttributeForm.Addr then
                    hi.ValueAsU64
                else
                    low + hi.ValueAsU64

            [ low, high ]
        | _, _, Some r -> rangeList rangesSection cuBase r.ValueAsU64
        | _ -> []

    let private layerPattern = Regex(@"^tern_l(\d+)_", RegexOptions.Compiled)

    /// The layer whose emitted code a function name belongs to (tern_l{i}_..., gcc clones included).
    let layerOfSymbol (name: string) : int option =
        let m = layerPattern.Match name

        if m.Success then
            match Int32.TryParse m.Groups[1].Value with
            | true, i -> Some i
            | _ -> None
        else
            None

    /// Maps a firmware ELF onto the layers of the integer model it was built for (names from Emit: the weight
    /// arrays tern_l{i}_weights/_bias/_multiplier/_shift, the parameters tern_l{i}_params, the baked functions
    /// tern_l{i}_*, the kernels Emit.kernelName). Kernels called by several layers are counted once, in Shared.
    let read (elf: string) (model: IntModel) : FirmwareMap =
        use stream = File.OpenRead elf
        let file = ElfFile.Read stream
        let syms = symbols file
        let functions = syms |> List.filter (fun s -> s.IsFunction)
        let n = model.Layers.Length

        let sizeOf (name: string) =
            syms
            |> List.filter (fun s -> s.Name = name)
            |> List.sumBy (fun s -> int64 s.Size)

        let owner (address: uint64) =
            functions
            |> List.tryFind (fun f -> address >= f.Address && address < f.Address + f.Size)

        let roots =
            match
                sectionBytes file ".debug_info", sectionBytes file ".debug_abbrev", sectionBytes file ".debug_str"
            with
            | Some info, Some abbrev, Some strings -> compileUnits info abbrev strings
            | _ -> []

        let rangesSection = sectionBytes file ".debug_ranges" |> Option.defaultValue [||]

        let cuBase (root: DwarfDIE) =
            attribute root DwarfAttributeKind.LowPC
            |> Option.map (fun a -> a.ValueAsU64)
            |> Option.defaultValue 0UL

        let hasCode (die: DwarfDIE) =
            attribute die DwarfAttributeKind.LowPC
            |> Option.exists (fun a -> a.ValueAsU64 <> 0UL)
            || (attribute die DwarfAttributeKind.Ranges).IsSome

        // Layer code gcc inlined into other functions (the driver), as (layer, host function, bytes). Out-of-line
        // layer functions are counted from their symbols instead, so their subtrees are skipped.
        let inlined =
            let found = Collections.Generic.List<int * string * int64>()

            let rec walk (root: DwarfDIE) (die: DwarfDIE) =
                let layer = layerOfSymbol (nameOf die)

                if isTag die DwarfTag.Subprogram && layer.IsSome then
                    ()
                elif isTag die DwarfTag.InlinedSubroutine && layer.IsSome then
                    for lo, hi in rangesOf rangesSection (cuBase root) die do
                        // only code that was kept: the ranges of a function --gc-sections dropped start near 0
                        match owner lo with
                        | Some host when layerOfSymbol host.Name |> Option.isNone && hi > lo ->
                            found.Add((layer.Value, host.Name, int64 (hi - lo)))
                        | _ -> ()
                else
                    for child in die.Children do
                        walk root child

            for root in roots do
                walk root root

            List.ofSeq found

        // The functions of each compilation unit that survived linking, by the unit's source file.
        let unitFunctions =
            roots
            |> List.map (fun root ->
                let source = nameOf root

                let kept =
                    root.Children
                    |> Seq.filter (fun d -> isTag d DwarfTag.Subprogram && hasCode d)
                    |> Seq.choose (fun d ->
                        match attribute d DwarfAttributeKind.LowPC with
                        | Some lo -> functions |> List.tryFind (fun f -> f.Address = lo.ValueAsU64)
                        | None -> None)
                    |> Seq.distinct
                    |> List.ofSeq

                source, kept)

        // A kernel's code: every kept function of the unit that defines it (its static helpers too), else its symbol.
        let kernelUnit (kernel: string) =
            unitFunctions
            |> List.tryFind (fun (_, fs) -> fs |> List.exists (fun f -> f.Name = kernel))

        let kernelBytes (kernel: string) =
            match kernelUnit kernel with
            | Some(_, fs) -> fs |> List.sumBy (fun f -> int64 f.Size)
            | None -> sizeOf kernel

        let kernelOf (i: int) =
            let name = Emit.kernelName model.Layers[i]
            // A baked layer's kernel is not linked (its symbol is gone); a view has none.
            if name <> "" && functions |> List.exists (fun f -> f.Name = name) then
                name
            else
                ""

        let kernels = Array.init n kernelOf

        let users (kernel: string) =
            [ 0 .. n - 1 ] |> List.filter (fun i -> kernels[i] = kernel)

        let layers =
            Array.init n (fun i ->
                let p = $"tern_l{i}"

                let weights =
                    [ "weights"; "bias"; "multiplier"; "shift" ]
                    |> List.sumBy (fun a -> sizeOf $"{p}_{a}")

                let own =
                    functions
                    |> List.filter (fun f -> layerOfSymbol f.Name = Some i)
                    |> List.sumBy (fun f -> int64 f.Size)

                let inlinedHere =
                    inlined
                    |> List.filter (fun (l, _, _) -> l = i)
                    |> List.sumBy (fun (_, _, b) -> b)

                let kernel = kernels[i]
                let shared = kernel <> "" && (users kernel).Length > 1

                {
                    WeightBytes = weights
                    ParamBytes = sizeOf $"{p}_params"
                    CodeBytes =
                        own
                        + inlinedHere
                        + (if kernel <> "" && not shared then
                               kernelBytes kernel
                           else
                               0L)
                    Kernel = kernel
                    KernelShared = shared
                })

        let sharedKernels = [
            for kernel in kernels |> Array.filter (fun k -> k <> "") |> Array.distinct do
                let us = users kernel

                if us.Length > 1 then
                    yield {
                        Name = kernel
                        Bytes = kernelBytes kernel
                        Layers = us
                    }
        ]

        // Kernel units no layer calls directly (requantize.c): helpers of every linked kernel.
        let helpers = [
            let kernelUnits =
                kernels
                |> Array.filter (fun k -> k <> "")
                |> Array.choose kernelUnit
                |> Array.map fst
                |> Set.ofArray

            let callers = [ 0 .. n - 1 ] |> List.filter (fun i -> kernels[i] <> "")

            for source, fs in unitFunctions do
                let isKernelSource =
                    source.Replace('\\', '/').Contains "/kernels/"
                    && not (kernelUnits.Contains source)

                let bytes = fs |> List.sumBy (fun f -> int64 f.Size)

                if isKernelSource && bytes > 0L then
                    yield {
                        Name = Path.GetFileName source
                        Bytes = bytes
                        Layers = callers
                    }
        ]

        let driverName = Emit.firmwarePrefix + "_run_layers"

        let driver =
            let inlinedInDriver =
                inlined
                |> List.filter (fun (_, host, _) -> host = driverName)
                |> List.sumBy (fun (_, _, b) -> b)

            sizeOf driverName - inlinedInDriver
            + sizeOf "tern_layer_output_offset"
            + sizeOf "tern_layer_output_bytes"

        {
            Layers = layers
            Shared =
                sharedKernels
                @ helpers
                @ [
                    {
                        Name = $"model driver ({driverName}, layer tables)"
                        Bytes = driver
                        Layers = [ 0 .. n - 1 ]
                    }
                ]
            DebugInfo = not roots.IsEmpty
        }
