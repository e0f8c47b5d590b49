//! Memory given back while the daemon is quiet (src/device/trim.ts decides when and what): madvise(MADV_DONTNEED)
//! over whole pages of an address range — packet buffers that hold nothing live, or file-backed code pages.
const std = @import("std");

/// Advises the kernel that [addr, addr+len) (page-aligned by the caller) is not needed: anonymous pages read as
/// zeros afterwards, file-backed ones are read back from the page cache when next used. Returns 0 or -errno.
export fn bunwg_release_pages(addr: usize, len: usize) callconv(.c) i32 {
    const rc = std.os.linux.madvise(@ptrFromInt(addr), len, std.os.linux.MADV.DONTNEED);
    const e = std.os.linux.E.init(rc);
    return if (e == .SUCCESS) 0 else -@as(i32, @intCast(@intFromEnum(e)));
}
