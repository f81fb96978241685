"""A FUSE file system passing a directory through, whose reads of one byte range of one file
fail with EIO while a switch file exists: the disk-fault tests' failing disk.

    python3 failing_fs.py BACKING MOUNTPOINT FILE START END SWITCH

It speaks the kernel's FUSE protocol on /dev/fuse itself (no libfuse, no Python package) and
mounts with mount(2), so it needs root (the test runs it in a mount namespace of its own).
Reads of FILE (a path relative to BACKING) that overlap bytes [START, END) fail with EIO while
the path SWITCH exists; every other operation goes to BACKING. Files are opened with
FOPEN_DIRECT_IO, so every read reaches this process (no page cache in between). It prints
"mounted" once the mount is up and serves until the kernel ends the connection.
"""

import ctypes
import errno
import os
import struct
import sys

(BACKING, MOUNTPOINT, FAILING, START, END, SWITCH) = sys.argv[1:7]
START, END = int(START), int(END)
FAILING = os.path.normpath(os.path.join(BACKING, FAILING))

LOOKUP, FORGET, GETATTR, SETATTR = 1, 2, 3, 4
MKDIR, UNLINK, RMDIR, RENAME = 9, 10, 11, 12
OPEN, READ, WRITE, STATFS, RELEASE, FSYNC = 14, 15, 16, 17, 18, 20
FLUSH, INIT, OPENDIR, READDIR, RELEASEDIR, FSYNCDIR = 25, 26, 27, 28, 29, 30
ACCESS, CREATE, INTERRUPT, DESTROY, BATCH_FORGET, FALLOCATE = 34, 35, 36, 38, 42, 43
FOPEN_DIRECT_IO = 1
FATTR_MODE, FATTR_SIZE, FATTR_ATIME, FATTR_MTIME, FATTR_FH = 1, 8, 16, 32, 64
IN_HEADER = struct.Struct("<IIQQIIIHH")
OUT_HEADER = struct.Struct("<IiQ")
MAX_WRITE = 128 * 1024

nodes = {1: BACKING}
ids = {BACKING: 1}
handles = {}
next_fh = [1]


def node(path):
    """The node id of `path`, made on first use."""
    if path not in ids:
        ids[path] = len(nodes) + 1
        nodes[ids[path]] = path
    return ids[path]


def attr(st):
    """A fuse_attr of an os.stat_result."""
    return struct.pack(
        "<QQQQQQIIIIIIIIII",
        st.st_ino,
        st.st_size,
        st.st_blocks,
        int(st.st_atime),
        int(st.st_mtime),
        int(st.st_ctime),
        st.st_atime_ns % 10**9,
        st.st_mtime_ns % 10**9,
        st.st_ctime_ns % 10**9,
        st.st_mode,
        st.st_nlink,
        st.st_uid,
        st.st_gid,
        st.st_rdev,
        4096,
        0,
    )


def entry(path):
    """A fuse_entry_out for `path` (nothing cached)."""
    st = os.lstat(path)
    return struct.pack("<QQQQII", node(path), 0, 0, 0, 0, 0) + attr(st)


def attr_out(st):
    """A fuse_attr_out (nothing cached)."""
    return struct.pack("<QII", 0, 0, 0) + attr(st)


def name_of(body):
    """The first NUL-terminated name in `body`."""
    return body.split(b"\0", 1)[0].decode()


def new_handle(fd, path):
    """A fuse_open_out for a new handle on `fd`."""
    fh = next_fh[0]
    next_fh[0] += 1
    handles[fh] = (fd, path)
    return struct.pack("<QII", fh, FOPEN_DIRECT_IO, 0)


def failing(path, offset, size):
    """Whether a read of `size` bytes at `offset` of `path` fails now."""
    return (
        os.path.normpath(path) == FAILING
        and offset < END
        and offset + size > START
        and os.path.exists(SWITCH)
    )


