/* Stand-in libcudart.so.N: cudaRuntimeGetVersion reports -DVERSION (CUDART_VERSION encoding,
   major*1000 + minor*10) and returns cudaSuccess (0). */
#ifndef VERSION
#define VERSION 12020
#endif
int cudaRuntimeGetVersion(int *runtimeVersion) { *runtimeVersion = VERSION; return 0; }
