module Tern.Tests.SearchTests

open System
open Expecto
open FsCheck
open FsCheck.FSharp
open Tern.Core
open Tern.Studies

/// Generators and helpers of this file only.
module private SearchGen =
    /// Smallest b with 2^b >= n.
    let ceilLog2 (n: int) =
        let mutable b = 0

        while (1 <<< b) < n do
            b <- b + 1

        b

    let free: Budget = {
        MaxFlops = None
        MaxParams = None
        MaxInstructions = None
    }

    /// Candidate i costs (n - i) kFLOPs: more aggressive is cheaper.
    let costsOf (n: int) (i: int) : Costs = {
        Flops = int64 (n - i) * 1000L
        Params = n - i
        Instructions = None
    }

    /// Target 0.9 with no margin, so a screen passes exactly where the predicate says.
    let protocol (assume: bool) = {
        Search.defaultProtocol 0.9 with
            Tolerance = Tolerance.Fixed 0.0
            AssumeFirstPasses = assume
    }

    /// Screens pass at indices <= k.
    let screenAt (k: int) (i: int) (_: int) : float list =
        if i <= k then [ 0.92; 0.9 ] else [ 0.6; 0.5 ]

    /// Full-set verification passes at indices <= k.
    let verifyAt (k: int) (i: int) : float = if i <= k then 0.91 else 0.7

    let bisect n k kv assume budget =
        Search.bisect (Array.init n id) (costsOf n) budget (screenAt k) (protocol assume) 50 (verifyAt kv)

    let linear n k kv assume budget =
        Search.linear (Array.init n id) (costsOf n) budget (screenAt k) (protocol assume) 50 (verifyAt kv)

    let count kind (r: SearchResult<int>) =
        r.Log |> List.filter (fun e -> e.Kind = kind) |> List.length

    /// Grid size 1..64, whether index 0 is assumed, a boundary k (-1 only when index 0 is evaluated).
    let monotone: Arbitrary<int * bool * int> =
        gen {
            let! n = Gen.choose (1, 64)
            let! assume = Gen.elements [ true; false ]
            let! k = Gen.choose ((if assume then 0 else -1), n - 1)
            return n, assume, k
        }
        |> Arb.fromGen

    /// As monotone, plus the first budget-feasible index f in 0..n.
    let budgeted: Arbitrary<int * bool * int * int> =
        gen {
            let! n, assume, k = monotone.Generator
            let! f = Gen.choose (0, n)
            return n, assume, k, f
        }
        |> Arb.fromGen

    /// Grid size, boundary and an arbitrary (not necessarily suffix) feasibility pattern.
    let scattered: Arbitrary<int * int * bool[]> =
        gen {
            let! n = Gen.choose (1, 40)
            let! k = Gen.choose (0, n - 1)
            let! feasible = Gen.arrayOfLength n (Gen.elements [ true; true; false ])
            return n, k, feasible
        }
        |> Arb.fromGen

    /// Labels of 1..6 classes with the given class sizes (some classes absent), shuffled; a fraction; a seed.
    let labelsOf (sizes: int list) : Gen<int[] * float * int> =
        gen {
            let! classes = Gen.choose (1, 6)
            let! counts = Gen.arrayOfLength classes (Gen.elements (0 :: sizes))

            let counts =
                if Array.sum counts = 0 then
                    Array.create classes (List.last sizes)
                else
                    counts

            let! keys = Gen.arrayOfLength (Array.sum counts) (Gen.choose (0, 1_000_000))
            let labels = counts |> Array.mapi (fun c k -> Array.create k c) |> Array.concat
            let shuffled = Array.zip keys labels |> Array.sortBy fst |> Array.map snd
            let! fraction = Gen.choose (10, 30) |> Gen.map (fun p -> float p / 100.0)
            let! seed = Gen.choose (-1000, 1000)
            return shuffled, fraction, seed
        }

    /// Class sizes from 1 to 60: small classes get less than one sample of quota.
    let labelled = labelsOf [ 1; 2; 3; 10; 11; 17; 25; 40; 60 ] |> Arb.fromGen

    /// Class sizes 10..60, so that each class has many possible draws and repeats almost surely differ.
    let roomy = labelsOf [ 10; 11; 17; 25; 40; 60 ] |> Arb.fromGen

    /// 1..3 accuracies in [0, 1] on a 1/1000 grid, a target, a fixed tolerance and a Hoeffding delta.
    let decisions: Arbitrary<float list * float * float * float> =
        gen {
            let acc = Gen.choose (0, 1000) |> Gen.map (fun x -> float x / 1000.0)
            let! repeats = Gen.choose (1, 3)
            let! accuracies = Gen.listOfLength repeats acc
            let! target = acc
            let! tolerance = Gen.choose (0, 100) |> Gen.map (fun x -> float x / 1000.0)
            let! delta = Gen.elements [ 0.01; 0.05; 0.1; 0.5 ]
            return accuracies, target, tolerance, delta
        }
        |> Arb.fromGen

