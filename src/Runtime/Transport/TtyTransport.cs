using System.IO.Ports;

namespace Tern.Runtime.Transports;

/// <summary>
/// A serial device or pty through System.IO.Ports: raw 8N1 at a standard baud rate, no hardware or software flow
/// control (XON/XOFF would swallow 0x11/0x13), no newline translation; the device is taken exclusively and stale input
/// is discarded. DTR and RTS stay asserted as a plain open leaves them (some USB CDC boards only talk while DTR is
/// set); a pty has no modem lines and opens without. A missing device, a refused permission or a path that is no
/// terminal are told apart in the message.
/// </summary>
public sealed class TtyTransport : StreamTransport
{
    // errno values (Linux) of a failed open; System.IO.Ports reports errno as the inner IOException's HResult.
    private const int EPERM = 1, ENOENT = 2, EIO = 5, ENXIO = 6, EACCES = 13, EBUSY = 16, ENODEV = 19, EISDIR = 21, ENOTTY = 25;

    /// <summary>The rates Linux termios knows by name; System.IO.Ports would set any other as 0 baud (a hang-up).</summary>
    private static readonly int[] StandardRates =
    [
        50, 75, 110, 134, 150, 200, 300, 600, 1200, 1800, 2400, 4800, 9600, 19200, 38400, 57600, 115200, 230400,
        460800, 500000, 576000, 921600, 1000000, 1152000, 1500000, 2000000, 2500000, 3000000, 3500000, 4000000,
    ];

    public TtyTransport(string path, int baud = Transport.DefaultBaud)
        : this(Open(path, baud), path, baud)
    {
    }

    private TtyTransport(SerialPort port, string path, int baud)
        : base(port.BaseStream, Name(path, baud), port)
    {
        Path = path;
        Baud = baud;
    }

    public string Path { get; }
    public int Baud { get; }

    private static string Name(string path, int baud) => $"tty:{path}@{baud}";

    private static SerialPort Open(string path, int baud)
    {
        if (baud <= 0) throw new ArgumentOutOfRangeException(nameof(baud), baud, "must be positive");
        string endpoint = Name(path, baud);
        if (!StandardRates.Contains(baud))
            throw new IOException($"{endpoint}: baud rate {baud} not supported (standard rates: {string.Join(", ", StandardRates.Where(r => r >= 9600))})");
        try
        {
            return OpenWith(endpoint, path, baud, modemLines: true);
        }
        catch (IOException e) when (e.InnerException is null)
        {
            // Setting the modem lines failed (a pty has none): open without them. Failures of the open itself carry
            // their cause and are final.
        }
        try
        {
            return OpenWith(endpoint, path, baud, modemLines: false);
        }
        catch (IOException e) when (e.InnerException is null)
        {
            throw new IOException($"{endpoint}: {e.Message}", e);
        }
    }

    private static SerialPort OpenWith(string endpoint, string path, int baud, bool modemLines)
    {
        var port = new SerialPort(path, baud, Parity.None, 8, StopBits.One)
        {
            Handshake = Handshake.None,
            DtrEnable = modemLines,
            RtsEnable = modemLines,
        };
        try
        {
            port.Open();
            port.DiscardInBuffer();
            return port;
        }
        catch (Exception e)
        {
            port.Dispose();
            throw e switch
            {
                UnauthorizedAccessException { InnerException: IOException cause } => OpenFailed(endpoint, cause),
                // The termios settings were refused.
                ArgumentException => new IOException($"{endpoint}: the terminal refused raw 8N1 at {baud} baud", e),
                _ => e,
            };
        }
    }

    /// <summary>System.IO.Ports reports every failed open as access denied: name the real cause.</summary>
    private static Exception OpenFailed(string endpoint, IOException cause)
    {
        string errno = $"errno {cause.HResult}: {cause.Message}";
        return cause.HResult switch
        {
            EACCES or EPERM => new UnauthorizedAccessException($"{endpoint}: open failed, permission denied ({errno}); is the user in the device's group (e.g. dialout)?", cause),
            ENOTTY => new IOException($"{endpoint}: not a terminal ({errno})", cause),
            ENOENT => new IOException($"{endpoint}: no such device ({errno})", cause),
            EISDIR => new IOException($"{endpoint}: a folder, not a terminal ({errno})", cause),
            EBUSY => new IOException($"{endpoint}: busy, another program holds it ({errno})", cause),
            EIO or ENXIO or ENODEV => new TransportClosedException(endpoint, $"open failed, {errno}", cause),
            _ => new IOException($"{endpoint}: open failed, {errno}", cause),
        };
    }
}
