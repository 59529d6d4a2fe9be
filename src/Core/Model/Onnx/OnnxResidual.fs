namespace Tern.Core

/// An Add of two data tensors to Tern's ResidualAdd: the current tensor plus an identity shortcut from earlier on
/// the chain. Tern's residual blocks do not overlap and cannot branch, so neither may the graph's.
[<RequireQualifiedAccess>]
module internal OnnxResidual =

    let private refuse = OnnxGraph.refuse

    // The input that is not the current tensor: the shortcut.
    let private shortcutOf (chain: OnnxChain) (n: OnnxNode) (a: string) (b: string) : string =
        let other =
            if a = chain.Current then
                b
            elif b = chain.Current then
                a
            else
                refuse n $"adds '{a}' and '{b}', and neither is the output of the node before it"

        if other = chain.Current then
            refuse n "adds a tensor to itself"

        other

    /// An Add node of data tensors a and b.
    let add (chain: OnnxChain) (n: OnnxNode) (t: OnnxTracked) (a: string) (b: string) : unit =
        let other = shortcutOf chain n a b
        let skip = chain.Tracked other

        if not skip.Shortcut then
            refuse n $"its shortcut '{other}' is a padded tensor, not a tensor of the chain"

        if chain.IsUsedShortcut other then
            refuse n $"'{other}' is the shortcut of an earlier Add too: Tern's residual blocks do not overlap"

        if skip.Value <> t.Value then
            refuse n "adds tensors of different shapes (Tern adds equal shapes, no broadcasting)"

        let span = chain.LayerCount - skip.Layer

        if span < 1 then
            refuse n $"adds '{other}' to itself"

        if skip.Layer <= chain.LastAdd then
            refuse
                n
                $"its shortcut '{other}' starts inside the residual block that ends at {chain.LayerName chain.LastAdd}: Tern's blocks do not overlap"

        chain.EmitResidual span other
        chain.Advance n t.Value (t.NonNegative && skip.NonNegative)