open SearchGen

// ---------------------------------------------------------------- bisection on monotone predicates

let private ``bisect finds the boundary of a monotone predicate in about log2 n evaluations; linear agrees`` () =
    Prop.forAll monotone (fun (n, assume, k) ->
        let b = bisect n k k assume free
        let l = linear n k k assume free
        let expected = if k < 0 then None else Some k
        let screens = ceilLog2 n + (if assume then 0 else 1)

        let ok =
            b.Chosen = expected
            && b.Verified = (k >= 0)
            && b.Evaluations <= screens + 1
            && count EvaluationKind.Screen b + count EvaluationKind.Verification b = b.Evaluations
            && l.Chosen = expected
            && l.LinearEvaluations = n
            && b.LinearEvaluations = n
            && count EvaluationKind.Screen l = (if assume then n - 1 else n)
            && l.Evaluations = count EvaluationKind.Screen l + (if k >= 0 then 1 else 0)

        ok
        |> Prop.classify (k = -1) "nothing passes"
        |> Prop.classify (k = n - 1) "everything passes"
        |> Prop.classify (n = 1) "grid of one"
        |> Prop.classify (n &&& (n - 1) = 0) "power of two")

let private ``evaluation bound holds for every grid size 1..64 and boundary, with one fallback`` () =
    for n in 1..64 do
        for assume in [ true; false ] do
            for k in (if assume then 0 else -1) .. n - 1 do
                let plain = bisect n k k assume free
                let extra = if assume then 0 else 1
                Expect.equal plain.Chosen (if k < 0 then None else Some k) $"n {n} k {k} {assume}"
                Expect.isLessThanOrEqual plain.Evaluations (ceilLog2 n + 1 + extra) $"n {n} k {k} {assume}"

                if k >= 1 then
                    // Verification fails at k, passes at k - 1: one fallback.
                    let back = bisect n k (k - 1) assume free
                    Expect.equal back.Chosen (Some(k - 1)) $"fallback n {n} k {k} {assume}"
                    Expect.isTrue back.Verified $"fallback n {n} k {k} {assume}: verified"

                    Expect.equal
                        (count EvaluationKind.Verification back)
                        2
                        $"fallback n {n} k {k} {assume}: two verifications"

                    Expect.isLessThanOrEqual back.Evaluations (ceilLog2 n + 2 + extra) $"n {n} k {k}"

let private ``the seed's grids: 13 candidates in 4 screens, 18 in 5`` () =
    // Seed 003, results 4.2: 13 -> 4 and 18 -> 5 evaluations for a linear sweep against bisection.
    for n, expected in [ 13, 4; 18, 5 ] do
        let worst =
            [ 0 .. n - 1 ]
            |> List.map (fun k -> count EvaluationKind.Screen (bisect n k k true free))
            |> List.max

        Expect.equal worst expected $"worst-case screens over a grid of {n}"

let private ``a baseline assumed to pass that fails verification is reported unverified`` () =
    let r = bisect 8 -1 -1 true free
    Expect.equal r.Chosen (Some 0) "the baseline is chosen"
    Expect.isFalse r.Verified "the failed verification leaves it unverified"
    Expect.equal r.FinalAccuracy (Some 0.7) "the baseline's full-set accuracy"
    Expect.equal r.Log.Head.Kind EvaluationKind.Assumed "the baseline is assumed, not screened"

// ---------------------------------------------------------------- verification fallback