def handle(opcode, nodeid, body):
    """The reply's payload for one request (an OSError becomes its errno)."""
    path = nodes.get(nodeid, BACKING)
    if opcode == INIT:
        major, minor, readahead, flags = struct.unpack_from("<IIII", body)
        return struct.pack("<IIIIHHIIHHII", 7, 31, readahead, 0, 16, 12, MAX_WRITE, 1, 32, 0, 0, 0) + bytes(24)
    if opcode == LOOKUP:
        return entry(os.path.join(path, name_of(body)))
    if opcode == GETATTR:
        _, _, fh = struct.unpack_from("<IIQ", body)
        return attr_out(os.lstat(path))
    if opcode == SETATTR:
        valid, _, fh, size = struct.unpack_from("<IIQQ", body)
        mode = struct.unpack_from("<I", body, 68)[0]
        if valid & FATTR_SIZE:
            os.truncate(path, size)
        if valid & FATTR_MODE:
            os.chmod(path, mode & 0o7777)
        return attr_out(os.lstat(path))
    if opcode == MKDIR:
        mode, _ = struct.unpack_from("<II", body)
        target = os.path.join(path, name_of(body[8:]))
        os.mkdir(target, mode & 0o7777)
        return entry(target)
    if opcode in (UNLINK, RMDIR):
        (os.unlink if opcode == UNLINK else os.rmdir)(os.path.join(path, name_of(body)))
        return b""
    if opcode == RENAME:
        (newdir,) = struct.unpack_from("<Q", body)
        old, new = body[8:].split(b"\0")[:2]
        os.rename(os.path.join(path, old.decode()), os.path.join(nodes[newdir], new.decode()))
        return b""
    if opcode == OPEN:
        flags, _ = struct.unpack_from("<II", body)
        return new_handle(os.open(path, flags & ~(os.O_CREAT | os.O_EXCL | os.O_NOCTTY)), path)
    if opcode == CREATE:
        flags, mode, _, _ = struct.unpack_from("<IIII", body)
        target = os.path.join(path, name_of(body[16:]))
        fd = os.open(target, flags | os.O_CREAT, mode & 0o7777)
        return entry(target) + new_handle(fd, target)
    if opcode == READ:
        fh, offset, size = struct.unpack_from("<QQI", body)
        fd, opened = handles[fh]
        if failing(opened, offset, size):
            raise OSError(errno.EIO, "injected")
        return os.pread(fd, size, offset)
    if opcode == WRITE:
        fh, offset, size = struct.unpack_from("<QQI", body)
        fd, _ = handles[fh]
        written = os.pwrite(fd, body[40 : 40 + size], offset)
        return struct.pack("<II", written, 0)
    if opcode == FALLOCATE:
        fh, offset, length, mode = struct.unpack_from("<QQQI", body)
        if mode != 0:
            raise OSError(errno.EOPNOTSUPP, "fallocate mode")
        os.posix_fallocate(handles[fh][0], offset, length)
        return b""
    if opcode in (FLUSH, FSYNC, FSYNCDIR, ACCESS):
        if opcode == FSYNC:
            (fh,) = struct.unpack_from("<Q", body)
            os.fsync(handles[fh][0])
        return b""
    if opcode == RELEASE:
        (fh,) = struct.unpack_from("<Q", body)
        fd, _ = handles.pop(fh, (None, None))
        if fd is not None:
            os.close(fd)
        return b""
    if opcode == OPENDIR:
        return struct.pack("<QII", 0, 0, 0)
    if opcode == RELEASEDIR:
        return b""
    if opcode == READDIR:
        _, offset, size = struct.unpack_from("<QQI", body)
        names = [".", ".."] + sorted(os.listdir(path))
        out = b""
        for i, name in enumerate(names[offset:], start=offset + 1):
            raw = name.encode()
            full = os.path.join(path, name)
            st = os.lstat(full)
            rec = struct.pack("<QQII", st.st_ino, i, len(raw), (st.st_mode >> 12) & 15) + raw
            rec += bytes(-len(rec) % 8)
            if len(out) + len(rec) > size:
                break
            out += rec
        return out
    if opcode == STATFS:
        s = os.statvfs(path)
        return struct.pack(
            "<QQQQQIIII", s.f_blocks, s.f_bfree, s.f_bavail, s.f_files, s.f_ffree,
            s.f_bsize, s.f_namemax, s.f_frsize, 0,
        ) + bytes(24)
    raise OSError(errno.ENOSYS, "not supported")


def main():
    fd = os.open("/dev/fuse", os.O_RDWR)
    libc = ctypes.CDLL(None, use_errno=True)
    opts = f"fd={fd},rootmode=40000,user_id=0,group_id=0,allow_other".encode()
    if libc.mount(b"failing_fs", MOUNTPOINT.encode(), b"fuse", 0, opts) != 0:
        err = ctypes.get_errno()
        sys.exit(f"mount {MOUNTPOINT}: {os.strerror(err)}")
    print("mounted", flush=True)
    while True:
        try:
            request = os.read(fd, MAX_WRITE + 4096)
        except OSError as e:
            if e.errno in (errno.EINTR, errno.EAGAIN, errno.ENOENT):
                continue
            return  # ENODEV: unmounted
        _, opcode, unique, nodeid, *_ = IN_HEADER.unpack_from(request)
        body = request[IN_HEADER.size :]
        if opcode in (FORGET, BATCH_FORGET, INTERRUPT):
            continue
        try:
            payload, error = handle(opcode, nodeid, body), 0
        except OSError as e:
            payload, error = b"", -(e.errno or errno.EIO)
        except (KeyError, struct.error, UnicodeDecodeError):
            payload, error = b"", -errno.EINVAL
        try:
            os.write(fd, OUT_HEADER.pack(OUT_HEADER.size + len(payload), error, unique) + payload)
        except OSError:
            pass  # the request was interrupted
        if opcode == DESTROY:
            return


main()
