// Only the declaration in include/FuzzerDriver.h; the definition is libFuzzer's (-sanitize=fuzzer).
#include "FuzzerDriver.h"
