// build.cake — `dotnet tool restore && dotnet cake --target=<Target>`.
// Kernels: compile kernels/*.cu to PTX and check it with ptxas. Build: everything. Test: the README's test command.
// Bench: the benchmark suites. Bundle: the GPU bundle (.gpu/) for tools/gpu-check.sh.
var target = Argument("target", "Test");
var configuration = Argument("configuration", "Release");

Task("Kernels")
    .Does(() =>
{
    // The MSBuild step of src/Host/Cuda (ArTar.Cuda) compiles the kernels (incrementally); ptxas then assembles each module.
    DotNetBuild("src/Host/Cuda/ArTar.Cuda.csproj", new DotNetBuildSettings { Configuration = configuration });
    if (FileExists("tools/ptxas.sh"))
        StartProcessOrFail("bash", "tools/ptxas.sh");
});

Task("Build")
    .Does(() => DotNetBuild("ArTar.sln", new DotNetBuildSettings { Configuration = configuration }));

Task("Test")
    .IsDependentOn("Build")
    .Does(() => DotNetTest("ArTar.sln", new DotNetTestSettings { Configuration = configuration, NoBuild = true }));

Task("Bench")
    .IsDependentOn("Build")
    .Does(() =>
{
    var suites = Argument("suites", "all");
    StartProcessOrFail("dotnet", $"run -c {configuration} --no-build --project tools/Bench -- {suites}");
});

Task("Bundle")
    .Does(() =>
{
    if (!FileExists("tools/gpu-bundle.sh"))
        throw new CakeException("tools/gpu-bundle.sh does not exist yet: the GPU bundle is part of the CUDA engine work");
    StartProcessOrFail("bash", "tools/gpu-bundle.sh");
});

void StartProcessOrFail(string tool, string args)
{
    int code = StartProcess(tool, new ProcessSettings { Arguments = args });
    if (code != 0) throw new CakeException($"{tool} {args} exited with {code}");
}

RunTarget(target);
