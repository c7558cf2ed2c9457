// The subgroup-matrix shape a tensor-core kernel was compiled for (defines from subgroupMatrixDefines):
// left SM x SK, right SK x SN, result SM x SN. Appended to each such kernel.
#if SM16
const SM = 16u;
#else
const SM = 8u;
#endif
#if SN16
const SN = 16u;
#else
const SN = 8u;
#endif
#if SK16
const SK = 16u;
#else
const SK = 8u;
#endif
