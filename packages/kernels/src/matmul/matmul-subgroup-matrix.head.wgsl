// Directives of the subgroup-matrix matmul; they must precede every declaration, so this chunk goes
// before the weight-access chunk (which enables f16 itself when B is read as array<f16>).
enable chromium_experimental_subgroup_matrix;
#if !W_F16
enable f16;
#endif
// Every subgroup-matrix call below is in subgroup-uniform control flow (branches depend only on the
// workgroup id, uniform Params and the subgroup id), which the workgroup-level analysis cannot prove.
diagnostic(off, chromium.subgroup_matrix_uniformity);
