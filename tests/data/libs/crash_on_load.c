/* Stand-in library that kills whatever loads it: its constructor raises SIGSEGV, as a corrupt
   or foreign file installed under a CUDA library's name can. */
#include <signal.h>
__attribute__((constructor)) static void crash_on_load(void) { raise(SIGSEGV); }
int cudaRuntimeGetVersion(int *v) { *v = 0; return 0; }
