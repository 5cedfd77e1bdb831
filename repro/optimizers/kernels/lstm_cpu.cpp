// One coordinatewise LSTM layer (hidden size 20) over all coordinates, forward and backward,
// fused on the CPU.
//
// Row-major float32: x [N, I], h and c [N, 20], weight [I + 20, 80] with gate blocks
// (i, f, o, g), bias [80]. The forward saves the activated gates (``act``, [N, 80]) and
// tanh(c') ([N, 20]) for the backward, which returns the gradients of x (optional), h, c,
// weight and bias. The last layer may carry the optimizer's linear head
// (update = (h' . head_w + head_b) * scale, one value per row) and its gradients. OpenMP splits
// blocks of rows over ``threads`` threads; every sum runs in a fixed order.
//
// Every product of the layer has one form, out[t] (+)= sum_s a(t, s) b[s] (``tile``), computed
// in register tiles of T rows of out by M vectors of 8 floats: T * M accumulators, M vectors of
// b and one broadcast of a live in registers, so that every loaded value feeds several
// multiply-adds. The tiles are sized from the vector registers the build targets:
//   - AVX-512 (its VL extension gives 8-float instructions 32 registers): T * M = 24, the most
//     that leaves room for the M loads and the broadcast;
//   - AVX2 or less (16 registers): T * M = 12.
// The vectors stay 8 floats wide under AVX-512 too: AMD's Zen 4, the CPU of this project's
// hosts, executes a 16-float instruction as two 8-float halves, so 16 floats would add no
// arithmetic there, and 8 floats fit the layer's widths (80 gates, fan-ins 21-40) with less
// padding. ``make bench`` times both register counts (its ``avx2`` cases force 16).
#include <cstdint>
#include <omp.h>

#include <cstring>
#include <vector>

namespace {

constexpr int H = 20;
constexpr int G = 4 * H;
constexpr int kMaxFanIn = 64;
constexpr int kForwardRows = 60;  // rows per work item of the forward: whole gate tiles
constexpr int kBlockRows = 64;    // rows per work item of the backward: whole d[x, h] tiles

#if defined(__AVX512VL__)
constexpr int kRegisters = 32;
#else
constexpr int kRegisters = 16;
#endif
// (T rows, M vectors) of each product's tiles: the forward's gates [rows, 80]; the backward's
// d[x, h] [rows, fan-in]; its weight gradient [fan-in, 80], whose tile rows are weight rows.
constexpr bool kWide = kRegisters == 32;
constexpr int kGateRows = kWide ? 12 : 6, kGateVectors = 2;
constexpr int kDxhRows = kWide ? 8 : 4, kDxhVectors = 3;
constexpr int kDwRows = 6, kDwVectors = kWide ? 4 : 2;
static_assert(kForwardRows % kGateRows == 0 && kBlockRows % kDxhRows == 0, "whole tiles");
// [x, h] rows of the backward's weight-gradient tiles: the largest fan-in, padded to whole tiles
constexpr int kPaddedFanIn = (kMaxFanIn + kDwRows - 1) / kDwRows * kDwRows;

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

// One register tile: out[t][0, 8M) = init[t] + sum_{s < S} a[t * at + s * as] b[s * bs + (0, 8M)]
// for t < T, in the order s = 0, 1, ...; init is zero when null (its rows ``is`` apart).
template <int T, int M>
inline void tile(int S, const float* a, int at, int as, const float* b, int bs,
                 const float* init, int is, float* out, int os) {
  v8 acc[T][M];
  for (int t = 0; t < T; ++t)
    for (int m = 0; m < M; ++m) acc[t][m] = init ? load(init + t * is + 8 * m) : splat(0.0f);
  for (int s = 0; s < S; ++s) {
    v8 bm[M];
    for (int m = 0; m < M; ++m) bm[m] = load(b + s * bs + 8 * m);
#pragma GCC unroll 12
    for (int t = 0; t < T; ++t) {
      const v8 v = splat(a[t * at + s * as]);
#pragma GCC unroll 4
      for (int m = 0; m < M; ++m) acc[t][m] += v * bm[m];
    }
  }
  for (int t = 0; t < T; ++t)
    for (int m = 0; m < M; ++m) store(out + t * os + 8 * m, acc[t][m]);
}

// The same over ``vectors`` vectors of columns: tiles of M vectors, then the rest in narrower
// ones.
template <int T, int M>
inline void tiles(int vectors, int S, const float* a, int at, int as, const float* b, int bs,
                  const float* init, int is, float* out, int os) {
  int m0 = 0;
  for (; m0 + M <= vectors; m0 += M)
    tile<T, M>(S, a, at, as, b + 8 * m0, bs, init ? init + 8 * m0 : nullptr, is, out + 8 * m0, os);
  if constexpr (M > 1) {
    if (m0 < vectors)
      tiles<T, M - 1>(vectors - m0, S, a, at, as, b + 8 * m0, bs, init ? init + 8 * m0 : nullptr,
                      is, out + 8 * m0, os);
  }
}

// A 20-float row block as three 8-float vectors at offsets 0, 8 and 12: the last two overlap
// in floats 12-15, which both compute alike (and store the same value twice). So a row's
// vectors are all loaded before any is stored where an output may be its input (the offset-8
// store would overwrite floats 12-15 before the offset-12 vector reads them), and no sum is
// taken over these vectors.
constexpr int kPart[3] = {0, 8, 12};

// Gathers a row's layer input [x, h] into xh.
inline void gather(int inputs, const float* x, const float* h, float* xh) {
  for (int k = 0; k < inputs; ++k) xh[k] = x[k];
  for (int k = 0; k < H; ++k) xh[inputs + k] = h[k];
}

// Gate vector m (of 10) activated from its pre-activations z: the sigmoid columns 0-59 as
// (tanh(z) + 1) / 2 (their pre-activations halved), the tanh columns 60-79 as tanh(z) itself.
inline v8 activate(int m, v8 z) {
  const v8 t = tanh8(z), sigmoid = t * 0.5f + 0.5f;
  if (m != 7) return m < 7 ? sigmoid : t;
  const v8i first_four = {-1, -1, -1, -1, 0, 0, 0, 0};  // columns 56-59 of 56-63
  return first_four ? sigmoid : t;
}

// A layer's weight and bias as the forward uses them: the sigmoid blocks halved, since
// sigma(z) = (tanh(z / 2) + 1) / 2.
struct Layer {
  int inputs;
  std::vector<float> weight, bias;

