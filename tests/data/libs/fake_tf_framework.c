/* Stand-in libtensorflow_framework.so.2: only its DT_RUNPATH matters (set by the test with
   -Wl,--enable-new-dtags,-rpath,'$ORIGIN/../nvidia/<pkg>/lib'). */
int tfgpu_fake_tensorflow(void) { return 0; }
