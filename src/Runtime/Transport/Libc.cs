using System.Runtime.InteropServices;

namespace Tern.Runtime.Transports;

/// <summary>
/// The few libc calls a raw serial port needs (Linux, glibc layout). struct termios is handled as opaque bytes:
/// cfmakeraw and cfsetspeed do the work, and only c_iflag, c_cflag and c_cc[VMIN], c_cc[VTIME] are touched at their
/// Linux offsets (identical on x86-64, AArch64, ARM and RISC-V; other architectures are refused).
/// </summary>
internal static unsafe class Libc
{
    private const string Lib = "libc";

    public const int O_RDWR = 0x2, O_NOCTTY = 0x100, O_NONBLOCK = 0x800, O_CLOEXEC = 0x80000;
    public const int EINTR = 4, EIO = 5, ENXIO = 6, EAGAIN = 11, ENODEV = 19, EPIPE = 32;
    public const short POLLIN = 0x1, POLLOUT = 0x4, POLLERR = 0x8, POLLHUP = 0x10, POLLNVAL = 0x20;
    public const int TCSANOW = 0, TCIFLUSH = 0;

    // struct termios: c_iflag @0, c_oflag @4, c_cflag @8, c_lflag @12, c_line @16, c_cc[32] @17, speeds @52, 56.
    public const int TermiosBytes = 256; // generous: glibc's is 60 bytes
    public const int IflagOffset = 0, CflagOffset = 8, CcOffset = 17, VTIME = 5, VMIN = 6;
    public const uint IXANY = 0x800, IXOFF = 0x1000, CREAD = 0x80, CLOCAL = 0x800, CRTSCTS = 0x80000000;

    [StructLayout(LayoutKind.Sequential)]
    public struct PollFd
    {
        public int Fd;
        public short Events;
        public short Revents;
    }

    [DllImport(Lib, SetLastError = true)]
    public static extern int open([MarshalAs(UnmanagedType.LPUTF8Str)] string path, int flags);

    [DllImport(Lib, SetLastError = true)]
    public static extern int close(int fd);

    [DllImport(Lib, SetLastError = true)]
    public static extern nint read(int fd, byte* buf, nint count);

    [DllImport(Lib, SetLastError = true)]
    public static extern nint write(int fd, byte* buf, nint count);

    [DllImport(Lib, SetLastError = true)]
    public static extern int poll(PollFd* fds, nuint nfds, int timeout);

    [DllImport(Lib, SetLastError = true)]
    public static extern int tcgetattr(int fd, byte* termios);

    [DllImport(Lib, SetLastError = true)]
    public static extern int tcsetattr(int fd, int optionalActions, byte* termios);

    [DllImport(Lib, SetLastError = true)]
    public static extern void cfmakeraw(byte* termios);

    [DllImport(Lib, SetLastError = true)]
    public static extern int cfsetspeed(byte* termios, uint speed);

    [DllImport(Lib, SetLastError = true)]
    public static extern int tcflush(int fd, int queue);

    [DllImport(Lib)]
    private static extern nint strerror(int errnum);

    public static int Errno => Marshal.GetLastPInvokeError();

    public static string Describe(int errno) => $"errno {errno}: {Marshal.PtrToStringUTF8(strerror(errno))}";

    /// <summary>Whether this process can use the termios layout above.</summary>
    public static bool Supported =>
        OperatingSystem.IsLinux() && RuntimeInformation.ProcessArchitecture is Architecture.X64 or Architecture.Arm64
            or Architecture.Arm or Architecture.RiscV64;

    /// <summary>The legacy Bxxx constant of a standard rate (older glibc's cfsetspeed wants it; newer accepts the number).</summary>
    public static uint? SpeedConstant(int baud) => baud switch
    {
        50 => 1, 75 => 2, 110 => 3, 134 => 4, 150 => 5, 200 => 6, 300 => 7, 600 => 8, 1200 => 9, 1800 => 10,
        2400 => 11, 4800 => 12, 9600 => 13, 19200 => 14, 38400 => 15,
        57600 => 0x1001, 115200 => 0x1002, 230400 => 0x1003, 460800 => 0x1004, 500000 => 0x1005,
        576000 => 0x1006, 921600 => 0x1007, 1000000 => 0x1008, 1152000 => 0x1009, 1500000 => 0x100A,
        2000000 => 0x100B, 2500000 => 0x100C, 3000000 => 0x100D, 3500000 => 0x100E, 4000000 => 0x100F,
        _ => null,
    };
}