  Layer(int inputs, const float* w, const float* b)
      : inputs(inputs), weight(w, w + static_cast<int64_t>(inputs + H) * G), bias(b, b + G) {
    for (int k = 0; k < inputs + H; ++k)
      for (int j = 0; j < 3 * H; ++j) weight[k * G + j] *= 0.5f;
    for (int j = 0; j < 3 * H; ++j) bias[j] *= 0.5f;
  }
};

// The forward of rows [first, first + rows) (rows <= kForwardRows) of one layer; act and tanh_c
// (what the backward needs) are written when not null.
void forward_rows(const Layer& layer, int64_t first, int rows, const float* x, const float* h,
                  const float* c, float* h_out, float* c_out, float* act, float* tanh_c) {
  const int inputs = layer.inputs, fan_in = inputs + H;
  const int tiled = (rows + kGateRows - 1) / kGateRows * kGateRows;
  alignas(32) float xhb[kForwardRows * kMaxFanIn], zb[kForwardRows * G];
  for (int r = 0; r < rows; ++r)
    gather(inputs, x + (first + r) * inputs, h + (first + r) * H, xhb + r * fan_in);
  std::memset(xhb + rows * fan_in, 0, sizeof(float) * (tiled - rows) * fan_in);
  for (int r0 = 0; r0 < tiled; r0 += kGateRows)
    tiles<kGateRows, kGateVectors>(G / 8, fan_in, xhb + r0 * fan_in, fan_in, 1,
                                   layer.weight.data(), G, layer.bias.data(), 0, zb + r0 * G, G);
  float* gates = act == nullptr ? zb : act + first * G;  // the activated gates, [rows, 80]
  for (int r = 0; r < rows; ++r) {
#pragma GCC unroll 10
    for (int m = 0; m < G / 8; ++m)
      store(gates + r * G + 8 * m, activate(m, load(zb + r * G + 8 * m)));
  }
  for (int r = 0; r < rows; ++r) {
    const int64_t row = first + r;
    const float* z = gates + r * G;
    v8 c_row[3];  // loaded first: c_out may be c itself (the drop-in step, in place)
    for (int k = 0; k < 3; ++k) c_row[k] = load(c + row * H + kPart[k]);
    for (int k = 0; k < 3; ++k) {
      const int part = kPart[k];
      const v8 i = load(z + part), f = load(z + H + part), o = load(z + 2 * H + part);
      const v8 g = load(z + 3 * H + part);
      const v8 cn = f * c_row[k] + i * g;
      const v8 t = tanh8(cn);
      store(c_out + row * H + part, cn);
      store(h_out + row * H + part, o * t);
      if (tanh_c != nullptr) store(tanh_c + row * H + part, t);
    }
  }
}

// The linear head on rows [first, first + rows): update = (h' . head_w + head_b) * scale.
void head_rows(int64_t first, int rows, const float* h_out, const float* head_w,
               const float* head_b, float scale, float* update) {
  for (int64_t row = first; row < first + rows; ++row) {
    float sum = head_b[0];
    for (int j = 0; j < H; ++j) sum += h_out[row * H + j] * head_w[j];
    update[row] = sum * scale;
  }
}

}  // namespace