let private ``verification failing at k but passing at k-1 gives k-1, verified`` () =
    Prop.forAll monotone (fun (n, assume, k) ->
        k < 1
        || (let r = bisect n k (k - 1) assume free

            r.Chosen = Some(k - 1)
            && r.Verified
            && r.FinalAccuracy = Some 0.91
            && (r.Log
                |> List.filter (fun e -> e.Kind = EvaluationKind.Verification)
                |> List.map _.Index) = [ k; k - 1 ]))

let private ``after two failed steps back the search reports unverified, with the best full-set accuracy`` () =
    let verify i =
        match i with
        | 9 -> 0.80
        | 8 -> 0.85
        | 7 -> 0.84
        | _ -> 0.95

    let r =
        Search.bisect (Array.init 16 id) (costsOf 16) free (screenAt 9) (protocol true) 50 verify

    Expect.equal
        (r.Log
         |> List.filter (fun e -> e.Kind = EvaluationKind.Verification)
         |> List.map _.Index)
        [ 9; 8; 7 ]
        "verifications at 9, 8 and 7"

    Expect.isFalse r.Verified "unverified after two steps back"
    Expect.equal r.Chosen (Some 8) "the best full-set accuracy's candidate"
    Expect.equal r.FinalAccuracy (Some 0.85) "its full-set accuracy"

let private ``no step back to a candidate the screen rejected`` () =
    // Linear sweep, quasi-monotone: index 4 fails its screen, 5 passes; 5 fails verification.
    let screen i (_: int) =
        if i = 4 || i > 5 then [ 0.5; 0.5 ] else [ 0.95; 0.95 ]

    let r =
        Search.linear (Array.init 8 id) (costsOf 8) free screen (protocol true) 50 (verifyAt 4)

    Expect.equal r.Chosen (Some 5) "the screen's last pass"
    Expect.isFalse r.Verified "unverified: 4 was rejected by the screen"
    Expect.equal (count EvaluationKind.Verification r) 1 "one verification, no step back"

// ---------------------------------------------------------------- budgets

let private ``a feasible suffix from f: chosen is feasible, None when f is past the boundary`` () =
    Prop.forAll budgeted (fun (n, assume, k, f) ->
        let budget = {
            free with
                MaxFlops = Some(int64 (n - f) * 1000L)
        }

        let r = bisect n k k assume budget

        let searched =
            r.Log
            |> List.filter (fun e -> e.Kind = EvaluationKind.Screen || e.Kind = EvaluationKind.Verification)

        let expected = if f > k then None else Some k

        let screens =
            if f >= n then 0
            elif f = 0 && assume then ceilLog2 n
            else 1 + ceilLog2 (n - f)

        let ok =
            r.Chosen = expected
            && searched |> List.forall (fun e -> e.Index >= f)
            && count EvaluationKind.BudgetCheck r = f
            && count EvaluationKind.Screen r <= screens
            && (linear n k k assume budget).Chosen = expected

        ok
        |> Prop.classify (f = n) "nothing feasible"
        |> Prop.classify (f > k && f < n) "feasible suffix past the boundary"
        |> Prop.classify (f > 0 && f <= k) "boundary in the feasible suffix")

let private ``whatever the costs, a chosen candidate fits the budget and no over-budget one is trained`` () =
    Prop.forAll scattered (fun (n, k, feasible) ->
        let costs i = {
            Flops = 0L
            Params = (if feasible[i] then 5 else 50)
            Instructions = Some 1L
        }

        let budget = { free with MaxParams = Some 10 }

        let check (r: SearchResult<int>) =
            (r.Chosen |> Option.forall (fun c -> feasible[c]))
            && r.Log
               |> List.forall (fun e ->
                   e.Kind = EvaluationKind.BudgetCheck
                   || Search.withinBudget budget (costs e.Index))

        let ok =
            check (Search.bisect (Array.init n id) costs budget (screenAt k) (protocol true) 50 (verifyAt k))
            && check (Search.linear (Array.init n id) costs budget (screenAt k) (protocol true) 50 (verifyAt k))

        ok
        |> Prop.classify (Array.forall id feasible) "all feasible"
        |> Prop.classify (not (Array.exists id feasible)) "none feasible")

