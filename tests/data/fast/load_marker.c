/* Prepended to a stand-in library's source by tests/test_fast_libraries.py: when the library is
   loaded (by dlopen or by anything else), its constructor appends "<NAME>\n" to the file named by
   $TFGPU_TEST_LOAD_MARKER. Its absence after a run proves that nothing loaded the library. */
#include <stdio.h>
#include <stdlib.h>
#ifndef NAME
#define NAME "library"
#endif
__attribute__((constructor)) static void tfgpu_test_mark_loaded(void) {
    const char *path = getenv("TFGPU_TEST_LOAD_MARKER");
    FILE *fh;
    if (path == NULL || *path == '\0')
        return;
    fh = fopen(path, "a");
    if (fh != NULL) {
        fputs(NAME "\n", fh);
        fclose(fh);
    }
}
