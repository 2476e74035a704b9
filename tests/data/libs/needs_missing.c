/* Stand-in library linked against a dependency that the test deletes afterwards, so dlopen()
   fails naming the missing transitive need. */
extern int tfgpu_missing_dep_symbol(void);
int cufftGetVersion(int *v) { *v = tfgpu_missing_dep_symbol(); return 0; }