let private ``nothing within budget: no choice, no evaluation, every rejection logged with its reason`` () =
    let costs (i: int) = {
        Flops = 1_200_000L + int64 i
        Params = 10
        Instructions = None
    }

    let budget = {
        free with
            MaxFlops = Some 1_000_000L
            MaxInstructions = Some 5000L
    }

    let r =
        Search.bisect (Array.init 5 id) costs budget (screenAt 4) (protocol true) 50 (verifyAt 4)

    Expect.equal r.Chosen None "nothing chosen"
    Expect.equal r.Evaluations 0 "nothing trained"

    Expect.equal
        (r.Log |> List.map _.Kind)
        (List.replicate 5 EvaluationKind.BudgetCheck)
        "every candidate rejected by the budget"

    Expect.equal
        r.Log.Head.Reason
        "over FLOPs budget 1.20 M > 1.00 M; instruction count unknown (budget 5.00 k)"
        "the first rejection's reason"

let private ``budget violations name each exceeded resource`` () =
    let budget = {
        MaxFlops = Some 100L
        MaxParams = Some 1000
        MaxInstructions = Some 2_000_000L
    }

    let costs = {
        Flops = 100L
        Params = 1001
        Instructions = Some 2_500_000L
    }

    Expect.equal
        (Search.budgetViolations budget costs)
        ([
            "over parameter budget 1001 > 1000"
            "over instruction budget 2.50 M > 2.00 M"
        ])
        "parameters and instructions over budget"

    Expect.isTrue
        (Search.withinBudget budget {
            costs with
                Params = 1000
                Instructions = Some 5L
        })
        "at the parameter budget, under the instruction budget"

// ---------------------------------------------------------------- Hoeffding tolerance

let private ``Hoeffding tolerance: a value by hand`` () =
    // delta 0.05, R 2, f 0.2, n 500: ln(2 / 0.05) = ln 40 = 3.688879; 2 x 2 x 0.2 x 500 = 400 trials x 2;
    // 3.688879 / 400 = 0.00922220; sqrt = 0.0960323.
    Expect.floatClose
        { absolute = 1e-7; relative = 0.0 }
        (Search.hoeffdingTolerance 0.05 2 0.2 500)
        0.0960323
        "0.05, 2 repeats, 0.2 of 500"

let private ``Hoeffding tolerance shrinks with n, repeats and fraction, and grows as delta shrinks`` () =
    let args =
        gen {
            let! delta = Gen.choose (1, 98) |> Gen.map (fun x -> float x / 100.0)
            let! repeats = Gen.choose (1, 5)
            let! fraction = Gen.choose (5, 99) |> Gen.map (fun x -> float x / 100.0)
            let! n = Gen.choose (1, 5000)
            return delta, repeats, fraction, n
        }
        |> Arb.fromGen

    Prop.forAll args (fun (delta, repeats, fraction, n) ->
        let t = Search.hoeffdingTolerance delta repeats fraction n

        t > 0.0
        && Search.hoeffdingTolerance delta repeats fraction (n + 1) < t
        && Search.hoeffdingTolerance delta (repeats + 1) fraction n < t
        && Search.hoeffdingTolerance delta repeats (fraction + 0.01) n < t
        && Search.hoeffdingTolerance (delta / 2.0) repeats fraction n > t)

// ---------------------------------------------------------------- decide

let private ``decide is exactly mean >= target - tolerance, for both kinds of tolerance`` () =
    Prop.forAll decisions (fun (accuracies, target, tolerance, delta) ->
        let fixedProtocol = {
            Search.defaultProtocol target with
                Tolerance = Tolerance.Fixed tolerance
        }

        let hoeffding = {
            fixedProtocol with
                Tolerance = Tolerance.Hoeffding delta
        }

        let mean = List.average accuracies
        let okF, tolF, _ = Search.decide fixedProtocol 80 accuracies
        let okH, tolH, reason = Search.decide hoeffding 80 accuracies
        let expectedH = Search.hoeffdingTolerance delta accuracies.Length 1.0 80

        let ok =
            okF = (mean >= target - tolerance)
            && tolF = tolerance
            && tolH = expectedH
            && okH = (mean >= target - expectedH)
            && reason.StartsWith "accuracy "

        ok |> Prop.classify okF "accepted" |> Prop.classify (not okF) "rejected")

