namespace Tern.Runtime.Transports;

/// <summary>
/// A serial device or pty in raw mode (Linux). Opened O_RDWR|O_NOCTTY|O_CLOEXEC|O_NONBLOCK, then cfmakeraw,
/// CLOCAL|CREAD, no hardware or software flow control (IXON/IXOFF would swallow 0x11/0x13), VMIN=1 VTIME=0, the baud
/// rate, TCSANOW; stale input is flushed. Reads poll() with a deadline. No modem-line ioctls (they fail on a pty).
/// EOF, EIO or a hang-up is a <see cref="TransportClosedException"/> at once.
/// </summary>
public sealed unsafe class TtyTransport : ITransport
{
    private int fd;

    public TtyTransport(string path, int baud = Transport.DefaultBaud)
    {
        if (!Libc.Supported) throw new PlatformNotSupportedException("the tty transport needs Linux on x86-64, AArch64, ARM or RISC-V");
        if (baud <= 0) throw new ArgumentOutOfRangeException(nameof(baud), baud, "must be positive");
        Path = path;
        Baud = baud;
        Endpoint = $"tty:{path}@{baud}";
        fd = Libc.open(path, Libc.O_RDWR | Libc.O_NOCTTY | Libc.O_CLOEXEC | Libc.O_NONBLOCK);
        if (fd < 0)
        {
            int e = Libc.Errno;
            if (e is Libc.ENXIO or Libc.ENODEV or Libc.EIO) throw new TransportClosedException(Endpoint, $"open failed, {Libc.Describe(e)}");
            throw new IOException($"{Endpoint}: open failed, {Libc.Describe(e)}");
        }
        try
        {
            Configure();
        }
        catch
        {
            Libc.close(fd);
            fd = -1;
            throw;
        }
    }

    public string Path { get; }
    public int Baud { get; }
    public string Endpoint { get; }

    /// <summary>How long a write may wait for room in the output queue before it fails with <see cref="TimeoutException"/>.</summary>
    public TimeSpan WriteTimeout { get; set; } = TimeSpan.FromSeconds(10);

    private void Configure()
    {
        byte* t = stackalloc byte[Libc.TermiosBytes];
        new Span<byte>(t, Libc.TermiosBytes).Clear();
        if (Libc.tcgetattr(fd, t) != 0) throw new IOException($"{Endpoint}: not a terminal? tcgetattr failed, {Libc.Describe(Libc.Errno)}");
        Libc.cfmakeraw(t);
        // cfmakeraw clears IXON but not IXOFF/IXANY, and leaves CRTSCTS as it was: binary frames need all of them off.
        *(uint*)(t + Libc.IflagOffset) &= ~(Libc.IXOFF | Libc.IXANY);
        *(uint*)(t + Libc.CflagOffset) = (*(uint*)(t + Libc.CflagOffset) | Libc.CLOCAL | Libc.CREAD) & ~Libc.CRTSCTS;
        t[Libc.CcOffset + Libc.VMIN] = 1;
        t[Libc.CcOffset + Libc.VTIME] = 0;
        // glibc 2.42+ takes the plain rate; older glibc takes the rate or its Bxxx constant.
        if (Libc.cfsetspeed(t, (uint)Baud) != 0
            && (Libc.SpeedConstant(Baud) is not { } code || Libc.cfsetspeed(t, code) != 0))
            throw new IOException($"{Endpoint}: baud rate {Baud} not supported");
        if (Libc.tcsetattr(fd, Libc.TCSANOW, t) != 0) throw new IOException($"{Endpoint}: tcsetattr failed, {Libc.Describe(Libc.Errno)}");
        Libc.tcflush(fd, Libc.TCIFLUSH);
    }

    private int Fd => fd >= 0 ? fd : throw new ObjectDisposedException(Endpoint);

    public void Write(ReadOnlySpan<byte> data)
    {
        int f = Fd;
        var deadline = Deadline.After(WriteTimeout);
        fixed (byte* p = data)
        {
            int done = 0;
            while (done < data.Length)
            {
                nint n = Libc.write(f, p + done, data.Length - done);
                if (n > 0)
                {
                    done += (int)n;
                    continue;
                }
                int e = Libc.Errno;
                if (n < 0 && e == Libc.EINTR) continue;
                if (n < 0 && e == Libc.EAGAIN)
                {
                    if (Wait(f, Libc.POLLOUT, deadline) == 0)
                        throw new TimeoutException($"{Endpoint}: write of {data.Length - done} bytes blocked for {WriteTimeout.TotalMilliseconds:0} ms");
                    continue;
                }
                if (n == 0 || e is Libc.EIO or Libc.EPIPE or Libc.ENXIO or Libc.ENODEV)
                    throw new TransportClosedException(Endpoint, n == 0 ? "write returned 0" : $"{Libc.Describe(e)} while writing");
                throw new IOException($"{Endpoint}: write failed, {Libc.Describe(e)}");
            }
        }
    }

    public int Read(Span<byte> buffer, TimeSpan timeout, string awaiting = "data")
    {
        if (buffer.IsEmpty) throw new ArgumentException("read buffer is empty", nameof(buffer));
        int f = Fd;
        var deadline = Deadline.After(timeout);
        fixed (byte* p = buffer)
        {
            while (true)
            {
                short revents = Wait(f, Libc.POLLIN, deadline);
                if (revents == 0) throw Deadline.Expired(Endpoint, timeout, awaiting);
                // Read even on POLLHUP/POLLERR: bytes that arrived before the hang-up come first, then EIO or EOF.
                nint n = Libc.read(f, p, buffer.Length);
                if (n > 0) return (int)n;
                if (n == 0) throw new TransportClosedException(Endpoint, $"end of file while awaiting {awaiting}");
                int e = Libc.Errno;
                if (e == Libc.EINTR) continue;
                if (e == Libc.EAGAIN)
                {
                    if ((revents & (Libc.POLLHUP | Libc.POLLERR)) != 0)
                        throw new TransportClosedException(Endpoint, $"hang-up while awaiting {awaiting}");
                    continue;
                }
                if (e is Libc.EIO or Libc.ENXIO or Libc.ENODEV)
                    throw new TransportClosedException(Endpoint, $"{Libc.Describe(e)} while awaiting {awaiting}");
                throw new IOException($"{Endpoint}: read failed, {Libc.Describe(e)}");
            }
        }
    }

    /// <summary>poll() for one event until the deadline; returns revents, 0 when the deadline passed.</summary>
    private short Wait(int f, short events, Deadline deadline)
    {
        while (true)
        {
            var pfd = new Libc.PollFd { Fd = f, Events = events };
            int r = Libc.poll(&pfd, 1, deadline.RemainingMilliseconds);
            if (r > 0)
            {
                if ((pfd.Revents & Libc.POLLNVAL) != 0) throw new ObjectDisposedException(Endpoint);
                return pfd.Revents;
            }
            if (r < 0 && Libc.Errno != Libc.EINTR) throw new IOException($"{Endpoint}: poll failed, {Libc.Describe(Libc.Errno)}");
            if (deadline.Passed) return 0;
        }
    }

    public void Dispose()
    {
        if (fd >= 0) Libc.close(fd);
        fd = -1;
    }

    public override string ToString() => Endpoint;
}
