// One coordinatewise LSTM layer (hidden size 20) over all coordinates, forward and backward,
// fused on the CPU.
//
// Row-major float32: x [N, I], h and c [N, 20], weight [I + 20, 80] with gate blocks
// (i, f, o, g), bias [80]. Rows are taken two at a time, so that a gate block of a pair is 40
// floats, five 8-wide vectors: the products accumulate in registers and the gate arithmetic
// never leaves the core's cache. The forward saves the activations of a pair as
// [i(40) f(40) o(40) g(40)] (``act``, [ceil(N/2), 160]) and tanh(c') ([N, 20]) for the backward,
// which returns the gradients of x (optional), h, c, weight and bias. The last layer may carry
// the optimizer's linear head (update = (h' . head_w + head_b) * scale, one value per row) and
// its gradients. OpenMP splits the pairs over ``threads`` threads.
#include <cstdint>
#include <omp.h>

#include <algorithm>
#include <cstring>
#include <vector>

namespace {

constexpr int H = 20;
constexpr int G = 4 * H;
constexpr int P = 2 * H;        // floats of one gate block of a pair of rows
constexpr int V = P / 8;        // vectors in it
constexpr int kMaxFanIn = 64;
constexpr int64_t kPairsPerItem = 32;
constexpr int kRowsPerItem = 2 * kPairsPerItem;
constexpr int kTileRows = 6;       // rows of a register tile of the forward's product
constexpr int kForwardRows = 60;   // rows per work item of the forward: ten tiles

typedef float v8 __attribute__((vector_size(32)));
typedef int32_t v8i __attribute__((vector_size(32)));

inline v8 load(const float* p) {
  v8 v;
  std::memcpy(&v, p, sizeof v);
  return v;
}

inline void store(float* p, v8 v) { std::memcpy(p, &v, sizeof v); }

inline v8 splat(float a) { return v8{a, a, a, a, a, a, a, a}; }

// 1/d by the hardware's estimate and one Newton step (relative error about 1e-7).
inline v8 reciprocal8(v8 d) {
#if defined(__AVX__)
  const v8 r = __builtin_ia32_rcpps256(d);
  return r * (2.0f - d * r);
#else
  return 1.0f / d;
#endif
}

// tanh(x) as Eigen's rational approximation (odd degree 13 over even degree 6, the argument
// clamped to +-7.9988): at most 3.4e-7 from tanh in float32; NaN stays NaN.
inline v8 tanh8(v8 x) {
#if defined(__AVX__)
  x = __builtin_ia32_minps256(splat(7.99881172180175781f),
                              __builtin_ia32_maxps256(splat(-7.99881172180175781f), x));
#else
  x = x < -7.99881172180175781f ? splat(-7.99881172180175781f) : x;
  x = x > 7.99881172180175781f ? splat(7.99881172180175781f) : x;
#endif
  const v8 x2 = x * x;
  v8 p = x2 * -2.76076847742355e-16f + 2.00018790482477e-13f;
  p = x2 * p + -8.60467152213735e-11f;
  p = x2 * p + 5.12229709037114e-08f;
  p = x2 * p + 1.48572235717979e-05f;
  p = x2 * p + 6.37261928875436e-04f;
  p = x2 * p + 4.89352455891786e-03f;
  p = x * p;
  v8 q = x2 * 1.19825839466702e-06f + 1.18534705686654e-04f;
  q = x2 * q + 2.26843463243900e-03f;
  q = x2 * q + 4.89352518554385e-03f;
  return p * reciprocal8(q);
}

// zb[r] = xhb[r] weight + bias ([80], the sigmoid blocks halved by the weights) for the rows,
// in tiles of six rows by sixteen gates held in registers; xhb has a whole number of tiles.
inline void block_gates(int fan_in, int rows, const float* xhb, const float* weight,
                        const float* bias, float* zb) {
  for (int r0 = 0; r0 < rows; r0 += kTileRows) {
    for (int j0 = 0; j0 < G; j0 += 16) {
      v8 acc[kTileRows][2];
      const v8 b0 = load(bias + j0), b1 = load(bias + j0 + 8);
      for (int r = 0; r < kTileRows; ++r) {
        acc[r][0] = b0;
        acc[r][1] = b1;
      }
      const float* x = xhb + r0 * fan_in;
      for (int k = 0; k < fan_in; ++k) {
        const v8 w0 = load(weight + k * G + j0), w1 = load(weight + k * G + j0 + 8);
#pragma GCC unroll 6
        for (int r = 0; r < kTileRows; ++r) {
          const v8 v = splat(x[r * fan_in + k]);
          acc[r][0] += v * w0;
          acc[r][1] += v * w1;
        }
      }
      for (int r = 0; r < kTileRows; ++r) {
        store(zb + (r0 + r) * G + j0, acc[r][0]);
        store(zb + (r0 + r) * G + j0 + 8, acc[r][1]);
      }
    }
  }
}

// The gate arithmetic of two rows whose pre-activations z are in pair layout
// [i(40) f(40) o(40) g(40)]. c, h_out, c_out, tanh_c point at the pair's 40 contiguous floats.
inline void pair_activate(float* z, const float* c, float* h_out, float* c_out, float* act,
                          float* tanh_c) {
  // sigma(z) = (tanh(z / 2) + 1) / 2: the sigmoid blocks' weights are halved.
#pragma GCC unroll 5
  for (int m = 0; m < 3 * V; ++m) store(z + 8 * m, tanh8(load(z + 8 * m)) * 0.5f + 0.5f);
#pragma GCC unroll 5
  for (int m = 3 * V; m < 4 * V; ++m) store(z + 8 * m, tanh8(load(z + 8 * m)));
  for (int m = 0; m < V; ++m) {
    const v8 i = load(z + 8 * m), f = load(z + P + 8 * m), o = load(z + 2 * P + 8 * m);
    const v8 g = load(z + 3 * P + 8 * m);
    const v8 cn = f * load(c + 8 * m) + i * g;
    const v8 t = tanh8(cn);
    store(c_out + 8 * m, cn);
    store(h_out + 8 * m, o * t);
    if (tanh_c != nullptr) store(tanh_c + 8 * m, t);
  }
  if (act != nullptr) std::memcpy(act, z, 4 * P * sizeof(float));
}

// Gathers a row's layer input [x, h] into xh.
inline void gather(int inputs, const float* x, const float* h, float* xh) {
  for (int k = 0; k < inputs; ++k) xh[k] = x[k];
  for (int k = 0; k < H; ++k) xh[inputs + k] = h[k];
}

// out[r][0..8M) = dz[r] weight^T for R consecutive rows of dz ([R, 80]), wt = weight^T [80, 8M].
template <int R, int M>
inline void rows_times_wt(const float* dz, const float* wt, float (*out)[kMaxFanIn]) {
  v8 s[R][M];
  for (int r = 0; r < R; ++r)
    for (int m = 0; m < M; ++m) s[r][m] = splat(0.0f);
  for (int j = 0; j < G; ++j) {
    const float* w = wt + j * 8 * M;
    v8 wm[M];
    for (int m = 0; m < M; ++m) wm[m] = load(w + 8 * m);
#pragma GCC unroll 4
    for (int r = 0; r < R; ++r) {
      const v8 b = splat(dz[r * G + j]);
#pragma GCC unroll 8
      for (int m = 0; m < M; ++m) s[r][m] += b * wm[m];
    }
  }
  for (int r = 0; r < R; ++r)
    for (int m = 0; m < M; ++m) store(out[r] + 8 * m, s[r][m]);
}

inline void rows_times_wt_any(int width, const float* dz, const float* wt,
                              float (*out)[kMaxFanIn]) {
  for (int r = 0; r < 4; ++r) {
    for (int k = 0; k < width; ++k) out[r][k] = 0.0f;
    for (int j = 0; j < G; ++j)
      for (int k = 0; k < width; ++k) out[r][k] += dz[r * G + j] * wt[j * width + k];
  }
}

}  // namespace