let private ``decide at the threshold, and its reasons`` () =
    // 0.75 - 0.25 = 0.5 exactly in binary floating point.
    let p = {
        Search.defaultProtocol 0.75 with
            Tolerance = Tolerance.Fixed 0.25
    }

    Expect.equal
        (Search.decide p 10 [ 0.5; 0.5 ])
        (true, 0.25, "accuracy 0.5000 >= 0.7500 - 0.2500")
        "exactly at the threshold passes"

    let ok, _, reason = Search.decide p 10 [ 0.5; 0.4999999 ]
    Expect.isFalse ok "just below the threshold fails"
    Expect.equal reason "accuracy 0.5000 < 0.7500 - 0.2500" "the failing reason"

let private ``a Hoeffding decision counts repeats x subset size trials`` () =
    // 2 repeats of round(0.2 x 500) = 100 samples: the bound of R = 2, f = 0.2, n = 500.
    let p = {
        Search.defaultProtocol 0.95 with
            Tolerance = Tolerance.Hoeffding 0.05
    }

    let _, tolerance, _ = Search.decide p 100 [ 0.9; 0.9 ]

    Expect.floatClose
        { absolute = 1e-12; relative = 0.0 }
        tolerance
        (Search.hoeffdingTolerance 0.05 2 0.2 500)
        "repeats x subset size trials"

// ---------------------------------------------------------------- subset

let private ``subset: deterministic, sorted, in range, sized, stratified`` () =
    Prop.forAll labelled (fun (labels, fraction, seed) ->
        let n = labels.Length
        let present = labels |> Array.distinct
        let s = Search.subset seed 0 fraction labels

        let size =
            min n (max present.Length (int (Math.Round(fraction * float n, MidpointRounding.AwayFromZero))))

        let perClass c =
            s |> Array.filter (fun i -> labels[i] = c) |> Array.length

        let quota c =
            float size * float (labels |> Array.filter ((=) c) |> Array.length) / float n

        let forced = present |> Array.exists (fun c -> quota c < 1.0)

        let ok =
            s = Search.subset seed 0 fraction labels
            && s.Length = size
            && Array.forall2 (<) s[.. s.Length - 2] s[1..]
            && s |> Array.forall (fun i -> i >= 0 && i < n)
            && present |> Array.forall (fun c -> perClass c >= 1)
            && (forced
                || present |> Array.forall (fun c -> abs (float (perClass c) - quota c) < 1.0))

        ok
        |> Prop.classify forced "a class below one sample of quota"
        |> Prop.classify (present.Length = 1) "one class")

let private ``subset: repeats draw different subsets`` () =
    Prop.forAll roomy (fun (labels, fraction, seed) ->
        [ 0..7 ]
        |> List.map (fun r -> Search.subset seed r fraction labels)
        |> List.distinct
        |> List.length
            >
            1)

let private ``subset: a pinned case`` () =
    let labels = Array.init 40 (fun i -> i % 4)
    let a = Search.subset 1 0 0.25 labels
    let b = Search.subset 1 1 0.25 labels
    Expect.equal a.Length 10 "subset 0 has 10 of 40"
    Expect.equal b.Length 10 "subset 1 has 10 of 40"
    Expect.notEqual a b "repeat 1 draws another subset"
    // 10 samples over 4 equal classes: 2 or 3 each.
    for s in [ a; b ] do
        for c in 0..3 do
            let k = s |> Array.filter (fun i -> labels[i] = c) |> Array.length
            Expect.isGreaterThanOrEqual k 2 $"class {c} has at least 2"
            Expect.isLessThanOrEqual k 3 $"class {c} has at most 3"

    Expect.isEmpty (Search.subset 1 0 0.25 [||]) "no labels, empty subset"
    Expect.equal (Search.subset 3 0 1.0 labels) (Array.init 40 id) "fraction 1 takes everything in order"

// ---------------------------------------------------------------- grids and log

