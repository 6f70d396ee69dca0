#include <stddef.h>
#include <stdint.h>

// libFuzzer's entry point for programs that keep their own main (compiler-rt FuzzerInterface.h).
// SwiftPM links every executable target with `--defsym main=<Target>_main`, so a target built
// with -parse-as-library must define <Target>_main and hand over to libFuzzer from there.
int LLVMFuzzerRunDriver(int *argc, char ***argv, int (*callback)(const uint8_t *data, size_t size));