extern "C" {

// The vector registers the tiles were sized for: 32 (AVX-512) or 16.
int lstm_registers() { return kRegisters; }

void lstm_forward(int64_t n, int inputs, const float* x, const float* h, const float* c,
                  const float* weight, const float* bias, float* h_out, float* c_out, float* act,
                  float* tanh_c, const float* head_w, const float* head_b, float scale,
                  float* update, int threads) {
  const Layer layer(inputs, weight, bias);
  const int64_t items = (n + kForwardRows - 1) / kForwardRows;
#pragma omp parallel for num_threads(threads) schedule(static)
  for (int64_t item = 0; item < items; ++item) {
    const int64_t first = item * kForwardRows;
    const int rows = static_cast<int>(n - first < kForwardRows ? n - first : kForwardRows);
    forward_rows(layer, first, rows, x, h, c, h_out, c_out, act, tanh_c);
    if (head_w != nullptr) head_rows(first, rows, h_out, head_w, head_b, scale, update);
  }
}

// Every layer of one step and the head, saving nothing for a backward (the drop-in optimizer's
// step): block by block of rows, so that a layer's output is still in cache when the next
// layer reads it. x [N, inputs] feeds the first layer; h, c, h_out and c_out hold one [N, 20]
// array per layer, weight and bias one per layer ([fan-in, 80] and [80]); layers >= 1 and the
// head is required. h_out and c_out may be h and c themselves (a block's rows are read before
// they are written). The same numbers as lstm_forward layer by layer.
void lstm_step(int64_t n, int layers, int inputs, const float* x, const float* const* h,
               const float* const* c, const float* const* weight, const float* const* bias,
               float* const* h_out, float* const* c_out, const float* head_w,
               const float* head_b, float scale, float* update, int threads) {
  std::vector<Layer> prepared;
  for (int l = 0; l < layers; ++l) prepared.emplace_back(l == 0 ? inputs : H, weight[l], bias[l]);
  const int64_t items = (n + kForwardRows - 1) / kForwardRows;
#pragma omp parallel for num_threads(threads) schedule(static)
  for (int64_t item = 0; item < items; ++item) {
    const int64_t first = item * kForwardRows;
    const int rows = static_cast<int>(n - first < kForwardRows ? n - first : kForwardRows);
    for (int l = 0; l < layers; ++l)
      forward_rows(prepared[l], first, rows, l == 0 ? x : h_out[l - 1], h[l], c[l], h_out[l],
                   c_out[l], nullptr, nullptr);
    head_rows(first, rows, h_out[layers - 1], head_w, head_b, scale, update);
  }
}

void lstm_backward(int64_t n, int inputs, const float* x, const float* h, const float* c,
                   const float* weight, const float* act, const float* tanh_c,
                   const float* dh_out, const float* dc_out, float* dx, float* dh, float* dc,
                   float* dweight, float* dbias, const float* head_w, const float* d_update,
                   float scale, float* d_head_w, float* d_head_b, int threads) {
  const int fan_in = inputs + H;
  const int width = (fan_in + 7) / 8 * 8;                     // weight^T rows, whole vectors
  const int padded = (fan_in + kDwRows - 1) / kDwRows * kDwRows;  // [x, h] rows, whole tiles
  std::vector<float> wt(static_cast<size_t>(G) * width, 0.0f);
  for (int k = 0; k < fan_in; ++k)
    for (int j = 0; j < G; ++j) wt[j * width + k] = weight[k * G + j];
  std::memset(dweight, 0, sizeof(float) * fan_in * G);
  std::memset(dbias, 0, sizeof(float) * G);
  if (head_w != nullptr) {
    std::memset(d_head_w, 0, sizeof(float) * H);
    d_head_b[0] = 0.0f;
  }
  const int64_t items = (n + kBlockRows - 1) / kBlockRows;
  const size_t slot_size = static_cast<size_t>(fan_in + 1) * G + H + 1;
  std::vector<float> partial(slot_size * threads, 0.0f);  // threads that get no work add zeros
#pragma omp parallel num_threads(threads)
  {
    std::vector<float> dw(static_cast<size_t>(padded) * G, 0.0f);
    float dhw[H] = {}, dhb = 0.0f;
    alignas(32) float dzb[kBlockRows * G], xhb[kBlockRows * kPaddedFanIn];
    alignas(32) float out[kBlockRows * kMaxFanIn];
    v8 db[G / 8];
    for (auto& v : db) v = splat(0.0f);
#pragma omp for schedule(static)
    for (int64_t item = 0; item < items; ++item) {
      const int64_t first = item * kBlockRows;
      const int rows = static_cast<int>(n - first < kBlockRows ? n - first : kBlockRows);
      const int tiled = (rows + kDxhRows - 1) / kDxhRows * kDxhRows;
      std::memset(dzb + rows * G, 0, sizeof(float) * (tiled - rows) * G);
      for (int r = 0; r < rows; ++r) {
        const int64_t row = first + r;
        const float* a = act + row * G;
        alignas(32) float gh[H];  // dh', with the head's share: d_update * scale * head_w
        std::memcpy(gh, dh_out + row * H, sizeof gh);
        if (head_w != nullptr) {
          const float du = d_update[row] * scale;
          dhb += du;
          for (int j = 0; j < H; ++j) {
            gh[j] += du * head_w[j];
            dhw[j] += du * a[2 * H + j] * tanh_c[row * H + j];
          }
        }
        float* z = dzb + r * G;
        for (int part : kPart) {
          const v8 i = load(a + part), f = load(a + H + part), o = load(a + 2 * H + part);
          const v8 g = load(a + 3 * H + part), t = load(tanh_c + row * H + part);
          const v8 ghv = load(gh + part);
          const v8 gc = dc_out == nullptr ? splat(0.0f) : load(dc_out + row * H + part);
          const v8 d = ghv * o * (1.0f - t * t) + gc;
          store(z + part, d * g * i * (1.0f - i));
          store(z + H + part, d * load(c + row * H + part) * f * (1.0f - f));
          store(z + 2 * H + part, ghv * t * o * (1.0f - o));
          store(z + 3 * H + part, d * i * (1.0f - g * g));
          store(dc + row * H + part, d * f);
        }
        gather(inputs, x + row * inputs, h + row * H, xhb + r * padded);
        std::memset(xhb + r * padded + fan_in, 0, sizeof(float) * (padded - fan_in));
      }
      // d[x, h] = dz weight^T.
      for (int r0 = 0; r0 < tiled; r0 += kDxhRows)
        tiles<kDxhRows, kDxhVectors>(width / 8, G, dzb + r0 * G, G, 1, wt.data(), width,
                                     nullptr, 0, out + r0 * kMaxFanIn, kMaxFanIn);
      for (int r = 0; r < rows; ++r) {
        if (dx != nullptr) std::memcpy(dx + (first + r) * inputs, out + r * kMaxFanIn,
                                       inputs * sizeof(float));
        std::memcpy(dh + (first + r) * H, out + r * kMaxFanIn + inputs, H * sizeof(float));
      }
      // weight gradient += [x, h]^T dz over the block's rows, in their order.
      for (int k0 = 0; k0 < padded; k0 += kDwRows)
        tiles<kDwRows, kDwVectors>(G / 8, rows, xhb + k0, 1, padded, dzb, G,
                                   dw.data() + k0 * G, G, dw.data() + k0 * G, G);
      for (int r = 0; r < rows; ++r)
        for (int m = 0; m < G / 8; ++m) db[m] += load(dzb + r * G + 8 * m);
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
