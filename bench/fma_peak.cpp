// The multiply-add peak of this CPU for the kernel's 8-float vectors: every thread runs
// kChains independent chains of fused multiply-adds, more than the FMA units' latency times
// their count, so no instruction waits for another. The kernel's products cannot run faster.
#include <cstdint>

typedef float v8 __attribute__((vector_size(32)));

constexpr int kChains = 16;

extern "C" int fma_chains() { return kChains; }

// Runs ``iterations`` rounds on each of ``threads`` threads; returns a sum of the chains so
// that none is optimised away.
extern "C" float fma_rounds(int64_t iterations, int threads) {
  float total = 0.0f;
#pragma omp parallel num_threads(threads) reduction(+ : total)
  {
    v8 acc[kChains];
    for (int k = 0; k < kChains; ++k) acc[k] = v8{} + 1e-3f * static_cast<float>(k + 1);
    const v8 a = v8{} + 0.999999f, b = v8{} + 1e-7f;
    for (int64_t i = 0; i < iterations; ++i) {
#pragma GCC unroll 16
      for (int k = 0; k < kChains; ++k) acc[k] = acc[k] * a + b;
    }
    for (int k = 0; k < kChains; ++k)
      for (int j = 0; j < 8; ++j) total += acc[k][j];
  }
  return total;
}
