// The peers benchmark's kernels in OpenCL C, for PoCL's CPU driver. Each is
// the LASM kernel of the same name (src/ops/*.lasm, benches/peers/matmul.lasm)
// written as an OpenCL programmer would, with the same launch shape and the
// same arithmetic, so the results are bit-identical: contraction of a*b + c
// into a fused multiply-add is off (OpenCL C allows it by default), and saxpy
// asks for its one fused operation by name.
#pragma OPENCL FP_CONTRACT OFF

// out[i] = a[i] + b[i] for i < n.
__kernel void vector_add(__global const float *a, __global const float *b,
                         __global float *out, uint n) {
    uint i = get_global_id(0);
    if (i >= n) return;
    out[i] = a[i] + b[i];
}

// out[i] = alpha * x[i] + y[i] for i < n, rounded once.
__kernel void saxpy(float alpha, __global const float *x, __global const float *y,
                    __global float *out, uint n) {
    uint i = get_global_id(0);
    if (i >= n) return;
    out[i] = fma(alpha, x[i], y[i]);
}

// *p += v atomically. OpenCL 1.2 has no float atomic add: a compare-and-swap
// loop on the bits, as lanes's `atom.global.add.f32` is specified to behave.
static void atomic_add_float(volatile __global float *p, float v) {
    union { uint u; float f; } seen, next;
    do {
        seen.f = *p;
        next.f = seen.f + v;
    } while (atomic_cmpxchg((volatile __global uint *)p, seen.u, next.u) != seen.u);
}

// out[0] += sum(x[0..n)) with 256-lane work-groups: each group loads its
// values into local memory, halves the active lanes each step with a barrier
// between steps (the tree of ISA.md section 7), and its lane 0 adds the
// group's sum to out[0] atomically.
#define BLOCK_LANES 256
__kernel void block_sum(__global const float *x, __global float *out, uint n) {
    __local float partial[BLOCK_LANES];
    uint gid = get_global_id(0);
    uint tid = get_local_id(0);
    partial[tid] = gid < n ? x[gid] : 0.0f;
    barrier(CLK_LOCAL_MEM_FENCE);
    for (uint active = get_local_size(0) / 2; active > 0; active >>= 1) {
        if (tid < active) partial[tid] = partial[tid] + partial[tid + active];
        barrier(CLK_LOCAL_MEM_FENCE);
    }
    if (tid == 0) atomic_add_float(out, partial[0]);
}

// Escape-time Mandelbrot, exactly as src/ops/mandelbrot.lasm: out[i] = the
// steps z -> z*z + c takes before |z|^2 > 4, at most max_iter, for pixel
// i < n, px = i % width, py = i / width, c = (px*dx + x0, py*dy + y0).
__kernel void mandelbrot(__global uint *out, uint width, uint n, uint max_iter,
                         float x0, float y0, float dx, float dy) {
    uint i = get_global_id(0);
    if (i >= n) return;
    float cx = (float)(i % width) * dx + x0;
    float cy = (float)(i / width) * dy + y0;
    float x = 0.0f, y = 0.0f;
    uint steps = 0;
    while (steps < max_iter) {
        float xx = x * x;
        float yy = y * y;
        if (xx + yy > 4.0f) break;
        float xy = x * y;
        x = (xx - yy) + cx;
        y = (xy + xy) + cy;
        steps++;
    }
    out[i] = steps;
}

// Naive c = a x b (n x n, row-major), one output per work-item on a 2-D
// range (x: column, y: row), k ascending, multiply and add rounded apart.
__kernel void matmul(__global const float *a, __global const float *b,
                     __global float *c, uint n) {
    uint col = get_global_id(0);
    uint row = get_global_id(1);
    if (col >= n || row >= n) return;
    float acc = 0.0f;
    for (uint k = 0; k < n; k++) acc = acc + a[row * n + k] * b[k * n + col];
    c[row * n + col] = acc;
}