let private ``block and sparsity grids run from least to most aggressive`` () =
    Expect.equal (Search.blockGrid 4) [| 4; 3; 2; 1; 0 |] "4 blocks down to 0"
    Expect.equal (Search.blockGrid 0) [| 0 |] "0 blocks"
    let s = Search.sparsityGrid 0.05 0.95
    Expect.equal s.Length 20 "0 to 0.95 by 0.05"
    Expect.equal (s[6]) 0.3 "s[6] = 0.3"
    Expect.equal (s[19]) 0.95 "s[19] = 0.95"
    Expect.equal (Search.sparsityGrid 0.1 0.3) [| 0.0; 0.1; 0.2; 0.3 |] "0 to 0.3 by 0.1"
    Expect.equal (Search.sparsityGrid 0.25 0.6) [| 0.0; 0.25; 0.5 |] "0.25 steps below 0.6"

let private ``formatLog: a header and one line per entry`` () =
    let r = bisect 13 6 5 true free
    let text = Search.formatLog r.Log (sprintf "B=%d")
    let lines = text.Split '\n'
    Expect.equal lines.Length (r.Log.Length + 1) "a header and one line per entry"
    Expect.stringContains lines[0] "reason" "the header names the reason column"
    Expect.stringContains text "assumed" "the assumed baseline is logged"
    Expect.stringContains text "full-set accuracy 0.7000 < target 0.9000" "the failed verification's reason"
    Expect.stringContains text "accuracy 0.9100 >= 0.9000 - 0.0000" "a passed screen's reason"

[<Tests>]
let tests =
    testList "SearchTests" [
        testProperty
            "bisect finds the boundary of a monotone predicate in about log2 n evaluations; linear agrees"
            ``bisect finds the boundary of a monotone predicate in about log2 n evaluations; linear agrees``
        testCase
            "evaluation bound holds for every grid size 1..64 and boundary, with one fallback"
            ``evaluation bound holds for every grid size 1..64 and boundary, with one fallback``
        testCase
            "the seed's grids: 13 candidates in 4 screens, 18 in 5"
            ``the seed's grids: 13 candidates in 4 screens, 18 in 5``
        testCase
            "a baseline assumed to pass that fails verification is reported unverified"
            ``a baseline assumed to pass that fails verification is reported unverified``
        testProperty
            "verification failing at k but passing at k-1 gives k-1, verified"
            ``verification failing at k but passing at k-1 gives k-1, verified``
        testCase
            "after two failed steps back the search reports unverified, with the best full-set accuracy"
            ``after two failed steps back the search reports unverified, with the best full-set accuracy``
        testCase "no step back to a candidate the screen rejected" ``no step back to a candidate the screen rejected``
        testProperty
            "a feasible suffix from f: chosen is feasible, None when f is past the boundary"
            ``a feasible suffix from f: chosen is feasible, None when f is past the boundary``
        testProperty
            "whatever the costs, a chosen candidate fits the budget and no over-budget one is trained"
            ``whatever the costs, a chosen candidate fits the budget and no over-budget one is trained``
        testCase
            "nothing within budget: no choice, no evaluation, every rejection logged with its reason"
            ``nothing within budget: no choice, no evaluation, every rejection logged with its reason``
        testCase "budget violations name each exceeded resource" ``budget violations name each exceeded resource``
        testCase "Hoeffding tolerance: a value by hand" ``Hoeffding tolerance: a value by hand``
        testProperty
            "Hoeffding tolerance shrinks with n, repeats and fraction, and grows as delta shrinks"
            ``Hoeffding tolerance shrinks with n, repeats and fraction, and grows as delta shrinks``
        testProperty
            "decide is exactly mean >= target - tolerance, for both kinds of tolerance"
            ``decide is exactly mean >= target - tolerance, for both kinds of tolerance``
        testCase "decide at the threshold, and its reasons" ``decide at the threshold, and its reasons``
        testCase
            "a Hoeffding decision counts repeats x subset size trials"
            ``a Hoeffding decision counts repeats x subset size trials``
        testProperty
            "subset: deterministic, sorted, in range, sized, stratified"
            ``subset: deterministic, sorted, in range, sized, stratified``
        testProperty "subset: repeats draw different subsets" ``subset: repeats draw different subsets``
        testCase "subset: a pinned case" ``subset: a pinned case``
        testCase
            "block and sparsity grids run from least to most aggressive"
            ``block and sparsity grids run from least to most aggressive``
        testCase "formatLog: a header and one line per entry" ``formatLog: a header and one line per entry``
    ]