extern "C" {

void lstm_forward(int64_t n, int inputs, const float* x, const float* h, const float* c,
                  const float* weight, const float* bias, float* h_out, float* c_out, float* act,
                  float* tanh_c, const float* head_w, const float* head_b, float scale,
                  float* update, int threads) {
  const int fan_in = inputs + H;
  std::vector<float> scaled(weight, weight + static_cast<int64_t>(fan_in) * G);
  std::vector<float> scaled_bias(bias, bias + G);
  for (int k = 0; k < fan_in; ++k)
    for (int j = 0; j < 3 * H; ++j) scaled[k * G + j] *= 0.5f;
  for (int j = 0; j < 3 * H; ++j) scaled_bias[j] *= 0.5f;
  const int64_t items = (n + kForwardRows - 1) / kForwardRows;
#pragma omp parallel for num_threads(threads) schedule(static)
  for (int64_t item = 0; item < items; ++item) {
    const int64_t first = item * kForwardRows;
    const int rows = static_cast<int>(n - first < kForwardRows ? n - first : kForwardRows);
    const int tiled = (rows + kTileRows - 1) / kTileRows * kTileRows;
    alignas(32) float xhb[kForwardRows * kMaxFanIn], zb[kForwardRows * G];
    for (int r = 0; r < rows; ++r)
      gather(inputs, x + (first + r) * inputs, h + (first + r) * H, xhb + r * fan_in);
    std::memset(xhb + rows * fan_in, 0, sizeof(float) * (tiled - rows) * fan_in);
    block_gates(fan_in, tiled, xhb, scaled.data(), scaled_bias.data(), zb);
    for (int q = 0; q < rows; q += 2) {
      const int64_t r0 = first + q;
      float* a = act == nullptr ? nullptr : act + (r0 / 2) * 4 * P;
      alignas(32) float z[4 * P];
      for (int b = 0; b < 4; ++b) {
        std::memcpy(z + b * P, zb + q * G + b * H, H * sizeof(float));
        std::memcpy(z + b * P + H, zb + (q + 1) * G + b * H, H * sizeof(float));
      }
      if (q + 1 < rows) {
        pair_activate(z, c + r0 * H, h_out + r0 * H, c_out + r0 * H, a,
                      tanh_c == nullptr ? nullptr : tanh_c + r0 * H);
      } else {  // an odd last row: its partner's outputs are dropped
        float c2[P] = {}, h2[P], c2_out[P], t2[P];
        std::memcpy(c2, c + r0 * H, H * sizeof(float));
        pair_activate(z, c2, h2, c2_out, a, t2);
        std::memcpy(h_out + r0 * H, h2, H * sizeof(float));
        std::memcpy(c_out + r0 * H, c2_out, H * sizeof(float));
        if (tanh_c != nullptr) std::memcpy(tanh_c + r0 * H, t2, H * sizeof(float));
      }
    }
    if (head_w != nullptr) {  // the linear head: update = (h' . head_w + head_b) * scale
      for (int64_t row = first; row < first + rows; ++row) {
        float sum = head_b[0];
        for (int j = 0; j < H; ++j) sum += h_out[row * H + j] * head_w[j];
        update[row] = sum * scale;
      }
    }
  }
}

void lstm_backward(int64_t n, int inputs, const float* x, const float* h, const float* c,
                   const float* weight, const float* act, const float* tanh_c,
                   const float* dh_out, const float* dc_out, float* dx, float* dh, float* dc,
                   float* dweight, float* dbias, const float* head_w, const float* d_update,
                   float scale, float* d_head_w, float* d_head_b, int threads) {
  const int fan_in = inputs + H;
  const int width = (fan_in + 7) / 8 * 8;   // weight^T rows, padded to whole vectors
  const int padded = (fan_in + 5) / 6 * 6;  // [x, h] rows of a block, padded to k-tiles
  std::vector<float> wt(static_cast<size_t>(G) * width, 0.0f);
  for (int k = 0; k < fan_in; ++k)
    for (int j = 0; j < G; ++j) wt[j * width + k] = weight[k * G + j];
  std::memset(dweight, 0, sizeof(float) * fan_in * G);
  std::memset(dbias, 0, sizeof(float) * G);
  if (head_w != nullptr) {
    std::memset(d_head_w, 0, sizeof(float) * H);
    d_head_b[0] = 0.0f;
  }
  const int64_t pairs = (n + 1) / 2;
  const int64_t items = (pairs + kPairsPerItem - 1) / kPairsPerItem;
  const size_t slot_size = static_cast<size_t>(fan_in + 1) * G + H + 1;
  std::vector<float> partial(slot_size * threads, 0.0f);  // threads that get no work add zeros
#pragma omp parallel num_threads(threads)
  {
    std::vector<float> dw(static_cast<size_t>(padded) * G, 0.0f);
    float dhw[H] = {}, dhb = 0.0f;
    std::vector<float> dzb(kRowsPerItem * G), xhb(kRowsPerItem * padded);
    v8 db[G / 8];
    for (auto& v : db) v = splat(0.0f);
#pragma omp for schedule(static)
    for (int64_t item = 0; item < items; ++item) {
      const int64_t first = item * kRowsPerItem;
      const int rows = static_cast<int>(n - first < kRowsPerItem ? n - first : kRowsPerItem);
      std::fill(dzb.begin(), dzb.end(), 0.0f);
      std::fill(xhb.begin(), xhb.end(), 0.0f);
      for (int q = 0; q < rows; q += 2) {
        const int64_t r0 = first + q;
        const int valid = q + 1 < rows ? P : H;
        alignas(32) float cb[P] = {}, tb[P] = {}, ghb[P] = {}, gcb[P] = {}, dcb[P], dzp[4 * P];
        std::memcpy(cb, c + r0 * H, valid * sizeof(float));
        std::memcpy(tb, tanh_c + r0 * H, valid * sizeof(float));
        std::memcpy(ghb, dh_out + r0 * H, valid * sizeof(float));
        if (dc_out != nullptr) std::memcpy(gcb, dc_out + r0 * H, valid * sizeof(float));
        const float* a = act + (r0 / 2) * 4 * P;
        if (head_w != nullptr) {  // the head's share: dh' += d_update * scale * head_w
          for (int r = 0; r < valid / H; ++r) {
            const float du = d_update[r0 + r] * scale;
            dhb += du;
            for (int j = 0; j < H; ++j) {
              ghb[r * H + j] += du * head_w[j];
              dhw[j] += du * a[2 * P + r * H + j] * tb[r * H + j];
            }
          }
        }
        for (int m = 0; m < V; ++m) {
          const v8 i = load(a + 8 * m), f = load(a + P + 8 * m), o = load(a + 2 * P + 8 * m);
          const v8 g = load(a + 3 * P + 8 * m), t = load(tb + 8 * m), gh = load(ghb + 8 * m);
          const v8 d = gh * o * (1.0f - t * t) + load(gcb + 8 * m);
          store(dzp + 8 * m, d * g * i * (1.0f - i));
          store(dzp + P + 8 * m, d * load(cb + 8 * m) * f * (1.0f - f));
          store(dzp + 2 * P + 8 * m, gh * t * o * (1.0f - o));
          store(dzp + 3 * P + 8 * m, d * i * (1.0f - g * g));
          store(dcb + 8 * m, d * f);
        }
        std::memcpy(dc + r0 * H, dcb, valid * sizeof(float));
        for (int r = 0; r < valid / H; ++r) {
          float* z = dzb.data() + (q + r) * G;
          for (int b = 0; b < 4; ++b) std::memcpy(z + b * H, dzp + b * P + r * H, H * sizeof(float));
          gather(inputs, x + (r0 + r) * inputs, h + (r0 + r) * H, xhb.data() + (q + r) * padded);
        }
      }
      // d[x, h] = dz weight^T, row by row of the block.
      float out[4][kMaxFanIn];
      for (int q = 0; q < rows; q += 4) {
        if (width == 24) rows_times_wt<4, 3>(dzb.data() + q * G, wt.data(), out);
        else if (width == 32) rows_times_wt<3, 4>(dzb.data() + q * G, wt.data(), out),
             rows_times_wt<1, 4>(dzb.data() + (q + 3) * G, wt.data(), out + 3);
        else if (width == 40) rows_times_wt<2, 5>(dzb.data() + q * G, wt.data(), out),
             rows_times_wt<2, 5>(dzb.data() + (q + 2) * G, wt.data(), out + 2);
        else rows_times_wt_any(width, dzb.data() + q * G, wt.data(), out);
        for (int r = 0; r < 4 && q + r < rows; ++r) {
          const int64_t row = first + q + r;
          if (dx != nullptr) std::memcpy(dx + row * inputs, out[r], inputs * sizeof(float));
          std::memcpy(dh + row * H, out[r] + inputs, H * sizeof(float));
        }
      }
      // weight gradient += [x, h]^T dz over the block: 6 x 16 tiles held in registers.
      for (int k0 = 0; k0 < padded; k0 += 6) {
        for (int j0 = 0; j0 < G; j0 += 16) {
          v8 acc[6][2];
          for (int kk = 0; kk < 6; ++kk)
            for (int l = 0; l < 2; ++l) acc[kk][l] = load(dw.data() + (k0 + kk) * G + j0 + 8 * l);
          for (int r = 0; r < rows; ++r) {
            const v8 a0 = load(dzb.data() + r * G + j0), a1 = load(dzb.data() + r * G + j0 + 8);
            const float* xr = xhb.data() + r * padded + k0;
#pragma GCC unroll 6
            for (int kk = 0; kk < 6; ++kk) {
              const v8 b = splat(xr[kk]);
              acc[kk][0] += b * a0;
              acc[kk][1] += b * a1;
            }
          }
          for (int kk = 0; kk < 6; ++kk)
            for (int l = 0; l < 2; ++l) store(dw.data() + (k0 + kk) * G + j0 + 8 * l, acc[kk][l]);
        }
      }
      for (int r = 0; r < rows; ++r)
        for (int m = 0; m < G / 8; ++m) db[m] += load(dzb.data() + r * G + 8 * m);
    }
    // Each thread's sums go to its own slot; the slots are added in thread order below, so
    // the result does not depend on which thread finishes first.
    float* slot = partial.data() + static_cast<size_t>(omp_get_thread_num()) * slot_size;
    std::memcpy(slot, dw.data(), sizeof(float) * fan_in * G);
    for (int m = 0; m < G / 8; ++m) store(slot + fan_in * G + 8 * m, db[m]);
    std::memcpy(slot + (fan_in + 1) * G, dhw, sizeof dhw);
    slot[(fan_in + 1) * G + H] = dhb;
  }
  for (int t = 0; t < threads; ++t) {
    const float* slot = partial.data() + static_cast<size_t>(t) * slot_size;
    for (int64_t e = 0; e < static_cast<int64_t>(fan_in) * G; ++e) dweight[e] += slot[e];
    for (int j = 0; j < G; ++j) dbias[j] += slot[fan_in * G + j];
    if (head_w != nullptr) {
      for (int j = 0; j < H; ++j) d_head_w[j] += slot[(fan_in + 1) * G + j];
      d_head_b[0] += slot[(fan_in + 1) * G + H];
    }
  }
}
}
