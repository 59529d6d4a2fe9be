namespace Tern.Core

open System

type Entropy =
    | Fixed
    | Zvc
    | Huffman
    | Rle

[<RequireQualifiedAccess>]
module CodecEntropy =

    let maxCodeLength: int = 15

    /// Bits of a fixed-width symbol of the alphabet: ceil(log2 alphabet), 0 for an alphabet of one.
    let bitsFor (alphabet: int) : int =
        let mutable w = 0

        while (1 <<< w) < alphabet do
            w <- w + 1

        w

    let huffmanLengths (maxLength: int) (counts: int[]) : int[] =
        let a = counts.Length
        let lengths = Array.zeroCreate a

        let used = [|
            for s in 0 .. a - 1 do
                if counts[s] > 0 then
                    s
        |]

        if used.Length = 1 then
            lengths[used[0]] <- 1
        elif used.Length > 1 then
            let leaves = Array.copy used

            Array.sortInPlaceWith
                (fun x y ->
                    if counts[x] <> counts[y] then
                        compare counts[x] counts[y]
                    else
                        compare x y)
                leaves

            let n = leaves.Length
            // Nodes 0..n-1 are leaves (in sorted order), n.. internal nodes in creation order.
            let weight = Array.zeroCreate<int64>(2 * n - 1)
            let parent = Array.create (2 * n - 1) -1

            for i in 0 .. n - 1 do
                weight[i] <- int64 counts[leaves[i]]

            let mutable nextLeaf = 0
            let mutable nextInternal = n
            let mutable created = n

            let take () =
                // Internal nodes are created with non-decreasing weights, so two queues suffice.
                if
                    nextLeaf < n
                    && (nextInternal >= created || weight[nextLeaf] <= weight[nextInternal])
                then
                    nextLeaf <- nextLeaf + 1
                    nextLeaf - 1
                else
                    nextInternal <- nextInternal + 1
                    nextInternal - 1

            while created < 2 * n - 1 do
                let x = take ()
                let y = take ()
                weight[created] <- weight[x] + weight[y]
                parent[x] <- created
                parent[y] <- created
                created <- created + 1

            // Depth of each node: parents are created after their children, so go from the root down.
            let depth = Array.zeroCreate (2 * n - 1)

            for i in 2 * n - 3 .. -1 .. 0 do
                depth[i] <- depth[parent[i]] + 1

            let longest = Array.max depth[0 .. n - 1]
            let histogram = Array.zeroCreate (max longest maxLength + 1)

            for i in 0 .. n - 1 do
                histogram[depth[i]] <- histogram[depth[i]] + 1

            // JPEG's adjustment: move pairs of the longest codes up, keeping the Kraft sum exactly 1.
            for i in longest .. -1 .. maxLength + 1 do
                while histogram[i] > 0 do
                    let mutable j = i - 2

                    while histogram[j] = 0 do
                        j <- j - 1

                    histogram[i] <- histogram[i] - 2
                    histogram[i - 1] <- histogram[i - 1] + 1
                    histogram[j + 1] <- histogram[j + 1] + 2
                    histogram[j] <- histogram[j] - 1

            let order = Array.copy used

            Array.sortInPlaceWith
                (fun x y ->
                    if counts[x] <> counts[y] then
                        compare counts[y] counts[x]
                    else
                        compare x y)
                order

            let mutable k = 0

            for len in 1..maxLength do
                for _ in 1 .. histogram[len] do
                    lengths[order[k]] <- len
                    k <- k + 1

        lengths

    let canonicalCodes (lengths: int[]) : int[] =
        let codes = Array.zeroCreate lengths.Length
        let mutable code = 0
        let mutable previous = 0

        for len in 1..maxCodeLength do
            for s in 0 .. lengths.Length - 1 do
                if lengths[s] = len then
                    code <- code <<< (len - previous)
                    previous <- len
                    codes[s] <- code
                    code <- code + 1

        codes

    let private fail section reason =
        raise (CodecFailure(BadSymbol(section, reason)))

    let private checkSymbols (alphabet: int) (symbols: int[]) =
        for s in symbols do
            if s < 0 || s >= alphabet then
                invalidArg "symbols" $"symbol {s} outside the alphabet 0..{alphabet - 1}"

    let private writeFixed (w: BitWriter) (alphabet: int) (symbols: int[]) =
        let width = bitsFor alphabet

        for s in symbols do
            w.Write(uint32 s, width)

        SectionBits.Zero
        |> fun b -> {
            b with
                Payload = width * symbols.Length
        }

    let private readFixed (r: BitReader) (alphabet: int) (count: int) (section: string) =
        let width = bitsFor alphabet
        let data = r.Data
        let start = r.Position

        if int64 start + int64 count * int64 width > int64 r.End then
            raise (CodecFailure(Overrun section))

        let out = Array.zeroCreate count
        let mutable pos = start

        for i in 0 .. count - 1 do
            let s = Bits.peek data pos width
            pos <- pos + width

            if s >= alphabet then
                fail section $"symbol {s} outside the alphabet 0..{alphabet - 1}"

            out[i] <- s

        r.Seek(pos, section)
        out

    let private writeZvc (w: BitWriter) (alphabet: int) (zero: int) (symbols: int[]) =
        let width = bitsFor alphabet
        let mutable nonZero = 0

        for s in symbols do
            if s <> zero then
                nonZero <- nonZero + 1
                w.Write(1u, 1)
            else
                w.Write(0u, 1)

        for s in symbols do
            if s <> zero then
                w.Write(uint32 s, width)

        {
            Table = 0
            Payload = symbols.Length + width * nonZero
        }

    let private readZvc (r: BitReader) (alphabet: int) (zero: int) (count: int) (section: string) =
        let width = bitsFor alphabet
        let data = r.Data
        let start = r.Position

        if int64 start + int64 count > int64 r.End then
            raise (CodecFailure(Overrun section))

        let out = Array.zeroCreate count
        // The values follow the whole mask; bits past the end read as 0 and are caught by the final Seek.
        let mutable pos = start + count

        for i in 0 .. count - 1 do
            if Bits.peek data (start + i) 1 = 0 then
                out[i] <- zero
            else
                let s = Bits.peek data pos width
                pos <- pos + width

                if s >= alphabet || s = zero then
                    fail section $"non-zero slot holds symbol {s}"

                out[i] <- s

        r.Seek(pos, section)
        out

    let private writeHuffman (w: BitWriter) (alphabet: int) (symbols: int[]) =
        let counts = Array.zeroCreate alphabet

        for s in symbols do
            counts[s] <- counts[s] + 1

        let lengths = huffmanLengths maxCodeLength counts
        let codes = canonicalCodes lengths

        for len in lengths do
            w.Write(uint32 len, 4)

        let mutable payload = 0

        for s in symbols do
            w.Write(uint32 codes[s], lengths[s])
            payload <- payload + lengths[s]

        {
            Table = 4 * alphabet
            Payload = payload
        }

    let private readHuffman (r: BitReader) (alphabet: int) (count: int) (section: string) =
        let lengths = Array.init alphabet (fun _ -> r.Read(4, section))
        let mutable kraft = 0L

        for len in lengths do
            if len > 0 then
                kraft <- kraft + (1L <<< (maxCodeLength - len))

        if kraft > (1L <<< maxCodeLength) then
            raise (CodecFailure(BadTable(section, "over-subscribed Huffman code lengths")))

        if count > 0 && kraft = 0L then
            raise (CodecFailure(BadTable(section, "no Huffman codes for a non-empty section")))

        let codes = canonicalCodes lengths
        let longest = Array.max (Array.append [| 1 |] lengths)
        // A first-level table on the next `primary` bits: (symbol <<< 4) ||| length, 0 for a longer code
        // (or none); longer codes are found from the canonical ranges, one length at a time.
        let primary = min longest 10
        let table = Array.zeroCreate (1 <<< primary)
        let firstCode = Array.zeroCreate (maxCodeLength + 1)
        let firstIndex = Array.zeroCreate (maxCodeLength + 1)
        let perLength = Array.zeroCreate (maxCodeLength + 1)
        let sorted = Array.zeroCreate alphabet
        let mutable n = 0

        for len in 1..maxCodeLength do
            firstIndex[len] <- n

            for s in 0 .. alphabet - 1 do
                if lengths[s] = len then
                    if perLength[len] = 0 then
                        firstCode[len] <- codes[s]

                    perLength[len] <- perLength[len] + 1
                    sorted[n] <- s
                    n <- n + 1

        for s in 0 .. alphabet - 1 do
            let len = lengths[s]

            if len > 0 && len <= primary then
                let first = codes[s] <<< (primary - len)

                for k in first .. first + (1 <<< (primary - len)) - 1 do
                    table[k] <- (s <<< 4) ||| len

        let out = Array.zeroCreate count
        let data = r.Data
        let mutable pos = r.Position

        for i in 0 .. count - 1 do
            let e = table[Bits.peek data pos primary]

            if e <> 0 then
                pos <- pos + (e &&& 15)
                out[i] <- e >>> 4
            else
                let mutable len = primary + 1
                let mutable found = false

                while not found && len <= longest do
                    let code = Bits.peek data pos len
                    let k = code - firstCode[len]

                    if perLength[len] > 0 && k >= 0 && k < perLength[len] then
                        out[i] <- sorted[firstIndex[len] + k]
                        pos <- pos + len
                        found <- true
                    else
                        len <- len + 1

                if not found then
                    fail section "bits that are no Huffman code"

        // Codes past the end read zero bits; the Seek rejects them.
        r.Seek(pos, section)
        out

    /// Maximal runs of equal symbols: their symbols and lengths, in order.
    let private runs (symbols: int[]) =
        let values = ResizeArray()
        let lengths = ResizeArray()
        let mutable i = 0

        while i < symbols.Length do
            let mutable j = i + 1

            while j < symbols.Length && symbols[j] = symbols[i] do
                j <- j + 1

            values.Add symbols[i]
            lengths.Add(j - i)
            i <- j

        values.ToArray(), lengths.ToArray()

    let private writeRle (w: BitWriter) (alphabet: int) (symbols: int[]) =
        let width = bitsFor alphabet
        let values, lengths = runs symbols

        let bits (r: int) =
            let mutable n = 0L

            for len in lengths do
                n <- n + int64 ((len + (1 <<< r) - 1) >>> r)

            n * int64 (width + r)

        // The run width with the fewest bits; the smallest width on a tie.
        let mutable best = 1
        let mutable bestBits = bits 1

        for r in 2..15 do
            let b = bits r

            if b < bestBits then
                best <- r
                bestBits <- b

        w.Write(uint32 best, 4)

        for k in 0 .. values.Length - 1 do
            let mutable left = lengths[k]

            while left > 0 do
                let run = min left (1 <<< best)
                w.Write(uint32 values[k], width)
                w.Write(uint32 (run - 1), best)
                left <- left - run

        { Table = 4; Payload = int bestBits }

    let private readRle (r: BitReader) (alphabet: int) (count: int) (section: string) =
        let width = bitsFor alphabet
        let runWidth = r.Read(4, section)

        if runWidth = 0 then
            raise (CodecFailure(BadTable(section, "RLE run width 0")))

        let out = Array.zeroCreate count
        let mutable i = 0

        while i < count do
            let s = r.Read(width, section)

            if s >= alphabet then
                fail section $"symbol {s} outside the alphabet 0..{alphabet - 1}"

            let run = r.Read(runWidth, section) + 1

            if i + run > count then
                fail section "run past the end of the section"

            Array.fill out i run s
            i <- i + run

        out

    let write (w: BitWriter) (coder: Entropy) (alphabet: int) (zero: int) (symbols: int[]) : SectionBits =
        checkSymbols alphabet symbols

        match coder with
        | Fixed -> writeFixed w alphabet symbols
        | Zvc -> writeZvc w alphabet zero symbols
        | Huffman -> writeHuffman w alphabet symbols
        | Rle -> writeRle w alphabet symbols

    let read (r: BitReader) (coder: Entropy) (alphabet: int) (zero: int) (count: int) (section: string) : int[] =
        match coder with
        | Fixed -> readFixed r alphabet count section
        | Zvc -> readZvc r alphabet zero count section
        | Huffman -> readHuffman r alphabet count section
        | Rle -> readRle r alphabet count section

    let encodeSymbols (coder: Entropy) (alphabet: int) (zero: int) (symbols: int[]) : byte[] * SectionBits =
        let w = BitWriter()
        let bits = write w coder alphabet zero symbols
        w.Align() |> ignore
        w.ToArray(), bits

    let decodeSymbols
        (coder: Entropy)
        (alphabet: int)
        (zero: int)
        (count: int)
        (bytes: byte[])
        : Result<int[], CodecError> =
        try
            let r = BitReader(bytes, 0, bytes.Length * 8)
            let symbols = read r coder alphabet zero count "symbols"

            if r.Remaining >= 8 || r.Peek r.Remaining <> 0 then
                Error BadPadding
            else
                Ok symbols
        with CodecFailure e ->
            Error e
