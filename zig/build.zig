//! Builds the bunwg shared library once per CPU level so the loader can pick the fastest one the CPU
//! runs without SIGILL (docs/platform.md: a native-CPU build dies on older machines).
//! Output: zig-out/lib/libbunwg-<variant>.so, e.g. libbunwg-x86_64.so, libbunwg-x86_64_v3.so, libbunwg-x86_64_v4.so.
//! `-Darch=aarch64` cross-builds for 64-bit ARM Linux (glibc) from any host: one build, libbunwg-aarch64.so
//! (scripts/compile.ts --target linux-arm64 embeds it).
const std = @import("std");

const Variant = struct { name: []const u8, cpu: *const std.Target.Cpu.Model };

pub fn build(b: *std.Build) void {
    // ReleaseFast unless asked otherwise (-Doptimize=Debug for debugging).
    const optimize = b.option(std.builtin.OptimizeMode, "optimize", "Optimization mode (default ReleaseFast)") orelse .ReleaseFast;
    const host = b.graph.host.result;
    const arch = b.option(std.Target.Cpu.Arch, "arch", "CPU architecture to build for (default: this machine's)") orelse host.cpu.arch;
    // The host's ABI (gnu, musl) when building for it; glibc when cross-building, as Bun's own Linux builds use.
    const abi: std.Target.Abi = if (arch == host.cpu.arch) host.abi else .gnu;

    const x86_variants = [_]Variant{
        .{ .name = "x86_64", .cpu = &std.Target.x86.cpu.x86_64 },
        .{ .name = "x86_64_v3", .cpu = &std.Target.x86.cpu.x86_64_v3 },
        .{ .name = "x86_64_v4", .cpu = &std.Target.x86.cpu.x86_64_v4 },
    };
    // Other architectures get one portable build named after the architecture. For aarch64 the baseline is
    // ARMv8-A, which always has NEON (Advanced SIMD), so chacha20.zig's 4-lane vectors use it everywhere.
    const generic = [_]Variant{.{ .name = @tagName(arch), .cpu = std.Target.Cpu.Model.baseline(arch, std.Target.Os.Tag.defaultVersionRange(.linux, arch, abi)) }};
    const variants: []const Variant = if (arch == .x86_64) &x86_variants else &generic;

    for (variants) |v| {
        const target = b.resolveTargetQuery(.{
            .cpu_arch = arch,
            .os_tag = .linux,
            .abi = abi,
            .cpu_model = .{ .explicit = v.cpu },
        });
        const mod = b.createModule(.{
            .root_source_file = b.path("src/root.zig"),
            .target = target,
            .optimize = optimize,
            // docs/platform.md: threads inside a .so loaded by Bun break without libc.
            .link_libc = true,
            .pic = true,
            .strip = optimize != .Debug,
        });
        const lib = b.addLibrary(.{
            .linkage = .dynamic,
            .name = b.fmt("bunwg-{s}", .{v.name}),
            .root_module = mod,
        });
        b.installArtifact(lib);
    }

    const tests = b.addTest(.{ .root_module = b.createModule(.{
        .root_source_file = b.path("src/root.zig"),
        .target = b.standardTargetOptions(.{}),
        .optimize = optimize,
        .link_libc = true,
    }) });
    const run_tests = b.addRunArtifact(tests);
    b.step("test", "Run the Zig unit tests").dependOn(&run_tests.step);
}
