int tfgpu_missing_dep_symbol(void) { return 11000; }
