// kernel_runner.h — command line of the emulated kernels (KernelEmulator.cs generates the file that includes
// every kernels/*.cu, then this, then `dispatch`):   runner <entry> <grid> <block> <argument>...
//   b:<file>   a buffer: the file's bytes before the launch, written back to the file after it
//   v:<hex>    a scalar's bits, little-endian (a 32-bit parameter takes the low four bytes)
#pragma once
#include <string>

struct Arg
{
    unsigned long long bits = 0;
    void* buffer = nullptr;
    operator float() const { float f; unsigned u = (unsigned)bits; memcpy(&f, &u, 4); return f; }
    operator int() const { return (int)(unsigned)bits; }
    operator unsigned() const { return (unsigned)bits; }
    operator long long() const { return (long long)bits; }
    operator unsigned long long() const { return bits; }
    template <class T> operator T*() const { return (T*)buffer; }
};

static bool dispatch(const char* entry, unsigned grid, unsigned block, const Arg* a);

int main(int argc, char** argv)
{
    if (argc < 4) { fprintf(stderr, "usage: runner <entry> <grid> <block> <argument>...\n"); return 2; }
    int n = argc - 4;
    std::vector<Arg> args(n);
    std::vector<std::string> files(n);
    std::vector<long> sizes(n);
    for (int i = 0; i < n; i++)
    {
        const char* s = argv[4 + i];
        if (!strncmp(s, "b:", 2))
        {
            files[i] = s + 2;
            FILE* f = fopen(files[i].c_str(), "rb");
            if (!f) { fprintf(stderr, "cannot read %s\n", files[i].c_str()); return 2; }
            fseek(f, 0, SEEK_END); sizes[i] = ftell(f); fseek(f, 0, SEEK_SET);
            args[i].buffer = calloc(sizes[i] + 16, 1);
            if (fread(args[i].buffer, 1, sizes[i], f) != (size_t)sizes[i]) return 2;
            fclose(f);
        }
        else args[i].bits = strtoull(s + 2, nullptr, 16);
    }
    if (!dispatch(argv[1], (unsigned)atoi(argv[2]), (unsigned)atoi(argv[3]), args.data()))
    {
        fprintf(stderr, "no kernel named %s\n", argv[1]);
        return 3;
    }
    for (int i = 0; i < n; i++)
        if (args[i].buffer)
        {
            FILE* f = fopen(files[i].c_str(), "wb");
            fwrite(args[i].buffer, 1, sizes[i], f);
            fclose(f);
        }
    return 0;
}
