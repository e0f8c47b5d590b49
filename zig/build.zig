//! Builds the bunwg shared library once per CPU level so the loader can pick the fastest one the CPU
//! runs without SIGILL (platform-facts: a native-CPU build dies on older machines).
//! Output: zig-out/lib/libbunwg-<variant>.so, e.g. libbunwg-x86_64.so, libbunwg-x86_64_v3.so, libbunwg-x86_64_v4.so.
const std = @import("std");

const Variant = struct { name: []const u8, cpu: *const std.Target.Cpu.Model };

pub fn build(b: *std.Build) void {
    // ReleaseFast unless asked otherwise (-Doptimize=Debug for debugging).
    const optimize = b.option(std.builtin.OptimizeMode, "optimize", "Optimization mode (default ReleaseFast)") orelse .ReleaseFast;
    const host = b.graph.host.result;

    const x86_variants = [_]Variant{
        .{ .name = "x86_64", .cpu = &std.Target.x86.cpu.x86_64 },
        .{ .name = "x86_64_v3", .cpu = &std.Target.x86.cpu.x86_64_v3 },
        .{ .name = "x86_64_v4", .cpu = &std.Target.x86.cpu.x86_64_v4 },
    };
    // Other architectures get one portable build named after the architecture.
    const generic = [_]Variant{.{ .name = @tagName(host.cpu.arch), .cpu = std.Target.Cpu.Model.baseline(host.cpu.arch, host.os) }};
    const variants: []const Variant = if (host.cpu.arch == .x86_64) &x86_variants else &generic;

    for (variants) |v| {
        const target = b.resolveTargetQuery(.{
            .cpu_arch = host.cpu.arch,
            .os_tag = .linux,
            .abi = host.abi,
            .cpu_model = .{ .explicit = v.cpu },
        });
        const mod = b.createModule(.{
            .root_source_file = b.path("src/root.zig"),
            .target = target,
            .optimize = optimize,
            // platform-facts: threads inside a .so loaded by Bun break without libc.
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
