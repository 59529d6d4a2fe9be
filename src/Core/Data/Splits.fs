namespace Tern.Core

open System

/// One evaluation fold: indices of the samples to train on and to test on.
type SplitFold = {
    Index: int
    Train: int[]
    Test: int[]
}

/// Subject-grouped evaluation splits: a subject is never on both sides of a fold.
[<RequireQualifiedAccess>]
module Splits =
    /// Sample indices per group, groups in ascending order.
    let private byGroup (groups: int[]) =
        groups
        |> Array.indexed
        |> Array.groupBy snd
        |> Array.sortBy fst
        |> Array.map (fun (g, xs) -> g, xs |> Array.map fst)

    let private fold index (test: int[]) (n: int) =
        let inTest = Collections.Generic.HashSet<int>(test)

        {
            Index = index
            Train = Array.init n id |> Array.filter (inTest.Contains >> not)
            Test = Array.sort test
        }

    /// k folds, whole groups (subjects) assigned so that each fold's class counts come close to an even
    /// share: groups go largest first (ties broken by a seeded shuffle) to the fold whose class counts
    /// stay closest to the target. Fails if there are fewer groups than folds.
    let groupedStratifiedKFold (k: int) (seed: int) (labels: int[]) (groups: int[]) : Result<SplitFold list, string> =
        if labels.Length <> groups.Length then
            Error $"{labels.Length} labels but {groups.Length} group ids"
        elif k < 2 then
            Error $"k = {k}: need at least 2 folds"
        else
            let members = byGroup groups

            if members.Length < k then
                Error $"{members.Length} subjects cannot fill {k} folds (a subject may not be split)"
            else
                let classes = if labels.Length = 0 then 0 else Array.max labels + 1

                let total =
                    Array.init classes (fun c -> labels |> Array.filter ((=) c) |> Array.length)

                let target = total |> Array.map (fun t -> float t / float k)
                let counts = Array.init k (fun _ -> Array.zeroCreate<int> classes)
                let assigned = Array.init k (fun _ -> Collections.Generic.List<int>())
                let rng = Random(seed)

                let order =
                    members
                    |> Array.map (fun m -> m, rng.Next())
                    |> Array.sortBy (fun ((_, xs), r) -> -xs.Length, r)

                for (_, xs), _ in order do
                    let histogram = Array.zeroCreate<int> classes

                    for i in xs do
                        histogram[labels[i]] <- histogram[labels[i]] + 1

                    // Cost of a fold after adding this group: squared excess over the target share.
                    let cost f =
                        Array.init classes (fun c ->
                            let after = float (counts[f][c] + histogram[c])
                            let over = max 0.0 (after - target[c])
                            over * over + 1e-3 * after)
                        |> Array.sum

                    let best = [| 0 .. k - 1 |] |> Array.minBy (fun f -> cost f, assigned[f].Count)

                    for c in 0 .. classes - 1 do
                        counts[best][c] <- counts[best][c] + histogram[c]

                    assigned[best].AddRange xs

                Ok [ for f in 0 .. k - 1 -> fold f (assigned[f].ToArray()) labels.Length ]

    /// Leave-one-subject-out: one fold per group, in ascending group order.
    let leaveOneGroupOut (labels: int[]) (groups: int[]) : Result<SplitFold list, string> =
        if labels.Length <> groups.Length then
            Error $"{labels.Length} labels but {groups.Length} group ids"
        else
            let members = byGroup groups

            if members.Length < 2 then
                Error $"leave-one-subject-out needs at least 2 subjects, found {members.Length}"
            else
                Ok(members |> Array.toList |> List.mapi (fun i (_, xs) -> fold i xs labels.Length))

    /// Splits a training set into (train, validation) by whole groups, about `fraction` of the groups to
    /// validation (at least one, and at least one left to train on).
    let groupHoldout (fraction: float) (seed: int) (indices: int[]) (groups: int[]) : int[] * int[] =
        let distinct =
            indices |> Array.map (fun i -> groups[i]) |> Array.distinct |> Array.sort

        let rng = Random(seed)
        let shuffled = distinct |> Array.sortBy (fun _ -> rng.Next())
        let n = distinct.Length

        let take =
            if n < 2 then
                0
            else
                min (n - 1) (max 1 (int (Math.Round(fraction * float n, MidpointRounding.AwayFromZero))))

        let valid = Collections.Generic.HashSet<int>(shuffled[.. take - 1])

        indices |> Array.filter (fun i -> not (valid.Contains groups[i])),
        indices |> Array.filter (fun i -> valid.Contains groups[i])

    /// At most `count` sample indices, ascending, each class represented in proportion to its share of the
    /// labels (largest remainders, ties to the lower class, get the leftover places); within a class the samples
    /// are a seeded random choice. All indices when there are no more than `count`.
    let stratifiedSubset (count: int) (seed: int) (labels: int[]) : int[] =
        let n = labels.Length

        if count >= n then
            Array.init n id
        else
            let classes = labels |> Array.indexed |> Array.groupBy snd |> Array.sortBy fst

            let count = max count 0
            // Exact shares: class size * count / n, as quotient and remainder.
            let share (xs: _[]) = int64 xs.Length * int64 count
            let quota = classes |> Array.map (fun (_, xs) -> int (share xs / int64 n))
            let left = count - Array.sum quota

            classes
            |> Array.mapi (fun i (_, xs) -> i, share xs % int64 n)
            |> Array.sortBy (fun (i, r) -> -r, i)
            |> Array.take left
            |> Array.iter (fun (i, _) -> quota[i] <- quota[i] + 1)

            let rng = Random(seed)

            classes
            |> Array.mapi (fun i (_, xs) ->
                // One draw per sample in index order, so the choice depends only on the seed and the labels.
                let keys = xs |> Array.map (fun _ -> rng.Next())

                Array.zip keys xs
                |> Array.sortBy fst
                |> Array.take quota[i]
                |> Array.map (snd >> fst))
            |> Array.concat
            |> Array.sort

    /// Places for `count` among parts of the given sizes (count <= their sum): each part its exact share
    /// size * count / total rounded down, the places left to the largest remainders, ties in the order `rank` gives
    /// (a lower rank first).
    let private largestRemainder (sizes: int[]) (count: int) (rank: int[]) : int[] =
        let total = Array.sum sizes |> int64

        if total = 0L then
            Array.zeroCreate sizes.Length
        else
            let share (k: int) = int64 sizes[k] * int64 count
            let quota = Array.init sizes.Length (fun k -> int (share k / total))
            let left = count - Array.sum quota

            Array.init sizes.Length id
            |> Array.sortBy (fun k -> -(share k % total), rank[k])
            |> Array.take left
            |> Array.iter (fun k -> quota[k] <- quota[k] + 1)

            quota

    /// At most `count` sample indices, ascending, stratified by class and then by group (subject) within each
    /// class: classes get places in proportion to their size, and each class's places go to its groups in
    /// proportion to theirs (largest remainders, ties broken in a seeded random order, so a small draw does not
    /// favour the first subjects); within a (class, group) cell the samples are a seeded random choice. All indices
    /// when there are no more than `count`.
    let stratifiedByClassAndGroup (count: int) (seed: int) (labels: int[]) (groups: int[]) : int[] =
        if labels.Length <> groups.Length then
            invalidArg "groups" $"{labels.Length} labels but {groups.Length} group ids"

        let n = labels.Length

        if count >= n then
            Array.init n id
        else
            let rng = Random(seed)
            let ranks (k: int) = Array.init k (fun _ -> rng.Next())

            let classes =
                Array.init n id
                |> Array.groupBy (fun i -> labels[i])
                |> Array.sortBy fst
                |> Array.map snd

            let classQuota =
                largestRemainder (classes |> Array.map Array.length) (max count 0) (ranks classes.Length)

            classes
            |> Array.mapi (fun c members ->
                let cells =
                    members
                    |> Array.groupBy (fun i -> groups[i])
                    |> Array.sortBy fst
                    |> Array.map snd

                let quota =
                    largestRemainder (cells |> Array.map Array.length) classQuota[c] (ranks cells.Length)

                cells
                |> Array.mapi (fun k xs ->
                    // One draw per sample in index order, so the choice depends only on the seed and the data.
                    let keys = xs |> Array.map (fun _ -> rng.Next())
                    Array.zip keys xs |> Array.sortBy fst |> Array.take quota[k] |> Array.map snd)
                |> Array.concat)
            |> Array.concat
            |> Array.sort
