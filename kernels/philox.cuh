// philox.cuh — Philox4x32-10 (Salmon et al. 2011, "Parallel random numbers: as easy as 1, 2, 3"), the dropout
// mask generator shared with the CPU backend (docs/backend.md dropout contract; docs/design.md §4). Plain C++ apart from the
// qualifier, so a host compiler can check it against the Random123 known-answer vectors.
#pragma once

#if defined(__CUDA__) || defined(__NVCC__)
#define ARTAR_HD __host__ __device__
#else
#define ARTAR_HD
#endif

struct philox4x32 { unsigned int v[4]; };

static ARTAR_HD inline philox4x32 philox4x32_10(unsigned int c0, unsigned int c1, unsigned int c2, unsigned int c3,
                                                unsigned int k0, unsigned int k1)
{
    const unsigned int M0 = 0xD2511F53u, M1 = 0xCD9E8D57u, W0 = 0x9E3779B9u, W1 = 0xBB67AE85u;
    for (int round = 0; round < 10; round++)
    {
        if (round > 0) { k0 += W0; k1 += W1; }   // key bumped between rounds
        unsigned long long p0 = (unsigned long long)M0 * c0;
        unsigned long long p1 = (unsigned long long)M1 * c2;
        unsigned int hi0 = (unsigned int)(p0 >> 32), lo0 = (unsigned int)p0;
        unsigned int hi1 = (unsigned int)(p1 >> 32), lo1 = (unsigned int)p1;
        c0 = hi1 ^ c1 ^ k0;
        c1 = lo1;
        c2 = hi0 ^ c3 ^ k1;
        c3 = lo0;
    }
    philox4x32 r = {{c0, c1, c2, c3}};
    return r;
}

// The docs/backend.md dropout contract, in one place for the kernel and for host checks: the generator call that
// serves elements 4j..4j+3 of dropout site `site` at training step `step` (word = result.v[i & 3]) …
static ARTAR_HD inline philox4x32 dropout_philox(unsigned long long seed, unsigned long long step, unsigned int site, long long j)
{
    return philox4x32_10((unsigned int)j, (unsigned int)step, (unsigned int)(step >> 32), site,
                         (unsigned int)seed, (unsigned int)(seed >> 32));
}

// … and the keep decision: the word's top 24 bits against threshold = round(p · 2^24).
static ARTAR_HD inline bool dropout_keep(unsigned int word, unsigned int threshold) { return (word >> 8) >= threshold; }
