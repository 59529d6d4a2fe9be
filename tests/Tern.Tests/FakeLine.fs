/// An in-process line for protocol tests: the host and a fake device joined by a Nerdbank FullDuplexStream pair, each
/// end a transport as the real ones are (what one end writes the other reads; closing one end is end of file for the
/// other).
module Tern.Tests.FakeLine

open System
open System.Threading
open Nerdbank.Streams
open Tern.Runtime.Transports

/// The host's and the device's ends of a fresh line; `name` is the host end's endpoint in messages.
let pair (name: string) : ITransport * ITransport =
    let struct (host, device) = FullDuplexStream.CreatePair()
    new StreamTransport(host, name), new StreamTransport(device, name + " (device end)")

/// A fake device's loop running on a background thread over the device end of a line. A loop that fails closes the
/// device end (the host sees the line close) and its exception is raised again on Dispose. Disposing closes the
/// host end (end of file for the loop), waits for the thread, then closes the device end.
type Served(host: ITransport, device: ITransport, loop: unit -> unit) =
    let mutable failure: exn option = None

    let thread =
        Thread(
            (fun () ->
                try
                    loop ()
                with e ->
                    failure <- Some e
                    device.Dispose()),
            IsBackground = true
        )

    do thread.Start()

    interface IDisposable with
        member _.Dispose() =
            host.Dispose()
            thread.Join(TimeSpan.FromSeconds 5.0) |> ignore
            device.Dispose()

            match failure with
            | Some e -> raise (Exception($"the fake device failed: {e.Message}", e))
            | None -> ()

/// Starts `loop` (a fake device answering on `device`) on its own thread.
let serve (host: ITransport) (device: ITransport) (loop: unit -> unit) : IDisposable = new Served(host, device, loop)
