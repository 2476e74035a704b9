/* Stand-in libcudnn.so.N: reports the version given at compile time (-DVERSION, -DCUDART),
   with cuDNN's own signatures (cudnn_version.h / cudnn_graph.h: size_t, no handle). */
#include <stddef.h>
#ifndef VERSION
#define VERSION 90100
#endif
#ifndef CUDART
#define CUDART 12020
#endif
size_t cudnnGetVersion(void) { return VERSION; }
size_t cudnnGetCudartVersion(void) { return CUDART; }
